// SPDX-License-Identifier: MIT
/*
 * The pure parts of an SEV launch inside `tern run`: the launch states
 * QEMU reports (and the order the PSP allows), the measurement blob as
 * query-sev-launch-measure returns it, and the decoding of
 * sev-inject-launch-secret's arguments with QEMU 7.2's error texts.
 */
#include <string.h>

#include "tern/confidential_vm.h"
#include "tern/error.h"

static const char *const state_names[] = {
	[SEV_STATE_UNINIT] = "uninit",
	[SEV_STATE_LAUNCH_UPDATE] = "launch-update",
	[SEV_STATE_LAUNCH_SECRET] = "launch-secret",
	[SEV_STATE_RUNNING] = "running",
};

const char *sev_launch_state_name(enum sev_launch_state s)
{
	return (unsigned int)s < G_N_ELEMENTS(state_names) ? state_names[s] :
							     "uninit";
}

/*
 * LAUNCH_START enters launch-update, LAUNCH_MEASURE launch-secret,
 * LAUNCH_FINISH running; LAUNCH_SECRET keeps launch-secret. Nothing goes
 * back: a launch that failed half-way is not resumed.
 */
bool sev_launch_state_next(enum sev_launch_state from,
			   enum sev_launch_state to, bool snp)
{
	switch (to) {
	case SEV_STATE_LAUNCH_UPDATE:
		return from == SEV_STATE_UNINIT;
	case SEV_STATE_LAUNCH_SECRET:
		/* SNP has no LAUNCH_MEASURE or LAUNCH_SECRET: the guest asks
		 * for its attestation report itself. */
		return !snp && (from == SEV_STATE_LAUNCH_UPDATE ||
				from == SEV_STATE_LAUNCH_SECRET);
	case SEV_STATE_RUNNING:
		return from == (snp ? SEV_STATE_LAUNCH_UPDATE :
				      SEV_STATE_LAUNCH_SECRET);
	case SEV_STATE_UNINIT:
		break;
	}
	return false;
}

/*
 * QEMU hands the guest owner the whole LAUNCH_MEASURE blob, base64: the
 * 32-byte HMAC measurement then the 16-byte MNONCE (SEV API, 6.5).
 */
char *sev_measurement_base64(const uint8_t *blob, uint32_t len)
{
	if (!blob || !len)
		return NULL;
	return g_base64_encode(blob, len);
}

static bool base64_decode(const char *in, uint8_t **out, gsize *len)
{
	*len = 0;
	*out = g_base64_decode(in, len);
	if (*out && *len)
		return true;
	g_clear_pointer(out, g_free);
	return false;
}

bool sev_secret_args_decode(const char *header_b64, const char *secret_b64,
			    uint8_t **hdr, gsize *hdr_len, uint8_t **data,
			    gsize *data_len, GError **err)
{
	*data = NULL;
	if (!base64_decode(header_b64, hdr, hdr_len)) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV: Failed to decode sequence header");
		return false;
	}
	/* The PSP's LAUNCH_SECRET lengths are 32-bit. */
	if (!base64_decode(secret_b64, data, data_len) ||
	    *data_len > UINT32_MAX || *hdr_len > UINT32_MAX) {
		g_clear_pointer(hdr, g_free);
		g_clear_pointer(data, g_free);
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV: Failed to decode data");
		return false;
	}
	return true;
}
