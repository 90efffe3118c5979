/* SPDX-License-Identifier: MIT */
/*
 * flash-snp: a 64 KiB flash image for an SEV-SNP launch under
 * tern-confidential-double (tests/integration/confidential-double.sh).
 * Real mode from the reset vector, like flash-secret. It prints
 *
 *   flash-snp: cpuid NN vendor VVVVVVVVVVVV
 *
 * the entry count of the SNP CPUID page the launch filled at 0x3000 and
 * the vendor string of its first entry (leaf 0: EBX, EDX, ECX), then
 * RESULT: PASS (exit code 0) if the page has entries, RESULT: FAIL (1)
 * otherwise.
 *
 * It does not ask for page-state changes: an SNP guest does that through
 * the GHCB, and the KVM_HC_MAP_GPA_RANGE hypercall that stands for it
 * outside SNP cannot be made here (these hosts emulate guest ring 0, and
 * the emulator turns VMMCALL into #UD and loops on VMCALL), so tern's
 * handling of that exit is unit tested (test-confidential).
 *
 * The footer table names the SEV metadata ("ASEV": the SNP pages the
 * launch adds: a zero page at 0x1000, the secrets page at 0x2000, the
 * CPUID page at 0x3000) and the SEV-ES reset block for the APs.
 */
#define CPUID_PAGE 0x3000
#define FIRST_FN (CPUID_PAGE + 16)
#define ZERO_PAGE 0x1000

	.code16
	.text
	.globl _start
_start:
	mov $0x3f8, %dx
	mov $banner - _start, %si
	call puts
	mov $cpuid_msg - _start, %si
	call puts
	mov (CPUID_PAGE), %al
	call hex8
	mov $vendor_msg - _start, %si
	call puts
	mov $FIRST_FN + 28, %bx		/* EBX */
	call put4
	mov $FIRST_FN + 36, %bx		/* EDX */
	call put4
	mov $FIRST_FN + 32, %bx		/* ECX */
	call put4
	mov $'\n', %al
	out %al, %dx

	cmpl $0, (CPUID_PAGE)
	je 5f
	mov $pass - _start, %si
	call puts
	xor %al, %al
	jmp 6f
5:	mov $fail - _start, %si
	call puts
	mov $1, %al
6:	mov $0xf4, %dx
	out %al, %dx
7:	hlt
	jmp 7b

/* The four bytes at DS:BX to COM1. */
put4:
	mov $4, %cx
12:	mov (%bx), %al
	out %al, %dx
	inc %bx
	loop 12b
	ret

#include "flash-serial.inc"

/* SEV-ES/SNP APs start here (the reset block below): nothing for them. */
ap:	hlt
	jmp ap

banner:	.asciz "flash-snp: "
cpuid_msg: .asciz "cpuid "
vendor_msg: .asciz " vendor "
pass:	.asciz "RESULT: PASS\n"
fail:	.asciz "RESULT: FAIL\n"

	/* SEV metadata (OvmfSevMetadata.asm): "ASEV", length, version 1,
	 * section count, then { GPA, size, type } per section. */
	.balign 16
sev_meta:
	.ascii "ASEV"
	.long 16 + 3 * 12, 1, 3
	.long ZERO_PAGE, 0x1000, 1	/* SNP_SEC_MEM */
	.long 0x2000, 0x1000, 2		/* SNP_SECRETS */
	.long CPUID_PAGE, 0x1000, 3	/* CPUID */

	/* The footer table ends 32 bytes before the end of the image. */
	.org 0xffe0 - 62
	.long 0x10000 - (sev_meta - _start)
	.word 22
	.byte 0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47
	.byte 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc
	.long 0xffff0000 + (ap - _start)
	.word 22
	.byte 0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f
	.byte 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e
	.word 62
	.byte 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45
	.byte 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d

	/* The reset vector: 16 bytes below 4 GiB. */
	.org 0xfff0
	jmp _start
	.org 0x10000, 0xff

	.section .note.GNU-stack, "", @progbits
