/*
 * fuzz_ssm: the saved-state unit reader (saved-state/ssm.c), which parses bytes from a snapshot database on
 * restore. Two modes, chosen by the first byte:
 *
 *   load   (bit 1 clear): the rest is a loader script (a length byte, then one byte per call) and a unit. The
 *          unit gets a correct END record and checksum appended unless bit 0 is set, so the fuzzer reaches the
 *          record parser instead of stopping at the checksum; with bit 0 set the bytes go in raw and the END
 *          record check itself is fuzzed. The script calls the get_* API the way a plugin's load callback does
 *          (fixed and variable bytes, strings, optional sections opened and closed, a count followed by that many
 *          bytes), then ssm_reader_finish as the core does. Nothing may read outside the unit, and the reader's
 *          claims must hold: a successful finish consumed every byte, a string fits its buffer.
 *   round  (bit 1 set): the script drives the real writer, the unit it produces is read back with the same
 *          calls (all must succeed and give back the same values) and by an "older" reader that never asks for
 *          the optional sections (it must skip them and still succeed), the compatibility rule in
 *          docs/saved-state.md.
 */
#include <xxhash.h>

#include "fuzz.h"
#include "ssm.h"

/* The sections x86-raw writes, two more, and an empty name (which the writer refuses, the reader may meet). */
static const char *const fuzz_ssm_sections[] = {"guest-lstar", "tsc-deadline", "x", "fifo-v2", ""};
#define FUZZ_SSM_NSECTIONS (sizeof(fuzz_ssm_sections) / sizeof(fuzz_ssm_sections[0]))

/* A heap copy of exactly len bytes for each get, so a write past what the loader asked for is an ASan report. */
static void *fuzz_ssm_buf(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        abort();
    return p;
}

static void fuzz_ssm_check_reader(const vmm_ssm *r)
{
    FUZZ_CHECK(r->pos <= r->size);
    FUZZ_CHECK(r->depth <= SSM_MAX_DEPTH);
    FUZZ_CHECK(memchr(r->err, 0, sizeof(r->err)) != NULL);
}

static void fuzz_ssm_load(const uint8_t *script, size_t nscript, const uint8_t *unit, size_t len, int raw)
{
    uint8_t *blob;
    size_t blen;
    if (raw) {
        blob = fuzz_ssm_buf(len);
        memcpy(blob, unit, len);
        blen = len;
    } else {
        /* The writer's END record: tag 0xee, then XXH64 of everything before it, little-endian. */
        blen = len + 9;
        blob = fuzz_ssm_buf(blen);
        memcpy(blob, unit, len);
        uint64_t h = XXH64(unit, len, 0);
        blob[len] = 0xee;
        for (int i = 0; i < 8; i++)
            blob[len + 1 + i] = (uint8_t)(h >> (8 * i));
    }
    vmm_ssm r;
    if (ssm_reader_init(&r, "fuzz", blob, blen) == 0) {
        for (size_t i = 0; i < nscript && !r.failed; i++) {
            unsigned op = script[i] & 7, arg = script[i] >> 3;
            uint64_t v;
            size_t n;
            void *buf;
            switch (op) {
            case 0:
                ssm_get_u64(&r, &v);
                break;
            case 1: /* a fixed-size structure, as the x86 units read kvm_regs and friends */
                buf = fuzz_ssm_buf(arg * 8u);
                ssm_get_bytes(&r, buf, arg * 8u);
                free(buf);
                break;
            case 2:
                buf = fuzz_ssm_buf(arg * 8u);
                if (ssm_get_var_bytes(&r, buf, arg * 8u, &n) == 0)
                    FUZZ_CHECK(n <= arg * 8u);
                free(buf);
                break;
            case 3:
                buf = fuzz_ssm_buf(arg + 1u);
                if (ssm_get_str(&r, buf, arg + 1u) == 0)
                    FUZZ_CHECK(strlen(buf) < arg + 1u);
                free(buf);
                break;
            case 4: {
                unsigned before = r.depth;
                int got = ssm_get_optional(&r, fuzz_ssm_sections[arg % FUZZ_SSM_NSECTIONS]);
                FUZZ_CHECK(got == -1 || got == 0 || got == 1);
                FUZZ_CHECK(got == 1 ? r.depth == before + 1 : r.depth == before);
                break;
            }
            case 5:
                ssm_end_optional(&r);
                break;
            case 6: /* a count, then that many bytes: how a loader reads a table whose size it saved */
                if (ssm_get_u64(&r, &v) == 0 && v <= 4096) {
                    buf = fuzz_ssm_buf((size_t)v);
                    ssm_get_bytes(&r, buf, (size_t)v);
                    free(buf);
                }
                break;
            case 7: /* a load callback refusing the unit after reading part of it */
                ssm_fail(&r, "the load callback refused version %u", arg);
                break;
            }
            fuzz_ssm_check_reader(&r);
        }
        /* The core closes nothing for the loader: an open section is the loader's error, reported by finish. */
        int fin = ssm_reader_finish(&r);
        fuzz_ssm_check_reader(&r);
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_ssm: %s%s\n", fin ? "refused: " : "read", r.err);
        if (fin == 0)
            FUZZ_CHECK(!r.failed && r.pos == r.size && r.depth == 0);
        else
            FUZZ_CHECK(r.failed && r.err[0]);
    } else {
        FUZZ_CHECK(r.failed && r.err[0]);
    }
    free(blob);
}

/* One call of the round trip, recorded by the writer side so both readers can repeat it. */
typedef struct fuzz_ssm_op {
    unsigned op;
    uint64_t u64;
    const uint8_t *bytes;
    size_t len;
    char *str;
    const char *section;
} fuzz_ssm_op;

/* Read the recorded calls back. With skip_optional the reader is one that predates every optional section. */
static void fuzz_ssm_read_back(const fuzz_ssm_op *ops, size_t nops, const uint8_t *unit, size_t len, int skip_optional)
{
    vmm_ssm r;
    FUZZ_CHECK(ssm_reader_init(&r, "fuzz", unit, len) == 0);
    unsigned skipping = 0; /* depth of optional sections this reader does not know */
    for (size_t i = 0; i < nops; i++) {
        const fuzz_ssm_op *o = &ops[i];
        if (skipping && o->op != 3 && o->op != 4)
            continue;
        switch (o->op) {
        case 0: {
            uint64_t v = 0;
            FUZZ_CHECK(ssm_get_u64(&r, &v) == 0 && v == o->u64);
            break;
        }
        case 1: {
            uint8_t *buf = fuzz_ssm_buf(o->len);
            FUZZ_CHECK(ssm_get_bytes(&r, buf, o->len) == 0 && memcmp(buf, o->bytes, o->len) == 0);
            free(buf);
            break;
        }
        case 2: {
            size_t size = strlen(o->str) + 1;
            char *buf = fuzz_ssm_buf(size);
            FUZZ_CHECK(ssm_get_str(&r, buf, size) == 0 && strcmp(buf, o->str) == 0);
            free(buf);
            break;
        }
        case 3:
            if (skip_optional || skipping)
                skipping++;
            else
                FUZZ_CHECK(ssm_get_optional(&r, o->section) == 1);
            break;
        case 4:
            if (skipping)
                skipping--;
            else
                FUZZ_CHECK(ssm_end_optional(&r) == 0);
            break;
        }
    }
    if (ssm_reader_finish(&r) != 0) {
        fprintf(stderr, "fuzz_ssm: read back failed: %s\n", r.err);
        FUZZ_CHECK(0);
    }
}

static void fuzz_ssm_round(const uint8_t *script, size_t nscript, fuzz_cursor *in)
{
    fuzz_ssm_op *ops = calloc(nscript + SSM_MAX_DEPTH + 1, sizeof(*ops));
    if (!ops)
        abort();
    size_t nops = 0;
    unsigned depth = 0;
    vmm_ssm w;
    ssm_writer_init(&w, "fuzz");
    for (size_t i = 0; i < nscript; i++) {
        unsigned op = script[i] % 5, arg = script[i] / 5;
        fuzz_ssm_op *o = &ops[nops];
        o->op = op;
        switch (op) {
        case 0:
            o->u64 = fuzz_take_u64(in);
            FUZZ_CHECK(ssm_put_u64(&w, o->u64) == 0);
            break;
        case 1:
            o->bytes = fuzz_take_bytes(in, arg, &o->len);
            FUZZ_CHECK(ssm_put_bytes(&w, o->bytes, o->len) == 0);
            break;
        case 2:
            o->str = fuzz_take_str(in);
            FUZZ_CHECK(ssm_put_str(&w, o->str) == 0);
            break;
        case 3:
            /* The writer refuses empty names and nesting past SSM_MAX_DEPTH: the harness keeps to the rules. */
            o->section = fuzz_ssm_sections[arg % (FUZZ_SSM_NSECTIONS - 1)];
            if (depth == SSM_MAX_DEPTH)
                continue;
            FUZZ_CHECK(ssm_put_optional(&w, o->section) == 0);
            depth++;
            break;
        case 4:
            if (depth == 0)
                continue;
            FUZZ_CHECK(ssm_end_optional(&w) == 0);
            depth--;
            break;
        }
        nops++;
    }
    for (; depth; depth--) {
        ops[nops++].op = 4;
        FUZZ_CHECK(ssm_end_optional(&w) == 0);
    }
    FUZZ_CHECK(ssm_writer_finish(&w) == 0);
    fuzz_ssm_read_back(ops, nops, w.buf, w.len, 0);
    fuzz_ssm_read_back(ops, nops, w.buf, w.len, 1);
    ssm_writer_free(&w);
    for (size_t i = 0; i < nops; i++)
        free(ops[i].str);
    free(ops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t mode = fuzz_take_u8(&c);
    size_t nscript;
    const uint8_t *script = fuzz_take_bytes(&c, fuzz_take_u8(&c), &nscript);
    if (mode & 2) {
        fuzz_ssm_round(script, nscript, &c);
    } else {
        size_t len;
        const uint8_t *unit = fuzz_take_bytes(&c, size, &len);
        fuzz_ssm_load(script, nscript, unit, len, mode & 1);
    }
    return 0;
}
