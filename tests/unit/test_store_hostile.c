/* test_store_hostile: a snapshot database whose records were written by someone other than vmm (crafted here
 * through LMDB directly). Every field read from it is checked before it is used: a wrong record is a one-line error
 * naming the database, the snapshot and the record, never a crash (run under ASan in build-asan), never a save or a
 * restore that goes on with it. */
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ssm.h"
#include "store.h"

#define NPAGES 1024

typedef struct fixture {
    char dir[64];
    ss_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmm-test-hostile-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char err[256];
    f->st = ss_open(f->dir, 1, err, sizeof(err));
    if (!f->st)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ss_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Save pages (NULL = zero page) at the given indexes; 0, or -1 with the error of the step that failed. */
static int save_pages(ss_store *st, const char *name, const char *parent, const uint8_t *const *pages,
                      const uint64_t *which, int n, char *err, size_t errlen)
{
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.parent, sizeof(m.parent), "%s", parent ? parent : "");
    snprintf(m.arch, sizeof(m.arch), "test");
    m.ram_size = (uint64_t)NPAGES * SS_PAGE_SIZE;
    m.cpus = 1;
    ss_save *s = ss_save_begin(st, &m, err, errlen);
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (ss_save_page(s, which[i], pages ? pages[i] : NULL))
            break; /* commit reports it */
    return ss_save_commit(s, err, errlen);
}

static void save_ok(ss_store *st, const char *name, const char *parent, const uint8_t *const *pages,
                    const uint64_t *which, int n)
{
    char err[512] = "";
    if (save_pages(st, name, parent, pages, which, n, err, sizeof(err)))
        fail_msg("saving %s: %s", name, err);
}

/* ---- Writing records as someone else would -------------------------------------------------------------- */

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
} raw;

static void raw_begin(fixture *f, raw *r)
{
    ss_close(f->st);
    f->st = NULL;
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(r->env, 1ull << 30), 0);
    assert_int_equal(mdb_env_open(r->env, f->dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
}

static MDB_dbi raw_dbi(raw *r, const char *table)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(r->txn, table, 0, &dbi), 0);
    return dbi;
}

static void raw_put(raw *r, const char *table, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    assert_int_equal(mdb_put(r->txn, raw_dbi(r, table), &k, &v, 0), 0);
}

static void raw_end(fixture *f, raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
    char err[256];
    f->st = ss_open(f->dir, 0, err, sizeof(err));
    assert_non_null(f->st);
}

/* The one record of the pages table (the test saved one distinct page): its key and a copy of its value. */
static void raw_only_page(raw *r, uint8_t key[20], uint8_t val[17])
{
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(r->txn, raw_dbi(r, "pages"), &cur), 0);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    assert_int_equal(k.mv_size, 20);
    assert_int_equal(v.mv_size, 17);
    memcpy(key, k.mv_data, 20);
    memcpy(val, v.mv_data, 17);
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_NEXT), MDB_NOTFOUND);
    mdb_cursor_close(cur);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint8_t page_a[SS_PAGE_SIZE];

/* Snapshot "a" holds page_a (in chunk 1, slot 0); its page record is rewritten to name chunk/slot. */
static void craft_page_record(fixture *f, uint64_t chunk, uint8_t slot)
{
    memset(page_a, 0x42, sizeof(page_a));
    const uint8_t *pages[1] = {page_a};
    uint64_t which[1] = {0};
    save_ok(f->st, "a", NULL, pages, which, 1);
    raw r;
    raw_begin(f, &r);
    uint8_t key[20], val[17];
    raw_only_page(&r, key, val);
    put_be64(val, chunk);
    val[8] = slot;
    raw_put(&r, "pages", key, 20, val, 17);
    raw_end(f, &r);
}

/* A save that meets the page again must refuse, naming the database, the snapshot and the record. */
static void expect_save_refused(fixture *f, const char *what)
{
    const uint8_t *pages[1] = {page_a};
    uint64_t which[1] = {5};
    char err[512] = "";
    assert_int_equal(save_pages(f->st, "b", NULL, pages, which, 1, err, sizeof(err)), -1);
    print_message("%s\n", err);
    if (!strstr(err, f->dir) || !strstr(err, "'b'") || !strstr(err, what))
        fail_msg("the error does not name the database, the snapshot and '%s': %s", what, err);
    assert_null(strchr(err, '\n'));
    ss_meta m;
    assert_int_equal(ss_get_meta(f->st, "b", &m, err, sizeof(err)), -1); /* nothing was committed */
}

/* The chunk the next save fills is chunk 2: a slot beyond a chunk's 64 pages was an index into its 64 pointers. */
static void test_hostile_page_slot_beyond_chunk(void **state)
{
    fixture *f = *state;
    craft_page_record(f, 2, 200);
    expect_save_refused(f, "slot 200 of chunk 2");
}

/* A slot of the chunk being filled that the save has not filled: no page there (a NULL pointer before). */
static void test_hostile_page_slot_not_filled(void **state)
{
    fixture *f = *state;
    craft_page_record(f, 2, 5);
    expect_save_refused(f, "slot 5 of chunk 2");
}

/* An existing chunk, a slot past its end. */
static void test_hostile_page_slot_beyond_stored_chunk(void **state)
{
    fixture *f = *state;
    craft_page_record(f, 1, 9);
    expect_save_refused(f, "slot 9 of chunk 1");
}

/* A page record without references would wrap to 2^64 - 1 when a snapshot using it is removed. */
static void test_hostile_page_record_without_references(void **state)
{
    fixture *f = *state;
    memset(page_a, 0x42, sizeof(page_a));
    const uint8_t *pages[1] = {page_a};
    uint64_t which[1] = {0};
    save_ok(f->st, "a", NULL, pages, which, 1);
    raw r;
    raw_begin(f, &r);
    uint8_t key[20], val[17];
    raw_only_page(&r, key, val);
    memset(val + 9, 0, 8);
    raw_put(&r, "pages", key, 20, val, 17);
    raw_end(f, &r);
    char err[512] = "";
    assert_int_equal(ss_remove(f->st, "a", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "no references"));
    ss_meta m;
    assert_int_equal(ss_get_meta(f->st, "a", &m, err, sizeof(err)), 0); /* still there */
    expect_save_refused(f, "no references");
}

/* A page-map key of the snapshot that is not name + NUL + group number: the walk stopped at it before, and the
 * snapshot restored with the pages after it missing (zero), silently. */
static void test_hostile_page_map_key(void **state)
{
    fixture *f = *state;
    memset(page_a, 0x42, sizeof(page_a));
    const uint8_t *pages[1] = {page_a};
    uint64_t which[1] = {0};
    save_ok(f->st, "a", NULL, pages, which, 1);
    raw r;
    raw_begin(f, &r);
    static const uint8_t odd_key[] = {'a', 0, 0, 0, 0};
    static uint8_t group[128];
    raw_put(&r, "pagemap", odd_key, sizeof(odd_key), group, sizeof(group));
    raw_end(f, &r);
    char err[512] = "";
    assert_null(ss_reader_open(f->st, "a", NPAGES, err, sizeof(err)));
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "snapshot 'a': a page-map key is 5 bytes"));
}

/* A group number so large that group * 512 wraps around to a page inside the guest's memory. */
static void test_hostile_page_map_group_wraps(void **state)
{
    fixture *f = *state;
    save_ok(f->st, "a", NULL, NULL, NULL, 0);
    raw r;
    raw_begin(f, &r);
    uint8_t key[2 + 8] = {'a', 0};
    put_be64(key + 2, 1ull << 55); /* (1 << 55) * 512 == 2^64: page 0 once wrapped */
    static uint8_t group[128];
    group[0] = 1;
    group[64] = 1; /* a zero page: no entry needed */
    raw_put(&r, "pagemap", key, sizeof(key), group, sizeof(group));
    raw_end(f, &r);
    char err[512] = "";
    assert_null(ss_reader_open(f->st, "a", NPAGES, err, sizeof(err)));
    assert_non_null(strstr(err, "beyond any guest address"));
}

/* Metadata under one key naming another snapshot, or a snapshot its own parent. */
static void put_meta(raw *r, const char *key, const char *name, const char *parent)
{
    vmm_ssm w;
    ssm_writer_init(&w, "metadata");
    ssm_put_u64(&w, 1);
    ssm_put_str(&w, name);
    ssm_put_u64(&w, 0);
    ssm_put_str(&w, "test");
    ssm_put_str(&w, "test");
    ssm_put_u64(&w, 0);
    ssm_put_u64(&w, (uint64_t)NPAGES * SS_PAGE_SIZE);
    ssm_put_u64(&w, 1);
    ssm_put_str(&w, parent);
    ssm_put_str(&w, "");
    ssm_put_str(&w, "");
    ssm_put_u64(&w, 0);
    ssm_put_u64(&w, 0);
    ssm_put_u64(&w, 0);
    assert_int_equal(ssm_writer_finish(&w), 0);
    raw_put(r, "meta", key, strlen(key), w.buf, w.len);
    ssm_writer_free(&w);
}

static void test_hostile_metadata_names(void **state)
{
    fixture *f = *state;
    save_ok(f->st, "a", NULL, NULL, NULL, 0);
    raw r;
    raw_begin(f, &r);
    put_meta(&r, "a", "other", "");
    put_meta(&r, "self", "self", "self");
    raw_end(f, &r);
    char err[512] = "";
    ss_meta m;
    assert_int_equal(ss_get_meta(f->st, "a", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "snapshot 'a': its metadata names it 'other'"));
    assert_int_equal(ss_get_meta(f->st, "self", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "snapshot 'self': its parent 'self'"));
    assert_non_null(strstr(err, f->dir));
}

/* A parent loop (a <-> b): a forced removal of a would leave b its own parent. Refused, naming both, and nothing
 * changes; reading either names the loop. */
static void test_hostile_parent_loop(void **state)
{
    fixture *f = *state;
    save_ok(f->st, "a", NULL, NULL, NULL, 0);
    save_ok(f->st, "b", "a", NULL, NULL, 0);
    raw r;
    raw_begin(f, &r);
    put_meta(&r, "a", "a", "b");
    raw_end(f, &r);
    char err[512] = "";
    assert_int_equal(ss_remove(f->st, "a", 1, err, sizeof(err)), -1);
    print_message("%s\n", err);
    assert_non_null(strstr(err, f->dir));
    assert_non_null(strstr(err, "loops (a -> b -> a)"));
    ss_meta m;
    assert_int_equal(ss_get_meta(f->st, "b", &m, err, sizeof(err)), 0);
    assert_string_equal(m.parent, "a");
    assert_int_equal(ss_get_meta(f->st, "a", &m, err, sizeof(err)), 0);
    assert_null(ss_reader_open(f->st, "b", NPAGES, err, sizeof(err)));
    assert_non_null(strstr(err, "snapshot 'b': its parent chain loops (b -> a -> b)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_page_slot_beyond_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_page_slot_not_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_page_slot_beyond_stored_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_page_record_without_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_page_map_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_page_map_group_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_metadata_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_parent_loop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
