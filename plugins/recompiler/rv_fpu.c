/* rv_fpu: F, D and Zba/Zbb/Zbs execution for the interpreter helper (see rv_fpu.h). */
#include "rv_fpu.h"

#include <fenv.h>
#include <math.h>
#include <string.h>

enum { FF_NX = 1, FF_UF = 2, FF_OF = 4, FF_DZ = 8, FF_NV = 16 };
enum { RM_RNE = 0, RM_RTZ = 1, RM_RDN = 2, RM_RUP = 3, RM_RMM = 4 };

#define CNAN_S 0x7fc00000u
#define CNAN_D 0x7ff8000000000000ull
#define BOX 0xffffffff00000000ull

/* ---- Bits and values ---------------------------------------------------------------------------------- */

static float f_of(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double d_of(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static uint32_t bits_f(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static uint64_t bits_d(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

/* A single read from a 64-bit register: a value that is not NaN-boxed reads as the canonical NaN. */
static uint32_t rd_s(const rv_cpu *c, unsigned r)
{
    uint64_t v = c->f[r];
    return (v & BOX) == BOX ? (uint32_t)v : CNAN_S;
}

static int isnan_s(uint32_t b) { return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu); }
static int isnan_d(uint64_t b) { return (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (b << 12); }
static int issnan_s(uint32_t b) { return isnan_s(b) && !(b & 0x400000u); }
static int issnan_d(uint64_t b) { return isnan_d(b) && !(b & 0x8000000000000ull); }

/* ---- The host FPU ------------------------------------------------------------------------------------- */

/* MXCSR for a RISC-V rounding mode (RMM computes in RNE and is corrected afterwards), all exceptions masked,
 * no flush-to-zero or denormals-are-zero. */
static uint32_t mxcsr_for(int rm)
{
    static const uint32_t rc[5] = { 0, 3, 1, 2, 0 };
    return 0x1f80u | (rc[rm] << 13);
}

static uint32_t fflags_of_mxcsr(uint32_t mx)
{
    return ((mx & 0x01) ? FF_NV : 0) | ((mx & 0x04) ? FF_DZ : 0) | ((mx & 0x08) ? FF_OF : 0) |
           ((mx & 0x10) ? FF_UF : 0) | ((mx & 0x20) ? FF_NX : 0);
}

void rv_fpu_fold_flags(rv_cpu *c)
{
    if (c->fcsr & ~0xffull)
        c->fcsr = (c->fcsr & 0xff) | fflags_of_mxcsr((uint32_t)(c->fcsr >> 8) & 0x3f);
}

static uint32_t fflags_of_fenv(int e)
{
    return ((e & FE_INVALID) ? FF_NV : 0) | ((e & FE_DIVBYZERO) ? FF_DZ : 0) | ((e & FE_OVERFLOW) ? FF_OF : 0) |
           ((e & FE_UNDERFLOW) ? FF_UF : 0) | ((e & FE_INEXACT) ? FF_NX : 0);
}

static const int fenv_round[5] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD, FE_TONEAREST };

/* One SSE instruction "op src, dst" under the given MXCSR (flags cleared first), its flags read back. The host's
 * default MXCSR is 0x1f80 (RNE, all masked): after an RNE operation it is left so, with sticky flags nobody reads;
 * after another mode the default is put back, so host code never runs in a guest's rounding mode. */
#define RV_SSE2(name, insn, TD, TS)                                                                            \
    static TD name(TD dst, TS src, uint32_t mx, uint32_t *flags)                                               \
    {                                                                                                          \
        uint32_t out, dflt = 0x1f80u;                                                                          \
        if (mx == dflt)                                                                                        \
            __asm__ volatile("ldmxcsr %[m]\n\t" insn " %[s], %[d]\n\tstmxcsr %[o]"                            \
                             : [d] "+x"(dst), [o] "=m"(out) : [s] "x"(src), [m] "m"(mx));                     \
        else                                                                                                   \
            __asm__ volatile("ldmxcsr %[m]\n\t" insn " %[s], %[d]\n\tstmxcsr %[o]\n\tldmxcsr %[df]"           \
                             : [d] "+x"(dst), [o] "=m"(out) : [s] "x"(src), [m] "m"(mx), [df] "m"(dflt));     \
        *flags = out;                                                                                          \
        return dst;                                                                                            \
    }
RV_SSE2(sse_adds, "addss", float, float)
RV_SSE2(sse_subs, "subss", float, float)
RV_SSE2(sse_muls, "mulss", float, float)
RV_SSE2(sse_divs, "divss", float, float)
RV_SSE2(sse_sqrts, "sqrtss", float, float)
RV_SSE2(sse_addd, "addsd", double, double)
RV_SSE2(sse_subd, "subsd", double, double)
RV_SSE2(sse_muld, "mulsd", double, double)
RV_SSE2(sse_divd, "divsd", double, double)
RV_SSE2(sse_sqrtd, "sqrtsd", double, double)
RV_SSE2(sse_d2s, "cvtsd2ss", float, double)
RV_SSE2(sse_s2d, "cvtss2sd", double, float)

/* The exact result of an operation in x87 extended precision (64-bit significand), and whether it was exact:
 * used to find the ties round-to-nearest-max-magnitude breaks the other way from RNE. A tie needs p + 1
 * significant bits (25 or 54), which extended precision holds, so an inexact wide result is never a tie. */
static long double wide_op(rv_op sop, long double a, long double b, long double c3, int *exact)
{
    volatile long double va = a, vb = b, vc = c3;
    long double r;
    fenv_t env;
    feholdexcept(&env);
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    switch (sop) {
    case RV_OP_FADD_S: r = va + vb; break;
    case RV_OP_FSUB_S: r = va - vb; break;
    case RV_OP_FMUL_S: r = va * vb; break;
    case RV_OP_FDIV_S: r = va / vb; break;
    case RV_OP_FSQRT_S: r = sqrtl(va); break;
    case RV_OP_FMADD_S: r = fmal(va, vb, vc); break;
    default: r = va; break; /* a conversion: the input itself */
    }
    volatile long double vr = r;
    *exact = !fetestexcept(FE_INEXACT);
    fesetenv(&env);
    return vr;
}

/* RMM from an RNE result: when the exact value w lies exactly halfway between r and its neighbour away from
 * zero, take that neighbour. r is the bits of a finite result (S: 32 bits, D: 64). */
static uint64_t rmm_fix(uint64_t r, int dbl, long double w, int exact)
{
    if (!exact)
        return r;
    long double rv = dbl ? (long double)d_of(r) : (long double)f_of((uint32_t)r);
    if (isnan(w) || isinf(w) || isinf(rv) || rv == w || fabsl(rv) > fabsl(w))
        return r;
    uint64_t a = r + 1; /* the next magnitude, same sign */
    long double av = dbl ? (long double)d_of(a) : (long double)f_of((uint32_t)a);
    return w + w == rv + av ? a : r;
}

/* ---- Integer conversions ------------------------------------------------------------------------------ */

/* An integer (sign, magnitude) rounded to S (p = 24) or D (p = 53). */
static uint64_t int_to_fp(int neg, uint64_t m, int dbl, int rm, uint32_t *ff)
{
    if (m == 0)
        return 0;
    int p = dbl ? 53 : 24, lz = __builtin_clzll(m), e = 63 - lz;
    m <<= lz;
    uint64_t mant = m >> (64 - p), rest = m << p, half = 1ull << 63;
    int up = 0;
    if (rest) {
        *ff |= FF_NX;
        switch (rm) {
        case RM_RNE: up = rest > half || (rest == half && (mant & 1)); break;
        case RM_RDN: up = neg; break;
        case RM_RUP: up = !neg; break;
        case RM_RMM: up = rest >= half; break;
        default: break;
        }
    }
    mant += (uint64_t)up;
    if (mant >> p) {
        mant >>= 1;
        e++;
    }
    if (dbl)
        return ((uint64_t)neg << 63) | ((uint64_t)(e + 1023) << 52) | (mant & ((1ull << 52) - 1));
    return ((uint64_t)neg << 31) | ((uint64_t)(e + 127) << 23) | (mant & 0x7fffffu);
}

/* fcvt.{w,wu,l,lu}: round x to an integer in mode rm, saturating out of range (NaN as +max) with NV. kind: 0 W,
 * 1 WU, 2 L, 3 LU. The result is sign-extended from 32 bits for W and WU. */
static uint64_t fp_to_int(double x, int nan, int kind, int rm, uint32_t *ff)
{
    static const double lo[4] = { -2147483648.0, 0.0, -9223372036854775808.0, 0.0 };
    static const double hi[4] = { 2147483648.0, 4294967296.0, 9223372036854775808.0, 18446744073709551616.0 };
    static const uint64_t maxv[4] = { 0x7fffffffull, 0xffffffffffffffffull, 0x7fffffffffffffffull, ~0ull };
    static const uint64_t minv[4] = { 0xffffffff80000000ull, 0, 0x8000000000000000ull, 0 };
    if (nan) {
        *ff |= FF_NV;
        return maxv[kind];
    }
    if (isinf(x)) {
        *ff |= FF_NV;
        return x > 0 ? maxv[kind] : minv[kind];
    }
    double t = trunc(x), f = x - t, r = t;
    int away = 0;
    switch (rm) {
    case RM_RNE: away = fabs(f) > 0.5 || (fabs(f) == 0.5 && fmod(t, 2.0) != 0.0); break;
    case RM_RTZ: break;
    case RM_RDN: away = f < 0; break;
    case RM_RUP: away = f > 0; break;
    case RM_RMM: away = fabs(f) >= 0.5; break;
    }
    if (away)
        r = t + (x < 0 ? -1.0 : 1.0);
    if (r < lo[kind] || r >= hi[kind]) {
        *ff |= FF_NV;
        return x < 0 ? minv[kind] : maxv[kind];
    }
    if (f != 0)
        *ff |= FF_NX;
    if (kind == 0)
        return (uint64_t)(int64_t)(int32_t)(int64_t)r;
    if (kind == 1)
        return (uint64_t)(int64_t)(int32_t)(uint32_t)(uint64_t)r;
    if (kind == 2)
        return (uint64_t)(int64_t)r;
    return (uint64_t)r;
}

/* ---- F and D ------------------------------------------------------------------------------------------ */

static int fp_rm(const rv_cpu *c, const rv_insn *in)
{
    unsigned rm = (in->raw >> 12) & 7;
    if (rm == 7)
        rm = (unsigned)(c->fcsr >> 5) & 7;
    return rm > 4 ? -1 : (int)rm;
}

static int fp_has_rm(rv_op s)
{
    return (s >= RV_OP_FMADD_S && s <= RV_OP_FSQRT_S) || (s >= RV_OP_FCVT_W_S && s <= RV_OP_FCVT_S_LU);
}

static void fp_dirty(rv_cpu *c)
{
    c->mstatus |= RV_MSTATUS_FS;
}

static void set_s(rv_cpu *c, unsigned rd, uint32_t v)
{
    c->f[rd] = BOX | (isnan_s(v) ? CNAN_S : v);
}

static void set_d(rv_cpu *c, unsigned rd, uint64_t v)
{
    c->f[rd] = isnan_d(v) ? CNAN_D : v;
}

/* fmin/fmax: -0 < +0; one NaN operand gives the other; signalling NaNs set NV. */
static uint64_t fp_minmax(uint64_t a, uint64_t b, int dbl, int is_max, uint32_t *ff)
{
    int na = dbl ? isnan_d(a) : isnan_s((uint32_t)a), nb = dbl ? isnan_d(b) : isnan_s((uint32_t)b);
    if ((dbl ? issnan_d(a) || issnan_d(b) : issnan_s((uint32_t)a) || issnan_s((uint32_t)b)))
        *ff |= FF_NV;
    if (na && nb)
        return dbl ? CNAN_D : CNAN_S;
    if (na)
        return b;
    if (nb)
        return a;
    double x = dbl ? d_of(a) : f_of((uint32_t)a), y = dbl ? d_of(b) : f_of((uint32_t)b);
    if (x == y) { /* equal, or zeros of either sign: the sign bit decides */
        uint64_t sign = dbl ? 1ull << 63 : 1ull << 31;
        int a_neg = (a & sign) != 0;
        return is_max ? (a_neg ? b : a) : (a_neg ? a : b);
    }
    return (is_max ? x > y : x < y) ? a : b;
}

static unsigned fp_class(uint64_t v, int dbl)
{
    int neg = dbl ? (int)(v >> 63) : (int)((v >> 31) & 1);
    uint64_t exp = dbl ? (v >> 52) & 0x7ff : (v >> 23) & 0xff, emax = dbl ? 0x7ff : 0xff;
    uint64_t frac = dbl ? v & ((1ull << 52) - 1) : v & 0x7fffff, quiet = dbl ? 1ull << 51 : 1ull << 22;
    if (exp == emax) {
        if (frac == 0)
            return neg ? 1u << 0 : 1u << 7;
        return (frac & quiet) ? 1u << 9 : 1u << 8;
    }
    if (exp == 0)
        return frac == 0 ? (neg ? 1u << 3 : 1u << 4) : (neg ? 1u << 2 : 1u << 5);
    return neg ? 1u << 1 : 1u << 6;
}

/* Whether the host has FMA3 (vfmadd): then fused operations run on it directly, else on libm's fma. */
static int host_fma(void)
{
    return __builtin_cpu_supports("fma");
}

/* a * b + c with the host's fma (correctly rounded, flags from the host's environment). NaN operands are
 * settled first, on their bits: converting a signalling NaN would quiet it. */
static uint64_t fp_fma(uint64_t a, uint64_t b, uint64_t c3, int dbl, int rm, uint32_t *ff)
{
    int snan = dbl ? issnan_d(a) || issnan_d(b) || issnan_d(c3)
                   : issnan_s((uint32_t)a) || issnan_s((uint32_t)b) || issnan_s((uint32_t)c3);
    int nan = dbl ? isnan_d(a) || isnan_d(b) || isnan_d(c3)
                  : isnan_s((uint32_t)a) || isnan_s((uint32_t)b) || isnan_s((uint32_t)c3);
    /* (a NaN converted to double may be quieted: it is only looked at as a NaN below) */
    double x = dbl ? d_of(a) : f_of((uint32_t)a), y = dbl ? d_of(b) : f_of((uint32_t)b);
    double z = dbl ? d_of(c3) : f_of((uint32_t)c3);
    /* RISC-V: inf * 0 is invalid even when the addend is a quiet NaN. */
    if (snan || (!isnan(x) && !isnan(y) && ((isinf(x) && y == 0) || (x == 0 && isinf(y)))))
        *ff |= FF_NV;
    if (nan || (*ff & FF_NV))
        return dbl ? CNAN_D : CNAN_S;
    uint64_t r;
    if (host_fma()) {
        /* vfmadd231: dst = src1 * src2 + dst, one rounding under MXCSR */
        uint32_t mx = mxcsr_for(rm), out, dflt = 0x1f80u;
        if (dbl) {
            double d = z;
            __asm__ volatile("ldmxcsr %[m]\n\tvfmadd231sd %[b], %[a], %[d]\n\tstmxcsr %[o]\n\tldmxcsr %[df]"
                             : [d] "+x"(d), [o] "=m"(out) : [a] "x"(x), [b] "x"(y), [m] "m"(mx), [df] "m"(dflt));
            r = bits_d(d);
        } else {
            float d = (float)z, fx = (float)x, fy = (float)y;
            __asm__ volatile("ldmxcsr %[m]\n\tvfmadd231ss %[b], %[a], %[d]\n\tstmxcsr %[o]\n\tldmxcsr %[df]"
                             : [d] "+x"(d), [o] "=m"(out) : [a] "x"(fx), [b] "x"(fy), [m] "m"(mx), [df] "m"(dflt));
            r = bits_f(d);
        }
        *ff |= fflags_of_mxcsr(out);
        goto rmm;
    }
    fenv_t env;
    feholdexcept(&env);
    fesetround(fenv_round[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    if (dbl) {
        volatile double vx = x, vy = y, vz = z;
        volatile double vr = fma(vx, vy, vz);
        r = bits_d(vr);
    } else {
        volatile float vx = (float)x, vy = (float)y, vz = (float)z;
        volatile float vr = fmaf(vx, vy, vz);
        r = bits_f(vr);
    }
    *ff |= fflags_of_fenv(fetestexcept(FE_ALL_EXCEPT));
    fesetenv(&env);
rmm:
    if (rm == RM_RMM && !(dbl ? isnan_d(r) : isnan_s((uint32_t)r))) {
        int exact;
        long double w = wide_op(RV_OP_FMADD_S, x, y, z, &exact);
        r = rmm_fix(r, dbl, w, exact);
    }
    return r;
}

static uint64_t fp_arith(rv_op s, uint64_t a, uint64_t b, int dbl, int rm, uint32_t *ff)
{
    uint32_t mx = mxcsr_for(rm), out = 0;
    uint64_t r;
    if (dbl) {
        double x = d_of(a), y = d_of(b);
        switch (s) {
        case RV_OP_FADD_S: r = bits_d(sse_addd(x, y, mx, &out)); break;
        case RV_OP_FSUB_S: r = bits_d(sse_subd(x, y, mx, &out)); break;
        case RV_OP_FMUL_S: r = bits_d(sse_muld(x, y, mx, &out)); break;
        case RV_OP_FDIV_S: r = bits_d(sse_divd(x, y, mx, &out)); break;
        default: r = bits_d(sse_sqrtd(0.0, x, mx, &out)); break;
        }
    } else {
        float x = f_of((uint32_t)a), y = f_of((uint32_t)b);
        switch (s) {
        case RV_OP_FADD_S: r = bits_f(sse_adds(x, y, mx, &out)); break;
        case RV_OP_FSUB_S: r = bits_f(sse_subs(x, y, mx, &out)); break;
        case RV_OP_FMUL_S: r = bits_f(sse_muls(x, y, mx, &out)); break;
        case RV_OP_FDIV_S: r = bits_f(sse_divs(x, y, mx, &out)); break;
        default: r = bits_f(sse_sqrts(0.0f, x, mx, &out)); break;
        }
    }
    *ff |= fflags_of_mxcsr(out);
    if (rm == RM_RMM && !(dbl ? isnan_d(r) : isnan_s((uint32_t)r))) {
        int exact;
        long double x = dbl ? (long double)d_of(a) : (long double)f_of((uint32_t)a);
        long double y = dbl ? (long double)d_of(b) : (long double)f_of((uint32_t)b);
        long double w = wide_op(s, x, y, 0, &exact);
        r = rmm_fix(r, dbl, w, exact);
    }
    return r;
}

static int fp_exec(rv_cpu *c, const rv_insn *in, rv_ext_mem_fn mem, void *opaque, uint64_t *tval)
{
    rv_op op = in->op;
    int dbl = op >= RV_OP_FLD && op < RV_OP_FLD + RV_FP_DELTA;
    rv_op s = dbl ? (rv_op)(op - RV_FP_DELTA) : op;
    unsigned rd = in->rd, rs1 = in->rs1, rs2 = in->rs2, rs3 = in->raw >> 27;
    uint32_t ff = 0;
    int rm = 0;

    *tval = in->raw;
    if ((c->mstatus & RV_MSTATUS_FS) == 0)
        return RV_EXC_ILLEGAL;
    if (fp_has_rm(s) || op == RV_OP_FCVT_S_D || op == RV_OP_FCVT_D_S) {
        rm = fp_rm(c, in);
        if (rm < 0)
            return RV_EXC_ILLEGAL;
    }
    /* Operands: singles unboxed (a bad box reads as the canonical NaN). */
    uint64_t a = dbl ? c->f[rs1] : rd_s(c, rs1), b = dbl ? c->f[rs2] : rd_s(c, rs2);
    uint64_t xa = c->x[rs1];

    switch (s) {
    case RV_OP_FLW: {
        uint64_t addr = xa + (uint64_t)in->imm, v = 0;
        int e = mem(opaque, addr, dbl ? 8 : 4, 0, &v);
        if (e) {
            *tval = addr;
            return e;
        }
        c->f[rd] = dbl ? v : BOX | (uint32_t)v; /* loads move bits: no canonicalisation */
        fp_dirty(c);
        return 0;
    }
    case RV_OP_FSW: {
        uint64_t addr = xa + (uint64_t)in->imm, v = c->f[rs2];
        int e = mem(opaque, addr, dbl ? 8 : 4, 1, &v);
        if (e) {
            *tval = addr;
            return e;
        }
        return 0;
    }
    case RV_OP_FMADD_S: case RV_OP_FMSUB_S: case RV_OP_FNMSUB_S: case RV_OP_FNMADD_S: {
        uint64_t c3 = dbl ? c->f[rs3] : rd_s(c, rs3), sign = dbl ? 1ull << 63 : 1ull << 31;
        /* Negations flip sign bits only (a signalling NaN stays signalling; NaN results are canonical). */
        if (s == RV_OP_FNMSUB_S || s == RV_OP_FNMADD_S)
            a ^= sign;
        if (s == RV_OP_FMSUB_S || s == RV_OP_FNMADD_S)
            c3 ^= sign;
        uint64_t r = fp_fma(a, b, c3, dbl, rm, &ff);
        dbl ? set_d(c, rd, r) : set_s(c, rd, (uint32_t)r);
        break;
    }
    case RV_OP_FADD_S: case RV_OP_FSUB_S: case RV_OP_FMUL_S: case RV_OP_FDIV_S: case RV_OP_FSQRT_S: {
        uint64_t r = fp_arith(s, a, b, dbl, rm, &ff);
        dbl ? set_d(c, rd, r) : set_s(c, rd, (uint32_t)r);
        break;
    }
    case RV_OP_FSGNJ_S: case RV_OP_FSGNJN_S: case RV_OP_FSGNJX_S: {
        uint64_t sign = dbl ? 1ull << 63 : 1ull << 31;
        uint64_t sb = s == RV_OP_FSGNJ_S ? b & sign : s == RV_OP_FSGNJN_S ? ~b & sign : (a ^ b) & sign;
        uint64_t r = (a & ~sign) | sb;
        c->f[rd] = dbl ? r : BOX | (uint32_t)r; /* sign injection moves bits: NaNs are kept as they are */
        break;
    }
    case RV_OP_FMIN_S: case RV_OP_FMAX_S: {
        uint64_t r = fp_minmax(a, b, dbl, s == RV_OP_FMAX_S, &ff);
        c->f[rd] = dbl ? r : BOX | (uint32_t)r;
        break;
    }
    case RV_OP_FEQ_S: case RV_OP_FLT_S: case RV_OP_FLE_S: {
        int na = dbl ? isnan_d(a) : isnan_s((uint32_t)a), nb = dbl ? isnan_d(b) : isnan_s((uint32_t)b);
        uint64_t r = 0;
        if (na || nb) {
            /* feq is quiet (only signalling NaNs are invalid), flt and fle signal on any NaN */
            if (s != RV_OP_FEQ_S || (dbl ? issnan_d(a) || issnan_d(b) : issnan_s((uint32_t)a) || issnan_s((uint32_t)b)))
                ff |= FF_NV;
        } else {
            double x = dbl ? d_of(a) : f_of((uint32_t)a), y = dbl ? d_of(b) : f_of((uint32_t)b);
            r = s == RV_OP_FEQ_S ? x == y : s == RV_OP_FLT_S ? x < y : x <= y;
        }
        if (rd)
            c->x[rd] = r;
        c->fcsr |= ff;
        if (ff)
            fp_dirty(c);
        return 0;
    }
    case RV_OP_FCLASS_S:
        if (rd)
            c->x[rd] = fp_class(a, dbl);
        return 0;
    case RV_OP_FMV_X_S:
        if (rd)
            c->x[rd] = dbl ? c->f[rs1] : (uint64_t)(int64_t)(int32_t)(uint32_t)c->f[rs1];
        return 0;
    case RV_OP_FMV_S_X:
        c->f[rd] = dbl ? xa : BOX | (uint32_t)xa;
        fp_dirty(c);
        return 0;
    case RV_OP_FCVT_W_S: case RV_OP_FCVT_WU_S: case RV_OP_FCVT_L_S: case RV_OP_FCVT_LU_S: {
        int nan = dbl ? isnan_d(a) : isnan_s((uint32_t)a);
        double x = dbl ? d_of(a) : (double)f_of((uint32_t)a);
        uint64_t r = fp_to_int(x, nan, (int)(s - RV_OP_FCVT_W_S), rm, &ff);
        if (rd)
            c->x[rd] = r;
        c->fcsr |= ff;
        if (ff)
            fp_dirty(c);
        return 0;
    }
    case RV_OP_FCVT_S_W: case RV_OP_FCVT_S_WU: case RV_OP_FCVT_S_L: case RV_OP_FCVT_S_LU: {
        int kind = (int)(s - RV_OP_FCVT_S_W), neg = 0;
        uint64_t m = xa;
        if (kind == 0 || kind == 2) {
            int64_t v = kind == 0 ? (int64_t)(int32_t)xa : (int64_t)xa;
            neg = v < 0;
            m = neg ? 0 - (uint64_t)v : (uint64_t)v;
        } else if (kind == 1) {
            m = (uint32_t)xa;
        }
        uint64_t r = int_to_fp(neg, m, dbl, rm, &ff);
        dbl ? set_d(c, rd, r) : set_s(c, rd, (uint32_t)r);
        break;
    }
    default:
        if (op == RV_OP_FCVT_S_D) {
            uint32_t out = 0;
            double x = d_of(c->f[rs1]);
            uint64_t r = bits_f(sse_d2s(0.0f, x, mxcsr_for(rm), &out));
            ff |= fflags_of_mxcsr(out);
            if (rm == RM_RMM && !isnan_s((uint32_t)r) && !isnan(x))
                r = rmm_fix(r, 0, (long double)x, 1);
            set_s(c, rd, (uint32_t)r);
        } else if (op == RV_OP_FCVT_D_S) {
            uint32_t out = 0;
            uint64_t r = bits_d(sse_s2d(0.0, f_of(rd_s(c, rs1)), mxcsr_for(rm), &out));
            ff |= fflags_of_mxcsr(out) & FF_NV; /* exact: only a signalling NaN can raise anything */
            set_d(c, rd, r);
        } else {
            return -1;
        }
        break;
    }
    c->fcsr |= ff;
    fp_dirty(c);
    return 0;
}

/* ---- Zba, Zbb, Zbs ------------------------------------------------------------------------------------ */

static uint64_t rol64(uint64_t v, unsigned n)
{
    n &= 63;
    return n ? (v << n) | (v >> (64 - n)) : v;
}

static uint32_t rol32(uint32_t v, unsigned n)
{
    n &= 31;
    return n ? (v << n) | (v >> (32 - n)) : v;
}

static int zb_exec(rv_cpu *c, const rv_insn *in)
{
    uint64_t a = c->x[in->rs1], b = c->x[in->rs2], r;
    unsigned sh = (unsigned)in->imm & 63;
    switch (in->op) {
    case RV_OP_ADD_UW: r = (uint32_t)a + b; break;
    case RV_OP_SH1ADD: r = (a << 1) + b; break;
    case RV_OP_SH2ADD: r = (a << 2) + b; break;
    case RV_OP_SH3ADD: r = (a << 3) + b; break;
    case RV_OP_SH1ADD_UW: r = ((uint64_t)(uint32_t)a << 1) + b; break;
    case RV_OP_SH2ADD_UW: r = ((uint64_t)(uint32_t)a << 2) + b; break;
    case RV_OP_SH3ADD_UW: r = ((uint64_t)(uint32_t)a << 3) + b; break;
    case RV_OP_SLLI_UW: r = (uint64_t)(uint32_t)a << sh; break;
    case RV_OP_ANDN: r = a & ~b; break;
    case RV_OP_ORN: r = a | ~b; break;
    case RV_OP_XNOR: r = ~(a ^ b); break;
    case RV_OP_CLZ: r = a ? (uint64_t)__builtin_clzll(a) : 64; break;
    case RV_OP_CTZ: r = a ? (uint64_t)__builtin_ctzll(a) : 64; break;
    case RV_OP_CPOP: r = (uint64_t)__builtin_popcountll(a); break;
    case RV_OP_CLZW: r = (uint32_t)a ? (uint64_t)__builtin_clz((uint32_t)a) : 32; break;
    case RV_OP_CTZW: r = (uint32_t)a ? (uint64_t)__builtin_ctz((uint32_t)a) : 32; break;
    case RV_OP_CPOPW: r = (uint64_t)__builtin_popcount((uint32_t)a); break;
    case RV_OP_MAX: r = (int64_t)a > (int64_t)b ? a : b; break;
    case RV_OP_MAXU: r = a > b ? a : b; break;
    case RV_OP_MIN: r = (int64_t)a < (int64_t)b ? a : b; break;
    case RV_OP_MINU: r = a < b ? a : b; break;
    case RV_OP_SEXT_B: r = (uint64_t)(int64_t)(int8_t)a; break;
    case RV_OP_SEXT_H: r = (uint64_t)(int64_t)(int16_t)a; break;
    case RV_OP_ZEXT_H: r = (uint16_t)a; break;
    case RV_OP_ROL: r = rol64(a, (unsigned)b); break;
    case RV_OP_ROR: r = rol64(a, 64 - ((unsigned)b & 63)); break;
    case RV_OP_ROLW: r = (uint64_t)(int64_t)(int32_t)rol32((uint32_t)a, (unsigned)b); break;
    case RV_OP_RORW: r = (uint64_t)(int64_t)(int32_t)rol32((uint32_t)a, 32 - ((unsigned)b & 31)); break;
    case RV_OP_RORI: r = rol64(a, 64 - sh); break;
    case RV_OP_RORIW: r = (uint64_t)(int64_t)(int32_t)rol32((uint32_t)a, 32 - (sh & 31)); break;
    case RV_OP_ORC_B:
        r = 0;
        for (unsigned i = 0; i < 64; i += 8)
            if ((a >> i) & 0xff)
                r |= 0xffull << i;
        break;
    case RV_OP_REV8: r = __builtin_bswap64(a); break;
    case RV_OP_BCLR: r = a & ~(1ull << (b & 63)); break;
    case RV_OP_BSET: r = a | (1ull << (b & 63)); break;
    case RV_OP_BINV: r = a ^ (1ull << (b & 63)); break;
    case RV_OP_BEXT: r = (a >> (b & 63)) & 1; break;
    case RV_OP_BCLRI: r = a & ~(1ull << sh); break;
    case RV_OP_BSETI: r = a | (1ull << sh); break;
    case RV_OP_BINVI: r = a ^ (1ull << sh); break;
    case RV_OP_BEXTI: r = (a >> sh) & 1; break;
    default: return -1;
    }
    if (in->rd)
        c->x[in->rd] = r;
    return 0;
}

int rv_ext_exec(rv_cpu *c, const rv_insn *in, rv_ext_mem_fn mem, void *opaque, uint64_t *tval)
{
    if (rv_op_is_fp(in->op))
        return fp_exec(c, in, mem, opaque, tval);
    if (in->op >= RV_OP_ADD_UW)
        return zb_exec(c, in);
    return -1;
}

/* ---- CSRs --------------------------------------------------------------------------------------------- */

int rv_fpu_csr_read(const rv_cpu *c, unsigned csr, uint64_t *v)
{
    if ((c->mstatus & RV_MSTATUS_FS) == 0)
        return -1;
    uint64_t f = c->fcsr & 0xff;
    *v = csr == 0x001 ? f & 0x1f : csr == 0x002 ? f >> 5 : f;
    return 0;
}

int rv_fpu_csr_write(rv_cpu *c, unsigned csr, uint64_t v)
{
    if ((c->mstatus & RV_MSTATUS_FS) == 0)
        return -1;
    uint64_t f = c->fcsr & 0xff;
    if (csr == 0x001)
        f = (f & ~0x1full) | (v & 0x1f);
    else if (csr == 0x002)
        f = (f & 0x1f) | ((v & 7) << 5);
    else
        f = v & 0xff;
    c->fcsr = f;
    fp_dirty(c);
    return 0;
}

uint64_t rv_fpu_status_sd(uint64_t mstatus)
{
    return (mstatus & RV_MSTATUS_FS) == RV_MSTATUS_FS ? RV_MSTATUS_SD : 0;
}
