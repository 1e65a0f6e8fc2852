/* The C extension: every RV64C instruction, written explicitly. */
#include "test.h"
TEST_BEGIN("compressed")
    .option push
    .option rvc
    c.li a4, -32
    CHECK(1, a4, -32)
    c.li a4, 31
    c.addi a4, -1
    CHECK(2, a4, 30)
    c.lui a4, 0xfffff
    CHECK(3, a4, 0xfffffffffffff000)
    c.lui a4, 1
    CHECK(4, a4, 0x1000)
    li a4, 0x7fffffff
    c.addiw a4, 1
    CHECK(5, a4, 0xffffffff80000000)
    mv s0, sp
    c.addi16sp sp, -64
    sub a4, s0, sp
    CHECK(6, a4, 64)
    c.addi4spn a5, sp, 16
    sub a4, a5, sp
    CHECK(7, a4, 16)
    li a5, 0x1122334455667788
    c.sdsp a5, 8(sp)
    c.ldsp a4, 8(sp)
    CHECK(8, a4, 0x1122334455667788)
    c.lwsp a4, 8(sp)
    CHECK(9, a4, 0x55667788)
    li a5, -2
    c.swsp a5, 12(sp)
    mv s1, sp
    c.ld a4, 8(s1)
    CHECK(10, a4, 0xfffffffe55667788)
    c.lw a4, 12(s1)
    CHECK(11, a4, -2)
    li a3, 0x0badcafe
    c.sw a3, 16(s1)
    c.sd a3, 24(s1)
    c.lw a4, 16(s1)
    CHECK(12, a4, 0x0badcafe)
    c.ld a4, 24(s1)
    CHECK(13, a4, 0x0badcafe)
    c.addi16sp sp, 64
    li a4, -256
    c.srli a4, 60
    CHECK(14, a4, 15)
    li a4, -256
    c.srai a4, 4
    CHECK(15, a4, -16)
    li a4, 0xff
    c.andi a4, -16
    CHECK(16, a4, 0xf0)
    li a4, 10
    li a5, 3
    c.sub a4, a5
    CHECK(17, a4, 7)
    li a4, 0xf0
    li a5, 0xff
    c.xor a4, a5
    CHECK(18, a4, 0x0f)
    li a4, 0xf0
    c.or a4, a5
    CHECK(19, a4, 0xff)
    li a4, 0xf0
    li a5, 0x3c
    c.and a4, a5
    CHECK(20, a4, 0x30)
    li a4, 0
    li a5, 1
    c.subw a4, a5
    CHECK(21, a4, -1)
    li a4, 0x7fffffff
    c.addw a4, a5
    CHECK(22, a4, 0xffffffff80000000)
    li a4, 3
    c.slli a4, 62
    CHECK(23, a4, 0xc000000000000000)
    li a5, 77
    c.mv a4, a5
    CHECK(24, a4, 77)
    li a4, 5
    c.add a4, a5
    CHECK(25, a4, 82)
    li gp, 26
    c.j 1f
    j fail
1:  li a4, 0
    li gp, 27
    c.bnez a4, fail
    c.beqz a4, 1f
    j fail
1:  li a4, 1
    li gp, 28
    c.beqz a4, fail
    c.bnez a4, 1f
    j fail
1:  li gp, 29
    la a5, 1f
    c.jr a5
    j fail
1:  la a5, 2f
    c.jalr a5
3:  j 4f
2:  la a4, 3b
    li gp, 30
    bne ra, a4, fail
    c.jr ra
4:  c.nop
    .option pop
TEST_END
