/*
 * i8042: the PC keyboard controller, reduced to what a PC guest without a keyboard needs from it: the CPU
 * reset line (command 0xfe, or an output-port write with bit 0 clear), which ends the VM with status 0 — how
 * Linux's `reboot` resets a machine without ACPI — and enough of the controller command set (configuration byte,
 * self tests) that a probing driver finds a healthy controller with no keyboard or mouse behind it, instead of
 * waiting out its timeouts.
 */
#include <stdint.h>

#include <vmm/plugin.h>

#define I8042_DATA 0x60
#define I8042_CMD 0x64 /* status on read */

#define I8042_STR_OBF 0x01
#define I8042_STR_SYSFLAG 0x04
#define I8042_STR_CMDDAT 0x08 /* the last write went to the command port */
#define I8042_STR_AUXDATA 0x20

typedef struct i8042 {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint8_t status;
    uint8_t out;         /* the output buffer, valid when status has OBF */
    uint8_t ctr;         /* controller configuration byte */
    uint8_t pending_cmd; /* a command waiting for its data byte on port 0x60, or 0 */
    uint64_t resets;
} i8042;

static void i8042_reply(i8042 *k, uint8_t val, int aux)
{
    k->out = val;
    k->status = (uint8_t)((k->status & ~I8042_STR_AUXDATA) | I8042_STR_OBF | (aux ? I8042_STR_AUXDATA : 0));
}

static void i8042_reset_cpu(i8042 *k)
{
    k->resets++;
    k->hlp->log(k->inst, VMM_LOG_INFO, "the guest pulsed the CPU reset line: stopping the VM");
    k->hlp->vm_stop(k->inst, 0);
}

static uint64_t i8042_data_read(void *state, uint64_t offset, unsigned size)
{
    i8042 *k = state;
    (void)offset;
    (void)size;
    k->status &= (uint8_t)~(I8042_STR_OBF | I8042_STR_AUXDATA);
    return k->out;
}

static uint64_t i8042_status_read(void *state, uint64_t offset, unsigned size)
{
    i8042 *k = state;
    (void)offset;
    (void)size;
    return k->status;
}

static void i8042_command(i8042 *k, uint8_t cmd)
{
    switch (cmd) {
    case 0x20: /* read the configuration byte */
        i8042_reply(k, k->ctr, 0);
        break;
    case 0x60: /* write the configuration byte: data follows */
    case 0xd1: /* write the output port: data follows */
    case 0xd2: /* write the keyboard output buffer: data follows */
    case 0xd3: /* write the aux output buffer: data follows */
    case 0xd4: /* write to the aux device: data follows */
        k->pending_cmd = cmd;
        break;
    case 0xa7: /* disable aux */
        k->ctr |= 0x20;
        break;
    case 0xa8: /* enable aux */
        k->ctr &= (uint8_t)~0x20;
        break;
    case 0xa9: /* aux interface test: passes */
    case 0xab: /* keyboard interface test: passes */
        i8042_reply(k, 0x00, 0);
        break;
    case 0xaa: /* controller self test */
        i8042_reply(k, 0x55, 0);
        break;
    case 0xad: /* disable keyboard */
        k->ctr |= 0x10;
        break;
    case 0xae: /* enable keyboard */
        k->ctr &= (uint8_t)~0x10;
        break;
    case 0xfe: /* pulse the reset line */
        i8042_reset_cpu(k);
        break;
    default:
        break; /* other commands (LEDs, A20 pulses 0xf0-0xfd) have no effect here */
    }
}

static void i8042_cmd_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    i8042 *k = state;
    (void)offset;
    (void)size;
    k->status |= I8042_STR_CMDDAT;
    k->pending_cmd = 0;
    i8042_command(k, (uint8_t)val);
}

static void i8042_data_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    i8042 *k = state;
    (void)offset;
    (void)size;
    uint8_t b = (uint8_t)val;
    k->status &= (uint8_t)~I8042_STR_CMDDAT;
    uint8_t cmd = k->pending_cmd;
    k->pending_cmd = 0;
    switch (cmd) {
    case 0x60:
        k->ctr = b;
        break;
    case 0xd1:
        if (!(b & 1)) /* output port bit 0 drives the CPU's reset line, active low */
            i8042_reset_cpu(k);
        break;
    case 0xd2:
        i8042_reply(k, b, 0);
        break;
    case 0xd3:
        i8042_reply(k, b, 1);
        break;
    default:
        /* To the keyboard or the mouse: there is none, so no answer and the driver's timeout says so. */
        break;
    }
}

/* Saved state, version 1: the status, output buffer, configuration byte and a command waiting for its data. */
#define I8042_STATE_VERSION 1

static int i8042_save(void *state, vmm_ssm *ssm)
{
    i8042 *k = state;
    uint8_t regs[4] = {k->status, k->out, k->ctr, k->pending_cmd};
    return k->hlp->ssm_put_bytes(ssm, regs, sizeof(regs));
}

static int i8042_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    i8042 *k = state;
    uint8_t regs[4];
    if (version != I8042_STATE_VERSION)
        return k->hlp->ssm_fail(ssm, "unknown version %u (this i8042 saves version %u)", version, I8042_STATE_VERSION);
    if (k->hlp->ssm_get_bytes(ssm, regs, sizeof(regs)))
        return -1;
    k->status = regs[0];
    k->out = regs[1];
    k->ctr = regs[2];
    k->pending_cmd = regs[3];
    return 0;
}

static int i8042_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    i8042 *k = state;
    k->inst = inst;
    k->hlp = hlp;
    k->status = I8042_STR_SYSFLAG; /* self test passed at power-on */
    k->ctr = 0x30;                 /* both ports disabled, no interrupts: nothing behind them */
    if (hlp->pio_register(inst, I8042_DATA, 1, i8042_data_read, i8042_data_write) ||
        hlp->pio_register(inst, I8042_CMD, 1, i8042_status_read, i8042_cmd_write) ||
        hlp->ssm_register(inst, "i8042", 0, I8042_STATE_VERSION, i8042_save, i8042_load))
        return -1;
    return 0;
}

static void i8042_destruct(vmm_instance *inst, void *state)
{
    i8042 *k = state;
    (void)inst;
    if (k->hlp && k->hlp->stats_enabled(k->inst) && k->resets)
        k->hlp->log(k->inst, VMM_LOG_INFO, "stats: CPU resets requested: %llu", (unsigned long long)k->resets);
}

static const vmm_plugin_desc i8042_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(i8042),
    .name = "i8042",
    .description = "PC keyboard controller (ports 0x60/0x64) without a keyboard: its CPU reset line ends the VM with "
                   "status 0",
    .options = NULL,
    .construct = i8042_construct,
    .destruct = i8042_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(i8042_desc)
