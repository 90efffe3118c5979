/* SPDX-License-Identifier: MIT */
/*
 * flash-secret: a 64 KiB flash image that prints the 16 bytes at guest
 * physical 0x8000 in hex, where an SEV guest owner's launch secret goes
 * (sev-inject-launch-secret), then RESULT: PASS if any byte is non-zero,
 * RESULT: FAIL otherwise. Real mode from the reset vector like
 * flash-hello (~700 instructions of emulated ring 0); DS and SS are 0 at
 * reset, so the secret is read through DS and the stack is below 64 KiB.
 *
 * It ends with an OVMF-style GUIDed footer table (what QEMU and tern read
 * from the last bytes of a flash image) with two entries: the SEV secret
 * area (4c2eb361-..., base and size, for sev-inject-launch-secret without
 * gpa) and the SEV-ES reset block (00f771de-..., where APs start).
 */
#define SECRET_GPA 0x8000
#define SECRET_LEN 16

	.code16
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $banner - _start, %si
	call puts
	mov $SECRET_GPA, %bx
	mov $SECRET_LEN, %cx
	xor %ah, %ah		/* the OR of every byte */
1:	mov (%bx), %al
	or %al, %ah
	push %ax
	shr $4, %al
	call hexdigit
	pop %ax
	push %ax
	and $0xf, %al
	call hexdigit
	pop %ax
	inc %bx
	loop 1b
	mov $'\n', %al
	out %al, %dx
	test %ah, %ah
	jz 2f
	mov $pass - _start, %si
	call puts
	xor %al, %al
	jmp 3f
2:	mov $fail - _start, %si
	call puts
	mov $1, %al
3:	mov $0xf4, %dx
	out %al, %dx
4:	hlt
	jmp 4b

#include "flash-serial.inc"

/* SEV-ES APs start here (the reset block below): nothing for them. */
ap:	hlt
	jmp ap

banner:	.asciz "flash-secret: "
pass:	.asciz "RESULT: PASS\n"
fail:	.asciz "RESULT: FAIL no secret at 0x8000\n"

	/* The footer table ends 32 bytes before the end of the image. */
	.org 0xffe0 - 66
	.long SECRET_GPA, 0x1000
	.word 26
	.byte 0x61, 0xb3, 0x2e, 0x4c, 0x9b, 0x7d, 0xc3, 0x4c
	.byte 0x80, 0x81, 0x12, 0x7c, 0x90, 0xd3, 0xd2, 0x94
	.long 0xffff0000 + (ap - _start)
	.word 22
	.byte 0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f
	.byte 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e
	.word 66
	.byte 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45
	.byte 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d

	/* The reset vector: 16 bytes below 4 GiB. */
	.org 0xfff0
	jmp _start
	.org 0x10000, 0xff

	.section .note.GNU-stack, "", @progbits
