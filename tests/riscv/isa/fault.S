/* Guest accesses outside the RAM window and outside any device: each must raise an access fault (loads cause 5,
 * stores cause 7, fetches cause 1) with mtval = the address, and never touch host memory. Run with --mem 64M. */
#include "test.h"
#define RAM_END 0x84000000
/* Loads/stores through a5 = addr; the handler checks mcause == s6, mtval == s10, resumes at s7. */
#define LOAD_FAULT(n, inst, addr)   \
    li gp, n; li s6, 5; li s10, addr; la s7, 1f; li a5, addr; \
    inst a4, 0(a5);                 \
    j fail;                         \
1:
#define STORE_FAULT(n, inst, addr)  \
    li gp, n; li s6, 7; li s10, addr; la s7, 1f; li a5, addr; \
    inst a4, 0(a5);                 \
    j fail;                         \
1:
TEST_BEGIN("fault")
    la t0, handler
    csrw mtvec, t0
    li a4, 0x5a5a5a5a
    LOAD_FAULT(1, ld, RAM_END)
    LOAD_FAULT(2, lw, RAM_END + 0x1000)
    LOAD_FAULT(3, lb, 0x7ffffff8)
    LOAD_FAULT(4, ld, 0x0000000018000000)
    LOAD_FAULT(5, ld, 0xffffffff80000000)
    LOAD_FAULT(6, lbu, 0x0000000100000000)
    LOAD_FAULT(7, ld, 0xfffffffffffffff8)
    LOAD_FAULT(8, lhu, 0x0000800000000000)
    STORE_FAULT(10, sd, RAM_END)
    STORE_FAULT(11, sw, 0x7ffffffc)
    STORE_FAULT(12, sb, 0x0000000018000000)
    STORE_FAULT(13, sd, 0xffffffff80000000)
    STORE_FAULT(14, sh, 0x0000000180000000)
    /* The last doubleword of RAM is fine. */
    li gp, 20
    li a5, RAM_END - 8
    li a4, 0x1234
    sd a4, 0(a5)
    ld a3, 0(a5)
    bne a3, a4, fail
    /* AMOs outside RAM: store/AMO access fault */
    li gp, 21; li s6, 7; li s10, RAM_END; la s7, 1f; li a5, RAM_END
    amoadd.d a4, a4, (a5)
    j fail
1:  /* Fetch from outside RAM: instruction access fault, mepc = mtval = the target */
    li gp, 22; li s6, 1; li s10, RAM_END; la s7, 1f; li a5, RAM_END
    jr a5
    j fail
1:
TEST_END
    .balign 4
handler:
    csrr t0, mcause
    bne t0, s6, fail
    csrr t0, mtval
    bne t0, s10, fail
    csrw mepc, s7
    mret
