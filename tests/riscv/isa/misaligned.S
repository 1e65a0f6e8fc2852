/* Misaligned loads and stores. By default they raise address-misaligned exceptions (loads cause 4, stores 6,
 * mtval = the address); built with -DEMULATE and run with misaligned=emulate they are performed, as on QEMU. */
#include "test.h"
#ifdef EMULATE
#define MIS_LOAD(n, inst, off, expect) inst a4, off(s1); CHECK(n, a4, expect)
#define MIS_STORE(n, inst, off) inst a2, off(s1)
#else
#define MIS_LOAD(n, inst, off, expect) \
    li gp, n; li s6, 4; addi s10, s1, off; la s7, 1f; inst a4, off(s1); j fail; 1:
#define MIS_STORE(n, inst, off) \
    li gp, n; li s6, 6; addi s10, s1, off; la s7, 1f; inst a2, off(s1); j fail; 1:
#endif
TEST_BEGIN("misaligned")
    la t0, handler
    csrw mtvec, t0
    la s1, buf
    li a1, 0x8877665544332211
    sd a1, 0(s1)
    li a1, 0x0123456789abcdef
    sd a1, 8(s1)
    MIS_LOAD(1, ld, 1, 0xef88776655443322)
    MIS_LOAD(2, lw, 3, 0x77665544)
    MIS_LOAD(3, lh, 7, 0xffffffffffffef88)
    MIS_LOAD(4, lhu, 7, 0xef88)
    MIS_LOAD(5, lwu, 6, 0xcdef8877)
    li a2, 0xdeadbeef
    MIS_STORE(6, sw, 5)
    MIS_STORE(7, sd, 9)
    MIS_STORE(8, sh, 1)
#ifdef EMULATE
    ld a4, 0(s1)
    CHECK(9, a4, 0xadbeef5544beef11)
    ld a4, 8(s1)
    CHECK(10, a4, 0x000000deadbeefde)
#else
    ld a4, 0(s1)                       /* nothing was written */
    CHECK(9, a4, 0x8877665544332211)
#endif
TEST_END
    .balign 4
handler:
    csrr t0, mcause
    bne t0, s6, fail
    csrr t0, mtval
    bne t0, s10, fail
    csrw mepc, s7
    mret
    .data
    .balign 16
buf: .zero 32
