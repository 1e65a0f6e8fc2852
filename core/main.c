/*
 * The vmm command: parses the command line, finds the plugins, and runs a VM (`vmm run`) or describes the
 * plugins (`vmm plugins`). Exit status: the guest's (debug-exit), 0 after a clean stop, 1 when the host or the
 * guest failed, 2 for bad usage or bad input.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostdrv.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "plugin.h"
#include "vm.h"

#define MAIN_MAX_LIST 64

static const char main_usage[] =
    "Usage: vmm [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "A plugin-architected virtual machine monitor.\n"
    "\n"
    "Commands:\n"
    "  run       run a VM\n"
    "  plugins   list the plugins found; --check FILE validates one plugin file,\n"
    "            --help NAME describes one plugin and its options\n"
    "\n"
    "Options for run:\n"
    "  --arch NAME[,key=val...]     architecture plugin (e.g. x86-raw)\n"
    "  --mem SIZE                   guest RAM, e.g. 64M, 1G (a plain number is MiB; default 64M)\n"
    "  --cpus N                     virtual CPUs (default 1)\n"
    "  --image FILE[@ADDR]          image for the architecture plugin to load (repeatable)\n"
    "  --kernel FILE                kernel for the architecture plugin to boot\n"
    "  --initrd FILE                initial RAM disk for the kernel\n"
    "  --append TEXT                kernel command line\n"
    "  --stats                      print exit and plugin statistics when the VM ends\n"
    "  --device NAME[,key=val...]   add a device; NAME may be a path to a plugin .so (repeatable)\n"
    "\n"
    "Options for any command:\n"
    "  --plugin-path DIR            also look for plugins in DIR (repeatable; before the default)\n"
    "  --log LEVEL                  error, warn (default), info, debug or trace\n"
    "  --help, -h                   this help\n"
    "  --version, -V                print the version\n"
    "\n"
    "Plugins are searched in --plugin-path, then $VMM_PLUGIN_PATH (colon-separated), then the build tree\n"
    "(when vmm runs from it) or " VMM_INSTALLED_PLUGIN_DIR ".\n"
    "Console keys: Ctrl-A x quits, Ctrl-A h lists the keys.\n";

typedef struct main_args {
    const char *command;
    const char *arch;
    char *arch_name;
    const char *arch_options;
    uint64_t mem;
    unsigned cpus;
    vm_image_config images[MAIN_MAX_LIST];
    unsigned nimages;
    vm_device_config devices[MAIN_MAX_LIST];
    char *device_names[MAIN_MAX_LIST];
    unsigned ndevices;
    const char *plugin_paths[MAIN_MAX_LIST];
    unsigned npaths;
    const char *check_file;
    const char *help_plugin; /* plugins --help NAME */
    const char *cmdline;
    int stats;
} main_args;

static int main_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "vmm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'vmm --help'.\n");
    return 2;
}

/* "NAME,rest" -> name (allocated) and options (pointer into text, or NULL). */
static char *main_split_name(const char *text, const char **options)
{
    const char *comma = strchr(text, ',');
    *options = comma ? comma + 1 : NULL;
    return comma ? strndup(text, (size_t)(comma - text)) : strdup(text);
}

/* --kernel and --initrd: one each, no load address (the architecture plugin places them). */
static int main_add_boot_image(main_args *a, const char *opt, const char *path, vmm_image_role role)
{
    for (unsigned i = 0; i < a->nimages; i++)
        if (a->images[i].role == (int)role)
            return main_usage_error("%s given twice", opt);
    if (a->nimages == MAIN_MAX_LIST)
        return main_usage_error("too many images (at most %s)", "64");
    a->images[a->nimages++] = (vm_image_config){.path = path, .role = role};
    return 0;
}

static int main_parse_image(main_args *a, const char *text)
{
    if (a->nimages == MAIN_MAX_LIST)
        return main_usage_error("too many --image options (at most %s)", "64");
    vm_image_config *img = &a->images[a->nimages];
    img->role = VMM_IMAGE_GENERIC;
    const char *at = strrchr(text, '@');
    img->path = text;
    if (at) {
        uint64_t addr;
        if (opt_parse_u64(at + 1, &addr))
            return main_usage_error("--image %s: the load address after '@' is not a number", text);
        char *path = strndup(text, (size_t)(at - text));
        if (!path || !*path) {
            free(path);
            return main_usage_error("--image %s: no file name before '@'", text);
        }
        img->path = path;
        img->load_addr = addr;
        img->has_load_addr = 1;
    }
    a->nimages++;
    return 0;
}

static int main_parse_args(main_args *a, int argc, char **argv)
{
    a->mem = 64ull << 20;
    a->cpus = 1;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = NULL;
        char name[32];
        if (strncmp(opt, "--", 2) == 0 && strchr(opt, '=')) {
            /* --opt=value */
            size_t n = (size_t)(strchr(opt, '=') - opt);
            if (n >= sizeof(name))
                return main_usage_error("unknown option '%s'", opt);
            memcpy(name, opt, n);
            name[n] = '\0';
            val = opt + n + 1;
            opt = name;
        }
        int takes_value = !strcmp(opt, "--arch") || !strcmp(opt, "--mem") || !strcmp(opt, "--cpus") ||
                          !strcmp(opt, "--image") || !strcmp(opt, "--device") || !strcmp(opt, "--plugin-path") ||
                          !strcmp(opt, "--log") || !strcmp(opt, "--check") || !strcmp(opt, "--kernel") ||
                          !strcmp(opt, "--initrd") || !strcmp(opt, "--append");
        if (takes_value && !val) {
            if (i + 1 >= argc)
                return main_usage_error("option %s needs a value", opt);
            val = argv[++i];
        } else if (!takes_value && val) {
            return main_usage_error("option %s takes no value", opt);
        }

        if ((!strcmp(opt, "--help") || !strcmp(opt, "-h")) && a->command && !strcmp(a->command, "plugins") &&
            i + 1 < argc && argv[i + 1][0] != '-') {
            a->help_plugin = argv[++i];
        } else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            fputs(main_usage, stdout);
            exit(0);
        } else if (!strcmp(opt, "--version") || !strcmp(opt, "-V")) {
            printf("vmm %s (plugin SDK %d.%d)\n", VMM_VERSION_STRING, VMM_SDK_MAJOR, VMM_SDK_MINOR);
            exit(0);
        } else if (!strcmp(opt, "--arch")) {
            free(a->arch_name);
            a->arch_name = main_split_name(val, &a->arch_options);
            a->arch = a->arch_name;
        } else if (!strcmp(opt, "--mem")) {
            if (opt_parse_size(val, 1ull << 20, &a->mem) || a->mem == 0)
                return main_usage_error("--mem %s: not a size (try 64M or 1G)", val);
            if (a->mem < (1ull << 20) || (a->mem & (MEMMAP_PAGE_SIZE - 1)))
                return main_usage_error("--mem %s: must be at least 1M and a multiple of 4K", val);
        } else if (!strcmp(opt, "--cpus")) {
            uint64_t n;
            if (opt_parse_u64(val, &n) || n == 0 || n > 1024)
                return main_usage_error("--cpus %s: not a number from 1 to 1024", val);
            a->cpus = (unsigned)n;
        } else if (!strcmp(opt, "--image")) {
            if (main_parse_image(a, val))
                return 2;
        } else if (!strcmp(opt, "--kernel")) {
            if (main_add_boot_image(a, opt, val, VMM_IMAGE_KERNEL))
                return 2;
        } else if (!strcmp(opt, "--initrd")) {
            if (main_add_boot_image(a, opt, val, VMM_IMAGE_INITRD))
                return 2;
        } else if (!strcmp(opt, "--append")) {
            a->cmdline = val;
        } else if (!strcmp(opt, "--device")) {
            if (a->ndevices == MAIN_MAX_LIST)
                return main_usage_error("too many --device options (at most %s)", "64");
            const char *dopts;
            char *dname = main_split_name(val, &dopts);
            if (!dname || !*dname) {
                free(dname);
                return main_usage_error("--device %s: no device name", val);
            }
            a->device_names[a->ndevices] = dname;
            a->devices[a->ndevices++] = (vm_device_config){.name = dname, .options = dopts};
        } else if (!strcmp(opt, "--plugin-path")) {
            if (a->npaths == MAIN_MAX_LIST)
                return main_usage_error("too many --plugin-path options (at most %s)", "64");
            a->plugin_paths[a->npaths++] = val;
        } else if (!strcmp(opt, "--log")) {
            int level = log_parse_level(val);
            if (level < 0)
                return main_usage_error("--log %s: use error, warn, info, debug or trace", val);
            log_set_level((vmm_log_level)level);
        } else if (!strcmp(opt, "--stats")) {
            a->stats = 1;
        } else if (!strcmp(opt, "--check")) {
            a->check_file = val;
        } else if (opt[0] == '-') {
            return main_usage_error("unknown option '%s'", opt);
        } else if (!a->command) {
            a->command = opt;
        } else {
            return main_usage_error("unexpected argument '%s'", opt);
        }
    }
    return 0;
}

static void main_plugin_error(void *ctx, const char *path, const char *reason)
{
    (void)path;
    vmm_log_level level = *(vmm_log_level *)ctx;
    log_msg(level, "vmm", "plugin ignored: %s", reason);
}

/* The build tree's plugins when this binary is the one in the build tree, else the installed ones. */
static const char *main_default_plugin_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char build_core[PATH_MAX];
            if (realpath(VMM_BUILD_CORE_DIR, build_core) && strcmp(exe, build_core) == 0)
                return VMM_BUILD_PLUGIN_DIR;
        }
    }
    return VMM_INSTALLED_PLUGIN_DIR;
}

static void main_load_plugins(plugin_registry *reg, const main_args *a, vmm_log_level error_level)
{
    for (unsigned i = 0; i < a->npaths; i++)
        plugin_load_dir(reg, a->plugin_paths[i], main_plugin_error, &error_level);
    const char *env = getenv("VMM_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env);
        for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
            plugin_load_dir(reg, d, main_plugin_error, &error_level);
        free(copy);
    }
    plugin_load_dir(reg, main_default_plugin_dir(), main_plugin_error, &error_level);
}

static const char *main_option_type_name(vmm_option_type t)
{
    return t == VMM_OPT_U64 ? "number" : t == VMM_OPT_BOOL ? "on|off" : "text";
}

static void main_print_plugin_help(const plugin *p)
{
    const vmm_plugin_desc *d = p->desc;
    printf("%s: %s plugin, SDK %u.%u, %s\n", d->name, plugin_kind_name(d->kind), VMM_VERSION_MAJOR(d->version),
           VMM_VERSION_MINOR(d->version), p->path);
    if (d->description)
        printf("  %s\n", d->description);
    if (!d->options || !d->options[0].name) {
        printf("  no options\n");
        return;
    }
    printf("options (%s %s,key=value,...):\n", d->kind == VMM_KIND_ARCH ? "--arch" : "--device", d->name);
    for (const vmm_option_desc *o = d->options; o->name; o++) {
        printf("  %-12s %-7s", o->name, main_option_type_name(o->type));
        if (o->default_value)
            printf(" default %s", o->default_value);
        if (o->type == VMM_OPT_U64 && (o->min || o->max))
            printf(", 0x%" PRIx64 "-0x%" PRIx64, o->min, o->max);
        printf("\n");
        if (o->help)
            printf("      %s\n", o->help);
    }
}

static int main_cmd_plugins(const main_args *a)
{
    plugin_registry reg;
    plugin_registry_init(&reg, hostdrv_abi(NULL));
    if (a->check_file) {
        char err[512];
        int rc = plugin_load_file(&reg, a->check_file, err, sizeof(err));
        if (rc)
            fprintf(stderr, "vmm: %s\n", err);
        else
            for (size_t i = 0; i < reg.count; i++)
                printf("%s: ok: %s plugin '%s', SDK %u.%u\n", a->check_file, plugin_kind_name(reg.items[i].desc->kind),
                       reg.items[i].desc->name, VMM_VERSION_MAJOR(reg.items[i].desc->version),
                       VMM_VERSION_MINOR(reg.items[i].desc->version));
        plugin_registry_free(&reg);
        return rc ? 1 : 0;
    }
    main_load_plugins(&reg, a, VMM_LOG_WARN);
    if (a->help_plugin) {
        const plugin *p = strchr(a->help_plugin, '/') ? plugin_find_path(&reg, a->help_plugin)
                                                       : plugin_find(&reg, a->help_plugin);
        char err[512];
        if (!p && strchr(a->help_plugin, '/') && plugin_load_file(&reg, a->help_plugin, err, sizeof(err)) == 0)
            p = &reg.items[reg.count - 1];
        if (!p) {
            fprintf(stderr, "vmm: plugins --help %s: no such plugin (see 'vmm plugins')\n", a->help_plugin);
            plugin_registry_free(&reg);
            return 2;
        }
        main_print_plugin_help(p);
        plugin_registry_free(&reg);
        return 0;
    }
    printf("%-16s %-13s %-5s %s\n", "NAME", "KIND", "ABI", "FILE");
    for (size_t i = 0; i < reg.count; i++) {
        const vmm_plugin_desc *d = reg.items[i].desc;
        char abi[16];
        snprintf(abi, sizeof(abi), "%u.%u", VMM_VERSION_MAJOR(d->version), VMM_VERSION_MINOR(d->version));
        printf("%-16s %-13s %-5s %s\n", d->name, plugin_kind_name(d->kind), abi, reg.items[i].path);
        if (d->description)
            printf("  %s\n", d->description);
        for (const vmm_option_desc *o = d->options; o && o->name; o++) {
            printf("    %s=%s", o->name, o->type == VMM_OPT_U64 ? "NUM" : o->type == VMM_OPT_BOOL ? "on|off" : "TEXT");
            if (o->default_value)
                printf(" (default %s)", o->default_value);
            printf("%s%s\n", o->help ? "  " : "", o->help ? o->help : "");
        }
    }
    if (reg.count == 0)
        fprintf(stderr, "vmm: no plugins found (searched %s)\n", main_default_plugin_dir());
    plugin_registry_free(&reg);
    return 0;
}

static int main_cmd_run(const main_args *a)
{
    if (!a->arch)
        return main_usage_error("run: --arch is required (%s)", "see 'vmm plugins' for the architectures");
    char err[256];
    hostdrv *drv = hostdrv_open(err, sizeof(err));
    if (drv)
        log_info("host driver: %s", hostdrv_describe(drv));
    plugin_registry reg;
    plugin_registry_init(&reg, drv ? hostdrv_abi(drv) : "none");
    main_load_plugins(&reg, a, VMM_LOG_WARN);
    /* Only plugins that execute guests themselves can do without a host driver. */
    const plugin *ap = plugin_find_kind(&reg, a->arch, VMM_KIND_ARCH);
    if (!drv && ap && !ap->desc->arch->vcpu_run) {
        log_error("%s (vmm needs KVM to run guests)", err);
        plugin_registry_free(&reg);
        return 1;
    }

    loop *lp = loop_create();
    if (!lp) {
        log_error("cannot create the event loop");
        plugin_registry_free(&reg);
        hostdrv_close(drv);
        return 1;
    }
    vm_config cfg = {.arch = a->arch, .arch_options = a->arch_options, .ram_size = a->mem, .cpus = a->cpus,
                     .images = a->images, .nimages = a->nimages, .devices = a->devices, .ndevices = a->ndevices,
                     .cmdline = a->cmdline, .stats = a->stats};
    int status;
    vm *v = vm_create(drv, &reg, lp, &cfg, &status);
    if (v) {
        loop_attach(lp, v);
        if (vm_start(v) == 0)
            loop_run(lp);
        else
            vm_request_stop(v, 1);
        status = vm_join(v);
    }
    /* Instances may still write to the console while they are destroyed; the loop flushes it last. */
    vm_destroy(v);
    loop_destroy(lp);
    plugin_registry_free(&reg);
    hostdrv_close(drv);
    return status;
}

int main(int argc, char **argv)
{
    main_args a;
    memset(&a, 0, sizeof(a));
    int rc = main_parse_args(&a, argc, argv);
    if (rc == 0) {
        if (!a.command) {
            fputs(main_usage, stderr);
            rc = 2;
        } else if (!strcmp(a.command, "run")) {
            rc = main_cmd_run(&a);
        } else if (!strcmp(a.command, "plugins")) {
            rc = main_cmd_plugins(&a);
        } else {
            rc = main_usage_error("unknown command '%s'", a.command);
        }
    }
    for (unsigned i = 0; i < a.nimages; i++)
        if (a.images[i].has_load_addr)
            free((void *)a.images[i].path);
    for (unsigned i = 0; i < a.ndevices; i++)
        free(a.device_names[i]);
    free(a.arch_name);
    return rc;
}
