// SPDX-License-Identifier: MIT
/*
 * The --net option parser: net_config_parse() on the input as the
 * option's value (up to its first NUL byte, as argv would end it). A
 * value it accepts must say what it parsed within the documented ranges
 * (exactly one of a tap name, a descriptor and a vhost-user socket;
 * queue pairs, MTU, a unicast MAC that formats and parses back to
 * itself); one it refuses
 * must name the option and leave nothing allocated. Pure: no tap is
 * opened.
 */
#include <string.h>

#include "tern/error.h"
#include "tern/net.h"
#include "fuzz.h"

static void accepted_check(const struct net_config *cfg, const char *spec)
{
	/* vhost-user=SOCK: a back-end's socket, 1..16 pairs, no tap keys. */
	if (cfg->vhost_user) {
		FUZZ_CHECK(*cfg->vhost_user && !cfg->ifname && cfg->fd < 0);
		FUZZ_CHECK(cfg->queues >= 1 && cfg->queues <= NET_MAX_QUEUES &&
			   !cfg->mtu && cfg->vhost == NET_VHOST_OFF);
	} else {
		FUZZ_CHECK(!cfg->reconnect);
		FUZZ_CHECK(!cfg->ifname != !(cfg->fd >= 0));
	}
	if (cfg->ifname) {
		FUZZ_CHECK(*cfg->ifname && strlen(cfg->ifname) < IFNAMSIZ);
		FUZZ_CHECK(!strchr(cfg->ifname, '/') && !strchr(cfg->ifname, ':'));
	} else if (cfg->fd >= 0) {
		FUZZ_CHECK(cfg->fd >= 3 && cfg->queues == 1);
	}
	FUZZ_CHECK(cfg->queues >= 1 && cfg->queues <= NET_MAX_QUEUES);
	FUZZ_CHECK(!cfg->mtu ||
		   (cfg->mtu >= NET_MTU_MIN && cfg->mtu <= NET_MTU_MAX));
	FUZZ_CHECK(cfg->vhost == NET_VHOST_OFF || cfg->vhost == NET_VHOST_ON ||
		   cfg->vhost == NET_VHOST_AUTO);
	if (cfg->mac_given) {
		uint8_t again[NET_MAC_LEN];
		char text[18];

		FUZZ_CHECK(!(cfg->mac[0] & 1));
		net_mac_format(cfg->mac, text);
		FUZZ_CHECK(net_mac_parse(text, again) == 0);
		FUZZ_CHECK(!memcmp(again, cfg->mac, NET_MAC_LEN));
	}
	FUZZ_CHECK(cfg->spec && !strcmp(cfg->spec, spec));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *spec = g_strndup((const char *)data, size);
	struct net_config cfg;
	GError *err = NULL;

	if (net_config_parse(spec, &cfg, &err)) {
		FUZZ_CHECK(!err);
		accepted_check(&cfg, spec);
		net_config_clear(&cfg);
	} else {
		FUZZ_CHECK(err && err->domain == TERN_ERROR &&
			   err->code == TERN_ERROR_INPUT);
		FUZZ_CHECK(g_str_has_prefix(err->message, "--net '"));
		FUZZ_CHECK(!cfg.ifname && !cfg.vhost_user && !cfg.spec);
		g_error_free(err);
	}
	return 0;
}
