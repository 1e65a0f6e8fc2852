/*
 * Shared by the fuzz harnesses in tests/fuzz: the libFuzzer entry points each harness defines, and a cursor
 * that splits one fuzz input into the several values a harness needs (a mode byte, a size, a string, the rest
 * as a file). Taking bytes from the front and the file from the rest keeps small mutations local: a change to
 * the mode byte does not shift the file's contents.
 */
#ifndef VMM_FUZZ_H
#define VMM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The libFuzzer interface (https://llvm.org/docs/LibFuzzer.html); replay.c calls the same functions. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct fuzz_cursor {
    const uint8_t *data;
    size_t size, pos;
} fuzz_cursor;

static inline fuzz_cursor fuzz_cursor_init(const uint8_t *data, size_t size)
{
    return (fuzz_cursor){.data = data, .size = size, .pos = 0};
}

/* Past the end every read gives zeros, so a short input is still a complete (if boring) one. */
static inline uint8_t fuzz_take_u8(fuzz_cursor *c)
{
    return c->pos < c->size ? c->data[c->pos++] : 0;
}

static inline uint32_t fuzz_take_u32(fuzz_cursor *c)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)fuzz_take_u8(c) << (8 * i);
    return v;
}

static inline uint64_t fuzz_take_u64(fuzz_cursor *c)
{
    uint64_t lo = fuzz_take_u32(c);
    return lo | (uint64_t)fuzz_take_u32(c) << 32;
}

/* n bytes (fewer at the end of the input), not copied. */
static inline const uint8_t *fuzz_take_bytes(fuzz_cursor *c, size_t n, size_t *got)
{
    size_t left = c->size - c->pos;
    *got = n < left ? n : left;
    const uint8_t *p = c->data + c->pos;
    c->pos += *got;
    return p;
}

/* A NUL-terminated string of the bytes up to the next NUL (or the end), malloc'd: an exact-size copy, so ASan
 * sees a parser that reads past the terminator. */
static inline char *fuzz_take_str(fuzz_cursor *c)
{
    size_t left = c->size - c->pos;
    const uint8_t *p = c->data + c->pos;
    const uint8_t *nul = memchr(p, 0, left);
    size_t n = nul ? (size_t)(nul - p) : left;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    c->pos += nul ? n + 1 : n;
    return s;
}

/* An invariant the harness checks failed: a finding, reported the way a sanitizer's is (abort). */
#define FUZZ_CHECK(cond)                                                                                           \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

#endif
