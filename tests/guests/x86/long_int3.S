# long_int3: ELF64 guest for the int3 relegation path. On this host a CPL-0 int3 comes back to vmm as an emulation
# failure; x86-raw must step over it and inject #BP so that the guest's own IDT handler runs, with the saved RIP
# pointing just past the int3 (what real hardware pushes). Three int3s, each must reach the handler exactly once.
# Exit 0x10 on success; 0x11 for a wrong saved RIP; 0x12 for a wrong handler count.

    .equ VEC_BP, 3
    .include "idt.inc"

    .text
    .globl _start
_start:
    SET_GATE idt, VEC_BP, bp_handler
    lidt idtr(%rip)

    # Each int3 records where it should return so the handler can check the pushed RIP.
    .rept 3
    lea 9f(%rip), %rax
    mov %rax, expected_rip(%rip)
    int3
9:
    .endr

    cmpl $3, count(%rip)
    jne bad_count
    lea msg_done(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

bad_count:
    lea msg_bad_count(%rip), %rsi
    call puts
    mov $0x12, %al
    jmp debug_exit

# #BP pushes no error code, so the saved RIP is at the top of the interrupt frame.
bp_handler:
    push %rax
    push %rsi
    push %rdx
    mov 24(%rsp), %rax
    cmp expected_rip(%rip), %rax
    jne bad_rip
    incl count(%rip)
    lea msg_handled(%rip), %rsi
    call puts
    mov count(%rip), %al
    add $'0', %al
    call putc
    mov $'\n', %al
    call putc
    pop %rdx
    pop %rsi
    pop %rax
    iretq

bad_rip:
    lea msg_bad_rip(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_handled:   .asciz "int3 handled "
msg_done:      .asciz "int3 done\n"
msg_bad_rip:   .asciz "bad rip\n"
msg_bad_count: .asciz "bad count\n"

    .data
    .balign 8
idtr:
    .word 256*16 - 1
    .quad idt

    .bss
    .balign 16
idt:            .skip 256*16     # zeroed: every gate but #BP stays not-present
expected_rip:   .skip 8
count:          .skip 4
