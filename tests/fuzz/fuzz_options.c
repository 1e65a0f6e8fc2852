/*
 * fuzz_options: the parsers of command-line values (core/options.c) and of plugin options. The first byte picks
 * the parser, the rest is its text:
 *
 *   0  opt_parse_size, as --mem uses it (a plain number is MiB) and with other plain units;
 *   1  opt_parse_u64 (--cpus, --image FILE@ADDR's address, every U64 plugin option);
 *   2  opt_parse_bool;
 *   3  opt_values_parse, the "key=val,key=val" after `--device NAME,` / `--arch NAME,`, against the option
 *      table of a shipped plugin (loaded from the build's plugin directory, as `vmm` does) or of the harness;
 *   4  opt_check_table on a table built from the input (what `vmm plugins --check` and the loader run on a
 *      third-party plugin's table), then opt_values_parse against it when it is accepted;
 *   5  x86-raw's timer-slack value (x86_timer_parse_slack, plugins/x86-raw/timer.c).
 *
 * Beyond memory errors the harness checks what the parsers promise: a size is digits from the first
 * character, a parsed value is in its declared range, a refusal says why, and every declared option can be
 * found after a successful parse.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "options.h"
#include "plugin.h"

/* From plugins/x86-raw/timer.c, whose object the harness links (x86raw.h needs the plugin's headers). */
int x86_timer_parse_slack(const char *s, uint64_t *ns, char *err, size_t errlen);

/* The harness's own table: every type, a range with and without a lower bound, defaults and none. */
static const vmm_option_desc fuzz_options_table[] = {
    {.name = "iobase", .type = VMM_OPT_U64, .default_value = "0x3f8", .min = 0, .max = 0xfff8},
    {.name = "iosize", .type = VMM_OPT_U64, .default_value = "2", .min = 1, .max = 4},
    {.name = "mmio", .type = VMM_OPT_U64},
    {.name = "on", .type = VMM_OPT_BOOL, .default_value = "on"},
    {.name = "flag", .type = VMM_OPT_BOOL},
    {.name = "timer-slack", .type = VMM_OPT_STRING, .default_value = "auto"},
    {.name = "trace", .type = VMM_OPT_STRING},
    {0},
};

#define FUZZ_OPTIONS_MAX_TABLES 32
static const vmm_option_desc *fuzz_options_tables[FUZZ_OPTIONS_MAX_TABLES];
static unsigned fuzz_options_ntables;
static plugin_registry fuzz_options_reg;

static void fuzz_options_load_error(void *ctx, const char *path, const char *reason)
{
    (void)ctx;
    fprintf(stderr, "fuzz_options: %s: %s (its table is left out)\n", path, reason);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_options_tables[fuzz_options_ntables++] = fuzz_options_table;
    /* The shipped plugins' real tables, through the core's own loader. A build without them still fuzzes the
     * harness's table. */
    const char *dir = getenv("FUZZ_PLUGIN_DIR");
    plugin_registry_init(&fuzz_options_reg, NULL);
    plugin_load_dir(&fuzz_options_reg, dir ? dir : FUZZ_PLUGIN_DIR, fuzz_options_load_error, NULL);
    for (size_t i = 0; i < fuzz_options_reg.count && fuzz_options_ntables < FUZZ_OPTIONS_MAX_TABLES; i++)
        if (fuzz_options_reg.items[i].desc->options)
            fuzz_options_tables[fuzz_options_ntables++] = fuzz_options_reg.items[i].desc->options;
    return 0;
}

static void fuzz_options_scaled(const char *text, uint64_t plain_unit, int rc, uint64_t v)
{
    if (rc != 0)
        return;
    /* strtoull would take " 1", "+1" or "-1"; the parser promises digits from the first character. */
    FUZZ_CHECK(text[0] >= '0' && text[0] <= '9');
    /* Plain decimal without a suffix is plain_unit each. */
    if (strspn(text, "0123456789") == strlen(text)) {
        unsigned long long d = strtoull(text, NULL, 10);
        FUZZ_CHECK(v == (uint64_t)d * plain_unit);
    }
}

static void fuzz_options_values(const vmm_option_desc *table, const char *text)
{
    opt_values vals;
    char err[512];
    err[0] = '\0';
    if (opt_values_parse(&vals, table, text, "fuzz", err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(vals.values == NULL && vals.count == 0);
        return;
    }
    for (size_t i = 0; table && table[i].name; i++) {
        const opt_value *v = opt_values_find(&vals, table[i].name);
        FUZZ_CHECK(v && v->desc == &table[i]);
        if (table[i].default_value)
            FUZZ_CHECK(v->text != NULL);
        if (v->text && table[i].type == VMM_OPT_U64 && (table[i].min || table[i].max))
            FUZZ_CHECK(v->u64 >= table[i].min && v->u64 <= table[i].max);
        if (v->text && table[i].type == VMM_OPT_BOOL)
            FUZZ_CHECK(v->boolean == 0 || v->boolean == 1);
    }
    opt_values_free(&vals);
}

/* Up to 6 options from the input: name, type (1-3, or a bad one), default or none, range, reserved fields. */
static void fuzz_options_table_from(fuzz_cursor *c)
{
    vmm_option_desc table[7];
    char *strings[12];
    unsigned nstr = 0;
    memset(table, 0, sizeof(table));
    unsigned n = fuzz_take_u8(c) % 7;
    for (unsigned i = 0; i < n; i++) {
        uint8_t flags = fuzz_take_u8(c);
        vmm_option_desc *d = &table[i];
        d->name = strings[nstr++] = fuzz_take_str(c);
        d->type = (vmm_option_type)(flags & 3 ? flags & 3 : 7);
        if (flags & 4)
            d->default_value = strings[nstr++] = fuzz_take_str(c);
        if (flags & 8) {
            d->min = fuzz_take_u8(c);
            d->max = fuzz_take_u32(c);
        }
        if (flags & 16)
            d->reserved[1] = d;
    }
    char *text = fuzz_take_str(c);
    char err[512] = "";
    if (opt_check_table(table, err, sizeof(err)) == 0)
        fuzz_options_values(table, text[0] ? text : NULL);
    else
        FUZZ_CHECK(err[0] != '\0');
    free(text);
    for (unsigned i = 0; i < nstr; i++)
        free(strings[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t mode = fuzz_take_u8(&c);
    if (mode % 6 == 4) {
        fuzz_options_table_from(&c);
        return 0;
    }
    if (mode % 6 == 3 && fuzz_options_ntables == 0)
        LLVMFuzzerInitialize(NULL, NULL); /* a caller that skipped the optional initializer */
    uint8_t pick = mode % 6 == 3 ? fuzz_take_u8(&c) : 0;
    char *text = fuzz_take_str(&c);
    uint64_t v = 0;
    int b = -1, rc;
    switch (mode % 6) {
    case 0: {
        static const uint64_t units[] = {1ull << 20, 1, 4096, 0};
        uint64_t unit = units[(mode / 6) % 4];
        rc = opt_parse_size(text, unit, &v);
        fuzz_options_scaled(text, unit, rc, v);
        break;
    }
    case 1:
        rc = opt_parse_u64(text, &v);
        fuzz_options_scaled(text, 1, rc, v);
        break;
    case 2:
        if (opt_parse_bool(text, &b) == 0)
            FUZZ_CHECK(b == 0 || b == 1);
        break;
    case 3:
        /* An empty text stands for NULL: `--device NAME` with no comma. */
        fuzz_options_values(fuzz_options_tables[pick % fuzz_options_ntables], text[0] ? text : NULL);
        break;
    case 5: {
        char err[256] = "";
        if (x86_timer_parse_slack(text, &v, err, sizeof(err)) == 0)
            FUZZ_CHECK(v == UINT64_MAX || v <= 1000000000ull);
        else
            FUZZ_CHECK(err[0] != '\0');
        break;
    }
    }
    free(text);
    return 0;
}
