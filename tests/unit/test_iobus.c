/*
 * Unit tests for core/iobus.c, the port-I/O and MMIO range dispatch: which ranges iobus_register accepts
 * (adjacent ranges, the edges of the 64 KiB port space and of the 64-bit MMIO space) and refuses (empty,
 * wrapping, every shape of overlap) with a message naming the owner and the bus, that ranges stay sorted
 * whatever the registration order, and that iobus_find returns the owning range at its edges, NULL in gaps and
 * outside every range, with the callbacks and owner it was registered with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "iobus.h"

/* Distinct fake owners: iobus never dereferences them. */
static char owner_tags[8];
#define OWNER(i) ((vmm_instance *)(void *)&owner_tags[(i)])

static uint64_t rd_a(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)size;
    return 0xa0 + offset;
}

static void wr_a(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    (void)state;
    (void)offset;
    (void)size;
    (void)val;
}

static io_range range(uint64_t base, uint64_t size, vmm_instance *owner)
{
    io_range r;
    memset(&r, 0, sizeof(r));
    r.base = base;
    r.size = size;
    r.owner = owner;
    return r;
}

static void reg_ok(iobus *bus, uint64_t base, uint64_t size, vmm_instance *owner)
{
    char err[256] = "";
    io_range r = range(base, size, owner);
    if (iobus_register(bus, &r, "dev", err, sizeof(err)) != 0)
        fail_msg("registering 0x%llx+0x%llx was refused: %s", (unsigned long long)base, (unsigned long long)size,
                 err);
}

/* Register a range that must be refused without changing the bus; the message goes to err. */
static void reg_refused(iobus *bus, uint64_t base, uint64_t size, const char *owner_name, char *err, size_t errlen)
{
    size_t before = bus->count;
    io_range r = range(base, size, OWNER(7));
    err[0] = '\0';
    if (iobus_register(bus, &r, owner_name, err, errlen) != -1)
        fail_msg("registering 0x%llx+0x%llx was accepted", (unsigned long long)base, (unsigned long long)size);
    assert_int_equal(bus->count, before);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, owner_name));
    assert_non_null(strstr(err, bus->name));
}

static void assert_sorted_disjoint(const iobus *bus)
{
    for (size_t i = 1; i < bus->count; i++) {
        const io_range *a = &bus->ranges[i - 1], *b = &bus->ranges[i];
        assert_true(a->base + (a->size - 1) < b->base);
    }
}

static int setup_port_bus(void **state)
{
    static iobus bus;
    iobus_init(&bus, "port");
    *state = &bus;
    return 0;
}

static int setup_mmio_bus(void **state)
{
    static iobus bus;
    iobus_init(&bus, "MMIO");
    *state = &bus;
    return 0;
}

static int teardown_bus(void **state)
{
    iobus_free(*state);
    return 0;
}

/* ---- registration ------------------------------------------------------------------------------------ */

static void test_iobus_init_is_empty(void **state)
{
    iobus *bus = *state;
    assert_string_equal(bus->name, "port");
    assert_int_equal(bus->count, 0);
    assert_null(iobus_find(bus, 0));
    assert_null(iobus_find(bus, 0xffff));
}

static void test_iobus_register_keeps_callbacks_and_owner(void **state)
{
    iobus *bus = *state;
    char err[256];
    io_range r = range(0x3f8, 8, OWNER(1));
    r.rd = rd_a;
    r.wr = wr_a;
    assert_int_equal(iobus_register(bus, &r, "uart16550", err, sizeof(err)), 0);
    r.base = 0; /* the bus must hold a copy */
    const io_range *f = iobus_find(bus, 0x3fd);
    assert_non_null(f);
    assert_int_equal(f->base, 0x3f8);
    assert_int_equal(f->size, 8);
    assert_ptr_equal(f->owner, OWNER(1));
    assert_true(f->rd == rd_a);
    assert_true(f->wr == wr_a);
    assert_int_equal(f->rd(NULL, 0x3fd - f->base, 1), 0xa5);
}

static void test_iobus_refuses_empty_range(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_refused(bus, 0x60, 0, "kbd", err, sizeof(err));
    assert_non_null(strstr(err, "empty"));
    reg_refused(bus, 0, 0, "kbd", err, sizeof(err)); /* at 0, base + size - 1 does not wrap below base */
    assert_non_null(strstr(err, "empty"));
    assert_null(iobus_find(bus, 0x60));
}

static void test_iobus_refuses_wrapping_range(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_refused(bus, UINT64_MAX, 2, "wrapper", err, sizeof(err));
    assert_non_null(strstr(err, "wraps"));
    reg_refused(bus, 2, UINT64_MAX, "wrapper", err, sizeof(err));
    assert_non_null(strstr(err, "wraps"));
    assert_int_equal(bus->count, 0);
}

static void test_iobus_accepts_last_port(void **state)
{
    iobus *bus = *state;
    reg_ok(bus, 0xffff, 1, OWNER(1));
    assert_ptr_equal(iobus_find(bus, 0xffff)->owner, OWNER(1));
    assert_null(iobus_find(bus, 0xfffe));
    assert_null(iobus_find(bus, 0x10000));
    assert_null(iobus_find(bus, 0));
}

static void test_iobus_accepts_whole_port_space(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_ok(bus, 0, 0x10000, OWNER(2));
    assert_ptr_equal(iobus_find(bus, 0)->owner, OWNER(2));
    assert_ptr_equal(iobus_find(bus, 0x8000)->owner, OWNER(2));
    assert_ptr_equal(iobus_find(bus, 0xffff)->owner, OWNER(2));
    assert_null(iobus_find(bus, 0x10000));
    /* and then nothing else fits at either end */
    reg_refused(bus, 0xffff, 1, "late", err, sizeof(err));
    reg_refused(bus, 0, 1, "late", err, sizeof(err));
}

static void test_iobus_ports_at_both_ends_of_port_space(void **state)
{
    iobus *bus = *state;
    reg_ok(bus, 0xfff0, 0x10, OWNER(1));
    reg_ok(bus, 0, 1, OWNER(2));
    reg_ok(bus, 1, 0xffef, OWNER(3)); /* everything in between, adjacent to both */
    assert_int_equal(bus->count, 3);
    assert_sorted_disjoint(bus);
    assert_ptr_equal(iobus_find(bus, 0)->owner, OWNER(2));
    assert_ptr_equal(iobus_find(bus, 1)->owner, OWNER(3));
    assert_ptr_equal(iobus_find(bus, 0xffef)->owner, OWNER(3));
    assert_ptr_equal(iobus_find(bus, 0xfff0)->owner, OWNER(1));
    assert_ptr_equal(iobus_find(bus, 0xffff)->owner, OWNER(1));
}

static void test_iobus_mmio_range_ending_at_top_of_address_space(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_ok(bus, UINT64_MAX, 1, OWNER(1));
    reg_ok(bus, UINT64_MAX - 0xfff, 0xfff, OWNER(2));
    assert_ptr_equal(iobus_find(bus, UINT64_MAX)->owner, OWNER(1));
    assert_ptr_equal(iobus_find(bus, UINT64_MAX - 1)->owner, OWNER(2));
    assert_ptr_equal(iobus_find(bus, UINT64_MAX - 0xfff)->owner, OWNER(2));
    assert_null(iobus_find(bus, UINT64_MAX - 0x1000));
    reg_refused(bus, UINT64_MAX - 0x1fff, 0x1001, "hpet", err, sizeof(err));
    assert_non_null(strstr(err, "overlaps"));
}

/* ---- overlaps ---------------------------------------------------------------------------------------- */

/* One range at ports 0x100-0x10f. */
static void reg_base(iobus *bus)
{
    reg_ok(bus, 0x100, 0x10, OWNER(0));
}

static void assert_overlap_message(const char *err)
{
    assert_non_null(strstr(err, "overlaps"));
    assert_non_null(strstr(err, "0x100-0x10f"));
}

static void test_iobus_refuses_exact_overlap(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_base(bus);
    reg_refused(bus, 0x100, 0x10, "twin", err, sizeof(err));
    assert_overlap_message(err);
}

static void test_iobus_refuses_partial_overlap_at_start(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_base(bus);
    reg_refused(bus, 0xf8, 0x10, "left", err, sizeof(err));
    assert_overlap_message(err);
    reg_refused(bus, 0xff, 2, "left-byte", err, sizeof(err));
    assert_overlap_message(err);
}

static void test_iobus_refuses_partial_overlap_at_end(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_base(bus);
    reg_refused(bus, 0x108, 0x10, "right", err, sizeof(err));
    assert_overlap_message(err);
    reg_refused(bus, 0x10f, 1, "right-byte", err, sizeof(err));
    assert_overlap_message(err);
}

static void test_iobus_refuses_range_inside_existing(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_base(bus);
    reg_refused(bus, 0x104, 4, "inner", err, sizeof(err));
    assert_overlap_message(err);
}

static void test_iobus_refuses_range_containing_existing(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_base(bus);
    reg_refused(bus, 0, 0x1000, "outer", err, sizeof(err));
    assert_overlap_message(err);
}

static void test_iobus_refuses_range_bridging_two(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_ok(bus, 0x10, 0x10, OWNER(1));
    reg_ok(bus, 0x30, 0x10, OWNER(2));
    reg_refused(bus, 0x20, 0x11, "bridge", err, sizeof(err));
    assert_non_null(strstr(err, "0x30-0x3f"));
    reg_ok(bus, 0x20, 0x10, OWNER(3));
    assert_int_equal(bus->count, 3);
    assert_sorted_disjoint(bus);
}

static void test_iobus_accepts_adjacent_ranges(void **state)
{
    iobus *bus = *state;
    reg_base(bus);
    reg_ok(bus, 0xff, 1, OWNER(1));
    reg_ok(bus, 0x110, 1, OWNER(2));
    reg_ok(bus, 0xf0, 0xf, OWNER(3));
    assert_int_equal(bus->count, 4);
    assert_sorted_disjoint(bus);
    assert_ptr_equal(iobus_find(bus, 0xef), NULL);
    assert_ptr_equal(iobus_find(bus, 0xf0)->owner, OWNER(3));
    assert_ptr_equal(iobus_find(bus, 0xfe)->owner, OWNER(3));
    assert_ptr_equal(iobus_find(bus, 0xff)->owner, OWNER(1));
    assert_ptr_equal(iobus_find(bus, 0x100)->owner, OWNER(0));
    assert_ptr_equal(iobus_find(bus, 0x10f)->owner, OWNER(0));
    assert_ptr_equal(iobus_find(bus, 0x110)->owner, OWNER(2));
    assert_null(iobus_find(bus, 0x111));
}

static void test_iobus_overlap_message_names_owner_and_bus(void **state)
{
    iobus *bus = *state;
    char err[256];
    reg_ok(bus, 0xfed00000, 0x400, OWNER(1));
    reg_refused(bus, 0xfed00200, 0x400, "my-device", err, sizeof(err));
    assert_non_null(strstr(err, "my-device: MMIO range 0xfed00200-0xfed005ff overlaps 0xfed00000-0xfed003ff"));
}

/* ---- lookups and ordering ---------------------------------------------------------------------------- */

static void test_iobus_find_at_edges_in_gaps_and_outside(void **state)
{
    iobus *bus = *state;
    reg_ok(bus, 0x3f8, 8, OWNER(1));
    reg_ok(bus, 0x60, 1, OWNER(2));
    reg_ok(bus, 0x64, 1, OWNER(3));
    assert_null(iobus_find(bus, 0));
    assert_null(iobus_find(bus, 0x5f));
    assert_ptr_equal(iobus_find(bus, 0x60)->owner, OWNER(2));
    assert_null(iobus_find(bus, 0x61));
    assert_null(iobus_find(bus, 0x63));
    assert_ptr_equal(iobus_find(bus, 0x64)->owner, OWNER(3));
    assert_null(iobus_find(bus, 0x65));
    assert_null(iobus_find(bus, 0x3f7));
    assert_ptr_equal(iobus_find(bus, 0x3f8)->owner, OWNER(1));
    assert_ptr_equal(iobus_find(bus, 0x3ff)->owner, OWNER(1));
    assert_null(iobus_find(bus, 0x400));
    assert_null(iobus_find(bus, 0xffff));
    assert_null(iobus_find(bus, UINT64_MAX));
}

static void test_iobus_out_of_order_registration_keeps_ranges_sorted(void **state)
{
    iobus *bus = *state;
    static const uint64_t bases[] = {0x500, 0x100, 0x300, 0x600, 0x200, 0x400, 0x0};
    for (size_t i = 0; i < 7; i++)
        reg_ok(bus, bases[i], 0x80, OWNER(i));
    assert_int_equal(bus->count, 7);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(bus->ranges[i].base, 0x100 * i);
    assert_sorted_disjoint(bus);
    for (size_t i = 0; i < 7; i++) {
        const io_range *r = iobus_find(bus, bases[i] + 0x7f);
        assert_non_null(r);
        assert_ptr_equal(r->owner, OWNER(i));
        assert_null(iobus_find(bus, bases[i] + 0x80));
    }
}

static void test_iobus_every_port_of_a_full_bus(void **state)
{
    iobus *bus = *state;
    /* 4096 ranges of 16 ports (register in scrambled order): every one of the 65536 ports has an owner */
    for (uint64_t k = 0; k < 4096; k++) {
        uint64_t i = (k * 2111) % 4096; /* 2111 is odd: a permutation of 0..4095 */
        reg_ok(bus, i * 16, 16, OWNER(i % 8));
    }
    assert_int_equal(bus->count, 4096);
    assert_sorted_disjoint(bus);
    for (uint64_t port = 0; port <= 0xffff; port++) {
        const io_range *r = iobus_find(bus, port);
        assert_non_null(r);
        assert_int_equal(r->base, port & ~(uint64_t)15);
        assert_ptr_equal(r->owner, OWNER((port / 16) % 8));
    }
    assert_null(iobus_find(bus, 0x10000));
}

static void test_iobus_free_resets_bus(void **state)
{
    iobus *bus = *state;
    reg_base(bus);
    iobus_free(bus);
    assert_null(bus->ranges);
    assert_int_equal(bus->count, 0);
    assert_null(iobus_find(bus, 0x100));
    reg_base(bus);
    assert_ptr_equal(iobus_find(bus, 0x100)->owner, OWNER(0));
}

#define P(fn) cmocka_unit_test_setup_teardown(fn, setup_port_bus, teardown_bus)
#define M(fn) cmocka_unit_test_setup_teardown(fn, setup_mmio_bus, teardown_bus)

int main(void)
{
    const struct CMUnitTest tests[] = {
        P(test_iobus_init_is_empty),
        P(test_iobus_register_keeps_callbacks_and_owner),
        P(test_iobus_refuses_empty_range),
        P(test_iobus_refuses_wrapping_range),
        P(test_iobus_accepts_last_port),
        P(test_iobus_accepts_whole_port_space),
        P(test_iobus_ports_at_both_ends_of_port_space),
        M(test_iobus_mmio_range_ending_at_top_of_address_space),
        P(test_iobus_refuses_exact_overlap),
        P(test_iobus_refuses_partial_overlap_at_start),
        P(test_iobus_refuses_partial_overlap_at_end),
        P(test_iobus_refuses_range_inside_existing),
        P(test_iobus_refuses_range_containing_existing),
        P(test_iobus_refuses_range_bridging_two),
        P(test_iobus_accepts_adjacent_ranges),
        M(test_iobus_overlap_message_names_owner_and_bus),
        P(test_iobus_find_at_edges_in_gaps_and_outside),
        P(test_iobus_out_of_order_registration_keeps_ranges_sorted),
        P(test_iobus_every_port_of_a_full_bus),
        P(test_iobus_free_resets_bus),
    };
    return cmocka_run_group_tests_name("iobus", tests, NULL, NULL);
}
