/* SPDX-License-Identifier: MIT */
/*
 * flash-hello: a 64 KiB flash image for --firmware (tern) and -bios (QEMU),
 * the smallest firmware there is. The vCPU starts in real mode at
 * 0xfffffff0 with CS base 0xffff0000, which is this image's last 16 bytes
 * when it ends at 4 GiB; the jump there lands at offset 0. DS is 0 at
 * reset, so the message is read through CS. It prints two lines on COM1
 * and writes 0 to the exit port (host status 1), all in about 150
 * instructions of emulated ring 0. QEMU wants a multiple of 64 KiB.
 */
	.code16
	.text
	.globl _start
_start:
	mov $msg - _start, %si
	mov $0x3f8, %dx
1:	cs lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $0xf4, %dx
	xor %al, %al
	out %al, %dx
3:	hlt
	jmp 3b

msg:	.asciz "flash-hello: running from the reset vector\nRESULT: PASS\n"

	/* The reset vector: 16 bytes below 4 GiB. */
	.org 0xfff0
	jmp _start
	.org 0x10000, 0xff

	.section .note.GNU-stack, "", @progbits
