/*
 * rc-selftest: the architecture plugin that boots the RC hypervisor. It lays out the machine (target RAM in the
 * lower guest-physical range, the RC's ROM, shadowed data and MMIO2 regions in the hole below 4 GiB), maps the
 * image embedded at build time, starts vCPU 0 in long mode at the core's entry point, and serves the RC's
 * hypercalls. The image's selftest module then checks ROM, shadowed data, MMIO2, hypercalls, ring-3 execution
 * and isolation from inside the VM; `vmm run --arch rc-selftest` exits 0 when all of that holds.
 *
 * The image is embedded rather than looked up next to the .so: the plugin and the RC share rc_abi.h, so a
 * plugin must never meet an image built from another revision of it, and a single file is what `vmm plugins
 * --check`, installation and out-of-tree copies handle. image=PATH still loads another image for development.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rc_host.h"

/* The image built with this plugin (rc-pack --c-source), unless image=PATH names another. */
extern const unsigned char rc_image_blob[];
extern const size_t rc_image_blob_size;

/* The instance: the RC's host end, and what the selftest module is told to do (its part of the boot info). */
typedef struct rc_selftest {
    rc_host rc;
    uint32_t test; /* enum rc_test */
    uint64_t stop_status, iterations;
} rc_selftest;

static int rc_parse_test(rc_selftest *st)
{
    static const char *const names[] = {"all", "fault", "stop", "bench"};
    const char *t = st->rc.hlp->opt_string(st->rc.inst, "test");
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (t && !strcmp(t, names[i])) {
            st->test = i;
            return 0;
        }
    st->rc.hlp->log(st->rc.inst, VMM_LOG_ERROR, "test=%s: use all, fault, stop or bench", t ? t : "");
    return -1;
}

static int rc_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    rc_selftest *st = state;
    rc_host *h = &st->rc;
    h->inst = inst;
    h->hlp = hlp;
    h->builtin_image = rc_image_blob;
    h->builtin_image_size = rc_image_blob_size;
    if (rc_parse_test(st))
        return -1;
    st->stop_status = hlp->opt_u64(inst, "status");
    st->iterations = hlp->opt_u64(inst, "iterations");
    return 0;
}

static void rc_destruct(vmm_instance *inst, void *state)
{
    rc_host *h = &((rc_selftest *)state)->rc;
    (void)inst;
    if (h->log)
        rc_log_drain(h);
    if (h->hlp->stats_enabled(h->inst)) {
        static const char *const names[RC_HC_COUNT] = {"nop", "log-flush", "stop", "dev-io", "state-changed",
                                                       "test", "fault", "mark", "target-trap"};
        for (unsigned i = 0; i < RC_HC_COUNT; i++)
            fprintf(stderr, "rc-selftest: stats: hypercall %s: %" PRIu64 "\n", names[i], h->hc_counts[i]);
        fprintf(stderr, "rc-selftest: stats: hypercall unknown: %" PRIu64 ", malformed doorbells: %" PRIu64
                ", RC log lines: %" PRIu64 "\n", h->hc_unknown, h->hc_bad, h->log_lines);
    }
    rc_image_free(h);
}

static void rc_selftest_hc_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    rc_hc_port_write(&((rc_selftest *)state)->rc, offset, size, val);
}

static int rc_vm_create(vmm_instance *inst, void *state)
{
    rc_host *h = &((rc_selftest *)state)->rc;
    const vmm_helpers *hlp = h->hlp;
    h->ram = hlp->mem_ram_size(inst);
    if (h->ram > RC_TARGET_RAM_MAX || (h->ram & 0x1fffff) || h->ram < 0x400000) {
        hlp->log(inst, VMM_LOG_ERROR, "--mem: rc-selftest needs 4 MiB to 3 GiB of target RAM in whole 2 MiB pages "
                 "(got %" PRIu64 " bytes)", h->ram);
        return -1;
    }
    h->ram_gpa = 0;
    h->ram_executable = 1; /* the selftest copies its ring-3 snippets into target RAM */
    if (hlp->mem_map_ram(inst, 0, h->ram, "target-ram") || rc_map_regions(h))
        return -1;
    if (hlp->pio_register(inst, RC_HC_PORT, 4, NULL, rc_selftest_hc_write))
        return -1;
    if (rc_image_load(h, hlp->opt_string(inst, "image")) || rc_image_map(h))
        return -1;
    return 0;
}

static int rc_vm_load(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    rc_selftest *st = state;
    if (nimages) {
        st->rc.hlp->log(inst, VMM_LOG_ERROR, "%s: rc-selftest takes no --image (its RC image is built in; "
                        "use --arch rc-selftest,image=PATH for another one)", images[0].path);
        return -1;
    }
    if (rc_boot_build(&st->rc))
        return -1;
    rc_boot_info *bi = rc_boot_info_of(&st->rc);
    bi->test = st->test;
    bi->stop_status = st->stop_status;
    bi->iterations = st->iterations;
    return 0;
}

static int rc_vcpu_init(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    rc_host *h = &((rc_selftest *)state)->rc;
    if (h->hlp->vcpu_index(vcpu) != 0) {
        h->hlp->log(inst, VMM_LOG_ERROR, "rc-selftest runs the RC on one vCPU (use --cpus 1)");
        return -1;
    }
    return rc_vcpu_start(h, vcpu);
}

static vmm_exit_action rc_selftest_vcpu_exit(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    (void)inst;
    return rc_vcpu_exit(&((rc_selftest *)state)->rc, vcpu, exit);
}

static void rc_vcpu_dump(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    (void)inst;
    rc_dump(&((rc_selftest *)state)->rc, vcpu, "RC state");
}

static const vmm_option_desc rc_options[] = {
    {.name = "test", .type = VMM_OPT_STRING, .default_value = "all",
     .help = "what the selftest module does: all (every check, exit 0), fault (an RC page fault, reported), "
             "stop (stop through the hypercall with status=), bench (timed hypercalls and ring-3 round trips)"},
    {.name = "status", .type = VMM_OPT_U64, .default_value = "0", .help = "exit status for test=stop",
     .min = 0, .max = 255},
    {.name = "iterations", .type = VMM_OPT_U64, .default_value = "1000",
     .help = "test=bench: hypercalls and ring-3 round trips to time (the ring-3 loop runs 100000x as many)",
     .min = 1, .max = 10000000},
    {.name = "image", .type = VMM_OPT_STRING, .help = "an RC image to load instead of the built-in one"},
    {0},
};

static const vmm_arch_ops rc_arch_ops = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_arch_ops),
    .vm_create = rc_vm_create,
    .vm_load = rc_vm_load,
    .vcpu_init = rc_vcpu_init,
    .vcpu_exit = rc_selftest_vcpu_exit,
    .vcpu_dump = rc_vcpu_dump,
    .engines = "kvm",
    .state_abi = "kvm-x86_64", /* the RC's start registers are KVM's x86-64 structures */
};

static const vmm_plugin_desc rc_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_ARCH,
    .instance_size = sizeof(rc_selftest),
    .name = "rc-selftest",
    .description = "boots the RC hypervisor (ring-0 image as ROM + shadowed data, MMIO2, hypercalls) and runs its "
                   "selftest module",
    .options = rc_options,
    .construct = rc_construct,
    .destruct = rc_destruct,
    .arch = &rc_arch_ops,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(rc_desc)
