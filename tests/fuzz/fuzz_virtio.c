/*
 * fuzz_virtio: the virtio devices (plugins/devices/virtio: the virtio-mmio transport, split-queue parsing,
 * virtio-blk and virtio-rng) driven as a guest driver drives them. The built virtio-blk.so and virtio-rng.so are
 * loaded by the core's own loader (plugin_load_file) and constructed with a helper table whose guest memory is
 * fuzz_ram (64 KiB at 0x80000000), whose mmio_register keeps the register window's callbacks and whose irq_set
 * records the line; virtio-blk serves a 64 KiB image in a memfd, rewritten before every input.
 *
 * Input: a flags byte (bits 0-1: 0 virtio-rng, 1 virtio-blk, 2 virtio-blk readonly=on, 3 virtio-blk), then
 * operations, each an opcode byte whose bits 0-1 say what it is:
 *   0  register write: size 1 << (bits 2-3) bytes, u16 offset (in the 512-byte window), u32 value (u64 for 8)
 *   1  register read: the same without the value
 *   2  RAM write: u16 RAM offset, u16 length, the bytes (cut at the end of RAM)
 *   3  RAM write of a u16 (an index, a descriptor's next): u16 RAM offset, u16 value
 * so the fuzzer sets up features, queues and status itself and builds rings and chains in guest RAM.
 *
 * Beyond crashes and sanitizer reports, checked after every operation: the device touches guest memory only
 * through the helpers (RAM is poisoned again after each operation, so a pointer mem_ptr handed out is good for
 * that operation and that range only); a device in DEVICE_NEEDS_RESET reads, writes and serves nothing until the
 * driver writes Status 0; used.idx advances by at most what the available ring offered (unless the device's own
 * writes landed on the available ring) and never by more than it consumed; the interrupt line follows
 * InterruptStatus; a readonly=on image is never written; every log line is one line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_ram.h"
#include "plugin.h"
#include "virtio_mmio.h"

#define FV_RAM_BASE 0x80000000ull
#define FV_RAM_SIZE 0x10000ull
#define FV_MMIO_BASE 0x10001000ull
#define FV_IRQ 7u
#define FV_IMAGE_SIZE 0x10000
#define FV_MAX_OPS 4096
#define FV_MAX_WRITES 1024

static plugin_registry fv_reg;
static const vmm_plugin_desc *fv_blk, *fv_rng;
static vmm_helpers fv_hlp;
static int fv_image_fd = -1;
static char fv_image_path[64];
static uint8_t fv_image_init[FV_IMAGE_SIZE];

typedef struct fv_range {
    uint64_t gpa, len;
} fv_range;

/* What the current input's device did through its helpers. */
static struct {
    int readonly;
    vmm_io_read_fn rd;
    vmm_io_write_fn wr;
    unsigned mmio_count;
    uint64_t mem_accesses;  /* mem_read, mem_write and mem_ptr calls */
    int line;               /* the level irq_set last gave, -1 before any */
    unsigned irq_calls;
    /* The guest ranges the device wrote in this operation; more than fit: any range counts as written. */
    fv_range wrote[FV_MAX_WRITES];
    unsigned nwrote;
} fv;

static const vmm_plugin_desc *fv_load(const char *env, const char *path, const char *name)
{
    char err[512];
    const char *p = getenv(env) ? getenv(env) : path;
    if (plugin_load_file(&fv_reg, p, err, sizeof(err))) {
        fprintf(stderr, "fuzz_virtio: %s\n", err);
        abort();
    }
    const plugin *pl = plugin_find(&fv_reg, name);
    if (!pl) {
        fprintf(stderr, "fuzz_virtio: no %s plugin in %s\n", name, p);
        abort();
    }
    return pl->desc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    plugin_registry_init(&fv_reg, NULL);
    fv_blk = fv_load("FUZZ_VIRTIO_BLK_PLUGIN", FUZZ_VIRTIO_BLK_PLUGIN, "virtio-blk");
    fv_rng = fv_load("FUZZ_VIRTIO_RNG_PLUGIN", FUZZ_VIRTIO_RNG_PLUGIN, "virtio-rng");
    fv_image_fd = memfd_create("fuzz-virtio-blk", MFD_CLOEXEC);
    if (fv_image_fd < 0) {
        perror("fuzz_virtio: memfd_create");
        abort();
    }
    snprintf(fv_image_path, sizeof(fv_image_path), "/proc/self/fd/%d", fv_image_fd);
    for (unsigned i = 0; i < FV_IMAGE_SIZE; i++) /* every sector distinct, so a misplaced read shows */
        fv_image_init[i] = (uint8_t)(i * 7 + i / 512);
    return 0;
}

static void fv_image_reset(void)
{
    if (ftruncate(fv_image_fd, 0) || ftruncate(fv_image_fd, FV_IMAGE_SIZE) ||
        pwrite(fv_image_fd, fv_image_init, FV_IMAGE_SIZE, 0) != FV_IMAGE_SIZE) {
        perror("fuzz_virtio: image");
        abort();
    }
}

static int fv_image_unchanged(void)
{
    static uint8_t now[FV_IMAGE_SIZE];
    struct stat st;
    return fstat(fv_image_fd, &st) == 0 && st.st_size == FV_IMAGE_SIZE &&
           pread(fv_image_fd, now, FV_IMAGE_SIZE, 0) == FV_IMAGE_SIZE && !memcmp(now, fv_image_init, FV_IMAGE_SIZE);
}

/* ---- The helper table: fuzz_ram's memory helpers, counted, and the rest of what the devices call ---- */

static int (*fv_ram_read)(vmm_instance *, uint64_t, void *, size_t);
static int (*fv_ram_write)(vmm_instance *, uint64_t, const void *, size_t);
static void *(*fv_ram_ptr)(vmm_instance *, uint64_t, size_t, int);

static void fv_note_write(uint64_t gpa, size_t len)
{
    if (fv.nwrote < FV_MAX_WRITES)
        fv.wrote[fv.nwrote] = (fv_range){gpa, len};
    fv.nwrote++;
}

static int fv_mem_read(vmm_instance *inst, uint64_t gpa, void *buf, size_t len)
{
    fv.mem_accesses++;
    return fv_ram_read(inst, gpa, buf, len);
}

static int fv_mem_write(vmm_instance *inst, uint64_t gpa, const void *buf, size_t len)
{
    fv.mem_accesses++;
    fv_note_write(gpa, len);
    return fv_ram_write(inst, gpa, buf, len);
}

static void *fv_mem_ptr(vmm_instance *inst, uint64_t gpa, size_t len, int writable)
{
    fv.mem_accesses++;
    void *p = fv_ram_ptr(inst, gpa, len, writable);
    if (p && writable)
        fv_note_write(gpa, len);
    return p;
}

/* Every log line is one line (fuzz_ram's log formats it). */
static void fv_log_check(vmm_log_level level, const char *msg)
{
    (void)level;
    FUZZ_CHECK(msg[0] && !strpbrk(msg, "\n\r"));
}

static const char *fv_opt_string(vmm_instance *inst, const char *name)
{
    (void)inst;
    return !strcmp(name, "file") ? fv_image_path : NULL;
}

static uint64_t fv_opt_u64(vmm_instance *inst, const char *name)
{
    (void)inst;
    if (!strcmp(name, "base"))
        return FV_MMIO_BASE;
    FUZZ_CHECK(!strcmp(name, "irq"));
    return FV_IRQ;
}

/* base and irq are given (fv_opt_u64), so the transport claims no slot (SDK 1.7). */
static int fv_opt_is_set(vmm_instance *inst, const char *name)
{
    (void)inst;
    return !strcmp(name, "base") || !strcmp(name, "irq");
}

static int fv_opt_bool(vmm_instance *inst, const char *name)
{
    (void)inst;
    FUZZ_CHECK(!strcmp(name, "readonly"));
    return fv.readonly;
}

static int fv_mmio_register(vmm_instance *inst, uint64_t base, uint64_t size, vmm_io_read_fn rd, vmm_io_write_fn wr)
{
    (void)inst;
    FUZZ_CHECK(base == FV_MMIO_BASE && size == VIRTIO_MMIO_SIZE && rd && wr && fv.mmio_count++ == 0);
    fv.rd = rd;
    fv.wr = wr;
    return 0;
}

static int fv_irq_set(vmm_instance *inst, uint32_t line, int level)
{
    (void)inst;
    FUZZ_CHECK(line == FV_IRQ && (level == 0 || level == 1));
    fv.line = level;
    fv.irq_calls++;
    return 0;
}

static int fv_fdt_describe(vmm_instance *inst, const char *node_name, const char *compatible, int irq)
{
    (void)inst;
    FUZZ_CHECK(node_name && compatible && irq == (int)FV_IRQ);
    return 0;
}

static int fv_ssm_register(vmm_instance *inst, const char *unit, uint32_t instance, uint32_t version,
                           vmm_ssm_save_fn save, vmm_ssm_load_fn load)
{
    (void)inst, (void)unit, (void)instance, (void)version, (void)save, (void)load;
    return 0;
}

static int fv_stats_enabled(vmm_instance *inst)
{
    (void)inst;
    return 0;
}

static void fv_set_helpers(void)
{
    fuzz_ram_set_helpers(&fv_hlp);
    fv_ram_read = fv_hlp.mem_read;
    fv_ram_write = fv_hlp.mem_write;
    fv_ram_ptr = fv_hlp.mem_ptr;
    fv_hlp.version_end = fv_hlp.version;
    fv_hlp.mem_read = fv_mem_read;
    fv_hlp.mem_write = fv_mem_write;
    fv_hlp.mem_ptr = fv_mem_ptr;
    fuzz_ram_log_hook = fv_log_check;
    fv_hlp.opt_string = fv_opt_string;
    fv_hlp.opt_u64 = fv_opt_u64;
    fv_hlp.opt_bool = fv_opt_bool;
    fv_hlp.opt_is_set = fv_opt_is_set;
    fv_hlp.mmio_register = fv_mmio_register;
    fv_hlp.irq_set = fv_irq_set;
    fv_hlp.fdt_describe = fv_fdt_describe;
    fv_hlp.ssm_register = fv_ssm_register;
    fv_hlp.stats_enabled = fv_stats_enabled;
}

/* ---- The driver's side ---- */

/* The harness's own access to guest RAM (unpoisons; fuzz_ram_repoison closes it again after the operation). */
static uint16_t fv_guest_u16(uint64_t gpa)
{
    uint16_t v = 0;
    const void *p = fuzz_ram_range(&fuzz_ram_current, gpa, 2);
    if (p)
        memcpy(&v, p, 2);
    return v;
}

static int fv_overlaps(uint64_t lo, uint64_t len)
{
    if (fv.nwrote > FV_MAX_WRITES)
        return 1;
    for (unsigned i = 0; i < fv.nwrote; i++)
        if (fv.wrote[i].len && fv.wrote[i].gpa < lo + len && lo < fv.wrote[i].gpa + fv.wrote[i].len)
            return 1;
    return 0;
}

/* One register write or read, with the transport's state before and after compared. */
static void fv_mmio(virtio_mmio *t, int write, uint64_t offset, unsigned size, uint64_t val)
{
    int needs_reset = (t->status & 0x40) != 0;
    uint64_t accesses = fv.mem_accesses, requests = t->requests;
    virtio_queue before[VIRTIO_MAX_QUEUES];
    uint16_t avail_idx[VIRTIO_MAX_QUEUES] = {0};
    memcpy(before, t->q, sizeof(before));
    for (unsigned i = 0; i < t->ops->num_queues; i++)
        if (before[i].ready)
            avail_idx[i] = fv_guest_u16(before[i].driver + 2);
    fv.nwrote = 0;

    if (write)
        fv.wr(t, offset, size, val);
    else
        (void)fv.rd(t, offset, size);

    int reset = write && offset == 0x70 && size == 4 && (uint32_t)val == 0;
    if (needs_reset && !reset) {
        FUZZ_CHECK(fv.mem_accesses == accesses && t->requests == requests);
        FUZZ_CHECK(!memcmp(before, t->q, sizeof(before)));
    }
    for (unsigned i = 0; i < t->ops->num_queues; i++) {
        const virtio_queue *b = &before[i], *a = &t->q[i];
        if (!b->ready || !a->ready || reset)
            continue;
        uint16_t consumed = (uint16_t)(a->last_avail - b->last_avail);
        uint16_t returned = (uint16_t)(a->used_idx - b->used_idx);
        FUZZ_CHECK(returned <= consumed);
        /* The device re-reads avail.idx after a batch: it may legitimately see what its own writes put there. */
        if (!fv_overlaps(b->driver, 4 + 2ull * b->num))
            FUZZ_CHECK(consumed <= (uint16_t)(avail_idx[i] - b->last_avail) && consumed <= b->num);
    }
    FUZZ_CHECK(fv.line == -1 ? t->int_status == 0 : fv.line == (t->int_status != 0));
    fuzz_ram_repoison(&fuzz_ram_current);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fv_blk)
        LLVMFuzzerInitialize(NULL, NULL);
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t flags = fuzz_take_u8(&c);
    unsigned kind = flags & 3;
    const vmm_plugin_desc *desc = kind == 0 ? fv_rng : fv_blk;
    memset(&fv, 0, sizeof(fv));
    fv.line = -1;
    fv.readonly = kind == 2;
    fv_set_helpers();
    fuzz_ram_add(&fuzz_ram_current, FV_RAM_BASE, FV_RAM_SIZE);
    if (desc == fv_blk)
        fv_image_reset();

    void *state = calloc(1, desc->instance_size);
    if (!state)
        abort();
    vmm_instance *inst = (vmm_instance *)state; /* opaque to the plugin; only handed back to the helpers */
    FUZZ_CHECK(desc->construct(inst, &fv_hlp, state) == 0 && fv.rd && fv.wr);
    virtio_mmio *t = state; /* the transport is the first member of every virtio device's state */

    for (unsigned n = 0; n < FV_MAX_OPS && c.pos < c.size; n++) {
        uint8_t op = fuzz_take_u8(&c);
        if ((op & 3) <= 1) {
            unsigned sz = 1u << ((op >> 2) & 3);
            uint64_t off = fuzz_take_u8(&c);
            off |= (uint64_t)fuzz_take_u8(&c) << 8;
            off %= VIRTIO_MMIO_SIZE;
            if (off + sz > VIRTIO_MMIO_SIZE)
                off = VIRTIO_MMIO_SIZE - sz; /* the core routes only accesses wholly inside the window */
            uint64_t val = 0;
            if ((op & 3) == 0)
                val = sz == 8 ? fuzz_take_u64(&c) : fuzz_take_u32(&c) & (sz == 4 ? 0xffffffffu : (1u << (8 * sz)) - 1);
            fv_mmio(t, (op & 3) == 0, off, sz, val);
        } else {
            uint32_t off = fuzz_take_u8(&c);
            off |= (uint32_t)fuzz_take_u8(&c) << 8;
            uint32_t len = fuzz_take_u8(&c);
            len |= (uint32_t)fuzz_take_u8(&c) << 8;
            size_t got = 2;
            const uint8_t *bytes = (const uint8_t *)&len; /* op 3: the u16 just read is the value */
            if ((op & 3) == 2)
                bytes = fuzz_take_bytes(&c, len, &got);
            if (got > FV_RAM_SIZE - off)
                got = FV_RAM_SIZE - off;
            if (got) {
                memcpy(fuzz_ram_range(&fuzz_ram_current, FV_RAM_BASE + off, got), bytes, got);
                fuzz_ram_repoison(&fuzz_ram_current);
            }
        }
    }

    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_virtio: %s: status 0x%x, %llu requests, %llu driver errors, used.idx %u, byte at 0x%llx: %u\n",
                desc->name, t->status, (unsigned long long)t->requests, (unsigned long long)t->failures,
                t->q[0].used_idx, FV_RAM_BASE + 0x3000, *(const uint8_t *)fuzz_ram_range(&fuzz_ram_current,
                FV_RAM_BASE + 0x3000, 1));
    if (desc->destruct)
        desc->destruct(inst, state);
    if (fv.readonly)
        FUZZ_CHECK(fv_image_unchanged());
    free(state);
    fuzz_ram_free(&fuzz_ram_current);
    return 0;
}
