/*
 * fill_count_riscv64.c: the snapshot bench's RISC-V guest (bare metal, QEMU virt layout), the counterpart of the
 * x86 counter guest with a fill: it writes FILL_MIB MiB of distinct pages (no two alike, so deduplication saves
 * nothing) above its image, then prints "count N" every 20 ms of the CLINT's mtime, forever.
 */
#include "bare.h"

#define AREA ((volatile unsigned long *)0x80400000)
#ifndef FILL_MIB
#define FILL_MIB 256
#endif

void fill_main(void)
{
    unsigned long pages = (unsigned long)FILL_MIB << 8;
    for (unsigned long p = 0; p < pages; p++) {
        volatile unsigned long *pg = AREA + p * 512;
        for (unsigned w = 0; w < 512; w += 64)
            pg[w] = p * 0x9e3779b97f4a7c15ul + w;
    }
    for (unsigned long n = 1;; n++) {
        unsigned long until = MTIME + 200000; /* 20 ms at 10 MHz */
        while (MTIME < until)
            ;
        put_str("count ");
        put_dec(n);
        put_str("\n");
    }
}

BARE_START(fill_main);
