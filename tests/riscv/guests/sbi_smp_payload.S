/* sbi_smp_payload.S: the S-mode payload of OpenSBI's fw_jump on two harts (linked at 0x80200000). fw_jump's boot
 * lottery picks either hart; the payload runs on that one (a0), finds the other one STOPPED through SBI HSM
 * (hart_get_status), starts it at `secondary` with an opaque value (hart_start), waits for it to report in, then
 * wakes it from wfi with an SBI IPI (send_ipi: OpenSBI raises its SSIP through the CLINT's msip), waits for that to
 * be seen, and shuts down through SBI SRST. Any failed step prints "payload: FAIL <step>" and resets with
 * reason 1 (vmm exits 1 then).
 * OpenSBI 1.1 (Debian 12's) has a race in hart_start: it marks the target START_PENDING before it stores the start
 * address, so a target that happens to be awake (not asleep in wfi) can leave for its old next address, this
 * payload's _start, instead of `secondary`; later OpenSBI stores the address first. Host threads get preempted
 * anywhere, so that window is real here: a second entry into _start is sent on to `secondary`, and the boot hart
 * says so in a line of its own. */
#define SBI_HSM 0x48534d
#define SBI_IPI 0x735049
#define SBI_SRST 0x53525354
#define OPAQUE 0x1234
#define SPIN 200000000          /* polls before giving up on the other hart */
    .section .text.init
    .globl _start
_start:
    la t0, entries
    li t1, 1
    amoadd.w t0, t1, (t0)
    beqz t0, 1f
    la t0, raced                /* not the first into _start: the firmware's race, see above */
    sw t1, 0(t0)
    li a1, OPAQUE
    j secondary
1:  mv s1, a0                   /* s1: this (boot) hart */
    mv s2, a1
    la s0, hello
    call puts
    li s3, 1
    lwu t0, 0(s2)
    li t1, 0xedfe0dd0           /* the device tree's magic, read little-endian */
    bne t0, t1, fail
    xori s4, s1, 1              /* s4: the other hart */
    li s3, 2                    /* it waits, stopped, for hart_start */
    li a7, SBI_HSM
    li a6, 2                    /* hart_get_status */
    mv a0, s4
    ecall
    bnez a0, fail
    li t0, 1                    /* SBI_HSM_STATE_STOPPED */
    bne a1, t0, fail
    li s3, 3
    li a7, SBI_HSM
    li a6, 0                    /* hart_start */
    mv a0, s4
    la a1, secondary
    li a2, OPAQUE
    ecall
    bnez a0, fail
    li s3, 4                    /* it reports its hart id and the opaque value */
    la t2, started
    li t3, SPIN
    ori t4, s4, 0x5a0
1:  lw t0, 0(t2)
    beq t0, t4, 2f
    addi t3, t3, -1
    bnez t3, 1b
    j fail
2:  la s0, msg_started
    call puts
    la t0, raced
    lw t0, 0(t0)
    beqz t0, 8f
    la s0, msg_raced
    call puts
8:
    li s3, 5
    li a7, SBI_IPI
    li a6, 0                    /* send_ipi */
    li a0, 1
    sll a0, a0, s4              /* hart mask: the other hart */
    li a1, 0
    ecall
    bnez a0, fail
    li s3, 6                    /* it woke from wfi with SSIP pending */
    la t2, woken
    li t3, SPIN
3:  lw t0, 0(t2)
    bnez t0, 4f
    addi t3, t3, -1
    bnez t3, 3b
    j fail
4:  la s0, msg_woken
    call puts
    li a7, SBI_SRST
    li a6, 0
    li a0, 0                    /* shutdown */
    li a1, 0                    /* no reason */
    ecall
5:  j 5b
fail:
    la s0, failed
    call puts
    addi a0, s3, '0'
    li a7, 1
    ecall
    li a0, '\n'
    ecall
    li a7, SBI_SRST
    li a6, 0
    li a0, 0
    li a1, 1                    /* system failure */
    ecall
6:  j 6b
puts:
    lbu a0, 0(s0)
    beqz a0, 7f
    li a7, 1                    /* legacy console putchar */
    ecall
    addi s0, s0, 1
    j puts
7:  ret

/* The other hart, from hart_start: a0 = its id, a1 = the opaque value; S-mode, sstatus.SIE clear. */
secondary:
    li t0, OPAQUE
    ori t1, a0, 0x5a0
    beq a1, t0, 1f
    li t1, 0xbad
1:  la t2, started
    fence rw, w
    sw t1, 0(t2)
    li t0, 2                    /* sie.SSIE: wfi ends on the IPI without a trap */
    csrs sie, t0
2:  wfi
    csrr t0, sip
    andi t0, t0, 2
    beqz t0, 2b
    csrc sip, t0
    la t2, woken
    li t0, 1
    sw t0, 0(t2)
3:  wfi
    j 3b

    .section .rodata
hello:       .asciz "payload: S-mode, entered from OpenSBI\n"
msg_started: .asciz "payload: the other hart started through SBI HSM\n"
msg_woken:   .asciz "payload: the other hart woke from wfi by SBI IPI; shutting down through SBI SRST\n"
failed:      .asciz "payload: FAIL at step "
msg_raced:   .asciz "payload: note: it entered at _start (OpenSBI 1.1's hart_start race), not at its start address\n"
    .data
    .balign 64
started: .word 0
    .balign 64
woken:   .word 0
    .balign 64
entries: .word 0
raced:   .word 0
