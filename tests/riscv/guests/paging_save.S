/* Saved state with paging on (snapshot_smode.sh paging_save): M-mode builds Sv39 tables (RAM identity-mapped
 * by a gigapage, VA 0x40000000 -> a data page), turns satp on with ASID 5 and enters S-mode, which reads and
 * writes through the mapping while it waits 0.5 s of guest time (the snapshot is taken then, vmm killed and the
 * snapshot restored in a new process, whose TLB and translations start empty), then checks satp and the mapped
 * data again and ecalls to M, which checks the page's contents physically. Status 0 and "PASS paging-save" when
 * all came back, else the number of the first check that failed. */
#include "test.h"
#define SREPORT
#include "smode.h"

#define PTE(table, idx, target, flags) \
    la t0, target; srli t0, t0, 12; slli t0, t0, 10; li t1, flags; or t0, t0, t1; la t1, table; sd t0, (idx) * 8(t1)
#define SATP_VAL ((8 << 60) | (5 << 44))

TEST_BEGIN("paging-save")
    SETUP_HANDLERS
    li t0, 7
    csrw mcounteren, t0
    li t0, (0x80000000 >> 12) << 10 | 0xcf
    la t1, root
    sd t0, 2 * 8(t1)
    PTE(root, 1, l1, 1)
    PTE(l1, 0, l0, 1)
    PTE(l0, 0, data, 0x07)          /* V R W: the walk sets A and D */
    la t0, root
    srli t0, t0, 12
    li t1, SATP_VAL
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    li t0, UART
    li t1, 'r'
    sb t1, 0(t0)
    li t1, '\n'
    sb t1, 0(t0)
    RESUME(1f)
    GO(PRV_S, s_wait)
1:  CHECK(20, s4, 9)
    CHECK(21, s6, PRV_S)
    la t0, data
    ld a4, 8(t0)
    CHECK(22, a4, 0x1234)
    la t0, l0
    ld a4, 0(t0)
    andi a4, a4, 0xc0
    CHECK(23, a4, 0xc0)
    csrw satp, zero
TEST_END

s_wait:
    li s2, 0x40000000
    rdtime s1
    li t0, 5000000          /* 0.5 s at 10 MHz */
    add s1, s1, t0
    li s3, 0
1:  ld t1, 0(s2)
    add s3, s3, t1
    sd s3, 16(s2)
    rdtime t0
    bltu t0, s1, 1b
    csrr a4, satp
    srli a4, a4, 44
    CHECK(1, a4, SATP_VAL >> 44)
    ld a4, 0(s2)
    CHECK(2, a4, 0x77)
    li t0, 0x1234
    sd t0, 8(s2)
    ecall
    j fail
    HANDLERS

    .data
    .balign 4096
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
data: .dword 0x77
    .zero 4088
