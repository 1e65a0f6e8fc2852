# echo_irq: ELF64 guest that echoes serial input, driven by UART interrupts through the in-kernel PIC: it remaps
# the PIC to vectors 0x20-0x2f, unmasks IRQ 4, enables the UART's receive interrupt and halts with interrupts on.
# Each interrupt drains the receiver and echoes what came in; 'q' prints "bye" and exits with 0x10. It proves that
# stdin reaches the guest through the console loop, the UART and irq_set, and that halted vCPUs wake on IRQs.

    .equ COM1_IER, 0x3f9
    .equ COM1_MCR, 0x3fc
    .equ LSR_DR, 0x01
    .equ IDT_BASE, 0x200000
    .equ IDT_VECTORS, 48

    .text
    .globl _start
_start:
    # Our own IDT: vectors 0x20-0x2f go to irq_entry; the rest stay not-present (a stray exception triple-faults,
    # which the test sees as a failure rather than a hang).
    mov $IDT_BASE, %rdi
    xor %eax, %eax
    mov $(IDT_VECTORS * 2), %ecx
    rep stosq
    lea irq_entry(%rip), %rax
    mov $0x20, %ecx
1:  mov %ecx, %edi
    shl $4, %edi
    add $IDT_BASE, %edi
    mov %ax, (%rdi)                # offset 15:0
    movw $0x08, 2(%rdi)            # kernel code selector
    movw $0x8e00, 4(%rdi)          # present, DPL 0, 64-bit interrupt gate
    mov %rax, %rdx
    shr $16, %rdx
    mov %dx, 6(%rdi)               # offset 31:16
    shr $16, %rdx
    mov %edx, 8(%rdi)              # offset 63:32
    inc %ecx
    cmp $0x30, %ecx
    jne 1b
    lidt idt_ptr(%rip)

    # PIC: ICW1-4 on both chips, master at 0x20, slave at 0x28; only IRQ 4 unmasked.
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $0x04, %al
    out %al, $0x21
    mov $0x02, %al
    out %al, $0xa1
    mov $0x01, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xef, %al
    out %al, $0x21
    mov $0xff, %al
    out %al, $0xa1

    # UART: OUT2 (the PC's interrupt gate), receive interrupt on.
    mov $COM1_MCR, %dx
    mov $0x08, %al
    out %al, %dx
    mov $COM1_IER, %dx
    mov $0x01, %al
    out %al, %dx

    lea msg_ready(%rip), %rsi
    call puts
    sti
2:  hlt
    jmp 2b

irq_entry:
    push %rax
    push %rdx
3:  mov $COM1_LSR, %dx
    in %dx, %al
    test $LSR_DR, %al
    jz 4f
    mov $COM1, %dx
    in %dx, %al
    cmp $'q', %al
    je quit
    call putc
    jmp 3b
4:  mov $0x20, %al                 # end of interrupt
    out %al, $0x20
    pop %rdx
    pop %rax
    iretq

quit:
    lea msg_bye(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
idt_ptr:
    .word IDT_VECTORS * 16 - 1
    .quad IDT_BASE
msg_ready: .asciz "echo ready\n"
msg_bye:   .asciz "\nbye\n"
