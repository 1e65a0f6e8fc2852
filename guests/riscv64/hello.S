/*
 * The RISC-V demo guest (README command 1 on a host without KVM): a bare-metal program for the QEMU-virt-
 * compatible machine of vmm's riscv64 plugin (and of qemu-system-riscv64 -M virt -bios none). It greets on the
 * 16550 UART at 0x10000000, names its hart and the extensions misa reports, counts the primes below 100000 by
 * trial division (a little work for the recompiler), prints the count and ends through the SiFive test device
 * at 0x100000 with "pass" (vmm exits 0).
 */
#define UART 0x10000000
#define FINISHER 0x100000

    .section .text.init
    .globl _start
_start:
    la sp, __stack_top
    la a0, msg_hello
    call puts
    csrr a0, mhartid
    call putdec
    la a0, msg_misa
    call puts
    csrr s0, misa
    srli t0, s0, 62             /* MXL: 2 = 64-bit */
    li t1, 2
    bne t0, t1, 1f
    la a0, msg_rv64
    call puts
1:  li s1, 0                    /* extension letters A..Z from misa bits 0..25 */
2:  srl t0, s0, s1
    andi t0, t0, 1
    beqz t0, 3f
    addi a0, s1, 'a'
    call putc
3:  addi s1, s1, 1
    li t0, 26
    blt s1, t0, 2b
    li a0, '\n'
    call putc

    /* Primes below 100000: for each odd n, try odd divisors d while d * d <= n. */
    li s2, 1                    /* 2 is prime */
    li s3, 3
    li s4, 100000
4:  li t0, 3
5:  mul t1, t0, t0
    bgt t1, s3, 6f              /* no divisor found: prime */
    remu t2, s3, t0
    beqz t2, 7f
    addi t0, t0, 2
    j 5b
6:  addi s2, s2, 1
7:  addi s3, s3, 2
    blt s3, s4, 4b
    la a0, msg_primes
    call puts
    mv a0, s2
    call putdec
    li a0, '\n'
    call putc

    li t0, 0x5555               /* SiFive test device: pass */
    li t1, FINISHER
    sw t0, 0(t1)
8:  wfi
    j 8b

/* putc(a0): wait for the transmitter holding register to be empty (LSR bit 5), then send. */
putc:
    li t0, UART
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret

/* puts(a0): a NUL-terminated string. */
puts:
    addi sp, sp, -16
    sd ra, 0(sp)
    sd s0, 8(sp)
    mv s0, a0
1:  lbu a0, 0(s0)
    beqz a0, 2f
    call putc
    addi s0, s0, 1
    j 1b
2:  ld ra, 0(sp)
    ld s0, 8(sp)
    addi sp, sp, 16
    ret

/* putdec(a0): unsigned decimal. */
putdec:
    addi sp, sp, -48
    sd ra, 40(sp)
    addi t2, sp, 32             /* digits are written backwards from here */
    sb zero, 0(t2)
    li t3, 10
1:  remu t0, a0, t3
    divu a0, a0, t3
    addi t0, t0, '0'
    addi t2, t2, -1
    sb t0, 0(t2)
    bnez a0, 1b
    mv a0, t2
    call puts
    ld ra, 40(sp)
    addi sp, sp, 48
    ret

    .section .rodata
msg_hello:  .asciz "Hello from RISC-V: hart "
msg_misa:   .asciz ", misa "
msg_rv64:   .asciz "rv64"
msg_primes: .asciz "primes below 100000: "
