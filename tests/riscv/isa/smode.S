/* Supervisor mode: misa's S, the PMP and delegation registers as WARL, sstatus/sie/sip as views of
 * mstatus/mie/mip, entering S by mret, S-mode CSRs and the privilege check of CSR numbers, delegated exceptions
 * (ecall and illegal instruction from U to S), exceptions not delegated (to M, and M's own never delegated),
 * sret to U and S, TSR, TVM (satp, sfence.vma), TW and wfi, satp's WARL mode (Sv57 refused), counter gating by
 * mcounteren and scounteren, read-only CSRs. */
#include "test.h"
#define SREPORT
#include "smode.h"
#define SSTATUS_S_BITS (0x2 | 0x20 | 0x100 | 0x40000 | 0x80000)

TEST_BEGIN("smode")
    SETUP_HANDLERS
    /* misa: RV64 with S and U */
    csrr a4, misa
    srli a4, a4, 18
    andi a4, a4, 0x5
    CHECK(1, a4, 0x5)
    /* PMP registers hold what is written; a locked entry ignores writes */
    csrr a4, pmpaddr0
    CHECK(2, a4, 0x3fffffffffffff)
    csrr a4, pmpcfg0
    andi a4, a4, 0xff
    CHECK(3, a4, 0x1f)
    li t0, 0x1234
    csrw pmpaddr15, t0
    li t0, 0x80 << 56
    csrw pmpcfg2, t0
    li t0, 0x5678
    csrw pmpaddr15, t0
    csrr a4, pmpaddr15
    CHECK(4, a4, 0x1234)
    csrw pmpcfg2, zero
    csrr a4, pmpcfg2
    CHECK(5, a4, 0x80 << 56)
    /* medeleg: every exception but ecall from M; mideleg: the S interrupts */
    li t0, -1
    csrw medeleg, t0
    csrr a4, medeleg
    CHECK(6, a4, 0xb3ff)
    csrw mideleg, t0
    csrr a4, mideleg
    CHECK(7, a4, 0x222)
    csrw medeleg, zero
    csrw mideleg, zero
    /* mstatus: SXL = UXL = 64 bits; MPP is WARL (2 keeps the old value) */
    csrr a4, mstatus
    srli a4, a4, 32
    andi a4, a4, 0xf
    CHECK(8, a4, 0xa)
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, 1 << 11
    csrs mstatus, t0        /* MPP = S */
    csrr a4, mstatus
    srli a4, a4, 11
    andi a4, a4, 3
    CHECK(9, a4, 1)
    csrr t1, mstatus
    li t0, ~(3 << 11)
    and t1, t1, t0
    li t0, 2 << 11
    or t1, t1, t0
    csrw mstatus, t1        /* a write of MPP = 2 leaves S */
    csrr a4, mstatus
    srli a4, a4, 11
    andi a4, a4, 3
    CHECK(10, a4, 1)
    /* sstatus shows only the S bits of mstatus (and UXL) */
    li t0, SSTATUS_S_BITS | 0x80 | 0x100000
    csrs mstatus, t0
    csrr a4, sstatus
    li t0, SSTATUS_S_BITS | 0x8 | 0x80 | 0x1800 | 0x100000 | 0x200000 | 0x400000 | 0x20000
    and a4, a4, t0
    CHECK(11, a4, SSTATUS_S_BITS)
    csrr a4, sstatus
    srli a4, a4, 32
    andi a4, a4, 3
    CHECK(12, a4, 2)
    csrw sstatus, zero      /* clears the S bits only */
    csrr a4, mstatus
    li t0, SSTATUS_S_BITS | 0x80 | 0x100000
    and a4, a4, t0
    CHECK(13, a4, 0x80 | 0x100000)
    li t0, 0x80 | 0x100000
    csrc mstatus, t0
    /* sie and sip through mideleg */
    li t0, 0x222
    csrw mideleg, t0
    li t0, 0xaaa
    csrw mie, t0
    csrr a4, sie
    CHECK(14, a4, 0x222)
    csrw sie, zero
    csrr a4, mie
    CHECK(15, a4, 0x888)
    li t0, 0x20
    csrw mideleg, t0
    li t0, 0x222
    csrw sie, t0            /* only STIE is delegated */
    csrr a4, mie
    CHECK(16, a4, 0x8a8)
    csrw mie, zero
    li t0, 0x22
    csrs mip, t0            /* M writes SSIP and STIP */
    csrr a4, mip
    andi a4, a4, 0x222
    CHECK(17, a4, 0x22)
    csrr a4, sip
    CHECK(18, a4, 0x20)     /* only STIP is delegated */
    li t0, 0x222
    csrw mideleg, t0
    csrr a4, sip
    andi a4, a4, 0x222
    CHECK(19, a4, 0x22)
    csrw sip, zero          /* SSIP is writable through sip, STIP is not */
    csrr a4, mip
    andi a4, a4, 0x222
    CHECK(20, a4, 0x20)
    csrw mip, zero
    csrw mideleg, zero
    csrr a4, sip
    CHECK(21, a4, 0)

    /* Into S by mret: S CSRs work, M CSRs are illegal there (cause 2 from S) */
    RESUME(1f)
    GO(PRV_S, s_csrs)
1:  CHECK(22, s4, 2)
    CHECK(23, s6, PRV_S)
    csrr a4, sscratch
    CHECK(24, a4, 0x55)
    la t0, s_mstatus
    li gp, 25
    bne s5, t0, fail
    /* ecall from S: cause 9 */
    RESUME(1f)
    GO(PRV_S, s_ecall)
1:  CHECK(26, s4, 9)
    CHECK(27, s6, PRV_S)
    la t0, s_ecall
    bne s5, t0, fail

    /* Delegated: ecall from U goes to S (SPP = U), whose handler reports by ecall to M */
    li t0, (1 << 8) | (1 << 2)
    csrw medeleg, t0
    li a1, -1
    RESUME(1f)
    GO(PRV_U, u_ecall)
1:  CHECK(28, s4, 9)
    CHECK(29, a1, 8)
    CHECK(30, a5, PRV_U)
    la t0, u_ecall
    li gp, 31
    bne a2, t0, fail
    /* illegal instruction in U (an S CSR): to S with stval = the encoding */
    li a1, -1
    RESUME(1f)
    GO(PRV_U, u_sstatus)
1:  CHECK(32, a1, 2)
    CHECK(33, a3, 0x10002573)
    /* not delegated: ebreak in U goes to M */
    li a1, -1
    RESUME(1f)
    GO(PRV_U, u_ebreak)
1:  CHECK(34, s4, 3)
    CHECK(35, s6, PRV_U)
    CHECK(36, a1, -1)
    /* M's own exceptions are never delegated */
    RESUME(1f)
2:  .word 0
1:  CHECK(37, s4, 2)
    CHECK(38, s6, PRV_M)
    csrw medeleg, zero

    /* sret to U: SIE = SPIE, SPIE = 1, SPP = U; U's ecall (not delegated now) reaches M from U */
    RESUME(1f)
    GO(PRV_S, s_sret_u)
1:  CHECK(39, s4, 8)
    CHECK(40, s6, PRV_U)
    csrr a4, mstatus
    andi a4, a4, 0x122
    CHECK(41, a4, 0x22)
    li t0, 0x22
    csrc mstatus, t0
    /* sret to S (SPP = S) */
    RESUME(1f)
    GO(PRV_S, s_sret_s)
1:  CHECK(42, s4, 9)
    la t0, s_after_sret
    li gp, 43
    bne s5, t0, fail
    /* TSR: sret in S is illegal; in U always */
    li t0, 1 << 22
    csrs mstatus, t0
    RESUME(1f)
    GO(PRV_S, s_sret_s)
1:  CHECK(44, s4, 2)
    CHECK(45, s6, PRV_S)
    li t0, 1 << 22
    csrc mstatus, t0
    RESUME(1f)
    GO(PRV_U, u_sret)
1:  CHECK(46, s4, 2)

    /* satp: Bare reads 0 and an unsupported mode (Sv57) leaves it unchanged; TVM traps satp and sfence.vma in S */
    li t0, (10 << 60) | 0x1234  /* Sv57: not implemented */
    csrw satp, t0
    csrr a4, satp
    CHECK(47, a4, 0)
    RESUME(1f)
    GO(PRV_S, s_satp)       /* TVM clear: satp, sfence.vma work in S, then ecall */
1:  CHECK(48, s4, 9)
    li t0, 1 << 20
    csrs mstatus, t0
    RESUME(1f)
    GO(PRV_S, s_satp)
1:  CHECK(49, s4, 2)
    la t0, s_satp
    li gp, 50
    bne s5, t0, fail
    RESUME(1f)
    GO(PRV_S, s_sfence)
1:  CHECK(51, s4, 2)
    li t0, 1 << 20
    csrc mstatus, t0
    RESUME(1f)
    GO(PRV_U, u_sfence)     /* never in U */
1:  CHECK(52, s4, 2)
    sfence.vma              /* in M: a no-op */

    /* wfi: in S without TW it waits for an interrupt pending in mie (here SSIP, delegated but masked by SIE)
     * and goes on; with TW it is illegal in S; in U it is always illegal */
    li t0, 2
    csrw mideleg, t0
    csrs mie, t0
    csrs mip, t0
    RESUME(1f)
    GO(PRV_S, s_wfi)
1:  CHECK(53, s4, 9)
    li t0, 1 << 21
    csrs mstatus, t0
    RESUME(1f)
    GO(PRV_S, s_wfi)
1:  CHECK(54, s4, 2)
    li t0, 1 << 21
    csrc mstatus, t0
    csrw mip, zero          /* else the delegated SSIP would be taken in U at once */
    RESUME(1f)
    GO(PRV_U, u_wfi)
1:  CHECK(55, s4, 2)
    csrw mip, zero
    csrw mie, zero
    csrw mideleg, zero

    /* Counters: mcounteren gates S (and U), scounteren gates U */
    csrw mcounteren, zero
    csrw scounteren, zero
    RESUME(1f)
    GO(PRV_S, s_rdcycle)
1:  CHECK(56, s4, 2)
    li t0, 7
    csrw mcounteren, t0
    RESUME(1f)
    GO(PRV_S, s_rdcycle)    /* cycle, time, instret, then S sets scounteren = 7 and ecalls */
1:  CHECK(57, s4, 9)
    csrr a4, scounteren
    CHECK(58, a4, 7)
    csrw scounteren, zero
    RESUME(1f)
    GO(PRV_U, u_rdtime)
1:  CHECK(59, s4, 2)
    li t0, 7
    csrw scounteren, t0
    RESUME(1f)
    GO(PRV_U, u_rdtime)     /* now allowed: ecall */
1:  CHECK(60, s4, 8)
    li t0, 5                /* no TM in mcounteren: U may not read time either */
    csrw mcounteren, t0
    RESUME(1f)
    GO(PRV_U, u_rdtime)
1:  CHECK(61, s4, 2)

    /* Read-only CSRs (bits 11:10 = 3) refuse writes even in M; mconfigptr reads 0 */
    RESUME(1f)
2:  csrw cycle, zero
1:  CHECK(62, s4, 2)
    csrr a4, mconfigptr
    CHECK(63, a4, 0)
    RESUME(1f)
2:  csrw mconfigptr, zero
1:  CHECK(64, s4, 2)
    csrw senvcfg, zero
    csrr a4, senvcfg
    CHECK(65, a4, 0)
    csrw menvcfg, zero
TEST_END

s_csrs:
    li t0, 0x55
    csrw sscratch, t0
    csrr t0, sscratch
    csrr t0, stvec
    csrr t0, sepc
    csrr t0, scause
    csrr t0, stval
    csrr t0, satp
    csrr t0, sstatus
s_mstatus:
    csrr t0, mstatus
    j fail
s_ecall:
    ecall
    j fail
u_ecall:
    ecall
    j fail
u_sstatus:
    csrr a0, sstatus
    j fail
u_ebreak:
    ebreak
    j fail
s_sret_u:
    li t0, 0x122
    csrc sstatus, t0
    li t0, 0x20             /* SPIE = 1, SIE = 0, SPP = U */
    csrs sstatus, t0
    la t0, u_ecall
    csrw sepc, t0
    sret
    j fail
s_sret_s:
    li t0, 0x100
    csrs sstatus, t0
    la t0, s_after_sret
    csrw sepc, t0
    sret
    j fail
s_after_sret:
    ecall
    j fail
u_sret:
    sret
    j fail
s_satp:
    csrr t0, satp
    csrw satp, zero
    sfence.vma
    ecall
    j fail
s_sfence:
    sfence.vma
    j fail
u_sfence:
    sfence.vma
    j fail
s_wfi:
    wfi
    ecall
    j fail
u_wfi:
    wfi
    j fail
s_rdcycle:
    rdcycle t0
    rdtime t0
    rdinstret t0
    li t0, 7
    csrw scounteren, t0
    ecall
    j fail
u_rdtime:
    rdcycle t0
    rdtime t0
    rdinstret t0
    ecall
    j fail
    HANDLERS
