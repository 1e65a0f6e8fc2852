/* Loads and stores of every width, sign and zero extension, and stores overlapping loads. */
#include "test.h"
TEST_BEGIN("mem")
    la s1, buf
    li a1, 0x8877665544332211
    sd a1, 0(s1)
    lb a4, 7(s1);  CHECK(1, a4, 0xffffffffffffff88)
    lbu a4, 7(s1); CHECK(2, a4, 0x88)
    lh a4, 6(s1);  CHECK(3, a4, 0xffffffffffff8877)
    lhu a4, 6(s1); CHECK(4, a4, 0x8877)
    lw a4, 4(s1);  CHECK(5, a4, 0xffffffff88776655)
    lwu a4, 4(s1); CHECK(6, a4, 0x88776655)
    lw a4, 0(s1);  CHECK(7, a4, 0x44332211)
    ld a4, 0(s1);  CHECK(8, a4, 0x8877665544332211)
    li a2, 0xaa
    sb a2, 1(s1)
    ld a4, 0(s1);  CHECK(9, a4, 0x887766554433aa11)
    li a2, 0xbbcc
    sh a2, 2(s1)
    ld a4, 0(s1);  CHECK(10, a4, 0x88776655bbccaa11)
    li a2, 0x12345678
    sw a2, 4(s1)
    ld a4, 0(s1);  CHECK(11, a4, 0x12345678bbccaa11)
    /* Negative offsets, and a base kept in a memory-resident register. */
    addi s2, s1, 16
    li a2, -2
    sd a2, -8(s2)
    ld a4, 8(s1);  CHECK(12, a4, -2)
    lbu a4, -1(s2); CHECK(13, a4, 0xff)
    /* Byte stores from registers the recompiler maps to rsi/rdi (a2, a3). */
    li a3, 0x1ff
    sb a3, 16(s1)
    lbu a4, 16(s1); CHECK(14, a4, 0xff)
    /* Loads into x0 still happen and are discarded. */
    lw x0, 0(s1)
    li a4, 1; CHECK(15, a4, 1)
TEST_END
    .data
    .balign 16
buf: .zero 64
