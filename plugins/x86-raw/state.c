/*
 * x86-raw saved state: an "x86-cpus" unit with every vCPU in order (general, segment and control registers,
 * FPU and XSAVE state, XCRs, the MSRs the host driver lists, local APIC, pending events, MP state, debug
 * registers, and the CPUID the guest saw, then an optional section "guest-lstar" with the guest's own LSTAR where
 * syscall is relegated, syscall.c) and an "x86-platform" unit (in-kernel PIC and IOAPIC, PIT, kvmclock).
 * The structures are the host driver's own (ABI "kvm-x86_64"), which KVM keeps stable. Restoring checks that
 * this host offers every CPU feature the guest was shown: a guest that found a feature at boot uses it.
 */
#include <stdlib.h>
#include <string.h>

#include "x86raw.h"

#define X86_CPUS_STATE_VERSION 1
#define X86_PLATFORM_STATE_VERSION 1
#define X86_MAX_MSRS 512
#define X86_MAX_CPUID 256

typedef struct x86_msr_pair {
    uint32_t index, pad;
    uint64_t data;
} x86_msr_pair;

typedef struct x86_cpuid_buf {
    struct kvm_cpuid2 hdr;
    struct kvm_cpuid_entry2 e[X86_MAX_CPUID];
} x86_cpuid_buf;

/* The MSRs the host driver saves and restores, read one by one: KVM stops a bulk read at the first MSR this
 * vCPU lacks, and which those are depends on the CPUID it was given. */
static int x86_read_msrs(x86raw *x, vmm_vcpu *vcpu, x86_msr_pair *out, unsigned *count)
{
    struct {
        struct kvm_msr_list hdr;
        uint32_t indices[X86_MAX_MSRS];
    } list = {.hdr.nmsrs = X86_MAX_MSRS};
    if (x->hlp->vm_get_state(x->inst, VMM_VM_STATE_MSR_INDEX_LIST, &list, sizeof(list)))
        return -1;
    unsigned n = 0;
    for (uint32_t i = 0; i < list.hdr.nmsrs && i < X86_MAX_MSRS; i++) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one = {.hdr.nmsrs = 1, .e.index = list.indices[i]};
        if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_MSRS, &one, sizeof(one)) == 0)
            out[n++] = (x86_msr_pair){.index = one.e.index, .data = one.e.data};
    }
    *count = n;
    return 0;
}

/* Fixed-size state classes of a vCPU in the order KVM wants them back: registers and FPU/XSAVE, then segments
 * and control registers; the MSRs go between the two lists (EFER and friends before the MSRs that depend on
 * them); then MP state, the local APIC, and pending events last. Optional classes may be missing on a host
 * without the feature; they are saved as empty. */
typedef struct x86_class {
    vmm_state_class cls;
    size_t size;
    int optional;
} x86_class;

static const x86_class x86_classes_before_msrs[] = {
    {VMM_STATE_GPRS, sizeof(struct kvm_regs), 0},
    {VMM_STATE_FPU, sizeof(struct kvm_fpu), 0},
    {VMM_STATE_XSAVE, sizeof(struct kvm_xsave), 1},
    {VMM_STATE_XCRS, sizeof(struct kvm_xcrs), 1},
    {VMM_STATE_SYSREGS, sizeof(struct kvm_sregs), 0},
};
static const x86_class x86_classes_after_msrs[] = {
    {VMM_STATE_MP_STATE, sizeof(struct kvm_mp_state), 0},
    {VMM_STATE_LAPIC, sizeof(struct kvm_lapic_state), 1},
    {VMM_STATE_EVENTS, sizeof(struct kvm_vcpu_events), 0},
    {VMM_STATE_DEBUGREGS, sizeof(struct kvm_debugregs), 1},
};
#define X86_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int x86_save_classes(x86raw *x, vmm_ssm *ssm, vmm_vcpu *vcpu, const x86_class *list, size_t n, uint8_t *buf)
{
    const vmm_helpers *h = x->hlp;
    for (size_t c = 0; c < n; c++) {
        memset(buf, 0, list[c].size);
        if (h->vcpu_get_state(vcpu, list[c].cls, buf, list[c].size) == 0)
            h->ssm_put_bytes(ssm, buf, list[c].size);
        else if (list[c].optional)
            h->ssm_put_bytes(ssm, buf, 0);
        else
            return h->ssm_fail(ssm, "vCPU %u: the host driver did not give state class %d", h->vcpu_index(vcpu),
                               (int)list[c].cls);
    }
    return 0;
}

static int x86_cpus_save(void *state, vmm_ssm *ssm)
{
    x86raw *x = state;
    const vmm_helpers *h = x->hlp;
    unsigned n = h->vcpu_count(x->inst);
    uint8_t *buf = malloc(sizeof(struct kvm_xsave));
    x86_msr_pair *msrs = malloc(X86_MAX_MSRS * sizeof(*msrs));
    x86_cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
    int rc = buf && msrs && cpuid ? 0 : h->ssm_fail(ssm, "out of memory");
    h->ssm_put_u64(ssm, n);
    for (unsigned i = 0; i < n && !rc; i++) {
        vmm_vcpu *vcpu = h->vcpu_get(x->inst, i);
        unsigned nmsrs = 0;
        rc = x86_save_classes(x, ssm, vcpu, x86_classes_before_msrs, X86_COUNT(x86_classes_before_msrs), buf);
        if (!rc && x86_read_msrs(x, vcpu, msrs, &nmsrs))
            rc = h->ssm_fail(ssm, "vCPU %u: the host driver does not list its MSRs", i);
        h->ssm_put_bytes(ssm, msrs, nmsrs * sizeof(*msrs));
        if (!rc)
            rc = x86_save_classes(x, ssm, vcpu, x86_classes_after_msrs, X86_COUNT(x86_classes_after_msrs), buf);
        cpuid->hdr.nent = X86_MAX_CPUID;
        if (h->vcpu_get_state(vcpu, VMM_STATE_CPU_MODEL, cpuid, sizeof(*cpuid)))
            cpuid->hdr.nent = 0;
        h->ssm_put_bytes(ssm, cpuid->e, cpuid->hdr.nent * sizeof(cpuid->e[0]));
    }
    if (!rc)
        rc = x86_syscall_save(x, ssm);
    if (!rc)
        rc = x86_timer_save(x, ssm);
    free(buf);
    free(msrs);
    free(cpuid);
    return rc;
}

/* Feature registers of the leaves that announce instruction-set extensions. */
static int x86_cpuid_is_feature_leaf(uint32_t fn, uint32_t index)
{
    return fn == 1 || fn == 7 || (fn == 0xd && index <= 1) || fn == 0x80000001;
}

/* Every feature bit the guest saw must still be offered to the vCPU by this host. */
static int x86_check_cpuid(x86raw *x, vmm_ssm *ssm, vmm_vcpu *vcpu, const struct kvm_cpuid_entry2 *saved,
                           size_t nsaved)
{
    x86_cpuid_buf *now = calloc(1, sizeof(*now));
    if (!now)
        return x->hlp->ssm_fail(ssm, "out of memory");
    now->hdr.nent = X86_MAX_CPUID;
    int rc = 0;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_CPU_MODEL, now, sizeof(*now)) == 0)
        for (size_t i = 0; i < nsaved && !rc; i++) {
            const struct kvm_cpuid_entry2 *s = &saved[i];
            if (!x86_cpuid_is_feature_leaf(s->function, s->index))
                continue;
            for (uint32_t j = 0; j < now->hdr.nent; j++) {
                const struct kvm_cpuid_entry2 *c = &now->e[j];
                if (c->function != s->function || c->index != s->index)
                    continue;
                /* leaf 1: EAX is the model, EBX the APIC ID; leaf 0xd: EBX is a size */
                int ids = s->function == 1 || s->function == 0xd;
                uint32_t miss[4] = {ids ? 0 : s->eax & ~c->eax, ids ? 0 : s->ebx & ~c->ebx, s->ecx & ~c->ecx,
                                    s->edx & ~c->edx};
                /* Bits that mirror the guest's own settings, not the host: OSXSAVE (CR4.OSXSAVE) and APIC (the
                 * APIC-base MSR's enable) in leaf 1, OSPKE (CR4.PKE) in leaf 7. A freshly created vCPU shows them
                 * clear; the restored CR4 and MSRs set them again. */
                if (s->function == 1) {
                    miss[2] &= ~(1u << 27);
                    miss[3] &= ~(1u << 9);
                } else if (s->function == 7 && s->index == 0) {
                    miss[2] &= ~(1u << 4);
                }
                if (miss[0] | miss[1] | miss[2] | miss[3])
                    rc = x->hlp->ssm_fail(ssm, "the snapshot's CPU had features this host lacks (CPUID 0x%x.%u: "
                                          "eax %08x ebx %08x ecx %08x edx %08x)", s->function, s->index, miss[0],
                                          miss[1], miss[2], miss[3]);
                break;
            }
        }
    free(now);
    return rc;
}

/* Read a class list into blobs (each its full size, or empty when it was absent when saving). */
static int x86_load_read_classes(x86raw *x, vmm_ssm *ssm, const x86_class *list, size_t n, uint8_t **blobs,
                                 size_t *lens)
{
    const vmm_helpers *h = x->hlp;
    for (size_t c = 0; c < n; c++) {
        blobs[c] = malloc(list[c].size);
        if (!blobs[c])
            return h->ssm_fail(ssm, "out of memory");
        if (h->ssm_get_var_bytes(ssm, blobs[c], list[c].size, &lens[c]))
            return -1;
        if (lens[c] != list[c].size && (lens[c] != 0 || !list[c].optional))
            return h->ssm_fail(ssm, "state class %d has %zu bytes, the host driver's has %zu", (int)list[c].cls,
                               lens[c], list[c].size);
    }
    return 0;
}

static int x86_load_set_classes(x86raw *x, vmm_ssm *ssm, vmm_vcpu *vcpu, const x86_class *list, size_t n,
                                uint8_t **blobs, const size_t *lens)
{
    for (size_t c = 0; c < n; c++) {
        if (!lens[c])
            continue;
        if (list[c].cls == VMM_STATE_LAPIC && !x->irqchip)
            return x->hlp->ssm_fail(ssm, "saved with an in-kernel local APIC, this VM has irqchip=off");
        if (x->hlp->vcpu_set_state(vcpu, list[c].cls, blobs[c], lens[c]))
            return x->hlp->ssm_fail(ssm, "vCPU %u: the host driver refused state class %d", x->hlp->vcpu_index(vcpu),
                                    (int)list[c].cls);
    }
    return 0;
}

static int x86_cpus_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    x86raw *x = state;
    const vmm_helpers *h = x->hlp;
    uint64_t n;
    if (version != X86_CPUS_STATE_VERSION)
        return h->ssm_fail(ssm, "unknown version %u (this x86-raw saves version %u)", version, X86_CPUS_STATE_VERSION);
    if (h->ssm_get_u64(ssm, &n))
        return -1;
    if (n != h->vcpu_count(x->inst))
        return h->ssm_fail(ssm, "saved %llu vCPUs, this VM has %u", (unsigned long long)n, h->vcpu_count(x->inst));
    enum { NB = X86_COUNT(x86_classes_before_msrs), NA = X86_COUNT(x86_classes_after_msrs) };
    x86_msr_pair *msrs = malloc(X86_MAX_MSRS * sizeof(*msrs));
    x86_cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
    int rc = msrs && cpuid ? 0 : h->ssm_fail(ssm, "out of memory");
    for (unsigned i = 0; i < n && !rc; i++) {
        vmm_vcpu *vcpu = h->vcpu_get(x->inst, i);
        uint8_t *before[NB] = {0}, *after[NA] = {0};
        size_t lb[NB], la[NA], msr_len = 0, cpuid_len = 0;
        /* Read the whole vCPU, and check it, before setting anything. */
        rc = x86_load_read_classes(x, ssm, x86_classes_before_msrs, NB, before, lb);
        if (!rc)
            rc = h->ssm_get_var_bytes(ssm, msrs, X86_MAX_MSRS * sizeof(*msrs), &msr_len);
        if (!rc && msr_len % sizeof(*msrs))
            rc = h->ssm_fail(ssm, "the MSR list is %zu bytes, not whole entries", msr_len);
        if (!rc)
            rc = x86_load_read_classes(x, ssm, x86_classes_after_msrs, NA, after, la);
        if (!rc)
            rc = h->ssm_get_var_bytes(ssm, cpuid->e, sizeof(cpuid->e), &cpuid_len);
        if (!rc)
            rc = x86_check_cpuid(x, ssm, vcpu, cpuid->e, cpuid_len / sizeof(cpuid->e[0]));
        if (!rc)
            rc = x86_load_set_classes(x, ssm, vcpu, x86_classes_before_msrs, NB, before, lb);
        for (size_t m = 0; !rc && m < msr_len / sizeof(*msrs); m++) {
            struct {
                struct kvm_msrs hdr;
                struct kvm_msr_entry e;
            } one = {.hdr.nmsrs = 1, .e.index = msrs[m].index, .e.data = msrs[m].data};
            /* KVM takes a TSC written within a second of what it expects from its last TSC write (here: 0 when
             * the vCPU was created, moments ago) as an attempt to synchronise vCPUs: it keeps its own offset, or
             * adds the time since, instead of the value written, and its catch-up after a halt then aims at
             * the creation's TSC. A young snapshot's guest TSC would jump back, or stand still while the vCPU
             * sleeps (its timer interrupts then arrive before their deadlines). A first write far from the
             * saved value makes the saved one a new TSC generation; the other vCPUs' writes, close to it, are
             * still synchronised with it. */
            if (i == 0 && msrs[m].index == X86_MSR_TSC) {
                one.e.data = msrs[m].data + (1ull << 40);
                h->vcpu_set_state(vcpu, VMM_STATE_MSRS, &one, sizeof(one));
                one.e.data = msrs[m].data;
            }
            /* Some MSRs are read-only after the vCPU was set up; their value is already the saved one. */
            if (h->vcpu_set_state(vcpu, VMM_STATE_MSRS, &one, sizeof(one)) && h->log_enabled(x->inst, VMM_LOG_DEBUG))
                h->log(x->inst, VMM_LOG_DEBUG, "vCPU %u: MSR 0x%x not restored", i, msrs[m].index);
        }
        if (!rc)
            rc = x86_load_set_classes(x, ssm, vcpu, x86_classes_after_msrs, NA, after, la);
        for (size_t c = 0; c < NB; c++)
            free(before[c]);
        for (size_t c = 0; c < NA; c++)
            free(after[c]);
    }
    if (!rc)
        rc = x86_syscall_load(x, ssm);
    if (!rc)
        rc = x86_timer_load(x, ssm);
    free(msrs);
    free(cpuid);
    return rc;
}

/* ---- Platform: in-kernel interrupt controllers, PIT, kvmclock ---------------------------------------- */

static int x86_platform_save(void *state, vmm_ssm *ssm)
{
    x86raw *x = state;
    const vmm_helpers *h = x->hlp;
    h->ssm_put_u64(ssm, (uint64_t)x->irqchip);
    for (uint32_t chip = 0; x->irqchip && chip < 3; chip++) {
        struct kvm_irqchip c = {.chip_id = chip};
        if (h->vm_get_state(x->inst, VMM_VM_STATE_IRQCHIP, &c, sizeof(c)))
            return h->ssm_fail(ssm, "the host driver did not give interrupt controller %u", chip);
        h->ssm_put_bytes(ssm, &c, sizeof(c));
    }
    struct kvm_pit_state2 pit;
    memset(&pit, 0, sizeof(pit));
    if (h->vm_get_state(x->inst, VMM_VM_STATE_PIT, &pit, sizeof(pit)) == 0)
        h->ssm_put_bytes(ssm, &pit, sizeof(pit));
    else
        h->ssm_put_bytes(ssm, &pit, 0); /* no PIT in this VM */
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    if (h->vm_get_state(x->inst, VMM_VM_STATE_CLOCK, &clock, sizeof(clock)))
        return h->ssm_fail(ssm, "the host driver did not give the VM clock");
    return h->ssm_put_u64(ssm, clock.clock);
}

static int x86_platform_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    x86raw *x = state;
    const vmm_helpers *h = x->hlp;
    uint64_t irqchip, clock_ns;
    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    size_t pit_len;
    if (version != X86_PLATFORM_STATE_VERSION)
        return h->ssm_fail(ssm, "unknown version %u (this x86-raw saves version %u)", version,
                           X86_PLATFORM_STATE_VERSION);
    if (h->ssm_get_u64(ssm, &irqchip))
        return -1;
    if ((irqchip != 0) != (x->irqchip != 0))
        return h->ssm_fail(ssm, "saved with irqchip=%s, this VM has irqchip=%s", irqchip ? "on" : "off",
                           x->irqchip ? "on" : "off");
    for (unsigned c = 0; irqchip && c < 3; c++)
        if (h->ssm_get_bytes(ssm, &chips[c], sizeof(chips[c])))
            return -1;
    if (h->ssm_get_var_bytes(ssm, &pit, sizeof(pit), &pit_len) || h->ssm_get_u64(ssm, &clock_ns))
        return -1;
    if (pit_len != 0 && pit_len != sizeof(pit))
        return h->ssm_fail(ssm, "the PIT state is %zu bytes, the host driver's is %zu", pit_len, sizeof(pit));
    for (unsigned c = 0; irqchip && c < 3; c++)
        if (h->vm_set_state(x->inst, VMM_VM_STATE_IRQCHIP, &chips[c], sizeof(chips[c])))
            return h->ssm_fail(ssm, "the host driver refused interrupt controller %u", c);
    if (pit_len && h->vm_set_state(x->inst, VMM_VM_STATE_PIT, &pit, sizeof(pit)))
        return h->ssm_fail(ssm, "saved with a PIT, and this VM has none");
    /* kvmclock continues from the saved time, so guest time does not jump by how long the snapshot slept. */
    struct kvm_clock_data clock = {.clock = clock_ns};
    if (h->vm_set_state(x->inst, VMM_VM_STATE_CLOCK, &clock, sizeof(clock)))
        return h->ssm_fail(ssm, "the host driver refused the VM clock");
    return 0;
}

int x86_state_register(x86raw *x)
{
    const vmm_helpers *h = x->hlp;
    if (h->ssm_register(x->inst, "x86-cpus", 0, X86_CPUS_STATE_VERSION, x86_cpus_save, x86_cpus_load) ||
        h->ssm_register(x->inst, "x86-platform", 0, X86_PLATFORM_STATE_VERSION, x86_platform_save, x86_platform_load))
        return -1;
    return 0;
}
