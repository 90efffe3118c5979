/* SPDX-License-Identifier: MIT */
/*
 * flash-tdx: a 64 KiB flash image for a TDX launch under
 * tern-confidential-double (tests/integration/confidential-double.sh).
 * It walks the TD HOB the VMM left at 0x8000 and prints
 *
 *   flash-tdx: hob vVV resources NN ram RRRRRRRR added AAAAAAAA
 *
 * the hand-off table's version, the number of resource descriptors, and
 * the sums of their lengths (all RAM, and the SYSTEM_MEMORY part the launch
 * added), then RESULT: PASS (exit code 0), or RESULT: FAIL (1) when the
 * list does not start with the hand-off table or does not end inside its
 * section. A real TD starts in 32-bit protected mode; under the double the
 * ordinary VM starts in real mode at the reset vector, as here.
 *
 * Its TDVF metadata ("TDVF": the TDX Virtual Firmware Design Guide's
 * section list) names the image itself (BFV, measured with MR.EXTEND), the
 * TD HOB at 0x8000 and temporary memory at 0x10000 (added, not measured).
 */
#define HOB 0x8000
#define HOB_SIZE 0x2000
#define TEMP_MEM 0x10000
#define TEMP_SIZE 0x2000
#define ADDED_SUM 0x500		/* a dword of scratch below the HOB */

	.code16
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $banner - _start, %si
	call puts
	mov $HOB, %bx
	cmpw $1, (%bx)			/* EFI_HOB_TYPE_HANDOFF */
	jne fail
	mov 8(%bx), %al			/* its version */
	call hex8
	xor %edi, %edi			/* all RAM */
	movl $0, (ADDED_SUM)
	xor %bp, %bp			/* resource descriptors */
walk:
	mov 2(%bx), %cx			/* HobLength */
	test %cx, %cx
	jz fail
	cmpw $0xffff, (%bx)		/* EFI_HOB_TYPE_END_OF_HOB_LIST */
	je done
	cmpw $3, (%bx)			/* EFI_HOB_TYPE_RESOURCE_DESCRIPTOR */
	jne 1f
	inc %bp
	addl 40(%bx), %edi		/* ResourceLength (low half) */
	cmpl $0, 24(%bx)		/* ResourceType SYSTEM_MEMORY */
	jne 1f
	mov 40(%bx), %eax
	addl %eax, (ADDED_SUM)
1:	add %cx, %bx
	cmp $HOB + HOB_SIZE, %bx
	jae fail
	jmp walk
done:
	mov $res_msg - _start, %si
	call puts
	mov %bp, %ax
	call hex8
	mov $ram_msg - _start, %si
	call puts
	mov %edi, %eax
	call hex32
	mov $added_msg - _start, %si
	call puts
	mov (ADDED_SUM), %eax
	call hex32
	mov $'\n', %al
	out %al, %dx
	mov $pass - _start, %si
	call puts
	xor %al, %al
	jmp 2f
fail:
	mov $'\n', %al
	out %al, %dx
	mov $fail_msg - _start, %si
	call puts
	mov $1, %al
2:	mov $0xf4, %dx
	out %al, %dx
3:	hlt
	jmp 3b

#include "flash-serial.inc"

banner:	.asciz "flash-tdx: hob v"
res_msg: .asciz " resources "
ram_msg: .asciz " ram "
added_msg: .asciz " added "
pass:	.asciz "RESULT: PASS\n"
fail_msg: .asciz "RESULT: FAIL\n"

	/* TDVF metadata: "TDVF", length, version 1, section count, then
	 * { data offset, raw size, GPA (64), memory size (64), type,
	 * attributes } per section. */
	.balign 16
tdvf:
	.ascii "TDVF"
	.long 16 + 3 * 32, 1, 3
	.long 0, 0x10000		/* BFV: the whole image */
	.quad 0xffff0000, 0x10000
	.long 0, 1			/* type BFV, MR.EXTEND */
	.long 0, 0			/* TD_HOB */
	.quad HOB, HOB_SIZE
	.long 2, 0
	.long 0, 0			/* TEMP_MEM */
	.quad TEMP_MEM, TEMP_SIZE
	.long 3, 0

	/* The footer table ends 32 bytes before the end of the image. */
	.org 0xffe0 - 40
	.long 0x10000 - (tdvf - _start)
	.word 22
	.byte 0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47
	.byte 0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2
	.word 40
	.byte 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45
	.byte 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d

	/* The reset vector: 16 bytes below 4 GiB. */
	.org 0xfff0
	jmp _start
	.org 0x10000, 0xff

	.section .note.GNU-stack, "", @progbits
