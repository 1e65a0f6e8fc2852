/*
 * The PLIC: gateways turn device lines into pending bits, and each context's output is the highest-priority
 * pending source it enabled above its threshold. A claimed source stays out of pending until completed, which
 * is what keeps a level-triggered line that is still high from interrupting again before the handler is done.
 */
#include "plic.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PLIC_WORDS (PLIC_SOURCES / 32)
#define PLIC_PRIORITY_MASK 7u /* 7 priority levels, as QEMU's virt */

struct plic {
    pthread_mutex_t lock;
    unsigned contexts;
    plic_notify_fn notify;
    void *opaque;
    uint32_t priority[PLIC_SOURCES];
    uint32_t level[PLIC_WORDS];   /* the devices' lines */
    uint32_t pending[PLIC_WORDS];
    uint32_t claimed[PLIC_WORDS];
    uint32_t *enable;             /* [context][word] */
    uint32_t *threshold;          /* [context] */
    uint8_t *output;              /* [context]: last level notified */
};

static int plic_bit(const uint32_t *words, unsigned src)
{
    return (words[src / 32] >> (src % 32)) & 1;
}

static void plic_set_bit(uint32_t *words, unsigned src, int on)
{
    if (on)
        words[src / 32] |= 1u << (src % 32);
    else
        words[src / 32] &= ~(1u << (src % 32));
}

/* The source context `ctx` would get from a claim now, or 0. */
static unsigned plic_best(const plic *p, unsigned ctx)
{
    unsigned best = 0, best_prio = p->threshold[ctx];
    const uint32_t *en = p->enable + (size_t)ctx * PLIC_WORDS;
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        uint32_t cand = p->pending[w] & en[w];
        while (cand) {
            unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if (src && p->priority[src] > best_prio) {
                best = src;
                best_prio = p->priority[src];
            }
        }
    }
    return best;
}

static void plic_update(plic *p)
{
    for (unsigned c = 0; c < p->contexts; c++) {
        uint8_t out = plic_best(p, c) != 0;
        if (out != p->output[c]) {
            p->output[c] = out;
            p->notify(p->opaque, c, out);
        }
    }
}

plic *plic_new(unsigned contexts, plic_notify_fn notify, void *opaque)
{
    plic *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->enable = calloc((size_t)contexts * PLIC_WORDS, sizeof(uint32_t));
    p->threshold = calloc(contexts, sizeof(uint32_t));
    p->output = calloc(contexts, 1);
    if (!p->enable || !p->threshold || !p->output) {
        plic_free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->contexts = contexts;
    p->notify = notify;
    p->opaque = opaque;
    return p;
}

void plic_free(plic *p)
{
    if (!p)
        return;
    if (p->contexts)
        pthread_mutex_destroy(&p->lock);
    free(p->enable);
    free(p->threshold);
    free(p->output);
    free(p);
}

unsigned plic_contexts(const plic *p)
{
    return p->contexts;
}

int plic_set_line(plic *p, uint32_t source, int level)
{
    if (source == 0 || source >= PLIC_SOURCES)
        return -1;
    pthread_mutex_lock(&p->lock);
    plic_set_bit(p->level, source, level != 0);
    /* The gateway: a claimed source waits for its completion before it can be pending again. */
    if (!plic_bit(p->claimed, source))
        plic_set_bit(p->pending, source, level != 0);
    plic_update(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static uint32_t plic_claim(plic *p, unsigned ctx)
{
    unsigned src = plic_best(p, ctx);
    if (src) {
        plic_set_bit(p->pending, src, 0);
        plic_set_bit(p->claimed, src, 1);
    }
    return src;
}

static void plic_complete(plic *p, unsigned ctx, uint32_t src)
{
    /* The spec ignores completions of sources the context has not enabled. */
    if (src == 0 || src >= PLIC_SOURCES || !plic_bit(p->enable + (size_t)ctx * PLIC_WORDS, src))
        return;
    plic_set_bit(p->claimed, src, 0);
    if (plic_bit(p->level, src))
        plic_set_bit(p->pending, src, 1);
}

uint64_t plic_read(plic *p, uint64_t off, unsigned size)
{
    if (size != 4 || (off & 3))
        return 0;
    uint64_t val = 0;
    pthread_mutex_lock(&p->lock);
    if (off < 4 * PLIC_SOURCES) {
        val = p->priority[off / 4];
    } else if (off >= 0x1000 && off < 0x1000 + 4 * PLIC_WORDS) {
        val = p->pending[(off - 0x1000) / 4];
    } else if (off >= 0x2000 && off < 0x2000 + 0x80ull * p->contexts) {
        unsigned ctx = (unsigned)((off - 0x2000) / 0x80), w = (unsigned)((off - 0x2000) % 0x80) / 4;
        if (w < PLIC_WORDS)
            val = p->enable[(size_t)ctx * PLIC_WORDS + w];
    } else if (off >= 0x200000 && off < PLIC_SIZE(p->contexts)) {
        unsigned ctx = (unsigned)((off - 0x200000) / 0x1000), reg = (unsigned)(off & 0xfff);
        if (reg == 0) {
            val = p->threshold[ctx];
        } else if (reg == 4) {
            val = plic_claim(p, ctx);
            plic_update(p);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return val;
}

void plic_write(plic *p, uint64_t off, unsigned size, uint64_t val)
{
    if (size != 4 || (off & 3))
        return;
    uint32_t v = (uint32_t)val;
    pthread_mutex_lock(&p->lock);
    if (off < 4 * PLIC_SOURCES) {
        if (off)
            p->priority[off / 4] = v & PLIC_PRIORITY_MASK;
    } else if (off >= 0x2000 && off < 0x2000 + 0x80ull * p->contexts) {
        unsigned ctx = (unsigned)((off - 0x2000) / 0x80), w = (unsigned)((off - 0x2000) % 0x80) / 4;
        if (w < PLIC_WORDS)
            p->enable[(size_t)ctx * PLIC_WORDS + w] = w == 0 ? v & ~1u : v; /* source 0 does not exist */
    } else if (off >= 0x200000 && off < PLIC_SIZE(p->contexts)) {
        unsigned ctx = (unsigned)((off - 0x200000) / 0x1000), reg = (unsigned)(off & 0xfff);
        if (reg == 0)
            p->threshold[ctx] = v & PLIC_PRIORITY_MASK;
        else if (reg == 4)
            plic_complete(p, ctx, v);
    }
    /* Pending bits are read-only: the gateways own them. */
    plic_update(p);
    pthread_mutex_unlock(&p->lock);
}

void plic_save(plic *p, plic_state *s)
{
    pthread_mutex_lock(&p->lock);
    memcpy(s->priority, p->priority, sizeof(s->priority));
    memcpy(s->level, p->level, sizeof(s->level));
    memcpy(s->pending, p->pending, sizeof(s->pending));
    memcpy(s->claimed, p->claimed, sizeof(s->claimed));
    memcpy(s->enable, p->enable, (size_t)p->contexts * PLIC_WORDS * sizeof(uint32_t));
    memcpy(s->threshold, p->threshold, p->contexts * sizeof(uint32_t));
    pthread_mutex_unlock(&p->lock);
}

void plic_load(plic *p, const plic_state *s)
{
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < PLIC_SOURCES; i++)
        p->priority[i] = i ? s->priority[i] & PLIC_PRIORITY_MASK : 0;
    memcpy(p->level, s->level, sizeof(p->level));
    memcpy(p->pending, s->pending, sizeof(p->pending));
    memcpy(p->claimed, s->claimed, sizeof(p->claimed));
    p->level[0] &= ~1u;
    p->pending[0] &= ~1u;
    p->claimed[0] &= ~1u;
    memcpy(p->enable, s->enable, (size_t)p->contexts * PLIC_WORDS * sizeof(uint32_t));
    for (unsigned c = 0; c < p->contexts; c++) {
        p->enable[(size_t)c * PLIC_WORDS] &= ~1u;
        p->threshold[c] = s->threshold[c] & PLIC_PRIORITY_MASK;
    }
    plic_update(p);
    pthread_mutex_unlock(&p->lock);
}
