/*
 * x64_emit: a minimal x86-64 machine-code encoder for the recompiler's backend. It knows only the instruction
 * forms the translator needs; operands are either host registers or [base + index*scale + disp] memory.
 */
#ifndef X64_EMIT_H
#define X64_EMIT_H

#include <stddef.h>
#include <stdint.h>

enum { X64_RAX, X64_RCX, X64_RDX, X64_RBX, X64_RSP, X64_RBP, X64_RSI, X64_RDI,
       X64_R8, X64_R9, X64_R10, X64_R11, X64_R12, X64_R13, X64_R14, X64_R15, X64_NOREG = -1 };

/* A register or memory operand. */
typedef struct x64_op {
    int is_mem;
    int reg;   /* register operand, or memory base (X64_NOREG: none) */
    int index; /* X64_NOREG: none */
    int scale; /* 1, 2, 4, 8 */
    int32_t disp;
} x64_op;

typedef struct x64_buf {
    uint8_t *p;   /* next byte (in the writable view) */
    uint8_t *end;
    int overflow; /* set when a write would pass end; the caller discards the block */
} x64_buf;

static inline x64_op x64_reg(int r) { return (x64_op){0, r, X64_NOREG, 1, 0}; }
static inline x64_op x64_mem(int base, int32_t disp) { return (x64_op){1, base, X64_NOREG, 1, disp}; }
static inline x64_op x64_mem_idx(int base, int index, int scale, int32_t disp)
{
    return (x64_op){1, base, index, scale, disp};
}

/* Condition codes (the low nibble of Jcc/SETcc). */
enum { X64_CC_O = 0, X64_CC_B = 2, X64_CC_AE = 3, X64_CC_E = 4, X64_CC_NE = 5, X64_CC_BE = 6, X64_CC_A = 7,
       X64_CC_S = 8, X64_CC_L = 0xc, X64_CC_GE = 0xd, X64_CC_LE = 0xe, X64_CC_G = 0xf };

/* ALU group-1 operations (the /n of 81 /n, and opcode base = n*8). */
enum { X64_ADD = 0, X64_OR = 1, X64_AND = 4, X64_SUB = 5, X64_XOR = 6, X64_CMP = 7 };
/* Shift group-2 operations (/n of C1, D3). */
enum { X64_ROL = 0, X64_ROR = 1, X64_SHL = 4, X64_SHR = 5, X64_SAR = 7 };

void x64_emit_byte(x64_buf *b, uint8_t v);
void x64_emit_u32(x64_buf *b, uint32_t v);
void x64_emit_u64(x64_buf *b, uint64_t v);
/* Generic: [66] [REX] opcode bytes modrm(reg field, rm). opsize: 1, 2, 4, 8 (REX.W for 8; 66 for 2). */
void x64_emit_op_rm(x64_buf *b, int opsize, const uint8_t *opc, int nopc, int reg, x64_op rm);

void x64_emit_mov_r_rm(x64_buf *b, int size, int r, x64_op rm);    /* r = rm (size 4 zero-extends) */
void x64_emit_mov_rm_r(x64_buf *b, int size, x64_op rm, int r);    /* rm = r */
void x64_emit_mov_imm(x64_buf *b, int r, uint64_t imm);            /* shortest form */
void x64_emit_mov_rm_imm32(x64_buf *b, int size, x64_op rm, int32_t imm); /* C7 /0, sign-extended for 8 */
void x64_emit_alu_r_rm(x64_buf *b, int size, int op, int r, x64_op rm);   /* r op= rm */
void x64_emit_alu_rm_r(x64_buf *b, int size, int op, x64_op rm, int r);   /* rm op= r */
void x64_emit_alu_rm_imm(x64_buf *b, int size, int op, x64_op rm, int32_t imm);
void x64_emit_shift_imm(x64_buf *b, int size, int op, x64_op rm, uint8_t n);
void x64_emit_shift_cl(x64_buf *b, int size, int op, x64_op rm);
void x64_emit_imul_r_rm(x64_buf *b, int size, int r, x64_op rm);
void x64_emit_mul1(x64_buf *b, int is_signed, x64_op rm);          /* rdx:rax = rax * rm (64-bit) */
/* div/idiv rm (F7 /6, /7), size 4 or 8: rdx:rax (edx:eax) / rm, quotient in rax, remainder in rdx (#DE on a
 * zero divisor or a quotient that does not fit: the caller must rule both out). */
void x64_emit_div1(x64_buf *b, int size, int is_signed, x64_op rm);
void x64_emit_neg(x64_buf *b, int size, x64_op rm);                 /* rm = -rm */
void x64_emit_movsxd(x64_buf *b, int r, x64_op rm);                /* r = (int64)(int32)rm */
void x64_emit_movzx(x64_buf *b, int from, int r, x64_op rm);        /* from 1 or 2 bytes, into r (64-bit) */
void x64_emit_movsx(x64_buf *b, int from, int r, x64_op rm);        /* from 1 or 2 bytes, into r (64-bit) */
void x64_emit_lea(x64_buf *b, int r, x64_op m);
void x64_emit_setcc(x64_buf *b, int cc, int r8);                    /* r8 must be AL, CL, DL or BL */
void x64_emit_test_r_r(x64_buf *b, int size, int a, int r);
void x64_emit_test_rm_imm32(x64_buf *b, x64_op rm, uint32_t imm); /* test dword rm, imm */
void x64_emit_cdqe(x64_buf *b);
void x64_emit_cdq(x64_buf *b);                                       /* edx = sign of eax */
void x64_emit_cqo(x64_buf *b);                                       /* rdx = sign of rax */
void x64_emit_cmov(x64_buf *b, int cc, int r, x64_op rm); /* 64-bit: if cc, r = rm */
/* Jumps with a rel32 field; return the address of that field (for later patching). */
uint8_t *x64_emit_jcc32(x64_buf *b, int cc);
uint8_t *x64_emit_jmp32(x64_buf *b);
/* Short jumps with a rel8 field (for branches within one instruction's code); patch with x64_patch_rel8. */
uint8_t *x64_emit_jcc8(x64_buf *b, int cc);
uint8_t *x64_emit_jmp8(x64_buf *b);
void x64_emit_jmp_rm(x64_buf *b, x64_op rm);
void x64_emit_call_abs(x64_buf *b, uint64_t addr); /* through rax */
uint8_t *x64_emit_call32(x64_buf *b);           /* call rel32: patch the field with x64_patch_rel32 */
void x64_emit_push(x64_buf *b, int r);
void x64_emit_pop(x64_buf *b, int r);
void x64_emit_ret(x64_buf *b);
/* Point a rel32 field (written in the same view as b) at target (an address in that view). */
void x64_patch_rel32(uint8_t *field, const uint8_t *target);
/* The same for a rel8 field; returns -1 (and leaves it alone) when target is out of reach. */
int x64_patch_rel8(uint8_t *field, const uint8_t *target);

#endif
