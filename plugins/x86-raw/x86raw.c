/*
 * x86-raw: the x86 architecture plugin. Guests execute raw under the host driver (KVM); x86-raw lays out the
 * platform (RAM around the 4 GiB hole, in-kernel interrupt controllers), starts vCPU 0 in real or long mode,
 * reports unhandled guest exceptions and CPU shutdowns, and relegates what the host cannot execute.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86raw.h"

#define X86_MAX_CPUID_ENTRIES 256

static const char *const x86_exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor segment overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection", "#PF page fault",
    "reserved (15)", "#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error",
    "#VE virtualization", "#CP control protection", "reserved (22)", "reserved (23)", "reserved (24)",
    "reserved (25)", "reserved (26)", "reserved (27)", "#HV hypervisor injection", "#VC VMM communication",
    "#SX security", "reserved (31)",
};

static int x86_vector_has_error_code(unsigned v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

/* A default IDT handler ran: the guest took an exception it has no handler for. */
static void x86_report_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    x86raw *x = state;
    (void)offset;
    vmm_vcpu *vcpu = x->hlp->vcpu_current(x->inst);
    if (!vcpu || size != 4 || val > 255) {
        x->hlp->log(x->inst, VMM_LOG_WARN, "ignored a write of 0x%" PRIx64 " to x86-raw's report port", val);
        return;
    }
    unsigned vec = (unsigned)val;
    struct kvm_regs r;
    struct kvm_sregs s;
    uint64_t frame[6] = {0};
    char headline[320];
    const char *name = vec < 32 ? x86_exception_names[vec] : "external interrupt";
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r)) == 0 &&
        x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)) == 0) {
        uint64_t gpa;
        if (x->hlp->vcpu_translate(vcpu, r.rsp, &gpa) == 0)
            x->hlp->mem_read(x->inst, gpa, frame, sizeof(frame));
        int ec = vec < 32 && x86_vector_has_error_code(vec);
        uint64_t rip = frame[ec ? 1 : 0], cs = frame[ec ? 2 : 1];
        snprintf(headline, sizeof(headline),
                 "guest exception %s (vector %u) with no handler: error code 0x%" PRIx64 ", RIP 0x%" PRIx64
                 ", CS 0x%" PRIx64 ", CR2 0x%llx; x86-raw's default handler stopped the VM",
                 name, vec, ec ? frame[0] : 0, rip, cs, (unsigned long long)s.cr2);
        /* Show the faulting instruction, not the handler. */
        r.rip = rip;
        s.cs.l = 1;
        uint8_t code[16];
        size_t n = x86_read_code(x, vcpu, &r, &s, code, sizeof(code));
        char disasm[256] = "";
        if (n)
            x86_disassemble(code, n, rip, &s, 1, disasm, sizeof(disasm));
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s\n  faulting instruction:\n%s", headline,
                    disasm[0] ? disasm : "  (not readable)\n");
    }
    snprintf(headline, sizeof(headline), "state in the default handler for %s", name);
    x86_dump_vcpu(x, vcpu, headline);
    x->hlp->vm_stop(x->inst, 1);
}

static int x86_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    x86raw *x = state;
    x->inst = inst;
    x->hlp = hlp;
    x->irqchip = hlp->opt_bool(inst, "irqchip");
    char err[160];
    /* A bad value is the user's mistake: refuse it before a VM exists. */
    if (x86_timer_parse_slack(hlp->opt_string(inst, "timer-slack"), &x->timer_slack_ns, err, sizeof(err))) {
        hlp->log(inst, VMM_LOG_ERROR, "%s", err);
        return -1;
    }
    return x86_state_register(x);
}

static void x86_print_stats(x86raw *x);

static void x86_destruct(vmm_instance *inst, void *state)
{
    x86raw *x = state;
    (void)inst;
    if (x->hlp->stats_enabled(x->inst))
        x86_print_stats(x);
    x86_timer_destroy(x);
}

static void x86_print_stats(x86raw *x)
{
    for (unsigned k = 0; k < X86_RELEGATE_COUNT; k++)
        fprintf(stderr, "x86-raw: stats: relegated %s: %" PRIu64 "\n", x86_relegation_name(k), x->relegations[k]);
    fprintf(stderr, "x86-raw: stats: instructions run natively in those exits: %" PRIu64 "\n", x->native_insns);
    fprintf(stderr, "x86-raw: stats: syscall relegated: %" PRIu64 "%s\n", x->syscalls_relegated,
            x->syscall_relegation ? "" : " (not needed on this host)");
    if (x->syscall_spoofs)
        fprintf(stderr, "x86-raw: stats: jumps to the syscall trap address (given #PF): %" PRIu64 "\n",
                x->syscall_spoofs);
    if (x->deadlines)
        fprintf(stderr, "x86-raw: stats: TSC-deadline timer interrupts: %" PRIu64 " (%" PRIu64 " held back by "
                "timer-slack=%" PRIu64 "us; %" PRIu64 " host timer expiries before the guest's deadline waited "
                "out%s)\n", x->timer_delivered, x->timer_held_back, x->timer_slack_ns / 1000, x->timer_early,
                x->timer_tsc_drifts ? "; not checked for a vCPU whose TSC drifted from the host's" : "");
    else
        fprintf(stderr, "x86-raw: stats: TSC-deadline timer: kept by the host driver\n");
}

static int x86_vm_create(vmm_instance *inst, void *state)
{
    x86raw *x = state;
    const vmm_helpers *hlp = x->hlp;
    /* Hosts with VMX need these areas; others (this host's software KVM included) may refuse, harmlessly. */
    if (hlp->vm_enable_feature(inst, VMM_FEATURE_PRIVATE_AREA, X86_PRIVATE_AREA) ||
        hlp->vm_enable_feature(inst, VMM_FEATURE_IDENTITY_MAP, X86_IDENTITY_MAP_AREA))
        hlp->log(inst, VMM_LOG_DEBUG, "the host driver has no use for private areas");
    if (x->irqchip && hlp->vm_enable_feature(inst, VMM_FEATURE_IRQCHIP, 0))
        return -1;
    /* The PIT is the timer Linux calibrates its local APIC timer against; in the kernel it costs no exits. */
    if (x->irqchip && hlp->vm_enable_feature(inst, VMM_FEATURE_PIT, 0)) {
        hlp->log(inst, VMM_LOG_ERROR, "the host driver cannot create the interval timer (PIT)");
        return -1;
    }
    if (x86_syscall_setup(x) || x86_timer_setup(x))
        return -1;
    return hlp->pio_register(inst, X86_REPORT_PORT, 4, NULL, x86_report_write);
}

/* The images were loaded by vm_check; what remains depends on the host's limits, known since vm_create. */
static int x86_vm_load(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    (void)inst;
    (void)images;
    (void)nimages;
    return x86_boot_linux_finish(state);
}

/* Before any host resource: guest RAM (plain memory until the host driver's VM takes it over) and the images
 * loaded into it, so a bad image is refused the same way on a host without KVM and a kernel is decompressed once.
 * What depends on the host (the e820 entries around the syscall trap) is finished in vm_load. x86 guests always
 * run on the host driver. */
static int x86_vm_check(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    x86raw *x = state;
    const vmm_helpers *hlp = x->hlp;
    uint64_t ram = hlp->mem_ram_size(inst);
    uint64_t low = ram < X86_LOW_RAM_MAX ? ram : X86_LOW_RAM_MAX;
    if (x86_devices_check(x, low, ram - low))
        return -1;
    if (hlp->mem_map_ram(inst, 0, low, "ram-low"))
        return -1;
    if (ram > low && hlp->mem_map_ram(inst, X86_HIGH_RAM_BASE, ram - low, "ram-high"))
        return -1;
    if (!images)
        return 1;
    int kernel = 0;
    for (unsigned i = 0; i < nimages; i++)
        kernel |= images[i].role == VMM_IMAGE_KERNEL;
    if (!kernel && hlp->vm_cmdline(inst)[0])
        hlp->log(inst, VMM_LOG_WARN, "--append is for --kernel; these images read no command line");
    return x86_load_images(x, images, nimages) ? -1 : 1;
}

/* CPUID: what the host supports, with this vCPU's APIC ID, and what vmm itself provides. KVM's supported CPUID
 * leaves TSC-deadline (leaf 1, ECX bit 24) clear although its in-kernel local APIC implements that timer mode
 * (KVM's API documentation: userspace sets the bit where KVM_CAP_TSC_DEADLINE_TIMER is present, which it is on
 * every kernel x86-raw runs on), and where x86-raw keeps the timer itself (timer-slack) it is x86-raw's to
 * offer. Without the bit a guest never uses the deadline timer. */
#define X86_CPUID_1_ECX_TSC_DEADLINE (1u << 24)
static int x86_setup_cpuid(x86raw *x, vmm_vcpu *vcpu, unsigned index)
{
    size_t len = sizeof(struct kvm_cpuid2) + X86_MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = calloc(1, len);
    if (!c)
        return -1;
    c->nent = X86_MAX_CPUID_ENTRIES;
    int rc = -1;
    if (x->hlp->vm_get_state(x->inst, VMM_VM_STATE_SUPPORTED_CPU_MODEL, c, len)) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "the host driver does not report its supported CPUID");
        goto out;
    }
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 1) {
            e->ebx = (e->ebx & 0x00ffffffu) | (index << 24);
            if (x->irqchip)
                e->ecx |= X86_CPUID_1_ECX_TSC_DEADLINE;
        }
        if (e->function == 0xb || e->function == 0x1f)
            e->edx = index;
    }
    rc = x->hlp->vcpu_set_state(vcpu, VMM_STATE_CPU_MODEL, c, len);
    if (rc)
        x->hlp->log(x->inst, VMM_LOG_ERROR, "the host driver refused the CPUID table");
out:
    free(c);
    return rc;
}

/* Virtual-wire mode, as a BIOS leaves it: the PIC reaches the boot CPU through LINT0 (ExtINT), NMIs through LINT1.
 * Without this KVM's in-kernel LAPIC keeps LINT0 masked and no PIC interrupt is ever delivered. */
static int x86_setup_lapic(x86raw *x, vmm_vcpu *vcpu, unsigned index)
{
    struct kvm_lapic_state lapic;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_LAPIC, &lapic, sizeof(lapic)))
        return -1;
    uint32_t svr = 0x1ff, lvt0 = index == 0 ? 0x700 : 0x10700, lvt1 = 0x400;
    memcpy(lapic.regs + 0xf0, &svr, 4);
    memcpy(lapic.regs + 0x350, &lvt0, 4);
    memcpy(lapic.regs + 0x360, &lvt1, 4);
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_LAPIC, &lapic, sizeof(lapic));
}

static int x86_vcpu_init(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    x86raw *x = state;
    const vmm_helpers *hlp = x->hlp;
    unsigned index = hlp->vcpu_index(vcpu);
    if (x86_setup_cpuid(x, vcpu, index))
        return -1;
    if (x->irqchip && x86_setup_lapic(x, vcpu, index)) {
        hlp->log(inst, VMM_LOG_ERROR, "the host driver refused the local APIC set-up of vCPU %u", index);
        return -1;
    }
    if (x86_syscall_vcpu_init(x, vcpu))
        return -1;
    if (index != 0)
        return 0; /* application processors wait for INIT/SIPI from the guest */
    struct kvm_sregs s;
    if (hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rflags = 0x2;
    if (x->boot_mode == X86_BOOT_LONG) {
        x86_set_long_mode_sregs(&s);
        r.rip = x->entry;
        r.rsp = X86_STACK_TOP;
        r.rsi = x->linux_zero_page; /* the boot protocol's 64-bit entry: RSI = boot_params */
    } else {
        x86_set_real_mode_sregs(&s, x->entry);
        r.rip = 0;
        r.rsp = 0xfffe;
    }
    if (hlp->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)) ||
        hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r))) {
        hlp->log(inst, VMM_LOG_ERROR, "the host driver refused the start registers");
        return -1;
    }
    return 0;
}

static vmm_exit_action x86_vcpu_exit(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    x86raw *x = state;
    char why[128];
    switch (exit->reason) {
    case VMM_EXIT_INTERNAL_ERROR:
        return x86_relegate(x, vcpu, exit);
    case VMM_EXIT_MSR:
        if (exit->u.msr.index == X86_MSR_TSC_DEADLINE)
            return x86_timer_msr_exit(x, vcpu, exit);
        return x86_syscall_msr_exit(x, vcpu, exit);
    case VMM_EXIT_SHUTDOWN:
        return x86_stop_with_dump(x, vcpu, "triple fault: the CPU shut down", 1);
    case VMM_EXIT_HALT:
        /* Only without an in-kernel interrupt controller: nothing could ever wake this vCPU. */
        x->hlp->log(inst, VMM_LOG_INFO, "vCPU %u halted with no interrupt controller to wake it",
                    x->hlp->vcpu_index(vcpu));
        x->hlp->vm_stop(inst, 0);
        return VMM_ACTION_STOP;
    case VMM_EXIT_SYSTEM_EVENT:
        if (exit->u.system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN || exit->u.system_event.type == KVM_SYSTEM_EVENT_RESET) {
            x->hlp->log(inst, VMM_LOG_INFO, "guest asked for %s",
                        exit->u.system_event.type == KVM_SYSTEM_EVENT_RESET ? "a reset" : "power-off");
            x->hlp->vm_stop(inst, 0);
            return VMM_ACTION_STOP;
        }
        snprintf(why, sizeof(why), "system event %u", exit->u.system_event.type);
        return x86_stop_with_dump(x, vcpu, why, 1);
    case VMM_EXIT_FAIL_ENTRY:
        snprintf(why, sizeof(why), "the host refused to enter the guest (hardware reason 0x%llx)",
                 (unsigned long long)exit->u.fail_entry.hw_reason);
        return x86_stop_with_dump(x, vcpu, why, 1);
    case VMM_EXIT_UNKNOWN:
        snprintf(why, sizeof(why), "unexpected exit %u from the host driver", exit->u.unknown.code);
        return x86_stop_with_dump(x, vcpu, why, 1);
    default:
        snprintf(why, sizeof(why), "unexpected exit %u", exit->reason);
        return x86_stop_with_dump(x, vcpu, why, 1);
    }
}

static void x86_vcpu_dump(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    (void)inst;
    x86_dump_vcpu(state, vcpu, "state");
}

static const vmm_option_desc x86_options[] = {
    {.name = "irqchip", .type = VMM_OPT_BOOL, .default_value = "on",
     .help = "in-kernel interrupt controllers (PIC, IOAPIC, LAPIC); off makes HLT stop the VM"},
    {.name = "syscall-relegation", .type = VMM_OPT_BOOL, .default_value = "on",
     .help = "where the host leaves a ring-3 syscall at CPL 3 (kvm_pvm), finish it in x86-raw through a trapping "
             "LSTAR; off: never (on other hosts it is never needed)"},
    {.name = "timer-slack", .type = VMM_OPT_STRING, .default_value = "auto",
     .help = "keep the guest's TSC-deadline timer interrupts at least this far apart (e.g. 20ms; up to 1000ms), "
             "trading timer latency for guest kernel time; auto: 20ms where the host emulates the guest's kernel "
             "(kvm_pvm, no VT-x/AMD-V), off elsewhere; off: the host driver keeps the timer"},
    {0},
};

/* SDK 1.7: slots for the devices the user adds without an address (devices.c). */
static const vmm_board x86_board = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_board),
    .mmio_slot = x86_board_mmio_slot,
};

static const vmm_arch_ops x86_arch_ops = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_arch_ops),
    .vm_create = x86_vm_create,
    .vm_load = x86_vm_load,
    .vm_check = x86_vm_check,
    .engines = "kvm",
    .state_abi = "kvm-x86_64", /* the state classes are KVM's x86-64 structures; the core checks the engine's */
    .vcpu_init = x86_vcpu_init,
    .vcpu_exit = x86_vcpu_exit,
    .vcpu_dump = x86_vcpu_dump,
    .board = &x86_board,
};

static const vmm_plugin_desc x86_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_ARCH,
    .instance_size = sizeof(x86raw),
    .name = "x86-raw",
    .description = "x86 guests running raw under KVM; what the host cannot run is relegated to the plugin",
    .options = x86_options,
    .construct = x86_construct,
    .destruct = x86_destruct,
    .arch = &x86_arch_ops,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(x86_desc)
