/*
 * Relegation, the raw-mode heritage: when the host driver reports that it could not execute an instruction
 * (an emulation failure), x86-raw decodes it with Capstone and, if this table knows it, performs it for the
 * guest. Anything else stops the VM with the disassembly. Each entry has a guest test in tests/guests/x86/.
 */
#include <capstone/capstone.h>
#include <cpuid.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86raw.h"

typedef int (*x86_relegate_fn)(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn);

typedef struct x86_relegation {
    unsigned insn_id; /* Capstone's X86_INS_* */
    unsigned kind;    /* index into x86raw.relegations */
    const char *name;
    x86_relegate_fn fn;
} x86_relegation;

/* int3: the instruction's architectural effect is delivering #BP with RIP after it, which is what an injected
 * exception does once RIP is advanced. */
static int x86_relegate_int3(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    struct kvm_vcpu_events ev;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev)))
        return -1;
    r->rip += insn->size;
    if (x->hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, r, sizeof(*r)))
        return -1;
    ev.exception.injected = 1;
    ev.exception.nr = 3;
    ev.exception.has_error_code = 0;
    ev.exception.error_code = 0;
    ev.flags = 0;
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev));
}


/* ---- Guest state helpers shared by the relegations ---------------------------------------------------- */

int x86_relegate_inject(x86raw *x, vmm_vcpu *vcpu, unsigned vector, int has_error_code, uint32_t error_code)
{
    struct kvm_vcpu_events ev;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev)))
        return -1;
    ev.exception.injected = 1;
    ev.exception.nr = (uint8_t)vector;
    ev.exception.has_error_code = has_error_code ? 1 : 0;
    ev.exception.error_code = error_code;
    ev.flags = 0;
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev));
}

/* A page fault the instruction would have taken: CR2 first, then #PF (not-present, with the W bit as given). */
int x86_relegate_page_fault(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, int write)
{
    struct kvm_sregs s;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    s.cr2 = linear;
    if (x->hlp->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    return x86_relegate_inject(x, vcpu, 14, 1, (write ? 2u : 0u) | (s.cs.dpl == 3 ? 4u : 0u));
}

/* The value of a general register as Capstone names it (the 64- and 32-bit names an address may use). */
static int x86_relegate_reg(const struct kvm_regs *r, unsigned reg, uint64_t next_rip, uint64_t *val)
{
    static const unsigned r64[16] = {X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP,
                                     X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9, X86_REG_R10, X86_REG_R11,
                                     X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15};
    static const unsigned r32[16] = {X86_REG_EAX, X86_REG_ECX, X86_REG_EDX, X86_REG_EBX, X86_REG_ESP, X86_REG_EBP,
                                     X86_REG_ESI, X86_REG_EDI, X86_REG_R8D, X86_REG_R9D, X86_REG_R10D, X86_REG_R11D,
                                     X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D};
    const uint64_t v[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
                            r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
    if (reg == X86_REG_INVALID) {
        *val = 0;
        return 0;
    }
    if (reg == X86_REG_RIP) {
        *val = next_rip;
        return 0;
    }
    for (unsigned i = 0; i < 16; i++) {
        if (reg == r64[i]) {
            *val = v[i];
            return 0;
        }
        if (reg == r32[i]) {
            *val = v[i] & 0xffffffffu;
            return 0;
        }
    }
    return -1;
}

/* The linear address of the instruction's memory operand (64-bit code: only FS and GS have a base). */
int x86_relegate_mem_operand(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const cs_insn *insn,
                                    uint64_t *linear)
{
    struct kvm_sregs s;
    if (!insn->detail || x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    return x86_relegate_mem_operand_at(r, &s, insn, linear);
}

int x86_relegate_mem_operand_at(const struct kvm_regs *r, const struct kvm_sregs *sr, const cs_insn *insn,
                                uint64_t *linear)
{
    const struct kvm_sregs s = *sr;
    if (!insn->detail)
        return -1;
    const cs_x86 *d = &insn->detail->x86;
    for (unsigned i = 0; i < d->op_count; i++) {
        if (d->operands[i].type != X86_OP_MEM)
            continue;
        const x86_op_mem *m = &d->operands[i].mem;
        uint64_t base, index, next = insn->address + insn->size;
        if (x86_relegate_reg(r, m->base, next, &base) || x86_relegate_reg(r, m->index, next, &index))
            return -1;
        uint64_t ea = base + index * (uint64_t)(m->scale ? m->scale : 1) + (uint64_t)m->disp;
        int long_mode = (s.efer & 0x400) && s.cs.l;
        if (d->addr_size == 4 || !long_mode)
            ea &= 0xffffffffu;
        uint64_t seg = 0;
        if (m->segment == X86_REG_FS)
            seg = s.fs.base;
        else if (m->segment == X86_REG_GS)
            seg = s.gs.base;
        else if (!long_mode)
            seg = (m->base == X86_REG_ESP || m->base == X86_REG_EBP || m->segment == X86_REG_SS) ? s.ss.base
                                                                                                    : s.ds.base;
        *linear = long_mode ? seg + ea : (seg + ea) & 0xffffffffu;
        return 0;
    }
    return -1;
}

/* Copy between the guest's linear address space and buf, page by page. 0, or the failing linear address + 1
 * (never 0 for a real address in practice: page 0 is reported as 1) when a page is not mapped. */
uint64_t x86_relegate_copy(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, void *buf, size_t len, int write)
{
    uint8_t *b = buf;
    while (len) {
        size_t chunk = 4096 - (size_t)(linear & 4095);
        if (chunk > len)
            chunk = len;
        uint64_t gpa;
        if (x->hlp->vcpu_translate(vcpu, linear, &gpa))
            return linear ? linear : 1;
        uint8_t *p = x->hlp->mem_ptr(x->inst, gpa, chunk, write);
        if (!p)
            return linear ? linear : 1;
        if (write)
            memcpy(p, b, chunk);
        else
            memcpy(b, p, chunk);
        b += chunk;
        linear += chunk;
        len -= chunk;
    }
    return 0;
}

int x86_relegate_advance(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    r->rip += insn->size;
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, r, sizeof(*r));
}

typedef struct x86_u128 {
    uint64_t lo, hi;
} __attribute__((aligned(16))) x86_u128;

/*
 * cmpxchg16b / cmpxchg8b: performed with the same locked instruction on the host's mapping of the guest page, so
 * the guest's other vCPUs (running natively or in the host's emulator) see one atomic access.
 */
static int x86_relegate_cmpxchg(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    int wide = insn->id == X86_INS_CMPXCHG16B;
    size_t len = wide ? 16 : 8;
    uint64_t linear, gpa;
    if (x86_relegate_mem_operand(x, vcpu, r, insn, &linear))
        return -1;
    if (wide && (linear & 15))
        return x86_relegate_inject(x, vcpu, 13, 1, 0); /* #GP(0): cmpxchg16b needs a 16-byte aligned operand */
    if ((linear & 4095) + len > 4096) /* only cmpxchg8b can straddle pages; it is not atomic there either */
        return -1;
    if (x->hlp->vcpu_translate(vcpu, linear, &gpa))
        return x86_relegate_page_fault(x, vcpu, linear, 1);
    void *p = x->hlp->mem_ptr(x->inst, gpa, len, 1);
    if (!p)
        return -1;
    unsigned char equal;
    if (wide) {
        uint64_t rax = r->rax, rdx = r->rdx;
        __asm__ volatile("lock cmpxchg16b %1\n\tsete %0"
                         : "=q"(equal), "+m"(*(volatile x86_u128 *)p), "+a"(rax), "+d"(rdx)
                         : "b"(r->rbx), "c"(r->rcx)
                         : "memory", "cc");
        r->rax = rax;
        r->rdx = rdx;
    } else {
        uint64_t expected = (r->rax & 0xffffffffu) | (r->rdx << 32);
        uint64_t desired = (r->rbx & 0xffffffffu) | (r->rcx << 32);
        equal = __atomic_compare_exchange_n((uint64_t *)p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        if (!equal) {
            r->rax = expected & 0xffffffffu;
            r->rdx = expected >> 32;
        }
    }
    r->rflags = equal ? r->rflags | 0x40 : r->rflags & ~0x40ull; /* ZF */
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* ---- Register and memory operands, for the integer instructions below ------------------------------- */

/* Where a Capstone general register lives in struct kvm_regs: slot (0-15 in encoding order), width, bit shift. */
static int x86_relegate_gpr(unsigned reg, unsigned *slot, unsigned *bytes, unsigned *shift)
{
    static const unsigned names[4][16] = {
        {X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP, X86_REG_RSI, X86_REG_RDI,
         X86_REG_R8, X86_REG_R9, X86_REG_R10, X86_REG_R11, X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15},
        {X86_REG_EAX, X86_REG_ECX, X86_REG_EDX, X86_REG_EBX, X86_REG_ESP, X86_REG_EBP, X86_REG_ESI, X86_REG_EDI,
         X86_REG_R8D, X86_REG_R9D, X86_REG_R10D, X86_REG_R11D, X86_REG_R12D, X86_REG_R13D, X86_REG_R14D, X86_REG_R15D},
        {X86_REG_AX, X86_REG_CX, X86_REG_DX, X86_REG_BX, X86_REG_SP, X86_REG_BP, X86_REG_SI, X86_REG_DI,
         X86_REG_R8W, X86_REG_R9W, X86_REG_R10W, X86_REG_R11W, X86_REG_R12W, X86_REG_R13W, X86_REG_R14W, X86_REG_R15W},
        {X86_REG_AL, X86_REG_CL, X86_REG_DL, X86_REG_BL, X86_REG_SPL, X86_REG_BPL, X86_REG_SIL, X86_REG_DIL,
         X86_REG_R8B, X86_REG_R9B, X86_REG_R10B, X86_REG_R11B, X86_REG_R12B, X86_REG_R13B, X86_REG_R14B, X86_REG_R15B},
    };
    static const unsigned widths[4] = {8, 4, 2, 1};
    for (unsigned w = 0; w < 4; w++)
        for (unsigned i = 0; i < 16; i++)
            if (names[w][i] == reg) {
                *slot = i;
                *bytes = widths[w];
                *shift = 0;
                return 0;
            }
    static const unsigned high[4] = {X86_REG_AH, X86_REG_CH, X86_REG_DH, X86_REG_BH};
    for (unsigned i = 0; i < 4; i++)
        if (high[i] == reg) {
            *slot = i;
            *bytes = 1;
            *shift = 8;
            return 0;
        }
    return -1;
}

static __u64 *x86_relegate_slot(struct kvm_regs *r, unsigned slot)
{
    __u64 *const slots[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
                                 &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
    return slots[slot & 15];
}

static uint64_t x86_mask(unsigned bytes)
{
    return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

/* Operand i's value, zero-extended; *bytes receives its width. Memory faults become a guest #PF (returns 1). */
static int x86_relegate_read_op(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn, unsigned i,
                                uint64_t *val, unsigned *bytes)
{
    const cs_x86 *d = &insn->detail->x86;
    if (i >= d->op_count)
        return -1;
    const cs_x86_op *op = &d->operands[i];
    *bytes = op->size ? op->size : 8;
    if (op->type == X86_OP_IMM) {
        *val = (uint64_t)op->imm & x86_mask(*bytes);
        return 0;
    }
    if (op->type == X86_OP_REG) {
        unsigned slot, w, shift;
        if (x86_relegate_gpr(op->reg, &slot, &w, &shift))
            return -1;
        *val = (*x86_relegate_slot(r, slot) >> shift) & x86_mask(w);
        return 0;
    }
    if (op->type != X86_OP_MEM || *bytes > 8)
        return -1;
    uint64_t linear, v = 0;
    if (x86_relegate_mem_operand(x, vcpu, r, insn, &linear))
        return -1;
    uint64_t bad = x86_relegate_copy(x, vcpu, linear, &v, *bytes, 0);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 0) ? -1 : 1;
    *val = v;
    return 0;
}

/* Write operand i with x86's rules: 32-bit register writes zero the upper half, 8/16-bit ones merge. */
static int x86_relegate_write_op(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn, unsigned i,
                                 uint64_t val)
{
    const cs_x86 *d = &insn->detail->x86;
    if (i >= d->op_count)
        return -1;
    const cs_x86_op *op = &d->operands[i];
    if (op->type == X86_OP_REG) {
        unsigned slot, w, shift;
        if (x86_relegate_gpr(op->reg, &slot, &w, &shift))
            return -1;
        __u64 *p = x86_relegate_slot(r, slot);
        if (w >= 4)
            *p = val & x86_mask(w);
        else
            *p = (*p & ~(x86_mask(w) << shift)) | ((val & x86_mask(w)) << shift);
        return 0;
    }
    if (op->type != X86_OP_MEM || op->size > 8 || op->size == 0)
        return -1;
    uint64_t linear;
    if (x86_relegate_mem_operand(x, vcpu, r, insn, &linear))
        return -1;
    uint64_t bad = x86_relegate_copy(x, vcpu, linear, &val, op->size, 1);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 1) ? -1 : 1;
    return 0;
}

#define X86_CF 0x001ull
#define X86_PF 0x004ull
#define X86_AF 0x010ull
#define X86_ZF 0x040ull
#define X86_SF 0x080ull
#define X86_OF 0x800ull
#define X86_ARITH_FLAGS (X86_CF | X86_PF | X86_AF | X86_ZF | X86_SF | X86_OF)

static uint64_t x86_flag(int cond, uint64_t flag)
{
    return cond ? flag : 0;
}

/*
 * Integer instructions from CPUID extensions (POPCNT, LZCNT, BMI1/2, MOVBE, ADX) that the host's instruction
 * emulator does not know, while the guest, seeing the host CPU's CPUID, uses them in ring 0. Each computes the
 * architectural result and flags from Capstone's decoded operands (Intel order: destination first).
 */
static int x86_relegate_bits(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t a = 0, b = 0, res = 0, fl = r->rflags;
    unsigned wa = 8, wb = 8;
    int rc;
    const cs_x86 *d = &insn->detail->x86;
    if ((rc = x86_relegate_read_op(x, vcpu, r, insn, 1, &a, &wa)) != 0) /* operand 0 is the destination */
        return rc < 0 ? -1 : 0;
    if (d->op_count >= 3 && (rc = x86_relegate_read_op(x, vcpu, r, insn, 2, &b, &wb)) != 0)
        return rc < 0 ? -1 : 0;
    unsigned w = d->operands[0].size ? d->operands[0].size : wa;
    unsigned bits = 8 * w;
    uint64_t m = x86_mask(w), sign = 1ull << (bits - 1);
    switch (insn->id) {
    case X86_INS_POPCNT:
        res = (uint64_t)__builtin_popcountll(a & m);
        fl = (fl & ~X86_ARITH_FLAGS) | x86_flag((a & m) == 0, X86_ZF);
        break;
    case X86_INS_LZCNT:
        res = (a & m) ? (uint64_t)(__builtin_clzll(a & m) - (64 - bits)) : bits;
        fl = (fl & ~(X86_CF | X86_ZF)) | x86_flag((a & m) == 0, X86_CF) | x86_flag(res == 0, X86_ZF);
        break;
    case X86_INS_TZCNT:
        res = (a & m) ? (uint64_t)__builtin_ctzll(a & m) : bits;
        fl = (fl & ~(X86_CF | X86_ZF)) | x86_flag((a & m) == 0, X86_CF) | x86_flag(res == 0, X86_ZF);
        break;
    case X86_INS_ANDN:
        res = ~a & b & m;
        fl = (fl & ~(X86_CF | X86_OF | X86_ZF | X86_SF)) | x86_flag(res == 0, X86_ZF) | x86_flag(res & sign, X86_SF);
        break;
    case X86_INS_BLSR:
        res = a & (a - 1) & m;
        fl = (fl & ~(X86_CF | X86_OF | X86_ZF | X86_SF)) | x86_flag((a & m) == 0, X86_CF) |
             x86_flag(res == 0, X86_ZF) | x86_flag(res & sign, X86_SF);
        break;
    case X86_INS_BLSI:
        res = a & (0 - a) & m;
        fl = (fl & ~(X86_CF | X86_OF | X86_ZF | X86_SF)) | x86_flag((a & m) != 0, X86_CF) |
             x86_flag(res == 0, X86_ZF) | x86_flag(res & sign, X86_SF);
        break;
    case X86_INS_BLSMSK:
        res = (a ^ (a - 1)) & m;
        fl = (fl & ~(X86_CF | X86_OF | X86_ZF | X86_SF)) | x86_flag((a & m) == 0, X86_CF) | x86_flag(res & sign, X86_SF);
        break;
    case X86_INS_SHLX:
        res = (a << (b & (bits - 1))) & m;
        break;
    case X86_INS_SHRX:
        res = (a & m) >> (b & (bits - 1));
        break;
    case X86_INS_SARX: {
        unsigned c = (unsigned)(b & (bits - 1));
        uint64_t v = a & m;
        res = (v >> c) | ((v & sign) && c ? (m & ~(m >> c)) : 0);
        break;
    }
    case X86_INS_RORX: {
        unsigned c = (unsigned)(b & (bits - 1));
        uint64_t v = a & m;
        res = c ? ((v >> c) | (v << (bits - c))) & m : v;
        break;
    }
    case X86_INS_BEXTR: {
        unsigned start = (unsigned)(b & 0xff), len = (unsigned)((b >> 8) & 0xff);
        uint64_t v = start < bits ? (a & m) >> start : 0;
        res = len < 64 ? v & ((1ull << len) - 1) : v;
        res &= m;
        fl = (fl & ~X86_ARITH_FLAGS) | x86_flag(res == 0, X86_ZF);
        break;
    }
    case X86_INS_BZHI: {
        unsigned n = (unsigned)(b & 0xff);
        res = n < bits ? a & ((1ull << n) - 1) : a & m;
        fl = (fl & ~X86_ARITH_FLAGS) | x86_flag(n > bits - 1, X86_CF) | x86_flag(res == 0, X86_ZF) |
             x86_flag(res & sign, X86_SF);
        break;
    }
    case X86_INS_PDEP:
    case X86_INS_PEXT: {
        uint64_t v = a & m, mask = b & m, k = 1;
        res = 0;
        for (uint64_t bit = 1; bit && (bit & m); bit <<= 1) {
            if (!(mask & bit))
                continue;
            if (insn->id == X86_INS_PDEP) {
                if (v & k)
                    res |= bit;
            } else if (v & bit) {
                res |= k;
            }
            k <<= 1;
        }
        break;
    }
    case X86_INS_MOVBE:
        res = __builtin_bswap64(a) >> (64 - 8 * wa);
        break;
    case X86_INS_ADCX:
    case X86_INS_ADOX: {
        uint64_t flag = insn->id == X86_INS_ADCX ? X86_CF : X86_OF, dst;
        unsigned wd;
        if ((rc = x86_relegate_read_op(x, vcpu, r, insn, 0, &dst, &wd)) != 0)
            return rc < 0 ? -1 : 0;
        unsigned __int128 sum = (unsigned __int128)(dst & m) + (a & m) + ((fl & flag) ? 1 : 0);
        res = (uint64_t)sum & m;
        fl = (fl & ~flag) | x86_flag((sum >> bits) != 0, flag);
        break;
    }
    default:
        return -1;
    }
    if ((rc = x86_relegate_write_op(x, vcpu, r, insn, 0, res)) != 0)
        return rc < 0 ? -1 : 0;
    r->rflags = fl;
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* mulx hi, lo, src: RDX * src, unsigned, no flags. */
static int x86_relegate_mulx(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t a;
    unsigned w;
    int rc = x86_relegate_read_op(x, vcpu, r, insn, 2, &a, &w);
    if (rc)
        return rc < 0 ? -1 : 0;
    unsigned __int128 p = (unsigned __int128)(r->rdx & x86_mask(w)) * a;
    uint64_t lo = w == 8 ? (uint64_t)p : (uint64_t)p & 0xffffffffu;
    uint64_t hi = w == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> 32);
    if (x86_relegate_write_op(x, vcpu, r, insn, 1, lo) || x86_relegate_write_op(x, vcpu, r, insn, 0, hi))
        return -1;
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* crc32 dst, src: CRC-32C (Castagnoli, reflected), folded in byte by byte over src's width. */
static int x86_relegate_crc32(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t crc, v;
    unsigned wd, ws;
    int rc;
    if ((rc = x86_relegate_read_op(x, vcpu, r, insn, 0, &crc, &wd)) != 0 ||
        (rc = x86_relegate_read_op(x, vcpu, r, insn, 1, &v, &ws)) != 0)
        return rc < 0 ? -1 : 0;
    uint32_t c = (uint32_t)crc;
    for (unsigned i = 0; i < ws; i++) {
        c ^= (uint8_t)(v >> (8 * i));
        for (unsigned k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    const cs_x86_op *dst = &insn->detail->x86.operands[0];
    unsigned slot, w, shift;
    if (dst->type != X86_OP_REG || x86_relegate_gpr(dst->reg, &slot, &w, &shift))
        return -1;
    *x86_relegate_slot(r, slot) = c; /* a 32-bit result, zero-extended even for the 64-bit form */
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* ---- The XSAVE family, through the vCPU's XSAVE state (KVM's standard-format 4 KiB image) -------------
 * The guest sees the host CPU's CPUID (this host's KVM does not intercept CPUID), so Linux picks XSAVES and
 * the compacted format; the host's emulator knows none of XSAVEC/XSAVES/XRSTORS, and XSAVE/XRSTOR only partly. */

#define X86_XSAVE_HDR 512u
#define X86_XSAVE_MAX 4096u

static int x86_xsave_cpuid(unsigned i, unsigned *size, unsigned *std_off, unsigned *align64)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx) || eax == 0)
        return -1;
    *size = eax;
    *std_off = ebx;
    *align64 = ecx & 2;
    return 0;
}

/* Offset and size of component i >= 2 in the standard format, or in the compacted one given XCOMP_BV. */
static int x86_xsave_layout(int compacted, uint64_t xcomp_bv, unsigned i, uint32_t *off, uint32_t *size)
{
    unsigned sz, std, al;
    if (!compacted) {
        if (x86_xsave_cpuid(i, &sz, &std, &al) || (uint64_t)std + sz > X86_XSAVE_MAX)
            return -1;
        *off = std;
        *size = sz;
        return 0;
    }
    uint32_t o = X86_XSAVE_HDR + 64;
    for (unsigned j = 2; j <= i; j++) {
        if (!(xcomp_bv >> j & 1))
            continue;
        if (x86_xsave_cpuid(j, &sz, &std, &al))
            return -1;
        if (al)
            o = (o + 63) & ~63u;
        if (j == i) {
            if ((uint64_t)o + sz > X86_XSAVE_MAX)
                return -1;
            *off = o;
            *size = sz;
            return 0;
        }
        o += sz;
    }
    return -1;
}

static int x86_relegate_xcr0(x86raw *x, vmm_vcpu *vcpu, uint64_t *xcr0)
{
    struct kvm_xcrs xcrs;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_XCRS, &xcrs, sizeof(xcrs)))
        return -1;
    for (unsigned i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
        if (xcrs.xcrs[i].xcr == 0) {
            *xcr0 = xcrs.xcrs[i].value;
            return 0;
        }
    return -1;
}

/* The legacy area's parts for the components in mask (MXCSR travels with SSE or AVX). */
static void x86_xsave_legacy_copy(uint8_t *dst, const uint8_t *src, uint64_t mask)
{
    if (mask & 1) {
        memcpy(dst, src, 24);              /* FCW FSW FTW FOP FIP FDP */
        memcpy(dst + 32, src + 32, 128);   /* ST0-ST7 */
    }
    if (mask & 6)
        memcpy(dst + 24, src + 24, 8);     /* MXCSR, MXCSR_MASK */
    if (mask & 2)
        memcpy(dst + 160, src + 160, 256); /* XMM0-XMM15 */
}

static uint32_t x86_xsave_span(int compacted, uint64_t xcomp_bv, uint64_t rfbm)
{
    uint32_t span = X86_XSAVE_HDR + 64;
    for (unsigned i = 2; i < 63; i++) {
        uint32_t off, size;
        if ((rfbm >> i & 1) && !x86_xsave_layout(compacted, xcomp_bv, i, &off, &size) && off + size > span)
            span = off + size;
    }
    return span;
}

/* xsave, xsaveopt (standard format) and xsavec, xsaves (compacted). Writing every requested component is a valid
 * xsaveopt: the optimisation only permits skipping unmodified ones. */
static int x86_relegate_xsave(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t linear, xcr0;
    if (x86_relegate_mem_operand(x, vcpu, r, insn, &linear) || x86_relegate_xcr0(x, vcpu, &xcr0))
        return -1;
    if (linear & 63)
        return x86_relegate_inject(x, vcpu, 13, 1, 0);
    int compacted = insn->id == X86_INS_XSAVEC || insn->id == X86_INS_XSAVEC64 || insn->id == X86_INS_XSAVES ||
                    insn->id == X86_INS_XSAVES64;
    /* Supervisor state (IA32_XSS) lives outside KVM's XSAVE image: xsaves handles the user components only. */
    uint64_t rfbm = ((r->rdx << 32) | (r->rax & 0xffffffffu)) & xcr0;
    uint64_t xcomp_bv = compacted ? rfbm | (1ull << 63) : 0;
    struct kvm_xsave cur;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_XSAVE, &cur, sizeof(cur)))
        return -1;
    const uint8_t *st = (const uint8_t *)cur.region;
    uint32_t span = x86_xsave_span(compacted, xcomp_bv, rfbm);
    uint8_t area[X86_XSAVE_MAX];
    /* Read-modify-write: the parts of the guest's area outside rfbm keep their contents. */
    uint64_t bad = x86_relegate_copy(x, vcpu, linear, area, span, 0);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 1);
    uint64_t inuse, bv;
    memcpy(&inuse, st + X86_XSAVE_HDR, 8);
    memcpy(&bv, area + X86_XSAVE_HDR, 8);
    x86_xsave_legacy_copy(area, st, rfbm);
    bv = compacted ? (inuse & rfbm) : (bv & ~rfbm) | (inuse & rfbm);
    memcpy(area + X86_XSAVE_HDR, &bv, 8);
    if (compacted)
        memcpy(area + X86_XSAVE_HDR + 8, &xcomp_bv, 8);
    for (unsigned i = 2; i < 63; i++) {
        uint32_t off, size, soff, ssize;
        if ((rfbm >> i & 1) && !x86_xsave_layout(compacted, xcomp_bv, i, &off, &size) &&
            !x86_xsave_layout(0, 0, i, &soff, &ssize))
            memcpy(area + off, st + soff, size);
    }
    bad = x86_relegate_copy(x, vcpu, linear, area, span, 1);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 1);
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* xrstor (either format, as XCOMP_BV bit 63 says) and xrstors (compacted only). */
static int x86_relegate_xrstor(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t linear, xcr0;
    if (x86_relegate_mem_operand(x, vcpu, r, insn, &linear) || x86_relegate_xcr0(x, vcpu, &xcr0))
        return -1;
    if (linear & 63)
        return x86_relegate_inject(x, vcpu, 13, 1, 0);
    uint64_t hdr[8];
    uint64_t bad = x86_relegate_copy(x, vcpu, linear + X86_XSAVE_HDR, hdr, sizeof(hdr), 0);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 0);
    uint64_t xstate_bv = hdr[0], xcomp_bv = hdr[1];
    int compacted = (xcomp_bv >> 63) & 1;
    int is_s = insn->id == X86_INS_XRSTORS || insn->id == X86_INS_XRSTORS64;
    uint64_t allowed = xcr0; /* user components only, as for xsaves */
    uint64_t rfbm = ((r->rdx << 32) | (r->rax & 0xffffffffu)) & allowed;
    /* The checks the instruction makes, each a #GP(0). */
    int gp = 0;
    if (is_s && !compacted)
        gp = 1;
    if (compacted && ((xcomp_bv & ~(1ull << 63) & ~allowed) || (xstate_bv & ~xcomp_bv)))
        gp = 1;
    if (!compacted && (xcomp_bv || (xstate_bv & ~allowed)))
        gp = 1;
    for (unsigned i = 2; i < 8; i++)
        if (hdr[i])
            gp = 1;
    if (gp)
        return x86_relegate_inject(x, vcpu, 13, 1, 0);
    uint32_t span = x86_xsave_span(compacted, xcomp_bv, rfbm & (compacted ? xcomp_bv : ~0ull));
    uint8_t area[X86_XSAVE_MAX];
    bad = x86_relegate_copy(x, vcpu, linear, area, span, 0);
    if (bad)
        return x86_relegate_page_fault(x, vcpu, bad, 0);
    uint32_t mxcsr;
    memcpy(&mxcsr, area + 24, 4);
    struct kvm_xsave cur;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_XSAVE, &cur, sizeof(cur)))
        return -1;
    uint8_t *st = (uint8_t *)cur.region;
    uint64_t load = rfbm & xstate_bv, init = rfbm & ~xstate_bv;
    int mxcsr_from_memory = compacted ? (load & 6) != 0 : (rfbm & 6) != 0;
    if (mxcsr_from_memory && (mxcsr & 0xffff0000u))
        return x86_relegate_inject(x, vcpu, 13, 1, 0);
    x86_xsave_legacy_copy(st, area, load & 3);
    if (mxcsr_from_memory)
        memcpy(st + 24, area + 24, 4);
    else if (compacted && (init & 2)) {
        uint32_t def = 0x1f80;
        memcpy(st + 24, &def, 4);
    }
    if (init & 1) {
        /* x87 initial state: FCW 0x37f, everything else (tags: all empty) zero. */
        memset(st, 0, 24);
        memset(st + 32, 0, 128);
        st[0] = 0x7f;
        st[1] = 0x03;
    }
    if (init & 2)
        memset(st + 160, 0, 256);
    for (unsigned i = 2; i < 63; i++) {
        uint32_t off, size, soff, ssize;
        if (!(rfbm >> i & 1) || x86_xsave_layout(0, 0, i, &soff, &ssize))
            continue;
        if ((load >> i & 1) && !x86_xsave_layout(compacted, xcomp_bv, i, &off, &size))
            memcpy(st + soff, area + off, ssize);
        else
            memset(st + soff, 0, ssize);
    }
    uint64_t bv;
    memcpy(&bv, st + X86_XSAVE_HDR, 8);
    bv = (bv & ~rfbm) | load;
    memcpy(st + X86_XSAVE_HDR, &bv, 8);
    memset(st + X86_XSAVE_HDR + 8, 0, 56);
    if (x->hlp->vcpu_set_state(vcpu, VMM_STATE_XSAVE, &cur, sizeof(cur)))
        return -1;
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* xgetbv: XCR0, or (ECX = 1) the components in use, which KVM's XSAVE image header records. */
static int x86_relegate_xgetbv(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    uint64_t xcr0, val;
    if (x86_relegate_xcr0(x, vcpu, &xcr0))
        return -1;
    uint32_t ecx = (uint32_t)r->rcx;
    if (ecx == 0) {
        val = xcr0;
    } else if (ecx == 1) {
        struct kvm_xsave cur;
        if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_XSAVE, &cur, sizeof(cur)))
            return -1;
        memcpy(&val, (const uint8_t *)cur.region + X86_XSAVE_HDR, 8);
        val &= xcr0;
    } else {
        return x86_relegate_inject(x, vcpu, 13, 1, 0);
    }
    r->rax = val & 0xffffffffu;
    r->rdx = val >> 32;
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* clac / stac: clear or set RFLAGS.AC, SMAP's override. Linux runs one on every kernel entry and user access. */
static int x86_relegate_smap(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    r->rflags = insn->id == X86_INS_STAC ? r->rflags | 0x40000ull : r->rflags & ~0x40000ull;
    return x86_relegate_advance(x, vcpu, r, insn);
}

/* fwait: a no-op unless the x87 status word has an unmasked exception pending (ES), which it then raises as #MF. */
static int x86_relegate_fwait(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    struct kvm_fpu fpu;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_FPU, &fpu, sizeof(fpu)))
        return -1;
    if (fpu.fsw & 0x80)
        return x86_relegate_inject(x, vcpu, 16, 0, 0);
    return x86_relegate_advance(x, vcpu, r, insn);
}

static const x86_relegation x86_relegations[] = {
    {X86_INS_INT3, X86_RELEGATE_INT3, "int3", x86_relegate_int3},
    {X86_INS_CMPXCHG16B, X86_RELEGATE_CMPXCHG16B, "cmpxchg16b", x86_relegate_cmpxchg},
    {X86_INS_CMPXCHG8B, X86_RELEGATE_CMPXCHG8B, "cmpxchg8b", x86_relegate_cmpxchg},
    {X86_INS_XSAVE, X86_RELEGATE_XSAVE, "xsave", x86_relegate_xsave},
    {X86_INS_XSAVE64, X86_RELEGATE_XSAVE, "xsave", x86_relegate_xsave},
    {X86_INS_XSAVEOPT, X86_RELEGATE_XSAVE, "xsave", x86_relegate_xsave},
    {X86_INS_XSAVEOPT64, X86_RELEGATE_XSAVE, "xsave", x86_relegate_xsave},
    {X86_INS_XSAVEC, X86_RELEGATE_XSAVES, "xsavec/xsaves", x86_relegate_xsave},
    {X86_INS_XSAVEC64, X86_RELEGATE_XSAVES, "xsavec/xsaves", x86_relegate_xsave},
    {X86_INS_XSAVES, X86_RELEGATE_XSAVES, "xsavec/xsaves", x86_relegate_xsave},
    {X86_INS_XSAVES64, X86_RELEGATE_XSAVES, "xsavec/xsaves", x86_relegate_xsave},
    {X86_INS_XRSTOR, X86_RELEGATE_XRSTOR, "xrstor", x86_relegate_xrstor},
    {X86_INS_XRSTOR64, X86_RELEGATE_XRSTOR, "xrstor", x86_relegate_xrstor},
    {X86_INS_XRSTORS, X86_RELEGATE_XRSTORS, "xrstors", x86_relegate_xrstor},
    {X86_INS_XRSTORS64, X86_RELEGATE_XRSTORS, "xrstors", x86_relegate_xrstor},
    {X86_INS_XGETBV, X86_RELEGATE_XGETBV, "xgetbv", x86_relegate_xgetbv},
    {X86_INS_POPCNT, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_LZCNT, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_TZCNT, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_ANDN, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_BLSR, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_BLSI, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_BLSMSK, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_SHLX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_SHRX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_SARX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_RORX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_BEXTR, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_BZHI, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_PDEP, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_PEXT, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_MOVBE, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_ADCX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_ADOX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_bits},
    {X86_INS_MULX, X86_RELEGATE_BITS, "popcnt/lzcnt/tzcnt/bmi/movbe/adx", x86_relegate_mulx},
    {X86_INS_CRC32, X86_RELEGATE_CRC32, "crc32", x86_relegate_crc32},
    {X86_INS_CLAC, X86_RELEGATE_SMAP, "clac/stac", x86_relegate_smap},
    {X86_INS_WAIT, X86_RELEGATE_FWAIT, "fwait", x86_relegate_fwait},
    {X86_INS_STAC, X86_RELEGATE_SMAP, "clac/stac", x86_relegate_smap},
};

const char *x86_relegation_name(unsigned kind)
{
    if (kind == X86_RELEGATE_NATIVE)
        return "simd/fp (run natively)";
    for (size_t i = 0; i < sizeof(x86_relegations) / sizeof(x86_relegations[0]); i++)
        if (x86_relegations[i].kind == kind)
            return x86_relegations[i].name;
    return "?";
}

vmm_exit_action x86_relegate(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    char why[384];
    if (exit->u.internal.suberror != VMM_INTERNAL_EMULATION) {
        snprintf(why, sizeof(why), "the host driver stopped the guest with internal error %u",
                 exit->u.internal.suberror);
        return x86_stop_with_dump(x, vcpu, why, 1);
    }
    struct kvm_regs r;
    struct kvm_sregs s;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r)) ||
        x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return x86_stop_with_dump(x, vcpu, "emulation failure, and the registers cannot be read", 1);
    /* A syscall stopped at the fake LSTAR: there are no instruction bytes, the address itself says what it is. */
    int sys = x86_syscall_relegate(x, vcpu, &r, &s);
    if (sys > 0)
        return VMM_ACTION_RESUME;
    if (sys < 0)
        return x86_stop_with_dump(x, vcpu, "relegating a syscall failed: the host driver refused the registers", 1);

    uint8_t code[16];
    size_t n = x86_read_code(x, vcpu, &r, &s, code, sizeof(code));
    if (n == 0 && exit->u.internal.insn_len) {
        n = exit->u.internal.insn_len;
        memcpy(code, exit->u.internal.insn_bytes, n);
    }
    cs_mode mode = ((s.efer & 0x400) && s.cs.l) ? CS_MODE_64 : (s.cr0 & 1) && s.cs.db ? CS_MODE_32 : CS_MODE_16;
    csh h;
    cs_insn *insn = NULL;
    size_t count = 0;
    if (n && cs_open(CS_ARCH_X86, mode, &h) == CS_ERR_OK) {
        cs_option(h, CS_OPT_DETAIL, CS_OPT_ON); /* memory operands, for the relegations that access memory */
        count = cs_disasm(h, code, n, r.rip, 1, &insn);
    } else {
        n = 0;
    }
    if (count == 0) {
        if (n)
            cs_close(&h);
        int native = n ? x86_native_relegate_raw(x, vcpu, &r, code, n) : 0;
        if (native > 0) {
            __atomic_fetch_add(&x->relegations[X86_RELEGATE_NATIVE], 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&x->native_insns, 1, __ATOMIC_RELAXED);
            return VMM_ACTION_RESUME;
        }
        return x86_stop_with_dump(x, vcpu, native < 0 ? "running an instruction Capstone does not decode natively "
                                                        "for the guest failed"
                                                      : "the host could not execute the instruction at RIP, and "
                                                        "it does not decode", 1);
    }

    vmm_exit_action action = VMM_ACTION_STOP;
    const x86_relegation *rel = NULL;
    for (size_t i = 0; i < sizeof(x86_relegations) / sizeof(x86_relegations[0]); i++)
        if (x86_relegations[i].insn_id == insn[0].id)
            rel = &x86_relegations[i];
    unsigned ran = 0;
    int native = rel ? 0 : x86_native_relegate(x, vcpu, &r, &s, &insn[0], &ran);
    if (native > 0) {
        __atomic_fetch_add(&x->relegations[X86_RELEGATE_NATIVE], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&x->native_insns, ran, __ATOMIC_RELAXED);
        action = VMM_ACTION_RESUME;
    } else if (native < 0) {
        snprintf(why, sizeof(why), "running '%s %s' natively for the guest failed", insn[0].mnemonic, insn[0].op_str);
        action = x86_stop_with_dump(x, vcpu, why, 1);
    } else if (!rel) {
        snprintf(why, sizeof(why), "the host could not execute '%s %s' and x86-raw has no relegation for it",
                 insn[0].mnemonic, insn[0].op_str);
        action = x86_stop_with_dump(x, vcpu, why, 1);
    } else if (rel->fn(x, vcpu, &r, &insn[0])) {
        snprintf(why, sizeof(why), "relegating '%s' failed", rel->name);
        action = x86_stop_with_dump(x, vcpu, why, 1);
    } else {
        __atomic_fetch_add(&x->relegations[rel->kind], 1, __ATOMIC_RELAXED);
        if (x->hlp->log_enabled(x->inst, VMM_LOG_DEBUG))
            x->hlp->log(x->inst, VMM_LOG_DEBUG, "relegated '%s' at 0x%" PRIx64, rel->name, (uint64_t)insn[0].address);
        action = VMM_ACTION_RESUME;
    }
    cs_free(insn, count);
    cs_close(&h);
    return action;
}
