/* SMP (run with --cpus HARTS, HARTS >= 2): every hart starts at _start with a0 = mhartid; the others sleep in wfi
 * until hart 0's IPI (their msip) wakes them; then all count concurrently with amoadd.w, an LR/SC loop and a
 * spinlock around a plain load/add/store, and harts 0 and 1 run Peterson's lock (plain stores and loads ordered
 * by fence rw,rw, which x86-TSO does not give for a store then a load); every total must be exact. Then each
 * hart's own mtimecmp raises its own timer interrupt only, and hart 1 wakes hart 0 from wfi by IPI. Last, hart 1
 * rewrites code hart 0 has run (and translated): after its fence.i, hart 0 runs the new instruction. */
#include "test.h"
#define CLINT 0x2000000
#define MTIMECMP (CLINT + 0x4000)
#define MTIME (CLINT + 0xbff8)
#ifndef HARTS
#define HARTS 2
#endif
#ifndef ITER
#define ITER 200000         /* increments per hart of each shared counter */
#endif
#ifndef PITER
#define PITER 100000        /* Peterson rounds per hart: store-load reordering needs many to show */
#endif

    .section .text.init
    .globl _start
_start:
    la t0, trap_unexpected
    csrw mtvec, t0
    csrr s0, mhartid                /* s0: this hart's id, all along */
    la sp, __stack_top
    slli t0, s0, 12
    sub sp, sp, t0
    li gp, 1
    bne a0, s0, fail                /* a0 at reset is the hart id */
    li gp, 2
    li t0, HARTS
    bgeu s0, t0, fail               /* no hart beyond --cpus */
    bnez s0, secondary
    j main
trap_unexpected:
    li gp, 250
    j fail
test_name: .asciz "smp"
    .balign 4

main:
    /* 3: every other hart reached its wfi loop; then one IPI each */
    li gp, 3
    la a0, arrived
    li t1, HARTS - 1
1:  lw t0, 0(a0)
    bne t0, t1, 1b
    li t2, 1
2:  li t0, CLINT
    slli t1, t2, 2
    add t0, t0, t1
    li t1, 1
    sw t1, 0(t0)
    addi t2, t2, 1
    li t1, HARTS
    blt t2, t1, 2b
    jal ra, work
    la a0, done
    li t1, HARTS
3:  lw t0, 0(a0)
    bne t0, t1, 3b
    fence rw, rw
    la a0, counter_amo
    lw a4, 0(a0)
    CHECK(4, a4, HARTS * ITER)
    la a0, counter_lrsc
    lw a4, 0(a0)
    CHECK(5, a4, HARTS * ITER)
    la a0, counter_lock
    lw a4, 0(a0)
    CHECK(6, a4, HARTS * ITER)
    la a0, counter_peterson
    lw a4, 0(a0)
    CHECK(7, a4, 2 * PITER)
    /* 8: the woken harts cleared their msip, hart 0's was never set */
    li gp, 8
    li t2, 0
4:  li t0, CLINT
    slli t1, t2, 2
    add t0, t0, t1
    lw t1, 0(t0)
    bnez t1, fail
    addi t2, t2, 1
    li t1, HARTS
    blt t2, t1, 4b
    csrr t0, mip
    andi t0, t0, 1 << 3
    bnez t0, fail
    /* 9: per-hart timers: the others' deadlines raise no MTIP here (hart 0's mtimecmp stays all ones) */
    li gp, 9
    la a0, phase
    li t0, 1
    sw t0, 0(a0)
    la a0, timers
    li t1, HARTS - 1
5:  lw t0, 0(a0)
    bne t0, t1, 5b
    csrr t0, mip
    andi t0, t0, 1 << 7
    bnez t0, fail
    /* 10: hart 1's IPI ends hart 0's wfi */
    li gp, 10
    li t0, 1 << 3
    csrs mie, t0
    la a0, phase
    li t0, 2
    sw t0, 0(a0)
6:  wfi
    csrr t0, mip
    andi t0, t0, 1 << 3
    beqz t0, 6b
    li t0, CLINT
    sw zero, 0(t0)
    csrr t0, mip
    andi t0, t0, 1 << 3
    bnez t0, fail
    /* 13: code another hart wrote is what runs after this hart's fence.i */
    li gp, 13
    jal ra, patched
    li t0, 1
    bne a0, t0, fail
    la a0, phase
    li t0, 3
    sw t0, 0(a0)
7:  lw t0, 0(a0)
    li t1, 4
    bne t0, t1, 7b
    fence.i
    jal ra, patched
    li t0, 2
    bne a0, t0, fail
    TEST_END

/* Rewritten by hart 1 in the last step: li a0, 1 becomes li a0, 2. */
    .balign 4
    .option push
    .option norvc
patched:
    addi a0, zero, 1
    ret
    .option pop

secondary:
    li t0, 1 << 3
    csrs mie, t0                    /* MSIE; mstatus.MIE stays clear: the IPI ends wfi without a trap */
    la a0, arrived
    li t0, 1
    amoadd.w zero, t0, (a0)
1:  wfi
    csrr t0, mip
    andi t0, t0, 1 << 3
    beqz t0, 1b
    li t0, CLINT
    slli t1, s0, 2
    add t0, t0, t1
    sw zero, 0(t0)                  /* acknowledge: clear this hart's msip */
    jal ra, work
    /* per-hart timer: a deadline of its own, (id * 2000) ticks ahead */
    la a0, phase
2:  lw t0, 0(a0)
    beqz t0, 2b
    li gp, 11
    li t0, MTIME
    ld t1, 0(t0)
    li t2, 2000
    mul t2, t2, s0
    add s1, t1, t2                  /* s1: the deadline */
    li t0, MTIMECMP
    slli t1, s0, 3
    add s2, t0, t1                  /* s2: this hart's mtimecmp */
    sd s1, 0(s2)
    li t0, 1 << 7
    csrs mie, t0
3:  wfi
    csrr t0, mip
    andi t0, t0, 1 << 7
    beqz t0, 3b
    li t0, MTIME
    ld t1, 0(t0)
    bltu t1, s1, fail               /* 11: MTIP only once this hart's own deadline passed */
    li t0, -1
    sd t0, 0(s2)
    li gp, 12
    csrr t0, mip
    andi t0, t0, 1 << 7
    bnez t0, fail                   /* 12: and it falls with its mtimecmp */
    la a0, timers
    li t0, 1
    amoadd.w zero, t0, (a0)
    li t0, 1
    bne s0, t0, 9f
    la a0, phase                    /* hart 1: the IPI to hart 0 */
    li t1, 2
4:  lw t0, 0(a0)
    bne t0, t1, 4b
    li t0, CLINT
    li t1, 1
    sw t1, 0(t0)
    li t1, 3                        /* then rewrite hart 0's code once it has run it */
5:  lw t0, 0(a0)
    bne t0, t1, 5b
    la t0, patched
    li t1, 0x00200513               /* addi a0, zero, 2 */
    sw t1, 0(t0)
    fence w, w
    li t1, 4
    sw t1, 0(a0)
9:  wfi
    j 9b

/* Every hart: ITER increments of three shared counters; harts 0 and 1 then PITER rounds of Peterson's lock. */
work:
    la a0, counter_amo
    la a1, counter_lrsc
    la a2, counter_lock
    la a3, lock
    li t3, 1
    li t2, ITER
1:  amoadd.w zero, t3, (a0)
2:  lr.w t0, (a1)
    addi t0, t0, 1
    sc.w t1, t0, (a1)
    bnez t1, 2b
3:  amoswap.w.aq t0, t3, (a3)
    bnez t0, 3b
    lw t0, 0(a2)
    addi t0, t0, 1
    sw t0, 0(a2)
    fence rw, w
    sw zero, 0(a3)
    addi t2, t2, -1
    bnez t2, 1b
    li t0, 2
    bgeu s0, t0, 9f
    /* Peterson: flag[i] = 1; turn = j; fence; wait while flag[j] && turn == j */
    la a0, flags
    slli t0, s0, 2
    add a1, a0, t0                  /* a1: &flag[i] */
    xori t4, s0, 1                  /* t4: j */
    slli t0, t4, 2
    add a2, a0, t0                  /* a2: &flag[j] */
    la a3, turn
    la a4, counter_peterson
    li t2, PITER
4:  sw t3, 0(a1)
    sw t4, 0(a3)
    fence rw, rw
5:  lw t0, 0(a2)
    beqz t0, 6f
    lw t0, 0(a3)
    beq t0, t4, 5b
6:  lw t0, 0(a4)
    addi t0, t0, 1
    sw t0, 0(a4)
    fence rw, w
    sw zero, 0(a1)
    addi t2, t2, -1
    bnez t2, 4b
9:  la a0, done
    li t0, 1
    amoadd.w zero, t0, (a0)
    ret

    .data
    .balign 64
arrived: .word 0
    .balign 64
done: .word 0
    .balign 64
phase: .word 0
    .balign 64
timers: .word 0
    .balign 64
counter_amo: .word 0
    .balign 64
counter_lrsc: .word 0
    .balign 64
counter_lock: .word 0
    .balign 64
lock: .word 0
    .balign 64
counter_peterson: .word 0
    .balign 64
flags: .word 0, 0
    .balign 64
turn: .word 0
