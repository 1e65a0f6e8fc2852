/* test_store: the LMDB snapshot store on real files in a temporary directory — pages deduplicated by content,
 * zero pages not stored, incremental chains resolved newest-first, pages copied out in bulk (data pages only),
 * parents protected or folded into children on forced removal, an aborted save leaving nothing, and corrupt or
 * truncated databases refused, never crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define NPAGES 16

typedef struct fixture {
    char dir[64];
    ss_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmm-test-store-XXXXXX");
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

static void fill(uint8_t *page, uint8_t value)
{
    memset(page, value, SS_PAGE_SIZE);
}

/* Save pages[i] (NULL = zero page) for i in [0, n). */
static void save(ss_store *st, const char *name, const char *parent, uint8_t (*pages)[SS_PAGE_SIZE], const int *which,
                 int n)
{
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.parent, sizeof(m.parent), "%s", parent ? parent : "");
    snprintf(m.arch, sizeof(m.arch), "test");
    char err[256];
    ss_save *s = ss_save_begin(st, &m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(ss_save_unit(s, "unit", 0, 1, "blob", 4), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ss_save_page(s, (uint64_t)which[i], pages ? pages[i] : NULL), 0);
    assert_int_equal(ss_save_commit(s, err, sizeof(err)), 0);
}

typedef struct image {
    uint8_t mem[NPAGES][SS_PAGE_SIZE];
    int touched[NPAGES];
} image;

static int load_page(void *ctx, uint64_t index, const uint8_t *page)
{
    image *im = ctx;
    if (page)
        memcpy(im->mem[index], page, SS_PAGE_SIZE);
    else
        memset(im->mem[index], 0, SS_PAGE_SIZE);
    im->touched[index]++;
    return 0;
}

static void load(ss_store *st, const char *name, image *im)
{
    char err[256];
    memset(im, 0, sizeof(*im));
    assert_int_equal(ss_load_pages(st, name, NPAGES, load_page, im, err, sizeof(err)), 0);
}

static void test_store_deduplicates_identical_pages(void **state)
{
    fixture *f = *state;
    static uint8_t pages[4][SS_PAGE_SIZE];
    fill(pages[0], 1);
    fill(pages[1], 1);
    fill(pages[2], 2);
    fill(pages[3], 1);
    int which[4] = {0, 1, 2, 3};
    save(f->st, "a", NULL, pages, which, 4);
    ss_meta m;
    char err[256];
    assert_int_equal(ss_get_meta(f->st, "a", &m, err, sizeof(err)), 0);
    assert_int_equal(m.pages_mapped, 4);
    assert_int_equal(m.pages_new, 2);
    save(f->st, "b", NULL, pages, which, 4); /* a second full snapshot of the same memory adds nothing */
    assert_int_equal(ss_get_meta(f->st, "b", &m, err, sizeof(err)), 0);
    assert_int_equal(m.pages_new, 0);
    uint64_t distinct, bytes;
    assert_int_equal(ss_stats(f->st, &distinct, &bytes), 0);
    assert_int_equal(distinct, 2);
    image im;
    load(f->st, "b", &im);
    assert_int_equal(im.mem[3][100], 1);
    assert_int_equal(im.mem[2][4095], 2);
}

static void test_store_incremental_chain_restores_each_point(void **state)
{
    fixture *f = *state;
    static uint8_t p[3][SS_PAGE_SIZE];
    fill(p[0], 0x10);
    fill(p[1], 0x11);
    fill(p[2], 0x12);
    int full[3] = {0, 1, 2};
    save(f->st, "s1", NULL, p, full, 3);
    static uint8_t q[1][SS_PAGE_SIZE];
    fill(q[0], 0x21);
    int one[1] = {1};
    save(f->st, "s2", "s1", q, one, 1);
    int zero[1] = {2};
    save(f->st, "s3", "s2", NULL, zero, 1); /* page 2 became zero */
    image im;
    load(f->st, "s1", &im);
    assert_int_equal(im.mem[1][0], 0x11);
    assert_int_equal(im.mem[2][0], 0x12);
    load(f->st, "s2", &im);
    assert_int_equal(im.mem[0][0], 0x10);
    assert_int_equal(im.mem[1][0], 0x21);
    assert_int_equal(im.mem[2][0], 0x12);
    load(f->st, "s3", &im);
    assert_int_equal(im.mem[1][0], 0x21);
    assert_int_equal(im.mem[2][0], 0);
    assert_int_equal(im.touched[2], 1); /* the newest entry wins and the parent's is not applied over it */
}

static void test_store_reader_copies_data_pages_only(void **state)
{
    fixture *f = *state;
    static uint8_t p[3][SS_PAGE_SIZE];
    fill(p[0], 0x10);
    fill(p[1], 0x11);
    fill(p[2], 0x12);
    int full[3] = {0, 1, 2};
    save(f->st, "s1", NULL, p, full, 3);
    static uint8_t q[1][SS_PAGE_SIZE];
    fill(q[0], 0x21);
    int one[1] = {1};
    save(f->st, "s2", "s1", q, one, 1);
    int two[1] = {2};
    save(f->st, "s3", "s2", NULL, two, 1); /* page 2 became zero */
    char err[256];
    ss_reader *r = ss_reader_open(f->st, "s3", NPAGES, err, sizeof(err));
    assert_non_null(r);
    static uint8_t mem[NPAGES][SS_PAGE_SIZE];
    memset(mem, 0xee, sizeof(mem));
    assert_int_equal(ss_reader_copy(r, 0, NPAGES, mem[0], err, sizeof(err)), 2);
    assert_int_equal(mem[0][4095], 0x10);
    assert_int_equal(mem[1][0], 0x21); /* the newest snapshot of the chain wins */
    assert_int_equal(mem[2][0], 0xee); /* zero pages and pages never recorded are not written */
    assert_int_equal(mem[3][0], 0xee);
    /* A window of the guest's pages lands at the start of the destination. */
    memset(mem, 0xee, sizeof(mem));
    assert_int_equal(ss_reader_copy(r, 1, 2, mem[0], err, sizeof(err)), 1);
    assert_int_equal(mem[0][0], 0x21);
    assert_int_equal(mem[1][0], 0xee);
    uint64_t at = 0;
    assert_int_equal(ss_reader_find(r, 2, NPAGES, &at), 1);
    assert_int_equal(at, 2); /* a recorded zero page counts */
    assert_int_equal(ss_reader_find(r, 3, NPAGES, &at), 0);
    ss_reader_close(r);
}

static void test_store_protects_parents_and_folds_on_force(void **state)
{
    fixture *f = *state;
    static uint8_t p[2][SS_PAGE_SIZE];
    fill(p[0], 0x31);
    fill(p[1], 0x32);
    int full[2] = {0, 1};
    save(f->st, "base", NULL, p, full, 2);
    static uint8_t q[1][SS_PAGE_SIZE];
    fill(q[0], 0x41);
    int one[1] = {1};
    save(f->st, "child", "base", q, one, 1);
    char err[256];
    assert_int_equal(ss_remove(f->st, "base", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "parent of 'child'"));
    assert_int_equal(ss_remove(f->st, "base", 1, err, sizeof(err)), 0);
    ss_meta m;
    assert_int_equal(ss_get_meta(f->st, "base", &m, err, sizeof(err)), -1);
    assert_int_equal(ss_get_meta(f->st, "child", &m, err, sizeof(err)), 0);
    assert_string_equal(m.parent, "");
    image im;
    load(f->st, "child", &im);
    assert_int_equal(im.mem[0][0], 0x31); /* folded in from the removed parent */
    assert_int_equal(im.mem[1][0], 0x41);
    assert_int_equal(ss_remove(f->st, "child", 0, err, sizeof(err)), 0);
    uint64_t distinct, bytes;
    assert_int_equal(ss_stats(f->st, &distinct, &bytes), 0);
    assert_int_equal(distinct, 0); /* every page released */
}

static void test_store_aborted_save_leaves_nothing(void **state)
{
    fixture *f = *state;
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "half");
    char err[256];
    ss_save *s = ss_save_begin(f->st, &m, err, sizeof(err));
    static uint8_t page[SS_PAGE_SIZE];
    fill(page, 7);
    assert_int_equal(ss_save_page(s, 0, page), 0);
    ss_save_abort(s);
    assert_int_equal(ss_get_meta(f->st, "half", &m, err, sizeof(err)), -1);
    uint64_t distinct, bytes;
    ss_stats(f->st, &distinct, &bytes);
    assert_int_equal(distinct, 0);
}

static void test_store_refuses_duplicate_and_bad_names_and_missing_parents(void **state)
{
    fixture *f = *state;
    save(f->st, "x", NULL, NULL, NULL, 0);
    ss_meta m;
    memset(&m, 0, sizeof(m));
    char err[256];
    snprintf(m.name, sizeof(m.name), "x");
    assert_null(ss_save_begin(f->st, &m, err, sizeof(err)));
    assert_non_null(strstr(err, "already exists"));
    snprintf(m.name, sizeof(m.name), "a/b");
    assert_null(ss_save_begin(f->st, &m, err, sizeof(err)));
    snprintf(m.name, sizeof(m.name), "y");
    snprintf(m.parent, sizeof(m.parent), "nope");
    assert_null(ss_save_begin(f->st, &m, err, sizeof(err)));
    assert_non_null(strstr(err, "no snapshot 'nope'"));
}

static void test_store_detects_corrupt_page_contents(void **state)
{
    fixture *f = *state;
    static uint8_t p[1][SS_PAGE_SIZE];
    fill(p[0], 0x5a);
    int one[1] = {3};
    save(f->st, "c", NULL, p, one, 1);
    ss_close(f->st);
    /* Flip one byte of the stored page inside data.mdb. */
    char path[128];
    snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    uint8_t *hit = memmem(buf, n, p[0], 64);
    assert_non_null(hit);
    hit[10] ^= 1;
    fseek(fp, (long)(hit - buf), SEEK_SET);
    fwrite(hit, 1, 64, fp);
    fclose(fp);
    char err[256];
    f->st = ss_open(f->dir, 0, err, sizeof(err));
    assert_non_null(f->st);
    image im;
    assert_int_equal(ss_load_pages(f->st, "c", NPAGES, load_page, &im, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "corrupt"));
    ss_reader *r = ss_reader_open(f->st, "c", NPAGES, err, sizeof(err));
    assert_non_null(r);
    err[0] = '\0';
    assert_int_equal(ss_reader_copy(r, 0, NPAGES, im.mem[0], err, sizeof(err)), -1);
    assert_non_null(strstr(err, "page 0x3 is corrupt"));
    ss_reader_close(r);
}

static void test_store_refuses_truncated_and_missing_databases(void **state)
{
    fixture *f = *state;
    static uint8_t p[8][SS_PAGE_SIZE];
    int which[8];
    for (int i = 0; i < 8; i++) {
        fill(p[i], (uint8_t)(0x60 + i));
        which[i] = i;
    }
    save(f->st, "t", NULL, p, which, 8);
    ss_close(f->st);
    f->st = NULL;
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    ss_store *st = ss_open(f->dir, 0, err, sizeof(err));
    assert_null(st);
    assert_non_null(strstr(err, "truncated"));
    assert_null(ss_open("/nonexistent/vmm-db", 0, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/vmm-db"));
    f->st = ss_open(f->dir, 1, err, sizeof(err)); /* for teardown; may fail on the damaged file */
    if (!f->st) {
        unlink(path);
        f->st = ss_open(f->dir, 1, err, sizeof(err));
    }
}

/* More children than any fixed table: a forced removal folds the parent into every one of them. */
static void test_store_force_remove_folds_into_every_child(void **state)
{
    fixture *f = *state;
    static uint8_t p[1][SS_PAGE_SIZE];
    fill(p[0], 0x51);
    int zero[1] = {0};
    save(f->st, "base", NULL, p, zero, 1);
    static uint8_t q[1][SS_PAGE_SIZE];
    int one[1] = {1};
    char name[16];
    for (int i = 0; i < 70; i++) {
        fill(q[0], (uint8_t)(0x80 + i));
        snprintf(name, sizeof(name), "kid%02d", i);
        save(f->st, name, "base", q, one, 1);
    }
    char err[256];
    assert_int_equal(ss_remove(f->st, "base", 1, err, sizeof(err)), 0);
    for (int i = 0; i < 70; i++) {
        snprintf(name, sizeof(name), "kid%02d", i);
        ss_meta m;
        assert_int_equal(ss_get_meta(f->st, name, &m, err, sizeof(err)), 0);
        assert_string_equal(m.parent, "");
        image im;
        memset(&im, 0, sizeof(im));
        if (ss_load_pages(f->st, name, NPAGES, load_page, &im, err, sizeof(err)))
            fail_msg("%s after its parent was removed: %s", name, err);
        assert_int_equal(im.mem[0][0], 0x51);
        assert_int_equal(im.mem[1][0], 0x80 + i);
    }
}

/* A child that recorded nothing in a group of its parent's (the usual incremental save) takes the whole group. */
static void test_store_force_remove_folds_groups_the_child_lacks(void **state)
{
    fixture *f = *state;
    static uint8_t p[2][SS_PAGE_SIZE];
    fill(p[0], 0x61);
    fill(p[1], 0x62);
    char err[256];
    ss_store *st = f->st;
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "base");
    ss_save *s = ss_save_begin(st, &m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(ss_save_page(s, 0, p[0]), 0);
    assert_int_equal(ss_save_page(s, 600, p[1]), 0); /* group 1 */
    assert_int_equal(ss_save_commit(s, err, sizeof(err)), 0);
    static uint8_t q[1][SS_PAGE_SIZE];
    fill(q[0], 0x71);
    int one[1] = {1};
    save(st, "child", "base", q, one, 1);
    if (ss_remove(st, "base", 1, err, sizeof(err)))
        fail_msg("ss_remove: %s", err);
    ss_reader *r = ss_reader_open(st, "child", 1024, err, sizeof(err));
    assert_non_null(r);
    const uint8_t *page = NULL;
    assert_int_equal(ss_reader_page(r, 600, &page, err, sizeof(err)), 1);
    assert_int_equal(page[0], 0x62);
    assert_int_equal(ss_reader_page(r, 0, &page, err, sizeof(err)), 1);
    assert_int_equal(page[0], 0x61);
    ss_reader_close(r);
}

/* Page spaces (a unit's page data, SDK 1.7): above guest RAM in the same page map; RAM readers do not see them,
 * ss_space_each resolves the chain newest first, contents are shared with RAM pages, and a forced removal folds a
 * parent's space pages into its child. */
typedef struct space_image {
    uint8_t first[8];
    int seen[8];
} space_image;

static int space_page(void *ctx, uint64_t index, const uint8_t *page)
{
    space_image *im = ctx;
    assert_true(index < 8);
    im->first[index] = page ? page[0] : 0;
    im->seen[index]++;
    return 0;
}

static void test_store_page_spaces_beside_ram(void **state)
{
    fixture *f = *state;
    uint64_t base = ss_space_base("disk", 7);
    assert_true(base >= SS_SPACE_BASE);
    assert_int_equal(base % SS_SPACE_PAGES, 0);
    assert_true(base != ss_space_base("disk", 8));
    static uint8_t p[4][SS_PAGE_SIZE];
    fill(p[0], 0x11); /* RAM page 0 */
    fill(p[1], 0x11); /* space page 0: the same content, stored once */
    fill(p[2], 0x22); /* space page 1 */
    fill(p[3], 0x33); /* space page 5 */
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "base");
    snprintf(m.arch, sizeof(m.arch), "test");
    char err[256];
    ss_save *s = ss_save_begin(f->st, &m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(ss_save_page(s, 0, p[0]), 0);
    assert_int_equal(ss_save_page(s, base + 0, p[1]), 0);
    assert_int_equal(ss_save_page(s, base + 1, p[2]), 0);
    assert_int_equal(ss_save_page(s, base + 5, p[3]), 0);
    assert_int_equal(ss_save_commit(s, err, sizeof(err)), 0);
    assert_int_equal(ss_get_meta(f->st, "base", &m, err, sizeof(err)), 0);
    assert_int_equal(m.pages_new, 3);
    image im;
    load(f->st, "base", &im); /* RAM of NPAGES pages: the space is not guest memory */
    assert_int_equal(im.mem[0][0], 0x11);
    assert_int_equal(im.touched[0], 1);

    /* The child changes space page 1 to zero and page 2 to 0x44; page 0 and 5 come from the parent. */
    static uint8_t q[SS_PAGE_SIZE];
    fill(q, 0x44);
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "child");
    snprintf(m.parent, sizeof(m.parent), "base");
    snprintf(m.arch, sizeof(m.arch), "test");
    s = ss_save_begin(f->st, &m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(ss_save_page(s, base + 1, NULL), 0);
    assert_int_equal(ss_save_page(s, base + 2, q), 0);
    assert_int_equal(ss_save_commit(s, err, sizeof(err)), 0);
    for (int pass = 0; pass < 2; pass++) {
        space_image si;
        memset(&si, 0, sizeof(si));
        uint64_t recorded = 0;
        assert_int_equal(ss_space_each(f->st, "child", base, 8, space_page, &si, &recorded, err, sizeof(err)), 0);
        assert_int_equal(recorded, 4);
        assert_int_equal(si.first[0], 0x11);
        assert_int_equal(si.seen[1], 1); /* the child's zero, not the parent's 0x22 */
        assert_int_equal(si.first[1], 0);
        assert_int_equal(si.first[2], 0x44);
        assert_int_equal(si.first[5], 0x33);
        assert_int_equal(si.seen[3] + si.seen[4] + si.seen[6] + si.seen[7], 0);
        /* The parent as it was. */
        memset(&si, 0, sizeof(si));
        if (pass == 0) {
            assert_int_equal(ss_space_each(f->st, "base", base, 8, space_page, &si, &recorded, err, sizeof(err)), 0);
            assert_int_equal(recorded, 3);
            assert_int_equal(si.first[1], 0x22);
            /* Fold the parent into the child: the child keeps every page of its space. */
            assert_int_equal(ss_remove(f->st, "base", 1, err, sizeof(err)), 0);
        }
    }
    /* Another unit's space holds nothing of this one's. */
    space_image none;
    memset(&none, 0, sizeof(none));
    uint64_t recorded = 1;
    assert_int_equal(ss_space_each(f->st, "child", ss_space_base("disk", 8), 8, space_page, &none, &recorded, err,
                                   sizeof(err)), 0);
    assert_int_equal(recorded, 0);
    assert_int_equal(ss_remove(f->st, "child", 0, err, sizeof(err)), 0);
    uint64_t distinct, bytes;
    assert_int_equal(ss_stats(f->st, &distinct, &bytes), 0);
    assert_int_equal(distinct, 0); /* space pages are released like RAM pages */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_deduplicates_identical_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_incremental_chain_restores_each_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reader_copies_data_pages_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_protects_parents_and_folds_on_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_aborted_save_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_duplicate_and_bad_names_and_missing_parents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_detects_corrupt_page_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_truncated_and_missing_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_force_remove_folds_into_every_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_force_remove_folds_groups_the_child_lacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_page_spaces_beside_ram, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
