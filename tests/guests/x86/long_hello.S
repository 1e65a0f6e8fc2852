# long_hello: ELF64 guest checking x86-raw's long-mode start state. Prints a greeting, then confirms from CR0,
# CR4 and EFER that paging and long mode really are active (not just that the code happens to run) before
# exiting with 0x10. A failed check prints which one and exits with 0x11.

    .equ CR0_PG, 1 << 31
    .equ CR4_PAE, 1 << 5
    .equ MSR_EFER, 0xc0000080
    .equ EFER_LME, 1 << 8
    .equ EFER_LMA, 1 << 10

    .text
    .globl _start
_start:
    lea msg_hello(%rip), %rsi
    call puts

    mov %cr0, %rax
    lea msg_no_pg(%rip), %rsi
    bt $31, %rax
    jnc fail

    mov %cr4, %rax
    lea msg_no_pae(%rip), %rsi
    test $CR4_PAE, %eax
    jz fail

    mov $MSR_EFER, %ecx
    rdmsr
    lea msg_no_lme(%rip), %rsi
    test $EFER_LME, %eax
    jz fail
    lea msg_no_lma(%rip), %rsi
    test $EFER_LMA, %eax
    jz fail

    lea msg_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

fail:
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_hello:  .asciz "Hello from long mode\n"
msg_ok:     .asciz "long mode ok\n"
msg_no_pg:  .asciz "CR0.PG clear\n"
msg_no_pae: .asciz "CR4.PAE clear\n"
msg_no_lme: .asciz "EFER.LME clear\n"
msg_no_lma: .asciz "EFER.LMA clear\n"
