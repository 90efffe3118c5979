/* SPDX-License-Identifier: MIT */
/* Between launch.c and the per-technology flows. */
#ifndef TERN_CONFIDENTIAL_LAUNCH_INTERNAL_H
#define TERN_CONFIDENTIAL_LAUNCH_INTERNAL_H

#include "tern/confidential_launch.h"

int sev_launch_begin(struct confidential_launch *l) __must_check;
int sev_launch_vcpus(struct confidential_launch *l) __must_check;
int sev_launch_finish(struct confidential_launch *l) __must_check;
int sev_launch_measure(struct confidential_launch *l) __must_check;
int sev_launch_complete(struct confidential_launch *l) __must_check;
int sev_launch_secret(struct confidential_launch *l, const uint8_t *hdr,
		      uint32_t hdr_len, const uint8_t *data, uint32_t len,
		      void *guest) __must_check;
int snp_launch_finish(struct confidential_launch *l) __must_check;
int tdx_launch_begin(struct confidential_launch *l) __must_check;
int tdx_launch_vcpus(struct confidential_launch *l) __must_check;
int tdx_launch_finish(struct confidential_launch *l) __must_check;

/* Make every page the plan loads private (SNP, TDX). */
int launch_plan_make_private(struct confidential_launch *l) __must_check;

#endif
