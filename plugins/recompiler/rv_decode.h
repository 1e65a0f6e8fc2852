/*
 * rv_decode: RISC-V RV64GC (IMAFDC + Zicsr + Zifencei) + Zba/Zbb/Zbs instruction decoding into one flat form (compressed
 * instructions are expanded to their 32-bit equivalents), shared by the translator and the disassembler.
 */
#ifndef RV_DECODE_H
#define RV_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define RV_OPS(X) \
    X(ILLEGAL, "illegal") X(LUI, "lui") X(AUIPC, "auipc") X(JAL, "jal") X(JALR, "jalr") \
    X(BEQ, "beq") X(BNE, "bne") X(BLT, "blt") X(BGE, "bge") X(BLTU, "bltu") X(BGEU, "bgeu") \
    X(LB, "lb") X(LH, "lh") X(LW, "lw") X(LD, "ld") X(LBU, "lbu") X(LHU, "lhu") X(LWU, "lwu") \
    X(SB, "sb") X(SH, "sh") X(SW, "sw") X(SD, "sd") \
    X(ADDI, "addi") X(SLTI, "slti") X(SLTIU, "sltiu") X(XORI, "xori") X(ORI, "ori") X(ANDI, "andi") \
    X(SLLI, "slli") X(SRLI, "srli") X(SRAI, "srai") \
    X(ADD, "add") X(SUB, "sub") X(SLL, "sll") X(SLT, "slt") X(SLTU, "sltu") X(XOR, "xor") X(SRL, "srl") \
    X(SRA, "sra") X(OR, "or") X(AND, "and") \
    X(ADDIW, "addiw") X(SLLIW, "slliw") X(SRLIW, "srliw") X(SRAIW, "sraiw") \
    X(ADDW, "addw") X(SUBW, "subw") X(SLLW, "sllw") X(SRLW, "srlw") X(SRAW, "sraw") \
    X(MUL, "mul") X(MULH, "mulh") X(MULHSU, "mulhsu") X(MULHU, "mulhu") X(DIV, "div") X(DIVU, "divu") \
    X(REM, "rem") X(REMU, "remu") X(MULW, "mulw") X(DIVW, "divw") X(DIVUW, "divuw") X(REMW, "remw") \
    X(REMUW, "remuw") \
    X(FENCE, "fence") X(FENCE_I, "fence.i") X(ECALL, "ecall") X(EBREAK, "ebreak") X(MRET, "mret") X(SRET, "sret") \
    X(WFI, "wfi") X(SFENCE_VMA, "sfence.vma") \
    X(CSRRW, "csrrw") X(CSRRS, "csrrs") X(CSRRC, "csrrc") X(CSRRWI, "csrrwi") X(CSRRSI, "csrrsi") \
    X(CSRRCI, "csrrci") \
    X(LR_W, "lr.w") X(SC_W, "sc.w") X(AMOSWAP_W, "amoswap.w") X(AMOADD_W, "amoadd.w") \
    X(AMOXOR_W, "amoxor.w") X(AMOAND_W, "amoand.w") X(AMOOR_W, "amoor.w") X(AMOMIN_W, "amomin.w") \
    X(AMOMAX_W, "amomax.w") X(AMOMINU_W, "amominu.w") X(AMOMAXU_W, "amomaxu.w") \
    X(LR_D, "lr.d") X(SC_D, "sc.d") X(AMOSWAP_D, "amoswap.d") X(AMOADD_D, "amoadd.d") \
    X(AMOXOR_D, "amoxor.d") X(AMOAND_D, "amoand.d") X(AMOOR_D, "amoor.d") X(AMOMIN_D, "amomin.d") \
    X(AMOMAX_D, "amomax.d") X(AMOMINU_D, "amominu.d") X(AMOMAXU_D, "amomaxu.d") \
    RV_FP_OPS(X, S, ".s", W, w) RV_FP_OPS(X, D, ".d", D, d) \
    X(FCVT_S_D, "fcvt.s.d") X(FCVT_D_S, "fcvt.d.s") \
    RV_ZB_OPS(X)

/* F and D: the same operations in the same order for both precisions (RV_OP_xxx_D - RV_OP_xxx_S is constant);
 * rs3 and rm are read from the raw encoding. FMV.X.W / FMV.W.X are the S forms of FMV_X / FMV_F. */
#define RV_FP_OPS(X, P, p, M, m) \
    X(FL##M, "fl" #m) X(FS##M, "fs" #m) \
    X(FMADD_##P, "fmadd" p) X(FMSUB_##P, "fmsub" p) X(FNMSUB_##P, "fnmsub" p) X(FNMADD_##P, "fnmadd" p) \
    X(FADD_##P, "fadd" p) X(FSUB_##P, "fsub" p) X(FMUL_##P, "fmul" p) X(FDIV_##P, "fdiv" p) \
    X(FSQRT_##P, "fsqrt" p) X(FSGNJ_##P, "fsgnj" p) X(FSGNJN_##P, "fsgnjn" p) X(FSGNJX_##P, "fsgnjx" p) \
    X(FMIN_##P, "fmin" p) X(FMAX_##P, "fmax" p) X(FEQ_##P, "feq" p) X(FLT_##P, "flt" p) X(FLE_##P, "fle" p) \
    X(FCLASS_##P, "fclass" p) \
    X(FCVT_W_##P, "fcvt.w" p) X(FCVT_WU_##P, "fcvt.wu" p) X(FCVT_L_##P, "fcvt.l" p) X(FCVT_LU_##P, "fcvt.lu" p) \
    X(FCVT_##P##_W, "fcvt" p ".w") X(FCVT_##P##_WU, "fcvt" p ".wu") X(FCVT_##P##_L, "fcvt" p ".l") \
    X(FCVT_##P##_LU, "fcvt" p ".lu") X(FMV_X_##P, "fmv.x." #m) X(FMV_##P##_X, "fmv." #m ".x")

/* Zba, Zbb, Zbs. */
#define RV_ZB_OPS(X) \
    X(ADD_UW, "add.uw") X(SH1ADD, "sh1add") X(SH2ADD, "sh2add") X(SH3ADD, "sh3add") X(SH1ADD_UW, "sh1add.uw") \
    X(SH2ADD_UW, "sh2add.uw") X(SH3ADD_UW, "sh3add.uw") X(SLLI_UW, "slli.uw") \
    X(ANDN, "andn") X(ORN, "orn") X(XNOR, "xnor") X(CLZ, "clz") X(CTZ, "ctz") X(CPOP, "cpop") X(CLZW, "clzw") \
    X(CTZW, "ctzw") X(CPOPW, "cpopw") X(MAX, "max") X(MAXU, "maxu") X(MIN, "min") X(MINU, "minu") \
    X(SEXT_B, "sext.b") X(SEXT_H, "sext.h") X(ZEXT_H, "zext.h") X(ROL, "rol") X(ROR, "ror") X(ROLW, "rolw") \
    X(RORW, "rorw") X(RORI, "rori") X(RORIW, "roriw") X(ORC_B, "orc.b") X(REV8, "rev8") \
    X(BCLR, "bclr") X(BSET, "bset") X(BINV, "binv") X(BEXT, "bext") X(BCLRI, "bclri") X(BSETI, "bseti") \
    X(BINVI, "binvi") X(BEXTI, "bexti")

#define RV_OP_ENUM(n, s) RV_OP_##n,
typedef enum rv_op { RV_OPS(RV_OP_ENUM) RV_OP_COUNT } rv_op;
#undef RV_OP_ENUM

typedef struct rv_insn {
    rv_op op;
    uint8_t rd, rs1, rs2;
    uint8_t len;     /* 2 (compressed) or 4 */
    uint8_t aq_rl;   /* AMO ordering bits, kept for the disassembly */
    int64_t imm;     /* sign-extended immediate; shift amount; for CSR ops the zimm (rs1 field) */
    uint16_t csr;
    uint32_t raw;    /* the original encoding (16 or 32 bits) */
} rv_insn;

/* Length in bytes of the instruction whose first 16 bits are lo (2 or 4). */
static inline unsigned rv_insn_length(uint16_t lo)
{
    return (lo & 3) == 3 ? 4 : 2;
}

/* Decode the instruction in raw (the low 16 bits are enough for a compressed one). Unknown or reserved
 * encodings give RV_OP_ILLEGAL. */
void rv_decode(uint32_t raw, rv_insn *out);
const char *rv_op_name(rv_op op);
/* One line of assembly, without the address; returns buf. */
char *rv_disas(const rv_insn *in, uint64_t pc, char *buf, size_t len);
const char *rv_reg_name(unsigned r);
/* The extensions' encodings (rv_decode_ext.c), tried by rv_decode where the base ones give RV_OP_ILLEGAL. */
void rv_decode_ext(uint32_t raw, rv_insn *out);
void rv_decode_ext_compressed(uint32_t raw, rv_insn *out);
/* Disassembly of the extensions' instructions (op >= RV_OP_FLW); returns buf. */
char *rv_disas_ext(const rv_insn *in, char *buf, size_t len);
/* Floating-point operations: which precision (0 S, 1 D), and the S form of a D operation. */
#define RV_FP_DELTA (RV_OP_FLD - RV_OP_FLW)
static inline int rv_op_is_fp(rv_op op)
{
    return op >= RV_OP_FLW && op <= RV_OP_FCVT_D_S;
}

#endif
