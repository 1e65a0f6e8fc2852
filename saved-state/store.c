/*
 * store: see store.h. LMDB databases:
 *   meta     name                       -> metadata (an ssm record: typed, checksummed)
 *   units    name \0 unit \0 be32 inst  -> be32 version, unit blob (itself an ssm record)
 *   pagemap  name \0 be64 page          -> page key (20 bytes), or empty for a zero page
 *   pages    page key                   -> 4096 bytes; key = XXH3-128 of the contents + be32 collision index
 *   refs     page key                   -> u64 count of page map entries using it
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "ssm.h"

#define SS_MAP_SIZE (1ull << 38) /* address space only; the file grows as needed */
#define SS_PAGE_KEY 20
#define SS_META_FORMAT 1
#define SS_MAX_CHAIN 4096

struct ss_store {
    MDB_env *env;
    MDB_dbi meta, units, pagemap, pages, refs;
    char path[4096];
};

struct ss_save {
    ss_store *st;
    MDB_txn *txn;
    ss_meta meta;
    char err[256];
};

static int ss_error(char *err, size_t errlen, const char *fmt, ...) VMM_PRINTF(3, 4);
static int ss_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void ss_put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t ss_get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- Open / close ------------------------------------------------------------------------------------- */

ss_store *ss_open(const char *dir, int create, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (!create || errno != ENOENT || mkdir(dir, 0755) != 0) {
            ss_error(err, errlen, "state database %s: %s", dir, strerror(errno));
            return NULL;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        ss_error(err, errlen, "state database %s: not a directory", dir);
        return NULL;
    }
    char data[4200];
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    int have_data = stat(data, &st) == 0;
    if (!have_data && !create) {
        ss_error(err, errlen, "state database %s: no database there (data.mdb is missing)", dir);
        return NULL;
    }
    ss_store *s = calloc(1, sizeof(*s));
    if (!s) {
        ss_error(err, errlen, "state database %s: out of memory", dir);
        return NULL;
    }
    snprintf(s->path, sizeof(s->path), "%s", dir);
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, 8);
    if (!rc)
        rc = mdb_env_set_mapsize(s->env, SS_MAP_SIZE);
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0644);
    if (rc) {
        ss_error(err, errlen, "state database %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    /* LMDB maps the file: reading past the end of a truncated one would kill the process with SIGBUS. */
    MDB_envinfo info;
    MDB_stat est;
    if (have_data && !mdb_env_info(s->env, &info) && !mdb_env_stat(s->env, &est) && stat(data, &st) == 0 &&
        (uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * est.ms_psize) {
        ss_error(err, errlen, "state database %s: data.mdb is truncated (%lld bytes, the database needs %llu)", dir,
                 (long long)st.st_size, (unsigned long long)(info.me_last_pgno + 1) * est.ms_psize);
        goto fail;
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (!rc) {
        unsigned fl = MDB_CREATE;
        rc = mdb_dbi_open(txn, "meta", fl, &s->meta);
        if (!rc)
            rc = mdb_dbi_open(txn, "units", fl, &s->units);
        if (!rc)
            rc = mdb_dbi_open(txn, "pagemap", fl, &s->pagemap);
        if (!rc)
            rc = mdb_dbi_open(txn, "pages", fl, &s->pages);
        if (!rc)
            rc = mdb_dbi_open(txn, "refs", fl, &s->refs);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    if (rc) {
        ss_error(err, errlen, "state database %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    return s;
fail:
    mdb_env_close(s->env);
    free(s);
    return NULL;
}

void ss_close(ss_store *st)
{
    if (!st)
        return;
    mdb_env_close(st->env);
    free(st);
}

/* ---- Metadata ----------------------------------------------------------------------------------------- */

static int ss_meta_encode(const ss_meta *m, vmm_ssm *w)
{
    ssm_writer_init(w, "metadata");
    ssm_put_u64(w, SS_META_FORMAT);
    ssm_put_str(w, m->name);
    ssm_put_u64(w, m->created);
    ssm_put_str(w, m->vmm_version);
    ssm_put_str(w, m->arch);
    ssm_put_u64(w, m->arch_abi);
    ssm_put_u64(w, m->ram_size);
    ssm_put_u64(w, m->cpus);
    ssm_put_str(w, m->parent);
    ssm_put_str(w, m->config);
    ssm_put_str(w, m->host);
    ssm_put_u64(w, m->pages_mapped);
    ssm_put_u64(w, m->pages_new);
    ssm_put_u64(w, m->units);
    return ssm_writer_finish(w);
}

static int ss_meta_decode(const MDB_val *v, ss_meta *m, char *err, size_t errlen)
{
    vmm_ssm r;
    uint64_t format = 0, arch_abi = 0, cpus = 0;
    memset(m, 0, sizeof(*m));
    if (ssm_reader_init(&r, "metadata", v->mv_data, v->mv_size) == 0 && ssm_get_u64(&r, &format) == 0 &&
        format != SS_META_FORMAT)
        ssm_fail(&r, "metadata format %llu is not one this vmm reads (%d)", (unsigned long long)format,
                 SS_META_FORMAT);
    ssm_get_str(&r, m->name, sizeof(m->name));
    ssm_get_u64(&r, &m->created);
    ssm_get_str(&r, m->vmm_version, sizeof(m->vmm_version));
    ssm_get_str(&r, m->arch, sizeof(m->arch));
    ssm_get_u64(&r, &arch_abi);
    ssm_get_u64(&r, &m->ram_size);
    ssm_get_u64(&r, &cpus);
    ssm_get_str(&r, m->parent, sizeof(m->parent));
    ssm_get_str(&r, m->config, sizeof(m->config));
    ssm_get_str(&r, m->host, sizeof(m->host));
    ssm_get_u64(&r, &m->pages_mapped);
    ssm_get_u64(&r, &m->pages_new);
    ssm_get_u64(&r, &m->units);
    if (ssm_reader_finish(&r))
        return ss_error(err, errlen, "snapshot metadata is corrupt: %s", r.err);
    m->arch_abi = (uint32_t)arch_abi;
    m->cpus = (uint32_t)cpus;
    return 0;
}

static int ss_meta_get(ss_store *st, MDB_txn *txn, const char *name, ss_meta *m, char *err, size_t errlen)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ss_error(err, errlen, "no snapshot '%s' in %s", name, st->path);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    if (ss_meta_decode(&v, m, err, errlen))
        return -1;
    return 0;
}

static int ss_meta_put(ss_store *st, MDB_txn *txn, const ss_meta *m)
{
    vmm_ssm w;
    int rc = ss_meta_encode(m, &w) ? ENOMEM : 0;
    if (!rc) {
        MDB_val k = {strlen(m->name), (void *)m->name}, v = {w.len, w.buf};
        rc = mdb_put(txn, st->meta, &k, &v, 0);
    }
    ssm_writer_free(&w);
    return rc;
}

int ss_get_meta(ss_store *st, const char *name, ss_meta *meta, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    int r = ss_meta_get(st, txn, name, meta, err, errlen);
    mdb_txn_abort(txn);
    return r;
}

/* ---- Pages -------------------------------------------------------------------------------------------- */

static int ss_ref_add(ss_store *st, MDB_txn *txn, const uint8_t *key, int64_t delta, uint64_t *now)
{
    MDB_val k = {SS_PAGE_KEY, (void *)key}, v;
    uint64_t count = 0;
    int rc = mdb_get(txn, st->refs, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(count))
        memcpy(&count, v.mv_data, sizeof(count));
    else if (rc != MDB_NOTFOUND && rc)
        return rc;
    count = (uint64_t)((int64_t)count + delta);
    *now = count;
    if (count == 0) {
        rc = mdb_del(txn, st->refs, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    v.mv_size = sizeof(count);
    v.mv_data = &count;
    return mdb_put(txn, st->refs, &k, &v, 0);
}

/* Find or add the contents; on return key holds the page key. New contents count in *added. */
static int ss_page_intern(ss_store *st, MDB_txn *txn, const uint8_t *page, uint8_t *key, uint64_t *added)
{
    XXH128_hash_t h = XXH3_128bits(page, SS_PAGE_SIZE);
    ss_put_be(key, h.high64, 8);
    ss_put_be(key + 8, h.low64, 8);
    for (uint32_t i = 0;; i++) {
        ss_put_be(key + 16, i, 4);
        MDB_val k = {SS_PAGE_KEY, key}, v;
        int rc = mdb_get(txn, st->pages, &k, &v);
        if (rc == MDB_NOTFOUND) {
            v.mv_size = SS_PAGE_SIZE;
            v.mv_data = (void *)page;
            rc = mdb_put(txn, st->pages, &k, &v, 0);
            if (rc)
                return rc;
            (*added)++;
            break;
        }
        if (rc)
            return rc;
        /* Same hash: share only identical bytes, so a crafted collision cannot mix up two pages. */
        if (v.mv_size == SS_PAGE_SIZE && memcmp(v.mv_data, page, SS_PAGE_SIZE) == 0)
            break;
    }
    uint64_t count;
    return ss_ref_add(st, txn, key, 1, &count);
}

static int ss_page_release(ss_store *st, MDB_txn *txn, const uint8_t *key)
{
    uint64_t count;
    int rc = ss_ref_add(st, txn, key, -1, &count);
    if (rc || count)
        return rc;
    MDB_val k = {SS_PAGE_KEY, (void *)key};
    rc = mdb_del(txn, st->pages, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static size_t ss_map_key(uint8_t *buf, const char *name, uint64_t index)
{
    size_t n = strlen(name);
    memcpy(buf, name, n);
    buf[n] = 0;
    ss_put_be(buf + n + 1, index, 8);
    return n + 9;
}

/* ---- Save --------------------------------------------------------------------------------------------- */

static int ss_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= SS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == ':' || (unsigned char)name[i] < 0x20)
            return 0;
    return 1;
}

ss_save *ss_save_begin(ss_store *st, const ss_meta *meta, char *err, size_t errlen)
{
    if (!ss_name_ok(meta->name)) {
        ss_error(err, errlen, "snapshot name '%s' is not valid (1 to %d characters, no '/' or ':')", meta->name,
                 SS_NAME_MAX - 1);
        return NULL;
    }
    ss_save *s = calloc(1, sizeof(*s));
    if (!s) {
        ss_error(err, errlen, "out of memory");
        return NULL;
    }
    s->st = st;
    s->meta = *meta;
    s->meta.pages_mapped = s->meta.pages_new = s->meta.units = 0;
    int rc = mdb_txn_begin(st->env, NULL, 0, &s->txn);
    if (rc) {
        ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
        free(s);
        return NULL;
    }
    MDB_val k = {strlen(meta->name), (void *)meta->name}, v;
    if (mdb_get(s->txn, st->meta, &k, &v) == 0) {
        ss_error(err, errlen, "snapshot '%s' already exists in %s", meta->name, st->path);
        ss_save_abort(s);
        return NULL;
    }
    if (meta->parent[0]) {
        ss_meta pm;
        if (ss_meta_get(st, s->txn, meta->parent, &pm, err, errlen)) {
            ss_save_abort(s);
            return NULL;
        }
    }
    return s;
}

static int ss_save_failed(ss_save *s, int rc, const char *what)
{
    if (!s->err[0])
        snprintf(s->err, sizeof(s->err), "%s: %s", what, mdb_strerror(rc));
    return -1;
}

const char *ss_save_error(const ss_save *s)
{
    return s->err;
}

int ss_save_unit(ss_save *s, const char *unit, uint32_t instance, uint32_t version, const void *blob, size_t len)
{
    size_t nn = strlen(s->meta.name), un = strlen(unit);
    uint8_t *key = malloc(nn + un + 6);
    uint8_t *val = malloc(len + 4);
    int rc = ENOMEM;
    if (key && val) {
        memcpy(key, s->meta.name, nn + 1);
        memcpy(key + nn + 1, unit, un + 1);
        ss_put_be(key + nn + un + 2, instance, 4);
        ss_put_be(val, version, 4);
        memcpy(val + 4, blob, len);
        MDB_val k = {nn + un + 6, key}, v = {len + 4, val};
        rc = mdb_put(s->txn, s->st->units, &k, &v, 0);
    }
    free(key);
    free(val);
    if (rc)
        return ss_save_failed(s, rc, unit);
    s->meta.units++;
    return 0;
}

int ss_save_page(ss_save *s, uint64_t index, const uint8_t *page)
{
    uint8_t mk[SS_NAME_MAX + 9], pk[SS_PAGE_KEY];
    int rc = 0;
    if (page)
        rc = ss_page_intern(s->st, s->txn, page, pk, &s->meta.pages_new);
    if (rc)
        return ss_save_failed(s, rc, "storing a page");
    MDB_val k = {ss_map_key(mk, s->meta.name, index), mk}, v = {page ? SS_PAGE_KEY : 0, pk};
    rc = mdb_put(s->txn, s->st->pagemap, &k, &v, 0);
    if (rc)
        return ss_save_failed(s, rc, "recording a page");
    s->meta.pages_mapped++;
    return 0;
}

int ss_save_commit(ss_save *s, char *err, size_t errlen)
{
    int rc = s->err[0] ? -1 : ss_meta_put(s->st, s->txn, &s->meta);
    if (rc > 0)
        ss_save_failed(s, rc, "metadata");
    if (rc) {
        ss_error(err, errlen, "saving snapshot '%s' failed: %s", s->meta.name, s->err);
        ss_save_abort(s);
        return -1;
    }
    rc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    if (rc)
        ss_error(err, errlen, "saving snapshot '%s' failed: %s", s->meta.name, mdb_strerror(rc));
    free(s);
    return rc ? -1 : 0;
}

void ss_save_abort(ss_save *s)
{
    if (!s)
        return;
    if (s->txn)
        mdb_txn_abort(s->txn);
    free(s);
}

/* ---- Load --------------------------------------------------------------------------------------------- */

int ss_load_units(ss_store *st, const char *name, ss_unit_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    rc = mdb_cursor_open(txn, st->units, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    }
    size_t nn = strlen(name);
    MDB_val k = {nn + 1, (void *)name}, v;
    int result = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < nn + 1 || memcmp(kp, name, nn) != 0 || kp[nn] != 0)
            break;
        const uint8_t *unit = kp + nn + 1;
        const uint8_t *nul = memchr(unit, 0, k.mv_size - nn - 1);
        if (!nul || (size_t)(kp + k.mv_size - nul) != 5 || v.mv_size < 4) {
            result = ss_error(err, errlen, "snapshot '%s': a unit record is corrupt", name);
            break;
        }
        uint32_t inst = (uint32_t)ss_get_be(nul + 1, 4);
        uint32_t version = (uint32_t)ss_get_be(v.mv_data, 4);
        result = fn(ctx, (const char *)unit, inst, version, (const uint8_t *)v.mv_data + 4, v.mv_size - 4);
        if (result)
            break;
    }
    if (!result && rc && rc != MDB_NOTFOUND)
        result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}

int ss_load_pages(ss_store *st, const char *name, uint64_t max_index, ss_page_fn fn, void *ctx, char *err,
                  size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    uint64_t *seen = calloc(max_index / 64 + 1, sizeof(uint64_t));
    int result = seen ? 0 : ss_error(err, errlen, "out of memory");
    char cur_name[SS_NAME_MAX];
    snprintf(cur_name, sizeof(cur_name), "%s", name);
    for (int depth = 0; !result && cur_name[0]; depth++) {
        ss_meta m;
        if (depth == SS_MAX_CHAIN) {
            result = ss_error(err, errlen, "snapshot '%s': the parent chain is longer than %d (a loop?)", name,
                              SS_MAX_CHAIN);
            break;
        }
        if (ss_meta_get(st, txn, cur_name, &m, err, errlen)) {
            result = -1;
            break;
        }
        MDB_cursor *cur;
        rc = mdb_cursor_open(txn, st->pagemap, &cur);
        if (rc) {
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
            break;
        }
        size_t nn = strlen(cur_name);
        MDB_val k = {nn + 1, cur_name}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *kp = k.mv_data;
            if (k.mv_size != nn + 9 || memcmp(kp, cur_name, nn) != 0 || kp[nn] != 0)
                break;
            uint64_t index = ss_get_be(kp + nn + 1, 8);
            if (index >= max_index) {
                result = ss_error(err, errlen, "snapshot '%s': page 0x%llx lies outside the guest's memory", cur_name,
                                  (unsigned long long)index);
                break;
            }
            if (seen[index / 64] & (1ull << (index % 64)))
                continue;
            seen[index / 64] |= 1ull << (index % 64);
            if (v.mv_size == 0) {
                result = fn(ctx, index, NULL);
            } else {
                MDB_val pk = v, pv;
                if (pk.mv_size != SS_PAGE_KEY || mdb_get(txn, st->pages, &pk, &pv) || pv.mv_size != SS_PAGE_SIZE) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is missing from the database", cur_name,
                                      (unsigned long long)index);
                    break;
                }
                XXH128_hash_t h = XXH3_128bits(pv.mv_data, SS_PAGE_SIZE);
                const uint8_t *kb = pk.mv_data;
                if (ss_get_be(kb, 8) != h.high64 || ss_get_be(kb + 8, 8) != h.low64) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is corrupt (its contents do not match "
                                      "their hash)", cur_name, (unsigned long long)index);
                    break;
                }
                result = fn(ctx, index, pv.mv_data);
            }
            if (result)
                break;
        }
        mdb_cursor_close(cur);
        if (!result && rc && rc != MDB_NOTFOUND)
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
        snprintf(cur_name, sizeof(cur_name), "%s", m.parent);
    }
    free(seen);
    mdb_txn_abort(txn);
    return result;
}

int ss_list(ss_store *st, ss_list_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_cursor_open(txn, st->meta, &cur);
    else
        txn = NULL;
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    }
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ss_meta m;
        if (ss_meta_decode(&v, &m, err, errlen)) {
            result = -1;
            break;
        }
        fn(ctx, &m);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}

/* Delete every record under "name\0" in dbi; for page maps, release the pages they use. Each round looks the
 * prefix up again rather than trusting a cursor across its own deletions. */
static int ss_delete_prefix(ss_store *st, MDB_txn *txn, MDB_dbi dbi, const char *name, int release_pages)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    size_t nn = strlen(name);
    for (;;) {
        MDB_val k = {nn + 1, (void *)name}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc)
            break;
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < nn + 1 || memcmp(kp, name, nn) != 0 || kp[nn] != 0)
            break;
        if (release_pages && v.mv_size == SS_PAGE_KEY) {
            uint8_t pk[SS_PAGE_KEY];
            memcpy(pk, v.mv_data, SS_PAGE_KEY);
            rc = mdb_cursor_del(cur, 0);
            if (!rc)
                rc = ss_page_release(st, txn, pk);
        } else {
            rc = mdb_cursor_del(cur, 0);
        }
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Give child every page-map entry of parent it does not have, so it no longer needs parent. The parent's
 * entries are read first and written after, so no cursor walks a table that is being written. */
static int ss_fold_into(ss_store *st, MDB_txn *txn, const char *parent, const char *child)
{
    typedef struct { uint64_t index; uint8_t key[SS_PAGE_KEY]; uint8_t len; } entry;
    entry *list = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->pagemap, &cur);
    if (rc)
        return rc;
    size_t nn = strlen(parent);
    MDB_val k = {nn + 1, (void *)parent}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != nn + 9 || memcmp(kp, parent, nn) != 0 || kp[nn] != 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            entry *nl = realloc(list, cap * sizeof(*nl));
            if (!nl) {
                rc = ENOMEM;
                break;
            }
            list = nl;
        }
        list[n].index = ss_get_be(kp + nn + 1, 8);
        list[n].len = v.mv_size == SS_PAGE_KEY ? SS_PAGE_KEY : 0;
        memcpy(list[n].key, v.mv_data, list[n].len);
        n++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        uint8_t ck[SS_NAME_MAX + 9];
        MDB_val key = {ss_map_key(ck, child, list[i].index), ck}, val = {list[i].len, list[i].key};
        int put = mdb_put(txn, st->pagemap, &key, &val, MDB_NOOVERWRITE);
        if (put == MDB_KEYEXIST)
            continue;
        uint64_t count;
        rc = put ? put : list[i].len ? ss_ref_add(st, txn, list[i].key, 1, &count) : 0;
    }
    free(list);
    return rc;
}

typedef struct ss_children {
    char names[64][SS_NAME_MAX];
    unsigned count;
    const char *parent;
} ss_children;

static void ss_collect_child(void *ctx, const ss_meta *m)
{
    ss_children *c = ctx;
    if (strcmp(m->parent, c->parent) == 0 && c->count < 64)
        snprintf(c->names[c->count++], SS_NAME_MAX, "%s", m->name);
}

int ss_remove(ss_store *st, const char *name, int force, char *err, size_t errlen)
{
    ss_meta m;
    if (ss_get_meta(st, name, &m, err, errlen))
        return -1;
    ss_children kids = {.parent = name};
    if (ss_list(st, ss_collect_child, &kids, err, errlen))
        return -1;
    if (kids.count && !force)
        return ss_error(err, errlen, "snapshot '%s' is the parent of '%s'%s; remove %s first, or use --force to fold "
                        "its pages into %s", name, kids.names[0], kids.count > 1 ? " and others" : "",
                        kids.count > 1 ? "them" : "it", kids.count > 1 ? "them" : "it");
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    for (unsigned i = 0; !rc && i < kids.count; i++) {
        ss_meta cm;
        if (ss_meta_get(st, txn, kids.names[i], &cm, err, errlen)) {
            mdb_txn_abort(txn);
            return -1;
        }
        rc = ss_fold_into(st, txn, name, cm.name);
        if (!rc) {
            snprintf(cm.parent, sizeof(cm.parent), "%s", m.parent);
            rc = ss_meta_put(st, txn, &cm);
        }
    }
    if (!rc)
        rc = ss_delete_prefix(st, txn, st->pagemap, name, 1);
    if (!rc)
        rc = ss_delete_prefix(st, txn, st->units, name, 0);
    if (!rc) {
        MDB_val k = {strlen(name), (void *)name};
        rc = mdb_del(txn, st->meta, &k, NULL);
    }
    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    if (rc)
        return ss_error(err, errlen, "removing snapshot '%s': %s", name, mdb_strerror(rc));
    return 0;
}

int ss_stats(ss_store *st, uint64_t *pages, uint64_t *file_bytes)
{
    MDB_txn *txn;
    MDB_stat ms;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
        return -1;
    int rc = mdb_stat(txn, st->pages, &ms);
    mdb_txn_abort(txn);
    if (rc)
        return -1;
    *pages = ms.ms_entries;
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", st->path);
    *file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    return 0;
}
