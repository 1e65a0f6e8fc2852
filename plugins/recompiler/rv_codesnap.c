/* See rv_codesnap.h. */
#include "rv_codesnap.h"

#include <stdlib.h>
#include <string.h>

#include "rv_hostmem.h"

#define RV_CODESNAP_MAX 4096u /* pages (16 MiB): a Linux boot translates from about a tenth of that */
#define RV_CODESNAP_PAGE 4096u
#define RV_CODESNAP_SLOTS (2 * RV_CODESNAP_MAX)

static unsigned rv_codesnap_slot(const rv_codesnap *s, uint64_t p)
{
    unsigned i = (unsigned)((p * 0x9e3779b97f4a7c15ull) >> 51) & (RV_CODESNAP_SLOTS - 1);
    while (s->slot_page[i] != 0 && s->slot_page[i] != p + 1)
        i = (i + 1) & (RV_CODESNAP_SLOTS - 1);
    return i;
}

static int rv_codesnap_has(const rv_codesnap *s, uint64_t p)
{
    return p < s->npages && s->taken && ((s->taken[p / 64] >> (p % 64)) & 1);
}

void rv_codesnap_take(rv_codesnap *s, const uint8_t *ram, uint64_t ram_size, uint64_t off)
{
    uint64_t p = off / RV_CODESNAP_PAGE;
    if (s->stale || off >= ram_size || rv_codesnap_has(s, p))
        return;
    if (!s->taken) {
        s->npages = (ram_size + RV_CODESNAP_PAGE - 1) / RV_CODESNAP_PAGE;
        s->taken = calloc((size_t)((s->npages + 63) / 64), sizeof(uint64_t));
        s->pages = malloc(RV_CODESNAP_MAX * sizeof(uint64_t));
        /* Filled from the start: a boot's few hundred copies take one huge-page fault, not one per page. */
        s->copies = rv_hostmem_map((size_t)RV_CODESNAP_MAX * RV_CODESNAP_PAGE);
        s->slot_page = calloc(RV_CODESNAP_SLOTS, sizeof(uint64_t));
        s->slot_idx = malloc(RV_CODESNAP_SLOTS * sizeof(uint16_t));
        if (!s->taken || !s->pages || !s->copies || !s->slot_page || !s->slot_idx) {
            rv_codesnap_free(s);
            s->stale = 1;
            return;
        }
    }
    /* The last page of RAM may be partial only if RAM is not page-sized; the machine's RAM always is. */
    if (s->n == RV_CODESNAP_MAX || (p + 1) * RV_CODESNAP_PAGE > ram_size) {
        s->stale = 1;
        return;
    }
    memcpy(s->copies + (size_t)s->n * RV_CODESNAP_PAGE, ram + p * RV_CODESNAP_PAGE, RV_CODESNAP_PAGE);
    unsigned slot = rv_codesnap_slot(s, p);
    s->slot_page[slot] = p + 1;
    s->slot_idx[slot] = (uint16_t)s->n;
    s->pages[s->n++] = p;
    s->taken[p / 64] |= 1ull << (p % 64);
}

void rv_codesnap_check(rv_codesnap *s, const uint8_t *ram, uint64_t off, uint64_t len)
{
    uint64_t p = off / RV_CODESNAP_PAGE, in = off % RV_CODESNAP_PAGE;
    if (s->stale || !rv_codesnap_has(s, p))
        return;
    if (len > RV_CODESNAP_PAGE - in)
        len = RV_CODESNAP_PAGE - in;
    unsigned i = s->slot_idx[rv_codesnap_slot(s, p)];
    if (memcmp(s->copies + (size_t)i * RV_CODESNAP_PAGE + in, ram + off, len))
        s->stale = 1;
}

int rv_codesnap_unchanged(const rv_codesnap *s, const uint8_t *ram)
{
    if (s->stale)
        return 0;
    for (unsigned i = 0; i < s->n; i++)
        if (memcmp(s->copies + (size_t)i * RV_CODESNAP_PAGE, ram + s->pages[i] * RV_CODESNAP_PAGE,
                   RV_CODESNAP_PAGE))
            return 0;
    return 1;
}

void rv_codesnap_reset(rv_codesnap *s)
{
    /* Newest first: each slot emptied is then the end of its probe chain. */
    for (unsigned i = s->n; i-- > 0;) {
        s->taken[s->pages[i] / 64] &= ~(1ull << (s->pages[i] % 64));
        s->slot_page[rv_codesnap_slot(s, s->pages[i])] = 0;
    }
    s->n = 0;
    s->stale = 0;
}

void rv_codesnap_free(rv_codesnap *s)
{
    free(s->taken);
    free(s->pages);
    rv_hostmem_unmap(s->copies, (size_t)RV_CODESNAP_MAX * RV_CODESNAP_PAGE);
    free(s->slot_page);
    free(s->slot_idx);
    s->slot_page = NULL;
    s->slot_idx = NULL;
    s->taken = NULL;
    s->pages = NULL;
    s->copies = NULL;
    s->n = 0;
    s->npages = 0;
}
