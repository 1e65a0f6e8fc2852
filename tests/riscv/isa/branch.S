/* Control transfer: every conditional branch taken and not taken, jal/jalr with links, jalr clearing bit 0. */
#include "test.h"
#define TEST_BR_TAKEN(n, inst, a, b) \
    li gp, n; li a1, a; li a2, b;    \
    inst a1, a2, 1f;                 \
    j fail;                          \
1:
#define TEST_BR_NOT(n, inst, a, b)   \
    li gp, n; li a1, a; li a2, b;    \
    inst a1, a2, fail
TEST_BEGIN("branch")
    TEST_BR_TAKEN(1, beq, 5, 5)
    TEST_BR_NOT(2, beq, 5, 6)
    TEST_BR_TAKEN(3, bne, 5, 6)
    TEST_BR_NOT(4, bne, -1, -1)
    TEST_BR_TAKEN(5, blt, -1, 0)
    TEST_BR_NOT(6, blt, 0, -1)
    TEST_BR_NOT(7, blt, 3, 3)
    TEST_BR_TAKEN(8, bge, 0, -1)
    TEST_BR_TAKEN(9, bge, 3, 3)
    TEST_BR_NOT(10, bge, -1, 0)
    TEST_BR_TAKEN(11, bltu, 0, -1)
    TEST_BR_NOT(12, bltu, -1, 0)
    TEST_BR_TAKEN(13, bgeu, -1, 0)
    TEST_BR_NOT(14, bgeu, 0, -1)
    /* jal links pc + 4 */
    li gp, 20
    jal a4, 2f
3:  j fail
2:  la a5, 3b
    bne a4, a5, fail
    /* jalr: target = (rs1 + imm) & ~1, link in rd, rd == rs1 allowed */
    li gp, 21
    la a1, 4f
    addi a1, a1, -3
    jalr a4, 4(a1)        /* (4f - 3 + 4) & ~1 = 4f, since 4f is even: 4f + 1 & ~1 */
5:  j fail
4:  la a5, 5b
    bne a4, a5, fail
    li gp, 22
    la a1, 6f
    jalr a1, 0(a1)
7:  j fail
6:  la a5, 7b
    bne a1, a5, fail
    /* A loop: 100 iterations through a backward branch (chained block to itself). */
    li gp, 23
    li a1, 100
    li a4, 0
8:  addi a4, a4, 3
    addi a1, a1, -1
    bnez a1, 8b
    CHECK(24, a4, 300)
    /* A call and a return through ra. */
    li gp, 25
    li a0, 7
    call double_it
    CHECK(26, a0, 14)
    j 9f
double_it:
    add a0, a0, a0
    ret
9:
TEST_END
