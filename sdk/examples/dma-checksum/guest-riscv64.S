# guest-riscv64.S: a RISC-V guest for the dma-checksum example (vmm --arch riscv64, QEMU virt layout), the same
# checks as guest.S: the CRC-32 of "123456789" (0xcbf43926) by DMA, then a buffer far outside guest RAM, which must
# end in an error status. Each completion is taken as a machine external interrupt through the PLIC (source IRQ,
# context 0 = hart 0 in M-mode): the hart waits in wfi and never reads the device before the interrupt. A CLINT
# timer bounds each wait; if it fires first, the guest says so and fails.
# Device: --device dma-checksum,base=0x10010000,irq=12. Output on the UART at 0x10000000; the SiFive test device
# ends the run: 0x5555 (vmm exits 0) when all is good, (N << 16) | 0x3333 (vmm exits N) when check N failed.

    .equ DEV, 0x10010000
    .equ IRQ, 12
    .equ PLIC, 0x0c000000
    .equ CLINT, 0x02000000
    .equ UART, 0x10000000
    .equ FINISHER, 0x100000
    .equ WAIT_TICKS, 100000000      # 10 s of the CLINT's 10 MHz mtime

    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    la t0, trap
    csrw mtvec, t0
    # PLIC: source IRQ at priority 1, enabled for context 0, threshold 0.
    li t0, PLIC + 4 * IRQ
    li t1, 1
    sw t1, 0(t0)
    li t0, PLIC + 0x2000
    li t1, 1 << IRQ
    sw t1, 0(t0)
    li t0, PLIC + 0x200000
    sw zero, 0(t0)
    li t0, (1 << 11) | (1 << 7)     # mie.MEIE | mie.MTIE
    csrs mie, t0
    csrsi mstatus, 8                # mstatus.MIE

    la a0, text
    li a1, 9
    call dma_run
    li a0, 1
    li t0, 1                        # status: done
    bne s8, t0, fail
    li a0, 2
    li t0, 0xcbf43926
    bne s9, t0, fail
    la a0, crc_ok
    call puts

    li a0, 0x1000000000             # 64 GiB: nowhere near RAM
    li a1, 16
    call dma_run
    li a0, 3
    li t0, 2                        # status: error
    bne s8, t0, fail
    la a0, refused
    call puts
    li t0, 0x5555
    li t1, FINISHER
    sw t0, 0(t1)
1:  j 1b

# dma_run(a0 = address, a1 = length): start the device, sleep until the completion interrupt; s8 = STATUS and
# s9 = RESULT as the interrupt handler read them.
dma_run:
    li s10, 0                       # set by the handler
    li t0, CLINT + 0xbff8
    ld t1, 0(t0)
    li t2, WAIT_TICKS
    add t1, t1, t2
    li t0, CLINT + 0x4000
    sd t1, 0(t0)                    # mtimecmp: the deadline
    li t0, DEV
    sd a0, 0(t0)
    sw a1, 8(t0)
    li t1, 1
    sw t1, 12(t0)                   # start
1:  wfi
    beqz s10, 1b
    ret

fail:                               # a0 = check number
    slli a0, a0, 16
    li t0, 0x3333
    or a0, a0, t0
    li t1, FINISHER
    sw a0, 0(t1)
1:  j 1b

puts:
    li t0, UART
1:  lbu t1, 0(a0)
    beqz t1, 2f
    sb t1, 0(t0)
    addi a0, a0, 1
    j 1b
2:  ret

    .balign 4
trap:
    csrr t0, mcause
    li t1, 0x800000000000000b       # machine external interrupt
    bne t0, t1, 2f
    li t0, PLIC + 0x200004
    lw t1, 0(t0)                    # claim
    li t2, IRQ
    bne t1, t2, 3f
    li t2, DEV
    lw s8, 16(t2)                   # STATUS
    lwu s9, 20(t2)                  # RESULT
    li a0, 2
    sw a0, 12(t2)                   # acknowledge: the device lowers its line
    sw t1, 0(t0)                    # complete
    li t0, -1
    li t1, CLINT + 0x4000
    sd t0, 0(t1)                    # no deadline any more
    li s10, 1
    mret
2:  li t1, 0x8000000000000007       # the deadline passed first
    bne t0, t1, 4f
    la a0, no_irq
    call puts
    li a0, 4
    j fail
3:  li a0, 5                        # claimed another source
    j fail
4:  li a0, 6                        # an exception
    j fail

    .section .rodata
text:    .ascii "123456789"
crc_ok:  .asciz "crc32 ok\n"
refused: .asciz "dma outside RAM refused\n"
no_irq:  .asciz "no completion interrupt before the deadline\n"

    .bss
    .balign 16
    .space 4096
stack_top:
