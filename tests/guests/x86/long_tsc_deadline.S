# long_tsc_deadline: ELF64 guest that drives the local APIC's TSC-deadline timer and checks what the SDM
# promises, whoever keeps the timer (KVM, or x86-raw with timer-slack):
#  - in one-shot mode a write of IA32_TSC_DEADLINE is ignored (the MSR reads 0);
#  - in TSC-deadline mode the MSR reads back the armed deadline, and a write of 0 disarms it;
#  - ROUNDS deadlines ~0.3 ms ahead each raise exactly one interrupt, never before the deadline (TSC), and the
#    MSR reads 0 once it has fired;
#  - with the LVT timer masked a deadline passes without an interrupt.
# Prints "tsc-deadline ok" and exits through debug-exit with 0x10 (status 33); any failure prints why and exits
# with 0x11 (status 35). The test (tests/integration/timer_slack.sh) times the run from the host. With a count at
# 0x300000 it then ticks on (the snapshot test's "timer" case).

    .equ IDT_BASE, 0x200000
    .equ LAPIC, 0xfee00000
    .equ LAPIC_EOI, 0xb0
    .equ LAPIC_SVR, 0xf0
    .equ LAPIC_LVTT, 0x320
    .equ TIMER_VECTOR, 0xec
    .equ MODE_DEADLINE, (2 << 17)
    .equ LVT_MASKED, (1 << 16)
    .equ MSR_TSC_DEADLINE, 0x6e0
    .equ ROUNDS, 20
    .equ AHEAD, 1000000            # TSC ticks: ~0.3 ms at 3 GHz
    .equ PARAMS, 0x300000

    .text
    .globl _start
_start:
    # An IDT with only the timer vector present: anything else triple-faults, which the test sees as a failure.
    mov $IDT_BASE, %rdi
    xor %eax, %eax
    mov $512, %ecx
    rep stosq
    lea timer_entry(%rip), %rax
    mov $(IDT_BASE + TIMER_VECTOR * 16), %edi
    mov %ax, (%rdi)
    movw $0x08, 2(%rdi)
    movw $0x8e00, 4(%rdi)          # present, DPL 0, 64-bit interrupt gate
    mov %rax, %rdx
    shr $16, %rdx
    mov %dx, 6(%rdi)
    shr $16, %rdx
    mov %edx, 8(%rdi)
    lidt idt_ptr(%rip)

    mov $LAPIC, %rbx               # the local APIC's registers, above 2 GiB: reached through RBX
    movl $0x1ff, LAPIC_SVR(%rbx)   # APIC software-enabled, spurious vector 0xff

    # One-shot mode: the deadline write is ignored.
    movl $TIMER_VECTOR, LAPIC_LVTT(%rbx)
    rdtsc
    add $AHEAD, %eax
    adc $0, %edx
    mov $MSR_TSC_DEADLINE, %ecx
    wrmsr
    rdmsr
    or %edx, %eax
    lea msg_oneshot(%rip), %rsi
    jnz fail

    # TSC-deadline mode: reads back what was written; 0 disarms.
    movl $(TIMER_VECTOR | MODE_DEADLINE), LAPIC_LVTT(%rbx)
    rdtsc
    add $0x40000000, %eax          # far enough ahead not to fire during the check
    adc $0, %edx
    mov %eax, %r8d
    mov %edx, %r9d
    mov $MSR_TSC_DEADLINE, %ecx
    wrmsr
    rdmsr
    lea msg_readback(%rip), %rsi
    cmp %r8d, %eax
    jne fail
    cmp %r9d, %edx
    jne fail
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    rdmsr
    or %edx, %eax
    lea msg_disarm(%rip), %rsi
    jnz fail

    # ROUNDS deadlines, one interrupt each.
    xor %r12d, %r12d               # rounds done
1:  call wait_one_deadline
    mov $MSR_TSC_DEADLINE, %ecx
    rdmsr
    or %edx, %eax
    lea msg_not_cleared(%rip), %rsi
    jnz fail
    inc %r12d
    cmp $ROUNDS, %r12d
    jne 1b
    mov interrupts(%rip), %rax
    cmp $ROUNDS, %rax
    lea msg_count(%rip), %rsi
    jne fail

    # Masked: the deadline passes (MSR back to 0) with no interrupt.
    movl $(TIMER_VECTOR | MODE_DEADLINE | LVT_MASKED), LAPIC_LVTT(%rbx)
    rdtsc
    add $AHEAD, %eax
    adc $0, %edx
    mov $MSR_TSC_DEADLINE, %ecx
    wrmsr
    sti
3:  rdmsr                          # spins until the timer has fired (the MSR reads 0 again)
    or %edx, %eax
    jnz 3b
    cli
    mov interrupts(%rip), %rax
    cmp $ROUNDS, %rax
    lea msg_masked(%rip), %rsi
    jne fail

    lea msg_ok(%rip), %rsi
    call puts

    # The ticker, for the snapshot test: with a non-zero count at PARAMS (an --image of 8 bytes there), that many
    # more deadlines, printing "tick N" every 10 interrupts, so a save, a kill and a restore can show that the
    # timer still fires in the new process. Guest RAM starts zeroed: no image, no ticker.
    movl $(TIMER_VECTOR | MODE_DEADLINE), LAPIC_LVTT(%rbx)
    mov PARAMS, %r14
    xor %r12d, %r12d
4:  cmp %r14, %r12
    jae 6f
    call wait_one_deadline
    inc %r12
    mov %r12, %rax
    xor %edx, %edx
    mov $10, %ecx
    div %rcx
    test %rdx, %rdx
    jnz 4b
    lea msg_tick(%rip), %rsi
    call puts
    mov %r12, %rax
    xor %edx, %edx
    div %rcx
    call put_decimal
    mov $'\n', %al
    call putc
    jmp 4b
6:  mov $0x10, %al
    jmp debug_exit

fail:
    call puts
    mov $0x11, %al
    jmp debug_exit

# wait_one_deadline: arm the timer AHEAD ticks from now and halt until its interrupt has been counted.
# Clobbers RAX, RCX, RDX, R13.
wait_one_deadline:
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    add $AHEAD, %rdx
    mov %rdx, deadline(%rip)
    mov %edx, %eax
    shr $32, %rdx
    mov $MSR_TSC_DEADLINE, %ecx
    wrmsr
    mov interrupts(%rip), %r13
1:  sti
    hlt
    cli
    cmp interrupts(%rip), %r13
    je 1b
    ret

timer_entry:
    push %rax
    push %rdx
    push %rsi
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    cmp deadline(%rip), %rdx
    lea msg_early(%rip), %rsi
    jb fail                        # an interrupt before the deadline
    incq interrupts(%rip)
    push %rbx
    mov $LAPIC, %rbx
    movl $0, LAPIC_EOI(%rbx)
    pop %rbx
    pop %rsi
    pop %rdx
    pop %rax
    iretq

    .include "common64.inc"

    .section .rodata
idt_ptr:
    .word 256 * 16 - 1
    .quad IDT_BASE
msg_oneshot:     .asciz "FAIL: a deadline written in one-shot mode reads back non-zero\n"
msg_readback:    .asciz "FAIL: IA32_TSC_DEADLINE does not read back the armed deadline\n"
msg_disarm:      .asciz "FAIL: IA32_TSC_DEADLINE is not 0 after writing 0\n"
msg_not_cleared: .asciz "FAIL: IA32_TSC_DEADLINE is not 0 after the timer fired\n"
msg_count:       .asciz "FAIL: more interrupts than deadlines\n"
msg_masked:      .asciz "FAIL: an interrupt with the LVT timer masked\n"
msg_early:       .asciz "FAIL: timer interrupt before the deadline\n"
msg_ok:          .asciz "tsc-deadline ok\n"
msg_tick:        .asciz "tick "

    .data
    .balign 8
deadline:   .quad 0
interrupts: .quad 0
