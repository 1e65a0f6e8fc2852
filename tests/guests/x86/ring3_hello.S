# ring3_hello: ELF64 guest that drops to ring 3 the way docs/x86-raw.md promises works: iretq to x86-raw's user
# selectors (CS 0x1b, SS 0x23) with IOPL 3, on x86-raw's own GDT and TSS. It then checks CS.RPL really is 3 and
# prints from ring 3 through the UART: port access there relies on x86-raw's TSS I/O bitmap, since software KVM
# ignores IOPL for ring-3 port I/O.

    .equ USER_CS, 0x1b
    .equ USER_SS, 0x23
    .equ USER_STACK, 0x300000
    .equ RFLAGS_IOPL3, 0x3002

    .text
    .globl _start
_start:
    pushq $USER_SS
    pushq $USER_STACK
    pushq $RFLAGS_IOPL3
    pushq $USER_CS
    lea ring3(%rip), %rax
    push %rax
    iretq

ring3:
    mov %cs, %ax
    and $3, %ax
    cmp $3, %ax
    jne not_ring3
    lea msg_hello(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

not_ring3:
    lea msg_not_ring3(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_hello:     .asciz "Hello from ring 3\n"
msg_not_ring3: .asciz "not running at CPL 3\n"
