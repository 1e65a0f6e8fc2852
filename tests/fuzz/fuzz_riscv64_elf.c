/*
 * fuzz_riscv64_elf: the riscv64 plugin's program loader (plugins/riscv64/loader.c: ELF64 segments, the
 * tohost/fromhost symbols of its symbol table, flat binaries) and its option parsing (trace, misaligned, exec),
 * driven through the plugin ABI as the core drives it, with no VM: the built plugin is loaded by the core's
 * own loader (plugin_load_file), constructed with the input's option values, then vm_check (the up-front check,
 * RAM not mapped yet), vm_create (maps RAM through mem_map_ram, here fuzz_ram) and vm_load, and destructed. The
 * hart is never created, so no code is translated.
 *
 * Input: a flags byte (bit 0-4: RAM (1 + n) MiB; bit 5: --image rather than --kernel; bit 6: an @ADDR follows
 * as u64; bit 7: a payload byte follows), the trace, misaligned and exec values and the command line, each up to
 * a NUL (empty: the option is not given, so its default applies), the @ADDR, the payload byte (bits 0-1: that
 * many more --image FILE@ADDR payloads, each a u64 address and a u16 size, its bytes a pattern; bit 7: a second
 * vCPU, which vm_check refuses), then the program. vm_check and vm_load also build and place the device tree
 * (dtb.c), with --append's text as bootargs (fuzz_riscv64_dtb.c fuzzes that part). After a load the flat
 * program (a Linux Image: at a 2 MiB boundary past the default firmware) and every payload hold their bytes in
 * RAM: no later write landed on an earlier one.
 */
#include "fuzz.h"
#include "fuzz_ram.h"
#include "plugin.h"

#define FUZZ_RV_MAX_PAYLOADS 3

static plugin_registry fuzz_rv_reg;
static const vmm_plugin_desc *fuzz_rv_desc;
static vmm_helpers fuzz_rv_hlp;
static const char *fuzz_rv_opts[3]; /* trace, misaligned, exec; NULL when not given */
static const char *fuzz_rv_cmdline;
static unsigned fuzz_rv_ncpus;
static uint64_t fuzz_rv_mem; /* --mem */

/* Either magic of Linux's RISC-V Image header where it belongs (plugins/riscv64/loader.c reads it the same way). */
static int fuzz_rv_is_linux_image(const uint8_t *d, size_t len)
{
    return (len >= 60 && !memcmp(d + 56, "RSC\x05", 4)) || (len >= 56 && !memcmp(d + 48, "RISCV\0\0\0", 8));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("FUZZ_RISCV64_PLUGIN");
    char err[512];
    plugin_registry_init(&fuzz_rv_reg, NULL);
    if (plugin_load_file(&fuzz_rv_reg, path ? path : FUZZ_RISCV64_PLUGIN, err, sizeof(err))) {
        fprintf(stderr, "fuzz_riscv64_elf: %s\n", err);
        abort();
    }
    const plugin *p = plugin_find(&fuzz_rv_reg, "riscv64");
    if (!p || !p->desc->arch) {
        fprintf(stderr, "fuzz_riscv64_elf: no riscv64 architecture plugin in %s\n", path ? path : FUZZ_RISCV64_PLUGIN);
        abort();
    }
    fuzz_rv_desc = p->desc;
    return 0;
}

/* The core's opt_string: the given value, else the declared default (core/options.c applies it). */
static const char *fuzz_rv_opt_string(vmm_instance *inst, const char *name)
{
    (void)inst;
    static const char *const names[3] = {"trace", "misaligned", "exec"};
    for (unsigned i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            if (fuzz_rv_opts[i])
                return fuzz_rv_opts[i];
            for (const vmm_option_desc *d = fuzz_rv_desc->options; d && d->name; d++)
                if (!strcmp(d->name, name))
                    return d->default_value;
        }
    return NULL;
}

static int fuzz_rv_opt_is_set(vmm_instance *inst, const char *name)
{
    return fuzz_rv_opt_string(inst, name) != NULL;
}

static uint64_t fuzz_rv_ram_size(vmm_instance *inst)
{
    (void)inst;
    return fuzz_rv_mem;
}

static int fuzz_rv_map_ram(vmm_instance *inst, uint64_t gpa, uint64_t len, const char *name)
{
    (void)inst;
    (void)name;
    FUZZ_CHECK(fuzz_ram_current.count < FUZZ_RAM_MAX_REGIONS && len <= (64ull << 20));
    fuzz_ram_add(&fuzz_ram_current, gpa, len);
    return 0;
}

static const char *fuzz_rv_vm_cmdline(vmm_instance *inst)
{
    (void)inst;
    return fuzz_rv_cmdline;
}

static unsigned fuzz_rv_vcpu_count(vmm_instance *inst)
{
    (void)inst;
    return fuzz_rv_ncpus;
}

/* construct registers the saved-state units; nothing is saved here. */
static int fuzz_rv_ssm_register(vmm_instance *inst, const char *unit, uint32_t instance, uint32_t version,
                                vmm_ssm_save_fn save, vmm_ssm_load_fn load)
{
    (void)inst, (void)unit, (void)instance, (void)version, (void)save, (void)load;
    return 0;
}

static int fuzz_rv_stats_enabled(vmm_instance *inst)
{
    (void)inst;
    return 0;
}

static const char *fuzz_rv_vm_accel(vmm_instance *inst)
{
    (void)inst;
    return NULL; /* no --accel: exec= alone decides */
}

/* The device tree (dtb.c) is built in vm_check and vm_load from the described devices: this harness has none. */
static int fuzz_rv_fdt_device(vmm_instance *inst, unsigned index, vmm_fdt_device *out)
{
    (void)inst, (void)index, (void)out;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_rv_desc)
        LLVMFuzzerInitialize(NULL, NULL);
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t flags = fuzz_take_u8(&c);
    char *strs[4];
    for (unsigned i = 0; i < 4; i++)
        strs[i] = fuzz_take_str(&c);
    for (unsigned i = 0; i < 3; i++)
        fuzz_rv_opts[i] = strs[i][0] ? strs[i] : NULL;
    fuzz_rv_cmdline = strs[3];
    fuzz_rv_mem = (1ull + (flags & 31)) << 20;
    vmm_image imgs[1 + FUZZ_RV_MAX_PAYLOADS] = {{.path = "program",
                                                  .role = flags & 32 ? VMM_IMAGE_GENERIC : VMM_IMAGE_KERNEL}};
    vmm_image *img = &imgs[0];
    if (flags & 64) {
        img->has_load_addr = 1;
        img->load_addr = fuzz_take_u64(&c);
    }
    uint8_t more = flags & 128 ? fuzz_take_u8(&c) : 0;
    fuzz_rv_ncpus = 1u + (more >> 7);
    unsigned nimages = 1 + (more & 3);
    for (unsigned i = 1; i < nimages; i++) {
        imgs[i] = (vmm_image){.path = "payload", .role = VMM_IMAGE_GENERIC, .has_load_addr = 1};
        imgs[i].load_addr = fuzz_take_u64(&c);
        imgs[i].size = fuzz_take_u8(&c) | (size_t)fuzz_take_u8(&c) << 8;
        uint8_t *d = malloc(imgs[i].size ? imgs[i].size : 1);
        if (!d)
            abort();
        for (size_t j = 0; j < imgs[i].size; j++)
            d[j] = (uint8_t)(i * 37 + j * 13 + (j >> 8)); /* differs per payload, so an overwrite shows */
        imgs[i].data = d;
    }
    size_t len;
    const uint8_t *p = fuzz_take_bytes(&c, size, &len);
    uint8_t *file = malloc(len ? len : 1); /* exact size, as the core reads the file */
    if (!file)
        abort();
    memcpy(file, p, len);
    img->data = file;
    img->size = len;

    fuzz_ram_set_helpers(&fuzz_rv_hlp);
    fuzz_rv_hlp.opt_string = fuzz_rv_opt_string;
    fuzz_rv_hlp.opt_is_set = fuzz_rv_opt_is_set;
    fuzz_rv_hlp.mem_ram_size = fuzz_rv_ram_size;
    fuzz_rv_hlp.mem_map_ram = fuzz_rv_map_ram;
    fuzz_rv_hlp.vm_cmdline = fuzz_rv_vm_cmdline;
    fuzz_rv_hlp.vcpu_count = fuzz_rv_vcpu_count;
    fuzz_rv_hlp.stats_enabled = fuzz_rv_stats_enabled;
    fuzz_rv_hlp.ssm_register = fuzz_rv_ssm_register;
    fuzz_rv_hlp.vm_accel = fuzz_rv_vm_accel;
    fuzz_rv_hlp.fdt_device = fuzz_rv_fdt_device;

    void *state = calloc(1, fuzz_rv_desc->instance_size);
    if (!state)
        abort();
    vmm_instance *inst = (vmm_instance *)state; /* opaque to the plugin; only handed back to the helpers */
    const vmm_arch_ops *arch = fuzz_rv_desc->arch;
    if (fuzz_rv_desc->construct(inst, &fuzz_rv_hlp, state) == 0) {
        /* vm_check answers 1 when it needs a host driver (exec=rc), which this harness has not: stop there. */
        int chk = arch->vm_check(inst, state, imgs, nimages);
        FUZZ_CHECK(chk == -1 || chk == 0 || chk == 1);
        /* The core creates and loads only what vm_check accepted; the loader then must not refuse it. */
        int load = -2;
        if (chk == 0 && arch->vm_create(inst, state) == 0) {
            load = arch->vm_load(inst, state, imgs, nimages);
            FUZZ_CHECK(load == 0);
            int elf = len >= 64 && !memcmp(file, "\177ELF", 4);
            const uint8_t *ram;
            if (!elf && img->role == VMM_IMAGE_KERNEL && fuzz_rv_is_linux_image(file, len)) {
                /* A Linux Image goes after the firmware (Debian's OpenSBI by default) at a 2 MiB boundary: look at
                 * each boundary the loader wrote (the ones before it were never handed out). */
                int found = 0;
                for (uint64_t at = 0x80200000ull; at + len <= 0x80000000ull + fuzz_rv_mem && !found; at += 2ull << 20)
                    found = (ram = fuzz_ram_peek_handed(&fuzz_ram_current, at, len)) && !memcmp(ram, file, len);
                FUZZ_CHECK(found);
            } else {
                uint64_t at = img->has_load_addr ? img->load_addr : 0x80000000ull;
                ram = elf ? NULL : fuzz_ram_peek(&fuzz_ram_current, at, len);
                FUZZ_CHECK(elf || (ram && !memcmp(ram, file, len)));
            }
            for (unsigned i = 1; i < nimages; i++) {
                ram = fuzz_ram_peek(&fuzz_ram_current, imgs[i].load_addr, imgs[i].size);
                FUZZ_CHECK(ram && !memcmp(ram, imgs[i].data, imgs[i].size));
            }
        }
        if (getenv("FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_riscv64_elf: vm_check %d, vm_load %d\n", chk, load);
        if (fuzz_rv_desc->destruct)
            fuzz_rv_desc->destruct(inst, state);
    }
    free(state);
    fuzz_ram_free(&fuzz_ram_current);
    free(file);
    for (unsigned i = 1; i < nimages; i++)
        free((void *)imgs[i].data);
    for (unsigned i = 0; i < 4; i++)
        free(strs[i]);
    return 0;
}
