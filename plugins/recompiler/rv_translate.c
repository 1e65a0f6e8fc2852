/* rv_translate: RISC-V basic blocks to x86-64 machine code (see rv_translate.h for the conventions). */
#include "rv_translate.h"

#include <stddef.h>
#include <string.h>

#include "rv_decode.h"

#define CPU_OFF(f) ((int32_t)offsetof(rv_cpu, f))
#define XOFF(r) ((int32_t)(offsetof(rv_cpu, x) + 8 * (r)))

/* r11 holds the instruction budget: a memory counter would chain every block to the previous one through a
 * store-to-load forward (about 5 cycles each). */
#define RV_BUDGET_REG X64_R11

const int rv_pin_hosts[RV_PIN_SLOTS] = { X64_RBX, X64_R12, X64_R13, X64_RSI, X64_RDI, X64_R8, X64_R9, X64_R10,
                                         X64_R14 };

void rv_pin_map_build(rv_pin_map *m, const uint8_t *regs, unsigned n)
{
    for (unsigned r = 0; r < 32; r++)
        m->host[r] = -1;
    m->host[RV_PSEUDO_REG] = X64_RDX;
    for (unsigned i = 0; i < n && i < RV_PIN_SLOTS; i++)
        if (regs[i] > 0 && regs[i] < 32)
            m->host[regs[i]] = (int8_t)rv_pin_hosts[i];
}

/* A guest register as an x86 operand: its host register, or its slot in rv_cpu.x (x0's slot is always 0). */
static x64_op rv_gop(const rv_pin_map *map, unsigned r)
{
    int h = map->host[r];
    return h >= 0 ? x64_reg(h) : x64_mem(X64_RBP, XOFF(r));
}

static void rv_emit_spill(x64_buf *b, const rv_pin_map *map)
{
    for (unsigned r = 1; r < 32; r++)
        if (map->host[r] >= 0)
            x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, XOFF(r)), map->host[r]);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(budget)), RV_BUDGET_REG);
}

static void rv_emit_reload(x64_buf *b, const rv_pin_map *map)
{
    for (unsigned r = 1; r < 32; r++)
        if (map->host[r] >= 0)
            x64_emit_mov_r_rm(b, 8, map->host[r], x64_mem(X64_RBP, XOFF(r)));
    x64_emit_mov_r_rm(b, 8, RV_BUDGET_REG, x64_mem(X64_RBP, CPU_OFF(budget)));
}

void rv_emit_trampolines(x64_buf *b, const rv_pin_map *map, uint8_t **enter, uint8_t **epilogue)
{
    static const int saved[6] = { X64_RBX, X64_RBP, X64_R12, X64_R13, X64_R14, X64_R15 };

    *enter = b->p;
    for (int i = 0; i < 6; i++)
        x64_emit_push(b, saved[i]);
    x64_emit_alu_rm_imm(b, 8, X64_SUB, x64_reg(X64_RSP), 8); /* keeps calls from generated code aligned */
    x64_emit_mov_r_rm(b, 8, X64_RBP, x64_reg(X64_RDI));
    x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(X64_RSI));
    x64_emit_mov_r_rm(b, 8, X64_R15, x64_mem(X64_RBP, CPU_OFF(ram)));
    rv_emit_reload(b, map);
    x64_emit_jmp_rm(b, x64_reg(X64_RAX));

    *epilogue = b->p;
    rv_emit_spill(b, map);
    x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RSP), 8);
    for (int i = 5; i >= 0; i--)
        x64_emit_pop(b, saved[i]);
    x64_emit_ret(b);
}

static void rv_emit_vm_exit(x64_buf *b, uint32_t code, uint16_t port)
{
    x64_emit_mov_imm(b, X64_RAX, code);
    x64_emit_mov_imm(b, X64_RDX, port);
    x64_emit_byte(b, 0xef); /* out %eax, %dx */
}

void rv_emit_vm_stubs(x64_buf *b, const rv_pin_map *map, uint64_t cpu_va, uint16_t port, rv_vm_stubs *out)
{
    /* Fixed part. Everything live across an exit is in rv_cpu; the helpers follow the System V convention the
     * generated code already uses for C helpers (arguments in rsi/rdx/rcx, result in rax, caller-saved registers
     * clobbered). */
    out->entry = b->p;
    x64_emit_mov_imm(b, X64_RBP, cpu_va);
    x64_emit_mov_r_rm(b, 8, X64_R15, x64_mem(X64_RBP, CPU_OFF(ram)));
    out->dispatch = b->p;
    rv_emit_vm_exit(b, RV_VMX_DISPATCH, port);
    x64_emit_jmp_rm(b, x64_mem(X64_RBP, CPU_OFF(vm_next)));

    out->load = b->p;
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[0])), X64_RSI);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[1])), X64_RDX);
    rv_emit_vm_exit(b, RV_VMX_LOAD, port);
    x64_emit_mov_r_rm(b, 8, X64_RAX, x64_mem(X64_RBP, CPU_OFF(vm_ret)));
    x64_emit_ret(b);

    out->store = b->p;
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[0])), X64_RSI);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[1])), X64_RDX);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[2])), X64_RCX);
    rv_emit_vm_exit(b, RV_VMX_STORE, port);
    x64_emit_ret(b);

    out->interp = b->p;
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[0])), X64_RSI);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(vm_args[1])), X64_RDX);
    rv_emit_vm_exit(b, RV_VMX_INTERP, port);
    x64_emit_ret(b);
    out->fixed_end = b->p;

    /* Pin-map dependent part. */
    out->enter = b->p;
    rv_emit_reload(b, map);
    x64_emit_jmp_rm(b, x64_mem(X64_RBP, CPU_OFF(vm_block)));
    out->epilogue = b->p;
    rv_emit_spill(b, map);
    x64_patch_rel32(x64_emit_jmp32(b), out->dispatch);
}

void rv_emit_helper_thunks(x64_buf *b, const rv_pin_map *map, uint64_t load, uint64_t store, uint64_t interp,
                           uint8_t *epilogue, rv_helper_thunks *out)
{
    const uint64_t fns[3] = { load, store, interp };
    uint8_t **outs[3] = { &out->load, &out->store, &out->interp };
    for (int i = 0; i < 3; i++) {
        *outs[i] = b->p;
        rv_emit_spill(b, map);
        x64_emit_mov_r_rm(b, 8, X64_RSI, x64_reg(X64_RAX));
        x64_emit_mov_r_rm(b, 8, X64_RDI, x64_reg(X64_RBP));
        /* Generated code runs with rsp 16-byte aligned; the call into this thunk took 8. */
        x64_emit_alu_rm_imm(b, 8, X64_SUB, x64_reg(X64_RSP), 8);
        x64_emit_call_abs(b, fns[i]);
        x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RSP), 8);
        rv_emit_reload(b, map);
        x64_emit_alu_rm_imm(b, 4, X64_CMP, x64_mem(X64_RBP, CPU_OFF(leave)), 0);
        uint8_t *to_leave = x64_emit_jcc8(b, X64_CC_NE);
        x64_emit_ret(b);
        if (!b->overflow)
            x64_patch_rel8(to_leave, b->p);
        x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RSP), 8);
        x64_emit_mov_rm_imm32(b, 8, x64_mem(X64_RBP, CPU_OFF(chain_field)), 0);
        x64_emit_mov_rm_imm32(b, 4, x64_mem(X64_RBP, CPU_OFF(leave)), 0);
        x64_patch_rel32(x64_emit_jmp32(b), epilogue);
    }
}

/* ---- Per-block state ---------------------------------------------------------------------------------- */

typedef struct rv_slow {
    uint8_t *fields[3]; /* jcc rel32 fields that lead here */
    int nfields;
    uint8_t *join;      /* where the fast path continues */
    uint64_t pc;
    uint32_t info;
    int is_store;
    int addr_in_rcx; /* rdx was not computed: the address is (rcx rotated back) + ram_base */
    int addr_reg;    /* otherwise the register holding the address (paging on), else rdx */
    uint8_t *site_field; /* paging: the jcc of a site-cache miss, to the TLB lookup that refills it */
    uint8_t *site_back;  /* where that lookup rejoins (the access) */
    int32_t site_off, tlb_tag; /* the site's slot and the TLB tag field it copies */
    unsigned site_size;
    unsigned size_log2;
    unsigned rs2, rd;
} rv_slow;

typedef struct rv_block {
    const rv_xlate_env *env;
    const rv_pin_map *map;
    x64_buf *b;
    rv_slow slow[RV_TB_MAX_INSNS];
    unsigned nslow;
    uint8_t *leave_fields[RV_TB_MAX_INSNS * 2 + 4]; /* jumps to the "pc already set" exit */
    unsigned nleave;
    unsigned n; /* instructions so far, the current one included */
    /* Interpreter calls in the current segment: the imm32 of their refund (instructions of the segment after
     * them, patched when the segment's count is known) and their n. */
    uint8_t *refund_fields[RV_TB_MAX_INSNS];
    unsigned refund_n[RV_TB_MAX_INSNS];
    unsigned nrefund;
} rv_block;

static void rv_emit_set_pc(x64_buf *b, uint64_t pc)
{
    x64_emit_mov_imm(b, X64_RAX, pc);
    x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(pc)), X64_RAX);
}

static void rv_emit_to_leave(rv_block *k, int cc)
{
    uint8_t *f = cc < 0 ? x64_emit_jmp32(k->b) : x64_emit_jcc32(k->b, cc);
    if (k->nleave < sizeof(k->leave_fields) / sizeof(k->leave_fields[0]))
        k->leave_fields[k->nleave++] = f;
    else
        k->b->overflow = 1;
}

/* A block exit to a known guest pc: a patchable jmp/jcc to a stub that tells the dispatcher which rel32 to
 * point at the target block once it exists (direct block chaining). */
static void rv_emit_direct_exit_stub(rv_block *k, uint8_t *field, uint64_t target)
{
    x64_buf *b = k->b;
    x64_patch_rel32(field, b->p);
    rv_emit_set_pc(b, target);
    if (k->env->no_chain) {
        x64_emit_mov_rm_imm32(b, 8, x64_mem(X64_RBP, CPU_OFF(chain_field)), 0);
    } else if (k->env->page_chains && (target & ~0xfffull) != k->env->chain_vpage) {
        /* Into another virtual page with fetch translation on: a chain would outlive a change of that page's
         * mapping, but the jump cache holds only blocks the dispatcher found and page-checked in this context
         * since the last sfence.vma (as jalr relies on), so probe its one slot for this constant target. */
        int32_t slot = k->env->jc_off + (int32_t)(((target >> 1) & (RV_JC_SIZE - 1)) * sizeof(rv_jc_entry));
        x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RAX, x64_mem(X64_RBP, slot));
        rv_emit_to_leave(k, X64_CC_NE);
        x64_emit_jmp_rm(b, x64_mem(X64_RBP, slot + (int32_t)offsetof(rv_jc_entry, code)));
        return;
    } else {
        x64_emit_mov_imm(b, X64_RAX, (uint64_t)((uintptr_t)field + (uint64_t)k->env->exec_delta));
        x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(chain_field)), X64_RAX);
    }
    x64_patch_rel32(x64_emit_jmp32(b), k->env->epilogue);
}

/* A call to a helper's thunk (rv_emit_helper_thunks), which comes back only if the block goes on. */
static void rv_emit_thunk_call(x64_buf *b, uint8_t *thunk)
{
    uint8_t *field = x64_emit_call32(b);
    if (!b->overflow)
        x64_patch_rel32(field, thunk);
}

/* ---- Integer operations ------------------------------------------------------------------------------- */

/* rd = rs1 <op> src, 64-bit. Computes straight into rd's host register when that cannot clobber src. */
/* rd = rs: c.mv and friends, the commonest instruction there is. */
static void rv_emit_move(rv_block *k, unsigned rd, unsigned rs)
{
    x64_buf *b = k->b;
    int hd = k->map->host[rd], hs = k->map->host[rs];
    if (rd == rs)
        return;
    if (rs == 0 && hd >= 0)
        x64_emit_mov_imm(b, hd, 0);
    else if (hd >= 0)
        x64_emit_mov_r_rm(b, 8, hd, rv_gop(k->map, rs));
    else if (hs >= 0)
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), hs);
    else {
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, rs));
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), X64_RAX);
    }
}

static void rv_emit_alu(rv_block *k, int op, unsigned rd, unsigned rs1, unsigned rs2, int use_imm, int32_t imm)
{
    x64_buf *b = k->b;
    if (rd == 0)
        return;
    if (!use_imm && rs1 == 0 && (op == X64_ADD || op == X64_OR || op == X64_XOR)) {
        rv_emit_move(k, rd, rs2);
        return;
    }
    if ((!use_imm && rs2 == 0 && op != X64_AND) || (use_imm && imm == 0 && (op == X64_ADD || op == X64_OR || op == X64_XOR))) {
        rv_emit_move(k, rd, rs1);
        return;
    }
    int hd = k->map->host[rd];
    int dst = (hd >= 0 && (use_imm || rd != rs2)) ? hd : X64_RAX;
    if (!(dst == hd && rd == rs1))
        x64_emit_mov_r_rm(b, 8, dst, rv_gop(k->map, rs1));
    if (use_imm)
        x64_emit_alu_rm_imm(b, 8, op, x64_reg(dst), imm);
    else
        x64_emit_alu_r_rm(b, 8, op, dst, rv_gop(k->map, rs2));
    if (dst == X64_RAX)
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), X64_RAX);
}

static void rv_emit_store_rax(rv_block *k, unsigned rd)
{
    if (rd)
        x64_emit_mov_rm_r(k->b, 8, rv_gop(k->map, rd), X64_RAX);
}

/* W operations: 32-bit x86 arithmetic, then one movsxd for RISC-V's sign extension of the result. */
static void rv_emit_finish_w(rv_block *k, unsigned rd)
{
    int hd = k->map->host[rd];
    if (hd >= 0) {
        x64_emit_movsxd(k->b, hd, x64_reg(X64_RAX));
    } else {
        x64_emit_cdqe(k->b);
        rv_emit_store_rax(k, rd);
    }
}

/* rd = rd <op> src in rd's own host register (rd == rs1, or rd == rs2 of a commutative op): two instructions
 * instead of three through rax. op is X64_ADD, X64_SUB or -1 for imul. Returns 0 when rd is not pinned. */
static int rv_emit_w_in_place(rv_block *k, int op, unsigned rd, x64_op src)
{
    int hd = k->map->host[rd];
    if (hd < 0 || rd == 0)
        return 0;
    if (op < 0)
        x64_emit_imul_r_rm(k->b, 4, hd, src);
    else
        x64_emit_alu_r_rm(k->b, 4, op, hd, src);
    x64_emit_movsxd(k->b, hd, x64_reg(hd));
    return 1;
}

static void rv_emit_set_cond(rv_block *k, int cc, unsigned rd, unsigned rs1, x64_op rhs_or_imm, int use_imm,
                             int32_t imm)
{
    x64_buf *b = k->b;
    if (rd == 0)
        return;
    x64_emit_mov_r_rm(b, 8, X64_RCX, rv_gop(k->map, rs1));
    x64_emit_mov_imm(b, X64_RAX, 0);
    if (use_imm)
        x64_emit_alu_rm_imm(b, 8, X64_CMP, x64_reg(X64_RCX), imm);
    else
        x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RCX, rhs_or_imm);
    x64_emit_setcc(b, cc, X64_RAX);
    rv_emit_store_rax(k, rd);
}

static void rv_emit_shift(rv_block *k, int op, int size, unsigned rd, unsigned rs1, unsigned rs2, int use_imm,
                          uint8_t sh)
{
    x64_buf *b = k->b;
    if (rd == 0)
        return;
    if (!use_imm)
        x64_emit_mov_r_rm(b, 4, X64_RCX, rv_gop(k->map, rs2));
    if (size == 8) {
        int hd = k->map->host[rd];
        int dst = hd >= 0 ? hd : X64_RAX;
        if (!(dst == hd && rd == rs1))
            x64_emit_mov_r_rm(b, 8, dst, rv_gop(k->map, rs1));
        if (use_imm) {
            if (sh)
                x64_emit_shift_imm(b, 8, op, x64_reg(dst), sh);
        } else {
            x64_emit_shift_cl(b, 8, op, x64_reg(dst));
        }
        if (dst == X64_RAX)
            rv_emit_store_rax(k, rd);
    } else {
        x64_emit_mov_r_rm(b, 4, X64_RAX, rv_gop(k->map, rs1));
        if (use_imm) {
            if (sh)
                x64_emit_shift_imm(b, 4, op, x64_reg(X64_RAX), sh);
        } else {
            x64_emit_shift_cl(b, 4, op, x64_reg(X64_RAX));
        }
        rv_emit_finish_w(k, rd);
    }
}

static void rv_emit_li(rv_block *k, unsigned rd, uint64_t v)
{
    if (rd == 0)
        return;
    int hd = k->map->host[rd];
    if (hd >= 0) {
        x64_emit_mov_imm(k->b, hd, v);
    } else if ((int64_t)v >= INT32_MIN && (int64_t)v <= INT32_MAX) {
        x64_emit_mov_rm_imm32(k->b, 8, rv_gop(k->map, rd), (int32_t)v);
    } else {
        x64_emit_mov_imm(k->b, X64_RAX, v);
        rv_emit_store_rax(k, rd);
    }
}

/* Points a short jump of the instruction being emitted at the current position. After an overflow the field may
 * lie at the end of the buffer: leave it, the block is discarded anyway. */
static void rv_patch_here8(rv_block *k, uint8_t *field)
{
    if (!k->b->overflow && x64_patch_rel8(field, k->b->p))
        k->b->overflow = 1; /* cannot happen: the jumps below skip a few bytes */
}

/* DIV, DIVU, REM, REMU and their W forms. x86 div/idiv fault (#DE) on a zero divisor and on INT_MIN / -1,
 * where RISC-V defines results (quotient all ones / remainder = dividend; quotient INT_MIN / remainder 0), so
 * those divisors take a short detour that computes the result without dividing:
 *
 *     mov rax, rs1                      ; rcx = rs2 unless rs2 is pinned (then its host register is used)
 *     lea rdx, [rs2 + 1]  /  test rs2, rs2
 *     cmp rdx, 1                        ; signed: rs2 is 0 or -1 exactly when rs2 + 1 <= 1 unsigned
 *     ja/jnz  .divide
 *     (rax/rdx = the special result)
 *     jmp .done
 * .divide:
 *     cqo / xor edx, edx
 *     idiv/div rs2
 * .done:
 *     rd = rax (quotient) or rdx (remainder)
 *
 * W forms do the same in 32-bit operations (the upper halves of the inputs are ignored) and sign-extend the
 * 32-bit result. rd = x0: nothing to compute, and nothing can trap. */
static void rv_emit_divrem(rv_block *k, rv_op op, unsigned rd, unsigned rs1, unsigned rs2)
{
    x64_buf *b = k->b;
    if (rd == 0)
        return;
    int w = op == RV_OP_DIVW || op == RV_OP_DIVUW || op == RV_OP_REMW || op == RV_OP_REMUW;
    int sgn = op == RV_OP_DIV || op == RV_OP_REM || op == RV_OP_DIVW || op == RV_OP_REMW;
    int rem = op == RV_OP_REM || op == RV_OP_REMU || op == RV_OP_REMW || op == RV_OP_REMUW;
    int sz = w ? 4 : 8;
    int hs = k->map->host[rs2];
    int d = hs >= 0 ? hs : X64_RCX; /* never rax or rdx: those are not pinned (division is not if-converted) */
    x64_emit_mov_r_rm(b, sz, X64_RAX, rv_gop(k->map, rs1));
    if (hs < 0)
        x64_emit_mov_r_rm(b, sz, X64_RCX, rv_gop(k->map, rs2));
    uint8_t *divide, *done;
    if (sgn) {
        /* rdx = rs2 + 1, which is 1 (rs2 = 0) or 0 (rs2 = -1) on the detour (in the low 32 bits for W) */
        x64_emit_lea(b, X64_RDX, x64_mem(d, 1));
        x64_emit_alu_rm_imm(b, sz, X64_CMP, x64_reg(X64_RDX), 1);
        divide = x64_emit_jcc8(b, X64_CC_A);
        x64_emit_neg(b, sz, x64_reg(X64_RDX)); /* all ones for rs2 = 0, else 0 */
        if (rem) {
            x64_emit_alu_r_rm(b, sz, X64_AND, X64_RDX, x64_reg(X64_RAX)); /* dividend, or 0 */
        } else {
            x64_emit_neg(b, sz, x64_reg(X64_RAX));                        /* x / -1 = -x (INT_MIN stays) */
            x64_emit_alu_r_rm(b, sz, X64_OR, X64_RAX, x64_reg(X64_RDX));  /* or all ones for x / 0 */
        }
    } else {
        x64_emit_test_r_r(b, sz, d, d);
        divide = x64_emit_jcc8(b, X64_CC_NE);
        if (rem)
            x64_emit_mov_r_rm(b, sz, X64_RDX, x64_reg(X64_RAX)); /* x % 0 = x */
        else
            x64_emit_alu_rm_imm(b, sz, X64_OR, x64_reg(X64_RAX), -1); /* x / 0 = all ones */
    }
    done = x64_emit_jmp8(b);
    rv_patch_here8(k, divide);
    if (sgn) {
        if (w)
            x64_emit_cdq(b);
        else
            x64_emit_cqo(b);
    } else {
        x64_emit_mov_imm(b, X64_RDX, 0);
    }
    x64_emit_div1(b, sz, sgn, x64_reg(d));
    rv_patch_here8(k, done);
    if (!w) {
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), rem ? X64_RDX : X64_RAX);
    } else if (!rem) {
        rv_emit_finish_w(k, rd);
    } else {
        int hd = k->map->host[rd];
        x64_emit_movsxd(b, hd >= 0 ? hd : X64_RAX, x64_reg(X64_RDX));
        if (hd < 0)
            rv_emit_store_rax(k, rd);
    }
}

/* MULHSU: the high half of signed(rs1) * unsigned(rs2) is that of the unsigned product minus rs2 when rs1 is
 * negative (rs1 as unsigned is rs1 + 2^64). */
static void rv_emit_mulhsu(rv_block *k, unsigned rd, unsigned rs1, unsigned rs2)
{
    x64_buf *b = k->b;
    if (rd == 0)
        return;
    x64_op src2 = rv_gop(k->map, rs2);
    x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, rs1));
    x64_emit_mov_r_rm(b, 8, X64_RCX, x64_reg(X64_RAX));
    x64_emit_shift_imm(b, 8, X64_SAR, x64_reg(X64_RCX), 63);
    x64_emit_alu_r_rm(b, 8, X64_AND, X64_RCX, src2); /* rs1 < 0 ? rs2 : 0 */
    x64_emit_mul1(b, 0, src2);
    x64_emit_alu_r_rm(b, 8, X64_SUB, X64_RDX, x64_reg(X64_RCX));
    x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), X64_RDX);
}

/* ---- Memory ------------------------------------------------------------------------------------------- */

static unsigned rv_log2(unsigned size)
{
    return size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
}

/* Leaves rcx = (guest address - RAM base) rotated right by log2(size), and a jcc field to the slow path in s.
 * The rotation moves misaligned low bits to the top, so one unsigned compare against size >> log2 checks the
 * window and the alignment; within the window rcx * size is the offset again. Addresses below the base wrap to
 * huge offsets and fail the same compare. The slow path finds the address in rdx, or recomputes it from rcx. */
static void rv_emit_addr_check(rv_block *k, unsigned rs1, int64_t imm, unsigned size, rv_slow *s)
{
    x64_buf *b = k->b;
    int h = k->map->host[rs1];
    uint64_t base = k->env->ram_base;
    int64_t rel = imm - (int64_t)base;
    unsigned sh = rv_log2(size);
    s->addr_in_rcx = 0;
    s->addr_reg = X64_RDX;
    s->site_field = NULL;
    s->size_log2 = sh;
    if (h >= 0 && rel >= INT32_MIN && rel <= INT32_MAX) {
        x64_emit_lea(b, X64_RCX, x64_mem(h, (int32_t)rel));
        s->addr_in_rcx = 1;
    } else {
        if (h >= 0) {
            x64_emit_lea(b, X64_RDX, x64_mem(h, (int32_t)imm));
        } else {
            x64_emit_mov_r_rm(b, 8, X64_RDX, rv_gop(k->map, rs1));
            if (imm)
                x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RDX), (int32_t)imm);
        }
        if (base <= 0x80000000u) {
            x64_emit_lea(b, X64_RCX, x64_mem(X64_RDX, (int32_t)(0 - (int64_t)base)));
        } else {
            x64_emit_mov_imm(b, X64_RCX, (uint64_t)0 - base);
            x64_emit_alu_r_rm(b, 8, X64_ADD, X64_RCX, x64_reg(X64_RDX));
        }
    }
    if (sh)
        x64_emit_shift_imm(b, 8, X64_ROR, x64_reg(X64_RCX), (uint8_t)sh);
    uint64_t lim = k->env->ram_size >> sh;
    if (lim <= INT32_MAX)
        x64_emit_alu_rm_imm(b, 8, X64_CMP, x64_reg(X64_RCX), (int32_t)lim);
    else {
        x64_emit_mov_imm(b, X64_RAX, lim);
        x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RCX, x64_reg(X64_RAX));
    }
    s->nfields = 0;
    s->fields[s->nfields++] = x64_emit_jcc32(b, X64_CC_AE);
}

/* Paging on: the virtual address in a register (the guest register's own host register for an offset of 0, else
 * rdx); the software TLB entry for its page (index (va >> 12) & (size - 1), 32 bytes each) must hold
 * (va & ~0xfff | (size - 1)) as its read or write tag, which also fails misaligned accesses. Then the access is
 * [rcx + address] with rcx = the entry's host addend (RAM's host address folded in; the runtime enters only
 * pages inside RAM, and gives a write tag only to pages with a clear code map, so stores need no code-map check).
 * Anything else: the slow path (the helper walks the page table, fills the entry, or raises the fault), with the
 * address in s->addr_reg. Returns the operand of the access. */
static x64_op rv_emit_tlb_check(rv_block *k, unsigned rs1, int64_t imm, unsigned size, int is_store, rv_slow *s,
                                int64_t site_pc)
{
    x64_buf *b = k->b;
    int h = k->map->host[rs1];
    int va = X64_RDX;
    s->addr_in_rcx = 0;
    s->size_log2 = rv_log2(size);
    s->site_field = NULL;
    if (h >= 0 && imm == 0) {
        va = h;
    } else if (h >= 0) {
        x64_emit_lea(b, X64_RDX, x64_mem(h, (int32_t)imm));
    } else {
        x64_emit_mov_r_rm(b, 8, X64_RDX, rv_gop(k->map, rs1));
        if (imm)
            x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RDX), (int32_t)imm);
    }
    s->addr_reg = va;
    int32_t tag = CPU_OFF(tlb) + (int32_t)(is_store ? offsetof(rv_tlb_entry, tag_w) : offsetof(rv_tlb_entry, tag_r));
    s->nfields = 0;
    if (site_pc >= 0) {
        /* The site's own slot first; the TLB lookup is out of line (rv_emit_slow_paths) and refills it. */
        int32_t so = (is_store ? CPU_OFF(site_st) : CPU_OFF(site_ld)) +
                     (int32_t)((((uint64_t)site_pc >> 1) & (RV_SITES - 1)) * sizeof(rv_site_entry));
        x64_emit_mov_r_rm(b, 8, X64_RCX, x64_reg(va));
        x64_emit_alu_rm_imm(b, 8, X64_AND, x64_reg(X64_RCX), (int32_t)(-4096 | (int32_t)(size - 1)));
        x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RCX, x64_mem(X64_RBP, so));
        s->site_field = x64_emit_jcc32(b, X64_CC_NE);
        x64_emit_mov_r_rm(b, 8, X64_RCX, x64_mem(X64_RBP, so + (int32_t)offsetof(rv_site_entry, host_addend)));
        s->site_back = b->p;
        s->site_off = so;
        s->tlb_tag = tag;
        s->site_size = size;
        return x64_mem_idx(X64_RCX, va, 1, 0);
    }
    x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(va));
    x64_emit_shift_imm(b, 8, X64_SHR, x64_reg(X64_RAX), 12 - 5);
    x64_emit_alu_rm_imm(b, 4, X64_AND, x64_reg(X64_RAX), (int32_t)((RV_TLB_SIZE - 1) << 5));
    x64_emit_mov_r_rm(b, 8, X64_RCX, x64_reg(va));
    x64_emit_alu_rm_imm(b, 8, X64_AND, x64_reg(X64_RCX), (int32_t)(-4096 | (int32_t)(size - 1)));
    x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RCX, x64_mem_idx(X64_RBP, X64_RAX, 1, tag));
    s->fields[s->nfields++] = x64_emit_jcc32(b, X64_CC_NE);
    x64_emit_mov_r_rm(b, 8, X64_RCX, x64_mem_idx(X64_RBP, X64_RAX, 1, CPU_OFF(tlb) + (int32_t)offsetof(rv_tlb_entry, host_addend)));
    return x64_mem_idx(X64_RCX, va, 1, 0);
}

static void rv_emit_load(rv_block *k, const rv_insn *in, uint64_t pc)
{
    static const struct { rv_op op; unsigned size; int sign; } t[] = {
        { RV_OP_LB, 1, 1 }, { RV_OP_LH, 2, 1 }, { RV_OP_LW, 4, 1 }, { RV_OP_LD, 8, 0 },
        { RV_OP_LBU, 1, 0 }, { RV_OP_LHU, 2, 0 }, { RV_OP_LWU, 4, 0 } };
    unsigned size = 8;
    int sign = 0;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].op == in->op) {
            size = t[i].size;
            sign = t[i].sign;
        }
    x64_buf *b = k->b;
    rv_slow *s = &k->slow[k->nslow++];
    x64_op m;
    if (k->env->paged) {
        m = rv_emit_tlb_check(k, in->rs1, in->imm, size, 0, s, (int64_t)pc);
    } else {
        rv_emit_addr_check(k, in->rs1, in->imm, size, s);
        m = x64_mem_idx(X64_R15, X64_RCX, (int)size, 0);
    }
    int hd = in->rd ? k->map->host[in->rd] : -1;
    int dst = hd >= 0 ? hd : X64_RAX;
    if (size == 8)
        x64_emit_mov_r_rm(b, 8, dst, m);
    else if (size == 4 && sign)
        x64_emit_movsxd(b, dst, m);
    else if (size == 4)
        x64_emit_mov_r_rm(b, 4, dst, m);
    else if (sign)
        x64_emit_movsx(b, (int)size, dst, m);
    else
        x64_emit_movzx(b, (int)size, dst, m);
    if (dst == X64_RAX)
        rv_emit_store_rax(k, in->rd);
    s->join = b->p;
    s->pc = pc;
    s->rd = in->rd;
    s->info = size | ((uint32_t)sign << 8) | ((uint32_t)in->len << 16) | ((uint32_t)in->rd << 24);
    s->is_store = 0;
}

static void rv_emit_store(rv_block *k, const rv_insn *in, uint64_t pc)
{
    unsigned size = 1u << (in->op - RV_OP_SB);
    x64_buf *b = k->b;
    rv_slow *s = &k->slow[k->nslow++];
    int paged = k->env->paged;
    x64_op m = x64_mem_idx(X64_R15, X64_RCX, (int)size, 0);
    if (paged)
        m = rv_emit_tlb_check(k, in->rs1, in->imm, size, 1, s, (int64_t)pc);
    else
        rv_emit_addr_check(k, in->rs1, in->imm, size, s);
    /* Stores into granules holding translated code (or the HTIF mailbox, or not yet dirty-logged) take the slow
     * path. With paging the TLB's write tag already says so: the runtime gives such pages none. */
    if (!paged) {
        x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(X64_RCX));
        x64_emit_shift_imm(b, 8, X64_SHR, x64_reg(X64_RAX), (uint8_t)(RV_CODEMAP_SHIFT - rv_log2(size)));
        x64_emit_alu_rm_imm(b, 1, X64_CMP, x64_mem_idx(X64_RBP, X64_RAX, 1, k->env->codemap_off), 0);
        s->fields[s->nfields++] = x64_emit_jcc32(b, X64_CC_NE);
    }
    int hs = k->map->host[in->rs2];
    int src = hs >= 0 ? hs : X64_RAX;
    if (hs < 0)
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, in->rs2));
    /* Byte stores of rsi/rdi need REX (SIL/DIL); the encoder adds it. */
    x64_emit_mov_rm_r(b, (int)size, m, src);
    s->join = b->p;
    s->pc = pc;
    s->rd = 0;
    s->info = size | ((uint32_t)in->len << 16);
    s->is_store = 1;
    s->rs2 = in->rs2;
}

static void rv_emit_slow_paths(rv_block *k)
{
    x64_buf *b = k->b;
    for (unsigned i = 0; i < k->nslow; i++) {
        rv_slow *s = &k->slow[i];
        if (s->site_field) {
            /* Site-cache miss (rcx = the address's tag): the TLB; a hit there refills the site's slot. */
            x64_patch_rel32(s->site_field, b->p);
            x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(s->addr_reg));
            x64_emit_shift_imm(b, 8, X64_SHR, x64_reg(X64_RAX), 12 - 5);
            x64_emit_alu_rm_imm(b, 4, X64_AND, x64_reg(X64_RAX), (int32_t)((RV_TLB_SIZE - 1) << 5));
            x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RCX, x64_mem_idx(X64_RBP, X64_RAX, 1, s->tlb_tag));
            s->fields[s->nfields++] = x64_emit_jcc32(b, X64_CC_NE);
            x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, s->site_off), X64_RCX);
            x64_emit_mov_r_rm(b, 8, X64_RCX, x64_mem_idx(X64_RBP, X64_RAX, 1, CPU_OFF(tlb) + (int32_t)offsetof(rv_tlb_entry, host_addend)));
            x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, s->site_off + (int32_t)offsetof(rv_site_entry, host_addend)), X64_RCX);
            x64_patch_rel32(x64_emit_jmp32(b), s->site_back);
        }
        for (int j = 0; j < s->nfields; j++)
            x64_patch_rel32(s->fields[j], b->p);
        rv_emit_set_pc(b, s->pc);
        /* Arguments in registers that hold no guest register (the thunk spills those first): the address in rax
         * (the thunk moves it to rsi), then the value in rdx (the address may have been in rdx) and the info. */
        if (s->addr_in_rcx) {
            if (s->size_log2)
                x64_emit_shift_imm(b, 8, X64_ROL, x64_reg(X64_RCX), (uint8_t)s->size_log2);
            x64_emit_mov_imm(b, X64_RAX, k->env->ram_base);
            x64_emit_alu_r_rm(b, 8, X64_ADD, X64_RAX, x64_reg(X64_RCX));
        } else {
            x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(s->addr_reg));
        }
        if (s->is_store) {
            x64_emit_mov_r_rm(b, 8, X64_RDX, rv_gop(k->map, s->rs2));
            x64_emit_mov_imm(b, X64_RCX, s->info);
        } else {
            x64_emit_mov_imm(b, X64_RDX, s->info);
        }
        rv_emit_thunk_call(b, s->is_store ? k->env->thunks->store : k->env->thunks->load);
        if (!s->is_store && s->rd)
            x64_emit_mov_rm_r(b, 8, rv_gop(k->map, s->rd), X64_RAX);
        x64_patch_rel32(x64_emit_jmp32(b), s->join);
    }
}

/* An instruction executed by the runtime's interpreter helper (AMOs, LR/SC, CSRs, system). */
static void rv_emit_interp(rv_block *k, const rv_insn *in, uint64_t pc)
{
    x64_buf *b = k->b;
    rv_emit_set_pc(b, pc);
    x64_emit_mov_imm(b, X64_RAX, in->raw);
    /* edx: what the helper gives back to the budget if it leaves here (the segment was charged in full). */
    x64_emit_byte(b, 0xba);
    if (k->nrefund < RV_TB_MAX_INSNS) {
        k->refund_fields[k->nrefund] = b->p;
        k->refund_n[k->nrefund++] = k->n;
    } else {
        b->overflow = 1;
    }
    x64_emit_u32(b, 0);
    rv_emit_thunk_call(b, k->env->thunks->interp);
}

/* The segment ends with instruction n: each interpreter call in it gets its refund. */
static void rv_patch_refunds(rv_block *k, unsigned n)
{
    if (!k->b->overflow)
        for (unsigned i = 0; i < k->nrefund; i++) {
            uint32_t v = n - k->refund_n[i];
            memcpy(k->refund_fields[i], &v, 4);
        }
    k->nrefund = 0;
}

/* F/D inline: add, sub, mul, div, sqrt and the four fused forms (with FMA3), single and double, in
 * round-to-nearest-even (rm = RNE, or dynamic with frm = RNE at run time) on the host's SSE unit, which gives the
 * IEEE result bit for bit there. The interpreter helper (the slow path below) takes everything else: FS Off,
 * another rounding mode, a single input that is not NaN-boxed, and any NaN result (canonical NaN and the fused
 * forms' inf * 0 rule are its business; the guest registers are still untouched then). MXCSR is the host's
 * default 0x1f80 (RNE, all masked) with its flags clear whenever generated code runs in process (the runtime
 * sets it before entering generated code and when a helper returns: see rv_fpu_host_reset), so its sticky flags
 * after an operation are those of the inline operations since then, all of which the guest accrues anyway; in
 * exec=rc it is loaded before each operation. The flags (IE ZE OE UE PE, not DE) are ORed in raw form into fcsr
 * bits 13:8, which rv_fpu_fold_flags turns into fflags before C code looks at fcsr. LDMXCSR in front of every
 * operation cost more than the operation: fpbench 0.78-0.95 s with it. */
#define RV_FCSR_RAW_SHIFT 8
static int rv_emit_fp_inline(rv_block *k, const rv_insn *in, uint64_t pc)
{
    /* kind 0: OPsd/ss xmm0, [rs2] after xmm0 = rs1; 1: sqrt; 2: fused, vfmXXX231 xmm0(rs3), xmm1(rs1), [rs2] */
    static const struct { rv_op op; uint8_t kind, opc, dbl; } t[] = {
        { RV_OP_FADD_D, 0, 0x58, 1 }, { RV_OP_FSUB_D, 0, 0x5c, 1 }, { RV_OP_FMUL_D, 0, 0x59, 1 },
        { RV_OP_FDIV_D, 0, 0x5e, 1 }, { RV_OP_FSQRT_D, 1, 0x51, 1 },
        { RV_OP_FADD_S, 0, 0x58, 0 }, { RV_OP_FSUB_S, 0, 0x5c, 0 }, { RV_OP_FMUL_S, 0, 0x59, 0 },
        { RV_OP_FDIV_S, 0, 0x5e, 0 }, { RV_OP_FSQRT_S, 1, 0x51, 0 },
        /* fmadd: a*b+c vfmadd; fmsub: a*b-c vfmsub; fnmsub: -(a*b)+c vfnmadd; fnmadd: -(a*b)-c vfnmsub */
        { RV_OP_FMADD_D, 2, 0xb9, 1 }, { RV_OP_FMSUB_D, 2, 0xbb, 1 }, { RV_OP_FNMSUB_D, 2, 0xbd, 1 },
        { RV_OP_FNMADD_D, 2, 0xbf, 1 },
        { RV_OP_FMADD_S, 2, 0xb9, 0 }, { RV_OP_FMSUB_S, 2, 0xbb, 0 }, { RV_OP_FNMSUB_S, 2, 0xbd, 0 },
        { RV_OP_FNMADD_S, 2, 0xbf, 0 } };
    unsigned rm = (in->raw >> 12) & 7, rs3 = in->raw >> 27;
    int found = -1;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].op == in->op)
            found = (int)i;
    if (found < 0 || (rm != 0 && rm != 7) || in->len != 4 || (t[found].kind == 2 && !k->env->fma))
        return -1;
    unsigned kind = t[found].kind, dbl = t[found].dbl;
    x64_buf *b = k->b;
    uint8_t *slow[6];
    int nslow = 0;
    x64_emit_test_rm_imm32(b, x64_mem(X64_RBP, CPU_OFF(mstatus)), 0x6000); /* FS Off: illegal */
    slow[nslow++] = x64_emit_jcc32(b, X64_CC_E);
    if (rm == 7) {
        x64_emit_test_rm_imm32(b, x64_mem(X64_RBP, CPU_OFF(fcsr)), 0xe0);   /* frm other than RNE */
        slow[nslow++] = x64_emit_jcc32(b, X64_CC_NE);
    }
    int32_t f1 = CPU_OFF(f) + 8 * in->rs1, f2 = CPU_OFF(f) + 8 * in->rs2, f3 = CPU_OFF(f) + 8 * (int32_t)rs3;
    int32_t fd = CPU_OFF(f) + 8 * in->rd;
    if (!dbl) { /* inputs not NaN-boxed read as the canonical NaN: the helper's */
        int32_t ins[3] = { f1, f2, f3 };
        unsigned nin = kind == 1 ? 1 : kind == 0 ? 2 : 3;
        for (unsigned i = 0; i < nin; i++) {
            x64_emit_alu_rm_imm(b, 4, X64_CMP, x64_mem(X64_RBP, ins[i] + 4), -1);
            slow[nslow++] = x64_emit_jcc32(b, X64_CC_NE);
        }
    }
    static const uint8_t mxcsr_op[2] = { 0x0f, 0xae }, movs_ld[2] = { 0x0f, 0x10 }, movs_st[2] = { 0x0f, 0x11 };
    uint8_t pfx = dbl ? 0xf2 : 0xf3;
    if (k->env->fp_mxcsr_each) {
        x64_emit_byte(b, 0x68);                                              /* push 0x1f80 */
        x64_emit_u32(b, 0x1f80);
        x64_emit_op_rm(b, 4, mxcsr_op, 2, 2, x64_mem(X64_RSP, 0));          /* ldmxcsr [rsp] */
    } else {
        x64_emit_byte(b, 0x50);                                              /* push rax (a slot) */
    }
    uint8_t op[2] = { 0x0f, t[found].opc };
    if (kind == 1) {
        x64_emit_byte(b, pfx);                                               /* sqrtsd/ss xmm0, [rs1] */
        x64_emit_op_rm(b, 4, op, 2, 0, x64_mem(X64_RBP, f1));
    } else if (kind == 0) {
        x64_emit_byte(b, pfx);                                               /* movsd/ss xmm0, [rs1] */
        x64_emit_op_rm(b, 4, movs_ld, 2, 0, x64_mem(X64_RBP, f1));
        x64_emit_byte(b, pfx);                                               /* OPsd/ss xmm0, [rs2] */
        x64_emit_op_rm(b, 4, op, 2, 0, x64_mem(X64_RBP, f2));
    } else {
        x64_emit_byte(b, pfx);                                               /* xmm0 = rs3 */
        x64_emit_op_rm(b, 4, movs_ld, 2, 0, x64_mem(X64_RBP, f3));
        x64_emit_byte(b, pfx);                                               /* xmm1 = rs1 */
        x64_emit_op_rm(b, 4, movs_ld, 2, 1, x64_mem(X64_RBP, f1));
        /* VEX.LIG.66.0F38.W(dbl) op /r: xmm0 = +-(xmm1 * [rs2]) +- xmm0; vvvv = ~1 */
        x64_emit_byte(b, 0xc4);
        x64_emit_byte(b, 0xe2);
        x64_emit_byte(b, (uint8_t)((dbl ? 0x80 : 0) | (0xe << 3) | 1));
        uint8_t vop = t[found].opc;
        x64_emit_op_rm(b, 4, &vop, 1, 0, x64_mem(X64_RBP, f2));
    }
    x64_emit_op_rm(b, 4, mxcsr_op, 2, 3, x64_mem(X64_RSP, 0));              /* stmxcsr [rsp] */
    x64_emit_byte(b, 0x58);                                                  /* pop rax */
    static const uint8_t ucomisd[4] = { 0x66, 0x0f, 0x2e, 0xc0 };             /* ucomisd xmm0, xmm0 */
    for (int i = dbl ? 0 : 1; i < 4; i++)                                    /* (ucomiss: no 66) */
        x64_emit_byte(b, ucomisd[i]);
    slow[nslow++] = x64_emit_jcc32(b, 0xa);                                  /* jp: a NaN result */
    x64_emit_alu_rm_imm(b, 4, X64_AND, x64_reg(X64_RAX), 0x3d);
    x64_emit_shift_imm(b, 4, X64_SHL, x64_reg(X64_RAX), RV_FCSR_RAW_SHIFT);
    x64_emit_alu_rm_r(b, 4, X64_OR, x64_mem(X64_RBP, CPU_OFF(fcsr)), X64_RAX);
    x64_emit_byte(b, pfx);                                                   /* movsd/ss [rd], xmm0 */
    x64_emit_op_rm(b, 4, movs_st, 2, 0, x64_mem(X64_RBP, fd));
    if (!dbl)
        x64_emit_mov_rm_imm32(b, 4, x64_mem(X64_RBP, fd + 4), -1);          /* NaN-boxed */
    x64_emit_alu_rm_imm(b, 4, X64_OR, x64_mem(X64_RBP, CPU_OFF(mstatus)), 0x6000); /* FS = Dirty */
    uint8_t *done = x64_emit_jmp32(b);
    if (!b->overflow)
        for (int i = 0; i < nslow; i++)
            x64_patch_rel32(slow[i], b->p);
    rv_emit_interp(k, in, pc);
    if (!b->overflow)
        x64_patch_rel32(done, b->p);
    return 0;
}

/* flw/fld/fsw/fsd (and their compressed forms) inline: the integer loads' and stores' window or TLB check and
 * code-map check, then one move between RAM and f[]; FS Off, misaligned, MMIO, faults, a TLB miss and stores near
 * code go to the interpreter helper for the whole instruction instead (it does the access with every check). */
static int rv_emit_fp_mem(rv_block *k, const rv_insn *in, uint64_t pc)
{
    int is_store = in->op == RV_OP_FSW || in->op == RV_OP_FSD;
    unsigned size = in->op == RV_OP_FLW || in->op == RV_OP_FSW ? 4 : 8;
    if (!is_store && in->op != RV_OP_FLW && in->op != RV_OP_FLD)
        return -1;
    x64_buf *b = k->b;
    rv_slow s = { .nfields = 0 };
    uint8_t *fs_off;
    x64_emit_test_rm_imm32(b, x64_mem(X64_RBP, CPU_OFF(mstatus)), 0x6000); /* FS Off: illegal */
    fs_off = x64_emit_jcc32(b, X64_CC_E);
    int paged = k->env->paged;
    x64_op m = x64_mem_idx(X64_R15, X64_RCX, paged ? 1 : (int)size, 0);
    if (paged)
        m = rv_emit_tlb_check(k, in->rs1, in->imm, size, is_store, &s, -1);
    else
        rv_emit_addr_check(k, in->rs1, in->imm, size, &s);
    if (is_store) {
        if (!paged) { /* paged: the write tag covers it (rv_emit_store) */
            x64_emit_mov_r_rm(b, 8, X64_RAX, x64_reg(X64_RCX));
            x64_emit_shift_imm(b, 8, X64_SHR, x64_reg(X64_RAX), (uint8_t)(RV_CODEMAP_SHIFT - rv_log2(size)));
            x64_emit_alu_rm_imm(b, 1, X64_CMP, x64_mem_idx(X64_RBP, X64_RAX, 1, k->env->codemap_off), 0);
            s.fields[s.nfields++] = x64_emit_jcc32(b, X64_CC_NE);
        }
        x64_emit_mov_r_rm(b, 8, X64_RAX, x64_mem(X64_RBP, CPU_OFF(f) + 8 * in->rs2));
        x64_emit_mov_rm_r(b, (int)size, m, X64_RAX);
    } else {
        x64_emit_mov_r_rm(b, (int)size, X64_RAX, m);
        if (size == 4) { /* NaN-boxed */
            x64_emit_mov_rm_r(b, 4, x64_mem(X64_RBP, CPU_OFF(f) + 8 * in->rd), X64_RAX);
            x64_emit_mov_rm_imm32(b, 4, x64_mem(X64_RBP, CPU_OFF(f) + 8 * in->rd + 4), -1);
        } else {
            x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(f) + 8 * in->rd), X64_RAX);
        }
        x64_emit_alu_rm_imm(b, 4, X64_OR, x64_mem(X64_RBP, CPU_OFF(mstatus)), 0x6000); /* FS = Dirty */
    }
    uint8_t *done = x64_emit_jmp32(b);
    if (!b->overflow) {
        x64_patch_rel32(fs_off, b->p);
        for (int i = 0; i < s.nfields; i++)
            x64_patch_rel32(s.fields[i], b->p);
    }
    rv_emit_interp(k, in, pc);
    if (!b->overflow)
        x64_patch_rel32(done, b->p);
    return 0;
}

/* ---- Blocks ------------------------------------------------------------------------------------------- */

static int rv_fetch(const rv_xlate_env *env, uint64_t pc, rv_insn *in)
{
    uint16_t lo, hi = 0;
    if (env->fetch16(env->opaque, pc, &lo))
        return -1;
    if (rv_insn_length(lo) == 4 && env->fetch16(env->opaque, pc + 2, &hi))
        return -1;
    rv_decode((uint32_t)lo | ((uint32_t)hi << 16), in);
    return 0;
}

/* CSR accesses do not end their block: the interpreter asks to leave (cpu->leave) when a write changed what
 * the dispatcher decides (interrupts that may now be taken, the translation context), so `csrrc`/`csrs` of
 * sstatus.SIE around a kernel's critical sections stay inside generated code. Counters still end it: the
 * budget charged at a segment's start would count instructions not yet run. */
static int rv_ends_block(const rv_insn *in)
{
    switch (in->op) {
    case RV_OP_JAL: case RV_OP_JALR:
    case RV_OP_BEQ: case RV_OP_BNE: case RV_OP_BLT: case RV_OP_BGE: case RV_OP_BLTU: case RV_OP_BGEU:
    case RV_OP_ECALL: case RV_OP_EBREAK: case RV_OP_MRET: case RV_OP_SRET: case RV_OP_WFI: case RV_OP_FENCE_I:
    case RV_OP_SFENCE_VMA: case RV_OP_ILLEGAL:
        return 1;
    case RV_OP_CSRRW: case RV_OP_CSRRS: case RV_OP_CSRRC: case RV_OP_CSRRWI: case RV_OP_CSRRSI: case RV_OP_CSRRCI:
        return (in->csr & 0xf00) == 0xb00 || (in->csr & 0xf00) == 0xc00 || in->csr == 0x320;
    default:
        return 0;
    }
}

/* `slli rd, rs, N; srli/srai rd, rd, N` with N = 32, 48, 56 is how RV64I zero- or sign-extends a word,
 * halfword or byte (zext.w/zext.h/sext.b without Zba/Zbb): one mov, movzx or movsx on x86. Returns whether
 * the pair was emitted. */
static int rv_try_fuse_extend(rv_block *k, const rv_insn *a, const rv_insn *b2)
{
    if (a->op != RV_OP_SLLI || (b2->op != RV_OP_SRLI && b2->op != RV_OP_SRAI) || a->rd == 0 ||
        b2->rd != a->rd || b2->rs1 != a->rd || b2->imm != a->imm ||
        (a->imm != 32 && a->imm != 48 && a->imm != 56))
        return 0;
    x64_buf *b = k->b;
    int hd = k->map->host[a->rd];
    int dst = hd >= 0 ? hd : X64_RAX;
    int from = a->imm == 32 ? 4 : a->imm == 48 ? 2 : 1;
    x64_op src = rv_gop(k->map, a->rs1);
    if (b2->op == RV_OP_SRLI) {
        if (from == 4)
            x64_emit_mov_r_rm(b, 4, dst, src);
        else
            x64_emit_movzx(b, from, dst, src);
    } else {
        if (from == 4)
            x64_emit_movsxd(b, dst, src);
        else
            x64_emit_movsx(b, from, dst, src);
    }
    if (dst == X64_RAX)
        rv_emit_store_rax(k, a->rd);
    return 1;
}

/* Emits one non-control instruction; returns 0, or 1 if it is not handled inline (the caller interprets). */
static int rv_emit_insn(rv_block *k, const rv_insn *in, uint64_t pc)
{
    x64_buf *b = k->b;
    unsigned rd = in->rd, rs1 = in->rs1, rs2 = in->rs2;
    int32_t imm = (int32_t)in->imm;

    switch (in->op) {
    case RV_OP_LUI: rv_emit_li(k, rd, (uint64_t)in->imm); break;
    case RV_OP_AUIPC: rv_emit_li(k, rd, pc + (uint64_t)in->imm); break;
    case RV_OP_ADDI:
        if (rd == 0)
            break;
        if (rs1 == 0)
            rv_emit_li(k, rd, (uint64_t)in->imm);
        else if (k->map->host[rd] >= 0 && k->map->host[rs1] >= 0)
            x64_emit_lea(b, k->map->host[rd], x64_mem(k->map->host[rs1], imm));
        else
            rv_emit_alu(k, X64_ADD, rd, rs1, 0, 1, imm);
        break;
    case RV_OP_XORI: rv_emit_alu(k, X64_XOR, rd, rs1, 0, 1, imm); break;
    case RV_OP_ORI: rv_emit_alu(k, X64_OR, rd, rs1, 0, 1, imm); break;
    case RV_OP_ANDI: rv_emit_alu(k, X64_AND, rd, rs1, 0, 1, imm); break;
    case RV_OP_SLTI: rv_emit_set_cond(k, X64_CC_L, rd, rs1, x64_reg(0), 1, imm); break;
    case RV_OP_SLTIU: rv_emit_set_cond(k, X64_CC_B, rd, rs1, x64_reg(0), 1, imm); break;
    case RV_OP_SLLI: rv_emit_shift(k, X64_SHL, 8, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_SRLI: rv_emit_shift(k, X64_SHR, 8, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_SRAI: rv_emit_shift(k, X64_SAR, 8, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_ADD: rv_emit_alu(k, X64_ADD, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SUB: rv_emit_alu(k, X64_SUB, rd, rs1, rs2, 0, 0); break;
    case RV_OP_XOR: rv_emit_alu(k, X64_XOR, rd, rs1, rs2, 0, 0); break;
    case RV_OP_OR: rv_emit_alu(k, X64_OR, rd, rs1, rs2, 0, 0); break;
    case RV_OP_AND: rv_emit_alu(k, X64_AND, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SLT: rv_emit_set_cond(k, X64_CC_L, rd, rs1, rv_gop(k->map, rs2), 0, 0); break;
    case RV_OP_SLTU: rv_emit_set_cond(k, X64_CC_B, rd, rs1, rv_gop(k->map, rs2), 0, 0); break;
    case RV_OP_SLL: rv_emit_shift(k, X64_SHL, 8, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SRL: rv_emit_shift(k, X64_SHR, 8, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SRA: rv_emit_shift(k, X64_SAR, 8, rd, rs1, rs2, 0, 0); break;
    case RV_OP_ADDIW:
        if (rd == 0)
            break;
        if (rd == rs1 && k->map->host[rd] >= 0) {
            int hd = k->map->host[rd];
            if (imm)
                x64_emit_alu_rm_imm(b, 4, X64_ADD, x64_reg(hd), imm);
            x64_emit_movsxd(b, hd, x64_reg(hd));
            break;
        }
        x64_emit_mov_r_rm(b, 4, X64_RAX, rv_gop(k->map, rs1));
        if (imm)
            x64_emit_alu_rm_imm(b, 4, X64_ADD, x64_reg(X64_RAX), imm);
        rv_emit_finish_w(k, rd);
        break;
    case RV_OP_SLLIW: rv_emit_shift(k, X64_SHL, 4, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_SRLIW: rv_emit_shift(k, X64_SHR, 4, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_SRAIW: rv_emit_shift(k, X64_SAR, 4, rd, rs1, 0, 1, (uint8_t)imm); break;
    case RV_OP_SLLW: rv_emit_shift(k, X64_SHL, 4, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SRLW: rv_emit_shift(k, X64_SHR, 4, rd, rs1, rs2, 0, 0); break;
    case RV_OP_SRAW: rv_emit_shift(k, X64_SAR, 4, rd, rs1, rs2, 0, 0); break;
    case RV_OP_ADDW:
    case RV_OP_SUBW:
        if (rd == 0)
            break;
        if (rd == rs1 && rd != rs2 && rv_emit_w_in_place(k, in->op == RV_OP_ADDW ? X64_ADD : X64_SUB, rd, rv_gop(k->map, rs2)))
            break;
        if (in->op == RV_OP_ADDW && rd == rs2 && rd != rs1 && rv_emit_w_in_place(k, X64_ADD, rd, rv_gop(k->map, rs1)))
            break;
        x64_emit_mov_r_rm(b, 4, X64_RAX, rv_gop(k->map, rs1));
        x64_emit_alu_r_rm(b, 4, in->op == RV_OP_ADDW ? X64_ADD : X64_SUB, X64_RAX, rv_gop(k->map, rs2));
        rv_emit_finish_w(k, rd);
        break;
    case RV_OP_MUL:
        if (rd == 0)
            break;
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, rs1));
        x64_emit_imul_r_rm(b, 8, X64_RAX, rv_gop(k->map, rs2));
        rv_emit_store_rax(k, rd);
        break;
    case RV_OP_MULW:
        if (rd == 0)
            break;
        if (rd == rs1 && rd != rs2 && rv_emit_w_in_place(k, -1, rd, rv_gop(k->map, rs2)))
            break;
        if (rd == rs2 && rd != rs1 && rv_emit_w_in_place(k, -1, rd, rv_gop(k->map, rs1)))
            break;
        x64_emit_mov_r_rm(b, 4, X64_RAX, rv_gop(k->map, rs1));
        x64_emit_imul_r_rm(b, 4, X64_RAX, rv_gop(k->map, rs2));
        rv_emit_finish_w(k, rd);
        break;
    case RV_OP_MULH:
    case RV_OP_MULHU:
        if (rd == 0)
            break;
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, rs1));
        x64_emit_mul1(b, in->op == RV_OP_MULH, rv_gop(k->map, rs2));
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, rd), X64_RDX);
        break;
    case RV_OP_MULHSU: rv_emit_mulhsu(k, rd, rs1, rs2); break;
    case RV_OP_DIV: case RV_OP_DIVU: case RV_OP_REM: case RV_OP_REMU:
    case RV_OP_DIVW: case RV_OP_DIVUW: case RV_OP_REMW: case RV_OP_REMUW:
        rv_emit_divrem(k, in->op, rd, rs1, rs2);
        break;
    case RV_OP_LB: case RV_OP_LH: case RV_OP_LW: case RV_OP_LD: case RV_OP_LBU: case RV_OP_LHU: case RV_OP_LWU:
        rv_emit_load(k, in, pc);
        break;
    case RV_OP_SB: case RV_OP_SH: case RV_OP_SW: case RV_OP_SD:
        rv_emit_store(k, in, pc);
        break;
    case RV_OP_FENCE:
        /* x86-TSO orders everything RVWMO's fence asks but an earlier store before a later load: a fence whose
         * predecessor set has W and successor set has R (fence rw,rw; fence w,r) needs mfence against the other
         * harts. fence.tso (fm = 8) does not order W before R. Devices are accessed synchronously. */
        if ((in->raw >> 28) != 8 && (in->raw >> 24 & 1) && (in->raw >> 21 & 1)) {
            x64_emit_byte(k->b, 0x0f);
            x64_emit_byte(k->b, 0xae);
            x64_emit_byte(k->b, 0xf0); /* mfence */
        }
        break;
    default:
        return 1;
    }
    return 0;
}

/* Sets the flags for a conditional branch and returns the x86 condition under which it is taken. Compares
 * against x0 use an immediate, with the operands swapped when x0 comes first. */
static int rv_emit_branch_cmp(rv_block *k, const rv_insn *br)
{
    static const int cc[] = { X64_CC_E, X64_CC_NE, X64_CC_L, X64_CC_GE, X64_CC_B, X64_CC_AE };
    x64_buf *b = k->b;
    int c = cc[br->op - RV_OP_BEQ];
    unsigned a = br->rs1, r = br->rs2;
    if (a == 0 && r != 0) {
        static const int swapped[16] = { [X64_CC_E] = X64_CC_E, [X64_CC_NE] = X64_CC_NE, [X64_CC_L] = X64_CC_G,
                                         [X64_CC_GE] = X64_CC_LE, [X64_CC_B] = X64_CC_A, [X64_CC_AE] = X64_CC_BE };
        c = swapped[c];
        a = r;
        r = 0;
    }
    int h = k->map->host[a];
    if (r == 0) {
        if (h >= 0)
            x64_emit_test_r_r(b, 8, h, h);
        else
            x64_emit_alu_rm_imm(b, 8, X64_CMP, rv_gop(k->map, a), 0);
    } else if (h >= 0) {
        x64_emit_alu_r_rm(b, 8, X64_CMP, h, rv_gop(k->map, r));
    } else if (k->map->host[r] >= 0) {
        x64_emit_alu_rm_r(b, 8, X64_CMP, rv_gop(k->map, a), k->map->host[r]);
    } else {
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, a));
        x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RAX, rv_gop(k->map, r));
    }
    return c;
}

/* Instructions if-conversion may run speculatively: inline ALU operations that touch only rax, rcx and their
 * destination (never rdx, which holds the speculative result). */
static int rv_is_simple_alu(rv_op op)
{
    return op == RV_OP_LUI || op == RV_OP_AUIPC || (op >= RV_OP_ADDI && op <= RV_OP_SRAW) || op == RV_OP_MUL ||
           op == RV_OP_MULW;
}

/* A forward branch over at most four simple ALU instructions that all write one register R (CoreMark's CRC,
 * min/max, saturation): compute them into rdx, then one cmov on the branch condition keeps or drops the
 * result. Data-dependent branches like these mispredict half the time, which costs more than the work.
 * Returns the number of instructions folded (0: not applicable). */
static unsigned rv_try_if_convert(rv_block *k, const rv_insn *br, uint64_t pc)
{
    const rv_xlate_env *env = k->env;
    rv_insn body[4];
    unsigned n = 0;
    uint64_t target = pc + (uint64_t)br->imm, cur = pc + br->len;
    if (br->imm <= 0 || br->imm > 4 * 4 + 4)
        return 0;
    while (cur < target && n < 4) {
        if (rv_fetch(env, cur, &body[n]) || !rv_is_simple_alu(body[n].op) || body[n].rd == 0 ||
            body[n].rd != body[0].rd)
            return 0;
        cur += body[n].len;
        n++;
    }
    if (cur != target || n == 0)
        return 0;
    x64_buf *b = k->b;
    unsigned r = body[0].rd;
    x64_emit_mov_r_rm(b, 8, X64_RDX, rv_gop(k->map, r));
    uint64_t ipc = pc + br->len;
    rv_insn ren[4];
    for (unsigned i = 0; i < n; i++) {
        ren[i] = body[i];
        ren[i].rd = RV_PSEUDO_REG;
        if (ren[i].rs1 == r)
            ren[i].rs1 = RV_PSEUDO_REG;
        if (ren[i].rs2 == r && !(ren[i].op >= RV_OP_ADDI && ren[i].op <= RV_OP_SRAI) &&
            !(ren[i].op >= RV_OP_ADDIW && ren[i].op <= RV_OP_SRAIW) && ren[i].op != RV_OP_LUI &&
            ren[i].op != RV_OP_AUIPC)
            ren[i].rs2 = RV_PSEUDO_REG;
    }
    for (unsigned i = 0; i < n; i++) {
        if (i + 1 < n && rv_try_fuse_extend(k, &ren[i], &ren[i + 1])) {
            ipc += body[i].len + body[i + 1].len;
            i++;
            continue;
        }
        rv_emit_insn(k, &ren[i], ipc);
        ipc += body[i].len;
    }
    int not_taken = rv_emit_branch_cmp(k, br) ^ 1; /* x86 condition codes come in complementary pairs */
    int hr = k->map->host[r];
    if (hr >= 0) {
        x64_emit_cmov(b, not_taken, hr, x64_reg(X64_RDX));
    } else {
        x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k->map, r));
        x64_emit_cmov(b, not_taken, X64_RAX, x64_reg(X64_RDX));
        x64_emit_mov_rm_r(b, 8, rv_gop(k->map, r), X64_RAX);
    }
    /* The caller charges the folded instructions; give them back when the branch skipped them, so instret
     * stays exact. */
    x64_emit_lea(b, X64_RAX, x64_mem(RV_BUDGET_REG, (int32_t)n));
    x64_emit_cmov(b, not_taken ^ 1, RV_BUDGET_REG, x64_reg(X64_RAX));
    return n;
}

int rv_translate_block(const rv_xlate_env *env, uint64_t pc, rv_xlate_result *res)
{
    rv_block k = { .env = env, .map = env->map, .b = env->buf };
    x64_buf *b = env->buf;
    uint8_t *start = b->p;
    rv_insn in;
    uint64_t cur = pc;
    unsigned n = 0;

    /* Budget: each straight-line segment (the block runs on past not-taken branches) charges its own count
     * when it starts, patched in once known, so a side exit has paid exactly what ran. Only the first one
     * checks: every loop passes through some block's entry. */
    uint8_t opc = 0x81;
    x64_emit_op_rm(b, 8, &opc, 1, X64_SUB, x64_reg(RV_BUDGET_REG));
    uint8_t *count_field = b->p;
    x64_emit_u32(b, 0);
    uint8_t *budget_field = x64_emit_jcc32(b, X64_CC_S);
    unsigned seg_start = 0, first_seg = 0;

    uint8_t *exit_fields[RV_TB_MAX_INSNS + 2];
    uint64_t exit_targets[RV_TB_MAX_INSNS + 2];
    int nexits = 0;

    for (;;) {
        if (n > 0 && (n >= RV_TB_MAX_INSNS || rv_fetch(env, cur, &in))) {
            exit_fields[nexits] = x64_emit_jmp32(b);
            exit_targets[nexits++] = cur;
            break;
        }
        if (n == 0 && rv_fetch(env, cur, &in))
            return -1; /* the runtime checked the first fetch */
        n++;
        uint64_t next = cur + in.len;
        k.n = n;
        if (!rv_ends_block(&in)) {
            rv_insn in2;
            if (in.op == RV_OP_SLLI && n < RV_TB_MAX_INSNS && !rv_fetch(env, next, &in2) &&
                rv_try_fuse_extend(&k, &in, &in2)) {
                n++;
                cur = next + in2.len;
                if (b->overflow)
                    return -1;
                continue;
            }
            if (rv_emit_insn(&k, &in, cur) && rv_emit_fp_inline(&k, &in, cur) && rv_emit_fp_mem(&k, &in, cur))
                rv_emit_interp(&k, &in, cur);
            cur = next;
            if (b->overflow)
                return -1;
            continue;
        }
        switch (in.op) {
        case RV_OP_JAL:
            rv_emit_li(&k, in.rd, next);
            exit_fields[nexits] = x64_emit_jmp32(b);
            exit_targets[nexits++] = cur + (uint64_t)in.imm;
            break;
        case RV_OP_JALR: {
            x64_emit_mov_r_rm(b, 8, X64_RAX, rv_gop(k.map, in.rs1));
            if (in.imm)
                x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_RAX), (int32_t)in.imm);
            x64_emit_alu_rm_imm(b, 8, X64_AND, x64_reg(X64_RAX), -2);
            if (in.rd) {
                if (k.map->host[in.rd] >= 0) {
                    x64_emit_mov_imm(b, k.map->host[in.rd], next);
                } else {
                    x64_emit_mov_imm(b, X64_RCX, next);
                    x64_emit_mov_rm_r(b, 8, rv_gop(k.map, in.rd), X64_RCX);
                }
            }
            x64_emit_mov_rm_r(b, 8, x64_mem(X64_RBP, CPU_OFF(pc)), X64_RAX);
            if (env->no_chain) {
                rv_emit_to_leave(&k, -1);
                break;
            }
            /* Indirect jumps and returns: a direct-mapped cache of guest pc -> host code, no dispatcher. */
            x64_emit_mov_r_rm(b, 4, X64_RCX, x64_reg(X64_RAX));
            x64_emit_shift_imm(b, 4, X64_SHL, x64_reg(X64_RCX), 3);
            x64_emit_alu_rm_imm(b, 4, X64_AND, x64_reg(X64_RCX), (int32_t)((RV_JC_SIZE - 1) << 4));
            x64_emit_alu_r_rm(b, 8, X64_CMP, X64_RAX, x64_mem_idx(X64_RBP, X64_RCX, 1, env->jc_off));
            rv_emit_to_leave(&k, X64_CC_NE);
            x64_emit_jmp_rm(b, x64_mem_idx(X64_RBP, X64_RCX, 1, env->jc_off + (int32_t)offsetof(rv_jc_entry, code)));
            break;
        }
        case RV_OP_BEQ: case RV_OP_BNE: case RV_OP_BLT: case RV_OP_BGE: case RV_OP_BLTU: case RV_OP_BGEU: {
            if (n + 4 <= RV_TB_MAX_INSNS && !env->no_chain) {
                unsigned folded = rv_try_if_convert(&k, &in, cur);
                if (folded) {
                    n += folded;
                    cur += (uint64_t)in.imm;
                    if (b->overflow)
                        return -1;
                    continue;
                }
            }
            int taken = rv_emit_branch_cmp(&k, &in);
            exit_fields[nexits] = x64_emit_jcc32(b, taken);
            exit_targets[nexits++] = cur + (uint64_t)in.imm;
            if (n < RV_TB_MAX_INSNS && in.imm > 0) {
                /* Not taken: go on in this block (a superblock); a new segment starts here. Backward branches
                 * end the block, so a loop's back edge stays a chained jump to the loop head. */
                uint32_t cnt = n - seg_start;
                memcpy(count_field, &cnt, 4);
                rv_patch_refunds(&k, n);
                if (seg_start == 0)
                    first_seg = cnt;
                seg_start = n;
                x64_emit_op_rm(b, 8, &opc, 1, X64_SUB, x64_reg(RV_BUDGET_REG));
                count_field = b->p;
                x64_emit_u32(b, 0);
                cur = next;
                if (b->overflow)
                    return -1;
                continue;
            }
            exit_fields[nexits] = x64_emit_jmp32(b);
            exit_targets[nexits++] = next;
            break;
        }
        default:
            /* System instructions, CSR access and illegal encodings: the interpreter sets pc; back to the
             * dispatcher, which looks at interrupts that may have just been enabled. */
            rv_emit_interp(&k, &in, cur);
            rv_emit_to_leave(&k, -1);
            break;
        }
        cur = next;
        break;
    }

    for (int i = 0; i < nexits; i++)
        rv_emit_direct_exit_stub(&k, exit_fields[i], exit_targets[i]);

    /* Out of budget: undo the charge (the block did not run) and return to the dispatcher. */
    x64_patch_rel32(budget_field, b->p);
    if (seg_start == 0)
        first_seg = n;
    x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(RV_BUDGET_REG), (int32_t)first_seg);
    rv_emit_set_pc(b, pc);
    x64_emit_mov_rm_imm32(b, 8, x64_mem(X64_RBP, CPU_OFF(chain_field)), 0);
    x64_patch_rel32(x64_emit_jmp32(b), env->epilogue);

    rv_emit_slow_paths(&k);

    /* pc is already set (helper, jump-cache miss): plain exit without chaining. */
    uint8_t *leave = b->p;
    x64_emit_mov_rm_imm32(b, 8, x64_mem(X64_RBP, CPU_OFF(chain_field)), 0);
    x64_emit_mov_rm_imm32(b, 4, x64_mem(X64_RBP, CPU_OFF(leave)), 0);
    x64_patch_rel32(x64_emit_jmp32(b), env->epilogue);
    if (b->overflow)
        return -1;
    for (unsigned i = 0; i < k.nleave; i++)
        x64_patch_rel32(k.leave_fields[i], leave);
    uint32_t cnt = n - seg_start;
    memcpy(count_field, &cnt, 4);
    rv_patch_refunds(&k, n);

    res->code = start;
    res->code_end = b->p;
    res->pc = pc;
    res->end_pc = cur;
    res->ninsns = n;
    return 0;
}
