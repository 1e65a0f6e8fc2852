/*
 * test-probe: a device plugin for tests/guests/x86/platform_probe.S. It owns an MMIO page, a ROM page, a shadowed
 * ROM page, an MMIO2 page and a timer, all through the SDK, and reports from the host side what the guest did, so
 * an integration test can check the core's memory map, MMIO dispatch and timers on real KVM. Its second port
 * (PROBE_PORT + 1) answers each read with one more than the last and saves the count, for
 * tests/guests/x86/pio_sequence.S: a snapshot must never lose or repeat a port read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <vmm/plugin.h>

#define PROBE_MMIO 0xfe000000ull
#define PROBE_ROM 0xfd000000ull
#define PROBE_SHADOW 0xfd001000ull
#define PROBE_MMIO2 0xfd100000ull
#define PROBE_PORT 0x5e0

typedef struct probe {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint64_t mmio_written;
    uint32_t sequence; /* reads answered on PROBE_PORT + 1 */
    uint8_t *mmio2;
    vmm_timer *timer;
} probe;

static void probe_say(probe *p, const char *text)
{
    p->hlp->console_write(p->inst, text, strlen(text));
}

static uint64_t probe_mmio_read(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)size;
    return offset == 0 ? 0x1234567890abcdefull : offset;
}

static void probe_mmio_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    probe *p = state;
    (void)size;
    if (offset == 8)
        p->mmio_written = val;
}

static void probe_timer_fired(void *state, vmm_timer *t)
{
    probe *p = state;
    (void)t;
    probe_say(p, "probe: timer fired\n");
    p->hlp->vm_stop(p->inst, 0x55);
}

static uint64_t probe_port_read(void *state, uint64_t offset, unsigned size)
{
    probe *p = state;
    (void)size;
    return offset == 1 ? ++p->sequence : 0;
}

static void probe_port_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    probe *p = state;
    (void)size;
    char line[160];
    if (offset != 0)
        return;
    if (val == 1) {
        uint32_t rom, mmio2;
        int rom_ok = p->hlp->mem_read(p->inst, PROBE_ROM, &rom, 4) == 0 && rom == 0x214d4f52;
        memcpy(&mmio2, p->mmio2 + 8, 4);
        snprintf(line, sizeof(line), "probe: host saw mmio write 0x%" PRIx64 ", mmio2 write 0x%x, rom %s\n",
                 p->mmio_written, mmio2, rom_ok ? "intact" : "CHANGED");
        probe_say(p, line);
    } else if (val == 2) {
        p->hlp->timer_arm(p->timer, 20 * 1000 * 1000, 0);
    }
}

/* Saved state: what the guest wrote to the MMIO register. The unit's version comes from the state_version
 * option, so tests can make a snapshot look as if a newer build of the plugin had written it. */
static int probe_save(void *state, vmm_ssm *ssm)
{
    probe *p = state;
    if (p->hlp->ssm_put_u64(ssm, p->mmio_written) || p->hlp->ssm_put_optional(ssm, "sequence") ||
        p->hlp->ssm_put_u64(ssm, p->sequence))
        return -1;
    return p->hlp->ssm_end_optional(ssm);
}

static int probe_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    probe *p = state;
    uint32_t mine = (uint32_t)p->hlp->opt_u64(p->inst, "state_version");
    if (version > mine)
        return p->hlp->ssm_fail(ssm, "saved by a newer test-probe (version %u); this one reads up to version %u",
                                version, mine);
    if (p->hlp->ssm_get_u64(ssm, &p->mmio_written))
        return -1;
    uint64_t seq = 0;
    int has = p->hlp->ssm_get_optional(ssm, "sequence");
    if (has < 0 || (has > 0 && (p->hlp->ssm_get_u64(ssm, &seq) || p->hlp->ssm_end_optional(ssm))))
        return -1;
    p->sequence = (uint32_t)seq;
    return 0;
}

static int probe_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    probe *p = state;
    p->inst = inst;
    p->hlp = hlp;
    if (hlp->ssm_register(inst, "test-probe", 0, (uint32_t)hlp->opt_u64(inst, "state_version"), probe_save,
                          probe_load))
        return -1;
    uint8_t page[4096];
    for (size_t i = 0; i < sizeof(page); i += 4)
        memcpy(page + i, "ROM!", 4);
    if (hlp->mem_map_rom(inst, PROBE_ROM, page, sizeof(page), 0, "probe-rom"))
        return -1;
    for (size_t i = 0; i < sizeof(page); i += 4)
        memcpy(page + i, "SHDW", 4);
    if (hlp->mem_map_rom(inst, PROBE_SHADOW, page, sizeof(page), 1, "probe-shadow"))
        return -1;
    void *mmio2;
    if (hlp->mem_map_mmio2(inst, PROBE_MMIO2, 4096, "probe-mmio2", &mmio2))
        return -1;
    p->mmio2 = mmio2;
    memcpy(p->mmio2, "MIO2", 4);
    p->timer = hlp->timer_create(inst, probe_timer_fired);
    if (!p->timer)
        return -1;
    if (hlp->mmio_register(inst, PROBE_MMIO, 4096, probe_mmio_read, probe_mmio_write))
        return -1;
    return hlp->pio_register(inst, PROBE_PORT, 2, probe_port_read, probe_port_write);
}

static const vmm_option_desc probe_options[] = {
    {.name = "state_version", .type = VMM_OPT_U64, .default_value = "1", .min = 1, .max = 100,
     .help = "version of the saved-state unit"},
    {0},
};

static const vmm_plugin_desc probe_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(probe),
    .name = "test-probe",
    .description = "test device: MMIO, ROM, shadowed ROM, MMIO2 and a timer, reported from the host side",
    .options = probe_options,
    .construct = probe_construct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(probe_desc)
