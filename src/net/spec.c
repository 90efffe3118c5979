// SPDX-License-Identifier: MIT
/* The --net option: "key=value,..." → struct net_config, nothing opened. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/error.h"
#include "tern/net.h"

static const char net_keys[] =
	"tap, fd, mac, queues, mtu, vhost, vhost-user, reconnect";

int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN])
{
	for (unsigned int i = 0; i < NET_MAC_LEN; i++) {
		unsigned int v = 0;

		for (unsigned int d = 0; d < 2; d++) {
			char c = *s++;

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -EINVAL;
		}
		mac[i] = (uint8_t)v;
		if (*s != (i + 1 < NET_MAC_LEN ? ':' : '\0'))
			return -EINVAL;
		s++;
	}
	/* The group bit: no NIC owns a multicast address. */
	return mac[0] & 1 ? -EINVAL : 0;
}

void net_mac_default(unsigned int n, uint8_t mac[NET_MAC_LEN])
{
	static const uint8_t base[NET_MAC_LEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memcpy(mac, base, NET_MAC_LEN);
	mac[5] = (uint8_t)(base[5] + n);
}

void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

#define NET_ERR(...)                                                           \
	do {                                                                   \
		g_autofree char *m_ = g_strdup_printf(__VA_ARGS__);            \
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,                 \
			    "--net '%s': %s", spec, m_);                       \
		goto fail;                                                     \
	} while (0)

enum net_key {
	KEY_TAP,
	KEY_FD,
	KEY_MAC,
	KEY_QUEUES,
	KEY_MTU,
	KEY_VHOST,
	KEY_VHOST_USER,
	KEY_RECONNECT,
};

static int net_key_lookup(const char *key)
{
	static const char *const names[] = {
		"tap", "fd", "mac", "queues", "mtu", "vhost", "vhost-user",
		"reconnect",
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(key, names[i]))
			return (int)i;
	return -1;
}

bool net_config_parse(const char *spec, struct net_config *out, GError **err)
{
	g_auto(GStrv) items = NULL;
	unsigned int seen = 0;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->queues = 1;
	out->vhost = NET_VHOST_OFF;
	out->spec = g_strdup(spec);
	if (!*spec)
		NET_ERR("expected tap=NAME or fd=N (or vhost-user=SOCK)[,key=value...]");

	/* No value has a comma in it (names, numbers, MACs): a plain split. */
	items = g_strsplit(spec, ",", -1);
	for (unsigned int i = 0; items[i]; i++) {
		const char *item = items[i];
		const char *eq = strchr(item, '=');
		g_autofree char *key = NULL;
		const char *val;
		uint64_t n;
		int k;

		if (!*item)
			NET_ERR("empty option (a stray comma?)");
		if (!eq)
			NET_ERR("'%s': expected key=value (keys: %s)", item, net_keys);
		key = g_strndup(item, eq - item);
		val = eq + 1;
		k = net_key_lookup(key);
		if (k < 0)
			NET_ERR("unknown key '%s' (keys: %s)", key, net_keys);
		if (seen & (1U << k))
			NET_ERR("'%s' given twice", key);
		seen |= 1U << k;
		if (!*val)
			NET_ERR("'%s' needs a value", key);

		switch ((enum net_key)k) {
		case KEY_TAP:
			if (strlen(val) >= IFNAMSIZ || strchr(val, '/') ||
			    !strcmp(val, ".") || !strcmp(val, ".."))
				NET_ERR("tap='%s': expected an interface name of at most %d characters",
					val, IFNAMSIZ - 1);
			for (const char *c = val; *c; c++)
				if (*c <= ' ' || *c > '~' || *c == ':')
					NET_ERR("tap='%s': expected an interface name (no spaces, colons or control characters)",
						val);
			out->ifname = g_strdup(val);
			break;
		case KEY_FD:
			/* 0-2 are tern's stdio, never a tap handed over. */
			if (parse_u64(val, &n) || n < 3 || n > INT32_MAX)
				NET_ERR("fd='%s': expected an open file descriptor number (3 or more)",
					val);
			out->fd = (int)n;
			break;
		case KEY_MAC:
			if (net_mac_parse(val, out->mac))
				NET_ERR("mac='%s': expected a unicast MAC address like 52:54:00:12:34:56",
					val);
			out->mac_given = true;
			break;
		case KEY_QUEUES:
			if (parse_u64(val, &n) || n < 1 || n > NET_MAX_QUEUES)
				NET_ERR("queues='%s': expected a decimal number of queue pairs from 1 to %d",
					val, NET_MAX_QUEUES);
			out->queues = (unsigned int)n;
			break;
		case KEY_MTU:
			if (parse_u64(val, &n) || n < NET_MTU_MIN || n > NET_MTU_MAX)
				NET_ERR("mtu='%s': expected bytes from %d to %d", val,
					NET_MTU_MIN, NET_MTU_MAX);
			out->mtu = (unsigned int)n;
			break;
		case KEY_VHOST:
			if (!strcmp(val, "on"))
				out->vhost = NET_VHOST_ON;
			else if (!strcmp(val, "off"))
				out->vhost = NET_VHOST_OFF;
			else if (!strcmp(val, "auto"))
				out->vhost = NET_VHOST_AUTO;
			else
				NET_ERR("vhost='%s': expected on, off or auto", val);
			break;
		case KEY_VHOST_USER:
			out->vhost_user = g_strdup(val);
			break;
		case KEY_RECONNECT:
			if (!strcmp(val, "on"))
				out->reconnect = true;
			else if (!strcmp(val, "off"))
				out->reconnect = false;
			else
				NET_ERR("reconnect='%s': expected on or off", val);
			break;
		}
	}
	if (out->vhost_user) {
		if (!(seen & (1U << KEY_RECONNECT)))
			out->reconnect = true;
		if (seen & ~((1U << KEY_VHOST_USER) | (1U << KEY_QUEUES) |
			     (1U << KEY_MAC) | (1U << KEY_RECONNECT)))
			NET_ERR("vhost-user= takes only queues=, mac= and reconnect= (the back-end owns the data path)");
		return true;
	}
	if (seen & (1U << KEY_RECONNECT))
		NET_ERR("reconnect= applies to vhost-user= NICs only");
	if (!!out->ifname == (out->fd >= 0))
		NET_ERR("expected exactly one of tap=NAME and fd=N");
	/* One handed-over fd is one queue of the tap. */
	if (out->fd >= 0 && out->queues > 1)
		NET_ERR("queues=%u needs tap=NAME: fd=N is a single queue",
			out->queues);
	return true;

fail:
	net_config_clear(out);
	return false;
}

void net_config_clear(struct net_config *cfg)
{
	g_free(cfg->ifname);
	g_free(cfg->vhost_user);
	g_free(cfg->spec);
	memset(cfg, 0, sizeof(*cfg));
	cfg->fd = -1;
}
