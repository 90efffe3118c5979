// SPDX-License-Identifier: MIT
/* --device vfio=HOST[,iommufd=on|off|auto]: parsed and checked whole. */
#include <string.h>

#include "tern/error.h"
#include "tern/vfio.h"

#define VFIO_SYSFS_PCI "/sys/bus/pci/devices/"

static bool is_hex(const char *s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!g_ascii_isxdigit(s[i]))
			return false;
	return true;
}

/*
 * "DDDD:BB:DD.F" or "BB:DD.F" (domain 0) → the normalized address, or
 * NULL. The device number is 0..0x1f, the function 0..7.
 */
static char *vfio_parse_addr(const char *s)
{
	g_autofree char *full = NULL;
	size_t len = strlen(s);

	if (len == 7)
		full = g_strconcat("0000:", s, NULL);
	else if (len == 12)
		full = g_strdup(s);
	else
		return NULL;
	if (!is_hex(full, 4) || full[4] != ':' || !is_hex(full + 5, 2) ||
	    full[7] != ':' || !is_hex(full + 8, 2) || full[10] != '.' ||
	    full[11] < '0' || full[11] > '7' ||
	    g_ascii_xdigit_value(full[8]) > 1)
		return NULL;
	return g_ascii_strdown(full, -1);
}

bool vfio_config_parse(const char *spec, struct vfio_config *out, GError **err)
{
	struct vfio_config c = {.iommufd = VFIO_IOMMUFD_AUTO};
	g_auto(GStrv) items = NULL;
	const char *host;
	bool seen_iommufd = false;

	if (strncmp(spec, "vfio=", 5)) {
		g_set_error(
		    err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--device '%s': expected vfio=HOST[,iommufd=on|off|auto]",
		    spec);
		return false;
	}
	items = g_strsplit(spec + 5, ",", -1);
	host = items[0];
	if (!host || !*host) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--device '%s': expected a host PCI address "
			    "(0000:01:00.0) or its sysfs path after vfio=",
			    spec);
		return false;
	}
	if (host[0] == '/') {
		g_autofree char *base = g_path_get_basename(host);

		c.addr = vfio_parse_addr(base);
	} else {
		c.addr = vfio_parse_addr(host);
	}
	if (!c.addr) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--device '%s': '%s' is not a PCI address "
			    "(DDDD:BB:DD.F) or a sysfs path ending in one",
			    spec, host);
		return false;
	}
	for (unsigned int i = 1; items[i]; i++) {
		const char *it = items[i];

		if (g_str_has_prefix(it, "iommufd=") && !seen_iommufd) {
			const char *val = it + 8;

			seen_iommufd = true;
			if (!strcmp(val, "on"))
				c.iommufd = VFIO_IOMMUFD_ON;
			else if (!strcmp(val, "off"))
				c.iommufd = VFIO_IOMMUFD_OFF;
			else if (!strcmp(val, "auto"))
				c.iommufd = VFIO_IOMMUFD_AUTO;
			else
				goto bad;
			continue;
		}
	bad:
		g_set_error(
		    err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--device '%s': '%s': expected iommufd=on|off|auto (once)",
		    spec, it);
		g_free(c.addr);
		return false;
	}
	c.spec = g_strdup(spec);
	c.sysfs = g_strconcat(VFIO_SYSFS_PCI, c.addr, NULL);
	*out = c;
	return true;
}

void vfio_config_clear(struct vfio_config *c)
{
	g_free(c->spec);
	g_free(c->addr);
	g_free(c->sysfs);
	memset(c, 0, sizeof(*c));
}
