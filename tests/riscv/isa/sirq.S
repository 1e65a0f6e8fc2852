/* Supervisor interrupts: STIP/SSIP/SEIP written by M-mode and delegated through mideleg are taken in S when
 * sstatus.SIE allows (in S) or at once (in U), never in M; not delegated they go to M even from S with SIE
 * clear; M-level interrupts come before S-level ones; vectored stvec; S clears SSIP through sip. */
#include "test.h"
#define SREPORT csrc sip, 2
#include "smode.h"

TEST_BEGIN("sirq")
    SETUP_HANDLERS
    /* Delegated STI: pending in M, not taken there even with MIE */
    li t0, 1 << 5
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    csrsi mstatus, 8
    li a1, -1
    nop
    csrci mstatus, 8
    CHECK(1, a1, -1)
    /* in S with SIE clear: not taken until S sets it; then scause = STI, SPP = S, sepc after the csrs */
    RESUME(1f)
    GO(PRV_S, s_enable)
1:  CHECK(2, s4, 9)
    CHECK(3, a1, IRQ(5))
    CHECK(4, a5, PRV_S)
    la t0, s_enabled
    li gp, 5
    bne a2, t0, fail
    CHECK(6, s2, 1)         /* S ran up to its csrs */
    /* the trap cleared SIE and saved it in SPIE */
    csrr a4, mstatus
    andi a4, a4, 0x22
    CHECK(7, a4, 0x20)
    li t0, 0x22
    csrc mstatus, t0

    /* Not delegated: STI goes to M from S even with SIE clear */
    csrw mideleg, zero
    li s2, 0
    RESUME(1f)
    GO(PRV_S, s_enable)
1:  CHECK(8, s4, IRQ(5))
    CHECK(9, s6, PRV_S)
    CHECK(10, s2, 0)
    csrw mip, zero

    /* Delegated SSI from U: taken at once into S; S clears SSIP through sip */
    li t0, 1 << 1
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    li a1, -1
    RESUME(1f)
    GO(PRV_U, u_loop)
1:  CHECK(11, s4, 9)
    CHECK(12, a1, IRQ(1))
    CHECK(13, a5, PRV_U)
    csrr a4, mip
    andi a4, a4, 0x222
    CHECK(14, a4, 0)

    /* M-level before S-level: STI not delegated and SSI delegated, both pending, in S with SIE set */
    li t0, 0x22
    csrw mie, t0
    csrs mip, t0
    li t0, 2
    csrs mstatus, t0
    RESUME(1f)
    GO(PRV_S, s_loop)
1:  CHECK(15, s4, IRQ(5))
    CHECK(16, s6, PRV_S)
    li t0, 0x20
    csrc mip, t0
    li a1, -1
    RESUME(1f)
    GO(PRV_S, s_loop)       /* now the delegated SSI */
1:  CHECK(17, a1, IRQ(1))
    CHECK(18, s4, 9)

    /* SEIP written by M, delegated, vectored stvec: scause 9 at stvec base + 4 * 9 */
    la t0, svec
    ori t0, t0, 1
    csrw stvec, t0
    li t0, 1 << 9
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    li a6, 0
    RESUME(1f)
    GO(PRV_U, u_loop)
1:  CHECK(19, a1, IRQ(9))
    CHECK(20, a6, 9)
    csrr a4, sip
    CHECK(21, a4, 1 << 9)
    csrw mip, zero
    csrw mie, zero
    csrw mideleg, zero
TEST_END

s_enable:
    li s2, 1
    csrsi sstatus, 2
s_enabled:
    li s2, 2
    j fail
s_loop:
    j s_loop
u_loop:
    j u_loop
    HANDLERS
    .balign 4
svec:
    .rept 9
    j fail
    .endr
    li a6, 9
    j shandler
