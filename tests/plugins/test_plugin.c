/*
 * test_plugin: the one source of every plugin tests/unit/test_plugin_loader.c loads. tests/plugins/meson.build
 * compiles it once per variant; the -D flags of a variant select the single thing that variant gets wrong (or
 * nothing, for the good ones), so each bad plugin differs from a valid one in exactly one respect:
 *
 *   TP_NAME="..."       the plugin's name (always given)
 *   TP_ARCH             an architecture plugin (with arch ops unless TP_NO_ARCH_OPS), else a device
 *   TP_MAGIC=, TP_MAJOR=, TP_MINOR=   descriptor version fields (default: this SDK's)
 *   TP_TRUNCATED        size is that of a shorter descriptor
 *   TP_BAD_END          version_end differs from version
 *   TP_RESERVED         a reserved descriptor slot is not NULL
 *   TP_BAD_NAME         the name breaks the [a-z0-9_-] rule
 *   TP_NO_CONSTRUCT     construct is NULL
 *   TP_NO_ARCH_OPS      with TP_ARCH: arch is NULL
 *   TP_BAD_OPTIONS      the option table declares an option twice
 *   TP_NO_ENTRY         vmm_plugin_entry is not exported (a misspelt entry point is)
 *   TP_TWO_DESCS        the entry registers a second, valid descriptor named TP_NAME "-second"
 *   TP_DUP_DESC         the entry registers a second descriptor with the same name
 *   TP_ENTRY_FAILS      the entry registers its descriptor, then returns -1
 *   TP_NO_DESC          the entry returns 0 without registering anything
 *
 * Like a third-party plugin it includes nothing but <vmm/plugin.h> and system headers.
 */
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#ifndef TP_NAME
#error "TP_NAME must name the plugin"
#endif
#ifndef TP_MAGIC
#define TP_MAGIC VMM_DESC_MAGIC
#endif
#ifndef TP_MAJOR
#define TP_MAJOR VMM_SDK_MAJOR
#endif
#ifndef TP_MINOR
#define TP_MINOR VMM_SDK_MINOR
#endif

#define TP_VERSION VMM_MAKE_VERSION(TP_MAGIC, TP_MAJOR, TP_MINOR)

#ifdef TP_TRUNCATED
#define TP_SIZE ((uint32_t)offsetof(vmm_plugin_desc, reserved))
#else
#define TP_SIZE ((uint32_t)sizeof(vmm_plugin_desc))
#endif

#ifdef TP_BAD_END
#define TP_VERSION_END (TP_VERSION ^ 1u)
#else
#define TP_VERSION_END TP_VERSION
#endif

#ifdef TP_BAD_NAME
#define TP_DESC_NAME "Bad Name"
#else
#define TP_DESC_NAME TP_NAME
#endif

struct tp_state {
    vmm_instance *inst;
    const vmm_helpers *hlp;
};

/* Something for a filled reserved slot to point at. */
static int tp_reserved_target;

static int tp_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    struct tp_state *s = state;
    s->inst = inst;
    s->hlp = hlp;
    return 0;
}

#ifdef TP_ARCH
static int tp_vm_load(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    (void)inst;
    (void)state;
    (void)images;
    (void)nimages;
    return 0;
}

static int tp_vcpu_init(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    (void)inst;
    (void)state;
    (void)vcpu;
    return 0;
}

static vmm_exit_action tp_vcpu_exit(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    (void)inst;
    (void)state;
    (void)vcpu;
    (void)exit;
    return VMM_ACTION_STOP;
}

static const vmm_arch_ops tp_arch_ops = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_arch_ops),
    .vm_load = tp_vm_load,
    .vcpu_init = tp_vcpu_init,
    .vcpu_exit = tp_vcpu_exit,
};
#endif

static const vmm_option_desc tp_options[] = {
    {.name = "iobase", .type = VMM_OPT_U64, .default_value = "0x3f8", .help = "first port", .min = 0, .max = 0xffff},
    {.name = "verbose", .type = VMM_OPT_BOOL, .default_value = "off", .help = "log every access"},
    {.name = "label", .type = VMM_OPT_STRING, .help = "a free-form label"},
#ifdef TP_BAD_OPTIONS
    {.name = "iobase", .type = VMM_OPT_U64, .help = "declared a second time"},
#endif
    {.name = NULL},
};

static const vmm_plugin_desc tp_desc = {
    .version = TP_VERSION,
    .size = TP_SIZE,
#ifdef TP_ARCH
    .kind = VMM_KIND_ARCH,
#else
    .kind = VMM_KIND_DEVICE,
#endif
    .instance_size = sizeof(struct tp_state),
    .name = TP_DESC_NAME,
    .description = "a plugin for the loader's unit tests",
    .options = tp_options,
#ifndef TP_NO_CONSTRUCT
    .construct = tp_construct,
#endif
#if defined(TP_ARCH) && !defined(TP_NO_ARCH_OPS)
    .arch = &tp_arch_ops,
#endif
#ifdef TP_RESERVED
    .reserved = {[3] = &tp_reserved_target},
#endif
    .version_end = TP_VERSION_END,
};

#if defined(TP_TWO_DESCS) || defined(TP_DUP_DESC)
static const vmm_plugin_desc tp_desc2 = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
#ifdef TP_TWO_DESCS
    .name = TP_NAME "-second",
#else
    .name = TP_NAME,
#endif
    .description = "the second descriptor of its file",
    .construct = tp_construct,
    .version_end = VMM_DESC_VERSION,
};
#endif

#ifdef TP_NO_ENTRY
#define TP_ENTRY_NAME vmm_plugin_entry_point /* close, but not the symbol the core looks for */
#else
#define TP_ENTRY_NAME vmm_plugin_entry
#endif

VMM_EXPORT int TP_ENTRY_NAME(const vmm_host_info *host, vmm_register_fn reg, void *ctx);
VMM_EXPORT int TP_ENTRY_NAME(const vmm_host_info *host, vmm_register_fn reg, void *ctx)
{
    (void)tp_reserved_target;
    (void)tp_construct; /* unused in the TP_NO_CONSTRUCT variant */
    /* The core must describe itself: a plugin of this major could not run otherwise. */
    if (!host || VMM_VERSION_MAGIC(host->version) != VMM_HOST_MAGIC ||
        VMM_VERSION_MAJOR(host->version) != VMM_SDK_MAJOR || host->size < sizeof(*host) || !host->vmm_version ||
        !host->hostdrv_abi)
        return -2;
#ifdef TP_ARCH
    (void)&tp_arch_ops; /* unused in the TP_NO_ARCH_OPS variant */
#endif
#ifdef TP_NO_DESC
    (void)reg;
    (void)ctx;
    (void)&tp_desc;
    return 0;
#else
    if (reg(ctx, &tp_desc) != 0)
        return -1;
#if defined(TP_TWO_DESCS) || defined(TP_DUP_DESC)
    if (reg(ctx, &tp_desc2) != 0)
        return -1;
#endif
#ifdef TP_ENTRY_FAILS
    return -1;
#else
    return 0;
#endif
#endif
}
