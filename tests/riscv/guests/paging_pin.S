/* Register pinning follows paged code (paging_pin.sh): M-mode maps RAM with Sv39 gigapages at VA 0x80000000 and
 * at VA 0 (A and D already set, so nothing needs the walk to write a PTE), enters S-mode at the loop's alias at
 * VA 0 (where a virtual pc is no physical RAM address), and there runs a loop of ~80 M
 * instructions that uses only s8-s11, t3-t6 and t2, registers the rest of the program hardly touches. The
 * profile samples are then all taken at virtual pcs of S-mode code; paging_pin.sh checks that vmm pinned those
 * registers (--stats). Ends with "PASS paging-pin" and status 0 when the loop computed the expected value. */
#include "test.h"
#define SREPORT
#include "smode.h"
#define SATP_VAL (8 << 60)

TEST_BEGIN("paging-pin")
    SETUP_HANDLERS
    li t0, (0x80000000 >> 12) << 10 | 0xcf   /* V R W X A D: VA 0x80000000 -> PA 0x80000000 (gigapage 2) */
    la t1, root
    sd t0, 2 * 8(t1)
    sd t0, 0 * 8(t1)                          /* and VA 0 -> PA 0x80000000: the loop runs there */
    la t0, root
    srli t0, t0, 12
    li t1, SATP_VAL
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    RESUME(1f)
    li t0, 3 << 11                  /* mret to S at s_loop's alias at VA s_loop - 0x80000000 */
    csrc mstatus, t0
    li t0, PRV_S << 11
    csrs mstatus, t0
    la t0, s_loop
    li t1, 0x80000000
    sub t0, t0, t1
    csrw mepc, t0
    mret
1:  mv a0, t6                  /* CHECK uses t6 */
    CHECK(20, s4, 9)
    CHECK(21, s6, PRV_S)
    CHECK(22, s8, 10000000)
    CHECK(23, a0, 0x886c999c41c0)
    csrw satp, zero
TEST_END

s_loop:
    li t2, 10000000
    li s8, 0
    li s9, 3
    li s10, 5
    li s11, 7
    li t3, 0
    li t4, 1
    li t5, 2
    li t6, 0
1:  addi s8, s8, 1
    add t3, t3, s9
    xor t4, t4, s10
    add t5, t5, s11
    add t6, t6, t3
    addi t2, t2, -1
    bnez t2, 1b
    ecall
    j fail
    HANDLERS

    .data
    .balign 4096
root: .zero 4096
