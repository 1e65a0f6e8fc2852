# long_simd: ELF64 guest for relegation by native execution. This host's KVM emulator knows almost no SSE
# instruction; Linux runs some in ring 0 (ldmxcsr in kernel_fpu_begin, then blake2s, crc, memcpy variants).
# x86-raw runs such an instruction once on the host CPU with the guest's vector state, flags and registers, its
# memory operand redirected to a copy of the guest bytes. Checked: ldmxcsr/stmxcsr, a memory-source paddd, a
# register pshufd, the flags of ptest, pextrd into a general register and into memory, and (with AVX-512VL)
# an EVEX instruction Capstone does not decode. Exit 0x10 on success.

    .text
    .globl _start
_start:
    ldmxcsr mxcsr_in(%rip)
    stmxcsr mxcsr_out(%rip)
    mov mxcsr_out(%rip), %eax
    cmp mxcsr_in(%rip), %eax
    jne fail
    movdqu vec_a(%rip), %xmm0
    paddd vec_b(%rip), %xmm0          # (1,2,3,4) + (10,20,30,40)
    pshufd $0x1b, %xmm0, %xmm1        # reversed: (44,33,22,11)
    pextrd $0, %xmm1, %ebx
    cmp $44, %ebx
    jne fail
    pextrd $3, %xmm1, result(%rip)
    cmpl $11, result(%rip)
    jne fail
    ptest %xmm1, %xmm1                # nonzero: ZF clear
    jz fail
    movdqu zero(%rip), %xmm2
    ptest %xmm2, %xmm2                # zero: ZF set
    jnz fail
    # An EVEX instruction Capstone 4 cannot decode (vpermi2d on ymm, as Linux's blake2s uses), run from its
    # encoding alone. Only where the CPU has AVX-512F and VL (CPUID 7.0 EBX bits 16 and 31).
    mov $7, %eax
    xor %ecx, %ecx
    cpuid
    and $0x80010000, %ebx
    cmp $0x80010000, %ebx
    jne 1f
    vmovdqu perm_idx(%rip), %ymm8
    vmovdqu perm_tab(%rip), %ymm6
    vmovdqu perm_tab+32(%rip), %ymm7
    .byte 0x62, 0x72, 0x4d, 0x28, 0x76, 0xc7      # vpermi2d %ymm7, %ymm6, %ymm8
    vmovdqu %ymm8, perm_out(%rip)
    cmpl $109, perm_out(%rip)                     # index 9: the second table's element 1
    jne fail
    cmpl $101, perm_out+4(%rip)
    jne fail
1:
    lea msg_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

fail:
    lea msg_fail(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
    .balign 16
vec_a:    .long 1, 2, 3, 4
vec_b:    .long 10, 20, 30, 40
zero:     .quad 0, 0
mxcsr_in: .long 0x9fc0
    .balign 32
perm_idx: .long 9, 1, 2, 3, 4, 5, 6, 7
perm_tab: .long 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115
msg_ok:   .asciz "simd ok\n"
msg_fail: .asciz "simd wrong\n"

    .bss
    .balign 16
mxcsr_out: .skip 4
result:    .skip 4
    .balign 32
perm_out:  .skip 32
