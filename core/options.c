/* options: see options.h. */
#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int opt_suffix_shift(const char *s, unsigned *shift)
{
    static const char units[] = "KMGT";
    if (*s == '\0') {
        *shift = 0;
        return 0;
    }
    char c = (char)(s[0] >= 'a' && s[0] <= 'z' ? s[0] - 'a' + 'A' : s[0]);
    const char *u = c ? strchr(units, c) : NULL;
    if (!u)
        return -1;
    /* Accept K, KB, KiB (any case). */
    if (s[1] != '\0' && strcasecmp(s + 1, "b") != 0 && strcasecmp(s + 1, "ib") != 0)
        return -1;
    *shift = 10u * (unsigned)(u - units + 1);
    return 0;
}

static int opt_parse_scaled(const char *text, uint64_t plain_unit, uint64_t *out)
{
    /* strtoull would skip white space and accept a sign; a size is digits from the first character on. */
    if (!text || !(*text >= '0' && *text <= '9'))
        return -1;
    errno = 0;
    char *end;
    int base = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? 16 : 10;
    uint64_t v = strtoull(text, &end, base);
    if (errno || end == text)
        return -1;
    unsigned shift;
    if (opt_suffix_shift(end, &shift))
        return -1;
    if (base == 16 && shift)
        return -1; /* "0x10M" is more likely a typo than a size */
    /* Hex is a byte count ("0x100000"); only plain decimal takes the caller's unit. */
    uint64_t unit = shift ? (1ull << shift) : base == 16 ? 1 : plain_unit;
    if (unit && v > UINT64_MAX / unit)
        return -1;
    *out = v * unit;
    return 0;
}

int opt_parse_size(const char *text, uint64_t plain_unit, uint64_t *out)
{
    return opt_parse_scaled(text, plain_unit, out);
}

int opt_parse_u64(const char *text, uint64_t *out)
{
    return opt_parse_scaled(text, 1, out);
}

int opt_parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int opt_name_ok(const char *name)
{
    if (!name[0] || strlen(name) > 31)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Convert one value to its typed form, checking range. */
static int opt_convert(opt_value *v, const char *who, char *err, size_t errlen)
{
    const vmm_option_desc *d = v->desc;
    switch (d->type) {
    case VMM_OPT_STRING:
        return 0;
    case VMM_OPT_BOOL:
        if (opt_parse_bool(v->text, &v->boolean)) {
            snprintf(err, errlen, "%s: option %s: '%s' is not a boolean (use on/off)", who, d->name, v->text);
            return -1;
        }
        return 0;
    case VMM_OPT_U64:
        if (opt_parse_u64(v->text, &v->u64)) {
            snprintf(err, errlen, "%s: option %s: '%s' is not a number", who, d->name, v->text);
            return -1;
        }
        if ((d->min || d->max) && (v->u64 < d->min || v->u64 > d->max)) {
            snprintf(err, errlen, "%s: option %s: %s is out of range (0x%" PRIx64 "-0x%" PRIx64 ")", who, d->name,
                     v->text, d->min, d->max);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "%s: option %s has an unknown type %d", who, d->name, (int)d->type);
    return -1;
}

int opt_check_table(const vmm_option_desc *table, char *err, size_t errlen)
{
    if (!table)
        return 0;
    size_t n = 0;
    for (; table[n].name; n++) {
        const vmm_option_desc *d = &table[n];
        if (n >= OPT_MAX_OPTIONS) {
            snprintf(err, errlen, "option table has more than %d entries (missing NULL terminator?)", OPT_MAX_OPTIONS);
            return -1;
        }
        if (!opt_name_ok(d->name)) {
            snprintf(err, errlen, "option %zu has an invalid name (want [a-z0-9_-], at most 31 characters)", n);
            return -1;
        }
        if (d->type != VMM_OPT_STRING && d->type != VMM_OPT_U64 && d->type != VMM_OPT_BOOL) {
            snprintf(err, errlen, "option %s has an unknown type %d", d->name, (int)d->type);
            return -1;
        }
        if (d->reserved[0] || d->reserved[1]) {
            snprintf(err, errlen, "option %s: reserved fields are not NULL", d->name);
            return -1;
        }
        for (size_t j = 0; j < n; j++)
            if (strcmp(table[j].name, d->name) == 0) {
                snprintf(err, errlen, "option %s is declared twice", d->name);
                return -1;
            }
        if (d->default_value) {
            opt_value v = {.desc = d, .text = (char *)d->default_value};
            char sub[200];
            if (opt_convert(&v, "default", sub, sizeof(sub))) {
                snprintf(err, errlen, "option %s: bad default value: %s", d->name, sub);
                return -1;
            }
        }
    }
    return 0;
}

void opt_values_free(opt_values *vals)
{
    for (size_t i = 0; i < vals->count; i++)
        free(vals->values[i].text);
    free(vals->values);
    vals->values = NULL;
    vals->count = 0;
}

static void opt_list_names(const vmm_option_desc *table, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; table && table[i].name && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", table[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, len, "none");
}

int opt_values_parse(opt_values *out, const vmm_option_desc *table, const char *text, const char *who, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t n = 0;
    while (table && table[n].name)
        n++;
    out->values = calloc(n ? n : 1, sizeof(opt_value));
    if (!out->values) {
        snprintf(err, errlen, "%s: out of memory", who);
        return -1;
    }
    out->count = n;
    for (size_t i = 0; i < n; i++)
        out->values[i].desc = &table[i];

    char *copy = text ? strdup(text) : NULL;
    if (text && !copy) {
        snprintf(err, errlen, "%s: out of memory", who);
        goto fail;
    }
    for (char *save = NULL, *item = copy ? strtok_r(copy, ",", &save) : NULL; item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(err, errlen, "%s: option '%s' has no value (write %s=VALUE)", who, item, item);
            goto fail;
        }
        *eq = '\0';
        opt_value *v = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(out->values[i].desc->name, item) == 0)
                v = &out->values[i];
        if (!v) {
            char names[256];
            opt_list_names(table, names, sizeof(names));
            snprintf(err, errlen, "%s: unknown option '%s' (known: %s)", who, item, names);
            goto fail;
        }
        if (v->text) {
            snprintf(err, errlen, "%s: option %s given twice", who, item);
            goto fail;
        }
        v->text = strdup(eq + 1);
        if (!v->text || opt_convert(v, who, err, errlen))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        opt_value *v = &out->values[i];
        if (!v->text && v->desc->default_value) {
            v->text = strdup(v->desc->default_value);
            if (!v->text || opt_convert(v, who, err, errlen))
                goto fail;
        }
    }
    free(copy);
    return 0;
fail:
    free(copy);
    opt_values_free(out);
    return -1;
}

const opt_value *opt_values_find(const opt_values *vals, const char *name)
{
    for (size_t i = 0; i < vals->count; i++)
        if (strcmp(vals->values[i].desc->name, name) == 0)
            return &vals->values[i];
    return NULL;
}
