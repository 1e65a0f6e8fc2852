/* A extension: LR/SC (success and failure) and every AMO, word and doubleword. */
#include "test.h"
#define TEST_AMO(n, inst, init, src, old, new) \
    li a1, init; sd a1, 0(s1);                  \
    li a2, src;                                 \
    inst a4, a2, (s1);                          \
    CHECK(n, a4, old);                          \
    ld a4, 0(s1);                               \
    CHECK(n + 100, a4, new)
TEST_BEGIN("atomic")
    la s1, cell
    TEST_AMO(1, amoswap.d, 5, 7, 5, 7)
    TEST_AMO(2, amoadd.d, 5, -7, 5, -2)
    TEST_AMO(3, amoxor.d, 0xff, 0x0f, 0xff, 0xf0)
    TEST_AMO(4, amoand.d, 0xff, 0x0f, 0xff, 0x0f)
    TEST_AMO(5, amoor.d, 0xf0, 0x0f, 0xf0, 0xff)
    TEST_AMO(6, amomin.d, 5, -1, 5, -1)
    TEST_AMO(7, amomax.d, 5, -1, 5, 5)
    TEST_AMO(8, amominu.d, 5, -1, 5, 5)
    TEST_AMO(9, amomaxu.d, 5, -1, 5, -1)
    /* word AMOs sign-extend the old value and leave the upper word alone */
    TEST_AMO(10, amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0x80000000)
    TEST_AMO(11, amoswap.w, 0x1122334480000000, 1, 0xffffffff80000000, 0x1122334400000001)
    TEST_AMO(12, amomin.w, 0x00000000ffffffff, 1, -1, 0xffffffff)
    TEST_AMO(13, amominu.w, 0x00000000ffffffff, 1, -1, 1)
    TEST_AMO(14, amomax.w, 0x0000000080000000, 1, 0xffffffff80000000, 1)
    TEST_AMO(15, amomaxu.w, 0x0000000080000000, 1, 0xffffffff80000000, 0x80000000)
    TEST_AMO(16, amoxor.w, 0x0f, 0xff, 0x0f, 0xf0)
    TEST_AMO(17, amoand.w, 0x0f, 0xff, 0x0f, 0x0f)
    TEST_AMO(18, amoor.w, 0x0f, 0xf0, 0x0f, 0xff)
    /* LR/SC: success writes and returns 0; a second SC without LR fails with nonzero and does not write */
    li a1, 10; sd a1, 0(s1)
    lr.d a4, (s1)
    CHECK(30, a4, 10)
    addi a4, a4, 1
    sc.d a5, a4, (s1)
    CHECK(31, a5, 0)
    ld a4, 0(s1); CHECK(32, a4, 11)
    li a4, 99
    sc.d a5, a4, (s1)
    li gp, 33
    beqz a5, fail
    ld a4, 0(s1); CHECK(34, a4, 11)
    lr.w a4, (s1)
    CHECK(35, a4, 11)
    li a4, -1
    sc.w a5, a4, (s1)
    CHECK(36, a5, 0)
    ld a4, 0(s1); CHECK(37, a4, 0xffffffff)
TEST_END
    .data
    .balign 16
cell: .zero 16
