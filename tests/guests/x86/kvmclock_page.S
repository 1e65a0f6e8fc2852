# kvmclock_page: ELF64 guest for the snapshot tests. At CPL 0 it fills the page at 0x600000 with a pattern (each
# quadword: its address mixed with a constant) and turns kvmclock on with its time structure in the middle of
# that page (MSR_KVM_SYSTEM_TIME_NEW = 0x600801), as Linux keeps its clock pages among other data. Then, at ring 3,
# it checks the rest of the page between busy delays and prints "tick N" each time. A restore that lets the host
# touch the clock page before the saved RAM is back (KVM maps it when the MSR is set) leaves the guest a fresh
# zero page: it prints "mismatch" and exits with 0x20 (vmm status 65). After 40 ticks it checks that the host
# keeps its clock (the structure's version is even and non-zero), prints "kvmclock ok" and exits with 0x10
# (status 33).

    .equ PAGE, 0x600000
    .equ CLOCK, 0x600800           # pvclock_vcpu_time_info: 32 bytes
    .equ MSR_KVM_SYSTEM_TIME_NEW, 0x4b564d01
    .equ MIX, 0x9e3779b97f4a7c15
    .equ TICKS, 40
    .equ DELAY, 20000000

    .include "ring3.inc"

    .text
    .globl _start
_start:
    mov $PAGE, %rdi
    mov $MIX, %rbx
1:  mov %rdi, %rax
    xor %rbx, %rax
    mov %rax, (%rdi)
    add $8, %rdi
    cmp $PAGE + 4096, %rdi
    jb 1b
    mov $MSR_KVM_SYSTEM_TIME_NEW, %ecx
    mov $CLOCK + 1, %eax           # bit 0: enabled
    xor %edx, %edx
    wrmsr
    ENTER_RING3 ring3

ring3:
    mov $MIX, %rbx
    xor %r14, %r14                 # ticks
next:
    mov $DELAY, %rcx
2:  dec %rcx
    jnz 2b
    mov $PAGE, %rdi
3:  cmp $CLOCK, %rdi               # the host's own structure is skipped
    jne 4f
    add $32, %rdi
4:  mov %rdi, %rax
    xor %rbx, %rax
    cmp %rax, (%rdi)
    jne mismatch
    add $8, %rdi
    cmp $PAGE + 4096, %rdi
    jb 3b
    inc %r14
    lea msg_tick(%rip), %rsi
    call puts
    mov %r14, %rax
    call put_decimal
    mov $'\n', %al
    call putc
    cmp $TICKS, %r14
    jb next
    mov CLOCK, %eax                # pvclock version: odd while the host updates it, 0 if it never did
    test %eax, %eax
    jz noclock
    test $1, %eax
    jnz noclock
    lea msg_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

noclock:
    lea msg_noclock(%rip), %rsi
    call puts
    mov $0x20, %al
    jmp debug_exit

mismatch:
    lea msg_mismatch(%rip), %rsi
    call puts
    mov %rdi, %rax
    call put_decimal
    mov $'\n', %al
    call putc
    mov $0x20, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_tick: .asciz "tick "
msg_ok: .asciz "kvmclock ok\n"
msg_noclock: .asciz "the host never wrote the kvmclock structure\n"
msg_mismatch: .asciz "mismatch: the clock page changed at "
