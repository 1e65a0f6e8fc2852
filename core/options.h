/*
 * options: parsing of sizes, numbers and booleans from the command line, and of a plugin's typed options
 * ("key=val,key=val") against the table its descriptor declares. Called by core/ only.
 */
#ifndef VMM_CORE_OPTIONS_H
#define VMM_CORE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#define OPT_MAX_OPTIONS 64

typedef struct opt_value {
    const vmm_option_desc *desc;
    char *text; /* NULL when unset */
    uint64_t u64;
    int boolean;
} opt_value;

typedef struct opt_values {
    opt_value *values;
    size_t count;
} opt_values;

/* "64M", "1G", "4096K", "0x100000" (hex is bytes); a plain decimal number is `plain_unit` bytes each. 0 on
 * success. */
int opt_parse_size(const char *text, uint64_t plain_unit, uint64_t *out);
/* Decimal or 0x hex, optional K/M/G/T suffix (powers of 1024). 0 on success. */
int opt_parse_u64(const char *text, uint64_t *out);
int opt_parse_bool(const char *text, int *out);
/* Check a plugin's option table (names, types, defaults). 0, or -1 with the reason in err. */
int opt_check_table(const vmm_option_desc *table, char *err, size_t errlen);
/* Parse "k=v,k=v" (or NULL) against table, applying defaults. `who` names the plugin in messages. */
int opt_values_parse(opt_values *out, const vmm_option_desc *table, const char *text, const char *who, char *err,
                     size_t errlen);
void opt_values_free(opt_values *vals);
const opt_value *opt_values_find(const opt_values *vals, const char *name);

#endif
