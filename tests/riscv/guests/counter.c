/*
 * counter.c: the riscv64 snapshot tests' guest (bare metal, QEMU virt layout). It prints "count N sum S time ok"
 * LIMIT times, spinning DELAY iterations in between; before each line it adds N to one word of a 256 KiB array
 * (a different page each time) and sums the whole array, so the output depends on every page the guest wrote —
 * a restore that lost a page (an incremental save that missed a dirty page, say) prints another sum than an
 * uninterrupted run. It also checks that the CLINT's mtime never goes backwards, a restore included. Ends through
 * the SiFive test device: 0x5555 (status 0), or (2 << 16) | 0x3333 (status 2) after "FAIL: time went back".
 * Built with -DSMP (run with --cpus 2), hart 1 takes part: before each line hart 0 wakes it from wfi with an IPI
 * (its msip) and waits until it has added to a page of its own, so the sums depend on both harts' state.
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

#ifdef SMP
#define MSIP1 (*(volatile unsigned int *)0x2000004)
static volatile unsigned long ack;

void counter_hart1(void)
{
    __asm__ volatile("csrs mie, %0" : : "r"(8ul)); /* MSIE; mstatus.MIE stays clear: wfi ends, nothing is taken */
    for (unsigned long n = 1;; n++) {
        unsigned long mip;
        for (;;) {
            __asm__ volatile("csrr %0, mip" : "=r"(mip));
            if (mip & 8)
                break;
            __asm__ volatile("wfi");
        }
        MSIP1 = 0;
        pages[(n * 11) % PAGES][(n * 5) % 512] += 3 * n;
        __asm__ volatile("fence rw, w" ::: "memory");
        ack = n;
    }
}
#endif

void counter_main(void)
{
    unsigned long last = MTIME;
    for (unsigned long n = 1; n <= LIMIT; n++) {
        for (volatile unsigned long d = 0; d < DELAY; d++)
            ;
#ifdef SMP
        MSIP1 = 1;
        while (ack != n)
            ;
        __asm__ volatile("fence r, rw" ::: "memory");
#endif
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

#ifdef SMP
__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "    la sp, __stack_top\n"
        "    csrr t0, mhartid\n"
        "    bnez t0, 2f\n"
        "    call counter_main\n"
        "1:  j 1b\n"
        "2:  addi sp, sp, -2048\n" /* hart 1's stack below hart 0's */
        "    call counter_hart1\n"
        "    j 1b\n"
        ".text\n");
#else
BARE_START(counter_main);
#endif
