/*
 * RC core, the parts that cannot be C: the entry point the host starts vCPU 0 at, the exception stubs the
 * host's IDT points to (16 bytes apart from rc_trap_stubs, so the host can build the IDT from one export),
 * and the world switch between the RC and target code at ring 3 (rc_ring3_run, and the trap path back).
 * Every instruction here runs emulated at ring 0 on software KVM: the ring-3 round trip is kept to plain
 * moves, no C, until the trap is back in rc_ring3_run's caller.
 */
#define RC_SEL_DATA3 0x1b
#define RC_SEL_CODE3 0x23
#define RC_CTX_RIP 0x78
#define RC_CTX_RSP 0x80
#define RC_CTX_RFLAGS 0x88
#define RC_CTX_VECTOR 0x90
#define RC_CTX_ERROR 0x98
#define RC_CTX_CR2 0xa0
#define RC_CTX_TRAPS 0xa8
/* Arithmetic flags and DF only: ring 3 gets IF, TF, IOPL and NT clear whatever the register file says. */
#define RC_RFLAGS_USER_MASK 0xcd5

    .section .text.entry, "ax"
    .globl rc_core_entry
    .type rc_core_entry, @function
/* rdi = boot info, rsp = top of the RC stack (both set by the host). */
rc_core_entry:
    xor %ebp, %ebp
    call rc_core_main
1:  cli
    hlt
    jmp 1b
    .size rc_core_entry, . - rc_core_entry

    .text
.macro RC_STUB vec, has_error
    .balign 16
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp rc_trap_common
.endm

    .balign 16
    .globl rc_trap_stubs
    .type rc_trap_stubs, @function
rc_trap_stubs:
    RC_STUB 0, 0
    RC_STUB 1, 0
    RC_STUB 2, 0
    RC_STUB 3, 0
    RC_STUB 4, 0
    RC_STUB 5, 0
    RC_STUB 6, 0
    RC_STUB 7, 0
    RC_STUB 8, 1
    RC_STUB 9, 0
    RC_STUB 10, 1
    RC_STUB 11, 1
    RC_STUB 12, 1
    RC_STUB 13, 1
    RC_STUB 14, 1
    RC_STUB 15, 0
    RC_STUB 16, 0
    RC_STUB 17, 1
    RC_STUB 18, 0
    RC_STUB 19, 0
    RC_STUB 20, 0
    RC_STUB 21, 1
    RC_STUB 22, 0
    RC_STUB 23, 0
    RC_STUB 24, 0
    RC_STUB 25, 0
    RC_STUB 26, 0
    RC_STUB 27, 0
    RC_STUB 28, 0
    RC_STUB 29, 1
    RC_STUB 30, 1
    RC_STUB 31, 0
    .size rc_trap_stubs, . - rc_trap_stubs

/* Stack: vector, error, rip, cs, rflags, rsp, ss. */
    .type rc_trap_common, @function
rc_trap_common:
    testb $3, 24(%rsp)
    jz rc_trap_kernel
    /* From ring 3: save the target's registers into its context and return from rc_ring3_run. */
    push %rax
    mov rc_cur_ctx(%rip), %rax
    mov %rbx, 0x08(%rax)
    mov %rcx, 0x10(%rax)
    mov %rdx, 0x18(%rax)
    mov %rsi, 0x20(%rax)
    mov %rdi, 0x28(%rax)
    mov %rbp, 0x30(%rax)
    mov %r8, 0x38(%rax)
    mov %r9, 0x40(%rax)
    mov %r10, 0x48(%rax)
    mov %r11, 0x50(%rax)
    mov %r12, 0x58(%rax)
    mov %r13, 0x60(%rax)
    mov %r14, 0x68(%rax)
    mov %r15, 0x70(%rax)
    pop %rbx
    mov %rbx, 0x00(%rax)
    pop %rbx
    mov %rbx, RC_CTX_VECTOR(%rax)
    pop %rbx
    mov %rbx, RC_CTX_ERROR(%rax)
    pop %rbx
    mov %rbx, RC_CTX_RIP(%rax)
    pop %rbx /* cs */
    pop %rbx
    mov %rbx, RC_CTX_RFLAGS(%rax)
    pop %rbx
    mov %rbx, RC_CTX_RSP(%rax)
    mov %cr2, %rbx
    mov %rbx, RC_CTX_CR2(%rax)
    incq RC_CTX_TRAPS(%rax)
    mov rc_ring3_saved_rsp(%rip), %rsp
    mov RC_CTX_VECTOR(%rax), %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

rc_trap_kernel:
    /* A fault in the RC itself: hand the whole frame to C, which reports it to the host. */
    push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rbp
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rbx
    push %rax
    mov %rsp, %rdi
    call rc_trap_fault
2:  cli
    hlt
    jmp 2b
    .size rc_trap_common, . - rc_trap_common

/* uint64_t rc_ring3_run(rc_ctx *ctx): run the target at ring 3 until it traps; returns the vector. */
    .globl rc_ring3_run
    .type rc_ring3_run, @function
rc_ring3_run:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, rc_ring3_saved_rsp(%rip)
    mov %rdi, rc_cur_ctx(%rip)
    pushq $RC_SEL_DATA3
    pushq RC_CTX_RSP(%rdi)
    mov RC_CTX_RFLAGS(%rdi), %rax
    and $RC_RFLAGS_USER_MASK, %eax
    or $2, %eax
    push %rax
    pushq $RC_SEL_CODE3
    pushq RC_CTX_RIP(%rdi)
    mov 0x00(%rdi), %rax
    mov 0x08(%rdi), %rbx
    mov 0x10(%rdi), %rcx
    mov 0x18(%rdi), %rdx
    mov 0x20(%rdi), %rsi
    mov 0x30(%rdi), %rbp
    mov 0x38(%rdi), %r8
    mov 0x40(%rdi), %r9
    mov 0x48(%rdi), %r10
    mov 0x50(%rdi), %r11
    mov 0x58(%rdi), %r12
    mov 0x60(%rdi), %r13
    mov 0x68(%rdi), %r14
    mov 0x70(%rdi), %r15
    mov 0x28(%rdi), %rdi
    iretq
    .size rc_ring3_run, . - rc_ring3_run

    .section .note.GNU-stack, "", @progbits
