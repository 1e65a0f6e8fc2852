/*
 * fuzz_riscv64_dtb: the riscv64 guest's device tree (plugins/riscv64/dtb.c) and what reaches it, driven the way
 * `vmm run --arch riscv64` drives it: the core's own vm_create (core/vm.c) over a vm_config built from the
 * input, with the shipped riscv64.so, uart16550.so, sifive-test.so and virtio-rng.so loaded by the core's plugin
 * loader, and a device plugin of the harness's own ("fuzz-fdt") whose construct registers an MMIO range and
 * describes itself through the SDK's fdt_describe/fdt_prop (core/board.c) with the input's node name, compatible
 * list, interrupt line and properties, as a third-party plugin may. The user's side: --mem, --append (bootargs),
 * --initrd (its size, so its placement), the program (--kernel or --image, flat or ELF, @ADDR) and up to three
 * --image FILE@ADDR payloads, --nodefaults, and the real devices' option strings (mmio=, irq=, base=...). The
 * images are files in a directory of the harness's own under /dev/shm, rewritten per input; the tree is read back
 * from riscv64's dtb-dump= file. The vCPU is created (the in-process engine) but never started.
 *
 * Checked after a vm_create that succeeded: libfdt reads the tree back (fdt_check_full) and it has the size the
 * blob says; no two nodes of one parent share a name, and each /soc device's unit address is its reg base;
 * /chosen's bootargs is --append exactly, its linux,initrd-start/-end hold the initrd's bytes in guest RAM;
 * /memory is RAM; every fuzz-fdt device that described itself with an MMIO range has its node, compatible list,
 * interrupt and properties as given. In guest RAM the tree lies where riscv64 documents (2 MiB- or 4 KiB-aligned
 * below the end of RAM or 3 GiB), and after the whole load the flat program, every payload and the initrd still
 * hold their files' bytes: nothing overlapped anything. A refusal (vm_create NULL) has the status of bad input
 * or of a host failure.
 *
 * Input: flags (bit 0: RAM in MiB rather than 4 KiB pages; 1: --nodefaults; 2: --append given; 3: --initrd
 * given; 4: the program has an @ADDR; 5: the program is --image rather than --kernel; 6-7: payloads), u16 RAM
 * units (n + 1; MiB capped at 4 GiB), the program's u64 address if bit 4, per payload a u64 address and a u16
 * size, the initrd's size (u32, up to 1 MiB), a device count (u8, up to 6) and per device a kind (u8: uart16550,
 * sifive-test, virtio-rng, fuzz-fdt) then either its option string or, for fuzz-fdt, a u64 base, a u16 size
 * (0: no MMIO range), a flags byte (bit 0: describe; bit 1: a property before describing; bit 2: describe
 * twice), the node name and compatible list, a u32 irq, a property count (u8, up to 9) and per property a name,
 * a u16 length (up to 511) and its bytes; then --append's text, then the program's bytes (the rest).
 */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "hostdrv.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "vm.h"

#define FZ_MAX_DEVICES 6
#define FZ_MAX_PAYLOADS 3
#define FZ_MAX_PROPS 9
#define FZ_RV_RAM_BASE 0x80000000ull

typedef struct fz_prop {
    char *name;
    const uint8_t *value;
    size_t len;
} fz_prop;

/* One fuzz-fdt instance's script, in device order. */
typedef struct fz_fdt_spec {
    uint64_t base;
    uint16_t size;
    uint8_t flags;
    char *node, *compatible;
    int32_t irq;
    unsigned nprops;
    fz_prop props[FZ_MAX_PROPS];
    int described; /* fdt_describe and every fdt_prop were accepted, and it has an MMIO range */
} fz_fdt_spec;

static plugin_registry fz_reg;
static loop *fz_loop;
static char fz_dir[64];
static fz_fdt_spec fz_specs[FZ_MAX_DEVICES];
static unsigned fz_nspecs, fz_constructed;

static uint64_t fz_mmio_read(void *state, uint64_t offset, unsigned size)
{
    (void)state, (void)offset, (void)size;
    return 0;
}

static void fz_mmio_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    (void)state, (void)offset, (void)size, (void)val;
}

/* The device plugin a third party could write: its description comes from the input. */
static int fz_fdt_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    (void)state;
    FUZZ_CHECK(fz_constructed < fz_nspecs);
    fz_fdt_spec *s = &fz_specs[fz_constructed++];
    hlp->ssm_stateless(inst);
    if (s->size && hlp->mmio_register(inst, s->base, s->size, fz_mmio_read, fz_mmio_write))
        return -1;
    if (s->flags & 2)
        FUZZ_CHECK(hlp->fdt_prop(inst, "early", "x", 2) == -1); /* before fdt_describe: refused */
    if (!(s->flags & 1))
        return 0;
    if (hlp->fdt_describe(inst, s->node, s->compatible, s->irq))
        return -1;
    if (s->flags & 4)
        FUZZ_CHECK(hlp->fdt_describe(inst, s->node, s->compatible, s->irq) == -1);
    for (unsigned i = 0; i < s->nprops; i++)
        if (hlp->fdt_prop(inst, s->props[i].name, s->props[i].value, s->props[i].len))
            return -1;
    s->described = s->size != 0;
    return 0;
}

static const vmm_plugin_desc fz_fdt_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = 8,
    .name = "fuzz-fdt",
    .description = "fuzz_riscv64_dtb's device: describes itself in the device tree as the input says",
    .construct = fz_fdt_construct,
    .version_end = VMM_DESC_VERSION,
};

static void fz_load(const char *path)
{
    char err[512];
    if (plugin_load_file(&fz_reg, path, err, sizeof(err))) {
        fprintf(stderr, "fuzz_riscv64_dtb: %s\n", err);
        abort();
    }
}

/* The files of the last input and their directory, at exit. */
static void fz_remove_dir(void)
{
    static const char *const names[] = {"program", "initrd", "dtb", "payload0", "payload1", "payload2"};
    char path[96];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fz_dir, names[i]);
        unlink(path);
    }
    rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    plugin_registry_init(&fz_reg, hostdrv_abi(NULL));
    fz_load(FUZZ_RISCV64_PLUGIN);
    fz_load(FUZZ_UART_PLUGIN);
    fz_load(FUZZ_SIFIVE_TEST_PLUGIN);
    fz_load(FUZZ_VIRTIO_RNG_PLUGIN);
    char err[512];
    if (plugin_check_desc(&fz_reg, &fz_fdt_desc, err, sizeof(err))) {
        fprintf(stderr, "fuzz_riscv64_dtb: fuzz-fdt: %s\n", err);
        abort();
    }
    /* The core's loader registers descriptors from files; this one is the harness's own. */
    fz_reg.items = realloc(fz_reg.items, (fz_reg.count + 1) * sizeof(*fz_reg.items));
    if (!fz_reg.items)
        abort();
    fz_reg.items[fz_reg.count++] = (plugin){.desc = &fz_fdt_desc, .path = strdup("fuzz-fdt"), .handle = NULL};
    fz_reg.cap = fz_reg.count;
    fz_loop = loop_create();
    if (!fz_loop)
        abort();
    snprintf(fz_dir, sizeof(fz_dir), "/dev/shm/fuzz-riscv64-dtb.%d", (int)getpid());
    if (mkdir(fz_dir, 0700) && errno != EEXIST)
        abort();
    atexit(fz_remove_dir);
    log_set_level(getenv("FUZZ_VERBOSE") ? VMM_LOG_DEBUG : VMM_LOG_ERROR);
    return 0;
}

static void fz_write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd))
        abort();
}

/* A payload's or the initrd's bytes: a pattern its number sets, so that overwritten bytes show. */
static uint8_t *fz_pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        abort();
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 8));
    return p;
}

/* The host bytes of guest [gpa, gpa + len) in the VM's RAM, or NULL. */
static const uint8_t *fz_guest(vm *v, uint64_t gpa, uint64_t len)
{
    mem_region *r = memmap_find_range(&v->mem, gpa, len ? len : 1);
    return r && r->kind == MEM_RAM ? r->host + (gpa - r->gpa) : NULL;
}

static int fz_guest_holds(vm *v, uint64_t gpa, const uint8_t *data, size_t len)
{
    const uint8_t *p = fz_guest(v, gpa, len);
    return p && (!len || !memcmp(p, data, len));
}

/* Property values are only 4-byte aligned in a tree: 64-bit cells are read bytewise. */
static uint64_t fz_cell64(const void *p)
{
    fdt64_t v;
    memcpy(&v, p, sizeof(v));
    return fdt64_to_cpu(v);
}

static uint64_t fz_prop_u64(const void *fdt, int node, const char *name, int *found)
{
    int len;
    const void *p = fdt_getprop(fdt, node, name, &len);
    *found = p && len == 8;
    return *found ? fz_cell64(p) : 0;
}

/* Sibling names are unique, and a node named X@HEX under /soc has a reg whose base is HEX. */
static void fz_check_names(const void *fdt, int parent, int depth)
{
    int a, b;
    FUZZ_CHECK(depth < 16);
    fdt_for_each_subnode(a, fdt, parent) {
        const char *na = fdt_get_name(fdt, a, NULL);
        FUZZ_CHECK(na && na[0]);
        fdt_for_each_subnode(b, fdt, parent) {
            if (b <= a)
                continue;
            FUZZ_CHECK(strcmp(na, fdt_get_name(fdt, b, NULL)) != 0);
        }
        fz_check_names(fdt, a, depth + 1);
    }
}

static void fz_check_soc(const void *fdt)
{
    int soc = fdt_path_offset(fdt, "/soc"), n;
    FUZZ_CHECK(soc >= 0);
    fdt_for_each_subnode(n, fdt, soc) {
        const char *name = fdt_get_name(fdt, n, NULL);
        const char *at = strchr(name, '@');
        int len;
        const uint8_t *reg = fdt_getprop(fdt, n, "reg", &len);
        FUZZ_CHECK(at && reg && len == 16);
        char unit[24];
        snprintf(unit, sizeof(unit), "%llx", (unsigned long long)fz_cell64(reg));
        FUZZ_CHECK(!strcmp(at + 1, unit));
        const char *compat = fdt_getprop(fdt, n, "compatible", &len);
        FUZZ_CHECK(compat && len > 0 && compat[len - 1] == '\0');
    }
}

/* A fuzz-fdt device that described itself: its node holds what it gave. */
static void fz_check_device(const void *fdt, const fz_fdt_spec *s)
{
    char path[96];
    snprintf(path, sizeof(path), "/soc/%s@%llx", s->node, (unsigned long long)s->base);
    int n = fdt_path_offset(fdt, path), len;
    FUZZ_CHECK(n >= 0);
    const char *compat = fdt_getprop(fdt, n, "compatible", &len);
    size_t clen = strlen(s->compatible);
    FUZZ_CHECK(compat && (size_t)len == clen + 1);
    for (size_t i = 0; i < clen; i++)
        FUZZ_CHECK(compat[i] == (s->compatible[i] == ' ' ? '\0' : s->compatible[i]));
    const fdt32_t *irq = fdt_getprop(fdt, n, "interrupts", &len);
    if (s->irq > 0)
        FUZZ_CHECK(irq && len == 4 && fdt32_to_cpu(*irq) == (uint32_t)s->irq);
    else
        FUZZ_CHECK(!irq);
    const uint8_t *reg = fdt_getprop(fdt, n, "reg", &len);
    FUZZ_CHECK(reg && len == 16 && fz_cell64(reg) == s->base && fz_cell64(reg + 8) == s->size);
    for (unsigned i = 0; i < s->nprops; i++) {
        const void *v = fdt_getprop(fdt, n, s->props[i].name, &len);
        FUZZ_CHECK(v && (size_t)len == s->props[i].len && (!len || !memcmp(v, s->props[i].value, len)));
    }
}

/* What the user gave, for the checks. */
typedef struct fz_run {
    uint64_t ram;
    const char *append;
    int has_initrd;
    uint8_t *initrd;
    size_t initrd_len;
    const uint8_t *program;
    size_t program_len;
    uint64_t program_addr;
    unsigned npayloads;
    uint64_t payload_addr[FZ_MAX_PAYLOADS];
    uint8_t *payload[FZ_MAX_PAYLOADS];
    size_t payload_len[FZ_MAX_PAYLOADS];
} fz_run;

static void fz_check_vm(vm *v, const fz_run *r, const char *dtb_path)
{
    int fd = open(dtb_path, O_RDONLY);
    FUZZ_CHECK(fd >= 0);
    struct stat st;
    FUZZ_CHECK(fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= (1 << 20));
    size_t len = (size_t)st.st_size;
    uint8_t *fdt = malloc(len);
    FUZZ_CHECK(fdt && read(fd, fdt, len) == (ssize_t)len);
    close(fd);
    FUZZ_CHECK(fdt_check_full(fdt, len) == 0);
    FUZZ_CHECK(fdt_totalsize(fdt) == len);
    fz_check_names(fdt, 0, 0);
    fz_check_soc(fdt);

    int chosen = fdt_path_offset(fdt, "/chosen"), plen;
    FUZZ_CHECK(chosen >= 0);
    const char *bootargs = fdt_getprop(fdt, chosen, "bootargs", &plen);
    if (r->append && r->append[0])
        FUZZ_CHECK(bootargs && (size_t)plen == strlen(r->append) + 1 && !memcmp(bootargs, r->append, plen));
    else
        FUZZ_CHECK(!bootargs);
    int has_start, has_end;
    uint64_t start = fz_prop_u64(fdt, chosen, "linux,initrd-start", &has_start);
    uint64_t end = fz_prop_u64(fdt, chosen, "linux,initrd-end", &has_end);
    FUZZ_CHECK(has_start == has_end);
    if (r->has_initrd && r->initrd_len) {
        FUZZ_CHECK(has_start && end - start == r->initrd_len && start % 4096 == 0);
        FUZZ_CHECK(fz_guest_holds(v, start, r->initrd, r->initrd_len));
    } else if (!r->has_initrd) {
        FUZZ_CHECK(!has_start);
    }
    int mem = fdt_path_offset(fdt, "/memory@80000000");
    const uint8_t *reg = mem >= 0 ? fdt_getprop(fdt, mem, "reg", &plen) : NULL;
    FUZZ_CHECK(reg && plen == 16 && fz_cell64(reg) == FZ_RV_RAM_BASE && fz_cell64(reg + 8) == r->ram);
    for (unsigned i = 0; i < fz_nspecs; i++)
        if (fz_specs[i].described)
            fz_check_device(fdt, &fz_specs[i]);

    /* In guest RAM, where riscv64 says it puts it. */
    uint64_t top = FZ_RV_RAM_BASE + r->ram < (3ull << 30) ? FZ_RV_RAM_BASE + r->ram : 3ull << 30;
    FUZZ_CHECK(len <= top - FZ_RV_RAM_BASE);
    uint64_t at2m = (top - len) & ~((2ull << 20) - 1), at4k = (top - len) & ~4095ull;
    FUZZ_CHECK((at2m >= FZ_RV_RAM_BASE && fz_guest_holds(v, at2m, fdt, len)) || fz_guest_holds(v, at4k, fdt, len));
    free(fdt);

    /* Nothing loaded later overwrote anything loaded earlier. */
    if (!(r->program_len >= 4 && !memcmp(r->program, "\177ELF", 4)))
        FUZZ_CHECK(fz_guest_holds(v, r->program_addr, r->program, r->program_len));
    for (unsigned i = 0; i < r->npayloads; i++)
        FUZZ_CHECK(fz_guest_holds(v, r->payload_addr[i], r->payload[i], r->payload_len[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_loop)
        LLVMFuzzerInitialize(NULL, NULL);
    fuzz_cursor c = fuzz_cursor_init(data, size);
    fz_run r = {0};
    uint8_t flags = fuzz_take_u8(&c);
    unsigned units = fuzz_take_u8(&c) | (unsigned)fuzz_take_u8(&c) << 8;
    r.ram = flags & 1 ? (uint64_t)((units & 0xfff) + 1) << 20 : (uint64_t)(units + 1) << 12;
    int has_addr = flags & 16;
    r.program_addr = has_addr ? fuzz_take_u64(&c) : FZ_RV_RAM_BASE;
    r.npayloads = flags >> 6;
    for (unsigned i = 0; i < r.npayloads; i++) {
        r.payload_addr[i] = fuzz_take_u64(&c);
        r.payload_len[i] = fuzz_take_u8(&c) | (size_t)fuzz_take_u8(&c) << 8;
        r.payload[i] = fz_pattern(r.payload_len[i], i + 1);
    }
    r.has_initrd = (flags >> 3) & 1;
    r.initrd_len = fuzz_take_u32(&c) & 0xfffff;
    r.initrd = fz_pattern(r.has_initrd ? r.initrd_len : 0, 7);

    vm_device_config devs[FZ_MAX_DEVICES];
    char *dev_opts[FZ_MAX_DEVICES] = {0};
    static const char *const kinds[] = {"uart16550", "sifive-test", "virtio-rng", "fuzz-fdt"};
    unsigned ndevs = fuzz_take_u8(&c) % (FZ_MAX_DEVICES + 1);
    fz_nspecs = fz_constructed = 0;
    for (unsigned i = 0; i < ndevs; i++) {
        unsigned kind = fuzz_take_u8(&c) % 4;
        devs[i] = (vm_device_config){.name = kinds[kind], .options = NULL};
        if (kind != 3) {
            dev_opts[i] = fuzz_take_str(&c);
            devs[i].options = dev_opts[i][0] ? dev_opts[i] : NULL;
            continue;
        }
        fz_fdt_spec *s = &fz_specs[fz_nspecs++];
        memset(s, 0, sizeof(*s));
        s->base = fuzz_take_u64(&c);
        s->size = (uint16_t)(fuzz_take_u8(&c) | fuzz_take_u8(&c) << 8);
        s->flags = fuzz_take_u8(&c);
        s->node = fuzz_take_str(&c);
        s->compatible = fuzz_take_str(&c);
        s->irq = (int32_t)fuzz_take_u32(&c);
        s->nprops = fuzz_take_u8(&c) % (FZ_MAX_PROPS + 1);
        for (unsigned j = 0; j < s->nprops; j++) {
            s->props[j].name = fuzz_take_str(&c);
            size_t want = (fuzz_take_u8(&c) | (size_t)fuzz_take_u8(&c) << 8) & 0x1ff;
            s->props[j].value = fuzz_take_bytes(&c, want, &s->props[j].len);
        }
    }
    char *append = fuzz_take_str(&c);
    r.append = flags & 4 ? append : NULL;
    r.program = fuzz_take_bytes(&c, size, &r.program_len);

    /* The files vm_create reads, as the user would name them. */
    char prog_path[96], initrd_path[96], dtb_path[96], payload_path[FZ_MAX_PAYLOADS][96];
    snprintf(prog_path, sizeof(prog_path), "%s/program", fz_dir);
    snprintf(initrd_path, sizeof(initrd_path), "%s/initrd", fz_dir);
    snprintf(dtb_path, sizeof(dtb_path), "%s/dtb", fz_dir);
    unlink(dtb_path);
    fz_write_file(prog_path, r.program, r.program_len);
    vm_image_config images[2 + FZ_MAX_PAYLOADS];
    unsigned nimages = 0;
    images[nimages++] = (vm_image_config){.path = prog_path, .load_addr = r.program_addr, .has_load_addr = has_addr,
                                          .role = flags & 32 ? VMM_IMAGE_GENERIC : VMM_IMAGE_KERNEL};
    for (unsigned i = 0; i < r.npayloads; i++) {
        snprintf(payload_path[i], sizeof(payload_path[i]), "%s/payload%u", fz_dir, i);
        fz_write_file(payload_path[i], r.payload[i], r.payload_len[i]);
        images[nimages++] = (vm_image_config){.path = payload_path[i], .load_addr = r.payload_addr[i],
                                              .has_load_addr = 1, .role = VMM_IMAGE_GENERIC};
    }
    if (r.has_initrd) {
        fz_write_file(initrd_path, r.initrd, r.initrd_len);
        images[nimages++] = (vm_image_config){.path = initrd_path, .role = VMM_IMAGE_INITRD};
    }
    char arch_opts[128];
    snprintf(arch_opts, sizeof(arch_opts), "dtb-dump=%s", dtb_path);
    vm_config cfg = {.arch = "riscv64", .arch_options = arch_opts, .ram_size = r.ram, .cpus = 1,
                     .images = images, .nimages = nimages, .devices = devs, .ndevices = ndevs,
                     .cmdline = r.append, .nodefaults = (flags >> 1) & 1};
    int status = 0;
    vm *v = vm_create(&fz_reg, fz_loop, &cfg, &status);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_riscv64_dtb: vm_create %s (status %d)\n", v ? "ok" : "refused", status);
    if (v) {
        fz_check_vm(v, &r, dtb_path);
        vm_destroy(v);
    } else {
        FUZZ_CHECK(status == 1 || status == 2);
    }

    for (unsigned i = 0; i < fz_nspecs; i++) {
        free(fz_specs[i].node);
        free(fz_specs[i].compatible);
        for (unsigned j = 0; j < fz_specs[i].nprops; j++)
            free(fz_specs[i].props[j].name);
    }
    for (unsigned i = 0; i < ndevs; i++)
        free(dev_opts[i]);
    for (unsigned i = 0; i < r.npayloads; i++)
        free(r.payload[i]);
    free(r.initrd);
    free(append);
    return 0;
}
