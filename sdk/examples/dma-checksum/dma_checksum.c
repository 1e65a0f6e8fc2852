/*
 * dma-checksum: an example device built out of tree against the installed vmm SDK (pkg-config vmm-sdk).
 * The guest programs a buffer address and length, starts the device, and gets an interrupt when the CRC-32 of
 * the buffer is ready. The buffer is read with the SDK's bounds-checked guest-memory helper, so a request that
 * points outside guest RAM ends in an error status, never in host memory.
 *
 * Registers (MMIO at `base`, 32-bit accesses except ADDR, which may also be written as one 64-bit access):
 *   0x00 ADDR_LO, 0x04 ADDR_HI  guest-physical address of the buffer
 *   0x08 LEN                    length in bytes (at most 16 MiB)
 *   0x0c CTRL                   write 1: start; write 2: acknowledge the interrupt
 *   0x10 STATUS                 0 idle, 1 done, 2 error (buffer outside guest RAM, or too long)
 *   0x14 RESULT                 CRC-32 (IEEE 802.3) of the buffer
 */
#include <stdint.h>
#include <stdlib.h>

#include <vmm/plugin.h>

#define DMA_MAX_LEN (16u << 20)

enum { DMA_IDLE = 0, DMA_DONE = 1, DMA_ERROR = 2 };

typedef struct dma_dev {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint32_t irq;
    uint64_t addr;
    uint32_t len, status, result;
} dma_dev;

static uint32_t dma_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
    }
    return ~crc;
}

static void dma_start(dma_dev *d)
{
    uint8_t *buf = d->len <= DMA_MAX_LEN ? malloc(d->len ? d->len : 1) : NULL;
    /* mem_read checks the whole range against guest RAM and copies nothing if any of it is outside. */
    if (!buf || d->hlp->mem_read(d->inst, d->addr, buf, d->len)) {
        d->hlp->log(d->inst, VMM_LOG_WARN, "DMA of %u bytes at 0x%llx refused: outside guest RAM or too long",
                    d->len, (unsigned long long)d->addr);
        d->status = DMA_ERROR;
    } else {
        d->result = dma_crc32(0, buf, d->len);
        d->status = DMA_DONE;
    }
    free(buf);
    d->hlp->irq_set(d->inst, d->irq, 1);
}

static uint64_t dma_read(void *state, uint64_t off, unsigned size)
{
    dma_dev *d = state;
    (void)size;
    switch (off) {
    case 0x00: return (uint32_t)d->addr;
    case 0x04: return (uint32_t)(d->addr >> 32);
    case 0x08: return d->len;
    case 0x10: return d->status;
    case 0x14: return d->result;
    }
    return 0;
}

static void dma_write(void *state, uint64_t off, unsigned size, uint64_t val)
{
    dma_dev *d = state;
    if (off == 0x00 && size == 8)
        d->addr = val;
    else if (off == 0x00)
        d->addr = (d->addr & ~0xffffffffull) | (uint32_t)val;
    else if (off == 0x04)
        d->addr = (d->addr & 0xffffffffull) | (val << 32);
    else if (off == 0x08)
        d->len = (uint32_t)val;
    else if (off == 0x0c && val == 1)
        dma_start(d);
    else if (off == 0x0c && val == 2)
        d->hlp->irq_set(d->inst, d->irq, 0);
}

/* Saved state: the registers, so a VM saved with this device can be restored (vmm refuses to save a VM with a
 * device that neither registers a unit nor says it has no state). */
static int dma_save(void *state, vmm_ssm *ssm)
{
    dma_dev *d = state;
    d->hlp->ssm_put_u64(ssm, d->addr);
    d->hlp->ssm_put_u64(ssm, d->len);
    d->hlp->ssm_put_u64(ssm, d->status);
    return d->hlp->ssm_put_u64(ssm, d->result);
}

static int dma_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    dma_dev *d = state;
    uint64_t len, status, result;
    if (version != 1)
        return d->hlp->ssm_fail(ssm, "unknown version %u", version);
    if (d->hlp->ssm_get_u64(ssm, &d->addr) || d->hlp->ssm_get_u64(ssm, &len) || d->hlp->ssm_get_u64(ssm, &status) ||
        d->hlp->ssm_get_u64(ssm, &result))
        return -1;
    d->len = (uint32_t)len;
    d->status = (uint32_t)status;
    d->result = (uint32_t)result;
    return 0;
}

static int dma_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    dma_dev *d = state;
    d->inst = inst;
    d->hlp = hlp;
    d->irq = (uint32_t)hlp->opt_u64(inst, "irq");
    if (hlp->ssm_register(inst, "dma-checksum", 0, 1, dma_save, dma_load))
        return -1;
    if (hlp->mmio_register(inst, hlp->opt_u64(inst, "base"), 0x20, dma_read, dma_write))
        return -1;
    /* SDK 1.6: a node in the guest's device tree (riscv64), so that a guest can find the device by its
     * compatible string rather than by a fixed address; an older vmm has no such helper. */
    if (VMM_HELPERS_HAVE(hlp, 6)) {
        static const char model[] = "vmm example";
        if (hlp->fdt_describe(inst, "dma", "vmm,dma-checksum", (int)d->irq) ||
            hlp->fdt_prop(inst, "model", model, sizeof(model)))
            return -1;
    }
    return 0;
}

static const vmm_option_desc dma_options[] = {
    {.name = "base", .type = VMM_OPT_U64, .default_value = "0xfe100000", .help = "MMIO base address"},
    {.name = "irq", .type = VMM_OPT_U64, .default_value = "5", .min = 0, .max = 23, .help = "interrupt line"},
    {0},
};

static const vmm_plugin_desc dma_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(dma_dev),
    .name = "dma-checksum",
    .description = "example: CRC-32 of a guest buffer by DMA, with a completion interrupt",
    .options = dma_options,
    .construct = dma_construct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(dma_desc)
