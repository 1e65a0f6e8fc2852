/* Self-modifying code: a store that rewrites an instruction later in the same block, one that rewrites an
 * already-executed (translated) function, with and without fence.i. The new instruction must run. */
#include "test.h"
#define ADDI_A4_1 0x00100713 /* addi a4, zero, 1 */
#define ADDI_A4_2 0x00200713 /* addi a4, zero, 2 */
#define ADDI_A4_3 0x00300713 /* addi a4, zero, 3 */
TEST_BEGIN("smc")
    .option push
    .option norvc
    /* 1: the next instruction in the same block */
    /* Instructions are only 2-byte aligned here, and vmm traps misaligned stores: patch the upper halfword,
     * the only one that differs between the addi encodings below. */
    la t0, 1f
    li t1, ADDI_A4_2 >> 16
    sh t1, 2(t0)
1:  addi a4, zero, 1
    CHECK(1, a4, 2)
    /* 2: a function that has run (and was translated) is rewritten, then called again */
    call patched
    CHECK(2, a4, 1)
    la t0, patched
    li t1, ADDI_A4_3 >> 16
    sh t1, 2(t0)
    call patched
    CHECK(3, a4, 3)
    /* 3: the same after fence.i */
    li t1, ADDI_A4_2 >> 16
    sh t1, 2(t0)
    fence.i
    call patched
    CHECK(4, a4, 2)
    /* 4: rewriting inside a hot loop: iteration i patches the instruction that sets a4 for the next one */
    li s2, 0
    li s3, 10
2:  la t0, 3f
    li t1, ADDI_A4_1 >> 16
    sh t1, 2(t0)
3:  addi a4, zero, 3           /* replaced before it first runs */
    add s2, s2, a4
    addi s3, s3, -1
    bnez s3, 2b
    CHECK(5, s2, 10)
    .option pop
TEST_END
    .balign 4
    .option push
    .option norvc
patched:
    addi a4, zero, 1
    ret
    .option pop
