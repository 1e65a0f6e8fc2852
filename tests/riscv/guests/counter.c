/*
 * counter.c: the riscv64 snapshot tests' guest (bare metal, QEMU virt layout). It prints "count N sum S time ok"
 * LIMIT times, spinning DELAY iterations in between; before each line it adds N to one word of a 256 KiB array
 * (a different page each time) and sums the whole array, so the output depends on every page the guest wrote —
 * a restore that lost a page (an incremental save that missed a dirty page, say) prints another sum than an
 * uninterrupted run. It also checks that the CLINT's mtime never goes backwards, a restore included. Ends through
 * the SiFive test device: 0x5555 (status 0), or (2 << 16) | 0x3333 (status 2) after "FAIL: time went back".
 */
#include "bare.h"

#ifndef LIMIT
#define LIMIT 120
#endif
#ifndef DELAY
#define DELAY 1000000
#endif
#define PAGES 64

static unsigned long pages[PAGES][512] __attribute__((aligned(4096)));

void counter_main(void)
{
    unsigned long last = MTIME;
    for (unsigned long n = 1; n <= LIMIT; n++) {
        for (volatile unsigned long d = 0; d < DELAY; d++)
            ;
        pages[(n * 7) % PAGES][(n * 13) % 512] += n;
        unsigned long sum = 0;
        for (unsigned p = 0; p < PAGES; p++)
            for (unsigned w = 0; w < 512; w++)
                sum += pages[p][w] * (w + 1);
        unsigned long now = MTIME;
        if (now < last) {
            put_str("FAIL: time went back\n");
            *FINISHER = (2u << 16) | 0x3333;
        }
        last = now;
        put_str("count ");
        put_dec(n);
        put_str(" sum ");
        put_dec(sum);
        put_str(" time ok\n");
    }
    *FINISHER = 0x5555;
    for (;;)
        ;
}

BARE_START(counter_main);
