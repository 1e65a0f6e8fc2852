/* x64_emit: encoding of the x86-64 instruction forms the recompiler's backend uses (see x64_emit.h). */
#include "x64_emit.h"

#include <string.h>

void x64_emit_byte(x64_buf *b, uint8_t v)
{
    if (b->p >= b->end) {
        b->overflow = 1;
        return;
    }
    *b->p++ = v;
}

void x64_emit_u32(x64_buf *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        x64_emit_byte(b, (uint8_t)(v >> (8 * i)));
}

void x64_emit_u64(x64_buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        x64_emit_byte(b, (uint8_t)(v >> (8 * i)));
}

/* REX is needed for 64-bit size, extended registers, and byte access to SPL..DIL (force_rex). */
static void x64_emit_rex(x64_buf *b, int w, int reg, int index, int base, int force)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg >= 8) ? 4 : 0) | ((index >= 8) ? 2 : 0) |
                            ((base >= 8) ? 1 : 0));
    if (rex != 0x40 || force)
        x64_emit_byte(b, rex);
}

static void x64_emit_modrm(x64_buf *b, int reg, x64_op rm)
{
    reg &= 7;
    if (!rm.is_mem) {
        x64_emit_byte(b, (uint8_t)(0xc0 | (reg << 3) | (rm.reg & 7)));
        return;
    }
    int base = rm.reg, index = rm.index;
    int mod = (rm.disp == 0 && (base & 7) != 5) ? 0 : (rm.disp >= -128 && rm.disp <= 127) ? 1 : 2;
    if (index == X64_NOREG && (base & 7) != 4) {
        x64_emit_byte(b, (uint8_t)((mod << 6) | (reg << 3) | (base & 7)));
    } else {
        int ss = rm.scale == 8 ? 3 : rm.scale == 4 ? 2 : rm.scale == 2 ? 1 : 0;
        int idx = index == X64_NOREG ? 4 : (index & 7);
        x64_emit_byte(b, (uint8_t)((mod << 6) | (reg << 3) | 4));
        x64_emit_byte(b, (uint8_t)((ss << 6) | (idx << 3) | (base & 7)));
    }
    if (mod == 1)
        x64_emit_byte(b, (uint8_t)(int8_t)rm.disp);
    else if (mod == 2)
        x64_emit_u32(b, (uint32_t)rm.disp);
}

static void x64_emit_insn(x64_buf *b, int opsize, const uint8_t *opc, int nopc, int reg, x64_op rm, int byte_regs)
{
    if (opsize == 2)
        x64_emit_byte(b, 0x66);
    int index = rm.is_mem ? rm.index : X64_NOREG;
    int base = rm.reg;
    /* Byte operations on rsp..rdi need a REX prefix to mean SPL..DIL rather than AH..BH. */
    int force = byte_regs && ((reg >= 4 && reg < 8) || (!rm.is_mem && rm.reg >= 4 && rm.reg < 8));
    x64_emit_rex(b, opsize == 8, reg, index < 0 ? 0 : index, base < 0 ? 0 : base, force);
    for (int i = 0; i < nopc; i++)
        x64_emit_byte(b, opc[i]);
    x64_emit_modrm(b, reg, rm);
}

void x64_emit_op_rm(x64_buf *b, int opsize, const uint8_t *opc, int nopc, int reg, x64_op rm)
{
    x64_emit_insn(b, opsize, opc, nopc, reg, rm, opsize == 1);
}

void x64_emit_mov_r_rm(x64_buf *b, int size, int r, x64_op rm)
{
    uint8_t opc = size == 1 ? 0x8a : 0x8b;
    if (!rm.is_mem && rm.reg == r && size == 8)
        return;
    x64_emit_op_rm(b, size, &opc, 1, r, rm);
}

void x64_emit_mov_rm_r(x64_buf *b, int size, x64_op rm, int r)
{
    uint8_t opc = size == 1 ? 0x88 : 0x89;
    if (!rm.is_mem && rm.reg == r && size == 8)
        return;
    x64_emit_op_rm(b, size, &opc, 1, r, rm);
}

void x64_emit_mov_imm(x64_buf *b, int r, uint64_t imm)
{
    if (imm == 0) {
        uint8_t opc = 0x31; /* xor r32, r32 */
        x64_emit_op_rm(b, 4, &opc, 1, r, x64_reg(r));
    } else if (imm <= 0xffffffffu) {
        x64_emit_rex(b, 0, 0, 0, r, 0);
        x64_emit_byte(b, (uint8_t)(0xb8 + (r & 7)));
        x64_emit_u32(b, (uint32_t)imm);
    } else if ((int64_t)imm >= INT32_MIN && (int64_t)imm < 0) {
        x64_emit_mov_rm_imm32(b, 8, x64_reg(r), (int32_t)imm);
    } else {
        x64_emit_rex(b, 1, 0, 0, r, 0);
        x64_emit_byte(b, (uint8_t)(0xb8 + (r & 7)));
        x64_emit_u64(b, imm);
    }
}

void x64_emit_mov_rm_imm32(x64_buf *b, int size, x64_op rm, int32_t imm)
{
    uint8_t opc = 0xc7;
    x64_emit_op_rm(b, size, &opc, 1, 0, rm);
    x64_emit_u32(b, (uint32_t)imm);
}

void x64_emit_alu_r_rm(x64_buf *b, int size, int op, int r, x64_op rm)
{
    uint8_t opc = (uint8_t)(op * 8 + 3);
    x64_emit_op_rm(b, size, &opc, 1, r, rm);
}

void x64_emit_alu_rm_r(x64_buf *b, int size, int op, x64_op rm, int r)
{
    uint8_t opc = (uint8_t)(op * 8 + 1);
    x64_emit_op_rm(b, size, &opc, 1, r, rm);
}

void x64_emit_alu_rm_imm(x64_buf *b, int size, int op, x64_op rm, int32_t imm)
{
    if (size == 1) {
        uint8_t opc = 0x80;
        x64_emit_op_rm(b, 1, &opc, 1, op, rm);
        x64_emit_byte(b, (uint8_t)imm);
    } else if (imm >= -128 && imm <= 127) {
        uint8_t opc = 0x83;
        x64_emit_op_rm(b, size, &opc, 1, op, rm);
        x64_emit_byte(b, (uint8_t)(int8_t)imm);
    } else {
        uint8_t opc = 0x81;
        x64_emit_op_rm(b, size, &opc, 1, op, rm);
        x64_emit_u32(b, (uint32_t)imm);
    }
}

void x64_emit_shift_imm(x64_buf *b, int size, int op, x64_op rm, uint8_t n)
{
    uint8_t opc = 0xc1;
    x64_emit_op_rm(b, size, &opc, 1, op, rm);
    x64_emit_byte(b, n);
}

void x64_emit_shift_cl(x64_buf *b, int size, int op, x64_op rm)
{
    uint8_t opc = 0xd3;
    x64_emit_op_rm(b, size, &opc, 1, op, rm);
}

void x64_emit_imul_r_rm(x64_buf *b, int size, int r, x64_op rm)
{
    static const uint8_t opc[2] = {0x0f, 0xaf};
    x64_emit_op_rm(b, size, opc, 2, r, rm);
}

void x64_emit_mul1(x64_buf *b, int is_signed, x64_op rm)
{
    uint8_t opc = 0xf7;
    x64_emit_op_rm(b, 8, &opc, 1, is_signed ? 5 : 4, rm);
}

void x64_emit_div1(x64_buf *b, int size, int is_signed, x64_op rm)
{
    uint8_t opc = 0xf7;
    x64_emit_op_rm(b, size, &opc, 1, is_signed ? 7 : 6, rm);
}

void x64_emit_neg(x64_buf *b, int size, x64_op rm)
{
    uint8_t opc = 0xf7;
    x64_emit_op_rm(b, size, &opc, 1, 3, rm);
}

void x64_emit_movsxd(x64_buf *b, int r, x64_op rm)
{
    uint8_t opc = 0x63;
    x64_emit_op_rm(b, 8, &opc, 1, r, rm);
}

void x64_emit_movzx(x64_buf *b, int from, int r, x64_op rm)
{
    uint8_t opc[2] = {0x0f, from == 1 ? 0xb6 : 0xb7};
    x64_emit_insn(b, 4, opc, 2, r, rm, from == 1);
}

void x64_emit_movsx(x64_buf *b, int from, int r, x64_op rm)
{
    uint8_t opc[2] = {0x0f, from == 1 ? 0xbe : 0xbf};
    x64_emit_insn(b, 8, opc, 2, r, rm, from == 1);
}

void x64_emit_lea(x64_buf *b, int r, x64_op m)
{
    uint8_t opc = 0x8d;
    x64_emit_op_rm(b, 8, &opc, 1, r, m);
}

void x64_emit_setcc(x64_buf *b, int cc, int r8)
{
    uint8_t opc[2] = {0x0f, (uint8_t)(0x90 | cc)};
    x64_emit_insn(b, 1, opc, 2, 0, x64_reg(r8), 1);
}

void x64_emit_test_r_r(x64_buf *b, int size, int a, int r)
{
    uint8_t opc = size == 1 ? 0x84 : 0x85;
    x64_emit_op_rm(b, size, &opc, 1, r, x64_reg(a));
}

void x64_emit_cmov(x64_buf *b, int cc, int r, x64_op rm)
{
    uint8_t opc[2] = {0x0f, (uint8_t)(0x40 | cc)};
    x64_emit_op_rm(b, 8, opc, 2, r, rm);
}

void x64_emit_cdqe(x64_buf *b)
{
    x64_emit_byte(b, 0x48);
    x64_emit_byte(b, 0x98);
}

void x64_emit_cdq(x64_buf *b)
{
    x64_emit_byte(b, 0x99);
}

void x64_emit_cqo(x64_buf *b)
{
    x64_emit_byte(b, 0x48);
    x64_emit_byte(b, 0x99);
}

uint8_t *x64_emit_jcc32(x64_buf *b, int cc)
{
    x64_emit_byte(b, 0x0f);
    x64_emit_byte(b, (uint8_t)(0x80 | cc));
    uint8_t *field = b->p;
    x64_emit_u32(b, 0);
    return field;
}

uint8_t *x64_emit_jmp32(x64_buf *b)
{
    x64_emit_byte(b, 0xe9);
    uint8_t *field = b->p;
    x64_emit_u32(b, 0);
    return field;
}

uint8_t *x64_emit_jcc8(x64_buf *b, int cc)
{
    x64_emit_byte(b, (uint8_t)(0x70 | cc));
    uint8_t *field = b->p;
    x64_emit_byte(b, 0);
    return field;
}

uint8_t *x64_emit_jmp8(x64_buf *b)
{
    x64_emit_byte(b, 0xeb);
    uint8_t *field = b->p;
    x64_emit_byte(b, 0);
    return field;
}

void x64_emit_jmp_rm(x64_buf *b, x64_op rm)
{
    uint8_t opc = 0xff;
    x64_emit_op_rm(b, 4, &opc, 1, 4, rm);
}

uint8_t *x64_emit_call32(x64_buf *b)
{
    x64_emit_byte(b, 0xe8);
    uint8_t *field = b->p;
    x64_emit_u32(b, 0);
    return field;
}

void x64_emit_call_abs(x64_buf *b, uint64_t addr)
{
    x64_emit_mov_imm(b, X64_RAX, addr);
    uint8_t opc = 0xff;
    x64_emit_op_rm(b, 4, &opc, 1, 2, x64_reg(X64_RAX));
}

void x64_emit_push(x64_buf *b, int r)
{
    x64_emit_rex(b, 0, 0, 0, r, 0);
    x64_emit_byte(b, (uint8_t)(0x50 + (r & 7)));
}

void x64_emit_pop(x64_buf *b, int r)
{
    x64_emit_rex(b, 0, 0, 0, r, 0);
    x64_emit_byte(b, (uint8_t)(0x58 + (r & 7)));
}

void x64_emit_ret(x64_buf *b)
{
    x64_emit_byte(b, 0xc3);
}

void x64_patch_rel32(uint8_t *field, const uint8_t *target)
{
    int32_t rel = (int32_t)(target - (field + 4));
    memcpy(field, &rel, 4);
}

int x64_patch_rel8(uint8_t *field, const uint8_t *target)
{
    ptrdiff_t rel = target - (field + 1);
    if (rel < -128 || rel > 127)
        return -1;
    *field = (uint8_t)(int8_t)rel;
    return 0;
}

void x64_emit_test_rm_imm32(x64_buf *b, x64_op rm, uint32_t imm)
{
    uint8_t opc = 0xf7;
    x64_emit_op_rm(b, 4, &opc, 1, 0, rm);
    x64_emit_u32(b, imm);
}
