/*
 * bench_out.h: the output of the riscv64 benches (bench.c, fpbench.c): a string and a checksum in hex. Bare metal,
 * out_str is crt0.S's UART writer; built natively (BENCH_NATIVE) or as a Linux program, it is stdio. Included
 * by the bench sources only.
 */
#ifndef BENCH_OUT_H
#define BENCH_OUT_H

#include <stdint.h>

#ifdef BENCH_NATIVE
#include <stdio.h>
static void out_str(const char *s)
{
    fputs(s, stdout);
}
#else
void out_str(const char *s);
#endif

/* The low `digits` hex digits of v, with 0x: the same text on every build, so checksums compare as strings. */
static void out_hex(uint64_t v, int digits)
{
    char buf[19] = "0x";
    for (int i = 0; i < digits; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 15];
    buf[2 + digits] = 0;
    out_str(buf);
}

#endif
