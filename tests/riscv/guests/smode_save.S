/* Saved state of S-mode (snapshot_smode.sh): M-mode sets every supervisor CSR and the delegation and PMP
 * registers to values of its own, prints "ready", and enters S-mode, which waits 0.5 s of guest time (the
 * snapshot is taken then, vmm killed and the snapshot restored in a new process), reads its CSRs back and ecalls
 * to M, which checks that the trap came from S and reads the M-mode registers back. Status 0 and "PASS
 * smode-save" when all came back, else the number of the first check that failed. */
#include "test.h"
#define SREPORT
#include "smode.h"

TEST_BEGIN("smode-save")
    SETUP_HANDLERS
    li t0, 1 << 3
    csrw medeleg, t0
    li t0, 0x222
    csrw mideleg, t0
    li t0, 0x20
    csrw mie, t0
    li t0, 0x5a5a
    csrw sscratch, t0
    li t0, 0x80001234
    csrw sepc, t0
    li t0, 0x11
    csrw scause, t0
    li t0, 0x22
    csrw stval, t0
    li t0, 7
    csrw mcounteren, t0
    li t0, 5
    csrw scounteren, t0
    csrwi menvcfg, 1
    li t0, 0x777
    csrw pmpaddr3, t0
    li t0, 1 << 18          /* SUM */
    csrs mstatus, t0
    li t0, UART
    li t1, 'r'
    sb t1, 0(t0)
    li t1, '\n'
    sb t1, 0(t0)
    RESUME(1f)
    GO(PRV_S, s_wait)
1:  CHECK(20, s4, 9)
    CHECK(21, s6, PRV_S)
    csrr a4, medeleg
    CHECK(22, a4, 1 << 3)
    csrr a4, mideleg
    CHECK(23, a4, 0x222)
    csrr a4, menvcfg
    CHECK(24, a4, 1)
    csrr a4, pmpaddr3
    CHECK(25, a4, 0x777)
    csrr a4, pmpcfg0
    CHECK(26, a4, 0x1f)
    csrr a4, mcounteren
    CHECK(27, a4, 7)
TEST_END

s_wait:
    rdtime s1
    li t0, 5000000          /* 0.5 s at 10 MHz */
    add s1, s1, t0
1:  rdtime t0
    bltu t0, s1, 1b
    csrr a4, sscratch
    CHECK(1, a4, 0x5a5a)
    csrr a4, stvec
    la t0, shandler
    li gp, 2
    bne a4, t0, fail
    csrr a4, sepc
    CHECK(3, a4, 0x80001234)
    csrr a4, scause
    CHECK(4, a4, 0x11)
    csrr a4, stval
    CHECK(5, a4, 0x22)
    csrr a4, scounteren
    CHECK(6, a4, 5)
    csrr a4, sie
    CHECK(7, a4, 0x20)
    csrr a4, sstatus
    srli a4, a4, 18
    andi a4, a4, 1
    CHECK(8, a4, 1)
    ecall
    j fail
    HANDLERS
