# unhandled_exception: ELF64 guest that raises #UD without installing an IDT of its own, so it lands in x86-raw's
# default handler, which must stop the VM and report the vector rather than let the guest run on.

    .text
    .globl _start
_start:
    lea msg(%rip), %rsi
    call puts
    ud2
    # Never reached: the default handler must not return to the guest.
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg: .asciz "about to execute ud2\n"
