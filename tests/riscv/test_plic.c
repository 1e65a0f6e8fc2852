/*
 * Unit tests of the riscv64 board's PLIC (plugins/riscv64/plic.c) through its register interface, as a guest
 * driver sees it: priorities and thresholds, per-context enables, claim/complete with level-triggered gateways
 * (a line still high after completion pends again; a claimed one does not before completion), and what each
 * context's output (MEIP/SEIP) does at every step. Offsets are QEMU virt's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plic.h"

#define PRIO(src) (4u * (src))
#define PENDING 0x1000u
#define ENABLE(ctx) (0x2000u + 0x80u * (ctx))
#define THRESHOLD(ctx) (0x200000u + 0x1000u * (ctx))
#define CLAIM(ctx) (THRESHOLD(ctx) + 4)

typedef struct outputs {
    int level[2];
    unsigned changes;
} outputs;

static void record(void *opaque, unsigned context, int level)
{
    outputs *o = opaque;
    o->level[context] = level;
    o->changes++;
}

static void w(plic *p, uint64_t off, uint32_t v)
{
    plic_write(p, off, 4, v);
}

static uint32_t r(plic *p, uint64_t off)
{
    return (uint32_t)plic_read(p, off, 4);
}

static void test_plic_claim_complete_level(void **state)
{
    (void)state;
    outputs o = {{0, 0}, 0};
    plic *p = plic_new(2, record, &o);
    assert_non_null(p);
    assert_int_equal(plic_set_line(p, 10, 1), 0);
    /* Pending but priority 0 and not enabled: no output. */
    assert_int_equal(r(p, PENDING) & (1u << 10), 1u << 10);
    assert_int_equal(o.level[0], 0);
    w(p, PRIO(10), 3);
    assert_int_equal(o.level[0], 0);
    w(p, ENABLE(0), 1u << 10);
    assert_int_equal(o.level[0], 1);
    assert_int_equal(o.level[1], 0); /* context 1 did not enable it */
    /* Threshold at the source's priority masks it; below, it shows again. */
    w(p, THRESHOLD(0), 3);
    assert_int_equal(o.level[0], 0);
    w(p, THRESHOLD(0), 2);
    assert_int_equal(o.level[0], 1);
    /* Claim: the source, no longer pending, output down; the still-high line does not pend it again. */
    assert_int_equal(r(p, CLAIM(0)), 10);
    assert_int_equal(o.level[0], 0);
    assert_int_equal(r(p, PENDING) & (1u << 10), 0);
    assert_int_equal(r(p, CLAIM(0)), 0);
    plic_set_line(p, 10, 1);
    assert_int_equal(o.level[0], 0);
    /* Complete with the line still high: pending and interrupting again. */
    w(p, CLAIM(0), 10);
    assert_int_equal(o.level[0], 1);
    assert_int_equal(r(p, CLAIM(0)), 10);
    /* Line lowered while claimed, then completed: nothing more. */
    plic_set_line(p, 10, 0);
    w(p, CLAIM(0), 10);
    assert_int_equal(o.level[0], 0);
    assert_int_equal(r(p, CLAIM(0)), 0);
    plic_free(p);
}

static void test_plic_priority_order_and_ties(void **state)
{
    (void)state;
    outputs o = {{0, 0}, 0};
    plic *p = plic_new(2, record, &o);
    w(p, ENABLE(1), (1u << 3) | (1u << 5) | (1u << 7));
    w(p, PRIO(3), 2);
    w(p, PRIO(5), 6);
    w(p, PRIO(7), 2);
    plic_set_line(p, 3, 1);
    plic_set_line(p, 5, 1);
    plic_set_line(p, 7, 1);
    assert_int_equal(o.level[1], 1);
    assert_int_equal(o.level[0], 0);
    assert_int_equal(r(p, CLAIM(1)), 5); /* highest priority */
    assert_int_equal(r(p, CLAIM(1)), 3); /* ties: the lower source number */
    assert_int_equal(r(p, CLAIM(1)), 7);
    assert_int_equal(r(p, CLAIM(1)), 0);
    assert_int_equal(o.level[1], 0);
    plic_free(p);
}

static void test_plic_refuses_what_it_does_not_have(void **state)
{
    (void)state;
    outputs o = {{0, 0}, 0};
    plic *p = plic_new(2, record, &o);
    assert_int_equal(plic_set_line(p, 0, 1), -1);
    assert_int_equal(plic_set_line(p, PLIC_SOURCES, 1), -1);
    assert_int_equal(plic_set_line(p, UINT32_MAX, 1), -1);
    /* Source 0 has no priority and cannot be enabled; priorities keep 3 bits; odd sizes and offsets do nothing. */
    w(p, PRIO(0), 7);
    assert_int_equal(r(p, PRIO(0)), 0);
    w(p, PRIO(4), 0xff);
    assert_int_equal(r(p, PRIO(4)), 7);
    w(p, ENABLE(0), 0xffffffffu);
    assert_int_equal(r(p, ENABLE(0)), 0xfffffffeu);
    plic_write(p, PRIO(4), 2, 1);
    assert_int_equal(r(p, PRIO(4)), 7);
    assert_int_equal(plic_read(p, PRIO(4) + 1, 4), 0);
    /* Beyond the last context and in the gaps: reads 0, writes ignored, no crash. */
    w(p, THRESHOLD(2), 1);
    assert_int_equal(r(p, THRESHOLD(2)), 0);
    assert_int_equal(r(p, ENABLE(2)), 0);
    assert_int_equal(r(p, 0x1ffffc), 0);
    /* Pending is read-only; completing a source the context did not enable is ignored. */
    w(p, PENDING, 0xffffffffu);
    assert_int_equal(r(p, PENDING), 0);
    w(p, CLAIM(1), 4);
    assert_int_equal(o.changes, 0);
    plic_free(p);
}

static void test_plic_save_load(void **state)
{
    (void)state;
    outputs o = {{0, 0}, 0};
    plic *p = plic_new(2, record, &o);
    w(p, PRIO(9), 1);
    w(p, ENABLE(0), 1u << 9);
    plic_set_line(p, 9, 1);
    assert_int_equal(r(p, CLAIM(0)), 9); /* claimed, line still high */
    uint32_t en[2 * PLIC_SOURCES / 32], th[2];
    plic_state s = {.enable = en, .threshold = th};
    plic_save(p, &s);
    plic_free(p);

    outputs o2 = {{0, 0}, 0};
    plic *q = plic_new(2, record, &o2);
    plic_load(q, &s);
    assert_int_equal(o2.level[0], 0);    /* still claimed */
    w(q, CLAIM(0), 9);                   /* completion: the saved line level pends it again */
    assert_int_equal(o2.level[0], 1);
    assert_int_equal(r(q, CLAIM(0)), 9);
    plic_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plic_claim_complete_level),
        cmocka_unit_test(test_plic_priority_order_and_ties),
        cmocka_unit_test(test_plic_refuses_what_it_does_not_have),
        cmocka_unit_test(test_plic_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
