/* Blocks outlive address-space switches (paging_asid.sh). M-mode builds two Sv39 roots: both map RAM at VA
 * 0x80000000 with a gigapage (where S-mode code runs), and VA 0x40000000 with a 2 MiB megapage, root A to RAM at
 * 0x80200000 (a function returning 1), root B to 0x80400000 (one returning 2). S-mode then switches satp 1000
 * times to each root, every time with a new ASID (so no sfence.vma is needed), and calls VA 0x40000000 after
 * each switch: the sum must be 3000 (one virtual pc, two RAM pages: two blocks, each used in its own address
 * space), and paging_asid.sh checks with --stats that the loop's blocks were not translated again for every
 * satp value. Ends with "PASS paging-asid" and status 0. */
#include "test.h"
#define SREPORT
#include "smode.h"

TEST_BEGIN("paging-asid")
    SETUP_HANDLERS
    li t0, (0x80000000 >> 12) << 10 | 0xcf   /* V R W X A D: VA 0x80000000 -> PA 0x80000000 (gigapage 2) */
    la t1, root_a
    sd t0, 2 * 8(t1)
    la t1, root_b
    sd t0, 2 * 8(t1)
    la t2, l1_a                               /* VA 0x40000000 (gigapage slot 1) -> an L1 table per root */
    srli t0, t2, 12
    slli t0, t0, 10
    ori t0, t0, 1
    la t1, root_a
    sd t0, 1 * 8(t1)
    li t0, (0x80200000 >> 12) << 10 | 0xcf   /* -> PA 0x80200000 (megapage) */
    sd t0, 0(t2)
    la t2, l1_b
    srli t0, t2, 12
    slli t0, t0, 10
    ori t0, t0, 1
    la t1, root_b
    sd t0, 1 * 8(t1)
    li t0, (0x80400000 >> 12) << 10 | 0xcf   /* -> PA 0x80400000 */
    sd t0, 0(t2)
    li t1, 0x80200000                         /* li a0, 1; ret */
    li t0, 0x00100513
    sw t0, 0(t1)
    li t0, 0x00008067
    sw t0, 4(t1)
    li t1, 0x80400000                         /* li a0, 2; ret */
    li t0, 0x00200513
    sw t0, 0(t1)
    li t0, 0x00008067
    sw t0, 4(t1)
    fence.i
    la t0, root_a                             /* satp values without ASID, for S-mode to add one to */
    srli s10, t0, 12
    li t1, 8 << 60
    or s10, s10, t1
    la t0, root_b
    srli s11, t0, 12
    or s11, s11, t1
    RESUME(1f)
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, PRV_S << 11
    csrs mstatus, t0
    la t0, s_loop
    csrw mepc, t0
    mret
1:  CHECK(20, s4, 9)
    CHECK(21, s6, PRV_S)
    CHECK(22, s8, 3000)
    csrw satp, zero
TEST_END

s_loop:
    li s2, 1000
    li s8, 0
    li s9, 0x40000000
1:  slli t0, s2, 45                           /* ASID 2 * s2 (bits 59:44) */
    or t0, t0, s10
    csrw satp, t0
    jalr s9
    add s8, s8, a0
    slli t0, s2, 45
    li t1, 1 << 44                            /* ASID 2 * s2 + 1 */
    or t0, t0, t1
    or t0, t0, s11
    csrw satp, t0
    jalr s9
    add s8, s8, a0
    addi s2, s2, -1
    bnez s2, 1b
    ecall
    j fail
    HANDLERS

    .data
    .balign 4096
root_a: .zero 4096
root_b: .zero 4096
l1_a: .zero 4096
l1_b: .zero 4096
