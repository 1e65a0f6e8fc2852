/*
 * Unit tests for core/memmap.c, the guest-physical memory map: which regions memmap_add accepts and refuses
 * (size 0, wrap-around, alignment by kind, every shape of overlap) and what its error messages say, that the
 * array stays sorted whatever the insertion order, and that memmap_find / memmap_find_range (binary searches)
 * answer correctly at region edges, in gaps, outside every region and at the top of the 64-bit space.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "memmap.h"

#define PAGE ((uint64_t)MEMMAP_PAGE_SIZE)

static mem_region region(mem_kind kind, uint64_t gpa, uint64_t size, const char *name)
{
    mem_region r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.gpa = gpa;
    r.size = size;
    snprintf(r.name, sizeof(r.name), "%s", name);
    return r;
}

/* Add a region that must be accepted; returns its index. */
static int add_ok(mem_map *map, mem_kind kind, uint64_t gpa, uint64_t size, const char *name)
{
    char err[256] = "";
    mem_region r = region(kind, gpa, size, name);
    int at = memmap_add(map, &r, err, sizeof(err));
    if (at < 0)
        fail_msg("adding %s 0x%llx+0x%llx was refused: %s", name, (unsigned long long)gpa, (unsigned long long)size,
                 err);
    return at;
}

/* Add a region that must be refused, leaving the map unchanged; the message goes to err. */
static void add_refused(mem_map *map, mem_kind kind, uint64_t gpa, uint64_t size, const char *name, char *err,
                        size_t errlen)
{
    size_t before = map->count;
    mem_region r = region(kind, gpa, size, name);
    err[0] = '\0';
    int rc = memmap_add(map, &r, err, errlen);
    if (rc != -1)
        fail_msg("adding %s 0x%llx+0x%llx was accepted (returned %d)", name, (unsigned long long)gpa,
                 (unsigned long long)size, rc);
    assert_int_equal(map->count, before);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
}

static void assert_sorted_disjoint(const mem_map *map)
{
    for (size_t i = 1; i < map->count; i++) {
        const mem_region *a = &map->regions[i - 1], *b = &map->regions[i];
        assert_true(a->gpa + (a->size - 1) < b->gpa);
    }
}

static int setup_map(void **state)
{
    static mem_map map;
    memmap_init(&map);
    *state = &map;
    return 0;
}

static int teardown_map(void **state)
{
    memmap_free(*state);
    return 0;
}

/* ---- adding ------------------------------------------------------------------------------------------ */

static void test_memmap_init_is_empty(void **state)
{
    mem_map *map = *state;
    assert_int_equal(map->count, 0);
    assert_null(memmap_find(map, 0));
    assert_null(memmap_find(map, UINT64_MAX));
    assert_null(memmap_find_range(map, 0, 1));
}

static void test_memmap_adds_each_kind(void **state)
{
    mem_map *map = *state;
    assert_int_equal(add_ok(map, MEM_RAM, 0, 16 * PAGE, "ram"), 0);
    assert_int_equal(add_ok(map, MEM_ROM, 0xf0000, 16 * PAGE, "bios"), 1);
    assert_int_equal(add_ok(map, MEM_MMIO, 0xfee00000, PAGE, "lapic"), 2);
    assert_int_equal(add_ok(map, MEM_MMIO2, 0xfd000000, 4 * PAGE, "vram"), 2);
    assert_int_equal(map->count, 4);

    mem_region *r = memmap_find(map, 0xfd000000);
    assert_non_null(r);
    assert_int_equal(r->kind, MEM_MMIO2);
    assert_string_equal(r->name, "vram");
    assert_int_equal(r->size, 4 * PAGE);
    r = memmap_find(map, 0xf0000);
    assert_non_null(r);
    assert_int_equal(r->kind, MEM_ROM);
    assert_string_equal(r->name, "bios");
    r = memmap_find(map, 0xfee00fff);
    assert_non_null(r);
    assert_int_equal(r->kind, MEM_MMIO);
    r = memmap_find(map, 0x1234);
    assert_non_null(r);
    assert_int_equal(r->kind, MEM_RAM);
}

static void test_memmap_copies_all_fields(void **state)
{
    mem_map *map = *state;
    static uint8_t backing[PAGE];
    static const int owner_tag = 7;
    char err[256];
    mem_region r = region(MEM_ROM, 0x10000, PAGE, "shadow-rom");
    r.shadowed = 1;
    r.host = backing;
    r.owner = &owner_tag;
    r.slot = 5;
    assert_int_equal(memmap_add(map, &r, err, sizeof(err)), 0);
    r.gpa = 0; /* the map must hold a copy, not the caller's struct */
    mem_region *f = memmap_find(map, 0x10000);
    assert_non_null(f);
    assert_int_equal(f->gpa, 0x10000);
    assert_int_equal(f->shadowed, 1);
    assert_ptr_equal(f->host, backing);
    assert_ptr_equal(f->owner, &owner_tag);
    assert_int_equal(f->slot, 5);
    assert_string_equal(f->name, "shadow-rom");
}

static void test_memmap_kind_names(void **state)
{
    (void)state;
    assert_string_equal(memmap_kind_name(MEM_RAM), "RAM");
    assert_string_equal(memmap_kind_name(MEM_ROM), "ROM");
    assert_string_equal(memmap_kind_name(MEM_MMIO), "MMIO");
    assert_string_equal(memmap_kind_name(MEM_MMIO2), "MMIO2");
}

static void test_memmap_refuses_size_zero(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_refused(map, MEM_RAM, 0, 0, "empty-ram", err, sizeof(err));
    assert_non_null(strstr(err, "empty-ram"));
    assert_non_null(strstr(err, "size 0"));
    /* MMIO has no alignment rule, but size 0 is still refused. */
    add_refused(map, MEM_MMIO, 0x1000, 0, "empty-mmio", err, sizeof(err));
    assert_non_null(strstr(err, "empty-mmio"));
    assert_non_null(strstr(err, "size 0"));
    assert_non_null(strstr(err, "MMIO"));
}

static void test_memmap_refuses_wrap_around(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_refused(map, MEM_RAM, UINT64_MAX - PAGE + 1, 2 * PAGE, "wrapping-ram", err, sizeof(err));
    assert_non_null(strstr(err, "wrapping-ram"));
    assert_non_null(strstr(err, "wraps"));
    add_refused(map, MEM_MMIO, UINT64_MAX, 2, "wrapping-mmio", err, sizeof(err));
    assert_non_null(strstr(err, "wrapping-mmio"));
    assert_non_null(strstr(err, "wraps"));
    add_refused(map, MEM_MMIO, 2, UINT64_MAX, "one-byte-too-long", err, sizeof(err));
    assert_non_null(strstr(err, "wraps"));
    /* a wrapped region must not have been counted as overlapping something: the map is still empty */
    assert_int_equal(map->count, 0);
}

static void test_memmap_accepts_region_ending_at_top_of_address_space(void **state)
{
    mem_map *map = *state;
    add_ok(map, MEM_MMIO, UINT64_MAX - PAGE + 1, PAGE, "top-page");
    add_ok(map, MEM_MMIO, 0, UINT64_MAX - PAGE + 1, "everything-below");
    assert_int_equal(map->count, 2);
    assert_string_equal(memmap_find(map, UINT64_MAX)->name, "top-page");
    assert_string_equal(memmap_find(map, UINT64_MAX - PAGE)->name, "everything-below");
    assert_string_equal(memmap_find(map, 0)->name, "everything-below");
}

static void test_memmap_refuses_misaligned_ram_rom_mmio2(void **state)
{
    mem_map *map = *state;
    char err[256];
    static const mem_kind kinds[] = {MEM_RAM, MEM_ROM, MEM_MMIO2};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        /* misaligned start */
        add_refused(map, kinds[i], 0x100800, PAGE, "odd-start", err, sizeof(err));
        assert_non_null(strstr(err, "odd-start"));
        assert_non_null(strstr(err, "aligned"));
        assert_non_null(strstr(err, memmap_kind_name(kinds[i])));
        /* misaligned size */
        add_refused(map, kinds[i], 0x100000, PAGE + 1, "odd-size", err, sizeof(err));
        assert_non_null(strstr(err, "odd-size"));
        assert_non_null(strstr(err, "aligned"));
        /* off by one byte at the start */
        add_refused(map, kinds[i], 0x100001, PAGE, "odd-byte", err, sizeof(err));
        assert_non_null(strstr(err, "aligned"));
    }
    assert_int_equal(map->count, 0);
}

static void test_memmap_allows_byte_granular_mmio(void **state)
{
    mem_map *map = *state;
    add_ok(map, MEM_MMIO, 0x1001, 3, "tiny");
    add_ok(map, MEM_MMIO, 0x1004, 1, "one-byte");
    add_ok(map, MEM_MMIO, 0x1000, 1, "before");
    assert_int_equal(map->count, 3);
    assert_string_equal(memmap_find(map, 0x1000)->name, "before");
    assert_string_equal(memmap_find(map, 0x1001)->name, "tiny");
    assert_string_equal(memmap_find(map, 0x1003)->name, "tiny");
    assert_string_equal(memmap_find(map, 0x1004)->name, "one-byte");
    assert_null(memmap_find(map, 0x1005));
    assert_null(memmap_find(map, 0xfff));
}

/* ---- overlaps ---------------------------------------------------------------------------------------- */

/* Map with one RAM region "base" at [0x10000, 0x20000). */
static void add_base(mem_map *map)
{
    add_ok(map, MEM_RAM, 0x10000, 0x10000, "base");
}

static void assert_overlap_message(const char *err, const char *name)
{
    assert_non_null(strstr(err, name));
    assert_non_null(strstr(err, "overlaps"));
    assert_non_null(strstr(err, "'base'"));
}

static void test_memmap_refuses_exact_overlap(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    add_refused(map, MEM_RAM, 0x10000, 0x10000, "same", err, sizeof(err));
    assert_overlap_message(err, "same");
    add_refused(map, MEM_MMIO, 0x10000, 0x10000, "same-mmio", err, sizeof(err));
    assert_overlap_message(err, "same-mmio");
}

static void test_memmap_refuses_partial_overlap_at_start(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    /* [0xf000, 0x11000) covers base's first page */
    add_refused(map, MEM_RAM, 0xf000, 0x2000, "low-side", err, sizeof(err));
    assert_overlap_message(err, "low-side");
    /* MMIO touching only base's first byte */
    add_refused(map, MEM_MMIO, 0xffff, 2, "low-byte", err, sizeof(err));
    assert_overlap_message(err, "low-byte");
}

static void test_memmap_refuses_partial_overlap_at_end(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    add_refused(map, MEM_RAM, 0x1f000, 0x2000, "high-side", err, sizeof(err));
    assert_overlap_message(err, "high-side");
    /* MMIO touching only base's last byte */
    add_refused(map, MEM_MMIO, 0x1ffff, 1, "high-byte", err, sizeof(err));
    assert_overlap_message(err, "high-byte");
}

static void test_memmap_refuses_region_inside_existing(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    add_refused(map, MEM_MMIO2, 0x14000, 0x1000, "inside", err, sizeof(err));
    assert_overlap_message(err, "inside");
}

static void test_memmap_refuses_region_containing_existing(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    add_refused(map, MEM_RAM, 0, 0x100000, "around", err, sizeof(err));
    assert_overlap_message(err, "around");
}

static void test_memmap_refuses_region_spanning_gap_between_two(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_ok(map, MEM_RAM, 0x0, 0x1000, "low");
    add_ok(map, MEM_RAM, 0x3000, 0x1000, "high");
    /* fits the gap on the left but runs into "high" */
    add_refused(map, MEM_MMIO, 0x1000, 0x2001, "runs-into-high", err, sizeof(err));
    assert_non_null(strstr(err, "'high'"));
    add_ok(map, MEM_MMIO, 0x1000, 0x2000, "exact-gap");
    assert_int_equal(map->count, 3);
    assert_sorted_disjoint(map);
}

static void test_memmap_accepts_adjacent_regions(void **state)
{
    mem_map *map = *state;
    add_base(map);
    add_ok(map, MEM_RAM, 0xf000, 0x1000, "just-below");
    add_ok(map, MEM_ROM, 0x20000, 0x1000, "just-above");
    add_ok(map, MEM_MMIO, 0xefff, 1, "byte-below");
    add_ok(map, MEM_MMIO, 0x21000, 1, "byte-above");
    assert_int_equal(map->count, 5);
    assert_sorted_disjoint(map);
    assert_string_equal(memmap_find(map, 0xefff)->name, "byte-below");
    assert_string_equal(memmap_find(map, 0xf000)->name, "just-below");
    assert_string_equal(memmap_find(map, 0xffff)->name, "just-below");
    assert_string_equal(memmap_find(map, 0x10000)->name, "base");
    assert_string_equal(memmap_find(map, 0x1ffff)->name, "base");
    assert_string_equal(memmap_find(map, 0x20000)->name, "just-above");
    assert_string_equal(memmap_find(map, 0x20fff)->name, "just-above");
    assert_string_equal(memmap_find(map, 0x21000)->name, "byte-above");
}

static void test_memmap_overlap_message_names_both_regions_and_kinds(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_ok(map, MEM_MMIO2, 0x40000, 0x4000, "framebuffer");
    add_refused(map, MEM_ROM, 0x42000, 0x4000, "option-rom", err, sizeof(err));
    assert_non_null(strstr(err, "ROM region 'option-rom'"));
    assert_non_null(strstr(err, "MMIO2 region 'framebuffer'"));
    assert_non_null(strstr(err, "0x42000"));
    assert_non_null(strstr(err, "0x40000"));
}

static void test_memmap_refused_add_leaves_lookup_unchanged(void **state)
{
    mem_map *map = *state;
    char err[256];
    add_base(map);
    add_refused(map, MEM_ROM, 0x18000, 0x10000, "late", err, sizeof(err));
    assert_string_equal(memmap_find(map, 0x18000)->name, "base");
    assert_null(memmap_find(map, 0x20000));
    assert_null(memmap_find(map, 0x27fff));
}

static void test_memmap_truncates_long_message_safely(void **state)
{
    mem_map *map = *state;
    char err[16];
    memset(err, 'x', sizeof(err));
    mem_region r = region(MEM_RAM, 0, 0, "a-rather-long-region-name");
    assert_int_equal(memmap_add(map, &r, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* ---- lookups ----------------------------------------------------------------------------------------- */

/* Three regions with gaps: [0x1000,0x3000) a, [0x5000,0x6000) b, [0x10000,0x20000) c. */
static void add_three(mem_map *map)
{
    add_ok(map, MEM_RAM, 0x10000, 0x10000, "c");
    add_ok(map, MEM_RAM, 0x1000, 0x2000, "a");
    add_ok(map, MEM_MMIO, 0x5000, 0x1000, "b");
}

static void test_memmap_find_first_and_last_byte(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_string_equal(memmap_find(map, 0x1000)->name, "a");
    assert_string_equal(memmap_find(map, 0x2fff)->name, "a");
    assert_string_equal(memmap_find(map, 0x5000)->name, "b");
    assert_string_equal(memmap_find(map, 0x5fff)->name, "b");
    assert_string_equal(memmap_find(map, 0x10000)->name, "c");
    assert_string_equal(memmap_find(map, 0x1ffff)->name, "c");
}

static void test_memmap_find_returns_null_in_gaps(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_null(memmap_find(map, 0x3000));
    assert_null(memmap_find(map, 0x4fff));
    assert_null(memmap_find(map, 0x6000));
    assert_null(memmap_find(map, 0xffff));
}

static void test_memmap_find_returns_null_before_and_after_all(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_null(memmap_find(map, 0));
    assert_null(memmap_find(map, 0xfff));
    assert_null(memmap_find(map, 0x20000));
    assert_null(memmap_find(map, UINT64_MAX));
}

static void test_memmap_find_returns_pointer_into_map(void **state)
{
    mem_map *map = *state;
    add_three(map);
    mem_region *r = memmap_find(map, 0x5800);
    assert_ptr_equal(r, &map->regions[1]);
    r->rom_writes = 3; /* callers update counters through the pointer */
    assert_int_equal(map->regions[1].rom_writes, 3);
}

static void test_memmap_find_range_inside_one_region(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_string_equal(memmap_find_range(map, 0x1000, 0x2000)->name, "a"); /* the whole region */
    assert_string_equal(memmap_find_range(map, 0x1800, 8)->name, "a");
    assert_string_equal(memmap_find_range(map, 0x2fff, 1)->name, "a");    /* last byte */
    assert_string_equal(memmap_find_range(map, 0x1ff00, 0x100)->name, "c"); /* ends on the last byte */
}

static void test_memmap_find_range_past_region_end_returns_null(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_null(memmap_find_range(map, 0x1000, 0x2001));
    assert_null(memmap_find_range(map, 0x2fff, 2));
    assert_null(memmap_find_range(map, 0x0fff, 2)); /* starts in the gap before a */
    assert_null(memmap_find_range(map, 0x3000, 1));
}

static void test_memmap_find_range_spanning_two_adjacent_regions_returns_null(void **state)
{
    mem_map *map = *state;
    add_ok(map, MEM_RAM, 0x0, 0x1000, "first");
    add_ok(map, MEM_RAM, 0x1000, 0x1000, "second");
    assert_null(memmap_find_range(map, 0xff8, 16));
    assert_null(memmap_find_range(map, 0x0, 0x2000));
    assert_string_equal(memmap_find_range(map, 0xff8, 8)->name, "first");
    assert_string_equal(memmap_find_range(map, 0x1000, 8)->name, "second");
}

static void test_memmap_find_range_len_zero_returns_null(void **state)
{
    mem_map *map = *state;
    add_three(map);
    assert_null(memmap_find_range(map, 0x1000, 0));
    assert_null(memmap_find_range(map, 0x1800, 0));
}

static void test_memmap_find_range_overflow_returns_null(void **state)
{
    mem_map *map = *state;
    add_ok(map, MEM_RAM, 0, 0x10000, "low");
    add_ok(map, MEM_MMIO, UINT64_MAX - 0xfff, 0x1000, "top");
    /* gpa + len wraps past 2^64 back into "low": must not match anything */
    assert_null(memmap_find_range(map, UINT64_MAX - 0xfff, 0x2000));
    assert_null(memmap_find_range(map, UINT64_MAX, 2));
    assert_null(memmap_find_range(map, 0x8000, UINT64_MAX));
    assert_null(memmap_find_range(map, 1, UINT64_MAX));
    /* reaching exactly the last byte of the address space is fine */
    assert_string_equal(memmap_find_range(map, UINT64_MAX - 0xfff, 0x1000)->name, "top");
    assert_string_equal(memmap_find_range(map, UINT64_MAX, 1)->name, "top");
}

/* ---- ordering and scale ------------------------------------------------------------------------------ */

static void test_memmap_out_of_order_insertion_keeps_array_sorted(void **state)
{
    mem_map *map = *state;
    assert_int_equal(add_ok(map, MEM_RAM, 0x50000, PAGE, "e"), 0);
    assert_int_equal(add_ok(map, MEM_RAM, 0x10000, PAGE, "a"), 0);
    assert_int_equal(add_ok(map, MEM_RAM, 0x30000, PAGE, "c"), 1);
    assert_int_equal(add_ok(map, MEM_RAM, 0x60000, PAGE, "f"), 3);
    assert_int_equal(add_ok(map, MEM_RAM, 0x20000, PAGE, "b"), 1);
    assert_int_equal(add_ok(map, MEM_RAM, 0x40000, PAGE, "d"), 3);
    static const char *const order[] = {"a", "b", "c", "d", "e", "f"};
    assert_int_equal(map->count, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(map->regions[i].name, order[i]);
        assert_int_equal(map->regions[i].gpa, 0x10000 * (i + 1));
    }
    assert_sorted_disjoint(map);
}

#define MANY 1000

static void test_memmap_many_regions_are_found(void **state)
{
    mem_map *map = *state;
    char name[48];
    /* Region i is [i*3 pages, i*3 pages + (i%2+1) pages), inserted in a scrambled order (7919 is prime, so
     * i*7919 % MANY visits every index once); a gap of at least one page follows each. */
    for (size_t k = 0; k < MANY; k++) {
        size_t i = (k * 7919) % MANY;
        snprintf(name, sizeof(name), "r%zu", i);
        add_ok(map, i % 3 ? MEM_RAM : MEM_MMIO2, i * 3 * PAGE, (i % 2 + 1) * PAGE, name);
    }
    assert_int_equal(map->count, MANY);
    assert_true(map->cap >= MANY);
    assert_sorted_disjoint(map);
    for (size_t i = 0; i < MANY; i++) {
        uint64_t start = i * 3 * PAGE, size = (i % 2 + 1) * PAGE;
        snprintf(name, sizeof(name), "r%zu", i);
        mem_region *r = memmap_find(map, start);
        assert_non_null(r);
        assert_string_equal(r->name, name);
        assert_ptr_equal(r, &map->regions[i]);
        assert_ptr_equal(memmap_find(map, start + size - 1), r);
        assert_null(memmap_find(map, start + size)); /* the gap after it */
        assert_null(memmap_find(map, start + 3 * PAGE - 1));
        assert_ptr_equal(memmap_find_range(map, start, size), r);
        assert_null(memmap_find_range(map, start, size + 1));
    }
    assert_null(memmap_find(map, MANY * 3 * PAGE));
    /* every one of them is refused a second time */
    char err[256];
    for (size_t i = 0; i < MANY; i += 97) {
        snprintf(name, sizeof(name), "again%zu", i);
        add_refused(map, MEM_RAM, i * 3 * PAGE, PAGE, name, err, sizeof(err));
        snprintf(name, sizeof(name), "'r%zu'", i);
        assert_non_null(strstr(err, name));
    }
}

static void test_memmap_free_resets_map(void **state)
{
    mem_map *map = *state;
    add_three(map);
    memmap_free(map);
    assert_null(map->regions);
    assert_int_equal(map->count, 0);
    assert_int_equal(map->cap, 0);
    assert_null(memmap_find(map, 0x1000));
    /* usable again after free */
    add_ok(map, MEM_RAM, 0x1000, PAGE, "again");
    assert_string_equal(memmap_find(map, 0x1000)->name, "again");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_map, teardown_map)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_memmap_init_is_empty),
        T(test_memmap_adds_each_kind),
        T(test_memmap_copies_all_fields),
        T(test_memmap_kind_names),
        T(test_memmap_refuses_size_zero),
        T(test_memmap_refuses_wrap_around),
        T(test_memmap_accepts_region_ending_at_top_of_address_space),
        T(test_memmap_refuses_misaligned_ram_rom_mmio2),
        T(test_memmap_allows_byte_granular_mmio),
        T(test_memmap_refuses_exact_overlap),
        T(test_memmap_refuses_partial_overlap_at_start),
        T(test_memmap_refuses_partial_overlap_at_end),
        T(test_memmap_refuses_region_inside_existing),
        T(test_memmap_refuses_region_containing_existing),
        T(test_memmap_refuses_region_spanning_gap_between_two),
        T(test_memmap_accepts_adjacent_regions),
        T(test_memmap_overlap_message_names_both_regions_and_kinds),
        T(test_memmap_refused_add_leaves_lookup_unchanged),
        T(test_memmap_truncates_long_message_safely),
        T(test_memmap_find_first_and_last_byte),
        T(test_memmap_find_returns_null_in_gaps),
        T(test_memmap_find_returns_null_before_and_after_all),
        T(test_memmap_find_returns_pointer_into_map),
        T(test_memmap_find_range_inside_one_region),
        T(test_memmap_find_range_past_region_end_returns_null),
        T(test_memmap_find_range_spanning_two_adjacent_regions_returns_null),
        T(test_memmap_find_range_len_zero_returns_null),
        T(test_memmap_find_range_overflow_returns_null),
        T(test_memmap_out_of_order_insertion_keeps_array_sorted),
        T(test_memmap_many_regions_are_found),
        T(test_memmap_free_resets_map),
    };
    return cmocka_run_group_tests_name("memmap", tests, NULL, NULL);
}
