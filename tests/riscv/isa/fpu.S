/* F and D: mstatus.FS (Off makes every FP instruction and FP CSR illegal, writes make it Dirty, SD follows), the
 * fflags/frm/fcsr CSRs, arithmetic and fused multiply-add in every rounding mode (static and dynamic, reserved
 * ones illegal) with results and the exact accrued flags, NaN boxing and the canonical NaN, fmin/fmax, compares,
 * fclass, conversions between every integer width and S/D (rounding, saturation, NaN), FP loads and stores
 * (compressed too) and their faults. Expected values follow the ISA manual; the ELF passes on qemu-system-riscv64
 * as well. Built with -march=rv64gc. */
#include "test.h"

#define FS_MASK (3 << 13)
#define NX 1
#define UF 2
#define OF 4
#define DZ 8
#define NV 16

/* The handler records mcause in s10 and mtval in s9 and resumes after the instruction (2 or 4 bytes). */
#define EXPECT_ILLEGAL(n, ...)     \
    li gp, n;                      \
    li s10, -1;                    \
    __VA_ARGS__;                   \
    li t6, 2;                      \
    bne s10, t6, fail

#define SET_FS(v)          \
    li t0, FS_MASK;        \
    csrc mstatus, t0;      \
    li t0, (v) << 13;      \
    csrs mstatus, t0

#define CHECK_FS(n, v)     \
    csrr a4, mstatus;      \
    srli a4, a4, 13;       \
    andi a4, a4, 3;        \
    CHECK(n, a4, v)

/* Double operands and results as bit patterns; the flags accrued by the one instruction are checked too. */
#define TD2(n, inst, rm, a, b, expect, flags) \
    li t0, a; fmv.d.x ft0, t0; li t0, b; fmv.d.x ft1, t0; csrw fflags, zero; \
    inst ft2, ft0, ft1 rm; fmv.x.d a4, ft2; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
#define TD1(n, inst, rm, a, expect, flags) \
    li t0, a; fmv.d.x ft0, t0; csrw fflags, zero; \
    inst ft2, ft0 rm; fmv.x.d a4, ft2; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
#define TD3(n, inst, rm, a, b, c, expect, flags) \
    li t0, a; fmv.d.x ft0, t0; li t0, b; fmv.d.x ft1, t0; li t0, c; fmv.d.x ft3, t0; csrw fflags, zero; \
    inst ft2, ft0, ft1, ft3 rm; fmv.x.d a4, ft2; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
/* Singles: operands NaN-boxed by fmv.w.x; the result is checked with its box (all 64 bits). */
#define TS2(n, inst, rm, a, b, expect, flags) \
    li t0, a; fmv.w.x ft0, t0; li t0, b; fmv.w.x ft1, t0; csrw fflags, zero; \
    inst ft2, ft0, ft1 rm; fmv.x.d a4, ft2; CHECK(n, a4, 0xffffffff00000000 | (expect)); \
    csrr a4, fflags; CHECK(n, a4, flags)
#define TS3(n, inst, rm, a, b, c, expect, flags) \
    li t0, a; fmv.w.x ft0, t0; li t0, b; fmv.w.x ft1, t0; li t0, c; fmv.w.x ft3, t0; csrw fflags, zero; \
    inst ft2, ft0, ft1, ft3 rm; fmv.x.d a4, ft2; CHECK(n, a4, 0xffffffff00000000 | (expect)); \
    csrr a4, fflags; CHECK(n, a4, flags)
/* FP -> integer register (compares, fclass, fcvt to integers). */
#define TDX(n, inst, a, b, expect, flags) \
    li t0, a; fmv.d.x ft0, t0; li t0, b; fmv.d.x ft1, t0; csrw fflags, zero; \
    inst a4, ft0, ft1; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
#define TDC(n, inst, rm, a, expect, flags) \
    li t0, a; fmv.d.x ft0, t0; csrw fflags, zero; \
    inst a4, ft0 rm; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
#define TCL(n, inst, a, expect) \
    li t0, a; fmv.d.x ft0, t0; inst a4, ft0; CHECK(n, a4, expect)
#define TSC(n, inst, rm, a, expect, flags) \
    li t0, a; fmv.w.x ft0, t0; csrw fflags, zero; \
    inst a4, ft0 rm; CHECK(n, a4, expect); csrr a4, fflags; CHECK(n, a4, flags)
/* Integer -> FP. */
#define TCD(n, inst, rm, a, expect, flags) \
    li t0, a; csrw fflags, zero; inst ft2, t0 rm; fmv.x.d a4, ft2; CHECK(n, a4, expect); \
    csrr a4, fflags; CHECK(n, a4, flags)
#define TCS(n, inst, rm, a, expect, flags) \
    li t0, a; csrw fflags, zero; inst ft2, t0 rm; fmv.x.d a4, ft2; CHECK(n, a4, 0xffffffff00000000 | (expect)); \
    csrr a4, fflags; CHECK(n, a4, flags)

/* A rounding-mode operand, or nothing for the instructions without one. */
#define R(m) , m

#define ONE 0x3ff0000000000000
#define TWO 0x4000000000000000
#define QNAN 0x7ff8000000000000
#define SNAN 0x7ff0000000000001
#define PINF 0x7ff0000000000000
#define NINF 0xfff0000000000000
#define NZERO 0x8000000000000000

TEST_BEGIN("fpu")
    la t0, handler
    csrw mtvec, t0

    /* FS is Off at reset: FP instructions, compressed ones and FP CSRs are illegal, mtval holds the encoding. */
    CHECK_FS(1, 0)
    EXPECT_ILLEGAL(2, fadd.d ft0, ft1, ft2)
    EXPECT_ILLEGAL(3, csrr a4, fflags)
    EXPECT_ILLEGAL(4, csrw frm, zero)
    EXPECT_ILLEGAL(5, fmv.x.d a4, ft0)
    la a1, data
    EXPECT_ILLEGAL(6, c.fld fa0, 0(a1))
    CHECK(7, s9, 0x2188)        /* c.fld fa0, 0(a1): the 16-bit encoding */
    EXPECT_ILLEGAL(8, .word 0x00000053)  /* fadd.s ft0, ft0, ft0, rne */
    CHECK(9, s9, 0x00000053)
    csrr a4, mstatus
    srli a4, a4, 63
    CHECK(10, a4, 0)

    /* Initial: usable; an FP register write makes it Dirty and SD follows, in mstatus and sstatus. */
    SET_FS(1)
    CHECK_FS(11, 1)
    csrr a4, mstatus
    srli a4, a4, 63
    CHECK(12, a4, 0)
    li t0, ONE
    fmv.d.x ft0, t0
    CHECK_FS(13, 3)
    csrr a4, mstatus
    srli a4, a4, 63
    CHECK(14, a4, 1)
    csrr a4, sstatus
    srli a5, a4, 63
    CHECK(15, a5, 1)
    srli a4, a4, 13
    andi a4, a4, 3
    CHECK(16, a4, 3)
    SET_FS(2)                   /* Clean: reading fflags and storing keep it clean; writes of any kind dirty it */
    csrr a4, fflags
    fsd ft0, 8(a1)
    CHECK_FS(17, 2)
    csrwi fflags, 0
    CHECK_FS(18, 3)
    SET_FS(2)
    fld ft1, 8(a1)
    CHECK_FS(19, 3)
    SET_FS(2)
    fadd.d ft2, ft0, ft1
    CHECK_FS(20, 3)
    SET_FS(2)
    csrwi frm, 0
    CHECK_FS(21, 3)
    li t0, FS_MASK              /* sstatus.FS is the same field */
    csrc sstatus, t0
    CHECK_FS(22, 0)
    li t0, 1 << 13
    csrs sstatus, t0
    CHECK_FS(23, 1)
    SET_FS(3)

    /* fcsr = frm << 5 | fflags; reserved bits read zero */
    li t0, 0x1ff
    csrw fcsr, t0
    csrr a4, fcsr
    CHECK(24, a4, 0xff)
    csrr a4, frm
    CHECK(25, a4, 7)
    csrr a4, fflags
    CHECK(26, a4, 0x1f)
    csrwi frm, 2
    csrr a4, fcsr
    CHECK(27, a4, 0x5f)
    csrwi fflags, 0x3
    csrr a4, fcsr
    CHECK(28, a4, 0x43)
    csrw fcsr, zero

    /* Addition in every static rounding mode: 1 + 2^-53 is a tie (RMM rounds it away from zero). */
    TD2(30, fadd.d, R(rne), ONE, 0x3ca0000000000000, ONE, NX)
    TD2(31, fadd.d, R(rtz), ONE, 0x3ca0000000000000, ONE, NX)
    TD2(32, fadd.d, R(rdn), ONE, 0x3ca0000000000000, ONE, NX)
    TD2(33, fadd.d, R(rup), ONE, 0x3ca0000000000000, 0x3ff0000000000001, NX)
    TD2(34, fadd.d, R(rmm), ONE, 0x3ca0000000000000, 0x3ff0000000000001, NX)
    TD2(35, fadd.d, R(rne), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000000, NX)
    TD2(36, fadd.d, R(rtz), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000000, NX)
    TD2(37, fadd.d, R(rdn), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000001, NX)
    TD2(38, fadd.d, R(rup), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000000, NX)
    TD2(39, fadd.d, R(rmm), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000001, NX)
    TD2(40, fadd.d, R(rne), ONE, TWO, 0x4008000000000000, 0)
    /* not a tie: 1 + 3 * 2^-54 rounds up in RNE and RMM alike */
    TD2(41, fadd.d, R(rmm), ONE, 0x3ca8000000000000, 0x3ff0000000000001, NX)
    /* dynamic rounding (rm = dyn) from frm */
    csrwi frm, 3
    TD2(42, fadd.d, R(dyn), ONE, 0x3ca0000000000000, 0x3ff0000000000001, NX)
    csrwi frm, 4
    TD2(43, fadd.d, R(dyn), ONE, 0x3ca0000000000000, 0x3ff0000000000001, NX)
    csrwi frm, 1
    TD2(44, fadd.d, R(dyn), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000000, NX)
    csrwi frm, 2
    TD2(45, fadd.d, R(dyn), 0xbff0000000000000, 0xbca0000000000000, 0xbff0000000000001, NX)
    csrwi frm, 0
    TD2(46, fadd.d, R(dyn), ONE, 0x3ca0000000000000, ONE, NX)
    /* reserved rounding modes: static 5 and 6, and dyn with frm 5..7, are illegal */
    EXPECT_ILLEGAL(47, .word 0x0220d0d3)  /* fadd.d ft1, ft1, ft2, rm=5 */
    EXPECT_ILLEGAL(48, .word 0x0220e0d3)  /* rm=6 */
    csrwi frm, 5
    EXPECT_ILLEGAL(49, fadd.d ft1, ft1, ft2, dyn)
    csrwi frm, 7
    EXPECT_ILLEGAL(50, fcvt.w.d a4, ft1, dyn)
    csrwi frm, 6
    EXPECT_ILLEGAL(51, fsqrt.s ft1, ft1, dyn)
    fsgnj.d ft1, ft1, ft1       /* no rounding mode: legal whatever frm says */
    csrwi frm, 0

    /* Exceptions */
    TD2(52, fdiv.d, R(rne), ONE, 0, PINF, DZ)
    TD2(53, fdiv.d, R(rne), 0, 0, QNAN, NV)
    TD1(54, fsqrt.d, R(rne), 0xbff0000000000000, QNAN, NV)
    TD1(55, fsqrt.d, R(rne), 0x4010000000000000, TWO, 0)
    TD2(56, fmul.d, R(rne), 0x7fefffffffffffff, TWO, PINF, OF | NX)
    TD2(57, fmul.d, R(rtz), 0x7fefffffffffffff, TWO, 0x7fefffffffffffff, OF | NX)
    TD2(58, fmul.d, R(rdn), 0x7fefffffffffffff, TWO, 0x7fefffffffffffff, OF | NX)
    TD2(59, fmul.d, R(rne), 0x0010000000000000, 0x3fe0000000000000, 0x0008000000000000, 0)
    TD2(60, fmul.d, R(rne), 0x0000000000000001, 0x3fe0000000000000, 0, UF | NX)
    TD2(61, fmul.d, R(rmm), 0x0000000000000001, 0x3fe0000000000000, 1, UF | NX)
    TD2(62, fmul.d, R(rup), 0x0000000000000001, 0x3fd0000000000000, 1, UF | NX)
    TD2(63, fsub.d, R(rne), PINF, PINF, QNAN, NV)
    /* NaN inputs: a signalling one is invalid; results are always the canonical NaN */
    TD2(64, fadd.d, R(rne), SNAN, ONE, QNAN, NV)
    TD2(65, fadd.d, R(rne), 0x7ff8000000000123, ONE, QNAN, 0)
    TD2(66, fmul.d, R(rne), 0xfff8000000000000, ONE, QNAN, 0)
    TD2(67, fdiv.d, R(rne), 0x4008000000000000, 0x4000000000000000, 0x3ff8000000000000, 0)
    TD2(68, fdiv.d, R(rtz), ONE, 0x4008000000000000, 0x3fd5555555555555, NX)
    TD2(69, fdiv.d, R(rup), ONE, 0x4008000000000000, 0x3fd5555555555556, NX)

    /* Single precision, NaN boxing */
    TS2(70, fadd.s, R(rne), 0x3f800000, 0x33800000, 0x3f800000, NX)
    TS2(71, fadd.s, R(rup), 0x3f800000, 0x33800000, 0x3f800001, NX)
    TS2(72, fadd.s, R(rmm), 0x3f800000, 0x33800000, 0x3f800001, NX)
    TS2(73, fadd.s, R(rtz), 0xbf800000, 0xb3800000, 0xbf800000, NX)
    TS2(74, fadd.s, R(rdn), 0xbf800000, 0xb3800000, 0xbf800001, NX)
    TS2(75, fdiv.s, R(rne), 0x3f800000, 0, 0x7f800000, DZ)
    TS2(76, fdiv.s, R(rne), 0, 0, 0x7fc00000, NV)
    TS2(77, fmul.s, R(rne), 0x7f7fffff, 0x40000000, 0x7f800000, OF | NX)
    TS2(78, fsub.s, R(rne), 0x7f800001, 0x3f800000, 0x7fc00000, NV)
    TS2(79, fmul.s, R(rne), 0x00000001, 0x3f000000, 0, UF | NX)
    /* an operand that is not NaN-boxed reads as the canonical NaN */
    li t0, 0x000000003f800000
    fmv.d.x ft0, t0
    li t0, 0x3f800000
    fmv.w.x ft1, t0
    csrw fflags, zero
    fadd.s ft2, ft0, ft1
    fmv.x.d a4, ft2
    CHECK(80, a4, 0xffffffff7fc00000)
    csrr a4, fflags
    CHECK(81, a4, 0)
    fsgnjn.s ft2, ft0, ft0
    fmv.x.d a4, ft2
    CHECK(82, a4, 0xffffffffffc00000)
    fmv.x.w a4, ft0             /* fmv.x.w moves the low 32 bits, boxed or not, sign-extended */
    CHECK(83, a4, 0x3f800000)
    li t0, 0x1234567887654321
    fmv.d.x ft0, t0
    fmv.x.w a4, ft0
    CHECK(84, a4, 0xffffffff87654321)
    fclass.s a4, ft0
    CHECK(85, a4, 1 << 9)
    fsgnj.s ft2, ft1, ft1       /* sign injection keeps NaN payloads (only arithmetic canonicalises) */
    li t0, 0x7fc00123
    fmv.w.x ft3, t0
    fsgnjx.s ft2, ft3, ft1
    fmv.x.d a4, ft2
    CHECK(86, a4, 0xffffffff7fc00123)
    fmv.w.x ft3, t0
    fmv.x.d a4, ft3
    CHECK(87, a4, 0xffffffff7fc00123)

    /* Fused multiply-add: one rounding, and the four sign forms */
    TD3(90, fmadd.d, R(rne), TWO, 0x4008000000000000, ONE, 0x401c000000000000, 0)
    TD3(91, fmsub.d, R(rne), TWO, 0x4008000000000000, ONE, 0x4014000000000000, 0)
    TD3(92, fnmsub.d, R(rne), TWO, 0x4008000000000000, ONE, 0xc014000000000000, 0)
    TD3(93, fnmadd.d, R(rne), TWO, 0x4008000000000000, ONE, 0xc01c000000000000, 0)
    TD3(94, fmadd.d, R(rne), 0x3ff0000000000001, 0x3fefffffffffffff, 0xbff0000000000000, 0x3c9ffffffffffffe, 0)
    TD3(95, fmadd.d, R(rne), ONE, ONE, 0x3ca0000000000000, ONE, NX)
    TD3(96, fmadd.d, R(rmm), ONE, ONE, 0x3ca0000000000000, 0x3ff0000000000001, NX)
    TD3(97, fmadd.d, R(rne), PINF, 0, QNAN, QNAN, NV)     /* inf * 0 is invalid even with a quiet NaN addend */
    TD3(98, fmadd.d, R(rne), ONE, ONE, SNAN, QNAN, NV)
    TS3(99, fmadd.s, R(rne), 0x40000000, 0x40400000, 0x3f800000, 0x40e00000, 0)
    TS3(100, fnmadd.s, R(rup), 0x3f800000, 0x3f800000, 0x33800000, 0xbf800000, NX)
    TS3(101, fnmadd.s, R(rdn), 0x3f800000, 0x3f800000, 0x33800000, 0xbf800001, NX)
    TS3(102, fmadd.s, R(rne), 0x7f800000, 0, 0x7fc00000, 0x7fc00000, NV)

    /* fmin/fmax: -0 < +0, a single NaN gives the other operand, signalling NaNs set NV */
    TD2(110, fmin.d, , NZERO, 0, NZERO, 0)
    TD2(111, fmin.d, , 0, NZERO, NZERO, 0)
    TD2(112, fmax.d, , NZERO, 0, 0, 0)
    TD2(113, fmax.d, , 0, NZERO, 0, 0)
    TD2(114, fmin.d, , QNAN, ONE, ONE, 0)
    TD2(115, fmax.d, , ONE, QNAN, ONE, 0)
    TD2(116, fmin.d, , SNAN, ONE, ONE, NV)
    TD2(117, fmax.d, , SNAN, QNAN, QNAN, NV)
    TD2(118, fmax.d, , 0x7ff8000000000123, 0xfff8000000000000, QNAN, 0)
    TD2(119, fmin.d, , NINF, ONE, NINF, 0)
    TS2(120, fmin.s, , 0x80000000, 0, 0x80000000, 0)
    TS2(121, fmax.s, , 0x7fc00000, 0xbf800000, 0xbf800000, 0)
    TS2(122, fmax.s, , 0x7f800001, 0x3f800000, 0x3f800000, NV)

    /* Compares: feq is quiet, flt and fle signal on any NaN */
    TDX(130, feq.d, ONE, ONE, 1, 0)
    TDX(131, feq.d, NZERO, 0, 1, 0)
    TDX(132, feq.d, QNAN, ONE, 0, 0)
    TDX(133, feq.d, SNAN, ONE, 0, NV)
    TDX(134, flt.d, QNAN, ONE, 0, NV)
    TDX(135, fle.d, ONE, QNAN, 0, NV)
    TDX(136, flt.d, NZERO, 0, 0, 0)
    TDX(137, fle.d, NZERO, 0, 1, 0)
    TDX(138, flt.d, ONE, TWO, 1, 0)
    TDX(139, fle.d, TWO, ONE, 0, 0)

    /* fclass: one bit per class */
    TCL(140, fclass.d, NINF, 1 << 0)
    TCL(141, fclass.d, 0xbff0000000000000, 1 << 1)
    TCL(142, fclass.d, 0x800fffffffffffff, 1 << 2)
    TCL(143, fclass.d, NZERO, 1 << 3)
    TCL(144, fclass.d, 0, 1 << 4)
    TCL(145, fclass.d, 0x0000000000000001, 1 << 5)
    TCL(146, fclass.d, ONE, 1 << 6)
    TCL(147, fclass.d, PINF, 1 << 7)
    TCL(148, fclass.d, SNAN, 1 << 8)
    TCL(149, fclass.d, QNAN, 1 << 9)
    TCL(150, fclass.s, 0xffffffff00000000 | 0x807fffff, 1 << 2)
    TCL(151, fclass.s, 0xffffffff00000000 | 0x7f800001, 1 << 8)
    TCL(152, fclass.s, 0xffffffff00000000 | 0xff800000, 1 << 0)

    /* FP -> integer: rounding, saturation (NaN as the largest positive), NV and NX */
    TDC(160, fcvt.w.d, R(rne), 0x4004000000000000, 2, NX)        /* 2.5 */
    TDC(161, fcvt.w.d, R(rmm), 0x4004000000000000, 3, NX)
    TDC(162, fcvt.w.d, R(rup), 0x4004000000000000, 3, NX)
    TDC(163, fcvt.w.d, R(rdn), 0x4004000000000000, 2, NX)
    TDC(164, fcvt.w.d, R(rtz), 0x4004000000000000, 2, NX)
    TDC(165, fcvt.w.d, R(rne), 0xc004000000000000, -2, NX)       /* -2.5 */
    TDC(166, fcvt.w.d, R(rmm), 0xc004000000000000, -3, NX)
    TDC(167, fcvt.w.d, R(rdn), 0xc004000000000000, -3, NX)
    TDC(168, fcvt.w.d, R(rup), 0xc004000000000000, -2, NX)
    TDC(169, fcvt.w.d, R(rne), 0x400c000000000000, 4, NX)        /* 3.5 */
    TDC(170, fcvt.w.d, R(rne), 0x41e65a0bc0000000, 0x7fffffff, NV) /* 3e9 */
    TDC(171, fcvt.w.d, R(rne), 0xc1e65a0bc0000000, 0xffffffff80000000, NV)
    TDC(172, fcvt.w.d, R(rne), QNAN, 0x7fffffff, NV)
    TDC(173, fcvt.w.d, R(rne), NINF, 0xffffffff80000000, NV)
    TDC(174, fcvt.w.d, R(rne), 0xc1e0000000000000, 0xffffffff80000000, 0) /* -2^31 */
    TDC(175, fcvt.wu.d, R(rne), 0xbff0000000000000, 0, NV)
    TDC(176, fcvt.wu.d, R(rtz), 0xbfe0000000000000, 0, NX)       /* -0.5 rounds to 0: representable */
    TDC(177, fcvt.wu.d, R(rne), 0x41efffffffe00000, 0xffffffffffffffff, 0) /* 2^32 - 1, sign-extended */
    TDC(178, fcvt.wu.d, R(rne), 0x41f2a05f20000000, 0xffffffffffffffff, NV) /* 5e9 */
    TDC(179, fcvt.wu.d, R(rne), QNAN, 0xffffffffffffffff, NV)
    TDC(180, fcvt.l.d, R(rne), 0x43e0000000000000, 0x7fffffffffffffff, NV) /* 2^63 */
    TDC(181, fcvt.l.d, R(rne), 0xc3e0000000000000, 0x8000000000000000, 0)
    TDC(182, fcvt.l.d, R(rne), QNAN, 0x7fffffffffffffff, NV)
    TDC(183, fcvt.l.d, R(rdn), 0xbfe0000000000000, -1, NX)
    TDC(184, fcvt.lu.d, R(rne), 0x43f0000000000000, 0xffffffffffffffff, NV) /* 2^64 */
    TDC(185, fcvt.lu.d, R(rne), 0x43e0000000000000, 0x8000000000000000, 0)
    TDC(186, fcvt.lu.d, R(rne), NINF, 0, NV)
    TDC(187, fcvt.lu.d, R(rup), 0x3fb999999999999a, 1, NX)        /* 0.1 */
    TSC(188, fcvt.w.s, R(rne), 0x3fc00000, 2, NX)                 /* 1.5f */
    TSC(189, fcvt.l.s, R(rmm), 0xbfc00000, -2, NX)
    TSC(190, fcvt.l.s, R(rtz), 0xbfc00000, -1, NX)
    TSC(191, fcvt.lu.s, R(rne), 0x7fc00000, 0xffffffffffffffff, NV)
    TSC(192, fcvt.wu.s, R(rne), 0x4f800000, 0xffffffffffffffff, NV) /* 2^32 */
    TSC(193, fcvt.w.s, R(rne), 0xcf000000, 0xffffffff80000000, 0)
    TSC(194, fcvt.l.s, R(rne), 0x5f000000, 0x7fffffffffffffff, NV) /* 2^63 */

    /* integer -> FP: rounding of wide integers, unsigned and W forms (upper bits ignored) */
    TCD(200, fcvt.d.l, R(rne), 0x20000000000001, 0x4340000000000000, NX)
    TCD(201, fcvt.d.l, R(rup), 0x20000000000001, 0x4340000000000001, NX)
    TCD(202, fcvt.d.l, R(rmm), 0x20000000000001, 0x4340000000000001, NX)
    TCD(203, fcvt.d.l, R(rdn), -0x20000000000001, 0xc340000000000001, NX)
    TCD(204, fcvt.d.l, R(rtz), -0x20000000000001, 0xc340000000000000, NX)
    TCD(205, fcvt.d.lu, R(rne), 0xffffffffffffffff, 0x43f0000000000000, NX)
    TCD(206, fcvt.d.lu, R(rtz), 0xffffffffffffffff, 0x43efffffffffffff, NX)
    TCD(207, fcvt.d.w, , 0x12345678fffffff9, 0xc01c000000000000, 0)
    TCD(208, fcvt.d.wu, , 0xffffffff00000005, 0x4014000000000000, 0)
    TCD(209, fcvt.d.l, R(rne), 0, 0, 0)
    TCS(210, fcvt.s.w, R(rne), 16777217, 0x4b800000, NX)
    TCS(211, fcvt.s.w, R(rup), 16777217, 0x4b800001, NX)
    TCS(212, fcvt.s.wu, R(rne), 0xffffffff, 0x4f800000, NX)
    TCS(213, fcvt.s.l, R(rne), -1, 0xbf800000, 0)
    TCS(214, fcvt.s.lu, R(rtz), 0xffffffffffffffff, 0x5f7fffff, NX)
    TCS(215, fcvt.s.w, R(rmm), 16777219, 0x4b800002, NX)

    /* S <-> D */
    TD1(220, fcvt.s.d, R(rne), 0x3ff0000010000000, 0xffffffff3f800000, NX)  /* 1 + 2^-24: a tie */
    TD1(221, fcvt.s.d, R(rmm), 0x3ff0000010000000, 0xffffffff3f800001, NX)
    TD1(222, fcvt.s.d, R(rne), 0x7fefffffffffffff, 0xffffffff7f800000, OF | NX)
    TD1(223, fcvt.s.d, R(rtz), 0x7fefffffffffffff, 0xffffffff7f7fffff, OF | NX)
    TD1(224, fcvt.s.d, R(rne), SNAN, 0xffffffff7fc00000, NV)
    TD1(225, fcvt.s.d, R(rne), 0x3690000000000000, 0xffffffff00000000, UF | NX)    /* 2^-150: tie to 0 */
    TD1(226, fcvt.s.d, R(rmm), 0x3690000000000000, 0xffffffff00000001, UF | NX)
    li t0, 0xffffffff7f800001   /* a boxed signalling single */
    fmv.d.x ft0, t0
    csrw fflags, zero
    fcvt.d.s ft2, ft0
    fmv.x.d a4, ft2
    CHECK(227, a4, QNAN)
    csrr a4, fflags
    CHECK(228, a4, NV)
    li t0, 0xffffffffbf800000
    fmv.d.x ft0, t0
    fcvt.d.s ft2, ft0
    fmv.x.d a4, ft2
    CHECK(229, a4, 0xbff0000000000000)

    /* fflags accrue: an inexact operation, then a division by zero */
    csrw fflags, zero
    li t0, ONE
    fmv.d.x ft0, t0
    li t0, 0x4008000000000000
    fmv.d.x ft1, t0
    fdiv.d ft2, ft0, ft1
    fmv.d.x ft1, zero
    fdiv.d ft2, ft0, ft1
    csrr a4, fflags
    CHECK(230, a4, NX | DZ)
    csrwi frm, 1
    csrr a4, fcsr
    CHECK(231, a4, (1 << 5) | NX | DZ)
    csrw fcsr, zero

    /* Loads and stores: flw boxes, fsw stores the low 32 bits, compressed forms, faults */
    la a1, data
    li t0, 0x1122334455667788
    sd t0, 0(a1)
    flw fa0, 4(a1)
    fmv.x.d a4, fa0
    CHECK(240, a4, 0xffffffff11223344)
    fld fa1, 0(a1)
    fmv.x.d a4, fa1
    CHECK(241, a4, 0x1122334455667788)
    fsw fa1, 8(a1)
    lwu a4, 8(a1)
    CHECK(242, a4, 0x55667788)
    c.fsd fa1, 16(a1)
    ld a4, 16(a1)
    CHECK(243, a4, 0x1122334455667788)
    c.fld fa2, 16(a1)
    fmv.x.d a4, fa2
    CHECK(244, a4, 0x1122334455667788)
    addi sp, sp, -32
    c.fsdsp fa1, 8(sp)
    ld a4, 8(sp)
    CHECK(245, a4, 0x1122334455667788)
    li t0, 0x55
    sd t0, 16(sp)
    c.fldsp ft5, 16(sp)
    fmv.x.d a4, ft5
    CHECK(246, a4, 0x55)
    addi sp, sp, 32
    /* a misaligned fld traps with cause 4 and the address in mtval (with -DEMULATE, as on QEMU and with
     * misaligned=emulate, it is performed); an fsd outside RAM faults with cause 7 */
    li gp, 247
    li s10, -1
    addi a2, a1, 2
    fld fa3, 0(a2)
#ifdef EMULATE
    li t6, -1
    bne s10, t6, fail
    fmv.x.d a4, fa3
    CHECK(249, a4, 0x7788112233445566)
#else
    li t6, 4
    bne s10, t6, fail
    bne s9, a2, fail
#endif
    li gp, 248
    li s10, -1
    li a2, 0xffffffff80000000
    fsd fa3, 0(a2)
    li t6, 7
    bne s10, t6, fail
    bne s9, a2, fail

    /* Operations translated inline (RNE): flags of several accrue until fflags is read, a write of fflags drops
     * the ones still pending, frm is looked at when the instruction runs, and flw's box feeds fadd.s. */
    csrw fcsr, zero
    li t0, ONE
    fmv.d.x ft0, t0
    fmv.d.x ft1, zero
    li t0, 0x4008000000000000       /* 3.0 */
    fmv.d.x ft3, t0
    fdiv.d ft2, ft0, ft1            /* 1 / 0: DZ */
    fdiv.d ft4, ft0, ft3            /* 1 / 3: NX */
    fmadd.d ft5, ft0, ft0, ft0      /* 2, exact */
    csrr a4, fflags
    CHECK(260, a4, DZ | NX)
    fmv.x.d a4, ft5
    CHECK(261, a4, TWO)
    fdiv.d ft2, ft0, ft1
    csrw fflags, zero
    fadd.d ft2, ft0, ft0
    csrr a4, fcsr
    CHECK(262, a4, 0)
    csrwi frm, 3                    /* RUP */
    fdiv.d ft4, ft0, ft3
    fmv.x.d a4, ft4
    CHECK(263, a4, 0x3fd5555555555556)
    csrwi frm, 0
    fdiv.d ft4, ft0, ft3
    fmv.x.d a4, ft4
    CHECK(264, a4, 0x3fd5555555555555)
    li t0, 0x3f800000               /* 1.0f */
    sw t0, 0(a1)
    flw fa0, 0(a1)
    fadd.s fa1, fa0, fa0
    fsw fa1, 8(a1)
    fmv.x.d a4, fa1
    CHECK(265, a4, 0xffffffff40000000)
    lwu a4, 8(a1)
    CHECK(266, a4, 0x40000000)
    /* flags an instruction the helper runs on SSE leaves in the host's MXCSR are not an inline one's */
    fcvt.s.d ft6, ft4               /* 1/3 to single: NX */
    csrw fflags, zero
    fadd.d ft2, ft0, ft0
    csrr a4, fflags
    CHECK(267, a4, 0)
    csrw fcsr, zero

    TEST_END

handler:
    csrr s10, mcause
    csrr s9, mtval
    csrr t5, mepc
    lhu t4, 0(t5)
    andi t4, t4, 3
    li t3, 3
    addi t5, t5, 2
    bne t4, t3, 1f
    addi t5, t5, 2
1:  csrw mepc, t5
    mret

    .data
    .balign 16
data: .space 64
