# pio_sequence: ELF64 guest for the snapshot tests. At ring 3 (IOPL 3) it reads the test-probe device's
# sequence port (0x5e1) over and over: each read must return one more than the last, since the device counts
# the reads it answered and saves that count. A save that catches the vCPU right after the port exit, before
# the value reached the guest's register, leaves a restored guest with a gap: it prints "mismatch" and exits
# with 0x20 (vmm status 65). It prints "read N" every 4096 reads and, after the count at 0x200000 (u64; 60000
# when absent), "sequence ok" and exits with 0x10 (status 33). A non-zero u64 at 0x200008 keeps it at CPL 0.

    .equ PARAMS, 0x200000
    .equ SEQ_PORT, 0x5e1

    .include "ring3.inc"

    .text
    .globl _start
_start:
    cmpq $0, PARAMS + 8            # stay at CPL 0, where the host's emulator runs the reads (on software KVM)
    jne ring3
    ENTER_RING3 ring3

ring3:
    mov PARAMS, %r12
    test %r12, %r12
    jnz 1f
    mov $60000, %r12
1:  mov $SEQ_PORT, %dx
    in %dx, %eax                   # the first value: wherever the device's count stands
    mov %eax, %r14d
    xor %r15, %r15                 # reads so far
next:
    inc %r14d
    mov $SEQ_PORT, %dx
    in %dx, %eax
    cmp %r14d, %eax
    jne mismatch
    inc %r15
    test $4095, %r15
    jnz 2f
    lea msg_read(%rip), %rsi
    call puts
    mov %r15, %rax
    call put_decimal
    mov $'\n', %al
    call putc
2:  cmp %r12, %r15
    jb next
    lea msg_ok(%rip), %rsi
    call puts
    mov $0x10, %al
    jmp debug_exit

mismatch:
    push %rax
    lea msg_mismatch(%rip), %rsi
    call puts
    mov %r14, %rax
    call put_decimal
    lea msg_got(%rip), %rsi
    call puts
    pop %rax
    call put_decimal
    mov $'\n', %al
    call putc
    mov $0x20, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_read:     .asciz "read "
msg_ok:       .asciz "sequence ok\n"
msg_mismatch: .asciz "mismatch: expected "
msg_got:      .asciz ", got "
