/* Saved state of the FPU (snapshot_smode.sh with this guest): every f register gets a value of its own (doubles,
 * NaN-boxed singles, a non-boxed pattern), fcsr frm = RMM and some flags, FS Dirty; it prints "r", waits 0.5 s of
 * guest time (the snapshot is taken then, vmm killed and the snapshot restored in a new process) and checks that
 * all came back, then that the restored rounding mode is the one used. Status 0 and "PASS fpu-save" when all
 * came back, else the number of the first check that failed. */
#include "test.h"

TEST_BEGIN("fpu-save")
    li t0, 3 << 13
    csrs mstatus, t0
    /* f[i] = 0x0123456789abcdef rotated left by 2i, xor i */
    li t1, 0x0123456789abcdef
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    slli t2, t1, 2*\r
    .if \r == 0
    li t3, 0
    .else
    srli t3, t1, 64 - 2*\r
    .endif
    or t2, t2, t3
    xori t2, t2, \r
    fmv.d.x f\r, t2
    .endr
    li t0, (4 << 5) | 0x15
    csrw fcsr, t0
    li t0, 3 << 13           /* Clean: the restore must keep FS as saved */
    csrc mstatus, t0
    li t0, 2 << 13
    csrs mstatus, t0
    li t0, UART
    li t1, 'r'
    sb t1, 0(t0)
    li t1, '\n'
    sb t1, 0(t0)
    rdtime s1
    li t0, 5000000          /* 0.5 s at 10 MHz */
    add s1, s1, t0
1:  rdtime t0
    bltu t0, s1, 1b
    csrr a4, mstatus
    srli a4, a4, 13
    andi a4, a4, 3
    CHECK(1, a4, 2)
    csrr a4, fcsr
    CHECK(2, a4, (4 << 5) | 0x15)
    li t1, 0x0123456789abcdef
    li gp, 3
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    slli t2, t1, 2*\r
    .if \r == 0
    li t3, 0
    .else
    srli t3, t1, 64 - 2*\r
    .endif
    or t2, t2, t3
    xori t2, t2, \r
    fmv.x.d a4, f\r
    bne a4, t2, fail
    .endr
    /* frm = RMM rounds the tie 1 + 2^-53 away */
    li t0, 0x3ff0000000000000
    fmv.d.x fa0, t0
    li t0, 0x3ca0000000000000
    fmv.d.x fa1, t0
    fadd.d fa2, fa0, fa1
    fmv.x.d a4, fa2
    CHECK(4, a4, 0x3ff0000000000001)
TEST_END
