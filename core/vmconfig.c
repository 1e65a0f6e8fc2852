/* vmconfig: see vmconfig.h. */
#include "vmconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pages are 4 KiB; memmap.h says so too, but this module stays free of the memory map. */
#define VMCONFIG_PAGE 4096u

static int vmconfig_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends "key value[,more]\n"; a newline inside would split the value into a line of its own on reading. */
static int vmconfig_line(char *out, size_t len, size_t *n, const char *key, const char *value, const char *more,
                         char *err, size_t errlen)
{
    if (strchr(value, '\n') || (more && strchr(more, '\n')))
        return vmconfig_fail(err, errlen, "the configuration's %s has a newline, which a snapshot cannot keep", key);
    int w = snprintf(out + *n, len - *n, "%s %s%s%s\n", key, value, more ? "," : "", more ? more : "");
    if (w < 0 || (size_t)w >= len - *n)
        return vmconfig_fail(err, errlen, "the configuration is longer than the %zu bytes a snapshot keeps of it",
                             len - 1);
    *n += (size_t)w;
    return 0;
}

int vm_config_format(const vm_config *cfg, char *out, size_t len, char *err, size_t errlen)
{
    char num[32];
    size_t n = 0;
    if (!len)
        return vmconfig_fail(err, errlen, "no room for the configuration");
    out[0] = '\0';
    if (vmconfig_line(out, len, &n, "arch", cfg->arch ? cfg->arch : "", cfg->arch_options, err, errlen))
        return -1;
    snprintf(num, sizeof(num), "%llu", (unsigned long long)cfg->ram_size);
    if (vmconfig_line(out, len, &n, "mem", num, NULL, err, errlen))
        return -1;
    snprintf(num, sizeof(num), "%u", cfg->cpus);
    if (vmconfig_line(out, len, &n, "cpus", num, NULL, err, errlen))
        return -1;
    for (unsigned i = 0; i < cfg->ndevices; i++)
        if (vmconfig_line(out, len, &n, "device", cfg->devices[i].name, cfg->devices[i].options, err, errlen))
            return -1;
    if (cfg->cmdline && vmconfig_line(out, len, &n, "append", cfg->cmdline, NULL, err, errlen))
        return -1;
    if (cfg->accel && vmconfig_line(out, len, &n, "engine", cfg->accel, NULL, err, errlen))
        return -1;
    if (cfg->nodefaults && vmconfig_line(out, len, &n, "nodefaults", "1", NULL, err, errlen))
        return -1;
    return 0;
}

/* Decimal digits only, as vm_config_format writes them: anything else in a number is damage, not a spelling. */
static int vmconfig_decimal(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* "NAME,OPTIONS" split in place. */
static void vmconfig_split(char *val, const char **name, const char **options)
{
    char *comma = strchr(val, ',');
    if (comma)
        *comma = '\0';
    *name = val;
    *options = comma ? comma + 1 : NULL;
}

int vm_config_parse(const char *text, const char *snapshot, vm_config_text *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->buf = strdup(text ? text : "");
    if (!t->buf)
        return vmconfig_fail(err, errlen, "snapshot '%s': out of memory reading its configuration", snapshot);
    t->cfg.devices = t->devices;
    int have_arch = 0;
    for (char *save = NULL, *line = strtok_r(t->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *val = strchr(line, ' ');
        if (!val) {
            vmconfig_fail(err, errlen, "snapshot '%s': its configuration has a line without a value ('%.64s')",
                          snapshot, line);
            goto bad;
        }
        *val++ = '\0';
        if (!strcmp(line, "arch")) {
            if (have_arch++) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration names the architecture twice", snapshot);
                goto bad;
            }
            const char *name, *opts;
            vmconfig_split(val, &name, &opts);
            if (*name) {
                t->cfg.arch = name;
                t->cfg.arch_options = opts;
            }
        } else if (!strcmp(line, "mem")) {
            uint64_t v;
            if (vmconfig_decimal(val, &v) || v < (1u << 20) || (v & (VMCONFIG_PAGE - 1))) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration's mem '%.64s' is not a RAM size in bytes "
                              "(a multiple of 4 KiB of at least 1 MiB)", snapshot, val);
                goto bad;
            }
            t->cfg.ram_size = v;
            t->has_mem = 1;
        } else if (!strcmp(line, "cpus")) {
            uint64_t v;
            if (vmconfig_decimal(val, &v) || v == 0 || v > VM_CONFIG_MAX_CPUS) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration's cpus '%.64s' is not a number from 1 "
                              "to %d", snapshot, val, VM_CONFIG_MAX_CPUS);
                goto bad;
            }
            t->cfg.cpus = (unsigned)v;
            t->has_cpus = 1;
        } else if (!strcmp(line, "device")) {
            const char *name, *opts;
            char shown[80];
            snprintf(shown, sizeof(shown), "%s", val);
            vmconfig_split(val, &name, &opts);
            if (!*name) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration has a device without a name "
                              "('device %s')", snapshot, shown);
                goto bad;
            }
            if (t->cfg.ndevices == VM_CONFIG_MAX_DEVICES) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration has more than %d devices", snapshot,
                              VM_CONFIG_MAX_DEVICES);
                goto bad;
            }
            t->devices[t->cfg.ndevices++] = (vm_device_config){.name = name, .options = opts};
        } else if (!strcmp(line, "append")) {
            t->cfg.cmdline = val;
        } else if (!strcmp(line, "engine")) {
            if (!*val || strpbrk(val, " ,")) {
                vmconfig_fail(err, errlen, "snapshot '%s': its configuration's engine '%.64s' is not an engine name",
                              snapshot, val);
                goto bad;
            }
            t->cfg.accel = val;
        } else if (!strcmp(line, "nodefaults")) {
            t->cfg.nodefaults = 1;
        }
    }
    return 0;
bad:
    vm_config_text_free(t);
    return -1;
}

void vm_config_text_free(vm_config_text *t)
{
    free(t->buf);
    memset(t, 0, sizeof(*t));
}
