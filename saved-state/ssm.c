/* ssm: see ssm.h. Integers are little-endian; lengths are u32. */
#include "ssm.h"

#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum {
    SSM_TAG_U64 = 0x01,
    SSM_TAG_BYTES = 0x02,
    SSM_TAG_STR = 0x03,
    SSM_TAG_OPTIONAL = 0x04, /* u8 name length, name, u32 body length, body */
    SSM_TAG_END = 0xee,      /* u64 XXH64 of every byte before the tag */
};

#define SSM_END_SIZE 9u
#define SSM_MAX_FIELD (1u << 30)

static const char *ssm_tag_name(uint8_t tag)
{
    switch (tag) {
    case SSM_TAG_U64:
        return "an integer";
    case SSM_TAG_BYTES:
        return "bytes";
    case SSM_TAG_STR:
        return "a string";
    case SSM_TAG_OPTIONAL:
        return "an optional section";
    case SSM_TAG_END:
        return "the end of the unit";
    }
    return "an unknown record";
}

int ssm_vfail(vmm_ssm *ssm, const char *fmt, va_list ap)
{
    if (!ssm->failed) {
        ssm->failed = 1;
        vsnprintf(ssm->err, sizeof(ssm->err), fmt, ap);
    }
    return -1;
}

int ssm_fail(vmm_ssm *ssm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ssm_vfail(ssm, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- Writer ------------------------------------------------------------------------------------------- */

void ssm_writer_init(vmm_ssm *ssm, const char *unit)
{
    memset(ssm, 0, sizeof(*ssm));
    ssm->writing = 1;
    ssm->unit = unit;
}

void ssm_writer_free(vmm_ssm *ssm)
{
    free(ssm->buf);
    ssm->buf = NULL;
    ssm->len = ssm->cap = 0;
    for (size_t i = 0; i < ssm->npages; i++)
        free(ssm->pages[i].data);
    free(ssm->pages);
    ssm->pages = NULL;
    ssm->npages = ssm->pages_cap = 0;
}

int ssm_fail_input(vmm_ssm *ssm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!ssm->failed)
        ssm->input_refused = 1;
    ssm_vfail(ssm, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- Page data (SDK 1.7) ------------------------------------------------------------------------------- */

int ssm_pages_incremental(vmm_ssm *ssm)
{
    return ssm->writing && ssm->incremental;
}

static int ssm_page_zero(const uint8_t *p)
{
    static const uint8_t zero[SS_PAGE_SIZE];
    return memcmp(p, zero, SS_PAGE_SIZE) == 0;
}

int ssm_put_pages(vmm_ssm *ssm, uint64_t index, const void *buf, uint64_t count)
{
    if (ssm->failed)
        return -1;
    if (!ssm->writing || !ssm->pages_allowed)
        return ssm_fail(ssm, "ssm_put_pages outside a save callback");
    if (index >= SS_SPACE_PAGES || count > SS_SPACE_PAGES - index)
        return ssm_fail(ssm, "pages 0x%llx+0x%llx lie beyond a unit's page space of 2^%d pages",
                        (unsigned long long)index, (unsigned long long)count, SS_SPACE_BITS);
    if (ssm->npages && index <= ssm->pages[ssm->npages - 1].index)
        return ssm_fail(ssm, "pages must be put in rising order (0x%llx after 0x%llx)", (unsigned long long)index,
                        (unsigned long long)ssm->pages[ssm->npages - 1].index);
    if (ssm->npages + count > ssm->pages_cap) {
        size_t cap = ssm->pages_cap ? ssm->pages_cap : 64;
        while (cap < ssm->npages + count)
            cap *= 2;
        ssm_page *np = realloc(ssm->pages, cap * sizeof(*np));
        if (!np)
            return ssm_fail(ssm, "out of memory for %zu pages", cap);
        ssm->pages = np;
        ssm->pages_cap = cap;
    }
    /* Copied now: a save takes units with the VM paused, and the store reads them later, after it resumed. */
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *src = buf ? (const uint8_t *)buf + i * SS_PAGE_SIZE : NULL;
        uint8_t *copy = NULL;
        if (src && !ssm_page_zero(src)) {
            if (!(copy = malloc(SS_PAGE_SIZE)))
                return ssm_fail(ssm, "out of memory for page data");
            memcpy(copy, src, SS_PAGE_SIZE);
        }
        ssm->pages[ssm->npages++] = (ssm_page){.index = index + i, .data = copy};
    }
    return 0;
}

typedef struct ssm_get_ctx {
    vmm_ssm_page_fn fn;
    void *ctx;
} ssm_get_ctx;

static int ssm_get_one(void *ctx, uint64_t index, const uint8_t *page)
{
    ssm_get_ctx *g = ctx;
    return g->fn(g->ctx, index, page) ? 1 : 0;
}

int ssm_get_pages(vmm_ssm *ssm, uint64_t first, uint64_t count, vmm_ssm_page_fn fn, void *ctx)
{
    if (ssm->failed)
        return -1;
    if (ssm->writing || !ssm->store)
        return ssm_fail(ssm, "ssm_get_pages outside a load callback");
    if (first >= SS_SPACE_PAGES || count > SS_SPACE_PAGES - first)
        return ssm_fail(ssm, "pages 0x%llx+0x%llx lie beyond a unit's page space of 2^%d pages",
                        (unsigned long long)first, (unsigned long long)count, SS_SPACE_BITS);
    ssm_get_ctx g = {fn, ctx};
    char err[256];
    uint64_t recorded = 0;
    int rc = ss_space_each(ssm->store, ssm->snapshot, ssm->space + first, count, ssm_get_one, &g, &recorded, err,
                           sizeof(err));
    if (rc < 0)
        return ssm_fail(ssm, "%s", err);
    if (rc > 0)
        return ssm->failed ? -1 : ssm_fail(ssm, "the page callback failed");
    return recorded > INT32_MAX ? INT32_MAX : (int)recorded;
}

static int ssm_emit(vmm_ssm *ssm, const void *p, size_t n)
{
    if (ssm->failed)
        return -1;
    if (!ssm->writing)
        return ssm_fail(ssm, "a put while loading");
    if (ssm->len + n > ssm->cap) {
        size_t cap = ssm->cap ? ssm->cap : 256;
        while (cap < ssm->len + n)
            cap *= 2;
        uint8_t *nb = realloc(ssm->buf, cap);
        if (!nb)
            return ssm_fail(ssm, "out of memory");
        ssm->buf = nb;
        ssm->cap = cap;
    }
    memcpy(ssm->buf + ssm->len, p, n);
    ssm->len += n;
    return 0;
}

static int ssm_emit_u32(vmm_ssm *ssm, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return ssm_emit(ssm, b, 4);
}

static int ssm_emit_u64(vmm_ssm *ssm, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return ssm_emit(ssm, b, 8);
}

int ssm_put_u64(vmm_ssm *ssm, uint64_t val)
{
    uint8_t tag = SSM_TAG_U64;
    return ssm_emit(ssm, &tag, 1) || ssm_emit_u64(ssm, val) ? -1 : 0;
}

static int ssm_put_blob(vmm_ssm *ssm, uint8_t tag, const void *buf, size_t len)
{
    if (len > SSM_MAX_FIELD)
        return ssm_fail(ssm, "a field of %zu bytes is too large", len);
    return ssm_emit(ssm, &tag, 1) || ssm_emit_u32(ssm, (uint32_t)len) || ssm_emit(ssm, buf, len) ? -1 : 0;
}

int ssm_put_bytes(vmm_ssm *ssm, const void *buf, size_t len)
{
    return ssm_put_blob(ssm, SSM_TAG_BYTES, buf, len);
}

int ssm_put_str(vmm_ssm *ssm, const char *str)
{
    return ssm_put_blob(ssm, SSM_TAG_STR, str ? str : "", str ? strlen(str) : 0);
}

int ssm_put_optional(vmm_ssm *ssm, const char *section)
{
    size_t n = strlen(section);
    if (n == 0 || n > 255)
        return ssm_fail(ssm, "optional section names are 1 to 255 bytes");
    if (ssm->depth == SSM_MAX_DEPTH)
        return ssm_fail(ssm, "optional sections nested too deeply");
    uint8_t tag = SSM_TAG_OPTIONAL, nl = (uint8_t)n;
    if (ssm_emit(ssm, &tag, 1) || ssm_emit(ssm, &nl, 1) || ssm_emit(ssm, section, n))
        return -1;
    ssm->sections[ssm->depth++] = ssm->len;
    return ssm_emit_u32(ssm, 0); /* patched by ssm_end_optional */
}

static int ssm_end_optional_write(vmm_ssm *ssm)
{
    if (ssm->failed)
        return -1;
    if (ssm->depth == 0)
        return ssm_fail(ssm, "ssm_end_optional without ssm_put_optional");
    size_t at = ssm->sections[--ssm->depth];
    size_t body = ssm->len - at - 4;
    if (body > SSM_MAX_FIELD)
        return ssm_fail(ssm, "optional section too large");
    for (int i = 0; i < 4; i++)
        ssm->buf[at + i] = (uint8_t)(body >> (8 * i));
    return 0;
}

int ssm_writer_finish(vmm_ssm *ssm)
{
    if (ssm->failed)
        return -1;
    if (ssm->depth)
        return ssm_fail(ssm, "an optional section was not closed");
    uint64_t h = XXH64(ssm->buf ? ssm->buf : (const uint8_t *)"", ssm->len, 0);
    uint8_t tag = SSM_TAG_END;
    return ssm_emit(ssm, &tag, 1) || ssm_emit_u64(ssm, h) ? -1 : 0;
}

/* ---- Reader ------------------------------------------------------------------------------------------- */

static uint64_t ssm_load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int ssm_reader_init(vmm_ssm *ssm, const char *unit, const void *data, size_t len)
{
    memset(ssm, 0, sizeof(*ssm));
    ssm->unit = unit;
    ssm->data = data;
    if (len < SSM_END_SIZE || ssm->data[len - SSM_END_SIZE] != SSM_TAG_END)
        return ssm_fail(ssm, "truncated: no end record");
    ssm->size = len - SSM_END_SIZE;
    uint64_t want = ssm_load_le(ssm->data + ssm->size + 1, 8);
    if (XXH64(ssm->data, ssm->size, 0) != want)
        return ssm_fail(ssm, "checksum mismatch: the saved data is corrupt");
    return 0;
}

/* Where the innermost open section (or the unit) ends. */
static size_t ssm_limit(const vmm_ssm *ssm)
{
    return ssm->depth ? ssm->sections[ssm->depth - 1] : ssm->size;
}

static int ssm_need(vmm_ssm *ssm, size_t n, const char *what)
{
    if (ssm->pos + n > ssm_limit(ssm) || ssm->pos + n < ssm->pos)
        return ssm_fail(ssm, "%s runs past the end of %s", what, ssm->depth ? "its optional section" : "the unit");
    return 0;
}

/* Parse the optional-section header at pos: name and body bounds. */
static int ssm_peek_optional(vmm_ssm *ssm, const char **name, size_t *nlen, size_t *body, size_t *end)
{
    size_t p = ssm->pos + 1;
    size_t limit = ssm_limit(ssm);
    if (p + 1 > limit)
        return ssm_fail(ssm, "optional section header runs past the end");
    *nlen = ssm->data[p];
    if (p + 1 + *nlen + 4 > limit)
        return ssm_fail(ssm, "optional section header runs past the end");
    *name = (const char *)ssm->data + p + 1;
    size_t blen = (size_t)ssm_load_le(ssm->data + p + 1 + *nlen, 4);
    *body = p + 1 + *nlen + 4;
    if (*body + blen > limit)
        return ssm_fail(ssm, "optional section '%.*s' runs past the end", (int)*nlen, *name);
    *end = *body + blen;
    return 0;
}

/* Optional sections a reader did not ask for belong to a newer writer: step over them. */
static int ssm_skip_optionals(vmm_ssm *ssm)
{
    while (ssm->pos < ssm_limit(ssm) && ssm->data[ssm->pos] == SSM_TAG_OPTIONAL) {
        const char *name;
        size_t nlen, body, end;
        if (ssm_peek_optional(ssm, &name, &nlen, &body, &end))
            return -1;
        ssm->pos = end;
    }
    return 0;
}

static int ssm_expect(vmm_ssm *ssm, uint8_t tag)
{
    if (ssm->failed)
        return -1;
    if (ssm->writing)
        return ssm_fail(ssm, "a get while saving");
    if (ssm_skip_optionals(ssm))
        return -1;
    if (ssm->pos >= ssm_limit(ssm))
        return ssm_fail(ssm, "the loader asked for %s after the end of %s", ssm_tag_name(tag),
                        ssm->depth ? "its optional section" : "the saved data");
    uint8_t got = ssm->data[ssm->pos];
    if (got != tag)
        return ssm_fail(ssm, "the loader asked for %s where %s was saved", ssm_tag_name(tag), ssm_tag_name(got));
    ssm->pos++;
    return 0;
}

int ssm_get_u64(vmm_ssm *ssm, uint64_t *val)
{
    if (ssm_expect(ssm, SSM_TAG_U64) || ssm_need(ssm, 8, "an integer"))
        return -1;
    *val = ssm_load_le(ssm->data + ssm->pos, 8);
    ssm->pos += 8;
    return 0;
}

static int ssm_get_blob(vmm_ssm *ssm, uint8_t tag, const uint8_t **p, size_t *len)
{
    if (ssm_expect(ssm, tag) || ssm_need(ssm, 4, ssm_tag_name(tag)))
        return -1;
    *len = (size_t)ssm_load_le(ssm->data + ssm->pos, 4);
    ssm->pos += 4;
    if (ssm_need(ssm, *len, ssm_tag_name(tag)))
        return -1;
    *p = ssm->data + ssm->pos;
    ssm->pos += *len;
    return 0;
}

int ssm_get_bytes(vmm_ssm *ssm, void *buf, size_t len)
{
    const uint8_t *p;
    size_t n;
    if (ssm_get_blob(ssm, SSM_TAG_BYTES, &p, &n))
        return -1;
    if (n != len)
        return ssm_fail(ssm, "the loader expects %zu bytes where %zu were saved", len, n);
    memcpy(buf, p, n);
    return 0;
}

int ssm_get_var_bytes(vmm_ssm *ssm, void *buf, size_t max, size_t *len)
{
    const uint8_t *p;
    size_t n;
    if (ssm_get_blob(ssm, SSM_TAG_BYTES, &p, &n))
        return -1;
    if (n > max)
        return ssm_fail(ssm, "%zu bytes were saved where the loader takes at most %zu", n, max);
    memcpy(buf, p, n);
    *len = n;
    return 0;
}

int ssm_get_str(vmm_ssm *ssm, char *buf, size_t size)
{
    const uint8_t *p;
    size_t n;
    if (ssm_get_blob(ssm, SSM_TAG_STR, &p, &n))
        return -1;
    if (n + 1 > size)
        return ssm_fail(ssm, "a saved string of %zu bytes does not fit in %zu", n, size);
    if (memchr(p, 0, n))
        return ssm_fail(ssm, "a saved string contains a NUL byte");
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

int ssm_get_optional(vmm_ssm *ssm, const char *section)
{
    if (ssm->failed)
        return -1;
    if (ssm->writing)
        return ssm_fail(ssm, "a get while saving");
    size_t want = strlen(section);
    while (ssm->pos < ssm_limit(ssm) && ssm->data[ssm->pos] == SSM_TAG_OPTIONAL) {
        const char *name;
        size_t nlen, body, end;
        if (ssm_peek_optional(ssm, &name, &nlen, &body, &end))
            return -1;
        if (nlen == want && memcmp(name, section, want) == 0) {
            if (ssm->depth == SSM_MAX_DEPTH)
                return ssm_fail(ssm, "optional sections nested too deeply");
            ssm->pos = body;
            ssm->sections[ssm->depth++] = end;
            return 1;
        }
        ssm->pos = end;
    }
    return 0;
}

int ssm_end_optional(vmm_ssm *ssm)
{
    if (ssm->writing)
        return ssm_end_optional_write(ssm);
    if (ssm->failed)
        return -1;
    if (ssm->depth == 0)
        return ssm_fail(ssm, "ssm_end_optional outside an optional section");
    ssm->pos = ssm->sections[--ssm->depth];
    return 0;
}

int ssm_reader_finish(vmm_ssm *ssm)
{
    if (ssm->failed)
        return -1;
    if (ssm->depth)
        return ssm_fail(ssm, "the loader left an optional section open");
    if (ssm_skip_optionals(ssm))
        return -1;
    if (ssm->pos != ssm->size)
        return ssm_fail(ssm, "the loader stopped %zu bytes before the end of the saved data", ssm->size - ssm->pos);
    return 0;
}
