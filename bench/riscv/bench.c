/*
 * rvbench: a CoreMark-like CPU benchmark written for this project: linked-list processing (find, reverse, merge
 * sort), integer matrix work, a text-scanning state machine and CRC-16 over every result. The same source is
 * built for riscv64 bare metal (crt0.S, output on the virt UART, exit through the SiFive test device) and
 * natively for x86-64 (the physical limit); all print the same checksum, so a run that computes wrongly shows.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef ITERATIONS
#define ITERATIONS 2000
#endif

#include "bench_out.h"

/* ---- CRC-16 (CCITT, bitwise, as CoreMark does it) ---- */
static uint16_t crc16_byte(uint8_t data, uint16_t crc)
{
    for (int i = 0; i < 8; i++) {
        uint8_t x16 = (uint8_t)((data & 1) ^ (crc & 1));
        data >>= 1;
        if (x16)
            crc = (uint16_t)(((crc ^ 0x4002) >> 1) | 0x8000);
        else
            crc >>= 1;
    }
    return crc;
}

static uint16_t crc16_u32(uint32_t v, uint16_t crc)
{
    for (int i = 0; i < 4; i++)
        crc = crc16_byte((uint8_t)(v >> (8 * i)), crc);
    return crc;
}

/* ---- Linked lists ---- */
#define LIST_N 200
struct node {
    struct node *next;
    int32_t value;
    int32_t idx;
};
static struct node pool[LIST_N];

static struct node *list_build(uint32_t seed)
{
    struct node *head = NULL;
    for (int i = LIST_N - 1; i >= 0; i--) {
        seed = seed * 1103515245u + 12345u;
        pool[i].value = (int32_t)((seed >> 8) & 0xffff) - 0x8000;
        pool[i].idx = i;
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static struct node *list_reverse(struct node *l)
{
    struct node *prev = NULL;
    while (l) {
        struct node *n = l->next;
        l->next = prev;
        prev = l;
        l = n;
    }
    return prev;
}

static struct node *list_find(struct node *l, int32_t value)
{
    while (l && l->value != value)
        l = l->next;
    return l;
}

typedef int (*cmp_fn)(const struct node *, const struct node *);
static int cmp_value(const struct node *a, const struct node *b)
{
    return a->value - b->value;
}
static int cmp_idx(const struct node *a, const struct node *b)
{
    return a->idx - b->idx;
}

/* Bottom-up merge sort of a singly linked list (no recursion, no allocation). */
static struct node *list_sort(struct node *list, cmp_fn cmp)
{
    for (int insize = 1;; insize *= 2) {
        struct node *p = list, *tail = NULL;
        int nmerges = 0;
        list = NULL;
        while (p) {
            nmerges++;
            struct node *q = p;
            int psize = 0;
            for (int i = 0; i < insize && q; i++) {
                psize++;
                q = q->next;
            }
            int qsize = insize;
            while (psize > 0 || (qsize > 0 && q)) {
                struct node *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q) {
                    e = p; p = p->next; psize--;
                } else if (cmp(p, q) <= 0) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                tail = e;
            }
            p = q;
        }
        tail->next = NULL;
        if (nmerges <= 1)
            return list;
    }
}

static uint16_t bench_list(uint32_t seed, uint16_t crc)
{
    struct node *l = list_build(seed);
    for (int k = 0; k < 8; k++) {
        struct node *f = list_find(l, pool[(seed + (uint32_t)k * 37) % LIST_N].value);
        crc = crc16_u32(f ? (uint32_t)f->idx : 0xffffffffu, crc);
        l = list_reverse(l);
    }
    l = list_sort(l, cmp_value);
    for (struct node *n = l; n; n = n->next)
        crc = crc16_u32((uint32_t)n->value, crc);
    l = list_sort(l, cmp_idx);
    crc = crc16_u32((uint32_t)l->value, crc);
    return crc;
}

/* ---- Matrices ---- */
#define MAT_N 20
static int16_t ma[MAT_N][MAT_N], mb[MAT_N][MAT_N];
static int32_t mc[MAT_N][MAT_N];

static uint16_t bench_matrix(uint32_t seed, uint16_t crc)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            seed = seed * 1664525u + 1013904223u;
            ma[i][j] = (int16_t)(seed >> 20);
            mb[i][j] = (int16_t)((seed >> 8) & 0xff);
        }
    int16_t k = (int16_t)(seed & 0x7f);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            ma[i][j] = (int16_t)(ma[i][j] + k);
    int32_t sum = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t acc = 0;
            for (int x = 0; x < MAT_N; x++)
                acc += (int32_t)ma[i][x] * mb[x][j];
            mc[i][j] = acc;
            sum += (acc >> 2) & 0xfff;
        }
    for (int i = 0; i < MAT_N; i++) {
        int32_t acc = 0;
        for (int j = 0; j < MAT_N; j++)
            acc += mc[i][j] * ma[j][i];
        crc = crc16_u32((uint32_t)acc, crc);
    }
    /* bit fields of the product, as CoreMark's matrix_mul_matrix_bitextract */
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            sum += (mc[i][j] >> 3 & 0xf) * (mc[i][j] >> 9 & 0x7f);
    return crc16_u32((uint32_t)sum, crc);
}

/* ---- State machine over text ---- */
enum { ST_START, ST_INT, ST_FLOAT, ST_EXP, ST_SCI, ST_INVALID, ST_COUNT };
static char text[512];

static int state_next(int state, char c)
{
    int digit = c >= '0' && c <= '9';
    switch (state) {
    case ST_START:
        if (digit) return ST_INT;
        if (c == '+' || c == '-') return ST_INT;
        if (c == '.') return ST_FLOAT;
        return ST_INVALID;
    case ST_INT:
        if (digit) return ST_INT;
        if (c == '.') return ST_FLOAT;
        return ST_INVALID;
    case ST_FLOAT:
        if (digit) return ST_FLOAT;
        if (c == 'e' || c == 'E') return ST_EXP;
        return ST_INVALID;
    case ST_EXP:
        if (digit || c == '+' || c == '-') return ST_SCI;
        return ST_INVALID;
    case ST_SCI:
        return digit ? ST_SCI : ST_INVALID;
    default:
        return ST_INVALID;
    }
}

static uint16_t bench_state(uint32_t seed, uint16_t crc)
{
    static const char *const words[] = { "5012", "1234", "-874", "+122", "35.54", ".1234", "-110.7", "+0.64",
                                          "5.5e+3", "-.1e-9", "3E-5", "T0.3e", "-5.1eX", "1.1+", "0x1f", "--3" };
    size_t n = 0;
    while (n + 8 < sizeof(text)) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) & 15];
        while (*w)
            text[n++] = *w++;
        text[n++] = ',';
    }
    text[n] = 0;
    uint32_t counts[ST_COUNT] = { 0 }, transitions = 0;
    int state = ST_START;
    for (size_t i = 0; text[i]; i++) {
        if (text[i] == ',') {
            counts[state]++;
            state = ST_START;
            continue;
        }
        int ns = state_next(state, text[i]);
        transitions += ns != state;
        state = ns;
    }
    for (int i = 0; i < ST_COUNT; i++)
        crc = crc16_u32(counts[i], crc);
    return crc16_u32(transitions, crc);
}

int main(void)
{
    uint16_t crc = 0;
    uint32_t total = 0;
    for (uint32_t it = 0; it < ITERATIONS; it++) {
        crc = bench_list(it * 7u + 1u, crc);
        crc = bench_matrix(it * 13u + 5u, crc);
        crc = bench_state(it * 17u + 3u, crc);
        total = total * 31u + crc;
    }
    out_str("rvbench checksum ");
    out_hex(total, 8);
    out_str("\n");
    return 0;
}
