/*
 * plugin: finding, loading (dlopen) and validating plugins, and the registry of the descriptors they
 * registered. Every check of the ABI rules in <vmm/plugin.h> lives here. Called by core/ only.
 */
#ifndef VMM_CORE_PLUGIN_H
#define VMM_CORE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

typedef struct plugin {
    const vmm_plugin_desc *desc;
    char *path; /* the file it came from */
    void *handle;
} plugin;

typedef struct plugin_registry {
    plugin *items;
    size_t count, cap;
    void **handles; /* every dlopen'ed file, closed at free */
    size_t nhandles, caphandles;
    unsigned host_major, host_minor; /* the SDK version the core offers; tests vary it */
    vmm_host_info host;
} plugin_registry;

/* Called for each file that could not be loaded, with a one-line reason naming the file. */
typedef void (*plugin_error_fn)(void *ctx, const char *path, const char *reason);

void plugin_registry_init(plugin_registry *reg, const char *hostdrv_abi);
void plugin_registry_free(plugin_registry *reg);
/* Check one descriptor against the registry's host version. 0, or -1 with the reason in err. */
int plugin_check_desc(const plugin_registry *reg, const vmm_plugin_desc *desc, char *err, size_t errlen);
/* Load one file. 0, or -1 with "FILE: reason" in err; on failure nothing of the file stays registered. */
int plugin_load_file(plugin_registry *reg, const char *path, char *err, size_t errlen);
/* Load every *.so below dir (two levels deep). Returns how many files failed; each is reported through fn. */
int plugin_load_dir(plugin_registry *reg, const char *dir, plugin_error_fn fn, void *ctx);
const plugin *plugin_find(const plugin_registry *reg, const char *name);
/* The first plugin registered from the same file as path (compared by real path), or NULL. */
const plugin *plugin_find_path(const plugin_registry *reg, const char *path);
const plugin *plugin_find_kind(const plugin_registry *reg, const char *name, vmm_plugin_kind kind);
const char *plugin_kind_name(uint32_t kind);
/* The state-class layout an architecture's kvm configurations use (vmm_arch_ops.state_abi, SDK 1.5), or NULL
 * when it declares none. */
const char *plugin_arch_state_abi(const vmm_plugin_desc *desc);
/* The host-driver gate: may desc's guest run on an engine whose state classes have the layout engine_abi
 * (hostdrv_abi)? 0, or -1 with one line in err naming the plugin, engine and both layouts. */
int plugin_check_state_abi(const vmm_plugin_desc *desc, const char *engine, const char *engine_abi, char *err,
                           size_t errlen);

#endif
