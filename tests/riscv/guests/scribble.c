/*
 * scribble.c: the riscv64 crash test's guest (bare metal, QEMU virt layout). It sweeps a 16 MiB area page by page,
 * round after round, forever: before writing round r into a page's first and last words it checks they hold round
 * r - 1, so a restored snapshot whose pages come from different moments (a torn or half-committed save) prints
 * "mismatch" with the page. Prints "round N" every 16 rounds.
 */
#include "bare.h"

#define AREA ((volatile unsigned long *)0x80400000)
#define AREA_PAGES 4096 /* 16 MiB */

void scribble_main(void)
{
    for (unsigned long r = 1;; r++) {
        for (unsigned long p = 0; p < AREA_PAGES; p++) {
            volatile unsigned long *pg = AREA + p * 512;
            if (pg[0] != r - 1 || pg[511] != r - 1) {
                put_str("mismatch: page ");
                put_dec(p);
                put_str(" holds rounds ");
                put_dec(pg[0]);
                put_str("/");
                put_dec(pg[511]);
                put_str(", expected ");
                put_dec(r - 1);
                put_str("\n");
                for (;;)
                    ;
            }
            pg[0] = r;
            pg[511] = r;
        }
        if (r % 16 == 0) {
            put_str("round ");
            put_dec(r);
            put_str("\n");
        }
    }
}

BARE_START(scribble_main);
