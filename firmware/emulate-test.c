// SPDX-License-Identifier: MIT
/*
 * emulate-test: the instructions of tern's emulation fallback, executed in
 * ring 0 and checked as the SDM says (docs/linux-guest.md). On the
 * development machines' nested KVM these are the instructions its ring-0
 * emulator lacks, so under tern they pass only through the fallback;
 * under QEMU's TCG they run on an emulator that has them (the reference),
 * and the guest must pass there too.
 *
 *   int3, plain and with a prefix: the #BP handler runs with the frame the
 *     CPU pushes for a trap (RIP past the instruction, CS, RFLAGS as before
 *     it, RSP, SS), every general register intact, IF and TF clear;
 *   iretq and iretd (CPL 0 to CPL 0): RIP, CS, RFLAGS (arithmetic flags,
 *     AC, ID, IOPL), RSP and SS from the frame, a null SS too;
 *   stac, clac: RFLAGS.AC set and cleared, nothing else changed;
 *   popcnt: the count in 64, 32 (zero-extended) and 16 bits (merged),
 *     from a register and from memory (RIP-relative, SIB), ZF for a zero
 *     source and the other arithmetic flags cleared; from a missing page
 *     #PF with CR2 and RIP at the instruction;
 *   ldmxcsr, stmxcsr: what is loaded is stored; CR0.TS is #NM; a
 *     reserved bit is #GP(0) with MXCSR unchanged (mxcsr-gp: QEMU's TCG
 *     loads it without a fault, so qemu-compat.sh skips that case);
 *   fwait: nothing when no x87 exception is pending; #NM when CR0.TS and
 *     CR0.MP are set; #MF for a pending unmasked exception (fwait-mf, not
 *     by default: setting one up takes x87 instructions this host's KVM
 *     cannot emulate in ring 0, so only QEMU's TCG runs it);
 *   iretq faults: a data segment or a selector past the GDT as CS, a code
 *     segment as SS, a not-present CS, NT set, a non-canonical RIP (#GP or
 *     #NP with the selector as the error code, RIP at the iret, RSP
 *     unchanged), the frame half on a not-present page (#PF, CR2).
 *
 * The handlers do not return with iret (that is under test): each vector
 * used has a "catch" gate that records the frame and the registers and
 * jumps back to where the test asked, on the stack it saved.
 *
 * Command line: only=NAME,... runs those cases (names in cases[] below),
 * skip=NAME,... leaves them out, saying so (QEMU's TCG loads a
 * non-canonical RIP and faults at the next fetch, where the SDM has IRET
 * raise #GP(0) itself: qemu-compat.sh skips iret-rip-noncanonical, and
 * mxcsr-gp as above).
 * only=cpuid prints the CPUID feature words (leaf 1 and 7) the vCPU sees.
 * only=decline executes lock cmpxchg16b, which the fallback does not
 * cover: tern must end the VM with the register dump. hold=1 halts after
 * the verdict instead of leaving, so a test can read the counters over
 * QMP.
 */
#include "guest/cmdline.h"
#include "guest/guest.h"
#include "guest/string.h"

#define SEL_DATA 0x10
#define SEL_PAST_GDT 0x60
/* An extra descriptor of the test's own GDT, after the firmware's six. */
#define SEL_CODE_NP 0x30
#define TEST_GDT_ENTRIES 7

#define FL_CF (1ul << 0)
#define FL_ZF (1ul << 6)
#define FL_SF (1ul << 7)
#define FL_TF (1ul << 8)
#define FL_IF (1ul << 9)
#define FL_OF (1ul << 11)
#define FL_IOPL3 (3ul << 12)
#define FL_NT (1ul << 14)
#define FL_AC (1ul << 18)
#define FL_ID (1ul << 21)

/* The 2 MiB page at 6 MiB is made not present for the #PF case. */
#define HOLE_ADDR 0x600000ul

enum iret_kind { IRET_Q = 0, IRET_D = 1, IRET_Q_NT = 2 };

/* Shared with the assembly below. */
struct catch_record {
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
struct catch_record catch_frame;
uint64_t catch_regs[15]; /* rax rbx rcx rdx rsi rdi rbp r8..r15 */
uint64_t catch_rflags_in, catch_count, catch_rsp, catch_resume;
uint64_t int3_rsp, int3_rflags, fell_through;
uint64_t landed, landed_rsp, landed_rflags, landed_cs, landed_ss;

void catch_bp(void), catch_nm(void), catch_np(void), catch_gp(void),
	catch_pf(void), catch_mf(void);
void test_int3(int prefixed);
void run_iret(void *frame, enum iret_kind kind);
void run_popcnt_fault(const void *addr);
void run_fwait(void);
void run_ldmxcsr(const uint32_t *p);
extern const char fwait_insn[], ldmxcsr_insn[];
extern const char popcnt_fault_insn[];
extern const char int3_after[], int3_prefixed_after[], iret_landing[];
extern const char iretq_insn[], iretd_insn[];

/* The register values test_int3 loads, in catch_regs order. */
#define PATTERN(i) (0x5a5a000000000000ul | ((uint64_t)(i) << 8) | (i))

__asm__(
	".text\n"
	".macro set_patterns\n"
	"movabs $0x5a5a000000000000, %rax\n"
	"movabs $0x5a5a000000000101, %rbx\n"
	"movabs $0x5a5a000000000202, %rcx\n"
	"movabs $0x5a5a000000000303, %rdx\n"
	"movabs $0x5a5a000000000404, %rsi\n"
	"movabs $0x5a5a000000000505, %rdi\n"
	"movabs $0x5a5a000000000606, %rbp\n"
	"movabs $0x5a5a000000000707, %r8\n"
	"movabs $0x5a5a000000000808, %r9\n"
	"movabs $0x5a5a000000000909, %r10\n"
	"movabs $0x5a5a000000000a0a, %r11\n"
	"movabs $0x5a5a000000000b0b, %r12\n"
	"movabs $0x5a5a000000000c0c, %r13\n"
	"movabs $0x5a5a000000000d0d, %r14\n"
	"movabs $0x5a5a000000000e0e, %r15\n"
	".endm\n"
	".macro save_callee\n"
	"pushq %rbx; pushq %rbp; pushq %r12\n"
	"pushq %r13; pushq %r14; pushq %r15\n"
	".endm\n"
	".macro restore_callee\n"
	"popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
	".endm\n"
	/* Catch gates: vector (and a 0 error code for #BP), then record. */
	".globl catch_bp, catch_nm, catch_np, catch_gp, catch_pf, catch_mf\n"
	"catch_bp: pushq $0; pushq $3; jmp catch_common\n"
	"catch_nm: pushq $0; pushq $7; jmp catch_common\n"
	"catch_mf: pushq $0; pushq $16; jmp catch_common\n"
	"catch_np: pushq $11; jmp catch_common\n"
	"catch_gp: pushq $13; jmp catch_common\n"
	"catch_pf: pushq $14; jmp catch_common\n"
	"catch_common:\n"
	"movq %rax, catch_regs+0(%rip)\n"
	"movq %rbx, catch_regs+8(%rip)\n"
	"movq %rcx, catch_regs+16(%rip)\n"
	"movq %rdx, catch_regs+24(%rip)\n"
	"movq %rsi, catch_regs+32(%rip)\n"
	"movq %rdi, catch_regs+40(%rip)\n"
	"movq %rbp, catch_regs+48(%rip)\n"
	"movq %r8, catch_regs+56(%rip)\n"
	"movq %r9, catch_regs+64(%rip)\n"
	"movq %r10, catch_regs+72(%rip)\n"
	"movq %r11, catch_regs+80(%rip)\n"
	"movq %r12, catch_regs+88(%rip)\n"
	"movq %r13, catch_regs+96(%rip)\n"
	"movq %r14, catch_regs+104(%rip)\n"
	"movq %r15, catch_regs+112(%rip)\n"
	"pushfq\n"
	"popq catch_rflags_in(%rip)\n"
	"popq catch_frame+0(%rip)\n"
	"popq catch_frame+8(%rip)\n"
	"popq catch_frame+16(%rip)\n"
	"popq catch_frame+24(%rip)\n"
	"popq catch_frame+32(%rip)\n"
	"popq catch_frame+40(%rip)\n"
	"popq catch_frame+48(%rip)\n"
	"incq catch_count(%rip)\n"
	"movq catch_rsp(%rip), %rsp\n"
	"jmp *catch_resume(%rip)\n"

	/* void test_int3(int prefixed) */
	".globl test_int3, int3_after, int3_prefixed_after\n"
	"test_int3:\n"
	"save_callee\n"
	"movq %rsp, catch_rsp(%rip)\n"
	"leaq 9f(%rip), %rax\n"
	"movq %rax, catch_resume(%rip)\n"
	"testl %edi, %edi\n"
	"jnz 5f\n"
	"set_patterns\n"
	"movq %rsp, int3_rsp(%rip)\n"
	"stc\n"
	"pushfq\n"
	"popq int3_rflags(%rip)\n"
	"int3\n"
	"int3_after:\n"
	"movq $1, fell_through(%rip)\n"
	"jmp 9f\n"
	"5:\n"
	"set_patterns\n"
	"movq %rsp, int3_rsp(%rip)\n"
	"stc\n"
	"pushfq\n"
	"popq int3_rflags(%rip)\n"
	".byte 0x3e, 0xcc\n" /* ds int3 */
	"int3_prefixed_after:\n"
	"movq $1, fell_through(%rip)\n"
	"9:\n"
	"pushq $2; popfq\n"
	"restore_callee\n"
	"ret\n"

	/* void run_popcnt_fault(const void *addr): faults, never returns */
	".globl run_popcnt_fault, popcnt_fault_insn\n"
	"run_popcnt_fault:\n"
	"save_callee\n"
	"movq %rsp, catch_rsp(%rip)\n"
	"leaq 9f(%rip), %rax\n"
	"movq %rax, catch_resume(%rip)\n"
	"popcnt_fault_insn:\n"
	"popcnt (%rdi), %rax\n"
	"incq landed(%rip)\n"
	"9:\n"
	"pushq $2; popfq\n"
	"restore_callee\n"
	"ret\n"

	/* void run_ldmxcsr(const uint32_t *p): one ldmxcsr, caught if it faults */
	".globl run_ldmxcsr, ldmxcsr_insn\n"
	"run_ldmxcsr:\n"
	"save_callee\n"
	"movq %rsp, catch_rsp(%rip)\n"
	"leaq 9f(%rip), %rax\n"
	"movq %rax, catch_resume(%rip)\n"
	"ldmxcsr_insn:\n"
	"ldmxcsr (%rdi)\n"
	"incq landed(%rip)\n"
	"9:\n"
	"pushq $2; popfq\n"
	"restore_callee\n"
	"ret\n"

	/* void run_fwait(void): one fwait, caught if it faults */
	".globl run_fwait, fwait_insn\n"
	"run_fwait:\n"
	"save_callee\n"
	"movq %rsp, catch_rsp(%rip)\n"
	"leaq 9f(%rip), %rax\n"
	"movq %rax, catch_resume(%rip)\n"
	"fwait_insn:\n"
	"fwait\n"
	"incq landed(%rip)\n"
	"9:\n"
	"pushq $2; popfq\n"
	"restore_callee\n"
	"ret\n"

	/* void run_iret(void *frame, enum iret_kind kind) */
	".globl run_iret, iretq_insn, iretd_insn, iret_landing\n"
	"run_iret:\n"
	"save_callee\n"
	"movq %rsp, catch_rsp(%rip)\n"
	"leaq 9f(%rip), %rax\n"
	"movq %rax, catch_resume(%rip)\n"
	"cmpl $2, %esi\n"
	"jne 1f\n"
	"pushfq; orq $0x4000, (%rsp); popfq\n" /* NT */
	"1:\n"
	"movq %rdi, %rsp\n"
	"cmpl $1, %esi\n"
	"je iretd_insn\n"
	"iretq_insn:\n"
	"iretq\n"
	"iretd_insn:\n"
	".byte 0xcf\n"
	"iret_landing:\n"
	"movq %rsp, landed_rsp(%rip)\n"
	"pushfq\n"
	"popq landed_rflags(%rip)\n"
	"xorl %eax, %eax\n"
	"movl %cs, %eax\n"
	"movq %rax, landed_cs(%rip)\n"
	"movl %ss, %eax\n"
	"movq %rax, landed_ss(%rip)\n"
	"incq landed(%rip)\n"
	"pushq $2; popfq\n"
	"movq catch_rsp(%rip), %rsp\n"
	"9:\n"
	"pushq $2; popfq\n"
	"movl $0x10, %eax\n"
	"mov %eax, %ss\n"
	"restore_callee\n"
	"ret\n");

struct __attribute__((packed)) desc_ptr {
	uint16_t limit;
	uint64_t base;
};

static void gate_set(unsigned int vec, void (*stub)(void))
{
	struct desc_ptr idtr;
	uint64_t a = (uint64_t)stub;
	volatile uint32_t *g;

	__asm__ volatile("sidt %0" : "=m"(idtr));
	g = (volatile uint32_t *)(idtr.base + vec * 16);
	g[0] = (uint32_t)(SEL_KERNEL_CS << 16) | (a & 0xffff);
	g[1] = (uint32_t)(a & 0xffff0000) | 0x8e00; /* present interrupt gate */
	g[2] = (uint32_t)(a >> 32);
	g[3] = 0;
}

/* The firmware's GDT plus a 64-bit code segment that is not present. */
static uint64_t test_gdt[TEST_GDT_ENTRIES] __attribute__((aligned(16)));

static void gdt_load_test(void)
{
	struct desc_ptr gdtr;
	const uint64_t *fw;

	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	fw = (const uint64_t *)gdtr.base;
	for (unsigned int i = 0; i < 6; i++)
		test_gdt[i] = fw[i];
	test_gdt[SEL_CODE_NP / 8] = 0x00af1b000000ffffull; /* P = 0 */
	gdtr.base = (uint64_t)test_gdt;
	gdtr.limit = sizeof(test_gdt) - 1;
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
}

static uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

/* The PD entry of the identity map for the 2 MiB page at addr. */
static volatile uint64_t *pde_of(uint64_t addr)
{
	uint64_t cr3, *pml4, *pdpt;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & ~0xffful);
	pdpt = (uint64_t *)(pml4[0] & 0x000ffffffffff000ul);
	return (uint64_t *)(pdpt[addr >> 30] & 0x000ffffffffff000ul) +
	       ((addr >> 21) & 511);
}

static void tlb_flush(void)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3"
			 : "=r"(cr3)
			 :
			 : "memory");
}

static uint16_t read_ss(void)
{
	uint16_t ss;

	__asm__ volatile("mov %%ss, %0" : "=r"(ss));
	return ss;
}

static void check_int3(int prefixed)
{
	const char *want = prefixed ? int3_prefixed_after : int3_after;
	uint16_t ss = read_ss();

	catch_count = 0;
	fell_through = 0;
	test_int3(prefixed);
	if (fell_through || catch_count != 1 || catch_frame.vector != 3)
		result_fail("int3%s: handler ran %lu times (vector %lu)",
			    prefixed ? " (prefixed)" : "", catch_count,
			    catch_frame.vector);
	if (catch_frame.rip != (uint64_t)want)
		result_fail("int3: frame rip %#lx, expected %#lx",
			    catch_frame.rip, (uint64_t)want);
	if (catch_frame.cs != SEL_KERNEL_CS || catch_frame.ss != ss)
		result_fail("int3: frame cs %#lx ss %#lx", catch_frame.cs,
			    catch_frame.ss);
	if (catch_frame.rflags != int3_rflags || catch_frame.rsp != int3_rsp)
		result_fail("int3: frame rflags %#lx rsp %#lx, want %#lx %#lx",
			    catch_frame.rflags, catch_frame.rsp, int3_rflags,
			    int3_rsp);
	if (catch_rflags_in & (FL_IF | FL_TF))
		result_fail("int3: handler runs with rflags %#lx",
			    catch_rflags_in);
	for (unsigned int i = 0; i < 15; i++)
		if (catch_regs[i] != PATTERN(i))
			result_fail("int3: register %u is %#lx in the handler",
				    i, catch_regs[i]);
	con_printf("emulate-test: int3%s ok\n", prefixed ? " (ds prefix)" : "");
}

/* An IRET frame in the middle of a buffer (room for pushes below it). */
static uint64_t frame_buf[64] __attribute__((aligned(16)));
static uint64_t landing_stack[32] __attribute__((aligned(16)));

static uint64_t *frame_at(uint64_t rip, uint64_t cs, uint64_t rflags,
			  uint64_t rsp, uint64_t ss)
{
	uint64_t *f = &frame_buf[40];

	f[0] = rip;
	f[1] = cs;
	f[2] = rflags;
	f[3] = rsp;
	f[4] = ss;
	return f;
}

static void check_iret(const char *name, enum iret_kind kind, uint64_t ss)
{
	uint64_t flags = 0x2 | FL_CF | FL_ZF | FL_SF | FL_OF | FL_AC | FL_ID;
	uint64_t top = (uint64_t)&landing_stack[24];
	void *frame;

	if (kind == IRET_D) {
		uint32_t *f = (uint32_t *)&frame_buf[40];

		f[0] = (uint32_t)(uint64_t)iret_landing;
		f[1] = SEL_KERNEL_CS;
		f[2] = (uint32_t)flags;
		f[3] = (uint32_t)top;
		f[4] = (uint32_t)ss;
		frame = f;
	} else {
		frame = frame_at((uint64_t)iret_landing, SEL_KERNEL_CS, flags,
				 top, ss);
	}
	landed = 0;
	catch_count = 0;
	run_iret(frame, kind);
	if (catch_count)
		result_fail("%s: exception %lu error %#lx at %#lx", name,
			    catch_frame.vector, catch_frame.error,
			    catch_frame.rip);
	if (landed != 1 || landed_rsp != top)
		result_fail("%s: landed %lu times, rsp %#lx (expected %#lx)",
			    name, landed, landed_rsp, top);
	if (landed_rflags != flags)
		result_fail("%s: rflags %#lx, expected %#lx", name,
			    landed_rflags, flags);
	if (landed_cs != SEL_KERNEL_CS || landed_ss != ss)
		result_fail("%s: cs %#lx ss %#lx", name, landed_cs, landed_ss);
	con_printf("emulate-test: %s ok\n", name);
}

static void check_iret_fault(const char *name, uint64_t *frame,
			     enum iret_kind kind, uint64_t vector,
			     uint64_t error)
{
	const char *insn = kind == IRET_D ? iretd_insn : iretq_insn;

	landed = 0;
	catch_count = 0;
	run_iret(frame, kind);
	if (landed || catch_count != 1)
		result_fail("%s: landed %lu, %lu exceptions", name, landed,
			    catch_count);
	if (catch_frame.vector != vector || catch_frame.error != error)
		result_fail("%s: exception %lu error %#lx, expected %lu %#lx",
			    name, catch_frame.vector, catch_frame.error, vector,
			    error);
	if (catch_frame.rip != (uint64_t)insn ||
	    catch_frame.rsp != (uint64_t)frame)
		result_fail("%s: fault at rip %#lx rsp %#lx, want %#lx %#lx",
			    name, catch_frame.rip, catch_frame.rsp,
			    (uint64_t)insn, (uint64_t)frame);
	con_printf("emulate-test: %s ok\n", name);
}

#define FL_PF (1ul << 2)
#define FL_AF (1ul << 4)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

static bool cpu_has_smap(void)
{
	return cpuid(7, 0).ebx & (1u << 20);
}

static void t_stac_clac(void)
{
	uint64_t set, clear;

	if (!cpu_has_smap()) {
		con_puts("emulate-test: stac/clac skipped (no SMAP in CPUID)");
		return;
	}
	__asm__ volatile("stc; stac; pushfq; popq %0; clac; pushfq; popq %1"
			 : "=r"(set), "=r"(clear)
			 :
			 : "cc");
	if ((set & (FL_AC | FL_CF)) != (FL_AC | FL_CF) || (clear & FL_AC) ||
	    !(clear & FL_CF))
		result_fail("stac/clac: rflags %#lx after stac, %#lx after clac",
			    set, clear);
	con_puts("emulate-test: stac and clac ok");
}

static uint64_t popcnt_data[4] __attribute__((aligned(16))) = {
	0xf0f0f0f0f0f0f0f1ul, 0, 0x00000000ffff0003ul, 0x8000000000000001ul,
};

static void t_popcnt(void)
{
	uint64_t q, l = ~0ul, w = 0x1234567812345678ul, m, z, s, f1, f2;

	__asm__ volatile("stc\n"
			 "popcnt %[a], %[q]\n"
			 "pushfq; popq %[f1]\n"
			 "popcnt %k[c], %k[l]\n"
			 "popcnt %w[c], %w[w]\n"
			 "popcnt popcnt_data+24(%%rip), %[m]\n"
			 "popcnt 8(%[base],%[idx],8), %[z]\n"
			 "pushfq; popq %[f2]\n"
			 "popcnt (%[base],%[idx],8), %[s]\n"
			 : [q] "=&r"(q), [l] "+&r"(l), [w] "+&r"(w),
			   [m] "=&r"(m), [z] "=&r"(z), [s] "=&r"(s),
			   [f1] "=&r"(f1), [f2] "=&r"(f2)
			 : [a] "r"(popcnt_data[0]), [c] "r"(popcnt_data[2]),
			   [base] "r"(popcnt_data), [idx] "r"(0ul)
			 : "cc", "memory");
	if (q != 33 || l != 18 || w != 0x1234567812340002ul || m != 2 ||
	    z != 0 || s != 33)
		result_fail("popcnt: %lu %#lx %#lx %lu %lu %lu", q, l, w, m, z, s);
	/* After a non-zero source: all six clear; after zero: ZF alone. */
	if ((f1 & FL_ARITH) || (f2 & FL_ARITH) != FL_ZF)
		result_fail("popcnt: flags %#lx then %#lx", f1, f2);
	con_puts("emulate-test: popcnt ok");
}

/* popcnt from a page that is not present: #PF at the instruction. */
static void t_popcnt_pf(void)
{
	volatile uint64_t *pde = pde_of(HOLE_ADDR);
	uint64_t saved_pde = *pde;

	*pde = 0;
	tlb_flush();
	catch_count = 0;
	landed = 0;
	run_popcnt_fault((const void *)(HOLE_ADDR + 0x40));
	*pde = saved_pde;
	tlb_flush();
	if (catch_count != 1 || catch_frame.vector != 14 ||
	    catch_frame.error != 0 || read_cr2() != HOLE_ADDR + 0x40)
		result_fail("popcnt #PF: %lu exceptions, vector %lu error %#lx "
			    "cr2 %#lx",
			    catch_count, catch_frame.vector, catch_frame.error,
			    read_cr2());
	if (catch_frame.rip != (uint64_t)popcnt_fault_insn)
		result_fail("popcnt #PF at %#lx, expected %#lx",
			    catch_frame.rip, (uint64_t)popcnt_fault_insn);
	con_puts("emulate-test: popcnt from a missing page ok");
}

static uint64_t read_cr0(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static void write_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

#define CR0_MP (1ul << 1)
#define CR0_TS (1ul << 3)
#define CR0_NE (1ul << 5)

/*
 * After one run_*() that either completes its instruction (landed) or
 * faults on it (caught): 0, or the vector raised at insn.
 */
static uint64_t caught_vector(const char *what, const char *insn)
{
	if (landed + catch_count != 1)
		result_fail("%s: landed %lu, %lu exceptions", what, landed,
			    catch_count);
	if (catch_count && catch_frame.rip != (uint64_t)insn)
		result_fail("%s: fault at %#lx, expected %#lx", what,
			    catch_frame.rip, (uint64_t)insn);
	return catch_count ? catch_frame.vector : 0;
}

/* One fwait: 0 when it completed, else the vector it raised. */
static uint64_t fwait_once(void)
{
	catch_count = 0;
	landed = 0;
	run_fwait();
	return caught_vector("fwait", fwait_insn);
}

static void t_fwait(void)
{
	uint64_t cr0 = read_cr0(), v;

	v = fwait_once();
	if (v)
		result_fail("fwait with nothing pending raised %lu", v);
	/* TS alone does not trap fwait; TS with MP does (#NM). */
	write_cr0(cr0 | CR0_TS);
	v = fwait_once();
	write_cr0(cr0 | CR0_TS | CR0_MP);
	if (v)
		result_fail("fwait with CR0.TS raised %lu", v);
	v = fwait_once();
	write_cr0(cr0);
	if (v != 7)
		result_fail("fwait with CR0.TS|MP raised %lu, expected #NM", v);
	con_puts("emulate-test: fwait ok");
}

/* A pending unmasked invalid-operation exception: fwait raises #MF. */
static void t_fwait_mf(void)
{
	uint16_t env[14] __attribute__((aligned(16)));
	uint64_t cr0 = read_cr0(), v;

	write_cr0(cr0 | CR0_NE);
	__asm__ volatile("fninit; fnstenv %0" : "=m"(env));
	env[0] &= ~1u; /* FCW: invalid operation unmasked */
	env[2] |= 0x81; /* FSW: IE and ES */
	__asm__ volatile("fldenv %0" : : "m"(env));
	v = fwait_once();
	__asm__ volatile("fninit");
	write_cr0(cr0);
	if (v != 16)
		result_fail("fwait with an x87 exception pending raised %lu, "
			    "expected #MF",
			    v);
	con_puts("emulate-test: fwait with a pending x87 exception ok");
}

static uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

#define CR0_EM (1ul << 2)
#define CR4_OSFXSR (1ul << 9)
#define MXCSR_DEFAULT 0x1f80u
#define MXCSR_RZ 0x7f80u /* round toward zero, every exception masked */

/* One ldmxcsr of v: 0 when it completed, else the vector it raised. */
static uint64_t ldmxcsr_once(uint32_t v)
{
	static uint32_t word;

	word = v;
	catch_count = 0;
	landed = 0;
	run_ldmxcsr(&word);
	return caught_vector("ldmxcsr", ldmxcsr_insn);
}

static uint32_t stmxcsr_now(void)
{
	uint32_t v = 0;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

/*
 * ldmxcsr, stmxcsr (the kernel's kernel_fpu_begin_mask() loads MXCSR):
 * the value loaded is the value stored; a reserved bit is #GP(0) with
 * MXCSR unchanged; CR0.TS is #NM.
 */
static void t_mxcsr(void)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4(), v;
	uint32_t got;

	write_cr4(cr4 | CR4_OSFXSR);
	write_cr0(cr0 & ~(CR0_EM | CR0_TS));
	v = ldmxcsr_once(MXCSR_RZ);
	got = stmxcsr_now();
	if (v || got != MXCSR_RZ)
		result_fail("ldmxcsr %#x: raised %lu, stmxcsr gives %#x",
			    MXCSR_RZ, v, got);
	write_cr0(cr0 | CR0_TS);
	v = ldmxcsr_once(MXCSR_DEFAULT);
	write_cr0(cr0 & ~(CR0_EM | CR0_TS));
	if (v != 7)
		result_fail("ldmxcsr with CR0.TS raised %lu, expected #NM", v);
	v = ldmxcsr_once(MXCSR_DEFAULT);
	got = stmxcsr_now();
	write_cr0(cr0);
	write_cr4(cr4);
	if (v || got != MXCSR_DEFAULT)
		result_fail("ldmxcsr %#x: raised %lu, stmxcsr gives %#x",
			    MXCSR_DEFAULT, v, got);
	con_puts("emulate-test: ldmxcsr and stmxcsr ok");
}

/*
 * ldmxcsr of a reserved bit: #GP(0), MXCSR unchanged (QEMU's TCG loads
 * it without a fault: qemu-compat.sh skips this case).
 */
static void t_mxcsr_gp(void)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4(), v;
	uint32_t got;

	write_cr4(cr4 | CR4_OSFXSR);
	write_cr0(cr0 & ~(CR0_EM | CR0_TS));
	v = ldmxcsr_once(MXCSR_RZ);
	if (v)
		result_fail("ldmxcsr %#x raised %lu", MXCSR_RZ, v);
	v = ldmxcsr_once(0x80000000u | MXCSR_DEFAULT);
	got = stmxcsr_now();
	(void)ldmxcsr_once(MXCSR_DEFAULT);
	write_cr0(cr0);
	write_cr4(cr4);
	if (v != 13 || catch_frame.error != 0 || got != MXCSR_RZ)
		result_fail("ldmxcsr of a reserved bit: raised %lu error %#lx, "
			    "MXCSR %#x (want #GP(0), %#x)",
			    v, catch_frame.error, got, MXCSR_RZ);
	con_puts("emulate-test: ldmxcsr of a reserved bit ok");
}

#define LAND ((uint64_t)iret_landing)
#define TOP ((uint64_t)&landing_stack[24])

static void t_int3(void)
{
	check_int3(0);
}

static void t_int3_prefixed(void)
{
	check_int3(1);
}

/* Many in a row: the fallback's log line is rate-limited, its count not. */
#define INT3_MANY 25

static void t_int3_many(void)
{
	for (unsigned int i = 0; i < INT3_MANY; i++) {
		catch_count = 0;
		test_int3(0);
		if (catch_count != 1 || catch_frame.rip != (uint64_t)int3_after)
			result_fail("int3 %u of %u: %lu handler runs, rip %#lx",
				    i + 1, INT3_MANY, catch_count,
				    catch_frame.rip);
	}
	con_printf("emulate-test: %u int3 in a row ok\n", INT3_MANY);
}

static void t_iretq(void)
{
	check_iret("iretq", IRET_Q, SEL_DATA);
}

static void t_iretd(void)
{
	check_iret("iretd", IRET_D, SEL_DATA);
}

static void t_iretq_null_ss(void)
{
	check_iret("iretq null ss", IRET_Q, 0);
}

static void t_cs_data(void)
{
	check_iret_fault("iretq data segment as cs",
			 frame_at(LAND, SEL_DATA, 2, TOP, SEL_DATA), IRET_Q, 13,
			 SEL_DATA);
}

static void t_cs_past_gdt(void)
{
	check_iret_fault("iretq cs past the gdt",
			 frame_at(LAND, SEL_PAST_GDT, 2, TOP, SEL_DATA), IRET_Q,
			 13, SEL_PAST_GDT);
}

static void t_ss_code(void)
{
	check_iret_fault("iretq code segment as ss",
			 frame_at(LAND, SEL_KERNEL_CS, 2, TOP, SEL_KERNEL_CS),
			 IRET_Q, 13, SEL_KERNEL_CS);
}

static void t_cs_not_present(void)
{
	check_iret_fault("iretq not-present cs",
			 frame_at(LAND, SEL_CODE_NP, 2, TOP, SEL_DATA), IRET_Q,
			 11, SEL_CODE_NP);
}

static void t_rip_noncanonical(void)
{
	check_iret_fault("iretq non-canonical rip",
			 frame_at(0x0000800000000000ul, SEL_KERNEL_CS, 2, TOP,
				  SEL_DATA),
			 IRET_Q, 13, 0);
}

static void t_nt(void)
{
	check_iret_fault("iretq with NT set",
			 frame_at(LAND, SEL_KERNEL_CS, 2, TOP, SEL_DATA),
			 IRET_Q_NT, 13, 0);
}

/* The frame's last 24 bytes on a page that is not present. */
static void t_frame_pf(void)
{
	volatile uint64_t *pde = pde_of(HOLE_ADDR);
	uint64_t saved_pde = *pde, *f = (uint64_t *)(HOLE_ADDR - 16);

	*pde = 0;
	tlb_flush();
	f[0] = LAND;
	f[1] = SEL_KERNEL_CS;
	check_iret_fault("iretq frame on a missing page", f, IRET_Q, 14, 0);
	*pde = saved_pde;
	tlb_flush();
	if (read_cr2() != HOLE_ADDR)
		result_fail("iretq #PF: cr2 %#lx, expected %#lx", read_cr2(),
			    HOLE_ADDR);
}

/*
 * An instruction outside the fallback's set that the development
 * machines' KVM cannot emulate in ring 0 either: tern must end the VM.
 */
static void t_decline(void)
{
	static uint64_t pair[2] __attribute__((aligned(16)));

	con_puts("emulate-test: lock cmpxchg16b, which tern does not complete");
	__asm__ volatile(".byte 0xf0, 0x48, 0x0f, 0xc7, 0x0f" /* (%rdi) */
			 : : "D"(pair), "a"(0), "d"(0), "b"(1), "c"(1)
			 : "memory", "cc");
	result_fail("cmpxchg16b completed (pair %#lx %#lx)", pair[0], pair[1]);
}

/*
 * cpuid: the feature words as this vCPU sees them, for emulate.sh to hold
 * against tern's --cpu-features report (a nested KVM may keep bits tern
 * removed, and tern must say so).
 */
static void t_cpuid(void)
{
	struct cpuid_regs l1 = cpuid(1, 0);
	struct cpuid_regs l7 = cpuid(7, 0);

	con_printf("emulate-test: cpuid 1.ecx=%08x 1.edx=%08x 7.ebx=%08x "
		   "7.ecx=%08x 7.edx=%08x\n",
		   l1.ecx, l1.edx, l7.ebx, l7.ecx, l7.edx);
}

static const struct {
	const char *name;
	void (*fn)(void);
	bool by_default;
} cases[] = {
	{ "int3", t_int3, true },
	{ "int3-prefixed", t_int3_prefixed, true },
	{ "int3-many", t_int3_many, false },
	{ "stac-clac", t_stac_clac, true },
	{ "popcnt", t_popcnt, true },
	{ "popcnt-pf", t_popcnt_pf, true },
	{ "fwait", t_fwait, true },
	{ "mxcsr", t_mxcsr, true },
	{ "mxcsr-gp", t_mxcsr_gp, true },
	{ "fwait-mf", t_fwait_mf, false },
	{ "iretq", t_iretq, true },
	{ "iretd", t_iretd, true },
	{ "iretq-null-ss", t_iretq_null_ss, true },
	{ "iret-cs-data", t_cs_data, true },
	{ "iret-cs-past-gdt", t_cs_past_gdt, true },
	{ "iret-ss-code", t_ss_code, true },
	{ "iret-cs-not-present", t_cs_not_present, true },
	{ "iret-rip-noncanonical", t_rip_noncanonical, true },
	{ "iret-nt", t_nt, true },
	{ "iret-frame-pf", t_frame_pf, true },
	{ "decline", t_decline, false },
	{ "cpuid", t_cpuid, false },
};

/* Is name a word of the comma-separated list? */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		const char *end = p;

		while (*end && *end != ',')
			end++;
		if ((size_t)(end - p) == n && strncmp(p, name, n) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

int guest_main(void)
{
	char only[256] = "", skip[256] = "";
	unsigned long hold = 0;
	unsigned int ran = 0;

	cmdline_get_str("only", only, sizeof(only));
	cmdline_get_str("skip", skip, sizeof(skip));
	cmdline_get_uint("hold", 1, &hold);
	gate_set(3, catch_bp);
	gate_set(7, catch_nm);
	gate_set(16, catch_mf);
	gate_set(11, catch_np);
	gate_set(13, catch_gp);
	gate_set(14, catch_pf);
	gdt_load_test();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only[0] ? !in_list(only, cases[i].name) :
			      !cases[i].by_default)
			continue;
		if (in_list(skip, cases[i].name)) {
			con_printf("emulate-test: %s skipped\n", cases[i].name);
			continue;
		}
		cases[i].fn();
		ran++;
	}
	if (!ran)
		result_fail("no case ran (only=%s skip=%s)", only, skip);
	if (hold) {
		con_puts("RESULT: PASS");
		con_puts("emulate-test: holding");
		cpu_halt_forever();
	}
	result_pass();
}
