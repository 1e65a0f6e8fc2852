/* plugin: see plugin.h. */
#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"

#define PLUGIN_MAX_INSTANCE_SIZE (16u << 20)
#define PLUGIN_MAX_PER_FILE 32
/* The kind SDK 1.0 to 1.4 called VMM_KIND_EXEC; kept out of use so that it is refused by name, not as unknown. */
#define PLUGIN_KIND_RETIRED_EXEC 2u

void plugin_registry_init(plugin_registry *reg, const char *hostdrv_abi)
{
    memset(reg, 0, sizeof(*reg));
    reg->host_major = VMM_SDK_MAJOR;
    reg->host_minor = VMM_SDK_MINOR;
    reg->host.version = VMM_HOST_VERSION;
    reg->host.size = sizeof(reg->host);
    reg->host.vmm_version = VMM_VERSION_STRING;
    reg->host.hostdrv_abi = hostdrv_abi ? hostdrv_abi : "none";
}

void plugin_registry_free(plugin_registry *reg)
{
    for (size_t i = 0; i < reg->count; i++)
        free(reg->items[i].path);
    free(reg->items);
    for (size_t i = 0; i < reg->nhandles; i++)
        dlclose(reg->handles[i]);
    free(reg->handles);
    memset(reg, 0, sizeof(*reg));
}

const char *plugin_kind_name(uint32_t kind)
{
    switch (kind) {
    case VMM_KIND_ARCH:
        return "architecture";
    case VMM_KIND_DEVICE:
        return "device";
    }
    return "unknown";
}

const char *plugin_arch_state_abi(const vmm_plugin_desc *d)
{
    const vmm_arch_ops *a = d->arch;
    /* Before 1.5 the field was a reserved slot, NULL by rule 4: such a plugin declares no layout. */
    if (!a || VMM_VERSION_MINOR(d->version) < 5 || VMM_VERSION_MINOR(a->version) < 5)
        return NULL;
    return a->state_abi;
}

int plugin_check_state_abi(const vmm_plugin_desc *d, const char *engine, const char *engine_abi, char *err,
                           size_t errlen)
{
    const char *want = plugin_arch_state_abi(d);
    if (!want || (engine_abi && strcmp(want, engine_abi) == 0))
        return 0;
    snprintf(err, errlen, "plugin '%s' keeps vCPU state in the %s layout, and the %s engine of this vmm has %s",
             d->name, want, engine, engine_abi ? engine_abi : "none");
    return -1;
}

static int plugin_name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= 31;
}

static int plugin_slots_null(void *const *slots, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i])
            return (int)i + 1;
    return 0;
}

/* SDK 1.6: the board an architecture describes (vmm_board), versioned like the operations. */
static int plugin_check_board(const plugin_registry *reg, const vmm_plugin_desc *d, const vmm_board *b, char *err,
                              size_t errlen)
{
    if (VMM_VERSION_MAGIC(b->version) != VMM_DESC_MAGIC || VMM_VERSION_MAJOR(b->version) != reg->host_major ||
        b->size != sizeof(*b)) {
        snprintf(err, errlen, "plugin '%s': its board has version 0x%08x and %u bytes, SDK major %u has %zu", d->name,
                 b->version, b->size, reg->host_major, sizeof(*b));
        return -1;
    }
    int slot = plugin_slots_null(b->reserved, sizeof(b->reserved) / sizeof(b->reserved[0]));
    if ((slot || b->reserved0) && VMM_VERSION_MINOR(b->version) <= reg->host_minor) {
        snprintf(err, errlen, "plugin '%s': its board's reserved slot %d is not NULL", d->name, slot ? slot - 1 : 6);
        return -1;
    }
    if (b->buses & ~(VMM_BUS_PORT | VMM_BUS_MMIO) && VMM_VERSION_MINOR(b->version) <= reg->host_minor) {
        snprintf(err, errlen, "plugin '%s': its board names unknown buses 0x%x", d->name, b->buses);
        return -1;
    }
    return 0;
}

static int plugin_check_arch_ops(const plugin_registry *reg, const vmm_plugin_desc *d, char *err, size_t errlen)
{
    const vmm_arch_ops *a = d->arch;
    if (d->kind != VMM_KIND_ARCH) {
        if (a) {
            snprintf(err, errlen, "plugin '%s' is a %s plugin but has architecture operations", d->name,
                     plugin_kind_name(d->kind));
            return -1;
        }
        return 0;
    }
    if (!a) {
        snprintf(err, errlen, "architecture plugin '%s' has no architecture operations", d->name);
        return -1;
    }
    if (VMM_VERSION_MAGIC(a->version) != VMM_DESC_MAGIC || VMM_VERSION_MAJOR(a->version) != reg->host_major) {
        snprintf(err, errlen, "plugin '%s': architecture operations have version 0x%08x, want major %u", d->name,
                 a->version, reg->host_major);
        return -1;
    }
    if (a->size != sizeof(*a)) {
        snprintf(err, errlen, "plugin '%s': architecture operations are %u bytes, SDK major %u has %zu", d->name,
                 a->size, reg->host_major, sizeof(*a));
        return -1;
    }
    if (!a->vm_load || !a->vcpu_init || !a->vcpu_exit) {
        snprintf(err, errlen, "plugin '%s': architecture operations lack vm_load, vcpu_init or vcpu_exit", d->name);
        return -1;
    }
    /* The last reserved slot became `board` in 1.6: a plugin of 1.5 or older has NULL there (rule 4). */
    if (a->board && VMM_VERSION_MINOR(a->version) < 6 && VMM_VERSION_MINOR(a->version) <= reg->host_minor) {
        snprintf(err, errlen, "plugin '%s': architecture operations reserved slot 0 is not NULL", d->name);
        return -1;
    }
    if (a->board && VMM_VERSION_MINOR(a->version) >= 6 && VMM_VERSION_MINOR(d->version) >= 6)
        return plugin_check_board(reg, d, a->board, err, errlen);
    return 0;
}

int plugin_check_desc(const plugin_registry *reg, const vmm_plugin_desc *d, char *err, size_t errlen)
{
    if (!d) {
        snprintf(err, errlen, "registered a NULL descriptor");
        return -1;
    }
    if (VMM_VERSION_MAGIC(d->version) != VMM_DESC_MAGIC) {
        snprintf(err, errlen, "bad descriptor magic 0x%04x (want 0x%04x): not a vmm plugin descriptor",
                 VMM_VERSION_MAGIC(d->version), VMM_DESC_MAGIC);
        return -1;
    }
    unsigned major = VMM_VERSION_MAJOR(d->version), minor = VMM_VERSION_MINOR(d->version);
    if (major != reg->host_major) {
        snprintf(err, errlen, "built for SDK %u.%u, this vmm speaks SDK major %u (%u.%u): rebuild the plugin", major,
                 minor, reg->host_major, reg->host_major, reg->host_minor);
        return -1;
    }
    if (d->size < sizeof(*d)) {
        snprintf(err, errlen, "descriptor is truncated: %u bytes, SDK %u.x descriptors have %zu", d->size, major,
                 sizeof(*d));
        return -1;
    }
    if (d->size != sizeof(*d)) {
        snprintf(err, errlen, "descriptor is %u bytes, SDK %u.x descriptors have %zu", d->size, major, sizeof(*d));
        return -1;
    }
    if (d->version_end != d->version) {
        snprintf(err, errlen, "descriptor end marker 0x%08x does not match its start 0x%08x (truncated or corrupt)",
                 d->version_end, d->version);
        return -1;
    }
    if (!d->name || !plugin_name_ok(d->name)) {
        snprintf(err, errlen, "plugin name is missing or invalid (want [a-z0-9_-], 1 to 31 characters)");
        return -1;
    }
    if (d->kind == PLUGIN_KIND_RETIRED_EXEC) {
        snprintf(err, errlen, "plugin '%s' declares kind 2 (an execution engine), which vmm does not load: engines "
                 "are part of the core since SDK 1.5; make it an architecture (1) or device (3) plugin", d->name);
        return -1;
    }
    if (d->kind != VMM_KIND_ARCH && d->kind != VMM_KIND_DEVICE) {
        snprintf(err, errlen, "plugin '%s' has an unknown kind %u", d->name, d->kind);
        return -1;
    }
    if (!d->construct) {
        snprintf(err, errlen, "plugin '%s' has no construct callback", d->name);
        return -1;
    }
    if (d->instance_size > PLUGIN_MAX_INSTANCE_SIZE) {
        snprintf(err, errlen, "plugin '%s' asks for %u bytes of instance data (at most %u)", d->name,
                 d->instance_size, PLUGIN_MAX_INSTANCE_SIZE);
        return -1;
    }
    /* A newer minor may have given reserved slots a meaning this core does not know; it ignores them. */
    int slot = plugin_slots_null(d->reserved, sizeof(d->reserved) / sizeof(d->reserved[0]));
    if ((slot || d->reserved_end) && minor <= reg->host_minor) {
        snprintf(err, errlen, "plugin '%s': reserved descriptor slot %d is not NULL", d->name, slot ? slot - 1 : 8);
        return -1;
    }
    if (plugin_check_arch_ops(reg, d, err, errlen))
        return -1;
    char sub[200];
    if (opt_check_table(d->options, sub, sizeof(sub))) {
        snprintf(err, errlen, "plugin '%s': %s", d->name, sub);
        return -1;
    }
    return 0;
}

const plugin *plugin_find(const plugin_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(reg->items[i].desc->name, name) == 0)
            return &reg->items[i];
    return NULL;
}

const plugin *plugin_find_kind(const plugin_registry *reg, const char *name, vmm_plugin_kind kind)
{
    const plugin *p = plugin_find(reg, name);
    return p && p->desc->kind == (uint32_t)kind ? p : NULL;
}

/* What the entry point's registration callback collects before the file is accepted as a whole. */
struct plugin_pending {
    const plugin_registry *reg;
    const vmm_plugin_desc *descs[PLUGIN_MAX_PER_FILE];
    size_t count;
    char err[256];
};

static int plugin_register_cb(void *ctx, const vmm_plugin_desc *desc)
{
    struct plugin_pending *p = ctx;
    if (p->err[0])
        return -1;
    if (p->count == PLUGIN_MAX_PER_FILE) {
        snprintf(p->err, sizeof(p->err), "registers more than %d descriptors", PLUGIN_MAX_PER_FILE);
        return -1;
    }
    if (plugin_check_desc(p->reg, desc, p->err, sizeof(p->err)))
        return -1;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->descs[i]->name, desc->name) == 0) {
            snprintf(p->err, sizeof(p->err), "registers plugin '%s' twice", desc->name);
            return -1;
        }
    p->descs[p->count++] = desc;
    return 0;
}

static int plugin_grow(void **array, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *n = realloc(*array, ncap * elem);
    if (!n)
        return -1;
    *array = n;
    *cap = ncap;
    return 0;
}

int plugin_load_file(plugin_registry *reg, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: no such plugin file", path);
        return -1;
    }
    /* dlopen searches the library path for a name without '/': give it the file that was checked. */
    char real[4096];
    if (!realpath(path, real)) {
        snprintf(err, errlen, "%s: no such plugin file", path);
        return -1;
    }
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s: cannot load: %s", path, why ? why : "unknown dlopen error");
        return -1;
    }
    vmm_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, VMM_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s: no entry symbol '%s': not a vmm plugin", path, VMM_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return -1;
    }
    struct plugin_pending pend = {.reg = reg};
    int rc = entry(&reg->host, plugin_register_cb, &pend);
    if (!pend.err[0] && rc != 0)
        snprintf(pend.err, sizeof(pend.err), "entry point failed (returned %d)", rc);
    if (!pend.err[0] && pend.count == 0)
        snprintf(pend.err, sizeof(pend.err), "entry point registered no descriptor");
    for (size_t i = 0; !pend.err[0] && i < pend.count; i++) {
        const plugin *other = plugin_find(reg, pend.descs[i]->name);
        if (other)
            snprintf(pend.err, sizeof(pend.err), "plugin '%s' is already loaded from %s", pend.descs[i]->name,
                     other->path);
    }
    if (pend.err[0]) {
        snprintf(err, errlen, "%s: %s", path, pend.err);
        dlclose(h);
        return -1;
    }
    if (plugin_grow((void **)&reg->handles, &reg->caphandles, reg->nhandles, sizeof(void *)))
        goto oom;
    for (size_t i = 0; i < pend.count; i++) {
        if (plugin_grow((void **)&reg->items, &reg->cap, reg->count, sizeof(plugin)))
            goto oom;
        char *p = strdup(path);
        if (!p)
            goto oom;
        reg->items[reg->count++] = (plugin){.desc = pend.descs[i], .path = p, .handle = h};
    }
    reg->handles[reg->nhandles++] = h;
    return 0;
oom:
    /* Drop what this file registered so far; nothing may point into a closed handle. */
    while (reg->count && reg->items[reg->count - 1].handle == h)
        free(reg->items[--reg->count].path);
    dlclose(h);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
}

static int plugin_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

const plugin *plugin_find_path(const plugin_registry *reg, const char *path)
{
    char real[4096];
    if (!realpath(path, real))
        return NULL;
    for (size_t i = 0; i < reg->count; i++) {
        char other[4096];
        if (realpath(reg->items[i].path, other) && strcmp(real, other) == 0)
            return &reg->items[i];
    }
    return NULL;
}

static int plugin_load_dir_depth(plugin_registry *reg, const char *dir, int depth, plugin_error_fn fn, void *ctx)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        return 0; /* a search directory that does not exist is not an error */
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        char path[4096];
        if (name[0] == '.' || (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                failed += plugin_load_dir_depth(reg, path, depth - 1, fn, ctx);
        } else if (plugin_has_suffix(name, ".so") && !plugin_find_path(reg, path)) {
            char err[512];
            if (plugin_load_file(reg, path, err, sizeof(err))) {
                failed++;
                if (fn)
                    fn(ctx, path, err);
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return failed;
}

int plugin_load_dir(plugin_registry *reg, const char *dir, plugin_error_fn fn, void *ctx)
{
    return plugin_load_dir_depth(reg, dir, 2, fn, ctx);
}
