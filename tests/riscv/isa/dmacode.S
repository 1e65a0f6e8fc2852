/* Code a device rewrites (tests/plugins/dma_copy.c at DMA, with mem_write and through mem_ptr): the hart has run
 * and translated the function, a fence.i has looked at RAM since, the device copies a new instruction over it,
 * and after fence.i the new instruction must run. On one hart the recompiler keeps its translations across fence.i
 * without comparing pages while the core's count of device writes stands still (SDK 1.8 mem_write_count): a
 * copy it did not count would leave the old code running. */
#include "test.h"
#define DMA 0x10010000
#define ADDI_A4_1 0x00100713 /* addi a4, zero, 1 */
#define ADDI_A4_2 0x00200713 /* addi a4, zero, 2 */
#define ADDI_A4_3 0x00300713 /* addi a4, zero, 3 */

/* Copy 4 bytes from `from` over `patched` with the device's mode `how`; status must be 0. */
#define DMA_PATCH(n, from, how) \
    li t0, DMA;                 \
    la t1, from;                \
    sd t1, 0x00(t0);            \
    la t1, patched;             \
    sd t1, 0x08(t0);            \
    li t1, 4;                   \
    sw t1, 0x10(t0);            \
    li t1, how;                 \
    sw t1, 0x14(t0);            \
    lw t1, 0x18(t0);            \
    CHECK(n, t1, 0)

TEST_BEGIN("dmacode")
    call patched
    CHECK(1, a4, 1)
    fence.i                     /* looks at RAM: nothing changed, and the count is taken */
    call patched
    CHECK(2, a4, 1)
    /* 1: the device copies with mem_write */
    DMA_PATCH(3, new2, 1)
    fence.i
    call patched
    CHECK(4, a4, 2)
    /* 2: a fence.i with nothing new keeps the blocks, and they are still right */
    fence.i
    call patched
    CHECK(5, a4, 2)
    /* 3: the device copies through a writable mem_ptr */
    DMA_PATCH(6, new3, 2)
    fence.i
    call patched
    CHECK(7, a4, 3)
TEST_END
    .balign 4
    .option push
    .option norvc
patched:
    addi a4, zero, 1
    ret
    .option pop
    .balign 4
new2: .word ADDI_A4_2
new3: .word ADDI_A4_3
