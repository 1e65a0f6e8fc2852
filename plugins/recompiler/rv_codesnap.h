/* Copies of the guest pages translated code was read from, so that fence.i can keep every translation when no
 * such page changed. Stores by this hart reach the code map and flush at once, but device DMA and other harts
 * write RAM unseen: fence.i is the guest's word that they may have, and comparing the pages costs far less than
 * retranslating everything. Used by rv_runtime.c only. */
#ifndef RV_CODESNAP_H
#define RV_CODESNAP_H

#include <stdint.h>

typedef struct rv_codesnap {
    uint64_t *taken;   /* one bit per RAM page: it has a copy */
    uint64_t npages;
    uint64_t *pages;   /* page numbers with a copy, in copy order */
    uint8_t *copies;   /* RV_CODESNAP_MAX pages, allocated at the first copy */
    unsigned n;
    uint64_t *slot_page; /* RV_CODESNAP_SLOTS: page + 1 (0: empty), open addressing, for rv_codesnap_check */
    uint16_t *slot_idx;  /* its index in pages/copies */
    int stale;         /* a copy may not match what was translated (or too many pages): fence.i must flush */
} rv_codesnap;

/* Before translating from the page holding RAM offset off: copy it unless it already has a copy. */
void rv_codesnap_take(rv_codesnap *s, const uint8_t *ram, uint64_t ram_size, uint64_t off);
/* After translating: the len bytes at RAM offset off it read (inside one page) must still match the copy, else the
 * next fence.i flushes. The rest of the page may have changed since the copy: the blocks read from there were
 * checked when they were made, and fence.i compares whole pages. */
void rv_codesnap_check(rv_codesnap *s, const uint8_t *ram, uint64_t off, uint64_t len);
/* fence.i: nonzero when every copied page still holds its bytes (the translations stay valid). */
int rv_codesnap_unchanged(const rv_codesnap *s, const uint8_t *ram);
/* Every translation is gone: forget the copies. */
void rv_codesnap_reset(rv_codesnap *s);
void rv_codesnap_free(rv_codesnap *s);

#endif
