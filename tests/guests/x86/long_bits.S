# long_bits: ELF64 guest for the integer-extension relegations (POPCNT, BMI1/2) clac/stac and fwait. The guest sees the
# host CPU's CPUID (this host's KVM does not intercept CPUID), so Linux uses these in ring 0, where the host's
# instruction emulator does not know them; x86-raw computes them. Each result, and the flag the kernel relies
# on, is checked. Not tested: lzcnt/tzcnt, which this host's emulator runs itself as bsr/bsf (ignoring the F3
# prefix), and movbe, for which it raises #UD without asking x86-raw. Exit 0x10 on success.

    .text
    .globl _start
_start:
    mov $0xf0f0, %rdi
    popcnt %rdi, %rax
    cmp $8, %rax
    jne fail
    xor %edi, %edi
    popcnt %rdi, %rax            # zero source: ZF set
    jnz fail
    # No lzcnt/tzcnt here: this host's emulator runs them itself, wrongly, as bsr/bsf (it ignores the F3 prefix),
    # so they never reach x86-raw. Linux uses tzcnt only where bsf gives the same answer.
    mov $0xff00, %rbx
    mov $0x0ff0, %rcx
    andn %rcx, %rbx, %rax        # ~rbx & rcx
    cmp $0x00f0, %rax
    jne fail
    mov $0b101000, %rbx
    blsr %rbx, %rax
    cmp $0b100000, %rax
    jne fail
    mov $3, %rcx
    mov $1, %rbx
    shlx %rcx, %rbx, %rax
    cmp $8, %rax
    jne fail
    mov $0x12345678, %ebx
    rorx $8, %ebx, %eax
    cmp $0x78123456, %eax
    jne fail
    mov $0x0f0, %rbx
    mov $0x3, %rcx
    pdep %rbx, %rcx, %rax        # deposit the low bits of rcx (0b11) at the set bits of rbx
    cmp $0x030, %rax
    jne fail
    mov $0x100, %ecx
    popcnt mem64(%rip), %rax     # a memory source
    cmp $4, %rax
    jne fail
    # stac/clac (SMAP's RFLAGS.AC override), run by Linux on every kernel entry.
    stac
    pushfq
    pop %rax
    bt $18, %rax
    jnc fail
    clac
    pushfq
    pop %rax
    bt $18, %rax
    jc fail
    # fwait with no x87 exception pending: nothing but the next instruction.
    fninit
    fwait
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
msg_ok:   .asciz "bit instructions ok\n"
msg_fail: .asciz "bit instructions wrong\n"
    .data
    .balign 8
mem64:  .quad 0x8000000100010001
