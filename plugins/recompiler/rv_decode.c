/* rv_decode: RV64IMAC + Zicsr + Zifencei decoding (the other extensions are in rv_decode_ext.c) and disassembly (see rv_decode.h). */
#include "rv_decode.h"

#include <inttypes.h>
#include <stdio.h>

#define RV_OP_NAME(n, s) s,
static const char *const rv_op_names[] = { RV_OPS(RV_OP_NAME) };
#undef RV_OP_NAME

const char *rv_op_name(rv_op op)
{
    return (unsigned)op < RV_OP_COUNT ? rv_op_names[op] : "?";
}

static inline uint32_t rv_bits(uint32_t v, int hi, int lo)
{
    return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static inline int64_t rv_sext(uint64_t v, int bits)
{
    return (int64_t)(v << (64 - bits)) >> (64 - bits);
}

static void rv_set(rv_insn *o, rv_op op, unsigned rd, unsigned rs1, unsigned rs2, int64_t imm)
{
    o->op = op;
    o->rd = (uint8_t)rd;
    o->rs1 = (uint8_t)rs1;
    o->rs2 = (uint8_t)rs2;
    o->imm = imm;
}

static void rv_decode_compressed(uint32_t c, rv_insn *o)
{
    unsigned f3 = rv_bits(c, 15, 13);
    unsigned rd = rv_bits(c, 11, 7), rs2 = rv_bits(c, 6, 2);
    unsigned rdp = rv_bits(c, 4, 2) + 8, rs1p = rv_bits(c, 9, 7) + 8;
    int64_t imm6 = rv_sext((rv_bits(c, 12, 12) << 5) | rv_bits(c, 6, 2), 6);
    uint32_t u;

    switch ((c & 3) << 3 | f3) {
    case 0 << 3 | 0: /* c.addi4spn */
        u = (rv_bits(c, 12, 11) << 4) | (rv_bits(c, 10, 7) << 6) | (rv_bits(c, 6, 6) << 2) | (rv_bits(c, 5, 5) << 3);
        if (u)
            rv_set(o, RV_OP_ADDI, rdp, 2, 0, u);
        break;
    case 0 << 3 | 2: /* c.lw */
        u = (rv_bits(c, 12, 10) << 3) | (rv_bits(c, 6, 6) << 2) | (rv_bits(c, 5, 5) << 6);
        rv_set(o, RV_OP_LW, rdp, rs1p, 0, u);
        break;
    case 0 << 3 | 3: /* c.ld */
        u = (rv_bits(c, 12, 10) << 3) | (rv_bits(c, 6, 5) << 6);
        rv_set(o, RV_OP_LD, rdp, rs1p, 0, u);
        break;
    case 0 << 3 | 6: /* c.sw */
        u = (rv_bits(c, 12, 10) << 3) | (rv_bits(c, 6, 6) << 2) | (rv_bits(c, 5, 5) << 6);
        rv_set(o, RV_OP_SW, 0, rs1p, rdp, u);
        break;
    case 0 << 3 | 7: /* c.sd */
        u = (rv_bits(c, 12, 10) << 3) | (rv_bits(c, 6, 5) << 6);
        rv_set(o, RV_OP_SD, 0, rs1p, rdp, u);
        break;
    case 1 << 3 | 0: /* c.addi, c.nop */
        rv_set(o, RV_OP_ADDI, rd, rd, 0, imm6);
        break;
    case 1 << 3 | 1: /* c.addiw */
        if (rd)
            rv_set(o, RV_OP_ADDIW, rd, rd, 0, imm6);
        break;
    case 1 << 3 | 2: /* c.li */
        rv_set(o, RV_OP_ADDI, rd, 0, 0, imm6);
        break;
    case 1 << 3 | 3:
        if (rd == 2) { /* c.addi16sp */
            u = (rv_bits(c, 12, 12) << 9) | (rv_bits(c, 6, 6) << 4) | (rv_bits(c, 5, 5) << 6) |
                (rv_bits(c, 4, 3) << 7) | (rv_bits(c, 2, 2) << 5);
            if (u)
                rv_set(o, RV_OP_ADDI, 2, 2, 0, rv_sext(u, 10));
        } else if (imm6) { /* c.lui */
            rv_set(o, RV_OP_LUI, rd, 0, 0, (int64_t)((uint64_t)imm6 << 12));
        }
        break;
    case 1 << 3 | 4: {
        unsigned f2 = rv_bits(c, 11, 10);
        unsigned sh = (rv_bits(c, 12, 12) << 5) | rv_bits(c, 6, 2);
        if (f2 == 0)
            rv_set(o, RV_OP_SRLI, rs1p, rs1p, 0, sh);
        else if (f2 == 1)
            rv_set(o, RV_OP_SRAI, rs1p, rs1p, 0, sh);
        else if (f2 == 2)
            rv_set(o, RV_OP_ANDI, rs1p, rs1p, 0, imm6);
        else {
            static const rv_op ops[8] = { RV_OP_SUB, RV_OP_XOR, RV_OP_OR, RV_OP_AND,
                                          RV_OP_SUBW, RV_OP_ADDW, RV_OP_ILLEGAL, RV_OP_ILLEGAL };
            rv_op op = ops[(rv_bits(c, 12, 12) << 2) | rv_bits(c, 6, 5)];
            if (op != RV_OP_ILLEGAL)
                rv_set(o, op, rs1p, rs1p, rdp, 0);
        }
        break;
    }
    case 1 << 3 | 5: /* c.j */
        u = (rv_bits(c, 12, 12) << 11) | (rv_bits(c, 11, 11) << 4) | (rv_bits(c, 10, 9) << 8) |
            (rv_bits(c, 8, 8) << 10) | (rv_bits(c, 7, 7) << 6) | (rv_bits(c, 6, 6) << 7) |
            (rv_bits(c, 5, 3) << 1) | (rv_bits(c, 2, 2) << 5);
        rv_set(o, RV_OP_JAL, 0, 0, 0, rv_sext(u, 12));
        break;
    case 1 << 3 | 6: /* c.beqz */
    case 1 << 3 | 7: /* c.bnez */
        u = (rv_bits(c, 12, 12) << 8) | (rv_bits(c, 11, 10) << 3) | (rv_bits(c, 6, 5) << 6) |
            (rv_bits(c, 4, 3) << 1) | (rv_bits(c, 2, 2) << 5);
        rv_set(o, f3 == 6 ? RV_OP_BEQ : RV_OP_BNE, 0, rs1p, 0, rv_sext(u, 9));
        break;
    case 2 << 3 | 0: /* c.slli */
        rv_set(o, RV_OP_SLLI, rd, rd, 0, (rv_bits(c, 12, 12) << 5) | rv_bits(c, 6, 2));
        break;
    case 2 << 3 | 2: /* c.lwsp */
        u = (rv_bits(c, 12, 12) << 5) | (rv_bits(c, 6, 4) << 2) | (rv_bits(c, 3, 2) << 6);
        if (rd)
            rv_set(o, RV_OP_LW, rd, 2, 0, u);
        break;
    case 2 << 3 | 3: /* c.ldsp */
        u = (rv_bits(c, 12, 12) << 5) | (rv_bits(c, 6, 5) << 3) | (rv_bits(c, 4, 2) << 6);
        if (rd)
            rv_set(o, RV_OP_LD, rd, 2, 0, u);
        break;
    case 2 << 3 | 4:
        if (!rv_bits(c, 12, 12)) {
            if (rs2 == 0) {
                if (rd)
                    rv_set(o, RV_OP_JALR, 0, rd, 0, 0); /* c.jr */
            } else {
                rv_set(o, RV_OP_ADD, rd, 0, rs2, 0); /* c.mv */
            }
        } else {
            if (rd == 0 && rs2 == 0)
                rv_set(o, RV_OP_EBREAK, 0, 0, 0, 0);
            else if (rs2 == 0)
                rv_set(o, RV_OP_JALR, 1, rd, 0, 0); /* c.jalr */
            else
                rv_set(o, RV_OP_ADD, rd, rd, rs2, 0);
        }
        break;
    case 2 << 3 | 6: /* c.swsp */
        u = (rv_bits(c, 12, 9) << 2) | (rv_bits(c, 8, 7) << 6);
        rv_set(o, RV_OP_SW, 0, 2, rs2, u);
        break;
    case 2 << 3 | 7: /* c.sdsp */
        u = (rv_bits(c, 12, 10) << 3) | (rv_bits(c, 9, 7) << 6);
        rv_set(o, RV_OP_SD, 0, 2, rs2, u);
        break;
    default: /* floating point and reserved encodings */
        rv_decode_ext_compressed(c, o);
        break;
    }
}

void rv_decode(uint32_t raw, rv_insn *o)
{
    *o = (rv_insn){ .op = RV_OP_ILLEGAL };
    if ((raw & 3) != 3) {
        o->len = 2;
        o->raw = raw & 0xffff;
        if (o->raw != 0)
            rv_decode_compressed(o->raw, o);
        return;
    }
    o->len = 4;
    o->raw = raw;
    unsigned opc = raw & 0x7f, rd = rv_bits(raw, 11, 7), f3 = rv_bits(raw, 14, 12);
    unsigned rs1 = rv_bits(raw, 19, 15), rs2 = rv_bits(raw, 24, 20), f7 = raw >> 25;
    int64_t imm_i = (int32_t)raw >> 20;
    int64_t imm_s = (int64_t)(((int32_t)raw >> 25) * 32) | (int64_t)rv_bits(raw, 11, 7);
    int64_t imm_b = rv_sext((rv_bits(raw, 31, 31) << 12) | (rv_bits(raw, 7, 7) << 11) | (rv_bits(raw, 30, 25) << 5) |
                                (rv_bits(raw, 11, 8) << 1), 13);
    int64_t imm_u = (int32_t)(raw & 0xfffff000u);
    int64_t imm_j = rv_sext((rv_bits(raw, 31, 31) << 20) | (rv_bits(raw, 19, 12) << 12) | (rv_bits(raw, 20, 20) << 11) |
                                (rv_bits(raw, 30, 21) << 1), 21);

    switch (opc) {
    case 0x37:
        rv_set(o, RV_OP_LUI, rd, 0, 0, imm_u);
        break;
    case 0x17:
        rv_set(o, RV_OP_AUIPC, rd, 0, 0, imm_u);
        break;
    case 0x6f:
        rv_set(o, RV_OP_JAL, rd, 0, 0, imm_j);
        break;
    case 0x67:
        if (f3 == 0)
            rv_set(o, RV_OP_JALR, rd, rs1, 0, imm_i);
        break;
    case 0x63: {
        static const rv_op ops[8] = { RV_OP_BEQ, RV_OP_BNE, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
                                      RV_OP_BLT, RV_OP_BGE, RV_OP_BLTU, RV_OP_BGEU };
        if (ops[f3] != RV_OP_ILLEGAL)
            rv_set(o, ops[f3], 0, rs1, rs2, imm_b);
        break;
    }
    case 0x03: {
        static const rv_op ops[8] = { RV_OP_LB, RV_OP_LH, RV_OP_LW, RV_OP_LD,
                                      RV_OP_LBU, RV_OP_LHU, RV_OP_LWU, RV_OP_ILLEGAL };
        if (ops[f3] != RV_OP_ILLEGAL)
            rv_set(o, ops[f3], rd, rs1, 0, imm_i);
        break;
    }
    case 0x23:
        if (f3 < 4)
            rv_set(o, (rv_op)(RV_OP_SB + f3), 0, rs1, rs2, imm_s);
        break;
    case 0x13: {
        unsigned f6 = raw >> 26, sh = rv_bits(raw, 25, 20);
        switch (f3) {
        case 0: rv_set(o, RV_OP_ADDI, rd, rs1, 0, imm_i); break;
        case 2: rv_set(o, RV_OP_SLTI, rd, rs1, 0, imm_i); break;
        case 3: rv_set(o, RV_OP_SLTIU, rd, rs1, 0, imm_i); break;
        case 4: rv_set(o, RV_OP_XORI, rd, rs1, 0, imm_i); break;
        case 6: rv_set(o, RV_OP_ORI, rd, rs1, 0, imm_i); break;
        case 7: rv_set(o, RV_OP_ANDI, rd, rs1, 0, imm_i); break;
        case 1: if (f6 == 0) rv_set(o, RV_OP_SLLI, rd, rs1, 0, sh); break;
        case 5:
            if (f6 == 0)
                rv_set(o, RV_OP_SRLI, rd, rs1, 0, sh);
            else if (f6 == 0x10)
                rv_set(o, RV_OP_SRAI, rd, rs1, 0, sh);
            break;
        }
        break;
    }
    case 0x1b:
        if (f3 == 0)
            rv_set(o, RV_OP_ADDIW, rd, rs1, 0, imm_i);
        else if (f3 == 1 && f7 == 0)
            rv_set(o, RV_OP_SLLIW, rd, rs1, 0, rs2);
        else if (f3 == 5 && f7 == 0)
            rv_set(o, RV_OP_SRLIW, rd, rs1, 0, rs2);
        else if (f3 == 5 && f7 == 0x20)
            rv_set(o, RV_OP_SRAIW, rd, rs1, 0, rs2);
        break;
    case 0x33: {
        static const rv_op base[8] = { RV_OP_ADD, RV_OP_SLL, RV_OP_SLT, RV_OP_SLTU,
                                       RV_OP_XOR, RV_OP_SRL, RV_OP_OR, RV_OP_AND };
        static const rv_op mul[8] = { RV_OP_MUL, RV_OP_MULH, RV_OP_MULHSU, RV_OP_MULHU,
                                      RV_OP_DIV, RV_OP_DIVU, RV_OP_REM, RV_OP_REMU };
        if (f7 == 0)
            rv_set(o, base[f3], rd, rs1, rs2, 0);
        else if (f7 == 1)
            rv_set(o, mul[f3], rd, rs1, rs2, 0);
        else if (f7 == 0x20 && f3 == 0)
            rv_set(o, RV_OP_SUB, rd, rs1, rs2, 0);
        else if (f7 == 0x20 && f3 == 5)
            rv_set(o, RV_OP_SRA, rd, rs1, rs2, 0);
        break;
    }
    case 0x3b:
        if (f7 == 0 && f3 == 0) rv_set(o, RV_OP_ADDW, rd, rs1, rs2, 0);
        else if (f7 == 0 && f3 == 1) rv_set(o, RV_OP_SLLW, rd, rs1, rs2, 0);
        else if (f7 == 0 && f3 == 5) rv_set(o, RV_OP_SRLW, rd, rs1, rs2, 0);
        else if (f7 == 0x20 && f3 == 0) rv_set(o, RV_OP_SUBW, rd, rs1, rs2, 0);
        else if (f7 == 0x20 && f3 == 5) rv_set(o, RV_OP_SRAW, rd, rs1, rs2, 0);
        else if (f7 == 1) {
            static const rv_op mw[8] = { RV_OP_MULW, RV_OP_ILLEGAL, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
                                         RV_OP_DIVW, RV_OP_DIVUW, RV_OP_REMW, RV_OP_REMUW };
            if (mw[f3] != RV_OP_ILLEGAL)
                rv_set(o, mw[f3], rd, rs1, rs2, 0);
        }
        break;
    case 0x0f:
        if (f3 == 0)
            rv_set(o, RV_OP_FENCE, 0, 0, 0, 0);
        else if (f3 == 1)
            rv_set(o, RV_OP_FENCE_I, 0, 0, 0, 0);
        break;
    case 0x73:
        if (f3 == 0) {
            if (raw == 0x00000073) rv_set(o, RV_OP_ECALL, 0, 0, 0, 0);
            else if (raw == 0x00100073) rv_set(o, RV_OP_EBREAK, 0, 0, 0, 0);
            else if (raw == 0x30200073) rv_set(o, RV_OP_MRET, 0, 0, 0, 0);
            else if (raw == 0x10200073) rv_set(o, RV_OP_SRET, 0, 0, 0, 0);
            else if (raw == 0x10500073) rv_set(o, RV_OP_WFI, 0, 0, 0, 0);
            else if ((raw & 0xfe007fffu) == 0x12000073u) rv_set(o, RV_OP_SFENCE_VMA, 0, rs1, rs2, 0);
        } else if (f3 != 4) {
            static const rv_op ops[8] = { RV_OP_ILLEGAL, RV_OP_CSRRW, RV_OP_CSRRS, RV_OP_CSRRC,
                                          RV_OP_ILLEGAL, RV_OP_CSRRWI, RV_OP_CSRRSI, RV_OP_CSRRCI };
            rv_set(o, ops[f3], rd, rs1, 0, rs1);
            o->csr = (uint16_t)(raw >> 20);
        }
        break;
    case 0x2f: {
        unsigned f5 = raw >> 27;
        int d = f3 == 3;
        rv_op op = RV_OP_ILLEGAL;
        if (f3 != 2 && f3 != 3)
            break;
        switch (f5) {
        case 0x02: if (rs2 == 0) op = d ? RV_OP_LR_D : RV_OP_LR_W; break;
        case 0x03: op = d ? RV_OP_SC_D : RV_OP_SC_W; break;
        case 0x01: op = d ? RV_OP_AMOSWAP_D : RV_OP_AMOSWAP_W; break;
        case 0x00: op = d ? RV_OP_AMOADD_D : RV_OP_AMOADD_W; break;
        case 0x04: op = d ? RV_OP_AMOXOR_D : RV_OP_AMOXOR_W; break;
        case 0x0c: op = d ? RV_OP_AMOAND_D : RV_OP_AMOAND_W; break;
        case 0x08: op = d ? RV_OP_AMOOR_D : RV_OP_AMOOR_W; break;
        case 0x10: op = d ? RV_OP_AMOMIN_D : RV_OP_AMOMIN_W; break;
        case 0x14: op = d ? RV_OP_AMOMAX_D : RV_OP_AMOMAX_W; break;
        case 0x18: op = d ? RV_OP_AMOMINU_D : RV_OP_AMOMINU_W; break;
        case 0x1c: op = d ? RV_OP_AMOMAXU_D : RV_OP_AMOMAXU_W; break;
        }
        if (op != RV_OP_ILLEGAL) {
            rv_set(o, op, rd, rs1, rs2, 0);
            o->aq_rl = (uint8_t)rv_bits(raw, 26, 25);
        }
        break;
    }
    default:
        break;
    }
    if (o->op == RV_OP_ILLEGAL)
        rv_decode_ext(raw, o);
}

const char *rv_reg_name(unsigned r)
{
    static const char *const names[32] = {
        "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
        "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6" };
    return r < 32 ? names[r] : "?";
}

char *rv_disas(const rv_insn *in, uint64_t pc, char *buf, size_t len)
{
    const char *n = rv_op_name(in->op);
    const char *rd = rv_reg_name(in->rd), *rs1 = rv_reg_name(in->rs1), *rs2 = rv_reg_name(in->rs2);
    rv_op op = in->op;

    if (op >= RV_OP_FLW)
        rv_disas_ext(in, buf, len);
    else if (op == RV_OP_ILLEGAL)
        snprintf(buf, len, "illegal 0x%0*" PRIx32, in->len == 2 ? 4 : 8, in->raw);
    else if (op == RV_OP_LUI || op == RV_OP_AUIPC)
        snprintf(buf, len, "%s %s, 0x%" PRIx64, n, rd, ((uint64_t)in->imm >> 12) & 0xfffff);
    else if (op == RV_OP_JAL)
        snprintf(buf, len, "%s %s, 0x%" PRIx64, n, rd, pc + (uint64_t)in->imm);
    else if (op >= RV_OP_BEQ && op <= RV_OP_BGEU)
        snprintf(buf, len, "%s %s, %s, 0x%" PRIx64, n, rs1, rs2, pc + (uint64_t)in->imm);
    else if (op == RV_OP_JALR || (op >= RV_OP_LB && op <= RV_OP_LWU))
        snprintf(buf, len, "%s %s, %" PRId64 "(%s)", n, rd, in->imm, rs1);
    else if (op >= RV_OP_SB && op <= RV_OP_SD)
        snprintf(buf, len, "%s %s, %" PRId64 "(%s)", n, rs2, in->imm, rs1);
    else if ((op >= RV_OP_ADDI && op <= RV_OP_SRAI) || (op >= RV_OP_ADDIW && op <= RV_OP_SRAIW))
        snprintf(buf, len, "%s %s, %s, %" PRId64, n, rd, rs1, in->imm);
    else if (op >= RV_OP_ADD && op <= RV_OP_REMUW && !(op >= RV_OP_ADDIW && op <= RV_OP_SRAIW))
        snprintf(buf, len, "%s %s, %s, %s", n, rd, rs1, rs2);
    else if (op >= RV_OP_CSRRW && op <= RV_OP_CSRRC)
        snprintf(buf, len, "%s %s, 0x%x, %s", n, rd, in->csr, rs1);
    else if (op >= RV_OP_CSRRWI && op <= RV_OP_CSRRCI)
        snprintf(buf, len, "%s %s, 0x%x, %u", n, rd, in->csr, (unsigned)in->imm);
    else if (op == RV_OP_LR_W || op == RV_OP_LR_D)
        snprintf(buf, len, "%s %s, (%s)", n, rd, rs1);
    else if (op >= RV_OP_SC_W && op <= RV_OP_AMOMAXU_D)
        snprintf(buf, len, "%s %s, %s, (%s)", n, rd, rs2, rs1);
    else if (op == RV_OP_SFENCE_VMA)
        snprintf(buf, len, "%s %s, %s", n, rs1, rs2);
    else
        snprintf(buf, len, "%s", n);
    return buf;
}
