/* Zicsr and machine-mode traps: CSR instructions, ecall/ebreak/illegal/misaligned causes and mepc, mret to user
 * mode, user-mode ecall, and a user-mode CSR access that must be illegal. */
#include "test.h"
/* Arms the handler to expect `cause` and resume at label `resume`. */
#define EXPECT_TRAP(cause, resume) \
    li s6, cause;                  \
    li s11, cause;                 \
    la s7, resume
TEST_BEGIN("trap")
    la t0, handler
    csrw mtvec, t0
    /* CSR read/modify/write on mscratch */
    li a1, 0x1234
    csrw mscratch, a1
    li a2, 0
    csrrs a4, mscratch, a2    /* rs1 = a2 holding 0 still counts as a write attempt; value unchanged */
    CHECK(1, a4, 0x1234)
    csrrsi a4, mscratch, 0x3
    CHECK(2, a4, 0x1234)
    csrr a4, mscratch
    CHECK(3, a4, 0x1237)
    csrrci a4, mscratch, 0x5
    csrr a4, mscratch
    CHECK(4, a4, 0x1232)
    li a2, 0xff
    csrrc a4, mscratch, a2
    csrr a4, mscratch
    CHECK(5, a4, 0x1200)
    csrrwi a4, mscratch, 9
    CHECK(6, a4, 0x1200)
    csrr a4, mscratch
    CHECK(7, a4, 9)
    /* misa: RV64 with I, M, A, C */
    csrr a4, misa
    srli a5, a4, 62
    CHECK(8, a5, 2)
    li a5, (1 << 0) | (1 << 2) | (1 << 8) | (1 << 12)
    and a4, a4, a5
    CHECK(9, a4, (1 << 0) | (1 << 2) | (1 << 8) | (1 << 12))
    csrr a4, mhartid
    CHECK(10, a4, 0)

    /* ecall from M: cause 11, mepc at the ecall */
    li gp, 20
    EXPECT_TRAP(11, 1f)
    la s8, 2f
2:  ecall
    j fail
1:  /* ebreak: cause 3 */
    li gp, 21
    EXPECT_TRAP(3, 1f)
    la s8, 2f
2:  ebreak
    j fail
1:  /* an unknown opcode: illegal instruction, cause 2 */
    li gp, 22
    EXPECT_TRAP(2, 1f)
    la s8, 2f
2:  .word 0x0000000b
    j fail
1:  /* a CSR that does not exist */
    li gp, 23
    EXPECT_TRAP(2, 1f)
    la s8, 2f
2:  csrr a4, 0x7ff
    j fail
1:  /* writing a read-only CSR */
    li gp, 24
    EXPECT_TRAP(2, 1f)
    la s8, 2f
2:  csrw mhartid, a1
    j fail
1:  /* misaligned AMO: store/AMO address misaligned, cause 6 */
    li gp, 25
    la a1, scratch
    addi a1, a1, 4
    EXPECT_TRAP(6, 1f)
    la s8, 2f
    li s11, 7               /* the ISA allows an access fault instead (QEMU raises that) */
2:  amoadd.d a4, a2, (a1)
    j fail
1:  /* mret into user mode; ecall there is cause 8 */
    li gp, 26
    li t0, 3 << 11
    csrc mstatus, t0        /* MPP = U */
    la t0, user_code
    csrw mepc, t0
    EXPECT_TRAP(8, 1f)
    la s8, user_ecall
    mret
1:  /* back in M (the handler ran in M); check MPP recorded U */
    csrr a4, mstatus
    srli a4, a4, 11
    andi a4, a4, 3
    CHECK(27, a4, 0)
    /* user mode may not read mstatus */
    li gp, 28
    li t0, 3 << 11
    csrc mstatus, t0
    la t0, user_csr
    csrw mepc, t0
    EXPECT_TRAP(2, 1f)
    la s8, user_csr
    mret
1:  /* mstatus.MIE/MPIE across a trap: MIE=1 before -> MPIE=1, MIE=0 in the handler */
    li gp, 29
    csrsi mstatus, 8
    EXPECT_TRAP(11, 1f)
    la s8, 2f
2:  ecall
    j fail
1:  CHECK(30, s9, 0x80)   /* handler saw MPIE=1, MIE=0 */
    csrci mstatus, 8
    /* minstret across a CSR access that traps in the middle of a block: neither it nor what follows it in the
     * block retires (the recompiler charges a block's instructions when it starts: the trap gives them back) */
    la t0, count_handler
    csrw mtvec, t0
    csrr s1, minstret
    addi t1, zero, 1
    addi t1, t1, 1
    csrw mhartid, t1        /* read-only: illegal */
    addi t1, t1, 1
    addi t1, t1, 1
    addi t1, t1, 1
    j fail
    .balign 4
count_handler:
    csrr s2, minstret
    sub s2, s2, s1
    CHECK(31, s2, 3)        /* the two addi and this csrr */
    la t0, handler
    csrw mtvec, t0
TEST_END

user_code:
user_ecall:
    ecall
    j user_code
user_csr:
    csrr a4, mstatus
    j fail

    .balign 4
/* Checks mcause == s6 and mepc == s8, records mstatus & (MIE|MPIE) in s9, then returns to s7 in M mode. */
handler:
    csrr t0, mcause
    beq t0, s6, 1f
    bne t0, s11, fail
1:  csrr t0, mepc
    bne t0, s8, fail
    csrr t0, mstatus
    andi s9, t0, 0x88
    li t1, 3 << 11
    csrs mstatus, t1        /* MPP = M */
    csrw mepc, s7
    mret
    .data
    .balign 16
scratch: .zero 16
