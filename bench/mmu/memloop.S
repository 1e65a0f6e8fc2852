/* bench/mmu: the cost of a load or store through the software TLB against a Bare access. The same loop (8 loads
 * and 8 stores over 8 pages per iteration, ITER iterations) runs in M-mode with no translation, or (-DPAGED) in
 * S-mode under Sv39 with RAM identity-mapped by one gigapage, so every access takes the inline TLB path. Ends
 * through the SiFive test device (status 0). */
#define FINISHER 0x100000
#ifndef ITER
#define ITER 20000000
#endif
    .section .text.init
    .globl _start
_start:
#ifdef PAGED
    la t0, root
    li t1, (0x80000000 >> 12) << 10 | 0xcf        /* V R W X A D: RAM, identity */
    sd t1, 16(t0)
    li t1, 0xc7                                   /* V R W A D: devices, identity */
    sd t1, 0(t0)
    srli t0, t0, 12
    li t1, 8 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, body
    csrw mepc, t0
    mret
#endif
body:
    li s0, ITER
    la s1, arr
    li t0, 4096
    add s2, s1, t0
    li t0, 8192
    add s3, s1, t0
    li t0, 12288
    add s4, s1, t0
    li t0, 16384
    add s5, s1, t0
    li t0, 20480
    add s6, s1, t0
    li t0, 24576
    add s7, s1, t0
    li t0, 28672
    add s8, s1, t0
1:
    ld t0, 0(s1)
    ld t1, 0(s2)
    ld t2, 0(s3)
    ld t3, 0(s4)
    ld t4, 0(s5)
    ld t5, 0(s6)
    ld t6, 0(s7)
    ld a0, 0(s8)
    addi t0, t0, 1
    sd t0, 8(s1)
    sd t1, 8(s2)
    sd t2, 8(s3)
    sd t3, 8(s4)
    sd t4, 8(s5)
    sd t5, 8(s6)
    sd t6, 8(s7)
    sd a0, 8(s8)
    addi s0, s0, -1
    bnez s0, 1b
    li t0, 0x5555
    li t1, FINISHER
    sw t0, 0(t1)
2:  j 2b

    .data
    .balign 4096
root: .zero 4096
arr: .zero 8 * 4096
