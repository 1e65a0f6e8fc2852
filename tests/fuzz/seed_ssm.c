/*
 * seed_ssm: writes the seed corpus of fuzz_ssm (tests/fuzz/corpus/ssm) with the real writer (saved-state/ssm.c),
 * so the fuzzer starts from units a plugin actually produces: one shaped like uart16550's (integers, a register
 * block, counted FIFOs), one like x86-cpus' optional sections (guest-lstar, tsc-deadline), one with a string.
 * Each becomes a load-mode input (the unit without its END record, which the harness appends, and the loader
 * script that reads it), a raw-mode input (the whole unit, END and checksum included) and a round-mode input.
 * Run by make_seeds.py; see fuzz_ssm.c for the input format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssm.h"

/* Loader script ops of fuzz_ssm.c's load mode: op | arg << 3. */
#define OP_U64 0u
#define OP_BYTES(n8) (1u | (n8) << 3) /* n8 * 8 bytes */
#define OP_STR(size) (3u | ((size) - 1u) << 3)
#define OP_OPTIONAL(i) (4u | (i) << 3) /* fuzz_ssm_sections[i] */
#define OP_END 5u
#define OP_COUNTED 6u

static int seed_write(const char *dir, const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
        perror(path);
        return -1;
    }
    return 0;
}

/* The three inputs for one unit: load (END appended by the harness), raw (as stored), round (the script as
 * writer ops is the harness's business; here the load script's bytes are reused as a plausible one). */
static int seed_unit(const char *dir, const char *name, vmm_ssm *w, const uint8_t *script, size_t nscript)
{
    if (ssm_writer_finish(w)) {
        fprintf(stderr, "%s: %s\n", name, w->err);
        return -1;
    }
    uint8_t head[2 + 256];
    char fname[256];
    head[1] = (uint8_t)nscript;
    memcpy(head + 2, script, nscript);
    int rc = 0;
    head[0] = 0;
    snprintf(fname, sizeof(fname), "load-%s", name);
    rc |= seed_write(dir, fname, head, 2 + nscript, w->buf, w->len - 9);
    head[0] = 1;
    snprintf(fname, sizeof(fname), "raw-%s", name);
    rc |= seed_write(dir, fname, head, 2 + nscript, w->buf, w->len);
    head[0] = 2;
    snprintf(fname, sizeof(fname), "round-%s", name);
    rc |= seed_write(dir, fname, head, 2 + nscript, w->buf, w->len - 9);
    ssm_writer_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    vmm_ssm w;

    /* uart16550: iobase, mmio, irq, registers, rx FIFO and pending input (counted), dropped. */
    uint8_t regs[16] = {0, 0, 0xc1, 3, 0xb, 0x60, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    ssm_writer_init(&w, "uart16550");
    ssm_put_u64(&w, 0x3f8);
    ssm_put_u64(&w, 0);
    ssm_put_u64(&w, 4);
    ssm_put_bytes(&w, regs, sizeof(regs));
    ssm_put_u64(&w, 3);
    ssm_put_bytes(&w, "abc", 3);
    ssm_put_u64(&w, 0);
    ssm_put_bytes(&w, "", 0);
    ssm_put_u64(&w, 0);
    static const uint8_t uart_script[] = {OP_U64, OP_U64, OP_U64, OP_BYTES(2), OP_COUNTED, OP_COUNTED, OP_U64};
    rc |= seed_unit(dir, "uart", &w, uart_script, sizeof(uart_script));

    /* x86-cpus' tail: guest-lstar (page tables, count, values) and tsc-deadline (count, deadline, LVT). */
    ssm_writer_init(&w, "x86-cpus");
    ssm_put_u64(&w, 1);
    ssm_put_optional(&w, "guest-lstar");
    ssm_put_u64(&w, 0x9c000);
    ssm_put_u64(&w, 1);
    ssm_put_u64(&w, 0xffffffff81a00080ull);
    ssm_end_optional(&w);
    ssm_put_optional(&w, "tsc-deadline");
    ssm_put_u64(&w, 1);
    ssm_put_u64(&w, 123456789);
    ssm_put_u64(&w, 0xec);
    ssm_end_optional(&w);
    /* A reader that knows guest-lstar only: tsc-deadline is skipped by ssm_reader_finish. */
    static const uint8_t cpus_script[] = {OP_U64, OP_OPTIONAL(0), OP_U64, OP_U64, OP_U64, OP_END};
    rc |= seed_unit(dir, "cpus-optional", &w, cpus_script, sizeof(cpus_script));

    /* Nested sections and a string, asked for in an order that skips one. */
    ssm_writer_init(&w, "nested");
    ssm_put_str(&w, "uart16550");
    ssm_put_optional(&w, "x");
    ssm_put_optional(&w, "fifo-v2");
    ssm_put_bytes(&w, regs, 8);
    ssm_end_optional(&w);
    ssm_put_u64(&w, 7);
    ssm_end_optional(&w);
    ssm_put_u64(&w, 8);
    static const uint8_t nested_script[] = {OP_STR(32), OP_OPTIONAL(2), OP_OPTIONAL(3), OP_BYTES(1), OP_END,
                                            OP_U64, OP_END, OP_U64};
    rc |= seed_unit(dir, "nested", &w, nested_script, sizeof(nested_script));
    return rc ? 1 : 0;
}
