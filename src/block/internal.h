/* SPDX-License-Identifier: MIT */
/* Shared between the block layer's own files; nothing outside uses it. */
#ifndef TERN_BLOCK_INTERNAL_H
#define TERN_BLOCK_INTERNAL_H

#include "tern/block.h"

/*
 * An abandoned queue's hold on its disk: blk_disk_close() leaves the disk
 * open while one is held, and the last put after it frees the disk.
 */
void blk_disk_orphan_get(struct blk_disk *disk);
void blk_disk_orphan_put(struct blk_disk *disk);

#endif
