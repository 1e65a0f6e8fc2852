/*
 * Helpers of the supervisor-mode ISA tests (smode.S, sirq.S): an M-mode handler that records the trap and
 * resumes in M at s7, an S-mode handler that records the trap and reports to M by ecall, and a way into a
 * privilege level. The PMP entry 0 opens all of memory to S and U, which QEMU needs (it enforces PMP).
 *
 * M handler: s4 = mcause, s5 = mepc, s3 = mtval, s6 = the privilege the trap came from (mstatus.MPP); it
 * returns with MIE clear, so that an interrupt still pending is not taken in M.
 * S handler: a1 = scause, a2 = sepc, a3 = stval, a5 = sstatus.SPP, then ecall (cause 9 to M, never delegated
 * here). Before it, SREPORT (when defined) may act in S (clear sip bits, say).
 */
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3
#define IRQ(n) (0x8000000000000000 | (n))

/* mret into privilege `prv` at `label` (clobbers t0). */
#define GO(prv, label)          \
    li t0, 3 << 11;             \
    csrc mstatus, t0;           \
    li t0, (prv) << 11;         \
    csrs mstatus, t0;           \
    la t0, label;               \
    csrw mepc, t0;              \
    mret

/* Arms the M handler to come back to `resume` (in M). */
#define RESUME(resume) la s7, resume

#define SETUP_HANDLERS                  \
    la t0, mhandler;                    \
    csrw mtvec, t0;                     \
    la t0, shandler;                    \
    csrw stvec, t0;                     \
    li t0, 0x3fffffffffffff;            \
    csrw pmpaddr0, t0;                  \
    li t0, 0x1f;                        \
    csrw pmpcfg0, t0

#define HANDLERS                        \
    .balign 4;                          \
mhandler:                               \
    csrr s4, mcause;                    \
    csrr s5, mepc;                      \
    csrr s3, mtval;                     \
    csrr s6, mstatus;                   \
    srli s6, s6, 11;                    \
    andi s6, s6, 3;                     \
    li t0, 3 << 11;                     \
    csrs mstatus, t0;                   \
    li t0, 0x80;                        \
    csrc mstatus, t0;                   \
    csrw mepc, s7;                      \
    mret;                               \
    .balign 4;                          \
shandler:                               \
    csrr a1, scause;                    \
    csrr a2, sepc;                      \
    csrr a3, stval;                     \
    csrr a5, sstatus;                   \
    srli a5, a5, 8;                     \
    andi a5, a5, 1;                     \
    SREPORT;                            \
    ecall;                              \
1:  j 1b
