# long_cmpxchg16b: ELF64 guest for the cmpxchg16b relegation. This host's KVM cannot execute a CPL-0
# cmpxchg16b; x86-raw performs it atomically on its mapping of guest memory and sets ZF, RDX:RAX as the CPU would.
# A matching compare must store RCX:RBX and set ZF; a mismatch must load the memory into RDX:RAX and clear ZF.
# cmpxchg8b (which the host may or may not emulate itself) is checked the same way. Exit 0x10 on success.

    .text
    .globl _start
_start:
    # Matching compare: memory (1, 2) == RDX:RAX (2:1), so (3, 4) is stored and ZF set.
    mov $1, %rax
    mov $2, %rdx
    mov $3, %rbx
    mov $4, %rcx
    lock cmpxchg16b pair(%rip)
    jnz fail
    cmpq $3, pair(%rip)
    jne fail
    cmpq $4, pair+8(%rip)
    jne fail
    # Mismatch: memory is (3, 4) now, RDX:RAX still (2:1): no store, ZF clear, RDX:RAX = (4:3).
    mov $5, %rbx
    mov $6, %rcx
    lock cmpxchg16b pair(%rip)
    jz fail
    cmp $3, %rax
    jne fail
    cmp $4, %rdx
    jne fail
    cmpq $3, pair(%rip)
    jne fail
    # Through a register base with a displacement, as Linux's this_cpu_cmpxchg16b does.
    lea pair-0x20(%rip), %rbp
    mov $7, %rbx
    mov $8, %rcx
    lock cmpxchg16b 0x20(%rbp)
    jnz fail
    cmpq $8, pair+8(%rip)
    jne fail
    lea msg16(%rip), %rsi
    call puts

    # cmpxchg8b: EDX:EAX against the 8 bytes, ECX:EBX stored on a match.
    mov $0x11, %eax
    mov $0x22, %edx
    mov $0x33, %ebx
    mov $0x44, %ecx
    lock cmpxchg8b quad(%rip)
    jnz fail
    cmpl $0x33, quad(%rip)
    jne fail
    cmpl $0x44, quad+4(%rip)
    jne fail
    lea msg8(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

fail:
    lea msg_fail(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg16:    .asciz "cmpxchg16b ok\n"
msg8:     .asciz "cmpxchg8b ok\n"
msg_fail: .asciz "cmpxchg wrong\n"

    .data
    .balign 16
pair:   .quad 1, 2
quad:   .long 0x11, 0x22
