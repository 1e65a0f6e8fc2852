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
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "hostdrv.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "plugin.h"
#include "sandbox.h"
#include "snapshot.h"
#include "store.h"
#include "vm.h"
#include "vmcmd.h"
#include "vmconfig.h"

#define MAIN_MAX_LIST VM_CONFIG_MAX_DEVICES

static const char main_usage[] =
    "Usage: vmm [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "A plugin-architected virtual machine monitor.\n"
    "\n"
    "Commands:\n"
    "  run                     run a VM\n"
    "  snapshot ls DB          list the snapshots in a state database\n"
    "  snapshot info DB NAME   describe one snapshot\n"
    "  snapshot rm DB NAME     remove one (--force also removes a parent, folding it into its children)\n"
    "  ctl PATH COMMAND [NAME] send status, pause, resume, save NAME or quit to a running vmm's --control socket\n"
    "  plugins                 list the plugins found; --check FILE validates one plugin file,\n"
    "                          --help NAME describes one plugin and its options\n"
    "\n"
    "Options for run:\n"
    "  --arch NAME[,key=val...]     architecture plugin (e.g. x86-raw)\n"
    "  --mem SIZE                   guest RAM, e.g. 64M, 1G (a plain number is MiB; default 64M)\n"
    "  --cpus N                     virtual CPUs (default 1)\n"
    "  --image FILE[@ADDR]          image for the architecture plugin to load (repeatable)\n"
    "  --kernel FILE                kernel for the architecture plugin to boot\n"
    "  --initrd FILE                initial RAM disk for the kernel\n"
    "  --append TEXT                kernel command line\n"
    "  --bios FILE                  firmware the architecture plugin starts the kernel under (its bios= option;\n"
    "                               `vmm plugins --help ARCH` says what it takes)\n"
    "  --accel ENGINE               the execution engine: kvm (the host kernel runs the guest, /dev/kvm) or\n"
    "                               inproc (the architecture plugin runs it in this process); default: the\n"
    "                               architecture's choice ('vmm plugins' lists each one's engines)\n"
    "  --exec MODE                  where the architecture plugin executes the guest (its exec= option; riscv64:\n"
    "                               inproc or rc, i.e. --accel inproc or kvm)\n"
    "  --trace LIST                 the architecture plugin's debug traces, comma-separated (its trace= option;\n"
    "                               riscv64: in_asm,out_asm,exec,prof)\n"
    "  --stats                      print exit and plugin statistics when the VM ends\n"
    "  --state DB                   state database (a directory) for snapshots; pages are logged for incremental\n"
    "                               saves (Ctrl-A s and the control socket save there)\n"
    "  --restore DB:NAME            resume snapshot NAME of DB (configuration from the snapshot)\n"
    "  --restore-mode MODE          lazy (default): the guest starts at once, pages arrive as it touches them and\n"
    "                               in the background; ondemand: only as it touches them; eager: every page is\n"
    "                               copied and checked before the guest starts\n"
    "  --control PATH               control socket (JSON lines: status, pause, resume, save, quit)\n"
    "  --device NAME[,key=val...]   add a device; NAME may be a path to a plugin .so (repeatable)\n"
    "  --sandbox on|off             seccomp filters per thread kind once the VM is set up (default on): a\n"
    "                               forbidden system call ends vmm naming it (docs/sandbox.md)\n"
    "  --nodefaults                 none of the architecture's default devices (riscv64: its UART and test\n"
    "                               device); a --device of the same plugin replaces a default one anyway\n"
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
    const char *exec_mode, *trace; /* --exec, --trace: forwarded as the arch plugin's exec= and trace= */
    const char *bios;              /* --bios: forwarded as the arch plugin's bios= */
    const char *accel;             /* --accel */
    char *arch_options_buf;
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
    int nodefaults; /* --nodefaults */
    int mem_given, cpus_given, force, restore_mode_given;
    char snapshot[SS_NAME_MAX];                   /* --restore: the snapshot whose configuration filled in the rest */
    int arch_from_snapshot, devices_from_snapshot; /* what came from it, so errors name it, not an option */
    const char *state_db, *restore, *control_path;
    int restore_mode; /* snapshot_restore_mode */
    int sandbox;      /* --sandbox: the seccomp filters (default on) */
    const char *run_option;    /* the first option given that only 'run' takes, for other commands' refusal */
    const char *positional[4]; /* after the command */
    unsigned npositional;
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
                          !strcmp(opt, "--initrd") || !strcmp(opt, "--append") || !strcmp(opt, "--state") ||
                          !strcmp(opt, "--restore") || !strcmp(opt, "--control") || !strcmp(opt, "--restore-mode") ||
                          !strcmp(opt, "--exec") || !strcmp(opt, "--trace") || !strcmp(opt, "--accel") ||
                          !strcmp(opt, "--sandbox") || !strcmp(opt, "--bios");
        if (takes_value && !val) {
            if (i + 1 >= argc)
                return main_usage_error("option %s needs a value", opt);
            val = argv[++i];
        } else if (!takes_value && val) {
            return main_usage_error("option %s takes no value", opt);
        }

        static const char *const run_only[] = {"--arch", "--mem", "--cpus", "--image", "--kernel", "--initrd",
                                               "--append", "--exec", "--trace", "--stats", "--state", "--restore",
                                               "--restore-mode", "--control", "--device", "--accel",
                                               "--sandbox", "--nodefaults", "--bios"};
        for (size_t k = 0; k < sizeof(run_only) / sizeof(run_only[0]) && !a->run_option; k++)
            if (!strcmp(opt, run_only[k]))
                a->run_option = run_only[k];
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
            a->mem_given = 1;
        } else if (!strcmp(opt, "--cpus")) {
            uint64_t n;
            if (opt_parse_u64(val, &n) || n == 0 || n > 1024)
                return main_usage_error("--cpus %s: not a number from 1 to 1024", val);
            a->cpus = (unsigned)n;
            a->cpus_given = 1;
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
        } else if (!strcmp(opt, "--nodefaults")) {
            a->nodefaults = 1;
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
        } else if (!strcmp(opt, "--accel")) {
            if (!hostdrv_engine_find(val))
                return main_usage_error("--accel %s: use kvm or inproc", val);
            a->accel = val;
        } else if (!strcmp(opt, "--exec")) {
            if (!*val || strpbrk(val, ",=+"))
                return main_usage_error("--exec %s: give one mode name (e.g. --exec rc)", val);
            a->exec_mode = val;
        } else if (!strcmp(opt, "--bios")) {
            /* Plugin options are comma-separated: a comma would cut the path short. */
            if (!*val || strchr(val, ','))
                return main_usage_error("--bios %s: give a file name without ',' (or default, or none)", val);
            a->bios = val;
        } else if (!strcmp(opt, "--trace")) {
            if (!*val || strpbrk(val, "="))
                return main_usage_error("--trace %s: give a comma-separated list (e.g. --trace in_asm,exec)", val);
            a->trace = val;
        } else if (!strcmp(opt, "--stats")) {
            a->stats = 1;
        } else if (!strcmp(opt, "--force")) {
            a->force = 1;
        } else if (!strcmp(opt, "--state")) {
            a->state_db = val;
        } else if (!strcmp(opt, "--restore")) {
            a->restore = val;
        } else if (!strcmp(opt, "--control")) {
            a->control_path = val;
        } else if (!strcmp(opt, "--restore-mode")) {
            a->restore_mode_given = 1;
            if (!strcmp(val, "lazy"))
                a->restore_mode = SNAPSHOT_RESTORE_LAZY;
            else if (!strcmp(val, "ondemand"))
                a->restore_mode = SNAPSHOT_RESTORE_ONDEMAND;
            else if (!strcmp(val, "eager"))
                a->restore_mode = SNAPSHOT_RESTORE_EAGER;
            else
                return main_usage_error("--restore-mode %s: use lazy, ondemand or eager", val);
        } else if (!strcmp(opt, "--sandbox")) {
            if (opt_parse_bool(val, &a->sandbox))
                return main_usage_error("--sandbox %s: use on or off", val);
        } else if (!strcmp(opt, "--check")) {
            a->check_file = val;
        } else if (opt[0] == '-') {
            return main_usage_error("unknown option '%s'", opt);
        } else if (!a->command) {
            a->command = opt;
        } else if (a->npositional < sizeof(a->positional) / sizeof(a->positional[0])) {
            a->positional[a->npositional++] = opt;
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
    if (d->kind == VMM_KIND_ARCH)
        printf("  engines: %s (--accel; the first is the default)\n", vm_arch_engines(d));
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
        if (d->kind == VMM_KIND_ARCH)
            printf("    engines: %s (--accel; the first is the default)\n", vm_arch_engines(d));
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

/* Fill in from a snapshot's configuration what the command line left out; the strings stay in `saved` (freed by
 * the caller). Returns 0, or 2 after printing a conflict. The stored values are checked here as the command line's
 * are when parsed: a bad one is the snapshot's, and the checks further on would name options the user never
 * typed. */
static int main_config_apply(main_args *a, const ss_meta *m, vm_config_text *saved)
{
    if (m->ram_size < (1ull << 20) || (m->ram_size & (MEMMAP_PAGE_SIZE - 1))) {
        fprintf(stderr, "vmm: snapshot '%s': its RAM size %llu is not a multiple of 4 KiB of at least 1 MiB\n",
                m->name, (unsigned long long)m->ram_size);
        return 2;
    }
    if (m->cpus == 0 || m->cpus > VM_CONFIG_MAX_CPUS) {
        fprintf(stderr, "vmm: snapshot '%s': its vCPU count %u is not from 1 to %d\n", m->name, m->cpus,
                VM_CONFIG_MAX_CPUS);
        return 2;
    }
    char err[512];
    if (vm_config_parse(m->config, m->name, saved, err, sizeof(err))) {
        fprintf(stderr, "vmm: %s\n", err);
        return 2;
    }
    const vm_config *sc = &saved->cfg;
    snprintf(a->snapshot, sizeof(a->snapshot), "%s", m->name); /* m is gone by the time plugins are checked */
    if (!sc->arch) {
        fprintf(stderr, "vmm: snapshot '%s': its configuration names no architecture\n", m->name);
        return 2;
    }
    if (a->arch && strcmp(a->arch, sc->arch) != 0) {
        fprintf(stderr, "vmm: snapshot '%s' is of a %s VM, --arch asks for %s\n", m->name, sc->arch, a->arch);
        return 2;
    }
    if (!a->arch) {
        a->arch = sc->arch;
        a->arch_options = sc->arch_options;
        a->arch_from_snapshot = 1;
    }
    if (!a->ndevices) {
        for (unsigned i = 0; i < sc->ndevices; i++)
            a->devices[i] = sc->devices[i];
        a->ndevices = sc->ndevices;
        a->devices_from_snapshot = sc->ndevices > 0;
    }
    a->nodefaults |= sc->nodefaults;
    if (!a->cmdline)
        a->cmdline = sc->cmdline;
    if (sc->accel) {
        if (!hostdrv_engine_find(sc->accel)) {
            fprintf(stderr, "vmm: snapshot '%s': its engine '%s' is not one of this vmm's (%s)\n", m->name,
                    sc->accel, hostdrv_engine_names());
            return 2;
        }
        if (a->accel && strcmp(a->accel, sc->accel) != 0) {
            fprintf(stderr, "vmm: snapshot '%s' was saved on the %s engine, --accel asks for %s\n", m->name,
                    sc->accel, a->accel);
            return 2;
        }
        a->accel = sc->accel;
    }
    if (a->mem_given && a->mem != m->ram_size) {
        fprintf(stderr, "vmm: snapshot '%s' was saved with %llu MiB of RAM, --mem asks for %llu MiB\n", m->name,
                (unsigned long long)(m->ram_size >> 20), (unsigned long long)(a->mem >> 20));
        return 2;
    }
    if (a->cpus_given && a->cpus != m->cpus) {
        fprintf(stderr, "vmm: snapshot '%s' was saved with %u vCPUs, --cpus asks for %u\n", m->name, m->cpus, a->cpus);
        return 2;
    }
    a->mem = m->ram_size;
    a->cpus = m->cpus;
    return 0;
}

/* "DB:NAME" -> store directory (allocated) and name. */
static int main_split_restore(const char *spec, char **db, const char **name)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return main_usage_error("--restore %s: give DB:NAME (a state database and a snapshot name)", spec);
    char err[256];
    if (ss_name_check(colon + 1, err, sizeof(err))) {
        fprintf(stderr, "vmm: --restore: %s\n", err);
        return 2;
    }
    *db = strndup(spec, (size_t)(colon - spec));
    *name = colon + 1;
    return *db ? 0 : 1;
}

/* The plugins a snapshot's configuration names must exist here; otherwise vm_create would report them as the
 * --arch or --device the user did not give. Paths to plugin files are loaded (and reported) by vm_create. */
static int main_check_snapshot_plugins(const main_args *a, const plugin_registry *reg)
{
    if (a->arch_from_snapshot && !plugin_find(reg, a->arch)) {
        fprintf(stderr, "vmm: snapshot '%s': its architecture '%s' has no plugin here (see 'vmm plugins')\n",
                a->snapshot, a->arch);
        return -1;
    }
    for (unsigned i = 0; a->devices_from_snapshot && i < a->ndevices; i++)
        if (!strchr(a->devices[i].name, '/') && !plugin_find(reg, a->devices[i].name)) {
            fprintf(stderr, "vmm: snapshot '%s': its device '%s' has no plugin here (see 'vmm plugins')\n",
                    a->snapshot, a->devices[i].name);
            return -1;
        }
    return 0;
}

static int main_cmd_run(main_args *a)
{
    char err[512];
    char *restore_db = NULL;
    const char *restore_name = NULL;
    vm_config_text saved = {0}; /* what a snapshot's configuration gave: a's strings may point into it */
    ss_store *store = NULL;
    int status = 1;
    if (a->restore) {
        if (a->nimages)
            return main_usage_error("--restore takes the guest from the snapshot: drop --image/--kernel/%s",
                                    "--initrd");
        if (main_split_restore(a->restore, &restore_db, &restore_name))
            return 2;
        store = ss_open(restore_db, SS_OPEN_EXISTING, err, sizeof(err));
        ss_meta meta;
        if (!store || ss_get_meta(store, restore_name, &meta, err, sizeof(err))) {
            fprintf(stderr, "vmm: --restore %s: %s\n", a->restore, err);
            ss_close(store);
            free(restore_db);
            return 2;
        }
        status = main_config_apply(a, &meta, &saved);
        if (status)
            goto out_store;
        if (a->state_db && strcmp(a->state_db, restore_db) != 0) {
            /* Saves go to --state; the restored snapshot stays where it is. */
            ss_close(store);
            store = NULL;
        }
    } else if (a->restore_mode_given) {
        status = main_usage_error("--restore-mode applies to --restore DB:NAME only%s", "");
        goto out_store;
    }
    if (!a->arch) {
        status = main_usage_error("run: --arch is required (%s)", "see 'vmm plugins' for the architectures");
        goto out_store;
    }
    if (a->npositional) {
        status = main_usage_error("run: unexpected argument '%s'", a->positional[0]);
        goto out_store;
    }
    /* Paths the run will create are checked now, before anything is opened: a mistake costs no VM. */
    if ((a->state_db && !store && ss_check_path(a->state_db, err, sizeof(err))) ||
        (a->control_path && control_check_path(a->control_path, err, sizeof(err)))) {
        log_error("%s", err);
        status = 2;
        goto out_store;
    }
    /* Plugins learn the host driver's state layout from this build; whether a driver is opened at all is decided
     * by vm_create once the input has been checked. */
    plugin_registry reg;
    plugin_registry_init(&reg, hostdrv_abi(NULL));
    main_load_plugins(&reg, a, VMM_LOG_WARN);
    if (main_check_snapshot_plugins(a, &reg)) {
        status = 2;
        goto out_plugins;
    }

    if (sandbox_configure(a->sandbox)) {
        status = 1;
        goto out_plugins;
    }
    loop *lp = loop_create();
    if (!lp) {
        log_error("cannot create the event loop");
        status = 1;
        goto out_plugins;
    }
    if (a->exec_mode || a->trace || a->bios) {
        /* Generic spellings of plugin options; the plugin's option table decides whether they exist. */
        size_t len = (a->arch_options ? strlen(a->arch_options) : 0) + (a->exec_mode ? strlen(a->exec_mode) : 0) +
                     (a->trace ? strlen(a->trace) : 0) + (a->bios ? strlen(a->bios) : 0) + 40;
        a->arch_options_buf = malloc(len);
        if (!a->arch_options_buf) {
            log_error("out of memory");
            status = 1;
            goto out_plugins;
        }
        int n = snprintf(a->arch_options_buf, len, "%s%s%s%s%s%s", a->arch_options ? a->arch_options : "",
                         a->exec_mode ? ",exec=" : "", a->exec_mode ? a->exec_mode : "", a->bios ? ",bios=" : "",
                         a->bios ? a->bios : "", a->trace ? ",trace=" : "");
        /* Plugin options are comma-separated, so a trace list reaches the plugin '+'-separated. */
        for (const char *t = a->trace; t && *t && n >= 0 && (size_t)n + 1 < len; t++)
            a->arch_options_buf[n++] = *t == ',' ? '+' : *t;
        a->arch_options_buf[n] = '\0';
        a->arch_options = a->arch_options_buf + (a->arch_options_buf[0] == ',');
    }
    vm_config cfg = {.arch = a->arch, .arch_options = a->arch_options, .ram_size = a->mem, .cpus = a->cpus,
                     .images = a->images, .nimages = a->nimages, .devices = a->devices, .ndevices = a->ndevices,
                     .cmdline = a->cmdline, .accel = a->accel, .stats = a->stats, .dirty_log = store != NULL || a->state_db != NULL,
                     .restoring = restore_name != NULL, .nodefaults = a->nodefaults};
    vmcmd *cmds = NULL;
    control *ctl = NULL;
    snapshot_pager *pager = NULL;
    /* The reader behind a lazy restore needs the store open while the VM runs. */
    ss_store *from = NULL;
    vm *v = vm_create(&reg, lp, &cfg, &status);
    if (v && a->state_db && !store) {
        store = ss_open(a->state_db, SS_OPEN_CREATE, err, sizeof(err));
        if (!store) {
            log_error("%s", err);
            status = 1;
            vm_destroy(v);
            v = NULL;
        }
    }
    if (v && restore_name) {
        from = store ? store : ss_open(restore_db, SS_OPEN_EXISTING, err, sizeof(err));
        uint64_t t0 = loop_clock_ns();
        int rrc = from ? snapshot_restore(v, from, restore_name, (snapshot_restore_mode)a->restore_mode, &pager, err,
                                          sizeof(err))
                       : -1;
        if (rrc) {
            log_error("restoring %s: %s", a->restore, err);
            status = rrc == -2 ? 2 : 1; /* -2: a unit refused the user's input (a changed image), not the snapshot */
            vm_destroy(v);
            v = NULL;
        } else {
            log_info("restored snapshot '%s' in %.1f ms (%s)", restore_name, (double)(loop_clock_ns() - t0) / 1e6,
                     pager ? "pages follow while the guest runs" : "eager");
        }
        if (store == NULL && v)
            v->last_snapshot[0] = '\0'; /* saves go elsewhere: nothing to be incremental against */
    }
    if (v) {
        /* Snapshots record the engine the VM runs on, for a restore to run on the same (vCPU state is the
         * engine's). */
        vm_config running = cfg;
        running.accel = vm_engine_name(v);
        cmds = vmcmd_create(v, lp, store, &running);
        if (!cmds) {
            log_error("out of memory");
            status = 1;
            snapshot_pager_finish(pager);
            pager = NULL;
            vm_destroy(v);
            v = NULL;
        }
    }
    if (v && a->control_path) {
        ctl = control_start(lp, cmds, a->control_path, err, sizeof(err));
        if (!ctl) {
            log_error("%s", err);
            status = 1;
            snapshot_pager_finish(pager); /* before the memory it fills goes away */
            pager = NULL;
            vm_destroy(v);
            v = NULL;
        }
    }
    if (v) {
        loop_attach(lp, v);
        loop_set_commands(lp, cmds);
        /* The vCPU threads filter themselves as they start; this thread is the event loop from here on. */
        if (store && sandbox_enabled())
            snapshot_open_host_files();
        if (vm_start(v) == 0 && sandbox_enter(SANDBOX_LOOP) == 0)
            loop_run(lp);
        else
            vm_request_stop(v, 1);
        status = vm_join(v);
        vmcmd_finish(cmds); /* a live save still sweeping ends before the VM's memory goes away */
    }
    if (snapshot_pager_finish(pager) && status == 0)
        status = 1;
    if (from && from != store)
        ss_close(from);
    control_stop(ctl);
    /* Instances may still write to the console while they are destroyed; the loop flushes it last. */
    vm_destroy(v);
    loop_destroy(lp);
    vmcmd_destroy(cmds);
out_plugins:
    plugin_registry_free(&reg);
out_store:
    ss_close(store);
    free(restore_db);
    vm_config_text_free(&saved);
    return status;
}

static void main_snapshot_row(void *ctx, const ss_meta *m)
{
    (void)ctx;
    char when[32];
    time_t t = (time_t)m->created;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    printf("%-24s %-19s %-12s %-16s %6llu MiB %8llu %8llu\n", m->name, when, m->arch, m->parent[0] ? m->parent : "-",
           (unsigned long long)(m->ram_size >> 20), (unsigned long long)m->pages_mapped,
           (unsigned long long)m->pages_new);
}

static int main_cmd_snapshot(const main_args *a)
{
    const char *sub = a->npositional > 0 ? a->positional[0] : NULL;
    const char *db = a->npositional > 1 ? a->positional[1] : NULL;
    const char *name = a->npositional > 2 ? a->positional[2] : NULL;
    if (!sub || !db || (strcmp(sub, "ls") && !name) || (!strcmp(sub, "ls") && name))
        return main_usage_error("snapshot: use 'snapshot ls DB', 'snapshot info DB NAME' or 'snapshot rm DB NAME'%s",
                                "");
    if (strcmp(sub, "ls") && strcmp(sub, "info") && strcmp(sub, "rm"))
        return main_usage_error("snapshot: unknown subcommand '%s' (ls, info, rm)", sub);
    if (a->force && strcmp(sub, "rm"))
        return main_usage_error("--force applies to 'snapshot rm' only%s", "");
    char err[512];
    if (name && ss_name_check(name, err, sizeof(err))) {
        fprintf(stderr, "vmm: snapshot %s: %s\n", sub, err);
        return 2;
    }
    /* ls and info only read: they never create, initialise or write the database they are pointed at. */
    ss_store *st = ss_open(db, strcmp(sub, "rm") ? SS_OPEN_READONLY : SS_OPEN_EXISTING, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "vmm: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (!strcmp(sub, "ls")) {
        printf("%-24s %-19s %-12s %-16s %10s %8s %8s\n", "NAME", "CREATED", "ARCH", "PARENT", "RAM", "PAGES", "NEW");
        rc = ss_list(st, main_snapshot_row, NULL, err, sizeof(err));
    } else if (!strcmp(sub, "info")) {
        ss_meta m;
        uint64_t pages = 0, bytes = 0;
        rc = ss_get_meta(st, name, &m, err, sizeof(err));
        if (!rc) {
            ss_stats(st, &pages, &bytes);
            printf("name:         %s\nparent:       %s\nvmm version:  %s\narch:         %s (SDK %u.%u)\n"
                   "RAM:          %llu MiB\nvCPUs:        %u\nhost:         %s\nunits:        %llu\n"
                   "pages mapped: %llu (%s)\npages added:  %llu\ndatabase:     %llu distinct pages, %llu bytes on disk\n"
                   "configuration:\n",
                   m.name, m.parent[0] ? m.parent : "- (full snapshot)", m.vmm_version, m.arch,
                   VMM_VERSION_MAJOR(m.arch_abi), VMM_VERSION_MINOR(m.arch_abi), (unsigned long long)(m.ram_size >> 20),
                   m.cpus, m.host, (unsigned long long)m.units, (unsigned long long)m.pages_mapped,
                   m.parent[0] ? "changed since the parent" : "every non-zero page", (unsigned long long)m.pages_new,
                   (unsigned long long)pages, (unsigned long long)bytes);
            for (char *save = NULL, *line = strtok_r(m.config, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                printf("  %s\n", line);
        }
    } else {
        rc = ss_remove(st, name, a->force, err, sizeof(err));
        if (!rc)
            printf("removed snapshot '%s'\n", name);
    }
    if (rc)
        fprintf(stderr, "vmm: %s\n", err);
    ss_close(st);
    return rc ? 1 : 0;
}

static int main_cmd_ctl(const main_args *a)
{
    const char *name = a->npositional > 2 ? a->positional[2] : NULL;
    char err[256];
    /* Checked here as vmm would check it, so that a bad name is exit 2 before anything is sent. */
    if (name && !strcmp(a->positional[1], "save") && ss_name_check(name, err, sizeof(err))) {
        fprintf(stderr, "vmm ctl: save: %s\n", err);
        return 2;
    }
    return control_client(a->positional[0], a->positional[1], name);
}

int main(int argc, char **argv)
{
    main_args a;
    memset(&a, 0, sizeof(a));
    a.restore_mode = SNAPSHOT_RESTORE_LAZY;
    a.sandbox = sandbox_default();
    int rc = main_parse_args(&a, argc, argv);
    if (rc == 0) {
        if (!a.command) {
            fputs(main_usage, stderr);
            rc = 2;
        } else if (strcmp(a.command, "run") != 0 && a.run_option) {
            rc = main_usage_error("%s applies to 'vmm run' only", a.run_option);
        } else if (strcmp(a.command, "plugins") != 0 && a.check_file) {
            rc = main_usage_error("--check applies to 'vmm plugins' only%s", "");
        } else if (strcmp(a.command, "snapshot") != 0 && a.force) {
            rc = main_usage_error("--force applies to 'snapshot rm' only%s", "");
        } else if (!strcmp(a.command, "run")) {
            rc = main_cmd_run(&a);
        } else if (!strcmp(a.command, "plugins")) {
            rc = main_cmd_plugins(&a);
        } else if (!strcmp(a.command, "snapshot")) {
            rc = main_cmd_snapshot(&a);
        } else if (!strcmp(a.command, "ctl")) {
            if (a.npositional < 2 || (a.npositional < 3 && !strcmp(a.positional[1], "save")))
                rc = main_usage_error("ctl: use 'ctl PATH status|pause|resume|quit' or 'ctl PATH save NAME'%s", "");
            else
                rc = main_cmd_ctl(&a);
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
    free(a.arch_options_buf);
    return rc;
}
