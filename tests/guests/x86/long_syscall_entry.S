# long_syscall_entry: a ring-0 kernel in the shape of Linux's syscall entry, and a ring-3 program using it. The
# kernel loads a Linux-like GDT (0x10 kernel CS, 0x18 kernel DS, 0x2b user DS, 0x33 user CS), its own IDT, sets
# STAR/SFMASK/KERNEL_GS_BASE and LSTAR with wrmsr, reads LSTAR back with rdmsr, and enters ring 3 with iretq.
# Ring 3 makes four syscalls; the handler checks that it runs at CPL 0 with IF clear, that RCX is the return
# address and R11 the user's RFLAGS, does swapgs and a per-CPU stack switch, and returns with sysretq (odd
# calls) or iretq (even calls); back in ring 3 the program checks CPL 3, its stack and the handler's result.
# Last, ring 3 jumps to 0xfffffe8000000000, which nothing maps for user code: the kernel's #PF handler must see
# error code 0x14 (not present, user, fetch) with CR2 and RIP at that address. Any other exception, or a check
# that fails, prints what went wrong and exits 0x12 (status 37); success exits 0x10 (status 33).
# With a parameter block at 0x200000 (u64: busy-loop iterations, as tests/guests/x86/counter.S), ring 3 first
# prints "ring 3 waits" and loops that long before its syscalls, so a snapshot can be taken after LSTAR is set
# (tests/integration/snapshot.sh, case syscall).
# On kvm_pvm a ring-3 syscall stays at CPL 3; x86-raw relegates it through a fake LSTAR at that very address
# (plugins/x86-raw/syscall.c), so this guest passes there only with the relegation, and on any other host as is.

    .equ KERNEL_CS, 0x10
    .equ KERNEL_DS, 0x18
    .equ USER_DS, 0x2b
    .equ USER_CS, 0x33
    .equ USER_STACK, 0x300000
    .equ SYSCALL_STACK, 0x280000
    .equ PERCPU_MAGIC, 0x5ca1ab1e
    .equ PARAMS, 0x200000
    .equ TRAP_ADDR_HI, 0xfffffe80          # the address is 0xfffffe8000000000
    .equ MSR_EFER, 0xc0000080
    .equ MSR_STAR, 0xc0000081
    .equ MSR_LSTAR, 0xc0000082
    .equ MSR_SFMASK, 0xc0000084
    .equ MSR_KERNEL_GS_BASE, 0xc0000102

    .text
    .globl _start
_start:
    lgdt gdt_ptr(%rip)
    pushq $KERNEL_CS
    lea 1f(%rip), %rax
    push %rax
    lretq
1:  mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs

    # IDT: vector N -> exc_stubs + 8 * N, except #PF.
    lea idt(%rip), %rdi
    lea exc_stubs(%rip), %rsi
    xor %ecx, %ecx
2:  mov %rsi, %rax
    cmp $14, %ecx
    jne 3f
    lea pf_handler(%rip), %rax
3:  call set_gate
    add $8, %rsi
    add $16, %rdi
    inc %ecx
    cmp $32, %ecx
    jne 2b
    lidt idt_ptr(%rip)

    mov $0xff, %al                 # mask both PICs: ring 3 runs with IF set, and nothing may interrupt it
    out %al, $0x21
    out %al, $0xa1

    mov $MSR_EFER, %ecx            # EFER.SCE
    rdmsr
    or $1, %eax
    wrmsr
    mov $MSR_STAR, %ecx            # syscall: CS 0x10, SS 0x18; sysretq: CS 0x23+16 = 0x33, SS 0x23+8 = 0x2b
    xor %eax, %eax
    mov $0x00230010, %edx
    wrmsr
    mov $MSR_SFMASK, %ecx          # Linux's: TF, DF, IF, IOPL, AC, NT
    mov $0x47700, %eax
    xor %edx, %edx
    wrmsr
    mov $MSR_KERNEL_GS_BASE, %ecx
    lea percpu(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    wrmsr
    mov $MSR_LSTAR, %ecx
    lea entry(%rip), %rax
    mov %rax, %rdx
    shr $32, %rdx
    wrmsr

    mov $MSR_LSTAR, %ecx           # the guest reads back what it wrote
    xor %eax, %eax
    xor %edx, %edx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    lea entry(%rip), %rdx
    cmp %rdx, %rax
    lea m_lstar_bad(%rip), %rsi
    jne fail
    lea m_lstar_ok(%rip), %rsi
    call puts

    pushq $USER_DS
    pushq $USER_STACK
    pushq $0x202                   # IF set, as for any user program
    pushq $USER_CS
    lea user(%rip), %rax
    push %rax
    iretq

# set_gate: 64-bit interrupt gate at RDI for the handler at RAX (below 4 GiB), kernel CS, DPL 0.
set_gate:
    mov %eax, %edx
    and $0xffff, %edx
    or $(KERNEL_CS << 16), %edx
    mov %edx, (%rdi)
    mov %eax, %edx
    and $0xffff0000, %edx
    or $0x8e00, %edx
    mov %edx, 4(%rdi)
    movq $0, 8(%rdi)
    ret

# ---- The syscall handler: RAX = 1 returns with sysretq, 2 with iretq; RDI = the expected RCX, RSI = R11. ----
entry:
    mov %cs, %edx
    test $3, %dl
    lea m_cpl(%rip), %rdx
    jnz kfail
    swapgs
    mov %rsp, %gs:8
    mov %gs:16, %rsp
    cmpq $PERCPU_MAGIC, %gs:0
    lea m_gs(%rip), %rdx
    jne kfail
    pushfq
    pop %rdx
    test $0x200, %edx
    lea m_if(%rip), %rdx
    jnz kfail
    cmp %rdi, %rcx
    lea m_rcx(%rip), %rdx
    jne kfail
    cmp %rsi, %r11
    jne bad_r11
    incq syscalls(%rip)
    mov %rax, %r9
    add $0x100, %rax               # the result only the handler gives
    mov %gs:8, %rdx
    cmp $2, %r9
    je 1f
    mov %rdx, %rsp
    swapgs
    sysretq
1:  pushq $USER_DS
    push %rdx
    push %r11
    pushq $USER_CS
    push %rcx
    swapgs
    iretq
kfail:
    mov %rdx, %rsi
    jmp fail
bad_r11:
    mov %rsi, %rbx
    lea m_r11(%rip), %rsi
    call puts
    mov %r11, %rax
    call puthex
    lea m_expected(%rip), %rsi
    call puts
    mov %rbx, %rax
    call puthex
    mov $'\n', %al
    call putc
    mov $0x12, %al
    jmp debug_exit

# puthex: RAX as 0x and 16 hex digits.
puthex:
    mov %rax, %rdx
    mov $'0', %al
    call putc
    mov $'x', %al
    call putc
    mov $16, %ecx
1:  rol $4, %rdx
    mov %edx, %eax
    and $15, %eax
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  call putc
    dec %ecx
    jnz 1b
    ret

# ---- Ring 3 ----
user:
    mov PARAMS, %rcx
    test %rcx, %rcx
    jz 1f
    lea m_wait(%rip), %rsi
    call puts
2:  dec %rcx
    jnz 2b
1:  mov $1, %r13d
    mov $1, %eax
    call do_syscall
    mov $2, %eax
    call do_syscall
    mov $1, %eax
    call do_syscall
    mov $2, %eax
    call do_syscall
    lea m_jump(%rip), %rsi
    call puts
    mov $0x1111, %ecx              # nothing a syscall would leave: this is a plain jump
    mov $0x2222, %r11d
    mov $TRAP_ADDR_HI, %eax
    shl $32, %rax
    jmp *%rax

# do_syscall: EAX = 1 (sysretq) or 2 (iretq); R13 = its number, printed and incremented.
do_syscall:
    mov %rax, %rbx
    mov %rsp, %r14
    pushfq
    pop %rsi
    lea 1f(%rip), %rdi
    syscall
1:  mov %cs, %edx
    and $3, %edx
    cmp $3, %edx
    lea m_back_cpl(%rip), %rsi
    jne fail
    cmp %rsp, %r14
    lea m_back_rsp(%rip), %rsi
    jne fail
    lea 0x100(%rbx), %rdx
    cmp %rdx, %rax
    lea m_back_rax(%rip), %rsi
    jne fail
    lea m_sys(%rip), %rsi
    call puts
    mov %r13d, %eax
    add $'0', %al
    call putc
    lea m_sysret(%rip), %rsi
    cmp $2, %rbx
    jne 2f
    lea m_iret(%rip), %rsi
2:  call puts
    inc %r13d
    ret

# ---- Exceptions ----
pf_handler:
    cmpq $0x14, (%rsp)
    lea m_pf_err(%rip), %rsi
    jne fail
    mov $TRAP_ADDR_HI, %eax
    shl $32, %rax
    cmp %rax, 8(%rsp)
    lea m_pf_rip(%rip), %rsi
    jne fail
    cmpq $USER_CS, 16(%rsp)
    lea m_pf_cs(%rip), %rsi
    jne fail
    mov %cr2, %rdx
    cmp %rax, %rdx
    lea m_pf_cr2(%rip), %rsi
    jne fail
    cmpq $4, syscalls(%rip)
    lea m_count(%rip), %rsi
    jne fail
    lea m_pf_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

    .balign 8
exc_stubs:
    .set vec, 0
    .rept 32
    .balign 8
    pushq $vec
    jmp exc_common
    .set vec, vec + 1
    .endr
exc_common:
    lea m_exc(%rip), %rsi
    call puts
    pop %rax
    mov $10, %cl
    div %cl                        # AL = tens, AH = units
    mov %ah, %bl
    add $'0', %al
    call putc
    mov %bl, %al
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    mov $0x12, %al
    jmp debug_exit

# fail: print the message at RSI (at whatever CPL: ring 3 may use the ports) and exit 0x12.
fail:
    call puts
    mov $0x12, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
m_lstar_ok:   .asciz "rdmsr gives back the LSTAR written\n"
m_lstar_bad:  .asciz "FAIL: rdmsr of LSTAR does not give back the value written\n"
m_cpl:        .asciz "FAIL: the syscall handler runs at CPL 3\n"
m_gs:         .asciz "FAIL: swapgs did not give the kernel GS base\n"
m_if:         .asciz "FAIL: IF still set in the syscall handler (SFMASK not applied)\n"
m_rcx:        .asciz "FAIL: RCX is not the return address in the syscall handler\n"
m_r11:        .asciz "FAIL: R11 in the syscall handler is "
m_expected:   .asciz ", the user's RFLAGS were "
m_back_cpl:   .asciz "FAIL: not at CPL 3 after the syscall returned\n"
m_back_rsp:   .asciz "FAIL: the user stack pointer changed across the syscall\n"
m_back_rax:   .asciz "FAIL: the syscall did not return the handler's result\n"
m_wait:       .asciz "ring 3 waits\n"
m_sys:        .asciz "syscall "
m_sysret:     .asciz " returned with sysretq\n"
m_iret:       .asciz " returned with iretq\n"
m_jump:       .asciz "jumping to the syscall trap address\n"
m_pf_err:     .asciz "FAIL: #PF with an error code other than 0x14\n"
m_pf_rip:     .asciz "FAIL: #PF at another RIP than the jump's target\n"
m_pf_cs:      .asciz "FAIL: #PF not from ring 3\n"
m_pf_cr2:     .asciz "FAIL: #PF with CR2 other than the jump's target\n"
m_count:      .asciz "FAIL: the handler did not count 4 syscalls\n"
m_pf_ok:      .asciz "#PF 0x14 at the trap address\n"
m_exc:        .asciz "FAIL: unexpected exception "

    .data
    .balign 16
gdt:
    .quad 0
    .quad 0
    .quad 0x00af9a000000ffff       # 0x10 kernel code64
    .quad 0x00cf92000000ffff       # 0x18 kernel data
    .quad 0x00cffa000000ffff       # 0x20 user code32 (STAR's sysret base)
    .quad 0x00cff2000000ffff       # 0x28 user data
    .quad 0x00affa000000ffff       # 0x30 user code64
gdt_end:
    .balign 8
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
    .balign 8
idt_ptr:
    .word 32 * 16 - 1
    .quad idt
    .balign 8
percpu:                            # KERNEL_GS_BASE: magic, saved user RSP, kernel stack top
    .quad PERCPU_MAGIC
    .quad 0
    .quad SYSCALL_STACK
syscalls:
    .quad 0
    .balign 16
idt:
    .fill 32 * 16, 1, 0
