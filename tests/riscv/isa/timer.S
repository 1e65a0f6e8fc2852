/* CLINT: mtime advances, a timer interrupt arrives through mtvec with cause 0x8000000000000007 once
 * mtimecmp passes, wfi waits for it, and msip raises a software interrupt (cause 3). */
#include "test.h"
#define CLINT 0x2000000
TEST_BEGIN("timer")
    la t0, handler
    csrw mtvec, t0
    li s1, CLINT
    li t0, 0xbff8
    add s2, s1, t0          /* mtime */
    li t0, 0x4000
    add s3, s1, t0          /* mtimecmp */
    ld a1, 0(s2)
1:  ld a2, 0(s2)
    beq a1, a2, 1b          /* mtime moves */
    li s5, 0                /* interrupts seen */
    li t0, 10000            /* 1 ms at 10 MHz */
    add t0, a2, t0
    sd t0, 0(s3)
    li t0, 1 << 7
    csrs mie, t0
    /* mstatus.MIE stays clear while waiting: wfi wakes on a pending enabled interrupt even so, and the interrupt
     * cannot be taken between the check and the wfi (it would leave wfi nothing to wake it). */
2:  wfi
    csrr t0, mip
    andi t0, t0, 1 << 7
    beqz t0, 2b
    csrsi mstatus, 8        /* now it is taken */
4:  beqz s5, 4b
    CHECK(1, s5, 1)
    li gp, 2
    li t0, 0x8000000000000007
    bne s4, t0, fail
    /* software interrupt through msip */
    li t0, 1 << 3
    csrs mie, t0
    li t0, 1
    sw t0, 0(s1)
3:  li t0, 2
    blt s5, t0, 3b
    li gp, 3
    li t0, 0x8000000000000003
    bne s4, t0, fail
    csrci mstatus, 8
TEST_END
    .balign 4
handler:
    csrr s4, mcause
    addi s5, s5, 1
    li t0, 0x8000000000000007
    bne s4, t0, 1f
    li t0, -1
    sd t0, 0(s3)            /* no further timer interrupt */
    mret
1:  sw zero, 0(s1)          /* clear msip */
    mret
