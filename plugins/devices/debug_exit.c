/*
 * debug-exit: QEMU's isa-debug-exit convention. A guest write of V to any port of the range stops the VM, and
 * vmm exits with status (V << 1) | 1, so a guest can report success or failure without a real power-off path
 * (and status 0 cannot be produced by accident). Reads return 0.
 */
#include <stdint.h>

#include <vmm/plugin.h>

struct debug_exit {
    vmm_instance *inst;
    const vmm_helpers *hlp;
};

static uint64_t debug_exit_read_io(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)offset;
    (void)size;
    return 0;
}

static void debug_exit_write_io(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    struct debug_exit *d = state;
    uint64_t status;

    (void)offset;
    if (size < 8)
        val &= (UINT64_C(1) << (8 * size)) - 1; /* only the bytes the guest wrote */
    /*
     * Computed in 64 bits so that no value overflows, then cut to the low 8 bits: a process exit status is
     * 8 bits wide, and the operating system would truncate it to exactly that anyway (exit(0x121) is seen as
     * 0x21). Writing 0x10 gives 0x21 = 33.
     */
    status = ((val << 1) | 1) & 0xff;
    d->hlp->log(d->inst, VMM_LOG_DEBUG, "guest wrote 0x%llx: exit status %u", (unsigned long long)val,
                (unsigned)status);
    d->hlp->vm_stop(d->inst, (int)status);
}

static int debug_exit_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    struct debug_exit *d = state;
    uint64_t base = hlp->opt_u64(inst, "iobase");
    uint64_t size = hlp->opt_u64(inst, "iosize");

    d->inst = inst;
    d->hlp = hlp;
    if (base + size > 0x10000) {
        hlp->log(inst, VMM_LOG_ERROR, "ports 0x%llx..0x%llx do not fit the 64 KiB I/O port space",
                 (unsigned long long)base, (unsigned long long)(base + size - 1));
        return -1;
    }
    if (VMM_HELPERS_HAVE(hlp, 3))
        hlp->ssm_stateless(inst); /* writes end the VM; nothing is kept between them */
    return hlp->pio_register(inst, (uint16_t)base, (uint32_t)size, debug_exit_read_io, debug_exit_write_io);
}

static const vmm_option_desc debug_exit_options[] = {
    {
        .name = "iobase",
        .type = VMM_OPT_U64,
        .default_value = "0x501",
        .help = "first I/O port of the range; writing V there ends the VM with exit status (V << 1) | 1",
        .min = 0,
        .max = 0xffff,
    },
    {
        .name = "iosize",
        .type = VMM_OPT_U64,
        .default_value = "2",
        .help = "number of ports in the range (1 to 4)",
        .min = 1,
        .max = 4,
    },
    { .name = NULL },
};

static const vmm_plugin_desc debug_exit_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(struct debug_exit),
    .name = "debug-exit",
    .description = "isa-debug-exit: a guest write of V ends the VM with exit status (V << 1) | 1",
    .options = debug_exit_options,
    .construct = debug_exit_construct,
    .destruct = NULL,
    .reset = NULL, /* no state to reset */
    .arch = NULL,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(debug_exit_desc)
