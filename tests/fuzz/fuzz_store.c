/*
 * fuzz_store: the snapshot store (saved-state/store.c) over a real LMDB database, in a directory of its own under
 * /dev/shm (tmpfs: no disk writes), made afresh for each input and removed after it.
 *
 * The first byte's bit 0 chooses the mode; the rest is a sequence of operations, one byte each and their
 * arguments, taken until the input ends:
 *
 *   save   (bit 0 clear): save full or incremental snapshots (names from a set of eight, so they meet; pages of a
 *          48-page model chosen by the input, spread over several 2 MiB groups, with contents from a small set so
 *          that pages are shared; zero pages), save and abort, remove with and without force, reopen, open
 *          read-only. A model of what each snapshot holds says which operations must succeed, and after every
 *          removal, every reopen and at the end every snapshot the store lists must be the model's, read back
 *          whole with its page hashes verified and its pages the model's; a read-only open (listing, reading
 *          everything) leaves the file's bytes unchanged.
 *   raw    (bit 0 set): the input first builds a database as in save mode (a count byte, then that many
 *          operations), then writes records into its tables through LMDB directly (a count byte, then that many:
 *          any key and value, deletion, a byte changed, a value cut or grown, a metadata record with the real
 *          encoder so that its checksum holds), then reads it as `snapshot list/info` and a restore do: read-only
 *          first (the file must not change), then read-write removing with and without force. Only ASan, UBSan
 *          and the read-only promise are checked: the records are the fuzzer's.
 */
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz.h"
#include "ssm.h"
#include "store.h"

#define FS_SLOTS 48
#define FS_STRIDE 37 /* guest page of model slot i: i * FS_STRIDE, so slots fall in several page-map groups */
#define FS_MAX_INDEX ((uint64_t)FS_SLOTS * FS_STRIDE)
#define FS_NAMES 8
#define FS_MAX_OPS 24

static char fs_dir[256];
static char fs_data[300];
static uint8_t fs_pages[256][SS_PAGE_SIZE]; /* page contents by seed (seed 0: a zero page) */

typedef struct fs_snap {
    int exists;
    int parent; /* -1: a full snapshot */
    uint8_t view[FS_SLOTS]; /* the seed of each slot's page as a restore sees it (0: zero) */
    uint64_t mapped;
} fs_snap;

static fs_snap fs_model[FS_NAMES];

static const char *fs_name(unsigned i)
{
    static const char *const names[FS_NAMES] = {"a", "b", "base", "snap-1", "snap-2", "x.y", "z", "\xc3\xa9t\xc3\xa9"};
    return names[i % FS_NAMES];
}

static void fs_rmdir(void)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/data.mdb", fs_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", fs_dir);
    unlink(p);
}

static void fs_cleanup(void)
{
    fs_rmdir();
    rmdir(fs_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Made by each input's first open and removed at its end: libFuzzer ends a timed run without running atexit
     * handlers, and a directory left per run would fill /dev/shm. */
    snprintf(fs_dir, sizeof(fs_dir), "%s/vmm-fuzz-store-%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
    snprintf(fs_data, sizeof(fs_data), "%s/data.mdb", fs_dir);
    for (unsigned s = 1; s < 256; s++) {
        memset(fs_pages[s], (int)s, SS_PAGE_SIZE);
        fs_pages[s][s * 7 % SS_PAGE_SIZE] ^= 0x5a; /* not all one byte, still never zero */
    }
    return 0;
}

static uint8_t *fs_file(size_t *len)
{
    FILE *f = fopen(fs_data, "rb");
    FUZZ_CHECK(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    FUZZ_CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- Reading everything, as `snapshot list`, `snapshot info` and a restore do ------------------------------ */

typedef struct fs_list {
    char names[64][SS_NAME_MAX];
    unsigned n;
    int seen[FS_NAMES];
} fs_list;

static void fs_list_add(void *ctx, const ss_meta *m)
{
    fs_list *l = ctx;
    FUZZ_CHECK(memchr(m->name, 0, sizeof(m->name)) && memchr(m->parent, 0, sizeof(m->parent)));
    if (l->n < 64)
        snprintf(l->names[l->n++], SS_NAME_MAX, "%s", m->name);
}

typedef struct fs_read {
    uint8_t view[FS_SLOTS];
    int model; /* compare with the model's pages */
    uint64_t count;
} fs_read;

static int fs_page_cb(void *ctx, uint64_t index, const uint8_t *page)
{
    fs_read *r = ctx;
    r->count++;
    if (!r->model)
        return 0;
    FUZZ_CHECK(index % FS_STRIDE == 0 && index < FS_MAX_INDEX);
    unsigned slot = (unsigned)(index / FS_STRIDE);
    if (!page) {
        r->view[slot] = 0;
        return 0;
    }
    /* The seed is the page's first byte; the whole page must be that seed's. */
    FUZZ_CHECK(page[0] != 0 && memcmp(page, fs_pages[page[0]], SS_PAGE_SIZE) == 0);
    r->view[slot] = page[0];
    return 0;
}

static int fs_unit_cb(void *ctx, const char *unit, uint32_t instance, uint32_t version, const uint8_t *blob,
                      size_t len)
{
    (void)unit;
    (void)instance;
    (void)version;
    uint64_t *sum = ctx;
    for (size_t i = 0; i < len; i++)
        *sum += blob[i];
    return 0;
}

/* Read snapshot name through every reading entry point. 0 when all of it reads back with its hashes verified. */
static int fs_read_one(ss_store *st, const char *name, uint64_t max_index, fs_read *out)
{
    char err[512];
    ss_meta m;
    if (ss_get_meta(st, name, &m, err, sizeof(err)))
        return -1;
    uint64_t sum = 0;
    int bad = ss_load_units(st, name, fs_unit_cb, &sum, err, sizeof(err)) != 0;
    ss_reader *r = ss_reader_open(st, name, max_index, err, sizeof(err));
    if (!r)
        return -1;
    bad |= ss_reader_each(r, fs_page_cb, out, err, sizeof(err)) != 0;
    uint64_t idx;
    if (ss_reader_find(r, 0, max_index, &idx) == 1)
        FUZZ_CHECK(idx < max_index);
    const uint8_t *p;
    for (uint64_t i = 0; i < max_index && i < 4 * FS_STRIDE; i += FS_STRIDE) {
        int rc = ss_reader_page(r, i, &p, err, sizeof(err));
        bad |= rc < 0;
        FUZZ_CHECK(rc != 1 || p != NULL);
    }
    /* Copies of a few pages around recorded ones (a copy of the whole guest would cost most of an iteration). */
    static uint8_t dst[3 * SS_PAGE_SIZE];
    for (uint64_t i = FS_STRIDE; i < max_index && i <= 4 * FS_STRIDE; i += FS_STRIDE) {
        uint64_t count = max_index - (i - 1) < 3 ? max_index - (i - 1) : 3;
        int64_t copied = ss_reader_copy(r, i - 1, count, dst, err, sizeof(err));
        FUZZ_CHECK(copied <= (int64_t)count);
        bad |= copied < 0;
    }
    ss_reader_close(r);
    fs_read again = {.model = 0};
    bad |= ss_load_pages(st, name, max_index, fs_page_cb, &again, err, sizeof(err)) != 0;
    return bad ? -1 : 0;
}

/* ---- Save mode: operations checked against the model ------------------------------------------------------ */

static ss_store *fs_open(int mode)
{
    char err[512];
    ss_store *st = ss_open(fs_dir, mode, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "fuzz-store: %s\n", err);
        FUZZ_CHECK(st);
    }
    return st;
}

/* Every snapshot listed is the model's and reads back as the model says; every snapshot of the model is listed. */
static void fs_check_all(ss_store *st)
{
    char err[512];
    fs_list l = {.n = 0};
    FUZZ_CHECK(ss_list(st, fs_list_add, &l, err, sizeof(err)) == 0);
    unsigned want = 0;
    for (unsigned i = 0; i < FS_NAMES; i++)
        want += fs_model[i].exists;
    FUZZ_CHECK(l.n == want);
    for (unsigned j = 0; j < l.n; j++) {
        unsigned i = 0;
        while (i < FS_NAMES && strcmp(fs_name(i), l.names[j]))
            i++;
        FUZZ_CHECK(i < FS_NAMES && fs_model[i].exists);
        ss_meta m;
        FUZZ_CHECK(ss_get_meta(st, l.names[j], &m, err, sizeof(err)) == 0);
        FUZZ_CHECK(!strcmp(m.parent, fs_model[i].parent < 0 ? "" : fs_name((unsigned)fs_model[i].parent)));
        fs_read r = {.model = 1};
        if (fs_read_one(st, l.names[j], FS_MAX_INDEX, &r)) {
            fprintf(stderr, "fuzz-store: snapshot '%s' does not read back: %s\n", l.names[j], err);
            FUZZ_CHECK(0);
        }
        FUZZ_CHECK(memcmp(r.view, fs_model[i].view, FS_SLOTS) == 0);
    }
}

/* Reopen read-only, read everything, and check that the file did not change. */
static void fs_check_readonly(void)
{
    size_t n0, n1;
    uint8_t *before = fs_file(&n0);
    ss_store *st = fs_open(SS_OPEN_READONLY);
    fs_check_all(st);
    uint64_t pages, bytes;
    FUZZ_CHECK(ss_stats(st, &pages, &bytes) == 0);
    ss_close(st);
    uint8_t *after = fs_file(&n1);
    FUZZ_CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
}

static int fs_has_children(unsigned i)
{
    for (unsigned j = 0; j < FS_NAMES; j++)
        if (fs_model[j].exists && fs_model[j].parent == (int)i)
            return 1;
    return 0;
}

/* Save: a name, for an incremental one its parent, then a page count and (slot, seed) pairs. */
static void fs_op_save(ss_store *st, fuzz_cursor *c, int incremental, int abort_it)
{
    char err[512];
    unsigned ni = fuzz_take_u8(c) % FS_NAMES, pi = fuzz_take_u8(c) % FS_NAMES;
    unsigned npairs = fuzz_take_u8(c) % 24;
    int16_t seed[FS_SLOTS];
    for (unsigned i = 0; i < FS_SLOTS; i++)
        seed[i] = -1;
    for (unsigned i = 0; i < npairs; i++) {
        unsigned slot = fuzz_take_u8(c) % FS_SLOTS;
        seed[slot] = fuzz_take_u8(c);
    }
    ss_meta m = {0};
    snprintf(m.name, sizeof(m.name), "%s", fs_name(ni));
    snprintf(m.arch, sizeof(m.arch), "fuzz");
    snprintf(m.config, sizeof(m.config), "pages=%u", npairs);
    m.ram_size = FS_MAX_INDEX * SS_PAGE_SIZE;
    m.cpus = 1;
    if (incremental)
        snprintf(m.parent, sizeof(m.parent), "%s", fs_name(pi));
    int expect = !fs_model[ni].exists && (!incremental || fs_model[pi].exists);
    ss_save *s = ss_save_begin(st, &m, err, sizeof(err));
    FUZZ_CHECK((s != NULL) == expect);
    if (!s)
        return;
    uint8_t unit[16];
    memset(unit, (int)ni, sizeof(unit));
    FUZZ_CHECK(ss_save_unit(s, "fuzz", 0, 1, unit, sizeof(unit)) == 0);
    uint64_t mapped = 0;
    for (unsigned i = 0; i < FS_SLOTS; i++) {
        if (seed[i] < 0 || (seed[i] == 0 && !incremental))
            continue; /* a full snapshot skips zero pages, as vmm's save does */
        FUZZ_CHECK(ss_save_page(s, (uint64_t)i * FS_STRIDE, seed[i] ? fs_pages[seed[i]] : NULL) == 0);
        mapped++;
        if (i % 16 == 15)
            FUZZ_CHECK(ss_save_copy_pages(s) == 0);
    }
    FUZZ_CHECK(ss_save_seal(s, err, sizeof(err)) == 0);
    if (abort_it) {
        ss_save_abort(s);
        return;
    }
    if (ss_save_commit(s, err, sizeof(err))) {
        fprintf(stderr, "fuzz-store: %s\n", err);
        FUZZ_CHECK(0);
    }
    fs_snap *n = &fs_model[ni];
    n->exists = 1;
    n->parent = incremental ? (int)pi : -1;
    n->mapped = mapped;
    if (incremental)
        memcpy(n->view, fs_model[pi].view, FS_SLOTS);
    else
        memset(n->view, 0, FS_SLOTS);
    for (unsigned i = 0; i < FS_SLOTS; i++)
        if (seed[i] >= 0)
            n->view[i] = (uint8_t)seed[i];
}

static void fs_op_remove(ss_store *st, fuzz_cursor *c, int force)
{
    char err[512];
    unsigned ni = fuzz_take_u8(c) % FS_NAMES;
    int expect = fs_model[ni].exists && (force || !fs_has_children(ni));
    int rc = ss_remove(st, fs_name(ni), force, err, sizeof(err));
    if ((rc == 0) != expect)
        fprintf(stderr, "fuzz-store: removing '%s' (force %d): %s\n", fs_name(ni), force, rc ? err : "succeeded");
    FUZZ_CHECK((rc == 0) == expect);
    if (rc)
        return;
    /* Children keep what they restore to and take the removed snapshot's parent. */
    for (unsigned j = 0; j < FS_NAMES; j++)
        if (fs_model[j].exists && fs_model[j].parent == (int)ni)
            fs_model[j].parent = fs_model[ni].parent;
    fs_model[ni].exists = 0;
}

/* Run up to max operations in save mode; the store stays open (returned) unless it ends closed. */
static ss_store *fs_run_ops(ss_store *st, fuzz_cursor *c, unsigned max, int check)
{
    for (unsigned i = 0; i < max && c->pos < c->size; i++) {
        uint8_t op = fuzz_take_u8(c);
        switch (op % 8) {
        case 0: fs_op_save(st, c, 0, 0); break;
        case 1: fs_op_save(st, c, 1, 0); break;
        case 2: fs_op_remove(st, c, 0); break;
        case 3: fs_op_remove(st, c, 1); break;
        case 4:
            ss_close(st);
            st = fs_open(SS_OPEN_EXISTING);
            break;
        case 5:
            ss_close(st);
            fs_check_readonly();
            st = fs_open(SS_OPEN_EXISTING);
            break;
        case 6: fs_op_save(st, c, op & 8, 1); break;
        case 7: {
            char err[512];
            FUZZ_CHECK(ss_sync(st, err, sizeof(err)) == 0);
            break;
        }
        }
        /* After the operations that change what others read (a fold into children) or reopen the database; the
         * rest are checked at the end: checking everything after every operation costs most of an iteration. */
        if (check && (op % 8 == 3 || op % 8 == 4 || op % 8 == 2))
            fs_check_all(st);
    }
    return st;
}

/* ---- Raw mode: records the fuzzer writes ---------------------------------------------------------------- */

static const char *const fs_tables[] = {"meta", "units", "pagemap", "pages", "chunks", "chunkrefs"};
#define FS_NTABLES 6

/* The k-th record (modulo their count) of a table, in key order; 0 with the cursor on it. */
static int fs_nth(MDB_cursor *cur, unsigned k, MDB_val *key, MDB_val *val)
{
    size_t count = 0;
    int rc;
    for (rc = mdb_cursor_get(cur, key, val, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, key, val, MDB_NEXT))
        count++;
    if (!count)
        return -1;
    k %= count;
    rc = mdb_cursor_get(cur, key, val, MDB_FIRST);
    while (!rc && k--)
        rc = mdb_cursor_get(cur, key, val, MDB_NEXT);
    return rc;
}

static void fs_raw_edits(fuzz_cursor *c, unsigned nedits)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[FS_NTABLES];
    FUZZ_CHECK(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, 1u << 28);
    FUZZ_CHECK(mdb_env_open(env, fs_dir, MDB_NOSYNC, 0644) == 0);
    FUZZ_CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    for (unsigned t = 0; t < FS_NTABLES; t++)
        FUZZ_CHECK(mdb_dbi_open(txn, fs_tables[t], 0, &dbi[t]) == 0);
    static uint8_t buf[3 * SS_PAGE_SIZE * 16];
    for (unsigned e = 0; e < nedits && c->pos < c->size; e++) {
        uint8_t op = fuzz_take_u8(c);
        MDB_dbi d = dbi[(op >> 3) % FS_NTABLES];
        MDB_val k, v;
        MDB_cursor *cur;
        size_t n;
        const uint8_t *p;
        switch (op & 7) {
        case 0: { /* put any key and value */
            uint8_t kb[256];
            p = fuzz_take_bytes(c, fuzz_take_u8(c), &n);
            memcpy(kb, p, n);
            k = (MDB_val){n, kb};
            size_t vlen = fuzz_take_u32(c) % sizeof(buf);
            p = fuzz_take_bytes(c, vlen, &n);
            memset(buf, 0, vlen);
            memcpy(buf, p, n);
            v = (MDB_val){vlen, buf};
            if (k.mv_size)
                mdb_put(txn, d, &k, &v, 0);
            break;
        }
        case 1: /* delete a record */
        case 2: /* change one byte of a value */
        case 3: /* cut or grow a value */
        case 4: { /* change the last byte of a key */
            unsigned nth = fuzz_take_u8(c);
            uint32_t arg = fuzz_take_u32(c);
            FUZZ_CHECK(mdb_cursor_open(txn, d, &cur) == 0);
            if (fs_nth(cur, nth, &k, &v) == 0) {
                uint8_t kb[512];
                size_t kn = k.mv_size < sizeof(kb) ? k.mv_size : sizeof(kb);
                memcpy(kb, k.mv_data, kn);
                size_t vlen = v.mv_size < sizeof(buf) ? v.mv_size : sizeof(buf);
                memcpy(buf, v.mv_data, vlen);
                MDB_val nk = {kn, kb}, nv = {vlen, buf};
                if ((op & 7) == 2 && vlen)
                    buf[(arg >> 8) % vlen] ^= (uint8_t)(arg | 1);
                if ((op & 7) == 3) {
                    size_t want = (arg >> 8) % sizeof(buf);
                    if (want > vlen)
                        memset(buf + vlen, (int)(arg & 0xff), want - vlen);
                    nv.mv_size = want;
                }
                mdb_cursor_del(cur, 0);
                if ((op & 7) == 4 && kn)
                    kb[kn - 1] = (uint8_t)(kb[kn - 1] + (arg | 1));
                if ((op & 7) != 1)
                    mdb_put(txn, d, &nk, &nv, 0);
            }
            mdb_cursor_close(cur);
            break;
        }
        default: { /* a metadata record from the real encoder, so that its checksum holds */
            ss_meta m = {0};
            char *name = fuzz_take_str(c), *parent = fuzz_take_str(c);
            snprintf(m.name, sizeof(m.name), "%s", name);
            snprintf(m.parent, sizeof(m.parent), "%s", parent);
            free(name);
            free(parent);
            m.ram_size = fuzz_take_u64(c);
            m.cpus = fuzz_take_u8(c);
            m.pages_mapped = fuzz_take_u8(c);
            vmm_ssm w;
            ssm_writer_init(&w, "metadata");
            ssm_put_u64(&w, op & 8 ? 1 : fuzz_take_u8(c)); /* the format */
            ssm_put_str(&w, m.name);
            ssm_put_u64(&w, m.created);
            ssm_put_str(&w, m.vmm_version);
            ssm_put_str(&w, m.arch);
            ssm_put_u64(&w, op & 16 ? fuzz_take_u64(c) : 0); /* arch_abi */
            ssm_put_u64(&w, m.ram_size);
            ssm_put_u64(&w, op & 32 ? fuzz_take_u64(c) : m.cpus);
            ssm_put_str(&w, m.parent);
            ssm_put_str(&w, m.config);
            ssm_put_str(&w, m.host);
            ssm_put_u64(&w, m.pages_mapped);
            ssm_put_u64(&w, m.pages_new);
            ssm_put_u64(&w, m.units);
            if (ssm_writer_finish(&w) == 0 && m.name[0]) {
                k = (MDB_val){strlen(m.name), m.name};
                v = (MDB_val){w.len, w.buf};
                mdb_put(txn, dbi[0], &k, &v, 0);
            }
            free(w.buf);
            break;
        }
        }
    }
    FUZZ_CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

static void fs_raw_read(ss_store *st)
{
    char err[512];
    fs_list l = {.n = 0};
    ss_list(st, fs_list_add, &l, err, sizeof(err));
    for (unsigned j = 0; j < l.n; j++) {
        ss_meta m;
        uint64_t max = FS_MAX_INDEX;
        if (ss_get_meta(st, l.names[j], &m, err, sizeof(err)) == 0 && m.ram_size / SS_PAGE_SIZE < (1u << 16))
            max = m.ram_size / SS_PAGE_SIZE;
        fs_read r = {.model = 0};
        fs_read_one(st, l.names[j], max, &r);
    }
    uint64_t pages, bytes;
    ss_stats(st, &pages, &bytes);
}

static void fs_raw(fuzz_cursor *c)
{
    char err[512];
    ss_store *st = fs_open(SS_OPEN_CREATE);
    st = fs_run_ops(st, c, fuzz_take_u8(c) % FS_MAX_OPS, 0);
    ss_close(st);
    fs_raw_edits(c, fuzz_take_u8(c) % 32);
    /* Read-only: listing and reading everything leaves the file as it was. */
    size_t n0, n1;
    uint8_t *before = fs_file(&n0);
    st = ss_open(fs_dir, SS_OPEN_READONLY, err, sizeof(err));
    if (st) {
        fs_raw_read(st);
        ss_close(st);
    }
    uint8_t *after = fs_file(&n1);
    FUZZ_CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    /* Read-write: removals, then everything read again. */
    st = ss_open(fs_dir, SS_OPEN_EXISTING, err, sizeof(err));
    if (!st)
        return;
    while (c->pos < c->size) {
        uint8_t op = fuzz_take_u8(c);
        char *name = op & 2 ? fuzz_take_str(c) : NULL;
        ss_remove(st, name ? name : fs_name(op >> 2), op & 1, err, sizeof(err));
        free(name);
    }
    fs_raw_read(st);
    ss_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t mode = fuzz_take_u8(&c);
    fs_cleanup(); /* what a crashed run in a process of the same id left */
    memset(fs_model, 0, sizeof(fs_model));
    if (mode & 1) {
        fs_raw(&c);
    } else {
        ss_store *st = fs_open(SS_OPEN_CREATE);
        st = fs_run_ops(st, &c, FS_MAX_OPS, 1);
        fs_check_all(st);
        ss_close(st);
        fs_check_readonly();
    }
    fs_cleanup();
    return 0;
}
