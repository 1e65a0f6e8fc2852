# long_xsave: ELF64 guest for the XSAVE-family relegations. This host's KVM sends a CPL-0 xsavec, xsaves,
# xrstors and xgetbv (and, depending on the host, xsave/xrstor) back as emulation failures; x86-raw performs them
# through the vCPU's XSAVE state. The guest saves XMM0 in the standard and the compacted formats, clobbers it,
# restores it from each, and checks the header words the instructions must write. Exit 0x10 on success; 0x13
# after the standard format when xsavec raises #UD (a CPU without XSAVEC, QEMU's TCG for one, where nothing of
# the compacted format can be relegated). The probe executes the instruction rather than reading CPUID: this
# host's KVM reports no XSAVEC yet sends the instruction to x86-raw, which performs it.

    .equ XSTATE_BV, 512
    .equ XCOMP_BV, 520
    .equ XMM0_OFF, 160
    .equ VEC_UD, 6
    .include "idt.inc"

    .text
    .globl _start
_start:
    mov %cr4, %rax
    or $0x40000, %rax            # CR4.OSXSAVE
    mov %rax, %cr4
    mov $3, %eax                 # XCR0: x87 and SSE, which every XSAVE CPU has
    xor %edx, %edx
    xor %ecx, %ecx
    xsetbv

    xor %ecx, %ecx
    xgetbv
    cmp $3, %eax
    jne fail
    lea msg_xgetbv(%rip), %rsi
    call puts

    # Standard format: xsave, clobber, xrstor.
    movdqu pattern(%rip), %xmm0
    mov $3, %eax
    xor %edx, %edx
    lea area_std(%rip), %rdi
    xsave64 (%rdi)
    testb $2, XSTATE_BV(%rdi)
    jz fail
    mov XMM0_OFF(%rdi), %rax
    cmp pattern(%rip), %rax
    jne fail
    movdqu zero(%rip), %xmm0
    mov $3, %eax
    xor %edx, %edx
    xrstor64 (%rdi)
    movdqu %xmm0, check(%rip)
    mov check+8(%rip), %rax
    cmp pattern+8(%rip), %rax
    jne fail
    lea msg_std(%rip), %rsi
    call puts

    # Compacted format: xsavec writes XCOMP_BV = RFBM | bit 63; xrstor recognises the form and restores.
    # A #UD from here on means the CPU has no compacted format: the handler ends the test (0x13).
    SET_GATE idt, VEC_UD, no_compacted
    lidt idtr(%rip)
    mov $3, %eax
    xor %edx, %edx
    lea area_cmp(%rip), %rdi
    xsavec64 (%rdi)
    mov XCOMP_BV(%rdi), %rax
    movabs $0x8000000000000003, %rcx
    cmp %rcx, %rax
    jne fail
    movdqu zero(%rip), %xmm0
    mov $3, %eax
    xor %edx, %edx
    xrstor64 (%rdi)
    movdqu %xmm0, check(%rip)
    mov check(%rip), %rax
    cmp pattern(%rip), %rax
    jne fail
    # xrstors takes the same compacted image.
    movdqu zero(%rip), %xmm0
    mov $3, %eax
    xor %edx, %edx
    xrstors64 (%rdi)
    movdqu %xmm0, check(%rip)
    mov check(%rip), %rax
    cmp pattern(%rip), %rax
    jne fail
    # An XSTATE_BV without SSE restores XMM0 to its initial state (zero).
    andb $~2, XSTATE_BV(%rdi)
    mov $3, %eax
    xor %edx, %edx
    xrstors64 (%rdi)
    movdqu %xmm0, check(%rip)
    cmpq $0, check(%rip)
    jne fail
    lea msg_cmp(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

no_compacted:
    lea msg_nocmp(%rip), %rsi
    call puts
    mov $0x13, %al
    jmp debug_exit

fail:
    lea msg_fail(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
    .balign 16
pattern:    .quad 0x0123456789abcdef, 0xfedcba9876543210
zero:       .quad 0, 0
msg_xgetbv: .asciz "xgetbv ok\n"
msg_std:    .asciz "xsave/xrstor ok\n"
msg_cmp:    .asciz "xsavec/xrstor/xrstors ok\n"
msg_nocmp:  .asciz "xsavec/xsaves: not on this CPU\n"
msg_fail:   .asciz "xsave wrong\n"

    .data
    .balign 8
idtr:
    .word 256*16 - 1
    .quad idt

    .bss
    .balign 64
idt:        .skip 256*16     # zeroed: every gate but #UD stays not-present
area_std:   .skip 4096
area_cmp:   .skip 4096
check:      .skip 16
