/* Console input through the memory-mapped 16550: polls LSR.DR, echoes what it reads until 'q', then ends with
 * status 0. Every poll is an MMIO load, so pausing vmm (Ctrl-A p) lands in the middle of one. */
#define UART 0x10000000
    .section .text.init
    .globl _start
_start:
    li s0, UART
    la a0, ready
    call puts
1:  lbu t0, 5(s0)           /* LSR */
    andi t0, t0, 1
    beqz t0, 1b
    lbu t1, 0(s0)           /* RBR */
    li t2, 'q'
    beq t1, t2, 2f
    sb t1, 0(s0)
    j 1b
2:  la a0, bye
    call puts
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
3:  j 3b
puts:
    lbu t0, 0(a0)
    beqz t0, 4f
    sb t0, 0(s0)
    addi a0, a0, 1
    j puts
4:  ret
    .section .rodata
ready: .asciz "echo ready\n"
bye: .asciz "\nbye\n"
