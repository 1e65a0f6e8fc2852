# long_simd_run: ELF64 guest whose loop body is a straight run of AVX instructions with general-purpose ones
# between them (register and memory forms, flags consumed by cmov/set), executed at CPL 0, then a read of DS
# right after a vector instruction (which must give the guest's selector, not the host's). On a host whose
# emulator knows no AVX (kvm_pvm) x86-raw runs each such stretch natively in one exit; the printed results
# must be the ones the instruction-by-instruction path gives (they were recorded with it), and --stats must
# show several instructions per exit. Exits through debug-exit with 0x10 (status 33).

    .text
    .globl _start
_start:
    mov %cr4, %rax
    or $(1 << 18), %rax            # OSXSAVE
    mov %rax, %cr4
    xor %ecx, %ecx
    mov $7, %eax                   # XCR0 = x87 | SSE | AVX
    xor %edx, %edx
    xsetbv
    lea buf(%rip), %rsi
    xor %ebx, %ebx
    mov $0x9e3779b9, %r8d
    mov $500, %ecx
1:  vmovdqu (%rsi), %ymm0
    vpaddd %ymm0, %ymm1, %ymm1
    add %r8d, %ebx                 # general-purpose work between the vector instructions
    vpxor %ymm1, %ymm2, %ymm2
    rol $5, %ebx
    vpsrld $7, %ymm2, %ymm3
    mov %ebx, 8(%rsi)              # a store the next load sees
    vpslld $25, %ymm2, %ymm4
    xor 4(%rsi), %r8d              # a load from memory into a register
    vpor %ymm3, %ymm4, %ymm2
    test $1, %bl
    cmovnz %r8d, %r9d
    setc %r10b
    vpaddd %ymm2, %ymm1, %ymm1
    vmovdqu %ymm1, 32(%rsi)
    addl $3, 12(%rsi)              # read-modify-write of memory
    dec %ecx
    jnz 1b
    vpxor %ymm6, %ymm6, %ymm6
    mov %ds, %r11d                 # after a vector instruction: the guest's DS (0x10), never the host's
    vmovdqu 32(%rsi), %ymm5
    vmovq %xmm5, %rax
    call put_decimal
    mov $' ', %al
    call putc
    mov %ebx, %eax
    call put_decimal
    mov $' ', %al
    call putc
    mov %r8d, %eax
    call put_decimal
    mov $' ', %al
    call putc
    mov %r9d, %eax
    call put_decimal
    mov $' ', %al
    call putc
    mov 12(%rsi), %eax
    call put_decimal
    mov $' ', %al
    call putc
    mov %r11d, %eax
    call put_decimal
    mov $'\n', %al
    call putc
    mov $0x10, %al
    jmp debug_exit

    .include "common64.inc"

    .data
    .balign 64
buf: .fill 64, 1, 3
