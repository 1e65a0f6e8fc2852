# counter: ELF64 guest for the snapshot tests. Drops to ring 3 (native speed on software KVM) and prints
# "count N" for N = 1..LIMIT with a busy delay between lines, then exits with 0x10. Its whole state is in its
# registers, its stack and the UART, so a restored run must continue the output exactly where the saved one
# stopped. LIMIT and the delay come from a parameter block at 0x200000 if one is loaded there (u64 limit,
# u64 delay iterations, u64 MiB to fill), else 200 lines with 20,000,000 iterations between them (about 2 s
# here). With a fill size, the guest first writes that many MiB from 16 MiB up, every page different, and
# prints "filled" (for tests that need snapshots with much memory to save).

    .equ PARAMS, 0x200000

    .include "ring3.inc"

    .text
    .globl _start
_start:
    /* CR4.OSXSAVE on, as any modern kernel has it: the guest then sees CPUID.1:ECX.OSXSAVE set, a bit a restore
     * must not mistake for a host feature (a fresh vCPU shows it clear). */
    mov %cr4, %rax
    or $(1 << 18), %rax
    mov %rax, %cr4
    ENTER_RING3 ring3

ring3:
    mov $PARAMS, %rbx
    mov (%rbx), %r12               # limit
    mov 8(%rbx), %r13              # delay
    test %r12, %r12
    jnz 1f
    mov $200, %r12
    mov $20000000, %r13
1:  mov 16(%rbx), %rcx             # MiB to fill
    shl $17, %rcx                  # in 8-byte words
    jz 3f
    mov $0x1000000, %rdi
    mov $0x9e3779b97f4a7c15, %rax
2:  mov %rdi, (%rdi)               # the address: unique in every page
    xor %rax, (%rdi)
    add $8, %rdi
    dec %rcx
    jnz 2b
    lea msg_filled(%rip), %rsi
    call puts
3:  xor %r14, %r14                 # the counter
next:
    inc %r14
    lea msg_count(%rip), %rsi
    call puts
    mov %r14, %rax
    call put_decimal
    mov $'\n', %al
    call putc
    mov %r13, %rcx
5:  dec %rcx
    jnz 5b
    cmp %r12, %r14
    jb next
    lea msg_done(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_count: .asciz "count "
msg_done:  .asciz "done\n"
msg_filled: .asciz "filled\n"
