/* test_ssm: the saved-state unit format — typed round trips, optional sections skipped by older readers and
 * probed by newer ones, and every way a unit can be wrong (checksum, truncation, type, length, leftovers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ssm.h"

static void write_sample(vmm_ssm *w, int with_optional)
{
    ssm_writer_init(w, "sample");
    ssm_put_u64(w, 0x1122334455667788ull);
    ssm_put_bytes(w, "abc", 3);
    if (with_optional) {
        ssm_put_optional(w, "extra");
        ssm_put_u64(w, 42);
        ssm_put_str(w, "newer field");
        ssm_end_optional(w);
    }
    ssm_put_str(w, "tail");
    assert_int_equal(ssm_writer_finish(w), 0);
}

static void test_ssm_round_trip_of_every_type(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 1);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    char b[3], s[16];
    assert_int_equal(ssm_get_u64(&r, &v), 0);
    assert_true(v == 0x1122334455667788ull);
    assert_int_equal(ssm_get_bytes(&r, b, 3), 0);
    assert_memory_equal(b, "abc", 3);
    assert_int_equal(ssm_get_optional(&r, "extra"), 1);
    assert_int_equal(ssm_get_u64(&r, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), 0);
    assert_string_equal(s, "newer field");
    assert_int_equal(ssm_end_optional(&r), 0);
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), 0);
    assert_string_equal(s, "tail");
    assert_int_equal(ssm_reader_finish(&r), 0);
    ssm_writer_free(&w);
}

static void test_ssm_older_reader_skips_unknown_optional_section(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 1);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    char b[3], s[16];
    ssm_get_u64(&r, &v);
    ssm_get_bytes(&r, b, 3);
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), 0); /* never asks for "extra" */
    assert_string_equal(s, "tail");
    assert_int_equal(ssm_reader_finish(&r), 0);
    ssm_writer_free(&w);
}

static void test_ssm_newer_reader_sees_absent_optional_section(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    char b[3], s[16];
    ssm_get_u64(&r, &v);
    ssm_get_bytes(&r, b, 3);
    assert_int_equal(ssm_get_optional(&r, "extra"), 0);
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), 0);
    assert_int_equal(ssm_reader_finish(&r), 0);
    ssm_writer_free(&w);
}

static void test_ssm_end_optional_skips_fields_a_newer_writer_added(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 1);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    char b[3], s[16];
    ssm_get_u64(&r, &v);
    ssm_get_bytes(&r, b, 3);
    assert_int_equal(ssm_get_optional(&r, "extra"), 1);
    ssm_get_u64(&r, &v); /* reads only the first field of the section */
    assert_int_equal(ssm_end_optional(&r), 0);
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), 0);
    assert_string_equal(s, "tail");
    assert_int_equal(ssm_reader_finish(&r), 0);
    ssm_writer_free(&w);
}

static void test_ssm_refuses_a_flipped_bit(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 1);
    w.buf[5] ^= 0x10;
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), -1);
    assert_non_null(strstr(r.err, "checksum"));
    ssm_writer_free(&w);
}

static void test_ssm_refuses_truncation(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len - 1), -1);
    assert_non_null(strstr(r.err, "truncated"));
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, 0), -1);
    ssm_writer_free(&w);
}

static void test_ssm_reports_a_type_mismatch_and_stays_failed(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    char s[8];
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), -1);
    assert_non_null(strstr(r.err, "asked for a string where an integer was saved"));
    uint64_t v;
    assert_int_equal(ssm_get_u64(&r, &v), -1); /* sticky */
    assert_int_equal(ssm_reader_finish(&r), -1);
    ssm_writer_free(&w);
}

static void test_ssm_checks_byte_lengths(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    char b[4];
    ssm_get_u64(&r, &v);
    assert_int_equal(ssm_get_bytes(&r, b, 4), -1);
    assert_non_null(strstr(r.err, "expects 4 bytes where 3 were saved"));
    ssm_writer_free(&w);

    write_sample(&w, 0);
    size_t len;
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    ssm_get_u64(&r, &v);
    assert_int_equal(ssm_get_var_bytes(&r, b, sizeof(b), &len), 0);
    assert_int_equal(len, 3);
    ssm_writer_free(&w);

    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    ssm_get_u64(&r, &v);
    assert_int_equal(ssm_get_var_bytes(&r, b, 2, &len), -1);
    ssm_writer_free(&w);
}

static void test_ssm_loader_that_reads_too_little_fails(void **state)
{
    (void)state;
    vmm_ssm w, r;
    write_sample(&w, 0);
    assert_int_equal(ssm_reader_init(&r, "sample", w.buf, w.len), 0);
    uint64_t v;
    ssm_get_u64(&r, &v);
    assert_int_equal(ssm_reader_finish(&r), -1);
    assert_non_null(strstr(r.err, "stopped"));
    ssm_writer_free(&w);
}

static void test_ssm_loader_that_reads_too_much_fails(void **state)
{
    (void)state;
    vmm_ssm w, r;
    ssm_writer_init(&w, "one");
    ssm_put_u64(&w, 1);
    ssm_writer_finish(&w);
    assert_int_equal(ssm_reader_init(&r, "one", w.buf, w.len), 0);
    uint64_t v;
    assert_int_equal(ssm_get_u64(&r, &v), 0);
    assert_int_equal(ssm_get_u64(&r, &v), -1);
    assert_non_null(strstr(r.err, "after the end"));
    ssm_writer_free(&w);
}

static void test_ssm_string_that_does_not_fit_fails(void **state)
{
    (void)state;
    vmm_ssm w, r;
    ssm_writer_init(&w, "s");
    ssm_put_str(&w, "0123456789");
    ssm_writer_finish(&w);
    assert_int_equal(ssm_reader_init(&r, "s", w.buf, w.len), 0);
    char s[10];
    assert_int_equal(ssm_get_str(&r, s, sizeof(s)), -1);
    ssm_writer_free(&w);
}

static void test_ssm_unclosed_optional_section_fails_the_writer(void **state)
{
    (void)state;
    vmm_ssm w;
    ssm_writer_init(&w, "u");
    ssm_put_optional(&w, "open");
    assert_int_equal(ssm_writer_finish(&w), -1);
    ssm_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssm_round_trip_of_every_type),
        cmocka_unit_test(test_ssm_older_reader_skips_unknown_optional_section),
        cmocka_unit_test(test_ssm_newer_reader_sees_absent_optional_section),
        cmocka_unit_test(test_ssm_end_optional_skips_fields_a_newer_writer_added),
        cmocka_unit_test(test_ssm_refuses_a_flipped_bit),
        cmocka_unit_test(test_ssm_refuses_truncation),
        cmocka_unit_test(test_ssm_reports_a_type_mismatch_and_stays_failed),
        cmocka_unit_test(test_ssm_checks_byte_lengths),
        cmocka_unit_test(test_ssm_loader_that_reads_too_little_fails),
        cmocka_unit_test(test_ssm_loader_that_reads_too_much_fails),
        cmocka_unit_test(test_ssm_string_that_does_not_fit_fails),
        cmocka_unit_test(test_ssm_unclosed_optional_section_fails_the_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
