/*
 * test-dma-copy: a device that copies guest memory to guest memory when the guest asks, the way a DMA engine
 * would, through the SDK's guest-memory helpers: with mem_read and mem_write, or through a read-only and a
 * writable mem_ptr. tests/riscv/isa/dmacode.S has it rewrite code the hart has run and checks that fence.i makes
 * the new code run (an architecture may keep its translations across fence.i only while mem_write_count says no
 * device wrote). It keeps no state a snapshot would need.
 *
 * Registers (MMIO at option mmio, 64-bit SRC and DST, 32-bit otherwise):
 *   0x00 SRC   guest-physical source     0x08 DST   guest-physical destination
 *   0x10 LEN   bytes (at most 4096)      0x14 GO    write 1: copy with mem_read/mem_write; 2: through mem_ptr
 *   0x18 STATUS                          0 done, 1 refused (outside RAM, or too long)
 */
#include <stdint.h>
#include <string.h>

#include <vmm/plugin.h>

#define DMA_COPY_MAX 4096u

typedef struct dma_copy {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint64_t src, dst;
    uint32_t len, status;
} dma_copy;

static void dma_copy_run(dma_copy *d, uint64_t how)
{
    uint8_t buf[DMA_COPY_MAX];
    d->status = 1;
    if (d->len > DMA_COPY_MAX)
        return;
    if (how == 1) {
        if (!d->hlp->mem_read(d->inst, d->src, buf, d->len) && !d->hlp->mem_write(d->inst, d->dst, buf, d->len))
            d->status = 0;
    } else if (how == 2) {
        const uint8_t *from = d->hlp->mem_ptr(d->inst, d->src, d->len, 0);
        uint8_t *to = from ? d->hlp->mem_ptr(d->inst, d->dst, d->len, 1) : NULL;
        if (to) {
            memmove(to, from, d->len);
            d->status = 0;
        }
    }
}

static uint64_t dma_copy_read(void *state, uint64_t offset, unsigned size)
{
    dma_copy *d = state;
    (void)size;
    switch (offset) {
    case 0x00: return d->src;
    case 0x08: return d->dst;
    case 0x10: return d->len;
    case 0x18: return d->status;
    default: return 0;
    }
}

static void dma_copy_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    dma_copy *d = state;
    (void)size;
    switch (offset) {
    case 0x00: d->src = val; break;
    case 0x08: d->dst = val; break;
    case 0x10: d->len = (uint32_t)val; break;
    case 0x14: dma_copy_run(d, val); break;
    default: break;
    }
}

static int dma_copy_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    dma_copy *d = state;
    d->inst = inst;
    d->hlp = hlp;
    return hlp->mmio_register(inst, hlp->opt_u64(inst, "mmio"), 0x1000, dma_copy_read, dma_copy_write);
}

static const vmm_option_desc dma_copy_options[] = {
    {.name = "mmio", .type = VMM_OPT_U64, .default_value = "0x10010000", .min = 0, .max = UINT64_MAX - 0xfff,
     .help = "guest-physical address of the register page"},
    {0},
};

static const vmm_plugin_desc dma_copy_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(dma_copy),
    .name = "test-dma-copy",
    .description = "test device: copies guest memory to guest memory on request (mem_write or mem_ptr)",
    .options = dma_copy_options,
    .construct = dma_copy_construct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(dma_copy_desc)
