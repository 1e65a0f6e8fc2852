/* RV64I integer computation: register-register, register-immediate, W forms, lui/auipc, x0. */
#include "test.h"
TEST_BEGIN("alu")
    TEST_RR(1, add, 0x0000000000000003, 1, 2)
    TEST_RR(2, add, 0x0000000000000000, -1, 1)
    TEST_RR(3, add, 0x8000000000000000, 0x7fffffffffffffff, 1)
    TEST_RR(4, sub, 0xffffffffffffffff, 1, 2)
    TEST_RR(5, sub, 0x7fffffffffffffff, 0x8000000000000000, 1)
    TEST_RR(6, xor, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0)
    TEST_RR(7, or,  0xfff0fff0fff0fff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0)
    TEST_RR(8, and, 0xf000f000f000f000, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0)
    TEST_RR(9, sll, 0x8000000000000000, 1, 63)
    TEST_RR(10, sll, 0x0000000000000002, 1, 65)
    TEST_RR(11, srl, 0x0000000000000001, 0x8000000000000000, 63)
    TEST_RR(12, sra, 0xffffffffffffffff, 0x8000000000000000, 63)
    TEST_RR(13, sra, 0xc000000000000000, 0x8000000000000000, 1)
    TEST_RR(14, slt, 1, -1, 0)
    TEST_RR(15, slt, 0, 0, -1)
    TEST_RR(16, sltu, 0, -1, 0)
    TEST_RR(17, sltu, 1, 0, -1)
    TEST_RI(18, addi, 0xfffffffffffff801, 1, -2048)
    TEST_RI(19, addi, 0x00000000000007ff, 0, 2047)
    TEST_RI(20, slti, 1, -5, -4)
    TEST_RI(21, sltiu, 1, 5, -1)
    TEST_RI(22, sltiu, 0, -1, 5)
    TEST_RI(23, xori, 0xffffffffffffff00, 0xff, -1)
    TEST_RI(24, ori, 0xfffffffffffff80f, 0x0f, -2048)
    TEST_RI(25, andi, 0x0000000000000700, 0xff00, 0x7ff)
    TEST_RI(26, slli, 0x0000000100000000, 1, 32)
    TEST_RI(27, srli, 0x00000000ffffffff, -1, 32)
    TEST_RI(28, srai, 0xffffffffffffffff, 0x8000000000000000, 63)
    /* W forms: 32-bit operation, result sign-extended from bit 31. */
    TEST_RR(30, addw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_RR(31, addw, 0x0000000000000000, 0xffffffff, 1)
    TEST_RR(32, subw, 0xffffffffffffffff, 0x100000000, 1)
    TEST_RR(33, sllw, 0xffffffff80000000, 1, 31)
    TEST_RR(34, sllw, 0x0000000000000002, 1, 33)
    TEST_RR(35, srlw, 0x0000000000000001, 0x80000000, 31)
    TEST_RR(36, srlw, 0x000000007fffffff, 0xffffffffffffffff, 1)
    TEST_RR(37, sraw, 0xffffffffffffffff, 0x80000000, 31)
    TEST_RI(38, addiw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_RI(39, addiw, 0x0000000000000000, 0x123400000000, 0)
    TEST_RI(40, slliw, 0xffffffff80000000, 1, 31)
    TEST_RI(41, srliw, 0x0000000000ffffff, 0xffffffff, 8)
    TEST_RI(42, sraiw, 0xffffffffffffffff, 0x80000000, 31)
    TEST_RI(43, sraiw, 0x0000000012345678, 0xffffffff12345678, 0)
    /* The same operations on registers that live in memory in the recompiler. */
    TEST_RR_MEM(50, add, 0x0000000100000000, 0xffffffff, 1)
    TEST_RR_MEM(51, subw, 0xffffffff80000001, 0x80000000, 0xffffffffffffffff)
    TEST_RR_MEM(52, sltu, 1, 1, 2)
    TEST_RR_MEM(53, sra, 0xfffffffffffffff8, -64, 3)
    TEST_RR_SAME(54, add, 0x0000000000000004, 2)
    TEST_RR_SAME(55, sub, 0, 12345)
    TEST_RR_SAME(56, sll, 0x0000000000000800, 8) /* 8 << (8 & 63) */
    /* lui and auipc */
    lui a4, 0x80000
    CHECK(60, a4, 0xffffffff80000000)
    lui a4, 0x7ffff
    CHECK(61, a4, 0x000000007ffff000)
1:  auipc a4, 0
    la a5, 1b
    li gp, 62
    bne a4, a5, fail
    /* x0 ignores writes */
    li a1, 5
    add x0, a1, a1
    addi x0, x0, 7
    mv a4, x0
    CHECK(63, a4, 0)
TEST_END
