# triple_fault: ELF64 guest that must make the CPU shut down, to check that vmm reports a triple fault (registers,
# disassembly, non-zero status) instead of hanging or exiting cleanly. The IDT it loads fails both ways: its limit
# is 0, and should an emulator ignore the limit (this host's does in real mode), its base points at zeroed,
# not-present gates. So #UD, the #GP/#NP that follows, and the #DF all fail to deliver.

    .text
    .globl _start
_start:
    lea msg(%rip), %rsi
    call puts
    lidt idtr(%rip)
    ud2
    # Never reached: a guest that gets here was not shut down.
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg: .asciz "about to triple fault\n"

    .data
    .balign 8
idtr:
    .word 0
    .quad dead_idt

    .bss
    .balign 16
dead_idt: .skip 256*16
