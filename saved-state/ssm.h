/*
 * ssm: the byte format of one saved-state unit, written and read through the vmm_ssm handle plugins receive.
 * A unit is a sequence of typed records (u64, bytes, string, optional section) ended by an END record carrying
 * an XXH64 checksum of everything before it, so corruption and a reader that consumed the wrong amount are both
 * caught. Used by core/ (which hands vmm_ssm to plugins) and by the store for its own metadata records.
 */
#ifndef VMM_SSM_H
#define VMM_SSM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#define SSM_MAX_DEPTH 8

struct vmm_ssm {
    int writing;
    int failed;
    char err[256];
    const char *unit; /* for messages */
    /* writer */
    uint8_t *buf;
    size_t len, cap;
    /* reader */
    const uint8_t *data;
    size_t size; /* bytes before the END record */
    size_t pos;
    /* open optional sections: writer = offset of the length field; reader = end of the section */
    size_t sections[SSM_MAX_DEPTH];
    unsigned depth;
    /* SDK 1.7 page data (ssm_put_pages / ssm_get_pages), a unit's page space in the store. Writer: the pages put,
     * in rising order, each NULL (zero) or a copy owned here; set up by the core, which stores them. Reader: where
     * the snapshot is, set by the core for the load callback (store NULL: no pages can be read). */
    int pages_allowed, incremental;
    struct ssm_page *pages;
    size_t npages, pages_cap;
    struct ss_store *store;
    const char *snapshot;
    uint64_t space; /* the unit's first page in the store (ss_space_base) */
    int input_refused; /* the load callback refused with ssm_fail_input: the user's input, not the snapshot */
};

typedef struct ssm_page {
    uint64_t index; /* within the unit's space */
    uint8_t *data;  /* 4096 bytes, or NULL for a zero page */
} ssm_page;

/* Writer: ssm_writer_init, puts, then ssm_writer_finish appends END + checksum; the caller owns ssm->buf. */
void ssm_writer_init(vmm_ssm *ssm, const char *unit);
int ssm_writer_finish(vmm_ssm *ssm);
void ssm_writer_free(vmm_ssm *ssm);

/* Reader: checks the END record and the checksum first (-1 with the reason in ssm->err). */
int ssm_reader_init(vmm_ssm *ssm, const char *unit, const void *data, size_t len);
/* After the loader: skip optional sections it did not ask for, then there must be nothing left. */
int ssm_reader_finish(vmm_ssm *ssm);

int ssm_put_u64(vmm_ssm *ssm, uint64_t val);
int ssm_put_bytes(vmm_ssm *ssm, const void *buf, size_t len);
int ssm_put_str(vmm_ssm *ssm, const char *str);
int ssm_put_optional(vmm_ssm *ssm, const char *section);
int ssm_end_optional(vmm_ssm *ssm);
int ssm_get_u64(vmm_ssm *ssm, uint64_t *val);
int ssm_get_bytes(vmm_ssm *ssm, void *buf, size_t len);
int ssm_get_var_bytes(vmm_ssm *ssm, void *buf, size_t max, size_t *len);
int ssm_get_str(vmm_ssm *ssm, char *buf, size_t size);
int ssm_get_optional(vmm_ssm *ssm, const char *section);
int ssm_fail(vmm_ssm *ssm, const char *fmt, ...) VMM_PRINTF(2, 3);
int ssm_fail_input(vmm_ssm *ssm, const char *fmt, ...) VMM_PRINTF(2, 3);
int ssm_pages_incremental(vmm_ssm *ssm);
int ssm_put_pages(vmm_ssm *ssm, uint64_t index, const void *buf, uint64_t count);
int ssm_get_pages(vmm_ssm *ssm, uint64_t first, uint64_t count, vmm_ssm_page_fn fn, void *ctx);
int ssm_vfail(vmm_ssm *ssm, const char *fmt, va_list ap);

#endif
