/*
 * Relegation by native execution: a SIMD or floating-point instruction the host's emulator cannot perform
 * (SSE, AVX, AVX-512, AES-NI, SHA, ... — Linux runs them in ring 0 between kernel_fpu_begin and _end, e.g.
 * blake2s for its random pool) is run once on the host CPU, in this user process, with the guest's vector
 * state, MXCSR, arithmetic flags and general registers loaded, and the results copied back. The instruction's
 * memory operand, if any, is redirected to a bounce buffer holding a copy of the guest bytes (rewritten as a
 * RIP-relative operand), so it can touch nothing of the host but that buffer and its registers. Only instructions
 * in SIMD/FP groups with no branch, no privilege, no implicit memory access and no use of RSP are run.
 */
#include <capstone/capstone.h>
#include <cpuid.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86raw.h"

/* What the trampoline reads and writes; offsets are used by the assembly below. */
typedef struct x86_native_ctx {
    uint64_t gpr[16];   /* 0x00: rax rcx rdx rbx rsp(unused) rbp rsi rdi r8-r15, encoding order */
    uint64_t rflags;    /* 0x80 */
    uint64_t code;      /* 0x88: the instruction, followed by ret */
    uint64_t mask;      /* 0x90: XSAVE components to switch */
    uint64_t host_area; /* 0x98: 64-byte aligned */
    uint64_t guest_area;/* 0xa0: 64-byte aligned, standard format */
    uint64_t host_rsp;  /* 0xa8: RSP inside the call, restored after the instruction whatever it did */
} x86_native_ctx;

_Static_assert(offsetof(x86_native_ctx, rflags) == 0x80, "trampoline offsets");
_Static_assert(offsetof(x86_native_ctx, guest_area) == 0xa0, "trampoline offsets");

void x86_native_trampoline(x86_native_ctx *ctx);

static uint8_t *x86_native_exec_view(uint8_t *page);

/* Saves the host's vector state, loads the guest's and its registers, calls the instruction, and reverses all
 * of it. The instruction runs with the host's stack (never the guest's RSP: such instructions are refused). */
__asm__(".text\n"
        ".type x86_native_trampoline, @function\n"
        "x86_native_trampoline:\n"
        "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
        "  push %rdi\n"
        "  pushq 0x88(%rdi)\n"
        "  mov 0x90(%rdi), %eax\n mov 0x94(%rdi), %edx\n"
        "  mov 0x98(%rdi), %rcx\n xsave64 (%rcx)\n"
        "  mov 0xa0(%rdi), %rcx\n xrstor64 (%rcx)\n"
        "  lea -8(%rsp), %rax\n mov %rax, 0xa8(%rdi)\n"
        "  pushq 0x80(%rdi)\n popfq\n"
        "  mov 0x00(%rdi), %rax\n mov 0x08(%rdi), %rcx\n mov 0x10(%rdi), %rdx\n mov 0x18(%rdi), %rbx\n"
        "  mov 0x28(%rdi), %rbp\n mov 0x30(%rdi), %rsi\n"
        "  mov 0x40(%rdi), %r8\n mov 0x48(%rdi), %r9\n mov 0x50(%rdi), %r10\n mov 0x58(%rdi), %r11\n"
        "  mov 0x60(%rdi), %r12\n mov 0x68(%rdi), %r13\n mov 0x70(%rdi), %r14\n mov 0x78(%rdi), %r15\n"
        "  mov 0x38(%rdi), %rdi\n"
        "  call *(%rsp)\n"
        "  push %rdi\n"
        "  mov 16(%rsp), %rdi\n"
        "  mov %rax, 0x00(%rdi)\n mov %rcx, 0x08(%rdi)\n mov %rdx, 0x10(%rdi)\n mov %rbx, 0x18(%rdi)\n"
        "  mov %rbp, 0x28(%rdi)\n mov %rsi, 0x30(%rdi)\n"
        "  mov %r8, 0x40(%rdi)\n mov %r9, 0x48(%rdi)\n mov %r10, 0x50(%rdi)\n mov %r11, 0x58(%rdi)\n"
        "  mov %r12, 0x60(%rdi)\n mov %r13, 0x68(%rdi)\n mov %r14, 0x70(%rdi)\n mov %r15, 0x78(%rdi)\n"
        "  pop %rax\n mov %rax, 0x38(%rdi)\n"
        "  pushfq\n pop %rax\n mov %rax, 0x80(%rdi)\n"
        "  mov 0x90(%rdi), %eax\n mov 0x94(%rdi), %edx\n"
        "  mov 0xa0(%rdi), %rcx\n xsave64 (%rcx)\n"
        "  mov 0x98(%rdi), %rcx\n xrstor64 (%rcx)\n"
        "  add $16, %rsp\n"
        "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
        "  ret\n"
        ".size x86_native_trampoline, .-x86_native_trampoline\n");

#define X86_NATIVE_PAGES 5
#define X86_NATIVE_EXEC_SLOT (4096 + 512) /* where the work area keeps the address of its executable view */
/* Instructions run natively in one exit at most, so an interrupt waits for no more than these. */
#define X86_NATIVE_RUN_MAX 512
#define X86_RFLAGS_TF (1ull << 8)
#define X86_FLAGS_ARITH 0x8d5ull /* CF PF AF ZF SF OF: all an instruction here may read or write */

static int x86_native_group_ok(const cs_insn *insn)
{
    const cs_detail *d = insn->detail;
    int simd = 0;
    for (unsigned i = 0; i < d->groups_count; i++) {
        switch (d->groups[i]) {
        case X86_GRP_JUMP:
        case X86_GRP_CALL:
        case X86_GRP_RET:
        case X86_GRP_INT:
        case X86_GRP_IRET:
        case X86_GRP_PRIVILEGE:
        case X86_GRP_BRANCH_RELATIVE:
        case X86_GRP_VM:
        case X86_GRP_SGX:
        case X86_GRP_RTM:
        case X86_GRP_HLE:
        case X86_GRP_FSGSBASE:
            return 0;
        case X86_GRP_SSE1: case X86_GRP_SSE2: case X86_GRP_SSE3: case X86_GRP_SSSE3: case X86_GRP_SSE41:
        case X86_GRP_SSE42: case X86_GRP_SSE4A: case X86_GRP_AVX: case X86_GRP_AVX2: case X86_GRP_AVX512:
        case X86_GRP_FMA: case X86_GRP_FMA4: case X86_GRP_AES: case X86_GRP_PCLMUL: case X86_GRP_SHA:
        case X86_GRP_F16C: case X86_GRP_XOP: case X86_GRP_MMX: case X86_GRP_3DNOW: case X86_GRP_CDI:
        case X86_GRP_ERI: case X86_GRP_DQI: case X86_GRP_BWI: case X86_GRP_PFI: case X86_GRP_VLX:
        case X86_GRP_NOVLX: case X86_GRP_FPU:
            simd = 1;
            break;
        default:
            break;
        }
    }
    if (!simd)
        return 0;
    /* Implicit memory (masked stores through RDI, gathers and scatters through vector indexes) and state
     * switches, which must not run on the host's own state. */
    static const char *const refused[] = {"maskmov", "vmaskmovdqu", "vgather", "vpgather", "vscatter", "vpscatter",
                                          "xsave", "xrstor", "fxsave", "fxrstor", "fnsave", "fsave", "frstor",
                                          "fldenv", "fnstenv", "fstenv", "vzeroall", NULL};
    for (unsigned i = 0; refused[i]; i++)
        if (strncmp(insn->mnemonic, refused[i], strlen(refused[i])) == 0)
            return 0;
    return 1;
}

static int x86_native_is_rsp(unsigned reg)
{
    return reg == X86_REG_RSP || reg == X86_REG_ESP || reg == X86_REG_SP || reg == X86_REG_SPL;
}

/*
 * Copy the instruction with its memory operand (if any) re-encoded as [rip + disp32] pointing at `target`, and
 * without segment or address-size prefixes (an FS/GS prefix would add the host's base). Returns the new length,
 * or 0 when the encoding is not one this understands.
 */
static size_t x86_native_rewrite(const cs_insn *insn, uint8_t *out, size_t outlen, uint64_t out_addr, uint64_t target,
                                 int has_mem)
{
    const uint8_t *b = insn->bytes;
    size_t n = insn->size, mo = insn->detail->x86.encoding.modrm_offset;
    if (n + 8 > outlen)
        return 0;
    if (!has_mem) {
        memcpy(out, b, n);
        return n;
    }
    if (mo == 0 || mo >= n)
        return 0;
    uint8_t modrm = b[mo];
    unsigned mod = modrm >> 6, rm = modrm & 7;
    if (mod == 3)
        return 0;
    size_t end = mo + 1;
    if (rm == 4) {
        uint8_t sib = b[end++];
        if (mod == 0 && (sib & 7) == 5)
            end += 4;
    } else if (mod == 0 && rm == 5) {
        end += 4;
    }
    if (mod == 1)
        end += 1;
    else if (mod == 2)
        end += 4;
    if (end > n)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < mo; i++) {
        /* Legacy prefixes come first; drop the segment overrides and 0x67. REX/VEX/EVEX and opcode bytes stay. */
        int legacy_zone = 1;
        for (size_t k = 0; k < i; k++)
            if (!(b[k] == 0x66 || b[k] == 0x67 || b[k] == 0xf2 || b[k] == 0xf3 || b[k] == 0xf0 || b[k] == 0x2e ||
                  b[k] == 0x36 || b[k] == 0x3e || b[k] == 0x26 || b[k] == 0x64 || b[k] == 0x65))
                legacy_zone = 0;
        if (legacy_zone && (b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 ||
                            b[i] == 0x65 || b[i] == 0x67))
            continue;
        out[o++] = b[i];
    }
    out[o++] = (uint8_t)((modrm & 0x38) | 0x05);
    size_t disp_at = o;
    o += 4;
    memcpy(out + o, b + end, n - end);
    o += n - end;
    int64_t disp = (int64_t)(target - (out_addr + o));
    if (disp < INT32_MIN || disp > INT32_MAX)
        return 0;
    int32_t d32 = (int32_t)disp;
    memcpy(out + disp_at, &d32, 4);
    return o;
}

static uint64_t x86_native_host_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/*
 * Run `code_len` bytes of code (one instruction, its memory operand already aimed at the bounce buffer) with the
 * guest's state held in the page: the XSAVE image is fetched from the host driver on the first instruction of a
 * run (first != 0) and written back only by x86_native_commit, and the general registers are taken from and left
 * in r. mem_linear/mem_len describe the guest bytes behind the bounce buffer (mem_len 0: none). After the
 * instruction, RSP is reloaded from the context (RIP-relative, needing no register), so even an instruction that
 * wrote RSP returns. 1: performed; 0: not performed because its memory operand is not readable (a later
 * instruction of a run stops there; the first injects #PF and returns 2); -1: failed.
 */
static int x86_native_exec(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, uint8_t *page, size_t code_len,
                           uint64_t mem_linear, size_t mem_len, unsigned insn_len, int first)
{
    uint8_t *code = page, *bounce = page + 4096, *host_area = page + 2 * 4096, *exec = x86_native_exec_view(page);
    x86_native_ctx *ctx = (x86_native_ctx *)(page + 4096 + 256);
    struct kvm_xsave *gx = (struct kvm_xsave *)(page + 3 * 4096);
    /* mov host_rsp(%rip), %rsp; ret */
    int64_t rel = (int64_t)((uintptr_t)&ctx->host_rsp - ((uintptr_t)exec + code_len + 7));
    int32_t rel32 = (int32_t)rel;
    code[code_len] = 0x48;
    code[code_len + 1] = 0x8b;
    code[code_len + 2] = 0x25;
    memcpy(code + code_len + 3, &rel32, 4);
    code[code_len + 7] = 0xc3;
    if (mem_len) {
        uint64_t bad = x86_relegate_copy(x, vcpu, mem_linear, bounce, mem_len, 0);
        if (bad && !first)
            return 0;
        if (bad)
            return x86_relegate_page_fault(x, vcpu, bad, 0) ? -1 : 2;
    }
    uint8_t before[64];
    memcpy(before, bounce, sizeof(before));
    struct kvm_xsave *saved = (struct kvm_xsave *)(page + 4 * 4096);
    if (mem_len && !first)
        memcpy(saved, gx, sizeof(*gx)); /* for a store that turns out not to be writable */
    /* x87 through AVX-512 and PKRU: what fits KVM's 4 KiB image (AMX tiles would not). */
    uint64_t mask = x86_native_host_xcr0() & 0x2ffull, bv;
    if (first) {
        if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_XSAVE, gx, sizeof(*gx)))
            return -1;
        /* The guest image may name components the host has not enabled; xrstor would fault on those. */
        memcpy(&bv, (uint8_t *)gx->region + 512, 8);
        bv &= mask;
        memcpy((uint8_t *)gx->region + 512, &bv, 8);
        memset((uint8_t *)gx->region + 520, 0, 56);
    }
    __u64 *const slots[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
                              &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
    for (unsigned i = 0; i < 16; i++)
        ctx->gpr[i] = *slots[i];
    ctx->rflags = (r->rflags & X86_FLAGS_ARITH) | 2;
    ctx->code = (uint64_t)(uintptr_t)exec;
    ctx->mask = mask;
    ctx->host_area = (uint64_t)(uintptr_t)host_area;
    ctx->guest_area = (uint64_t)(uintptr_t)gx->region;
    x86_native_trampoline(ctx);
    if (mem_len && memcmp(before, bounce, mem_len) != 0) {
        /* The read above found every page; a write that now fails (a read-only mapping) is the guest's #PF, but
         * the instruction's register results are already made: stop with nothing applied. */
        uint64_t bad = x86_relegate_copy(x, vcpu, mem_linear, bounce, mem_len, 1);
        if (bad && !first) {
            memcpy(gx, saved, sizeof(*gx));
            return 0;
        }
        if (bad)
            return x86_relegate_page_fault(x, vcpu, bad, 1) ? -1 : 2;
    }
    for (unsigned i = 0; i < 16; i++)
        if (i != 4)
            *slots[i] = ctx->gpr[i];
    r->rflags = (r->rflags & ~X86_FLAGS_ARITH) | (ctx->rflags & X86_FLAGS_ARITH);
    r->rip += insn_len;
    return 1;
}

/* Hand the run's vector state and registers back to the host driver. */
static int x86_native_commit(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, uint8_t *page)
{
    struct kvm_xsave *gx = (struct kvm_xsave *)(page + 3 * 4096);
    /* A standard-format xsave64 writes every requested component (init values for those not in use), but its
     * header may still say "init" for SSE while MXCSR is not the default (AMD counts only the XMM registers),
     * and KVM then ignores MXCSR. Every component in the image is valid, so mark them all. Not limited to the
     * guest's XCR0: SSE state exists with XCR0 = 1 too (FXSR). */
    uint64_t bv = x86_native_host_xcr0() & 0x2ffull;
    memcpy((uint8_t *)gx->region + 512, &bv, 8);
    if (x->hlp->vcpu_set_state(vcpu, VMM_STATE_XSAVE, gx, sizeof(*gx)))
        return -1;
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, r, sizeof(*r)) ? -1 : 1;
}

/*
 * The work area of a vCPU thread, a memfd mapped twice: read-write (page 0 the code, then the bounce buffer and the
 * context, the host's XSAVE area, the guest's, a copy of the guest's) and page 0 again read+execute, so code is
 * written through one view and run through the other without changing protections per instruction. Made once
 * per thread (an exit cannot afford six system calls more on a host where it already costs tens of
 * microseconds); after each exit its code page is filled with int3, so what stays executable is only traps.
 */
static __thread uint8_t *x86_native_area;

static uint8_t *x86_native_map(void)
{
    int fd = memfd_create("x86-raw-native", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* Both views in one reservation, so every RIP-relative displacement between them fits in 32 bits. */
    uint8_t *rw = mmap(NULL, (X86_NATIVE_PAGES + 1) * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *rx = rw == MAP_FAILED ? MAP_FAILED : rw + X86_NATIVE_PAGES * 4096;
    if (rw == MAP_FAILED || ftruncate(fd, X86_NATIVE_PAGES * 4096) != 0 ||
        mmap(rw, X86_NATIVE_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(rx, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        if (rw != MAP_FAILED)
            munmap(rw, (X86_NATIVE_PAGES + 1) * 4096);
        close(fd);
        return NULL;
    }
    close(fd);
    memcpy(rw + X86_NATIVE_EXEC_SLOT, &rx, sizeof(rx));
    return rw;
}

static uint8_t *x86_native_exec_view(uint8_t *page)
{
    uint8_t *rx;
    memcpy(&rx, page + X86_NATIVE_EXEC_SLOT, sizeof(rx));
    return rx;
}

static uint8_t *x86_native_page(void)
{
    if (!x86_native_area)
        x86_native_area = x86_native_map();
    return x86_native_area;
}

/* After an exit: the executable view holds only int3 until the next instruction is written. */
static void x86_native_disarm(uint8_t *page)
{
    memset(page, 0xcc, 4096);
}

/*
 * General-purpose instructions a run may include between SIMD ones, so that a loop's pointer and counter updates
 * do not each end the run: register and memory forms, none of which can fault on registers (no division), take
 * a lock, branch, use the stack or touch memory other than their one explicit operand. (lea is not among them:
 * its operand is an address, which the bounce-buffer rewrite would change.)
 */
static int x86_native_gpr_ok(const cs_insn *insn)
{
    static const char *const exact[] = {"add", "sub", "and", "or", "xor", "inc", "dec", "neg", "not", "shl", "shr",
                                        "sar", "sal", "rol", "ror", "mov", "movzx", "movsx", "movsxd", "movabs", "cmp",
                                        "test", "imul", "adc", "sbb", "bswap", "shld", "shrd", NULL};
    const cs_detail *d = insn->detail;
    for (unsigned i = 0; i < d->groups_count; i++)
        if (d->groups[i] == X86_GRP_JUMP || d->groups[i] == X86_GRP_CALL || d->groups[i] == X86_GRP_RET ||
            d->groups[i] == X86_GRP_INT || d->groups[i] == X86_GRP_IRET || d->groups[i] == X86_GRP_PRIVILEGE ||
            d->groups[i] == X86_GRP_BRANCH_RELATIVE)
            return 0;
    for (unsigned i = 0; i < sizeof(d->x86.prefix); i++)
        if (d->x86.prefix[i] == X86_PREFIX_LOCK || d->x86.prefix[i] == X86_PREFIX_REP ||
            d->x86.prefix[i] == X86_PREFIX_REPNE)
            return 0;
    /* mov to or from a segment, control or debug register would act on the host's (or fault in vmm). */
    for (unsigned i = 0; i < d->x86.op_count; i++) {
        unsigned reg = d->x86.operands[i].type == X86_OP_REG ? d->x86.operands[i].reg : X86_REG_INVALID;
        if (reg == X86_REG_CS || reg == X86_REG_DS || reg == X86_REG_ES || reg == X86_REG_FS || reg == X86_REG_GS ||
            reg == X86_REG_SS || (reg >= X86_REG_CR0 && reg <= X86_REG_CR15) ||
            (reg >= X86_REG_DR0 && reg <= X86_REG_DR15))
            return 0;
    }
    for (unsigned i = 0; exact[i]; i++)
        if (!strcmp(insn->mnemonic, exact[i]))
            return 1;
    return !strncmp(insn->mnemonic, "cmov", 4) || (!strncmp(insn->mnemonic, "set", 3) && strlen(insn->mnemonic) <= 6);
}

/*
 * The code page a run executes from, translated once: a run's instructions mostly come from one page, and each
 * translation is a call into the host driver. The guest's page tables cannot change under a run unless one of
 * its stores hits them, and then x86_native_exec drops this (see x86_native_fetch's caller).
 */
typedef struct x86_native_code_page {
    uint64_t linear; /* page-aligned; UINT64_MAX: none */
    const uint8_t *host;
} x86_native_code_page;

static size_t x86_native_fetch(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const struct kvm_sregs *s,
                               x86_native_code_page *c, uint8_t *code, size_t len)
{
    uint64_t page = r->rip & ~4095ull, off = r->rip & 4095;
    if (off + len <= 4096) {
        uint64_t gpa;
        if (c->linear != page) {
            c->linear = UINT64_MAX;
            if (x->hlp->vcpu_translate(vcpu, page, &gpa) == 0 && (c->host = x->hlp->mem_ptr(x->inst, gpa, 4096, 0)))
                c->linear = page;
        }
        if (c->linear == page) {
            memcpy(code, c->host + off, len);
            return len;
        }
    }
    return x86_read_code(x, vcpu, r, s, code, len);
}

/*
 * A relative jmp or jcc within a run: 1 taken, 0 not taken (from the flags the run computed), -1 anything else
 * (indirect, jrcxz/loop, an operand-size prefix that would truncate RIP). Following them lets a SIMD loop run
 * whole in one exit instead of leaving at every back-edge.
 */
static int x86_native_branch(const cs_insn *insn, uint64_t fl)
{
    const cs_x86 *d = &insn->detail->x86;
    if (d->op_count != 1 || d->operands[0].type != X86_OP_IMM || d->prefix[2] == 0x66)
        return -1;
    int cf = fl & 1, pf = (fl >> 2) & 1, zf = (fl >> 6) & 1, sf = (fl >> 7) & 1, of = (fl >> 11) & 1;
    switch (insn->id) {
    case X86_INS_JMP: return 1;
    case X86_INS_JO: return of;
    case X86_INS_JNO: return !of;
    case X86_INS_JB: return cf;
    case X86_INS_JAE: return !cf;
    case X86_INS_JE: return zf;
    case X86_INS_JNE: return !zf;
    case X86_INS_JBE: return cf || zf;
    case X86_INS_JA: return !cf && !zf;
    case X86_INS_JS: return sf;
    case X86_INS_JNS: return !sf;
    case X86_INS_JP: return pf;
    case X86_INS_JNP: return !pf;
    case X86_INS_JL: return sf != of;
    case X86_INS_JGE: return sf == of;
    case X86_INS_JLE: return zf || sf != of;
    case X86_INS_JG: return !zf && sf == of;
    default: return -1;
    }
}

/* Whether the host has enabled XSAVE (OSXSAVE), without which there is nothing to switch the state with. Asked
 * once: CPUID traps to the hypervisor when vmm itself runs in a VM, and this is on the path of every instruction
 * of a run. */
static int x86_native_host_osxsave(void)
{
    static int known, has;
    if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
        unsigned a, bx, c, d;
        __atomic_store_n(&has, __get_cpuid(1, &a, &bx, &c, &d) && (c & (1u << 27)), __ATOMIC_RELAXED);
        __atomic_store_n(&known, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&has, __ATOMIC_RELAXED);
}

/* Whether insn may run natively, and its memory operand; 1 yes, 0 no, -1 the operand's address is unknowable. */
static int x86_native_check(const struct kvm_regs *r, const struct kvm_sregs *s, const cs_insn *insn, int in_run,
                            uint64_t *linear, uint64_t *mem_len, int *has_mem)
{
    if (!insn->detail || !x86_native_host_osxsave())
        return 0;
    if (!x86_native_group_ok(insn) && !(in_run && x86_native_gpr_ok(insn)))
        return 0;
    const cs_x86 *dx = &insn->detail->x86;
    unsigned mem_size = 0;
    *has_mem = 0;
    for (unsigned i = 0; i < dx->op_count; i++) {
        const cs_x86_op *op = &dx->operands[i];
        if (op->type == X86_OP_REG && x86_native_is_rsp(op->reg))
            return 0;
        if (op->type == X86_OP_MEM) {
            if (*has_mem)
                return 0;
            *has_mem = 1;
            mem_size = op->size;
        }
    }
    for (unsigned i = 0; i < insn->detail->regs_read_count; i++)
        if (x86_native_is_rsp(insn->detail->regs_read[i]))
            return 0;
    for (unsigned i = 0; i < insn->detail->regs_write_count; i++)
        if (x86_native_is_rsp(insn->detail->regs_write[i]))
            return 0;
    *linear = 0;
    *mem_len = 0;
    if (*has_mem) {
        if (x86_relegate_mem_operand_at(r, s, insn, linear))
            return -1;
        /* Capstone gives the operand's size; without one, up to 64 bytes but not past the page. */
        *mem_len = mem_size && mem_size <= 64 ? mem_size : 64;
        if (!mem_size && 4096 - (*linear & 4095) < *mem_len)
            *mem_len = 4096 - (*linear & 4095);
    }
    return 1;
}

/*
 * 1: performed (or a fault injected); 0: not an instruction this runs; -1: failed. Having run the instruction at
 * RIP, it goes on with the ones after it while they are SIMD/FP instructions (or the simple general-purpose ones
 * of x86_native_gpr_ok, or relative jumps, between them), up to X86_NATIVE_RUN_MAX, before the guest resumes: each
 * exit costs tens of microseconds on a host that emulates the guest's kernel (kvm_pvm), and SIMD code comes in long
 * straight stretches (Linux's AVX-512 blake2s and crypto self-tests). A run stops before anything it cannot do in the
 * same way (a branch, an unreadable operand, TF set), which the host then executes or reports as usual.
 */
int x86_native_relegate(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const struct kvm_sregs *s, const cs_insn *insn,
                        unsigned *ran)
{
    uint64_t linear, mem_len;
    int has_mem;
    *ran = 0;
    int ok = x86_native_check(r, s, insn, 0, &linear, &mem_len, &has_mem);
    if (ok <= 0)
        return ok;
    uint8_t *page = x86_native_page();
    if (!page)
        return -1;
    int ret = 0;
    size_t n = x86_native_rewrite(insn, page, 4096 - 16, (uint64_t)(uintptr_t)x86_native_exec_view(page),
                                  (uint64_t)(uintptr_t)(page + 4096), has_mem);
    if (n)
        ret = x86_native_exec(x, vcpu, r, page, n, linear, mem_len, insn->size, 1);
    if (ret == 2) {
        ret = 1; /* #PF injected, nothing changed */
    } else if (ret == 1) {
        *ran = 1;
        static __thread csh h;
        static __thread int h_open;
        if (!h_open && cs_open(CS_ARCH_X86, CS_MODE_64, &h) == CS_ERR_OK) {
            cs_option(h, CS_OPT_DETAIL, CS_OPT_ON); /* the run's decoder, kept by the thread like its work area */
            h_open = 1;
        }
        x86_native_code_page fetch = {UINT64_MAX, NULL};
        if (h_open && !(r->rflags & X86_RFLAGS_TF) && (s->efer & 0x400) && s->cs.l) {
            while (*ran < X86_NATIVE_RUN_MAX) {
                uint8_t code[16];
                size_t got = x86_native_fetch(x, vcpu, r, s, &fetch, code, sizeof(code));
                cs_insn *next = NULL;
                if (!got || cs_disasm(h, code, got, r->rip, 1, &next) != 1)
                    break;
                int taken = x86_native_branch(next, r->rflags);
                if (taken >= 0) {
                    /* A relative jump decided by the flags: follow it, and the run goes on at its target. */
                    r->rip = taken ? (uint64_t)next->detail->x86.operands[0].imm : r->rip + next->size;
                    cs_free(next, 1);
                    (*ran)++;
                    continue;
                }
                int more = x86_native_check(r, s, next, 1, &linear, &mem_len, &has_mem) == 1 &&
                           (n = x86_native_rewrite(next, page, 4096 - 16,
                                                   (uint64_t)(uintptr_t)x86_native_exec_view(page),
                                                   (uint64_t)(uintptr_t)(page + 4096), has_mem)) != 0;
                int done = more ? x86_native_exec(x, vcpu, r, page, n, linear, mem_len, next->size, 0) : 0;
                if (mem_len)
                    fetch.linear = UINT64_MAX; /* it may have been a store to the page tables or the code */
                cs_free(next, 1);
                if (done < 0)
                    ret = -1;
                if (done != 1)
                    break;
                (*ran)++;
            }
        }
        if (ret == 1)
            ret = x86_native_commit(x, vcpu, r, page);
    }
    x86_native_disarm(page);
    return ret;
}

/*
 * For VEX/EVEX instructions Capstone cannot decode (its AVX-512 tables are incomplete: vpermi2d on ymm, VBMI2,
 * VNNI, ...): the register-only form (ModRM.mod = 3), whose length follows from the encoding alone. Every VEX and
 * EVEX instruction is unprivileged and none branches; with no memory operand it touches only registers.
 */
int x86_native_relegate_raw(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && (b[i] == 0x66 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e ||
                     b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65 || b[i] == 0x67))
        i++;
    unsigned map;
    if (i + 2 < n && b[i] == 0xc5) {
        map = 1;
        i += 2;
    } else if (i + 3 < n && b[i] == 0xc4) {
        map = b[i + 1] & 0x1f;
        i += 3;
    } else if (i + 4 < n && b[i] == 0x62) {
        map = b[i + 1] & 0x7;
        i += 4;
    } else {
        return 0;
    }
    if (i + 2 > n)
        return 0;
    uint8_t op = b[i++], modrm = b[i++];
    if ((modrm >> 6) != 3)
        return 0;
    size_t imm;
    if (map == 3)
        imm = 1;
    else if (map == 2)
        imm = 0;
    else if (map == 1)
        imm = (op >= 0x70 && op <= 0x73) || op == 0xc2 || op == 0xc4 || op == 0xc5 || op == 0xc6 ? 1 : 0;
    else
        return 0;
    size_t len = i + imm;
    if (len > n || len > 15 || !x86_native_host_osxsave())
        return 0;
    uint8_t *page = x86_native_page();
    if (!page)
        return -1;
    memcpy(page, b, len);
    int ret = x86_native_exec(x, vcpu, r, page, len, 0, 0, (unsigned)len, 1);
    if (ret == 1)
        ret = x86_native_commit(x, vcpu, r, page);
    else if (ret == 2)
        ret = 1;
    x86_native_disarm(page);
    return ret;
}
