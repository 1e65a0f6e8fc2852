/*
 * Unit tests for core/options.c: sizes (opt_parse_size: suffixes, hex, plain numbers scaled by plain_unit,
 * malformed and overflowing input), numbers (opt_parse_u64), booleans (opt_parse_bool), the check of a
 * plugin's option table (opt_check_table: names, duplicates, types, defaults, reserved fields, a table with no
 * terminator) and the parsing of "key=val,..." against a table (opt_values_parse: defaults, unknown, missing
 * '=', duplicate, out-of-range and malformed values, NULL text) with the messages it gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "options.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* ---- opt_parse_size ---------------------------------------------------------------------------------- */

static uint64_t size_ok(const char *text, uint64_t plain_unit)
{
    uint64_t v = 0xdeadbeef;
    if (opt_parse_size(text, plain_unit, &v) != 0)
        fail_msg("opt_parse_size(\"%s\", %llu) was refused", text, (unsigned long long)plain_unit);
    return v;
}

static void size_refused(const char *text, uint64_t plain_unit)
{
    uint64_t v = 0x5a5a5a5a;
    if (opt_parse_size(text, plain_unit, &v) != -1)
        fail_msg("opt_parse_size(\"%s\") was accepted as %llu", text ? text : "(null)", (unsigned long long)v);
    assert_int_equal(v, 0x5a5a5a5a); /* nothing written on failure */
}

static void test_opt_parse_size_accepts_suffixes(void **state)
{
    (void)state;
    assert_int_equal(size_ok("64M", 1), 64 * MiB);
    assert_int_equal(size_ok("1G", 1), GiB);
    assert_int_equal(size_ok("4096K", 1), 4 * MiB);
    assert_int_equal(size_ok("2T", 1), 2 * TiB);
    assert_int_equal(size_ok("0K", 1), 0);
}

static void test_opt_parse_size_suffixes_ignore_plain_unit(void **state)
{
    (void)state;
    assert_int_equal(size_ok("64M", MiB), 64 * MiB);
    assert_int_equal(size_ok("1G", MiB), GiB);
    assert_int_equal(size_ok("4096K", MiB), 4 * MiB);
}

static void test_opt_parse_size_accepts_lowercase_and_b_ib_forms(void **state)
{
    (void)state;
    assert_int_equal(size_ok("64MiB", 1), 64 * MiB);
    assert_int_equal(size_ok("64MB", 1), 64 * MiB);
    assert_int_equal(size_ok("64m", 1), 64 * MiB);
    assert_int_equal(size_ok("64mib", 1), 64 * MiB);
    assert_int_equal(size_ok("8k", 1), 8 * KiB);
    assert_int_equal(size_ok("3GiB", MiB), 3 * GiB);
}

static void test_opt_parse_size_accepts_hex(void **state)
{
    (void)state;
    assert_int_equal(size_ok("0x1000", 1), 0x1000);
    assert_int_equal(size_ok("0X1000", 1), 0x1000);
    assert_int_equal(size_ok("0xfffff000", 1), 0xfffff000);
    assert_int_equal(size_ok("0xffffffffffffffff", 1), UINT64_MAX);
}

static void test_opt_parse_size_scales_plain_number_by_plain_unit(void **state)
{
    (void)state;
    assert_int_equal(size_ok("64", MiB), 64 * MiB);
    assert_int_equal(size_ok("1", MiB), MiB);
    assert_int_equal(size_ok("0", MiB), 0);
    assert_int_equal(size_ok("4096", 1), 4096);
    assert_int_equal(size_ok("010", 1), 10); /* decimal, not octal */
    /* the largest plain number that still fits in 64 bits at MiB granularity */
    assert_int_equal(size_ok("17592186044415", MiB), (UINT64_C(17592186044415)) * MiB);
}

static void test_opt_parse_size_refuses_unknown_suffix(void **state)
{
    (void)state;
    size_refused("12Q", 1);
    size_refused("12Q", MiB);
    size_refused("12MQ", 1);
    size_refused("12Mi", 1);
    size_refused("12MiBs", 1);
    size_refused("12 M", 1);
    size_refused("12M ", 1);
    size_refused("12E", 1); /* exbi is not supported */
}

static void test_opt_parse_size_refuses_empty_and_sign(void **state)
{
    (void)state;
    size_refused("", 1);
    size_refused(NULL, 1);
    size_refused("-1", 1);
    size_refused("-1", MiB);
    size_refused("+1", 1);
    size_refused(" 1", 1);
}

/* strtoull skips any leading white space and then accepts a sign: a leading tab or newline must not smuggle a
 * negative number past the sign check ("\t-1" would become 2^64 - 1). */
static void test_opt_parse_size_refuses_leading_whitespace(void **state)
{
    (void)state;
    size_refused("\t-1", 1);
    size_refused("\t-4096", 1);
    size_refused("\n-1", MiB);
    size_refused("\t+1", 1);
    size_refused("\t64M", 1);
    size_refused("\n5", 1);
    size_refused("\v1", 1);
    size_refused("\r1", 1);
    size_refused("\f1", 1);
    uint64_t v = 77;
    assert_int_equal(opt_parse_u64("\t-1", &v), -1);
    assert_int_equal(v, 77);
}

static void test_opt_parse_size_refuses_suffix_without_number(void **state)
{
    (void)state;
    size_refused("M", 1);
    size_refused("G", MiB);
    size_refused("MiB", 1);
    size_refused("0x", 1);
    size_refused("x10", 1);
}

static void test_opt_parse_size_refuses_fractions(void **state)
{
    (void)state;
    size_refused("1.5G", 1);
    size_refused("1.0", 1);
    size_refused("1,5G", 1);
}

static void test_opt_parse_size_refuses_overflow(void **state)
{
    (void)state;
    size_refused("99999999999999999999", 1);           /* beyond 2^64 before scaling */
    size_refused("18446744073709551616", 1);           /* exactly 2^64 */
    size_refused("17179869184G", 1);                   /* 2^34 GiB = 2^64 */
    size_refused("16777216T", 1);                      /* 2^24 TiB = 2^64 */
    size_refused("17592186044416", MiB);               /* 2^44 plain MiB = 2^64 */
    size_refused("0x10000000000000000", 1);            /* 2^64 in hex */
    assert_int_equal(size_ok("17179869183G", 1), UINT64_C(17179869183) * GiB);
    assert_int_equal(size_ok("18446744073709551615", 1), UINT64_MAX);
}

static void test_opt_parse_size_refuses_hex_with_suffix(void **state)
{
    (void)state;
    size_refused("0x10M", 1);
    size_refused("0x10M", MiB);
    size_refused("0x10K", 1);
    size_refused("0X1G", 1);
}

/* ---- opt_parse_u64 ----------------------------------------------------------------------------------- */

static void test_opt_parse_u64_accepts_decimal_hex_and_suffixes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(opt_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(opt_parse_u64("1234", &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(opt_parse_u64("0x3f8", &v), 0);
    assert_int_equal(v, 0x3f8);
    assert_int_equal(opt_parse_u64("0xFFFF", &v), 0);
    assert_int_equal(v, 0xffff);
    assert_int_equal(opt_parse_u64("4K", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(opt_parse_u64("2M", &v), 0);
    assert_int_equal(v, 2 * MiB);
    assert_int_equal(opt_parse_u64("18446744073709551615", &v), 0);
    assert_int_equal(v, UINT64_MAX);
}

static void test_opt_parse_u64_plain_number_is_not_scaled(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(opt_parse_u64("7", &v), 0);
    assert_int_equal(v, 7);
}

static void test_opt_parse_u64_refuses_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "-1", "abc", "12Q", "1.5", "0x10M", "99999999999999999999", "1 ", "M"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 77;
        if (opt_parse_u64(bad[i], &v) != -1)
            fail_msg("opt_parse_u64(\"%s\") was accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 77);
    }
}

/* ---- opt_parse_bool ---------------------------------------------------------------------------------- */

static void test_opt_parse_bool_accepts_all_spellings(void **state)
{
    (void)state;
    static const char *const yes[] = {"on", "yes", "true", "1", "ON", "Yes", "TRUE"};
    static const char *const no[] = {"off", "no", "false", "0", "OFF", "No", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        int b = -1;
        assert_int_equal(opt_parse_bool(yes[i], &b), 0);
        assert_int_equal(b, 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        int b = -1;
        assert_int_equal(opt_parse_bool(no[i], &b), 0);
        assert_int_equal(b, 0);
    }
}

static void test_opt_parse_bool_refuses_other_words(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "2", "y", "n", "onn", "of", "enable", "truee", " on", "00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int b = 42;
        if (opt_parse_bool(bad[i], &b) != -1)
            fail_msg("opt_parse_bool(\"%s\") was accepted", bad[i]);
        assert_int_equal(b, 42);
    }
}

/* ---- opt_check_table --------------------------------------------------------------------------------- */

static void test_opt_check_table_accepts_valid_and_null_tables(void **state)
{
    (void)state;
    char err[256] = "";
    static const vmm_option_desc table[] = {
        {.name = "iobase", .type = VMM_OPT_U64, .default_value = "0x3f8", .min = 0, .max = 0xffff},
        {.name = "irq", .type = VMM_OPT_U64, .default_value = "4"},
        {.name = "path_2-x", .type = VMM_OPT_STRING},
        {.name = "enabled", .type = VMM_OPT_BOOL, .default_value = "on"},
        {.name = "abcdefghijklmnopqrstuvwxyz01234", .type = VMM_OPT_STRING}, /* 31 characters */
        {.name = NULL},
    };
    assert_int_equal(opt_check_table(table, err, sizeof(err)), 0);
    assert_int_equal(opt_check_table(NULL, err, sizeof(err)), 0);
    static const vmm_option_desc empty[] = {{.name = NULL}};
    assert_int_equal(opt_check_table(empty, err, sizeof(err)), 0);
}

static void check_table_refused(const vmm_option_desc *table, const char *want)
{
    char err[256] = "";
    assert_int_equal(opt_check_table(table, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("opt_check_table message \"%s\" lacks \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

static void test_opt_check_table_refuses_bad_names(void **state)
{
    (void)state;
    const vmm_option_desc upper[] = {{.name = "IObase", .type = VMM_OPT_U64}, {.name = NULL}};
    const vmm_option_desc space[] = {{.name = "io base", .type = VMM_OPT_U64}, {.name = NULL}};
    const vmm_option_desc eq[] = {{.name = "ok", .type = VMM_OPT_U64}, {.name = "a=b", .type = VMM_OPT_U64},
                                  {.name = NULL}};
    const vmm_option_desc comma[] = {{.name = "a,b", .type = VMM_OPT_U64}, {.name = NULL}};
    const vmm_option_desc empty[] = {{.name = "", .type = VMM_OPT_U64}, {.name = NULL}};
    const vmm_option_desc longname[] = {{.name = "abcdefghijklmnopqrstuvwxyz012345", .type = VMM_OPT_U64},
                                        {.name = NULL}}; /* 32 characters */
    check_table_refused(upper, "option 0 has an invalid name");
    check_table_refused(space, "invalid name");
    check_table_refused(eq, "option 1 has an invalid name");
    check_table_refused(comma, "invalid name");
    check_table_refused(empty, "invalid name");
    check_table_refused(longname, "invalid name");
}

static void test_opt_check_table_refuses_duplicate_name(void **state)
{
    (void)state;
    const vmm_option_desc table[] = {
        {.name = "irq", .type = VMM_OPT_U64},
        {.name = "iobase", .type = VMM_OPT_U64},
        {.name = "irq", .type = VMM_OPT_STRING},
        {.name = NULL},
    };
    check_table_refused(table, "option irq is declared twice");
    const vmm_option_desc adjacent[] = {
        {.name = "irq", .type = VMM_OPT_U64},
        {.name = "log", .type = VMM_OPT_STRING},
        {.name = "log", .type = VMM_OPT_STRING},
        {.name = NULL},
    };
    check_table_refused(adjacent, "option log is declared twice");
}

static void test_opt_check_table_refuses_unknown_type(void **state)
{
    (void)state;
    const vmm_option_desc zero[] = {{.name = "mode", .type = (vmm_option_type)0}, {.name = NULL}};
    const vmm_option_desc four[] = {{.name = "mode", .type = (vmm_option_type)4}, {.name = NULL}};
    check_table_refused(zero, "option mode has an unknown type 0");
    check_table_refused(four, "unknown type 4");
}

static void test_opt_check_table_refuses_bad_default(void **state)
{
    (void)state;
    const vmm_option_desc not_number[] = {{.name = "irq", .type = VMM_OPT_U64, .default_value = "four"},
                                          {.name = NULL}};
    const vmm_option_desc out_of_range[] = {
        {.name = "iosize", .type = VMM_OPT_U64, .default_value = "5", .min = 1, .max = 4}, {.name = NULL}};
    const vmm_option_desc below_range[] = {
        {.name = "iosize", .type = VMM_OPT_U64, .default_value = "0", .min = 1, .max = 4}, {.name = NULL}};
    const vmm_option_desc not_bool[] = {{.name = "fast", .type = VMM_OPT_BOOL, .default_value = "maybe"},
                                        {.name = NULL}};
    check_table_refused(not_number, "option irq: bad default value");
    check_table_refused(not_number, "not a number");
    check_table_refused(out_of_range, "option iosize: bad default value");
    check_table_refused(out_of_range, "out of range");
    check_table_refused(below_range, "out of range");
    check_table_refused(not_bool, "option fast: bad default value");
    check_table_refused(not_bool, "not a boolean");
    /* any string is a valid string default */
    char err[256];
    const vmm_option_desc any_string[] = {{.name = "path", .type = VMM_OPT_STRING, .default_value = "a=b,c"},
                                          {.name = NULL}};
    assert_int_equal(opt_check_table(any_string, err, sizeof(err)), 0);
}

static int tag;

static void test_opt_check_table_refuses_reserved_not_null(void **state)
{
    (void)state;
    const vmm_option_desc r0[] = {{.name = "a", .type = VMM_OPT_STRING, .reserved = {&tag, NULL}}, {.name = NULL}};
    const vmm_option_desc r1[] = {{.name = "b", .type = VMM_OPT_STRING, .reserved = {NULL, &tag}}, {.name = NULL}};
    check_table_refused(r0, "option a: reserved fields are not NULL");
    check_table_refused(r1, "option b: reserved fields are not NULL");
}

/* Fill the first `entries` slots of big_table with valid, distinct options; the rest stay NULL (terminators). */
static vmm_option_desc big_table[OPT_MAX_OPTIONS + 2];
static char big_names[OPT_MAX_OPTIONS + 2][24];

static void fill_big_table(size_t entries)
{
    memset(big_table, 0, sizeof(big_table));
    for (size_t i = 0; i < entries; i++) {
        snprintf(big_names[i], sizeof(big_names[i]), "o%zu", i);
        big_table[i].name = big_names[i];
        big_table[i].type = VMM_OPT_STRING;
    }
}

static void test_opt_check_table_accepts_table_at_size_limit(void **state)
{
    (void)state;
    char err[256] = "";
    fill_big_table(OPT_MAX_OPTIONS); /* entry OPT_MAX_OPTIONS is the terminator */
    if (opt_check_table(big_table, err, sizeof(err)) != 0)
        fail_msg("a table of %d options was refused: %s", OPT_MAX_OPTIONS, err);
}

static void test_opt_check_table_refuses_table_without_terminator(void **state)
{
    (void)state;
    /* every slot of the array is filled: without the limit the check would run off its end */
    fill_big_table(OPT_MAX_OPTIONS + 2);
    check_table_refused(big_table, "missing NULL terminator");
    fill_big_table(OPT_MAX_OPTIONS + 1);
    check_table_refused(big_table, "more than 64 entries");
}

/* ---- opt_values_parse -------------------------------------------------------------------------------- */

static const vmm_option_desc uart_table[] = {
    {.name = "iobase", .type = VMM_OPT_U64, .default_value = "0x3f8", .min = 0, .max = 0xffff},
    {.name = "irq", .type = VMM_OPT_U64, .default_value = "4", .min = 0, .max = 15},
    {.name = "fifo", .type = VMM_OPT_BOOL, .default_value = "on"},
    {.name = "log", .type = VMM_OPT_STRING},
    {.name = "count", .type = VMM_OPT_U64}, /* no range, no default */
    {.name = NULL},
};

static void values_refused(const char *text, const char *want1, const char *want2)
{
    opt_values vals;
    char err[512] = "";
    assert_int_equal(opt_values_parse(&vals, uart_table, text, "uart16550", err, sizeof(err)), -1);
    if (!strstr(err, "uart16550"))
        fail_msg("message \"%s\" does not name the plugin", err);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("message \"%s\" lacks \"%s\"%s%s", err, want1, want2 ? " or " : "", want2 ? want2 : "");
    assert_null(strchr(err, '\n'));
    /* nothing is left allocated or pointing anywhere */
    assert_null(vals.values);
    assert_int_equal(vals.count, 0);
}

static void test_opt_values_parse_applies_defaults(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    assert_int_equal(opt_values_parse(&vals, uart_table, "", "uart16550", err, sizeof(err)), 0);
    assert_int_equal(vals.count, 5);
    const opt_value *v = opt_values_find(&vals, "iobase");
    assert_non_null(v);
    assert_ptr_equal(v->desc, &uart_table[0]);
    assert_string_equal(v->text, "0x3f8");
    assert_int_equal(v->u64, 0x3f8);
    v = opt_values_find(&vals, "irq");
    assert_int_equal(v->u64, 4);
    v = opt_values_find(&vals, "fifo");
    assert_string_equal(v->text, "on");
    assert_int_equal(v->boolean, 1);
    v = opt_values_find(&vals, "log");
    assert_non_null(v);
    assert_null(v->text); /* no default: unset */
    v = opt_values_find(&vals, "count");
    assert_null(v->text);
    assert_null(opt_values_find(&vals, "nosuch"));
    opt_values_free(&vals);
    assert_null(vals.values);
    assert_int_equal(vals.count, 0);
}

static void test_opt_values_parse_null_text_applies_defaults(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    assert_int_equal(opt_values_parse(&vals, uart_table, NULL, "uart16550", err, sizeof(err)), 0);
    assert_int_equal(vals.count, 5);
    assert_int_equal(opt_values_find(&vals, "iobase")->u64, 0x3f8);
    assert_int_equal(opt_values_find(&vals, "fifo")->boolean, 1);
    assert_null(opt_values_find(&vals, "log")->text);
    opt_values_free(&vals);
}

static void test_opt_values_parse_given_values_override_defaults(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    assert_int_equal(opt_values_parse(&vals, uart_table, "irq=3,iobase=0x2f8,fifo=off,log=/tmp/a=b,count=2K",
                                      "uart16550", err, sizeof(err)),
                     0);
    assert_int_equal(opt_values_find(&vals, "irq")->u64, 3);
    assert_string_equal(opt_values_find(&vals, "irq")->text, "3");
    assert_int_equal(opt_values_find(&vals, "iobase")->u64, 0x2f8);
    assert_int_equal(opt_values_find(&vals, "fifo")->boolean, 0);
    assert_string_equal(opt_values_find(&vals, "log")->text, "/tmp/a=b"); /* split at the first '=' only */
    assert_int_equal(opt_values_find(&vals, "count")->u64, 2048);
    opt_values_free(&vals);
}

static void test_opt_values_parse_accepts_range_bounds(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    assert_int_equal(opt_values_parse(&vals, uart_table, "irq=0,iobase=0xffff", "uart16550", err, sizeof(err)), 0);
    assert_int_equal(opt_values_find(&vals, "irq")->u64, 0);
    assert_int_equal(opt_values_find(&vals, "iobase")->u64, 0xffff);
    opt_values_free(&vals);
    assert_int_equal(opt_values_parse(&vals, uart_table, "irq=15,count=18446744073709551615", "uart16550", err,
                                      sizeof(err)),
                     0);
    assert_int_equal(opt_values_find(&vals, "irq")->u64, 15);
    assert_int_equal(opt_values_find(&vals, "count")->u64, UINT64_MAX); /* min = max = 0: any value */
    opt_values_free(&vals);
}

static void test_opt_values_parse_refuses_unknown_key_listing_known(void **state)
{
    (void)state;
    values_refused("irq=3,speed=9600", "unknown option 'speed'", "known: iobase, irq, fifo, log, count");
}

static void test_opt_values_parse_unknown_key_with_no_table_says_none(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    assert_int_equal(opt_values_parse(&vals, NULL, "x=1", "plain", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "plain: unknown option 'x' (known: none)"));
    /* and a NULL table with no text is fine */
    assert_int_equal(opt_values_parse(&vals, NULL, NULL, "plain", err, sizeof(err)), 0);
    assert_int_equal(vals.count, 0);
    opt_values_free(&vals);
}

static void test_opt_values_parse_refuses_missing_equals(void **state)
{
    (void)state;
    values_refused("irq", "option 'irq' has no value", "irq=VALUE");
    values_refused("irq=4,fifo", "option 'fifo' has no value", NULL);
}

static void test_opt_values_parse_refuses_duplicate_key(void **state)
{
    (void)state;
    values_refused("irq=3,irq=4", "option irq given twice", NULL);
    values_refused("log=a,irq=3,log=a", "option log given twice", NULL);
}

static void test_opt_values_parse_refuses_out_of_range(void **state)
{
    (void)state;
    values_refused("irq=16", "option irq", "out of range");
    values_refused("iobase=0x10000", "option iobase", "out of range (0x0-0xffff)");
    values_refused("iobase=64K", "out of range", NULL);
}

static void test_opt_values_parse_refuses_bad_number(void **state)
{
    (void)state;
    values_refused("irq=four", "option irq: 'four' is not a number", NULL);
    values_refused("irq=", "option irq: '' is not a number", NULL);
    values_refused("count=-1", "'-1' is not a number", NULL);
}

static void test_opt_values_parse_parses_bools(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    static const char *const on[] = {"fifo=on", "fifo=yes", "fifo=true", "fifo=1"};
    static const char *const off[] = {"fifo=off", "fifo=no", "fifo=false", "fifo=0"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(opt_values_parse(&vals, uart_table, off[i], "uart16550", err, sizeof(err)), 0);
        assert_int_equal(opt_values_find(&vals, "fifo")->boolean, 0);
        opt_values_free(&vals);
        assert_int_equal(opt_values_parse(&vals, uart_table, on[i], "uart16550", err, sizeof(err)), 0);
        assert_int_equal(opt_values_find(&vals, "fifo")->boolean, 1);
        opt_values_free(&vals);
    }
    values_refused("fifo=maybe", "option fifo: 'maybe' is not a boolean", NULL);
}

static void test_opt_values_parse_does_not_modify_input(void **state)
{
    (void)state;
    opt_values vals;
    char err[256] = "";
    char text[] = "irq=5,log=x";
    assert_int_equal(opt_values_parse(&vals, uart_table, text, "uart16550", err, sizeof(err)), 0);
    assert_string_equal(text, "irq=5,log=x");
    /* the values are copies, not pointers into the caller's text */
    const opt_value *log = opt_values_find(&vals, "log");
    assert_true(log->text < text || log->text >= text + sizeof(text));
    opt_values_free(&vals);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt_parse_size_accepts_suffixes),
        cmocka_unit_test(test_opt_parse_size_suffixes_ignore_plain_unit),
        cmocka_unit_test(test_opt_parse_size_accepts_lowercase_and_b_ib_forms),
        cmocka_unit_test(test_opt_parse_size_accepts_hex),
        cmocka_unit_test(test_opt_parse_size_scales_plain_number_by_plain_unit),
        cmocka_unit_test(test_opt_parse_size_refuses_unknown_suffix),
        cmocka_unit_test(test_opt_parse_size_refuses_empty_and_sign),
        cmocka_unit_test(test_opt_parse_size_refuses_leading_whitespace),
        cmocka_unit_test(test_opt_parse_size_refuses_suffix_without_number),
        cmocka_unit_test(test_opt_parse_size_refuses_fractions),
        cmocka_unit_test(test_opt_parse_size_refuses_overflow),
        cmocka_unit_test(test_opt_parse_size_refuses_hex_with_suffix),
        cmocka_unit_test(test_opt_parse_u64_accepts_decimal_hex_and_suffixes),
        cmocka_unit_test(test_opt_parse_u64_plain_number_is_not_scaled),
        cmocka_unit_test(test_opt_parse_u64_refuses_garbage),
        cmocka_unit_test(test_opt_parse_bool_accepts_all_spellings),
        cmocka_unit_test(test_opt_parse_bool_refuses_other_words),
        cmocka_unit_test(test_opt_check_table_accepts_valid_and_null_tables),
        cmocka_unit_test(test_opt_check_table_refuses_bad_names),
        cmocka_unit_test(test_opt_check_table_refuses_duplicate_name),
        cmocka_unit_test(test_opt_check_table_refuses_unknown_type),
        cmocka_unit_test(test_opt_check_table_refuses_bad_default),
        cmocka_unit_test(test_opt_check_table_refuses_reserved_not_null),
        cmocka_unit_test(test_opt_check_table_accepts_table_at_size_limit),
        cmocka_unit_test(test_opt_check_table_refuses_table_without_terminator),
        cmocka_unit_test(test_opt_values_parse_applies_defaults),
        cmocka_unit_test(test_opt_values_parse_null_text_applies_defaults),
        cmocka_unit_test(test_opt_values_parse_given_values_override_defaults),
        cmocka_unit_test(test_opt_values_parse_accepts_range_bounds),
        cmocka_unit_test(test_opt_values_parse_refuses_unknown_key_listing_known),
        cmocka_unit_test(test_opt_values_parse_unknown_key_with_no_table_says_none),
        cmocka_unit_test(test_opt_values_parse_refuses_missing_equals),
        cmocka_unit_test(test_opt_values_parse_refuses_duplicate_key),
        cmocka_unit_test(test_opt_values_parse_refuses_out_of_range),
        cmocka_unit_test(test_opt_values_parse_refuses_bad_number),
        cmocka_unit_test(test_opt_values_parse_parses_bools),
        cmocka_unit_test(test_opt_values_parse_does_not_modify_input),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
