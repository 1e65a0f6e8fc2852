/* Bare-metal start for rvbench and fpbench on QEMU's virt board and vmm's riscv64 machine: stack, .bss, main, then the
 * SiFive test device ends the machine (status 0, or 0x3333 | main's status << 16), and a UART out_str. */
    .section .text.init
    .globl _start
_start:
    la sp, __stack_top
    li t0, 1 << 13          /* mstatus.FS = Initial: fpbench uses F and D (nothing else here looks at it) */
    csrs mstatus, t0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call main
    li t0, 0x100000
    beqz a0, 3f
    slli a0, a0, 16
    li t1, 0x3333
    or t1, t1, a0
    sw t1, 0(t0)
3:  li t1, 0x5555
    sw t1, 0(t0)
4:  j 4b

    .text
    .globl out_str
out_str:
    li t0, 0x10000000
1:  lbu t1, 0(a0)
    beqz t1, 2f
    sb t1, 0(t0)
    addi a0, a0, 1
    j 1b
2:  ret
