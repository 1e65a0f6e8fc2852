# long_syscall: probes whether `syscall` from ring 3 enters ring 0, which every Linux user program needs. On
# software KVM (kvm_pvm) a non-PVM guest's syscall jumps to LSTAR but stays at CPL 3 (docs/linux-boot.md), so the
# kernel's entry code faults at its first privileged instruction and init dies. tests/linux/boot_linux.sh runs
# this first and skips the minutes-long Linux boot where it reports CPL 3.
# Prints "syscall entered CPL N"; exit 0x10 for CPL 0, 0x12 for any other.

    .equ USER_CS, 0x1b
    .equ USER_SS, 0x23
    .equ USER_STACK, 0x300000
    .equ RFLAGS_IOPL3, 0x3002

    .text
    .globl _start
_start:
    mov $0xc0000080, %ecx        # EFER.SCE
    rdmsr
    or $1, %eax
    wrmsr
    mov $0xc0000081, %ecx        # STAR: kernel CS 0x08 (SS 0x10)
    xor %eax, %eax
    mov $0x00080008, %edx
    wrmsr
    mov $0xc0000082, %ecx        # LSTAR
    lea entry(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    wrmsr
    mov $0xc0000084, %ecx        # FMASK: IF
    mov $0x200, %eax
    xor %edx, %edx
    wrmsr
    pushq $USER_SS
    pushq $USER_STACK
    pushq $RFLAGS_IOPL3
    pushq $USER_CS
    lea ring3(%rip), %rax
    push %rax
    iretq

ring3:
    syscall
    hlt

entry:
    mov %cs, %bx
    and $3, %bx
    lea msg(%rip), %rsi
    call puts
    mov %bl, %al
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    mov $0x10, %al
    test %bl, %bl
    jz debug_exit
    mov $0x12, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg: .asciz "syscall entered CPL "
