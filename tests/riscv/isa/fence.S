/* Fences (for riscv-cli's out_asm check): only those that order an earlier store before a later load need a host
 * barrier on x86-TSO, so this block's host code has exactly three mfence: for fence rw,rw, fence w,r and fence
 * (iorw,iorw). */
#include "test.h"
TEST_BEGIN("fence")
    fence rw, rw
    fence w, r
    fence r, rw
    fence rw, w
    fence.tso
    fence
    fence i, o
    TEST_END
