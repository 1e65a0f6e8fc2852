# scribble: ELF64 guest for the live-save test. At ring 3 (native speed) it sweeps an area page by page, round
# after round: the word at the start of each page must still hold what the previous round wrote there (the round
# number times a mix of the address), and gets this round's value. A snapshot that captured any page later or
# earlier than the instant the guest stopped for the save leaves a restored run a value from the wrong round: it
# prints "mismatch" and exits with 0x20 (vmm status 65). After ROUNDS rounds it prints "scribble ok" and exits
# with 0x10 (status 33). It prints "tick N" every 4096 rounds.
# Parameters at 0x200000: u64 MiB to sweep (from 16 MiB up), u64 rounds.

    .equ PARAMS, 0x200000
    .equ AREA, 0x1000000

    .include "ring3.inc"

    .text
    .globl _start
_start:
    ENTER_RING3 ring3

ring3:
    mov $PARAMS, %rsi
    mov (%rsi), %r12
    shl $8, %r12                   # MiB -> pages
    mov 8(%rsi), %r13              # rounds
    mov $0x9e3779b97f4a7c15, %rbx
    xor %r14, %r14                 # the round
next_round:
    inc %r14
    mov $AREA, %rdi
    mov %r12, %rcx
    lea -1(%r14), %r8              # the previous round
1:  mov %rbx, %rdx
    xor %rdi, %rdx                 # the page's mix
    mov %rdx, %rax
    imul %r8, %rax                 # what the previous round wrote (0 before the first)
    cmp %rax, (%rdi)
    jne mismatch
    add %rdx, %rax                 # this round's value
    mov %rax, (%rdi)
    add $4096, %rdi
    dec %rcx
    jnz 1b
    test $4095, %r14
    jnz 2f
    lea msg_tick(%rip), %rsi
    call puts
    mov %r14, %rax
    shr $12, %rax
    call put_decimal
    mov $'\n', %al
    call putc
2:  cmp %r13, %r14
    jb next_round
    lea msg_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

mismatch:
    lea msg_mismatch(%rip), %rsi
    call puts
    mov $0x20, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_tick: .asciz "tick "
msg_ok: .asciz "scribble ok\n"
msg_mismatch: .asciz "mismatch: a page holds a value from another round\n"
