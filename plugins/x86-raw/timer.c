/*
 * The local APIC's TSC-deadline timer, kept by x86-raw with slack, where the guest's kernel runs in the host's
 * instruction emulator (VMM_HOST_LIMIT_KERNEL_EMULATED: kvm_pvm, or any KVM without VT-x/AMD-V).
 *
 * Why: there a timer interrupt costs the guest a few thousand emulated instructions, a few milliseconds, and a
 * busy Linux asks for one every 4 ms (HZ=250); measured during Debian's boot here, half of everything the guest's
 * kernel executed was the tick (hrtimer_interrupt, timekeeping, scheduler accounting). Linux catches up with any
 * number of missed periods in one interrupt, so delivering its timer interrupts at least `timer-slack` apart
 * gives the time back to the guest's real work while its clocks (kvm-clock, TSC) stay exact. The price is timer
 * latency: a timer fires up to the slack late, as on an overcommitted host.
 *
 * How: the guest's rdmsr/wrmsr of IA32_TSC_DEADLINE exit to x86-raw (VMM_FEATURE_MSR_EXIT), so the in-kernel
 * LAPIC never arms its own timer. A write in TSC-deadline mode records the deadline (guest TSC) with the LVT
 * timer's vector and mask as they are at that moment, and arms a host timer for max(deadline, previous delivery
 * + slack); when it fires, the interrupt goes to the vCPU's LAPIC as a fixed MSI to its APIC ID, and the MSR
 * reads 0 again, as the SDM says. A write of 0 disarms. Writes in another LVT timer mode are ignored (SDM).
 * Elsewhere (hardware virtualisation, or timer-slack=off) nothing is intercepted and KVM keeps the timer.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "x86raw.h"

#define X86_LVTT_OFFSET 0x320u
#define X86_LVT_MASKED (1u << 16)
#define X86_LVTT_MODE_SHIFT 17
#define X86_LVTT_MODE_DEADLINE 2u
#define X86_MSI_BASE 0xfee00000ull
/* A deadline further away than this is "not soon": the guest re-arms long before (Linux: at most seconds). */
#define X86_DEADLINE_MAX_NS (3600ull * 1000000000ull)
/* The least wait for the rest of a deadline the host timer fired before. */
#define X86_TIMER_REST_MIN_NS 20000ull

struct x86_deadline {
    pthread_mutex_t lock;
    vmm_timer *timer;
    unsigned apic_id;
    uint64_t deadline; /* guest TSC; 0: not armed */
    uint64_t fire_ns;  /* monotonic time the host timer is armed for */
    uint64_t last_ns;  /* the last delivery */
    uint32_t vector;
    int masked;
    uint32_t tsc_khz; /* 0 until first asked */
    /* Guest TSC minus the host's, first seen at an arm; the guest's TSC as the timer fires is read from the
     * host's (rdtsc) through it. tsc_offset_ok: 1 while every arm since saw the same offset, -1 once one did
     * not (the guest's TSC then runs at another rate or was written, and the fire-time check is off). */
    int64_t tsc_offset;
    int tsc_offset_ok;
};

static unsigned x86_timer_vcpus(x86raw *x)
{
    unsigned n = x->hlp->vcpu_count(x->inst);
    return n < X86_MAX_VCPUS ? n : X86_MAX_VCPUS;
}

int x86_timer_parse_slack(const char *s, uint64_t *ns, char *err, size_t errlen)
{
    if (!s || !strcmp(s, "auto")) {
        *ns = UINT64_MAX; /* decided in x86_timer_setup */
        return 0;
    }
    if (!strcmp(s, "off") || !strcmp(s, "0")) {
        *ns = 0;
        return 0;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t unit = !strcmp(end, "ms") ? 1000000u : !strcmp(end, "us") ? 1000u : 0;
    if (end == s || s[0] == '-' || !unit || v == 0 || v > 1000000000u / unit) {
        snprintf(err, errlen, "timer-slack '%s': expected auto, off, or a time from 1us to 1000ms "
                              "(e.g. 20ms)", s);
        return -1;
    }
    *ns = (uint64_t)v * unit;
    return 0;
}

int x86_timer_setup(x86raw *x)
{
    const vmm_helpers *h = x->hlp;
    uint64_t slack = x->timer_slack_ns, limits = 0; /* as parsed by x86_construct */
    x->timer_slack_ns = 0;
    int emulated = VMM_HELPERS_HAVE(h, 2) &&
                   h->vm_get_state(x->inst, VMM_VM_STATE_HOST_LIMITS, &limits, sizeof(limits)) == 0 &&
                   (limits & VMM_HOST_LIMIT_KERNEL_EMULATED);
    if (slack == UINT64_MAX)
        slack = emulated ? X86_TIMER_SLACK_AUTO_NS : 0;
    if (slack == 0)
        return 0;
    if (!x->irqchip) {
        h->log(x->inst, VMM_LOG_ERROR, "timer-slack needs the in-kernel interrupt controller (irqchip=on)");
        return -1;
    }
    if (!VMM_HELPERS_HAVE(h, 2) || h->vm_enable_feature(x->inst, VMM_FEATURE_MSR_EXIT, X86_MSR_TSC_DEADLINE)) {
        h->log(x->inst, VMM_LOG_ERROR, "timer-slack: the host driver cannot report IA32_TSC_DEADLINE accesses");
        return -1;
    }
    unsigned n = x86_timer_vcpus(x);
    x->deadlines = calloc(n ? n : 1, sizeof(*x->deadlines));
    if (!x->deadlines)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_init(&x->deadlines[i].lock, NULL);
        x->deadlines[i].apic_id = i; /* as CPUID and the MP table say */
        x->deadlines[i].timer = h->timer_create(x->inst, x86_timer_fire);
        if (!x->deadlines[i].timer)
            return -1;
    }
    x->timer_slack_ns = slack;
    h->log(x->inst, VMM_LOG_INFO, "the guest's kernel runs %s: its TSC-deadline timer interrupts are kept at least "
           "%" PRIu64 " us apart (timer-slack)", emulated ? "in the host's instruction emulator" : "natively",
           slack / 1000);
    return 0;
}

void x86_timer_destroy(x86raw *x)
{
    if (!x->deadlines)
        return;
    for (unsigned i = 0; i < x86_timer_vcpus(x); i++)
        pthread_mutex_destroy(&x->deadlines[i].lock);
    free(x->deadlines);
    x->deadlines = NULL;
}

static int x86_timer_guest_tsc(x86raw *x, vmm_vcpu *vcpu, uint64_t *tsc)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = {.hdr.nmsrs = 1, .e.index = X86_MSR_TSC};
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m)))
        return -1;
    *tsc = m.e.data;
    return 0;
}

/* Arm d's host timer for its deadline, held back to last delivery + slack. Called with d->lock held. */
static int x86_timer_arm(x86raw *x, vmm_vcpu *vcpu, struct x86_deadline *d)
{
    const vmm_helpers *h = x->hlp;
    uint64_t tsc;
    if (!d->tsc_khz && h->vcpu_get_state(vcpu, VMM_STATE_TSC_KHZ, &d->tsc_khz, sizeof(d->tsc_khz)))
        return -1; /* fixed for the vCPU's life: asked once */
    if (x86_timer_guest_tsc(x, vcpu, &tsc))
        return -1;
    uint32_t khz = d->tsc_khz;
    int64_t offset = (int64_t)(tsc - __rdtsc());
    if (d->tsc_offset_ok == 0) {
        d->tsc_offset = offset;
        d->tsc_offset_ok = 1;
    } else if (d->tsc_offset_ok > 0 && (uint64_t)llabs(offset - d->tsc_offset) > khz) {
        d->tsc_offset_ok = -1; /* more than a millisecond of drift */
        __atomic_fetch_add(&x->timer_tsc_drifts, 1, __ATOMIC_RELAXED);
    }
    uint64_t now = h->clock_ns(x->inst);
    uint64_t delta_ns = 0;
    if (d->deadline > tsc) {
        unsigned __int128 ns = (unsigned __int128)(d->deadline - tsc) * 1000000u / khz;
        delta_ns = ns > X86_DEADLINE_MAX_NS ? X86_DEADLINE_MAX_NS : (uint64_t)ns;
    }
    uint64_t fire = now + delta_ns, earliest = d->last_ns + x->timer_slack_ns;
    if (d->last_ns && fire < earliest) {
        fire = earliest;
        __atomic_fetch_add(&x->timer_held_back, 1, __ATOMIC_RELAXED);
    }
    d->fire_ns = fire;
    return h->timer_arm(d->timer, fire > now ? fire - now : 1, 0);
}

void x86_timer_fire(void *state, vmm_timer *timer)
{
    x86raw *x = state;
    unsigned n = x86_timer_vcpus(x);
    for (unsigned i = 0; i < n; i++) {
        struct x86_deadline *d = &x->deadlines[i];
        if (d->timer != timer)
            continue;
        pthread_mutex_lock(&d->lock);
        uint64_t now = x->hlp->clock_ns(x->inst);
        /* A re-arm by the vCPU may race with an expiry already read from the timer: only a due deadline fires. */
        int due = d->deadline != 0 && now >= d->fire_ns;
        /* The deadline was turned into host time with the TSC rate KVM reports; where that rate is not the
         * TSC's true one (a nested host whose kernel calibrated it under emulation) the host timer fires
         * early. The SDM promises no interrupt before the deadline, so wait out the rest. */
        if (due && d->tsc_offset_ok > 0) {
            uint64_t guest_tsc = __rdtsc() + (uint64_t)d->tsc_offset;
            if (guest_tsc < d->deadline) {
                uint64_t rest = (uint64_t)((unsigned __int128)(d->deadline - guest_tsc) * 1000000u / d->tsc_khz);
                rest = rest < X86_TIMER_REST_MIN_NS ? X86_TIMER_REST_MIN_NS
                       : rest > X86_DEADLINE_MAX_NS ? X86_DEADLINE_MAX_NS : rest;
                d->fire_ns = now + rest;
                due = 0;
                __atomic_fetch_add(&x->timer_early, 1, __ATOMIC_RELAXED);
                x->hlp->timer_arm(d->timer, rest, 0);
            }
        }
        uint32_t vector = d->vector;
        int masked = d->masked;
        if (due) {
            d->deadline = 0;
            d->last_ns = now;
        }
        pthread_mutex_unlock(&d->lock);
        if (due && !masked) {
            x->hlp->msi_send(x->inst, X86_MSI_BASE | ((uint64_t)d->apic_id << 12), vector);
            __atomic_fetch_add(&x->timer_delivered, 1, __ATOMIC_RELAXED);
        }
        return;
    }
}

vmm_exit_action x86_timer_msr_exit(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    const vmm_helpers *h = x->hlp;
    unsigned idx = h->vcpu_index(vcpu);
    if (!x->deadlines || idx >= x86_timer_vcpus(x)) {
        h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: unexpected IA32_TSC_DEADLINE access reported by the host driver", idx);
        h->vm_stop(x->inst, 1);
        return VMM_ACTION_STOP;
    }
    struct x86_deadline *d = &x->deadlines[idx];
    if (!exit->u.msr.is_write) {
        pthread_mutex_lock(&d->lock);
        *exit->u.msr.result = d->deadline;
        pthread_mutex_unlock(&d->lock);
        return VMM_ACTION_RESUME;
    }
    struct kvm_lapic_state lapic;
    if (h->vcpu_get_state(vcpu, VMM_STATE_LAPIC, &lapic, sizeof(lapic))) {
        h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: the host driver did not give the local APIC", idx);
        h->vm_stop(x->inst, 1);
        return VMM_ACTION_STOP;
    }
    uint32_t lvtt;
    memcpy(&lvtt, lapic.regs + X86_LVTT_OFFSET, sizeof(lvtt));
    if (((lvtt >> X86_LVTT_MODE_SHIFT) & 3u) != X86_LVTT_MODE_DEADLINE)
        return VMM_ACTION_RESUME; /* ignored outside TSC-deadline mode, as on hardware */
    pthread_mutex_lock(&d->lock);
    d->deadline = exit->u.msr.data;
    d->vector = lvtt & 0xffu;
    d->masked = (lvtt & X86_LVT_MASKED) != 0;
    int rc = 0;
    if (d->deadline == 0)
        h->timer_stop(d->timer);
    else
        rc = x86_timer_arm(x, vcpu, d);
    pthread_mutex_unlock(&d->lock);
    if (rc) {
        h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: cannot arm the TSC-deadline timer (guest TSC or its rate unknown)",
               idx);
        h->vm_stop(x->inst, 1);
        return VMM_ACTION_STOP;
    }
    return VMM_ACTION_RESUME;
}

/* ---- Saved state: an optional section of x86-cpus, after the MSRs (so the guest TSC is the saved one) ---- */

int x86_timer_save(x86raw *x, vmm_ssm *ssm)
{
    const vmm_helpers *h = x->hlp;
    if (!x->deadlines)
        return 0; /* KVM keeps the timer; its deadline is among the MSRs */
    unsigned n = x86_timer_vcpus(x);
    h->ssm_put_optional(ssm, "tsc-deadline");
    h->ssm_put_u64(ssm, n);
    for (unsigned i = 0; i < n; i++) {
        struct x86_deadline *d = &x->deadlines[i];
        pthread_mutex_lock(&d->lock);
        h->ssm_put_u64(ssm, d->deadline);
        h->ssm_put_u64(ssm, d->vector | (d->masked ? X86_LVT_MASKED : 0));
        pthread_mutex_unlock(&d->lock);
    }
    return h->ssm_end_optional(ssm);
}

static int x86_timer_kvm_deadline(x86raw *x, vmm_vcpu *vcpu, uint64_t *value, int set)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = {.hdr.nmsrs = 1, .e = {.index = X86_MSR_TSC_DEADLINE, .data = set ? *value : 0}};
    if (set)
        return x->hlp->vcpu_set_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m));
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m)))
        return -1;
    *value = m.e.data;
    return 0;
}

int x86_timer_load(x86raw *x, vmm_ssm *ssm)
{
    const vmm_helpers *h = x->hlp;
    unsigned n = x86_timer_vcpus(x);
    uint64_t saved_n;
    int have = h->ssm_get_optional(ssm, "tsc-deadline");
    if (have < 0)
        return -1;
    if (have && (h->ssm_get_u64(ssm, &saved_n)))
        return -1;
    if (have && saved_n != n)
        return h->ssm_fail(ssm, "the TSC deadlines were saved for %llu vCPUs, this VM has %u",
                           (unsigned long long)saved_n, n);
    for (unsigned i = 0; i < n; i++) {
        vmm_vcpu *vcpu = h->vcpu_get(x->inst, i);
        uint64_t dl = 0, lv = 0;
        if (have && (h->ssm_get_u64(ssm, &dl) || h->ssm_get_u64(ssm, &lv)))
            return -1;
        if (have && lv & ~(uint64_t)(0xffu | X86_LVT_MASKED))
            return h->ssm_fail(ssm, "vCPU %u: saved timer vector word 0x%llx has unknown bits", i,
                               (unsigned long long)lv);
        if (!x->deadlines) {
            /* This VM leaves the timer to KVM: hand it the deadline x86-raw was keeping. */
            if (have && dl && x86_timer_kvm_deadline(x, vcpu, &dl, 1))
                return h->ssm_fail(ssm, "vCPU %u: the host driver refused the TSC deadline", i);
            continue;
        }
        struct x86_deadline *d = &x->deadlines[i];
        if (!have) {
            /* Saved where KVM kept the timer: take its deadline over (and disarm KVM's). */
            uint64_t zero = 0;
            if (x86_timer_kvm_deadline(x, vcpu, &dl, 0) || x86_timer_kvm_deadline(x, vcpu, &zero, 1))
                return h->ssm_fail(ssm, "vCPU %u: the host driver did not give the TSC deadline", i);
            struct kvm_lapic_state lapic;
            if (h->vcpu_get_state(vcpu, VMM_STATE_LAPIC, &lapic, sizeof(lapic)))
                return h->ssm_fail(ssm, "vCPU %u: the host driver did not give the local APIC", i);
            uint32_t lvtt;
            memcpy(&lvtt, lapic.regs + X86_LVTT_OFFSET, sizeof(lvtt));
            lv = lvtt & (0xffu | X86_LVT_MASKED);
        }
        pthread_mutex_lock(&d->lock);
        d->deadline = dl;
        d->vector = (uint32_t)(lv & 0xffu);
        d->masked = (lv & X86_LVT_MASKED) != 0;
        d->last_ns = 0;
        d->tsc_offset_ok = 0; /* the guest's TSC was just restored */
        int rc = dl ? x86_timer_arm(x, vcpu, d) : 0;
        pthread_mutex_unlock(&d->lock);
        if (rc)
            return h->ssm_fail(ssm, "vCPU %u: cannot re-arm the TSC-deadline timer", i);
    }
    return have ? h->ssm_end_optional(ssm) : 0;
}
