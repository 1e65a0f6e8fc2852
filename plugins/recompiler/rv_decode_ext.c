/* rv_decode_ext: the F, D, Zba, Zbb and Zbs encodings and their disassembly (see rv_decode.h). */
#include "rv_decode.h"

#include <inttypes.h>
#include <stdio.h>

static inline uint32_t rv_xbits(uint32_t v, int hi, int lo)
{
    return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static void rv_xset(rv_insn *o, rv_op op, unsigned rd, unsigned rs1, unsigned rs2, int64_t imm)
{
    o->op = op;
    o->rd = (uint8_t)rd;
    o->rs1 = (uint8_t)rs1;
    o->rs2 = (uint8_t)rs2;
    o->imm = imm;
}

/* c.fld, c.fsd, c.fldsp, c.fsdsp (RV64's compressed FP forms; c.flw and friends are RV32 only). */
void rv_decode_ext_compressed(uint32_t c, rv_insn *o)
{
    unsigned f3 = rv_xbits(c, 15, 13), q = c & 3;
    unsigned rdp = rv_xbits(c, 4, 2) + 8, rs1p = rv_xbits(c, 9, 7) + 8;
    uint32_t u;
    if (q == 0 && (f3 == 1 || f3 == 5)) {
        u = (rv_xbits(c, 12, 10) << 3) | (rv_xbits(c, 6, 5) << 6);
        if (f3 == 1)
            rv_xset(o, RV_OP_FLD, rdp, rs1p, 0, u);
        else
            rv_xset(o, RV_OP_FSD, 0, rs1p, rdp, u);
    } else if (q == 2 && f3 == 1) {
        u = (rv_xbits(c, 12, 12) << 5) | (rv_xbits(c, 6, 5) << 3) | (rv_xbits(c, 4, 2) << 6);
        rv_xset(o, RV_OP_FLD, rv_xbits(c, 11, 7), 2, 0, u);
    } else if (q == 2 && f3 == 5) {
        u = (rv_xbits(c, 12, 10) << 3) | (rv_xbits(c, 9, 7) << 6);
        rv_xset(o, RV_OP_FSD, 0, 2, rv_xbits(c, 6, 2), u);
    }
}

static void rv_decode_opfp(uint32_t raw, rv_insn *o)
{
    unsigned rd = rv_xbits(raw, 11, 7), rs1 = rv_xbits(raw, 19, 15), rs2 = rv_xbits(raw, 24, 20);
    unsigned rm = rv_xbits(raw, 14, 12), fmt = rv_xbits(raw, 26, 25), f5 = raw >> 27;
    rv_op op = RV_OP_ILLEGAL;
    if (fmt > 1)
        return; /* H and Q are not implemented */
    int d = (int)fmt * RV_FP_DELTA;
    switch (f5) {
    case 0x00: op = RV_OP_FADD_S; break;
    case 0x01: op = RV_OP_FSUB_S; break;
    case 0x02: op = RV_OP_FMUL_S; break;
    case 0x03: op = RV_OP_FDIV_S; break;
    case 0x0b: if (rs2 == 0) op = RV_OP_FSQRT_S; break;
    case 0x04: if (rm < 3) op = (rv_op)(RV_OP_FSGNJ_S + rm); break;
    case 0x05: if (rm < 2) op = (rv_op)(RV_OP_FMIN_S + rm); break;
    case 0x14:
        if (rm == 0) op = RV_OP_FLE_S;
        else if (rm == 1) op = RV_OP_FLT_S;
        else if (rm == 2) op = RV_OP_FEQ_S;
        break;
    case 0x18: if (rs2 < 4) op = (rv_op)(RV_OP_FCVT_W_S + rs2); break;
    case 0x1a: if (rs2 < 4) op = (rv_op)(RV_OP_FCVT_S_W + rs2); break;
    case 0x1c:
        if (rs2 == 0 && rm == 0) op = RV_OP_FMV_X_S;
        else if (rs2 == 0 && rm == 1) op = RV_OP_FCLASS_S;
        break;
    case 0x1e: if (rs2 == 0 && rm == 0) op = RV_OP_FMV_S_X; break;
    case 0x08:
        if (fmt == 0 && rs2 == 1)
            rv_xset(o, RV_OP_FCVT_S_D, rd, rs1, rs2, 0);
        else if (fmt == 1 && rs2 == 0)
            rv_xset(o, RV_OP_FCVT_D_S, rd, rs1, rs2, 0);
        return;
    }
    if (op != RV_OP_ILLEGAL)
        rv_xset(o, (rv_op)(op + d), rd, rs1, rs2, 0);
}

void rv_decode_ext(uint32_t raw, rv_insn *o)
{
    unsigned opc = raw & 0x7f, rd = rv_xbits(raw, 11, 7), f3 = rv_xbits(raw, 14, 12);
    unsigned rs1 = rv_xbits(raw, 19, 15), rs2 = rv_xbits(raw, 24, 20), f7 = raw >> 25, f6 = raw >> 26;
    unsigned imm12 = raw >> 20, sh = rv_xbits(raw, 25, 20);
    int64_t imm_i = (int32_t)raw >> 20;
    int64_t imm_s = (int64_t)(((int32_t)raw >> 25) * 32) | (int64_t)rv_xbits(raw, 11, 7);

    switch (opc) {
    case 0x07: /* LOAD-FP */
        if (f3 == 2 || f3 == 3)
            rv_xset(o, f3 == 2 ? RV_OP_FLW : RV_OP_FLD, rd, rs1, 0, imm_i);
        break;
    case 0x27: /* STORE-FP */
        if (f3 == 2 || f3 == 3)
            rv_xset(o, f3 == 2 ? RV_OP_FSW : RV_OP_FSD, 0, rs1, rs2, imm_s);
        break;
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
        unsigned fmt = rv_xbits(raw, 26, 25);
        if (fmt <= 1)
            rv_xset(o, (rv_op)(RV_OP_FMADD_S + ((opc - 0x43) >> 2) + (int)fmt * RV_FP_DELTA), rd, rs1, rs2, 0);
        break;
    }
    case 0x53:
        rv_decode_opfp(raw, o);
        break;
    case 0x13:
        if (f3 == 1) {
            if (imm12 == 0x600) rv_xset(o, RV_OP_CLZ, rd, rs1, 0, 0);
            else if (imm12 == 0x601) rv_xset(o, RV_OP_CTZ, rd, rs1, 0, 0);
            else if (imm12 == 0x602) rv_xset(o, RV_OP_CPOP, rd, rs1, 0, 0);
            else if (imm12 == 0x604) rv_xset(o, RV_OP_SEXT_B, rd, rs1, 0, 0);
            else if (imm12 == 0x605) rv_xset(o, RV_OP_SEXT_H, rd, rs1, 0, 0);
            else if (f6 == 0x12) rv_xset(o, RV_OP_BCLRI, rd, rs1, 0, sh);
            else if (f6 == 0x0a) rv_xset(o, RV_OP_BSETI, rd, rs1, 0, sh);
            else if (f6 == 0x1a) rv_xset(o, RV_OP_BINVI, rd, rs1, 0, sh);
        } else if (f3 == 5) {
            if (imm12 == 0x287) rv_xset(o, RV_OP_ORC_B, rd, rs1, 0, 0);
            else if (imm12 == 0x6b8) rv_xset(o, RV_OP_REV8, rd, rs1, 0, 0);
            else if (f6 == 0x18) rv_xset(o, RV_OP_RORI, rd, rs1, 0, sh);
            else if (f6 == 0x12) rv_xset(o, RV_OP_BEXTI, rd, rs1, 0, sh);
        }
        break;
    case 0x1b:
        if (f3 == 1 && f6 == 0x02) rv_xset(o, RV_OP_SLLI_UW, rd, rs1, 0, sh);
        else if (f3 == 1 && imm12 == 0x600) rv_xset(o, RV_OP_CLZW, rd, rs1, 0, 0);
        else if (f3 == 1 && imm12 == 0x601) rv_xset(o, RV_OP_CTZW, rd, rs1, 0, 0);
        else if (f3 == 1 && imm12 == 0x602) rv_xset(o, RV_OP_CPOPW, rd, rs1, 0, 0);
        else if (f3 == 5 && f7 == 0x30) rv_xset(o, RV_OP_RORIW, rd, rs1, 0, rs2);
        break;
    case 0x33: {
        rv_op op = RV_OP_ILLEGAL;
        switch (f7 << 3 | f3) {
        case 0x10 << 3 | 2: op = RV_OP_SH1ADD; break;
        case 0x10 << 3 | 4: op = RV_OP_SH2ADD; break;
        case 0x10 << 3 | 6: op = RV_OP_SH3ADD; break;
        case 0x20 << 3 | 7: op = RV_OP_ANDN; break;
        case 0x20 << 3 | 6: op = RV_OP_ORN; break;
        case 0x20 << 3 | 4: op = RV_OP_XNOR; break;
        case 0x05 << 3 | 6: op = RV_OP_MAX; break;
        case 0x05 << 3 | 7: op = RV_OP_MAXU; break;
        case 0x05 << 3 | 4: op = RV_OP_MIN; break;
        case 0x05 << 3 | 5: op = RV_OP_MINU; break;
        case 0x30 << 3 | 1: op = RV_OP_ROL; break;
        case 0x30 << 3 | 5: op = RV_OP_ROR; break;
        case 0x24 << 3 | 1: op = RV_OP_BCLR; break;
        case 0x24 << 3 | 5: op = RV_OP_BEXT; break;
        case 0x34 << 3 | 1: op = RV_OP_BINV; break;
        case 0x14 << 3 | 1: op = RV_OP_BSET; break;
        }
        if (op != RV_OP_ILLEGAL)
            rv_xset(o, op, rd, rs1, rs2, 0);
        break;
    }
    case 0x3b: {
        rv_op op = RV_OP_ILLEGAL;
        switch (f7 << 3 | f3) {
        case 0x04 << 3 | 0: op = RV_OP_ADD_UW; break;
        case 0x10 << 3 | 2: op = RV_OP_SH1ADD_UW; break;
        case 0x10 << 3 | 4: op = RV_OP_SH2ADD_UW; break;
        case 0x10 << 3 | 6: op = RV_OP_SH3ADD_UW; break;
        case 0x30 << 3 | 1: op = RV_OP_ROLW; break;
        case 0x30 << 3 | 5: op = RV_OP_RORW; break;
        case 0x04 << 3 | 4: if (rs2 == 0) op = RV_OP_ZEXT_H; break;
        }
        if (op != RV_OP_ILLEGAL)
            rv_xset(o, op, rd, rs1, rs2, 0);
        break;
    }
    default:
        break;
    }
}

static const char *rv_freg_name(unsigned r)
{
    static const char *const names[32] = {
        "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4",
        "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9",
        "ft10", "ft11" };
    return r < 32 ? names[r] : "?";
}

char *rv_disas_ext(const rv_insn *in, char *buf, size_t len)
{
    static const char *const rms[8] = { "rne", "rtz", "rdn", "rup", "rmm", "rm5", "rm6", "dyn" };
    const char *n = rv_op_name(in->op);
    rv_op op = in->op;
    if (!rv_op_is_fp(op)) {
        const char *rd = rv_reg_name(in->rd), *rs1 = rv_reg_name(in->rs1), *rs2 = rv_reg_name(in->rs2);
        switch (op) {
        case RV_OP_CLZ: case RV_OP_CTZ: case RV_OP_CPOP: case RV_OP_CLZW: case RV_OP_CTZW: case RV_OP_CPOPW:
        case RV_OP_SEXT_B: case RV_OP_SEXT_H: case RV_OP_ZEXT_H: case RV_OP_ORC_B: case RV_OP_REV8:
            snprintf(buf, len, "%s %s, %s", n, rd, rs1);
            break;
        case RV_OP_SLLI_UW: case RV_OP_RORI: case RV_OP_RORIW: case RV_OP_BCLRI: case RV_OP_BSETI:
        case RV_OP_BINVI: case RV_OP_BEXTI:
            snprintf(buf, len, "%s %s, %s, %" PRId64, n, rd, rs1, in->imm);
            break;
        default:
            snprintf(buf, len, "%s %s, %s, %s", n, rd, rs1, rs2);
            break;
        }
        return buf;
    }
    rv_op s = op >= RV_OP_FLD && op < RV_OP_FLD + RV_FP_DELTA ? (rv_op)(op - RV_FP_DELTA) : op;
    unsigned rm = in->len == 4 ? rv_xbits(in->raw, 14, 12) : 7, rs3 = in->raw >> 27;
    const char *frd = rv_freg_name(in->rd), *frs1 = rv_freg_name(in->rs1), *frs2 = rv_freg_name(in->rs2);
    const char *xrd = rv_reg_name(in->rd), *xrs1 = rv_reg_name(in->rs1);
    char rmb[8] = "";
    if (rm != 7)
        snprintf(rmb, sizeof(rmb), ", %s", rms[rm]);
    switch (s) {
    case RV_OP_FLW:
        snprintf(buf, len, "%s %s, %" PRId64 "(%s)", n, frd, in->imm, xrs1);
        break;
    case RV_OP_FSW:
        snprintf(buf, len, "%s %s, %" PRId64 "(%s)", n, frs2, in->imm, xrs1);
        break;
    case RV_OP_FMADD_S: case RV_OP_FMSUB_S: case RV_OP_FNMSUB_S: case RV_OP_FNMADD_S:
        snprintf(buf, len, "%s %s, %s, %s, %s%s", n, frd, frs1, frs2, rv_freg_name(rs3), rmb);
        break;
    case RV_OP_FADD_S: case RV_OP_FSUB_S: case RV_OP_FMUL_S: case RV_OP_FDIV_S:
        snprintf(buf, len, "%s %s, %s, %s%s", n, frd, frs1, frs2, rmb);
        break;
    case RV_OP_FSGNJ_S: case RV_OP_FSGNJN_S: case RV_OP_FSGNJX_S: case RV_OP_FMIN_S: case RV_OP_FMAX_S:
        snprintf(buf, len, "%s %s, %s, %s", n, frd, frs1, frs2);
        break;
    case RV_OP_FEQ_S: case RV_OP_FLT_S: case RV_OP_FLE_S:
        snprintf(buf, len, "%s %s, %s, %s", n, xrd, frs1, frs2);
        break;
    case RV_OP_FCLASS_S: case RV_OP_FMV_X_S:
        snprintf(buf, len, "%s %s, %s", n, xrd, frs1);
        break;
    case RV_OP_FMV_S_X:
        snprintf(buf, len, "%s %s, %s", n, frd, xrs1);
        break;
    case RV_OP_FCVT_W_S: case RV_OP_FCVT_WU_S: case RV_OP_FCVT_L_S: case RV_OP_FCVT_LU_S:
        snprintf(buf, len, "%s %s, %s%s", n, xrd, frs1, rmb);
        break;
    case RV_OP_FCVT_S_W: case RV_OP_FCVT_S_WU: case RV_OP_FCVT_S_L: case RV_OP_FCVT_S_LU:
        snprintf(buf, len, "%s %s, %s%s", n, frd, xrs1, rmb);
        break;
    default: /* fsqrt, fcvt.s.d, fcvt.d.s */
        snprintf(buf, len, "%s %s, %s%s", n, frd, frs1, rmb);
        break;
    }
    return buf;
}
