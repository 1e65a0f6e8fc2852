/*
 * rv_decode: RISC-V RV64IMAC + Zicsr + Zifencei instruction decoding into one flat form (compressed
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
    X(AMOMAX_D, "amomax.d") X(AMOMINU_D, "amominu.d") X(AMOMAXU_D, "amomaxu.d")

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

#endif
