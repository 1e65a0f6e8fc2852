/*
 * store: see store.h. LMDB databases:
 *   meta       name                       -> metadata (an ssm record: typed, checksummed)
 *   units      name \0 unit \0 be32 inst  -> be32 version, unit blob (itself an ssm record)
 *   pagemap    name \0 be64 group         -> one 2 MiB group of guest pages: recorded[64], zero[64] bitmaps, then
 *                                           for each recorded non-zero page, in order, its location and hash
 *   pages      hash(16) + be32 collision  -> be64 chunk, u8 slot, u64 reference count
 *   chunks     be64 id                    -> up to 64 pages' contents, 4096 bytes each
 *   chunkrefs  be64 id                    -> u64 pages of the chunk still referenced
 * Packing pages into chunks keeps LMDB's per-record overhead off every page, and the page map carries each page's
 * location so a restore reads pages without looking anything up.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef SS_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#include "ssm.h"

#define SS_MAP_SIZE (1ull << 38) /* address space only; the file grows as needed */
#define SS_PAGE_KEY 20 /* hash(16) + be32 collision index */
#define SS_GROUP_PAGES 512
#define SS_CHUNK_PAGES 64
#define SS_ENTRY_SIZE (8 + 1 + SS_PAGE_KEY) /* be64 chunk, u8 slot, page key */
#define SS_GROUP_HDR 128
#define SS_META_FORMAT 1
#define SS_MAX_CHAIN 4096

struct ss_store {
    MDB_env *env;
    MDB_dbi meta, units, pagemap, pages, chunks, chunkrefs;
    char path[4096];
    /* What ss_corrupt found: the functions below pass LMDB's status codes up, and MDB_CORRUPTED alone would not
     * tell the user which record is wrong. */
    char why[256];
};

struct ss_save {
    ss_store *st;
    MDB_txn *txn;
    ss_meta meta;
    char err[512];
    /* the page-map group being filled */
    uint64_t group;
    int have_group;
    uint64_t last_index;
    int have_last;
    uint8_t group_value[SS_GROUP_HDR + SS_GROUP_PAGES * SS_ENTRY_SIZE];
    size_t group_len;
    /* the chunk being filled with new page contents: where they are in the caller's memory, copied once, straight
     * into the transaction, when the chunk is full (the caller keeps them unchanged until ss_save_seal) */
    uint64_t chunk_id;
    unsigned chunk_fill;
    const uint8_t *chunk_src[SS_CHUNK_PAGES];
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

/* Record why a record read from the database cannot be used; returns MDB_CORRUPTED for the caller to pass up. */
static int ss_corrupt(ss_store *st, const char *fmt, ...) VMM_PRINTF(2, 3);
static int ss_corrupt(ss_store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->why, sizeof(st->why), fmt, ap);
    va_end(ap);
    return MDB_CORRUPTED;
}

/* The text for an LMDB status: for MDB_CORRUPTED the record ss_corrupt named. */
static const char *ss_strerror(const ss_store *st, int rc)
{
    return rc == MDB_CORRUPTED && st->why[0] ? st->why : mdb_strerror(rc);
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

/* A page's content hash. The same XXH3-128 with or without the dispatcher, so databases stay readable. */
static XXH128_hash_t ss_hash_page(const uint8_t *page)
{
#ifdef SS_HAVE_XXH_DISPATCH
    return XXH3_128bits_dispatch(page, SS_PAGE_SIZE);
#else
    return XXH3_128bits(page, SS_PAGE_SIZE);
#endif
}

static int ss_name_ok(const char *name)
{
    return ss_name_check(name, NULL, 0) == 0; /* the rules for names read back from the database, too */
}

/* ---- Open / close ------------------------------------------------------------------------------------- */

int ss_check_path(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (!*dir) {
        ss_error(err, errlen, "state database '': empty path");
        return -1;
    }
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            ss_error(err, errlen, "state database %s: not a directory", dir);
            return -1;
        }
        if (access(dir, R_OK | W_OK | X_OK) != 0) {
            ss_error(err, errlen, "state database %s: %s", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        ss_error(err, errlen, "state database %s: %s", dir, strerror(errno));
        return -1;
    }
    /* A new database: make sure the directory can be created, without leaving it behind. */
    if (mkdir(dir, 0755) != 0) {
        ss_error(err, errlen, "state database %s: cannot be created: %s", dir, strerror(errno));
        return -1;
    }
    rmdir(dir);
    return 0;
}

ss_store *ss_open(const char *dir, int mode, char *err, size_t errlen)
{
    int create = mode == SS_OPEN_CREATE, readonly = mode == SS_OPEN_READONLY;
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
    /* LMDB makes a new database in an empty file: opening one that should exist must not replace it. */
    if (have_data && !create && st.st_size == 0) {
        ss_error(err, errlen, "state database %s: data.mdb is empty (0 bytes), not a database", dir);
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
    /* Commits reach the page cache only (a killed process loses nothing); ss_sync makes them durable. Read-only
     * still takes LMDB's lock file (no MDB_NOLOCK): its reader table keeps a vmm saving into this database at the
     * same time from reusing the pages being read. */
    if (!rc)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOSYNC | (readonly ? MDB_RDONLY : 0), 0644);
    if (rc == MDB_INVALID) {
        ss_error(err, errlen, "state database %s: data.mdb is not an LMDB database", dir);
        goto fail;
    }
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
    rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (!rc) {
        /* Tables are made by the first open only: any other open finds them, or this is not vmm's database. */
        unsigned fl = create ? MDB_CREATE : 0;
        rc = mdb_dbi_open(txn, "meta", fl, &s->meta);
        if (!rc)
            rc = mdb_dbi_open(txn, "units", fl, &s->units);
        if (!rc)
            rc = mdb_dbi_open(txn, "pagemap", fl, &s->pagemap);
        if (!rc)
            rc = mdb_dbi_open(txn, "pages", fl, &s->pages);
        if (!rc)
            rc = mdb_dbi_open(txn, "chunks", fl, &s->chunks);
        if (!rc)
            rc = mdb_dbi_open(txn, "chunkrefs", fl, &s->chunkrefs);
        /* A read-only transaction is committed too: that keeps the table handles it opened. */
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
        ss_error(err, errlen, "state database %s: an LMDB database, but not vmm's (its snapshot tables are missing)",
                 dir);
        goto fail;
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

/* A metadata record, key and all: every field is checked before anything uses it (the names become keys and
 * messages, the parent is followed). */
static int ss_meta_decode(const ss_store *st, const MDB_val *k, const MDB_val *v, ss_meta *m, char *err,
                          size_t errlen)
{
    char key[SS_NAME_MAX];
    size_t kn = k->mv_size < SS_NAME_MAX ? k->mv_size : SS_NAME_MAX - 1;
    /* The key is not NUL-terminated; for messages, any bytes it holds are shown up to the first NUL. */
    memcpy(key, k->mv_data, kn);
    key[kn] = '\0';
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
        return ss_error(err, errlen, "state database %s: snapshot '%s': its metadata is corrupt: %s", st->path, key,
                        r.err);
    if (k->mv_size != strlen(m->name) || memcmp(k->mv_data, m->name, k->mv_size) != 0 || !ss_name_ok(m->name))
        return ss_error(err, errlen, "state database %s: snapshot '%s': its metadata names it '%s'", st->path, key,
                        m->name);
    if (m->parent[0] && (!ss_name_ok(m->parent) || !strcmp(m->parent, m->name)))
        return ss_error(err, errlen, "state database %s: snapshot '%s': its parent '%s' is not a valid snapshot "
                        "name%s", st->path, key, m->parent, strcmp(m->parent, m->name) ? "" : " (itself)");
    if (arch_abi > UINT32_MAX || cpus > UINT32_MAX)
        return ss_error(err, errlen, "state database %s: snapshot '%s': its %s %llu is out of range", st->path, key,
                        cpus > UINT32_MAX ? "vCPU count" : "architecture ABI version",
                        (unsigned long long)(cpus > UINT32_MAX ? cpus : arch_abi));
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
    if (ss_meta_decode(st, &k, &v, m, err, errlen))
        return -1;
    return 0;
}

/* Walk name's parent chain in txn: -1 with the reason if a snapshot on it is missing or corrupt, or if the chain
 * comes back to a snapshot it passed (only a corrupt database has such a loop), naming the snapshots of the loop. */
static int ss_chain_check(ss_store *st, MDB_txn *txn, const char *name, char *err, size_t errlen)
{
    char (*seen)[SS_NAME_MAX] = malloc(SS_MAX_CHAIN * sizeof(*seen));
    if (!seen)
        return ss_error(err, errlen, "out of memory");
    char cur[SS_NAME_MAX];
    snprintf(cur, sizeof(cur), "%s", name);
    int result = 0;
    for (size_t n = 0; !result && cur[0]; n++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(seen[i], cur))
                continue;
            char loop[320] = "";
            size_t len = 0;
            for (size_t j = i; j < n && len < sizeof(loop); j++)
                len += (size_t)snprintf(loop + len, sizeof(loop) - len, "%s -> ", seen[j]);
            if (len < sizeof(loop))
                snprintf(loop + len, sizeof(loop) - len, "%s", cur);
            ss_error(err, errlen, "state database %s is corrupt: snapshot '%s': its parent chain loops (%s)", st->path,
                     name, loop);
            result = -1;
            break;
        }
        if (result)
            break;
        if (n == SS_MAX_CHAIN) {
            result = ss_error(err, errlen, "snapshot '%s': its parent chain is longer than %d snapshots", name,
                              SS_MAX_CHAIN);
            break;
        }
        snprintf(seen[n], SS_NAME_MAX, "%s", cur);
        ss_meta m;
        if (ss_meta_get(st, txn, cur, &m, err, errlen))
            result = -1;
        else
            snprintf(cur, sizeof(cur), "%s", m.parent);
    }
    free(seen);
    return result;
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

/* ---- Pages ------------------------------------------------------------------------------------------- */

typedef struct ss_page_rec {
    uint64_t chunk;
    uint8_t slot;
    uint64_t refs;
} ss_page_rec;

static int ss_page_rec_get(ss_store *st, MDB_txn *txn, const uint8_t *key, ss_page_rec *rec)
{
    MDB_val k = {SS_PAGE_KEY, (void *)key}, v;
    int rc = mdb_get(txn, st->pages, &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 17)
        return ss_corrupt(st, "the record of page %016llx... is %zu bytes, not 17",
                          (unsigned long long)ss_get_be(key, 8), v.mv_size);
    const uint8_t *p = v.mv_data;
    rec->chunk = ss_get_be(p, 8);
    rec->slot = p[8];
    memcpy(&rec->refs, p + 9, 8);
    /* The slot indexes a chunk's 64 pages (and the array of the chunk being filled): check it before any use. */
    if (rec->slot >= SS_CHUNK_PAGES)
        return ss_corrupt(st, "the record of page %016llx... names slot %u of chunk %llu (a chunk holds %u pages)",
                          (unsigned long long)ss_get_be(key, 8), rec->slot, (unsigned long long)rec->chunk,
                          SS_CHUNK_PAGES);
    if (rec->refs == 0)
        return ss_corrupt(st, "the record of page %016llx... has no references (it should have been deleted)",
                          (unsigned long long)ss_get_be(key, 8));
    return 0;
}

static int ss_page_rec_put(ss_store *st, MDB_txn *txn, const uint8_t *key, const ss_page_rec *rec)
{
    uint8_t b[17];
    ss_put_be(b, rec->chunk, 8);
    b[8] = rec->slot;
    memcpy(b + 9, &rec->refs, 8);
    MDB_val k = {SS_PAGE_KEY, (void *)key}, v = {sizeof(b), b};
    return mdb_put(txn, st->pages, &k, &v, 0);
}

/* A chunk's count of referenced pages, changed by delta (a chunk holds at most 64). */
static int ss_u64_add(ss_store *st, MDB_txn *txn, MDB_dbi dbi, uint64_t id, int64_t delta, uint64_t *now)
{
    uint8_t kb[8];
    ss_put_be(kb, id, 8);
    MDB_val k = {8, kb}, v;
    uint64_t count = 0;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size != 8)
        return ss_corrupt(st, "the reference count of chunk %llu is %zu bytes, not 8", (unsigned long long)id,
                          v.mv_size);
    if (rc == 0)
        memcpy(&count, v.mv_data, 8);
    else if (rc != MDB_NOTFOUND)
        return rc;
    if ((delta < 0 && count < (uint64_t)-delta) || count + (uint64_t)(delta > 0 ? delta : 0) > SS_CHUNK_PAGES)
        return ss_corrupt(st, "chunk %llu has %llu referenced pages, which cannot change by %lld",
                          (unsigned long long)id, (unsigned long long)count, (long long)delta);
    count = (uint64_t)((int64_t)count + delta);
    *now = count;
    if (count == 0) {
        rc = mdb_del(txn, dbi, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    v.mv_size = 8;
    v.mv_data = &count;
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* The bytes of page (chunk, slot), or NULL if the database does not hold them. */
static const uint8_t *ss_chunk_page(ss_store *st, MDB_txn *txn, uint64_t chunk, unsigned slot)
{
    uint8_t kb[8];
    ss_put_be(kb, chunk, 8);
    MDB_val k = {8, kb}, v;
    if (mdb_get(txn, st->chunks, &k, &v) || v.mv_size < ((size_t)slot + 1) * SS_PAGE_SIZE)
        return NULL;
    return (const uint8_t *)v.mv_data + (size_t)slot * SS_PAGE_SIZE;
}

static int ss_save_flush_chunk(ss_save *s)
{
    if (!s->chunk_fill)
        return 0;
    uint8_t kb[8];
    ss_put_be(kb, s->chunk_id, 8);
    MDB_val k = {8, kb}, v = {(size_t)s->chunk_fill * SS_PAGE_SIZE, NULL};
    int rc = mdb_put(s->txn, s->st->chunks, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (!rc) {
        for (unsigned i = 0; i < s->chunk_fill; i++)
            memcpy((uint8_t *)v.mv_data + (size_t)i * SS_PAGE_SIZE, s->chunk_src[i], SS_PAGE_SIZE);
        uint64_t count;
        rc = ss_u64_add(s->st, s->txn, s->st->chunkrefs, s->chunk_id, s->chunk_fill, &count);
    }
    s->chunk_id++;
    s->chunk_fill = 0;
    return rc;
}

/* Find or add the contents; key receives the page key, loc its chunk and slot. */
static int ss_page_intern(ss_save *s, const uint8_t *page, uint8_t *key, uint64_t *chunk, uint8_t *slot)
{
    ss_store *st = s->st;
    XXH128_hash_t h = ss_hash_page(page);
    ss_put_be(key, h.high64, 8);
    ss_put_be(key + 8, h.low64, 8);
    for (uint32_t i = 0;; i++) {
        ss_put_be(key + 16, i, 4);
        ss_page_rec rec;
        int rc = ss_page_rec_get(st, s->txn, key, &rec);
        if (rc == MDB_NOTFOUND) {
            if (s->chunk_fill == SS_CHUNK_PAGES && (rc = ss_save_flush_chunk(s)))
                return rc;
            s->chunk_src[s->chunk_fill] = page;
            rec = (ss_page_rec){.chunk = s->chunk_id, .slot = (uint8_t)s->chunk_fill++, .refs = 1};
            s->meta.pages_new++;
            *chunk = rec.chunk;
            *slot = rec.slot;
            return ss_page_rec_put(st, s->txn, key, &rec);
        }
        if (rc)
            return rc;
        /* Same hash: share only identical bytes, so a crafted collision cannot mix two pages up. The chunk being
         * filled exists only in chunk_src, up to chunk_fill: a record naming a slot of it past that (or a later
         * chunk) was not made by this save and names pages that do not exist. */
        const uint8_t *have = NULL;
        if (rec.chunk == s->chunk_id && rec.slot < s->chunk_fill)
            have = s->chunk_src[rec.slot];
        else if (rec.chunk < s->chunk_id)
            have = ss_chunk_page(st, s->txn, rec.chunk, rec.slot);
        if (!have)
            return ss_corrupt(st, "the record of page %016llx... names slot %u of chunk %llu, which the database "
                              "does not hold", (unsigned long long)h.high64, rec.slot, (unsigned long long)rec.chunk);
        if (memcmp(have, page, SS_PAGE_SIZE) == 0) {
            rec.refs++;
            *chunk = rec.chunk;
            *slot = rec.slot;
            return ss_page_rec_put(st, s->txn, key, &rec);
        }
    }
}

/* Drop one reference to a page; the last one frees it, and the last page of a chunk frees the chunk. */
static int ss_page_release(ss_store *st, MDB_txn *txn, const uint8_t *key)
{
    ss_page_rec rec;
    int rc = ss_page_rec_get(st, txn, key, &rec);
    if (rc == MDB_NOTFOUND)
        return ss_corrupt(st, "a page map names page %016llx..., which has no record", (unsigned long long)ss_get_be(key, 8));
    if (rc)
        return rc;
    if (--rec.refs)
        return ss_page_rec_put(st, txn, key, &rec);
    MDB_val k = {SS_PAGE_KEY, (void *)key};
    if ((rc = mdb_del(txn, st->pages, &k, NULL)))
        return rc;
    uint64_t left;
    if ((rc = ss_u64_add(st, txn, st->chunkrefs, rec.chunk, -1, &left)) || left)
        return rc;
    uint8_t kb[8];
    ss_put_be(kb, rec.chunk, 8);
    MDB_val ck = {8, kb};
    rc = mdb_del(txn, st->chunks, &ck, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static size_t ss_map_key(uint8_t *buf, const char *name, uint64_t group)
{
    size_t n = strlen(name);
    memcpy(buf, name, n);
    buf[n] = 0;
    ss_put_be(buf + n + 1, group, 8);
    return n + 9;
}

/* A parsed page-map group: which pages it records, which of those are zero, and where the others are. */
typedef struct ss_group {
    const uint8_t *recorded, *zero;
    const uint8_t *entries;
    size_t nentries;
} ss_group;

static int ss_bit(const uint8_t *map, unsigned i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

/* A page-map record of snapshot name, whose key starts with name and its NUL: MDB_CORRUPTED (the reason
 * recorded) unless the key holds a group number a guest page number can have and the value is as long as its
 * bitmaps say. */
static int ss_group_parse(ss_store *st, const char *name, const MDB_val *k, const MDB_val *v, uint64_t *group,
                          ss_group *g)
{
    size_t nn = strlen(name);
    if (k->mv_size != nn + 9)
        return ss_corrupt(st, "snapshot '%s': a page-map key is %zu bytes, not %zu", name, k->mv_size, nn + 9);
    *group = ss_get_be((const uint8_t *)k->mv_data + nn + 1, 8);
    if (*group > UINT64_MAX / SS_GROUP_PAGES)
        return ss_corrupt(st, "snapshot '%s': page-map group %llu is beyond any guest address", name,
                          (unsigned long long)*group);
    if (v->mv_size < SS_GROUP_HDR || (v->mv_size - SS_GROUP_HDR) % SS_ENTRY_SIZE)
        return ss_corrupt(st, "snapshot '%s': the page map of group %llu is %zu bytes, not a header and whole "
                          "entries", name, (unsigned long long)*group, v->mv_size);
    g->recorded = v->mv_data;
    g->zero = g->recorded + 64;
    g->entries = g->recorded + SS_GROUP_HDR;
    g->nentries = (v->mv_size - SS_GROUP_HDR) / SS_ENTRY_SIZE;
    size_t want = 0;
    for (unsigned i = 0; i < SS_GROUP_PAGES; i++)
        if (ss_bit(g->recorded, i) && !ss_bit(g->zero, i))
            want++;
    if (want != g->nentries)
        return ss_corrupt(st, "snapshot '%s': the page map of group %llu holds %zu entries, its bitmaps say %zu", name,
                          (unsigned long long)*group, g->nentries, want);
    return 0;
}

/* ---- Save --------------------------------------------------------------------------------------------- */

int ss_name_check(const char *name, char *err, size_t errlen)
{
    /* The name as the message shows it: control characters escaped so that the message stays one line, and a
     * name far over the limit cut. */
    char shown[160];
    size_t n = strlen(name), k = 0, i = 0;
    for (; i < n && k + 8 < sizeof(shown); i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20)
            k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02x", c);
        else
            shown[k++] = (char)c;
    }
    snprintf(shown + k, sizeof(shown) - k, "%s", i < n ? "..." : "");
    if (n == 0)
        return ss_error(err, errlen, "a snapshot name cannot be empty");
    if (n >= SS_NAME_MAX)
        return ss_error(err, errlen, "snapshot name '%s' is too long: %zu bytes, at most %d", shown, n,
                        SS_NAME_MAX - 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20)
            return ss_error(err, errlen, "snapshot name '%s' has a control character (0x%02x): names cannot contain "
                            "'/', ':' or control characters", shown, c);
        if (c == '/' || c == ':')
            return ss_error(err, errlen, "snapshot name '%s' has '%c': names cannot contain '/', ':' or control "
                            "characters", shown, c);
    }
    return 0;
}

ss_save *ss_save_begin(ss_store *st, const ss_meta *meta, char *err, size_t errlen)
{
    if (ss_name_check(meta->name, err, errlen))
        return NULL;
    ss_save *s = calloc(1, sizeof(*s));
    if (!s) {
        ss_error(err, errlen, "out of memory");
        return NULL;
    }
    s->st = st;
    st->why[0] = '\0';
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
    /* New chunks go after the last one, so they are appended to the B-tree. */
    MDB_cursor *cur;
    s->chunk_id = 1;
    if (mdb_cursor_open(s->txn, st->chunks, &cur) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && (k.mv_size != 8 || ss_get_be(k.mv_data, 8) == UINT64_MAX)) {
            ss_error(err, errlen, "saving snapshot '%s' failed: state database %s is corrupt: the last chunk's key "
                     "is not a chunk number", meta->name, st->path);
            mdb_cursor_close(cur);
            ss_save_abort(s);
            return NULL;
        }
        if (rc == 0)
            s->chunk_id = ss_get_be(k.mv_data, 8) + 1;
        mdb_cursor_close(cur);
    }
    return s;
}

static int ss_save_failed(ss_save *s, int rc, const char *what)
{
    /* A save never builds on a record it found corrupt: the error stays, and commit refuses. */
    if (!s->err[0] && rc == MDB_CORRUPTED && s->st->why[0])
        ss_error(s->err, sizeof(s->err), "state database %s is corrupt: %s", s->st->path, s->st->why);
    else if (!s->err[0])
        ss_error(s->err, sizeof(s->err), "%s: %s", what, mdb_strerror(rc));
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

static int ss_save_flush_group(ss_save *s)
{
    if (!s->have_group)
        return 0;
    uint8_t mk[SS_NAME_MAX + 9];
    MDB_val k = {ss_map_key(mk, s->meta.name, s->group), mk}, v = {s->group_len, s->group_value};
    s->have_group = 0;
    return mdb_put(s->txn, s->st->pagemap, &k, &v, 0);
}

int ss_save_copy_pages(ss_save *s)
{
    int rc;
    if (s->err[0])
        return -1;
    if ((rc = ss_save_flush_chunk(s)))
        return ss_save_failed(s, rc, "copying pages");
    return 0;
}

int ss_save_page(ss_save *s, uint64_t index, const uint8_t *page)
{
    int rc;
    if (s->err[0])
        return -1;
    if (s->have_last && index <= s->last_index) {
        snprintf(s->err, sizeof(s->err), "pages must be saved in increasing order (0x%llx after 0x%llx)",
                 (unsigned long long)index, (unsigned long long)s->last_index);
        return -1;
    }
    s->have_last = 1;
    s->last_index = index;
    uint64_t group = index / SS_GROUP_PAGES;
    if (!s->have_group || group != s->group) {
        if ((rc = ss_save_flush_group(s)))
            return ss_save_failed(s, rc, "recording pages");
        s->have_group = 1;
        s->group = group;
        memset(s->group_value, 0, SS_GROUP_HDR);
        s->group_len = SS_GROUP_HDR;
    }
    unsigned bit = (unsigned)(index % SS_GROUP_PAGES);
    s->group_value[bit / 8] |= (uint8_t)(1u << (bit % 8));
    if (!page) {
        s->group_value[64 + bit / 8] |= (uint8_t)(1u << (bit % 8));
    } else {
        uint8_t *e = s->group_value + s->group_len;
        uint64_t chunk = 0;
        uint8_t slot = 0;
        if ((rc = ss_page_intern(s, page, e + 9, &chunk, &slot)))
            return ss_save_failed(s, rc, "storing a page");
        ss_put_be(e, chunk, 8);
        e[8] = slot;
        s->group_len += SS_ENTRY_SIZE;
    }
    s->meta.pages_mapped++;
    return 0;
}

int ss_save_seal(ss_save *s, char *err, size_t errlen)
{
    int rc;
    if (!s->err[0] && ((rc = ss_save_flush_group(s)) || (rc = ss_save_flush_chunk(s))))
        ss_save_failed(s, rc, "recording pages");
    if (s->err[0])
        return ss_error(err, errlen, "saving snapshot '%s' failed: %s", s->meta.name, s->err);
    return 0;
}

int ss_save_commit(ss_save *s, char *err, size_t errlen)
{
    int rc = 0;
    if (!s->err[0] && ((rc = ss_save_flush_group(s)) || (rc = ss_save_flush_chunk(s))))
        ss_save_failed(s, rc, "recording pages");
    rc = s->err[0] ? -1 : ss_meta_put(s->st, s->txn, &s->meta);
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

int ss_sync(ss_store *st, char *err, size_t errlen)
{
    int rc = mdb_env_sync(st->env, 1);
    return rc ? ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc)) : 0;
}

/* ---- Reading pages ------------------------------------------------------------------------------------ */

enum { SS_LOC_NONE = 0, SS_LOC_ZERO = 1, SS_LOC_DATA = 2, SS_LOC_VERIFIED = 3 };

typedef struct ss_loc {
    const uint8_t *page;
    uint8_t hash[16];
    uint8_t state;
} ss_loc;

struct ss_reader {
    ss_store *st;
    MDB_txn *txn;
    ss_loc *locs;
    uint64_t max_index;
    char name[SS_NAME_MAX]; /* for messages */
};

void ss_reader_close(ss_reader *r)
{
    if (!r)
        return;
    if (r->txn)
        mdb_txn_abort(r->txn);
    free(r->locs);
    free(r);
}

ss_reader *ss_reader_open(ss_store *st, const char *name, uint64_t max_index, char *err, size_t errlen)
{
    ss_reader *r = calloc(1, sizeof(*r));
    if (!r || !(r->locs = calloc(max_index ? max_index : 1, sizeof(ss_loc)))) {
        ss_error(err, errlen, "out of memory for the page map of %llu pages", (unsigned long long)max_index);
        free(r);
        return NULL;
    }
    r->st = st;
    r->max_index = max_index;
    snprintf(r->name, sizeof(r->name), "%s", name);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
    if (rc) {
        ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
        ss_reader_close(r);
        return NULL;
    }
    if (ss_chain_check(st, r->txn, name, err, errlen)) {
        ss_reader_close(r);
        return NULL;
    }
    char cur_name[SS_NAME_MAX];
    snprintf(cur_name, sizeof(cur_name), "%s", name);
    int result = 0;
    for (int depth = 0; !result && cur_name[0]; depth++) {
        ss_meta m;
        if (depth == SS_MAX_CHAIN) {
            result = ss_error(err, errlen, "snapshot '%s': the parent chain is longer than %d (a loop?)", name,
                              SS_MAX_CHAIN);
            break;
        }
        if (ss_meta_get(st, r->txn, cur_name, &m, err, errlen)) {
            result = -1;
            break;
        }
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(r->txn, st->pagemap, &cur))) {
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
            break;
        }
        size_t nn = strlen(cur_name);
        MDB_val k = {nn + 1, cur_name}, v;
        uint64_t cached_chunk = 0;
        MDB_val chunk = {0, NULL};
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !result;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *kp = k.mv_data;
            if (k.mv_size < nn + 1 || memcmp(kp, cur_name, nn) != 0 || kp[nn] != 0)
                break;
            uint64_t group;
            ss_group g;
            if (ss_group_parse(st, cur_name, &k, &v, &group, &g)) {
                result = ss_error(err, errlen, "state database %s is corrupt: %s", st->path, st->why);
                break;
            }
            if (group >= SS_SPACE_BASE / SS_GROUP_PAGES)
                break; /* page spaces of units (ss_space_each), not guest RAM */
            const uint8_t *e = g.entries;
            for (unsigned i = 0; i < SS_GROUP_PAGES; i++) {
                if (!ss_bit(g.recorded, i))
                    continue;
                uint64_t index = group * SS_GROUP_PAGES + i;
                int zero = ss_bit(g.zero, i);
                const uint8_t *entry = zero ? NULL : e;
                if (!zero)
                    e += SS_ENTRY_SIZE;
                if (index >= max_index) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx lies outside the guest's memory",
                                      cur_name, (unsigned long long)index);
                    break;
                }
                ss_loc *l = &r->locs[index];
                if (l->state != SS_LOC_NONE)
                    continue; /* a newer snapshot of the chain recorded it */
                if (zero) {
                    l->state = SS_LOC_ZERO;
                    continue;
                }
                uint64_t cid = ss_get_be(entry, 8);
                unsigned slot = entry[8];
                if (cid != cached_chunk || !chunk.mv_data) {
                    uint8_t kb[8];
                    ss_put_be(kb, cid, 8);
                    MDB_val ck = {8, kb};
                    if (mdb_get(r->txn, st->chunks, &ck, &chunk)) {
                        chunk.mv_data = NULL;
                        result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is missing from the database",
                                          cur_name, (unsigned long long)index);
                        break;
                    }
                    cached_chunk = cid;
                }
                if (chunk.mv_size < ((size_t)slot + 1) * SS_PAGE_SIZE) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is missing from the database", cur_name,
                                      (unsigned long long)index);
                    break;
                }
                l->page = (const uint8_t *)chunk.mv_data + (size_t)slot * SS_PAGE_SIZE;
                memcpy(l->hash, entry + 9, 16);
                l->state = SS_LOC_DATA;
            }
        }
        mdb_cursor_close(cur);
        if (!result && rc && rc != MDB_NOTFOUND)
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
        snprintf(cur_name, sizeof(cur_name), "%s", m.parent);
    }
    if (result) {
        ss_reader_close(r);
        return NULL;
    }
    return r;
}

/* Check a located page against its hash once; later reads of it trust the check. */
static int ss_loc_verify(ss_reader *r, uint64_t index, ss_loc *l, char *err, size_t errlen)
{
    if (__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) == SS_LOC_VERIFIED)
        return 0;
    XXH128_hash_t h = ss_hash_page(l->page);
    if (ss_get_be(l->hash, 8) != h.high64 || ss_get_be(l->hash + 8, 8) != h.low64)
        return ss_error(err, errlen, "snapshot '%s': page 0x%llx is corrupt (its contents do not match their hash)",
                        r->name, (unsigned long long)index);
    __atomic_store_n(&l->state, SS_LOC_VERIFIED, __ATOMIC_RELEASE);
    return 0;
}

int ss_reader_page(ss_reader *r, uint64_t index, const uint8_t **page, char *err, size_t errlen)
{
    if (index >= r->max_index)
        return 0;
    ss_loc *l = &r->locs[index];
    uint8_t state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
    if (state == SS_LOC_NONE || state == SS_LOC_ZERO)
        return 0;
    if (ss_loc_verify(r, index, l, err, errlen))
        return -1;
    *page = l->page;
    return 1;
}

int ss_reader_find(ss_reader *r, uint64_t first, uint64_t count, uint64_t *index)
{
    for (uint64_t i = first; i < r->max_index && i - first < count; i++)
        if (r->locs[i].state != SS_LOC_NONE) {
            *index = i;
            return 1;
        }
    return 0;
}

int64_t ss_reader_copy(ss_reader *r, uint64_t first, uint64_t count, uint8_t *dst, char *err, size_t errlen)
{
    int64_t copied = 0;
    uint64_t end = first + count < r->max_index ? first + count : r->max_index;
    for (uint64_t i = first; i < end; i++) {
        ss_loc *l = &r->locs[i];
        uint8_t state = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
        if (state == SS_LOC_NONE || state == SS_LOC_ZERO)
            continue;
        /* Hash, then copy from the cache the hash left it in: the source is read from memory once. (Non-temporal
         * stores measured no faster here: the destination lines are still cached from the kernel zeroing them.) */
        if (ss_loc_verify(r, i, l, err, errlen))
            return -1;
        memcpy(dst + (i - first) * SS_PAGE_SIZE, l->page, SS_PAGE_SIZE);
        copied++;
    }
    return copied;
}

int ss_reader_each(ss_reader *r, ss_page_fn fn, void *ctx, char *err, size_t errlen)
{
    int result = 0;
    for (uint64_t i = 0; i < r->max_index && !result; i++) {
        if (r->locs[i].state == SS_LOC_NONE)
            continue;
        const uint8_t *page = NULL;
        int got = ss_reader_page(r, i, &page, err, errlen);
        result = got < 0 ? -1 : fn(ctx, i, got ? page : NULL);
    }
    return result;
}

int ss_load_pages(ss_store *st, const char *name, uint64_t max_index, ss_page_fn fn, void *ctx, char *err,
                  size_t errlen)
{
    ss_reader *r = ss_reader_open(st, name, max_index, err, errlen);
    if (!r)
        return -1;
    int result = ss_reader_each(r, fn, ctx, err, errlen);
    ss_reader_close(r);
    return result;
}

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

/* Every snapshot's decoded metadata, in name order, to fn (0: go on, -1: stop, err already written). A record
 * that does not decode stops the walk with its error. */
static int ss_meta_walk(ss_store *st, MDB_txn *txn, int (*fn)(void *ctx, const ss_meta *m, char *err, size_t errlen),
                        void *ctx, char *err, size_t errlen)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->meta, &cur);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ss_meta m;
        if (ss_meta_decode(st, &k, &v, &m, err, errlen) || fn(ctx, &m, err, errlen)) {
            result = -1;
            break;
        }
    }
    if (!result && rc != MDB_NOTFOUND)
        result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    mdb_cursor_close(cur);
    return result;
}

typedef struct ss_list_ctx {
    ss_list_fn fn;
    void *ctx;
} ss_list_ctx;

static int ss_list_one(void *ctx, const ss_meta *m, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    ss_list_ctx *l = ctx;
    l->fn(l->ctx, m);
    return 0;
}

int ss_list(ss_store *st, ss_list_fn fn, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    ss_list_ctx l = {fn, ctx};
    int result = ss_meta_walk(st, txn, ss_list_one, &l, err, errlen);
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
    uint8_t *keys = NULL;
    for (;;) {
        MDB_val k = {nn + 1, (void *)name}, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc)
            break;
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < nn + 1 || memcmp(kp, name, nn) != 0 || kp[nn] != 0)
            break;
        size_t n = 0;
        if (release_pages) {
            ss_group g;
            uint64_t group;
            if ((rc = ss_group_parse(st, name, &k, &v, &group, &g)))
                break;
            /* Copy the keys out: the record goes away before its pages are released. */
            n = g.nentries;
            keys = realloc(keys, (n ? n : 1) * SS_PAGE_KEY);
            if (!keys) {
                rc = ENOMEM;
                break;
            }
            for (size_t i = 0; i < n; i++)
                memcpy(keys + i * SS_PAGE_KEY, g.entries + i * SS_ENTRY_SIZE + 9, SS_PAGE_KEY);
        }
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        for (size_t i = 0; i < n && !rc; i++)
            rc = ss_page_release(st, txn, keys + i * SS_PAGE_KEY);
        if (rc)
            break;
    }
    free(keys);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Merge parent's group into the child's (the child's own pages win), taking a reference for each page added. */
static int ss_fold_group(ss_store *st, MDB_txn *txn, const char *child, uint64_t group, const ss_group *pg)
{
    uint8_t ck[SS_NAME_MAX + 9];
    MDB_val k = {ss_map_key(ck, child, group), ck}, v;
    ss_group cg = {0};
    static const uint8_t none[SS_GROUP_HDR];
    int rc = mdb_get(txn, st->pagemap, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rc = 0; /* the child recorded nothing in this group: it takes all of the parent's */
        cg.recorded = none;
        cg.zero = none + 64;
        cg.entries = NULL;
    } else if (rc) {
        return rc;
    } else if ((rc = ss_group_parse(st, child, &k, &v, &group, &cg))) {
        return rc;
    }
    uint8_t *out = malloc(SS_GROUP_HDR + SS_GROUP_PAGES * SS_ENTRY_SIZE);
    if (!out)
        return ENOMEM;
    memset(out, 0, SS_GROUP_HDR);
    size_t len = SS_GROUP_HDR;
    const uint8_t *ce = cg.entries, *pe = pg->entries;
    for (unsigned i = 0; i < SS_GROUP_PAGES && !rc; i++) {
        int in_child = ss_bit(cg.recorded, i), in_parent = ss_bit(pg->recorded, i);
        const uint8_t *src = NULL;
        int zero = 0, take_ref = 0;
        if (in_child) {
            zero = ss_bit(cg.zero, i);
            if (!zero)
                src = ce, ce += SS_ENTRY_SIZE;
        }
        if (in_parent) {
            int pzero = ss_bit(pg->zero, i);
            const uint8_t *psrc = pzero ? NULL : pe;
            if (!pzero)
                pe += SS_ENTRY_SIZE;
            if (!in_child) {
                zero = pzero;
                src = psrc;
                take_ref = !pzero;
            }
        }
        if (!in_child && !in_parent)
            continue;
        out[i / 8] |= (uint8_t)(1u << (i % 8));
        if (zero) {
            out[64 + i / 8] |= (uint8_t)(1u << (i % 8));
            continue;
        }
        memcpy(out + len, src, SS_ENTRY_SIZE);
        len += SS_ENTRY_SIZE;
        if (take_ref) {
            ss_page_rec rec;
            rc = ss_page_rec_get(st, txn, src + 9, &rec);
            if (rc == MDB_NOTFOUND)
                rc = ss_corrupt(st, "a page map names page %016llx..., which has no record",
                                (unsigned long long)ss_get_be(src + 9, 8));
            if (!rc) {
                rec.refs++;
                rc = ss_page_rec_put(st, txn, src + 9, &rec);
            }
        }
    }
    if (!rc) {
        MDB_val nv = {len, out};
        rc = mdb_put(txn, st->pagemap, &k, &nv, 0);
    }
    free(out);
    return rc;
}

/* Give child every page parent records and child does not, so child no longer needs parent. The parent's groups
 * are copied out before the child's are written, so no cursor walks a table that is being written. */
static int ss_fold_into(ss_store *st, MDB_txn *txn, const char *parent, const char *child)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->pagemap, &cur);
    if (rc)
        return rc;
    size_t nn = strlen(parent), n = 0, cap = 0;
    struct pgroup {
        uint64_t group;
        uint8_t *value;
        size_t len;
    } *list = NULL;
    MDB_val k = {nn + 1, (void *)parent}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size < nn + 1 || memcmp(kp, parent, nn) != 0 || kp[nn] != 0)
            break;
        if (k.mv_size != nn + 9) {
            rc = ss_corrupt(st, "snapshot '%s': a page-map key is %zu bytes, not %zu", parent, k.mv_size, nn + 9);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct pgroup *nl = realloc(list, cap * sizeof(*nl));
            if (!nl) {
                rc = ENOMEM;
                break;
            }
            list = nl;
        }
        list[n].group = ss_get_be(kp + nn + 1, 8);
        list[n].len = v.mv_size;
        list[n].value = malloc(v.mv_size);
        if (!list[n].value) {
            rc = ENOMEM;
            break;
        }
        memcpy(list[n].value, v.mv_data, v.mv_size);
        n++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    for (size_t i = 0; i < n; i++) {
        ss_group g;
        MDB_val gv = {list[i].len, list[i].value};
        uint8_t pk[SS_NAME_MAX + 9];
        MDB_val pkv = {ss_map_key(pk, parent, list[i].group), pk};
        uint64_t group;
        if (!rc)
            rc = ss_group_parse(st, parent, &pkv, &gv, &group, &g);
        if (!rc)
            rc = ss_fold_group(st, txn, child, group, &g);
        free(list[i].value);
    }
    free(list);
    return rc;
}

/* The names of parent's children, however many: each is folded into on a forced removal, none may be missed. */
typedef struct ss_children {
    char (*names)[SS_NAME_MAX];
    size_t count, cap;
} ss_children;

typedef struct ss_children_ctx {
    const char *parent;
    ss_children *c;
} ss_children_ctx;

static int ss_children_add(void *ctx, const ss_meta *m, char *err, size_t errlen)
{
    ss_children_ctx *x = ctx;
    ss_children *c = x->c;
    if (strcmp(m->parent, x->parent))
        return 0;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        void *names = realloc(c->names, cap * sizeof(*c->names));
        if (!names)
            return ss_error(err, errlen, "out of memory");
        c->names = names;
        c->cap = cap;
    }
    snprintf(c->names[c->count++], SS_NAME_MAX, "%s", m->name);
    return 0;
}

static int ss_children_of(ss_store *st, MDB_txn *txn, const char *parent, ss_children *c, char *err, size_t errlen)
{
    ss_children_ctx x = {parent, c};
    return ss_meta_walk(st, txn, ss_children_add, &x, err, errlen);
}

int ss_remove(ss_store *st, const char *name, int force, char *err, size_t errlen)
{
    st->why[0] = '\0';
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    /* Everything is read in the transaction that writes: the children found are the children changed. A loop in
     * the parents would make a child its own parent once name's parent is handed down. */
    ss_meta m;
    ss_children kids = {0};
    if (ss_meta_get(st, txn, name, &m, err, errlen) || ss_chain_check(st, txn, name, err, errlen) ||
        ss_children_of(st, txn, name, &kids, err, errlen)) {
        mdb_txn_abort(txn);
        free(kids.names);
        return -1;
    }
    if (kids.count && !force) {
        ss_error(err, errlen, "snapshot '%s' is the parent of '%s'%s; remove %s first, or use --force to fold its "
                 "pages into %s", name, kids.names[0], kids.count > 1 ? " and others" : "",
                 kids.count > 1 ? "them" : "it", kids.count > 1 ? "them" : "it");
        mdb_txn_abort(txn);
        free(kids.names);
        return -1;
    }
    for (size_t i = 0; !rc && i < kids.count; i++) {
        ss_meta cm;
        if (ss_meta_get(st, txn, kids.names[i], &cm, err, errlen)) {
            mdb_txn_abort(txn);
            free(kids.names);
            return -1;
        }
        rc = ss_fold_into(st, txn, name, cm.name);
        if (!rc) {
            snprintf(cm.parent, sizeof(cm.parent), "%s", m.parent);
            rc = ss_meta_put(st, txn, &cm);
        }
    }
    free(kids.names);
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
        return ss_error(err, errlen, "removing snapshot '%s' from %s: %s", name, st->path, ss_strerror(st, rc));
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

/* ---- Page spaces --------------------------------------------------------------------------------------- */

uint64_t ss_space_base(const char *unit, uint32_t instance)
{
    /* A hash of the unit's name and instance: stable across runs and configurations, so that an incremental
     * snapshot's pages land where its parent's are. The core refuses a save in which two units collide. */
    uint64_t h = XXH3_64bits(unit, strlen(unit)) ^ ((uint64_t)instance * 0x9e3779b97f4a7c15ull);
    return SS_SPACE_BASE + ((h & ((1ull << (62 - SS_SPACE_BITS)) - 1)) << SS_SPACE_BITS);
}

int ss_space_each(ss_store *st, const char *name, uint64_t first, uint64_t count, ss_page_fn fn, void *ctx,
                  uint64_t *recorded, char *err, size_t errlen)
{
    if (recorded)
        *recorded = 0;
    if (first < SS_SPACE_BASE || count > SS_SPACE_PAGES || first + count < first)
        return ss_error(err, errlen, "pages 0x%llx+0x%llx are not a unit's page space", (unsigned long long)first,
                        (unsigned long long)count);
    uint64_t *seen = calloc(count / 64 + 1, sizeof(uint64_t));
    if (!seen)
        return ss_error(err, errlen, "out of memory for a map of %llu pages", (unsigned long long)count);
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        free(seen);
        return ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
    }
    int result = ss_chain_check(st, txn, name, err, errlen);
    char cur_name[SS_NAME_MAX];
    snprintf(cur_name, sizeof(cur_name), "%s", name);
    uint64_t end = first + count;
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
        if ((rc = mdb_cursor_open(txn, st->pagemap, &cur))) {
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
            break;
        }
        size_t nn = strlen(cur_name);
        uint8_t mk[SS_NAME_MAX + 9];
        MDB_val k = {ss_map_key(mk, cur_name, first / SS_GROUP_PAGES), mk}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !result;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *kp = k.mv_data;
            if (k.mv_size < nn + 1 || memcmp(kp, cur_name, nn) != 0 || kp[nn] != 0)
                break;
            uint64_t group;
            ss_group g;
            if (ss_group_parse(st, cur_name, &k, &v, &group, &g)) {
                result = ss_error(err, errlen, "state database %s is corrupt: %s", st->path, st->why);
                break;
            }
            if (group * SS_GROUP_PAGES >= end)
                break;
            const uint8_t *e = g.entries;
            for (unsigned i = 0; i < SS_GROUP_PAGES && !result; i++) {
                if (!ss_bit(g.recorded, i))
                    continue;
                uint64_t index = group * SS_GROUP_PAGES + i;
                int zero = ss_bit(g.zero, i);
                const uint8_t *entry = zero ? NULL : e;
                if (!zero)
                    e += SS_ENTRY_SIZE;
                if (index < first || index >= end)
                    continue;
                uint64_t rel = index - first;
                if (seen[rel / 64] & (1ull << (rel % 64)))
                    continue; /* a newer snapshot of the chain recorded it */
                seen[rel / 64] |= 1ull << (rel % 64);
                if (recorded)
                    (*recorded)++;
                if (zero) {
                    result = fn(ctx, rel, NULL);
                    continue;
                }
                const uint8_t *page = ss_chunk_page(st, txn, ss_get_be(entry, 8), entry[8]);
                if (!page) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is missing from the database",
                                      cur_name, (unsigned long long)index);
                    break;
                }
                XXH128_hash_t h = ss_hash_page(page);
                if (ss_get_be(entry + 9, 8) != h.high64 || ss_get_be(entry + 17, 8) != h.low64) {
                    result = ss_error(err, errlen, "snapshot '%s': page 0x%llx is corrupt (its contents do not "
                                      "match their hash)", cur_name, (unsigned long long)index);
                    break;
                }
                result = fn(ctx, rel, page);
            }
        }
        mdb_cursor_close(cur);
        if (!result && rc && rc != MDB_NOTFOUND)
            result = ss_error(err, errlen, "state database %s: %s", st->path, mdb_strerror(rc));
        snprintf(cur_name, sizeof(cur_name), "%s", m.parent);
    }
    mdb_txn_abort(txn);
    free(seen);
    return result;
}
