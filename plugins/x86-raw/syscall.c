/*
 * Syscall relegation. On a host whose KVM leaves a ring-3 `syscall` at CPL 3 (kvm_pvm running a non-PVM guest:
 * it jumps to LSTAR, sets RCX, R11 and masks RFLAGS, but keeps the user CS and SS), no stock kernel can run user
 * space. The host driver's probe (VMM_VM_STATE_HOST_LIMITS) says whether this host is one of those; only then:
 *
 *  - the guest's accesses to LSTAR exit to x86-raw (VMM_FEATURE_MSR_EXIT): a write is recorded per vCPU, a read
 *    answers the recorded value, and the host's LSTAR stays at X86_SYSCALL_FAKE_LSTAR;
 *  - at the first write (from the guest kernel's set-up, before any process exists) x86-raw installs a mapping
 *    of the fake address into the top-level page table at the vCPU's CR3: three page-table pages it owns, user-
 *    accessible down to a read-only PTE for X86_SYSCALL_TRAP_GPA, where there is no memory;
 *  - a ring-3 syscall then reaches the fake address at CPL 3, the host cannot fetch there and reports an
 *    emulation failure at RIP == the fake address; x86-raw switches CS/SS to STAR's ring-0 selectors, clears
 *    SFMASK and RF in RFLAGS and continues at the guest's handler, whose own sysretq/iretq returns to ring 3.
 *    RCX and R11 are already right. A genuine syscall arrives with IF clear (SFMASK holds IF for Linux; user code
 *    cannot clear IF); with IF set, a program jumped there and gets the #PF it would get on any other host;
 *  - data accesses to the fake page reach the trap page as MMIO: reads give 0, writes are dropped.
 *
 * Linux copies the top-level slots of the kernel half (from PAGE_OFFSET's slot up) into every new process, so
 * slot 509 ("unused hole" in the 4-level layout) reaches every process. Slots 256-271 would not, and kvm_pvm
 * reserves 256 for itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86raw.h"

#define X86_RFLAGS_IF (1ull << 9)
#define X86_RFLAGS_RF (1ull << 16)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_CR4_LA57 (1ull << 12)
#define X86_EFER_LMA (1ull << 10)
#define X86_PTE_P 1ull
#define X86_PTE_RW 2ull
#define X86_PTE_US 4ull
#define X86_PTE_ADDR 0x000ffffffffff000ull
#define X86_PF_USER_FETCH 0x14u /* not present, user, instruction fetch */

_Static_assert(X86_SYSCALL_PT_ELF >= X86_TSS_ADDR + X86_TSS_LIMIT + 1 &&
                   X86_SYSCALL_PT_ELF + X86_SYSCALL_PT_PAGES * 0x1000ull <= 0x10000ull,
               "the syscall page tables lie in the boot area between the TSS and 64 KiB");

static uint64_t x86_trap_read(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)offset;
    (void)size;
    return 0;
}

int x86_syscall_setup(x86raw *x)
{
    const vmm_helpers *h = x->hlp;
    uint64_t limits = 0;
    if (!h->opt_bool(x->inst, "syscall-relegation") || !VMM_HELPERS_HAVE(h, 1))
        return 0;
    if (h->vm_get_state(x->inst, VMM_VM_STATE_HOST_LIMITS, &limits, sizeof(limits)) ||
        !(limits & VMM_HOST_LIMIT_X86_SYSCALL_CPL3))
        return 0;
    if (h->vm_enable_feature(x->inst, VMM_FEATURE_MSR_EXIT, X86_MSR_LSTAR)) {
        h->log(x->inst, VMM_LOG_WARN, "this host leaves a ring-3 syscall at CPL 3 and cannot report LSTAR "
                                      "accesses: guest user space will not run");
        return 0;
    }
    /* Data accesses to the fake page: reads give 0, writes are dropped (the write callback is NULL). */
    if (h->mmio_register(x->inst, X86_SYSCALL_TRAP_GPA, 0x1000, x86_trap_read, NULL))
        return -1;
    x->syscall_relegation = 1;
    h->log(x->inst, VMM_LOG_INFO, "this host leaves a ring-3 syscall at CPL 3: syscalls are relegated through "
                                  "LSTAR 0x%llx", (unsigned long long)X86_SYSCALL_FAKE_LSTAR);
    return 0;
}

static int x86_set_host_lstar(x86raw *x, vmm_vcpu *vcpu, uint64_t value)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } m = {.hdr.nmsrs = 1, .e = {.index = X86_MSR_LSTAR, .data = value}};
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m));
}

int x86_syscall_vcpu_init(x86raw *x, vmm_vcpu *vcpu)
{
    if (!x->syscall_relegation)
        return 0;
    if (x86_set_host_lstar(x, vcpu, X86_SYSCALL_FAKE_LSTAR)) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "the host driver refused LSTAR 0x%llx for vCPU %u",
                    (unsigned long long)X86_SYSCALL_FAKE_LSTAR, x->hlp->vcpu_index(vcpu));
        return -1;
    }
    return 0;
}

static int x86_canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/* The page-table pages x86-raw owns for this boot: none for real-mode starts (the guest owns all its RAM). A
 * restored VM has no boot; it takes the address from the snapshot. */
static uint64_t x86_syscall_pt(const x86raw *x)
{
    if (x->syscall_pt)
        return x->syscall_pt;
    if (x->boot_mode != X86_BOOT_LONG)
        return 0;
    return x->linux_zero_page ? X86_SYSCALL_PT_LINUX : X86_SYSCALL_PT_ELF;
}

/* Map the fake LSTAR page in the top-level table at the vCPU's CR3. 0, or -1 after logging why not. */
static int x86_syscall_install(x86raw *x, vmm_vcpu *vcpu)
{
    const vmm_helpers *h = x->hlp;
    struct kvm_sregs s;
    uint64_t pt = x86_syscall_pt(x);
    if (!pt) {
        h->log(x->inst, VMM_LOG_WARN, "syscall relegation needs a long-mode start (ELF or --kernel); syscall "
                                      "stays at CPL 3 on this host");
        return -1;
    }
    if (h->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    if (!(s.cr0 & X86_CR0_PG) || !(s.cr4 & X86_CR4_PAE) || !(s.efer & X86_EFER_LMA) || (s.cr4 & X86_CR4_LA57)) {
        h->log(x->inst, VMM_LOG_WARN, "LSTAR written outside 4-level long-mode paging (CR0 0x%llx CR4 0x%llx EFER "
                                      "0x%llx): syscall relegation is not possible, syscall stays at CPL 3",
               (unsigned long long)s.cr0, (unsigned long long)s.cr4, (unsigned long long)s.efer);
        return -1;
    }
    uint64_t slot_gpa = (s.cr3 & X86_PTE_ADDR) + 8 * X86_SYSCALL_PML4_SLOT;
    uint64_t *slot = h->mem_ptr(x->inst, slot_gpa, 8, 1);
    uint8_t *tables = h->mem_ptr(x->inst, pt, X86_SYSCALL_PT_PAGES * 0x1000ull, 1);
    if (!slot || !tables) {
        h->log(x->inst, VMM_LOG_WARN, "the top-level page table at CR3 0x%llx or the page-table pages at 0x%llx "
                                      "are not guest RAM: syscall relegation is not possible",
               (unsigned long long)s.cr3, (unsigned long long)pt);
        return -1;
    }
    const uint64_t entry = pt | X86_PTE_P | X86_PTE_RW | X86_PTE_US;
    uint64_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (old == entry)
        return 0; /* this page table has it already (a later vCPU or a repeated write) */
    if (old & X86_PTE_P) {
        h->log(x->inst, VMM_LOG_WARN, "the guest uses top-level page-table slot %u (entry 0x%llx at 0x%llx): "
                                      "syscall relegation is not possible, syscall stays at CPL 3",
               X86_SYSCALL_PML4_SLOT, (unsigned long long)old, (unsigned long long)slot_gpa);
        return -1;
    }
    /* PDPT[0] -> PD, PD[0] -> PT, PT[0] -> the trap page: present, user, read-only, executable. */
    memset(tables, 0, X86_SYSCALL_PT_PAGES * 0x1000ull);
    uint64_t e[3] = {(pt + 0x1000) | X86_PTE_P | X86_PTE_RW | X86_PTE_US,
                     (pt + 0x2000) | X86_PTE_P | X86_PTE_RW | X86_PTE_US,
                     X86_SYSCALL_TRAP_GPA | X86_PTE_P | X86_PTE_US};
    for (unsigned i = 0; i < 3; i++)
        memcpy(tables + i * 0x1000, &e[i], 8);
    uint64_t expected = old;
    if (!__atomic_compare_exchange_n(slot, &expected, entry, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE) &&
        expected != entry)
        return -1;
    /* Reload the host's view of the paging structures, which it may have cached for this CR3. */
    if (h->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    h->log(x->inst, VMM_LOG_DEBUG, "mapped the syscall trap page at 0x%llx in the page table at CR3 0x%llx",
           (unsigned long long)X86_SYSCALL_FAKE_LSTAR, (unsigned long long)s.cr3);
    return 0;
}

/* The fake mapping is unavailable: from now on the guest's LSTAR goes to the host, as without relegation. */
static int x86_syscall_give_up(x86raw *x, vmm_vcpu *vcpu, uint64_t value)
{
    __atomic_store_n(&x->syscall_unavailable, 1, __ATOMIC_RELAXED);
    return x86_set_host_lstar(x, vcpu, value);
}

vmm_exit_action x86_syscall_msr_exit(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    const vmm_helpers *h = x->hlp;
    unsigned idx = h->vcpu_index(vcpu);
    if (!x->syscall_relegation || exit->u.msr.index != X86_MSR_LSTAR || idx >= X86_MAX_VCPUS) {
        h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: unexpected %s of MSR 0x%x reported by the host driver", idx,
               exit->u.msr.is_write ? "write" : "read", exit->u.msr.index);
        h->vm_stop(x->inst, 1);
        return VMM_ACTION_STOP;
    }
    if (!exit->u.msr.is_write) {
        *exit->u.msr.result = x->guest_lstar[idx];
        return VMM_ACTION_RESUME;
    }
    uint64_t v = exit->u.msr.data;
    if (!x86_canonical(v)) {
        *exit->u.msr.error = 1; /* wrmsr of a non-canonical address: #GP, as on hardware */
        return VMM_ACTION_RESUME;
    }
    x->guest_lstar[idx] = v;
    if (h->log_enabled(x->inst, VMM_LOG_DEBUG))
        h->log(x->inst, VMM_LOG_DEBUG, "vCPU %u: guest LSTAR 0x%" PRIx64 " (the host keeps 0x%llx)", idx, v,
               (unsigned long long)X86_SYSCALL_FAKE_LSTAR);
    if (__atomic_load_n(&x->syscall_unavailable, __ATOMIC_RELAXED) || x86_syscall_install(x, vcpu)) {
        if (x86_syscall_give_up(x, vcpu, v)) {
            h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: the host driver refused LSTAR 0x%" PRIx64, idx, v);
            h->vm_stop(x->inst, 1);
            return VMM_ACTION_STOP;
        }
        return VMM_ACTION_RESUME;
    }
    /* A vCPU that gave up earlier (before the mapping existed) gets the fake LSTAR back. */
    if (x86_set_host_lstar(x, vcpu, X86_SYSCALL_FAKE_LSTAR)) {
        h->log(x->inst, VMM_LOG_ERROR, "vCPU %u: the host driver refused LSTAR 0x%llx", idx,
               (unsigned long long)X86_SYSCALL_FAKE_LSTAR);
        h->vm_stop(x->inst, 1);
        return VMM_ACTION_STOP;
    }
    return VMM_ACTION_RESUME;
}

static struct kvm_segment x86_ring0_segment(uint16_t selector, int code)
{
    return (struct kvm_segment){.base = 0, .limit = 0xffffffff, .selector = selector, .type = code ? 0xb : 0x3,
                                .present = 1, .dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1};
}

int x86_syscall_relegate(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, struct kvm_sregs *s)
{
    const vmm_helpers *h = x->hlp;
    if (!x->syscall_relegation || r->rip != X86_SYSCALL_FAKE_LSTAR || (s->cs.selector & 3) != 3 || s->cs.dpl != 3)
        return 0;
    unsigned idx = h->vcpu_index(vcpu);
    if (idx >= X86_MAX_VCPUS)
        return -1;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[2];
    } m = {.hdr.nmsrs = 2, .e = {{.index = X86_MSR_STAR}, {.index = X86_MSR_SFMASK}}};
    if (h->vcpu_get_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m)))
        return -1;
    /* A syscall clears the IF that SFMASK names (Linux's does), and its RCX, the address after it, is canonical.
     * Otherwise a program jumped to the fake address; elsewhere nothing is mapped there for user code. (With an
     * SFMASK without IF a jump with a canonical RCX is taken for a syscall: it gives the program no more than
     * executing syscall would.) */
    if (((m.e[1].data & X86_RFLAGS_IF) && (r->rflags & X86_RFLAGS_IF)) || !x86_canonical(r->rcx)) {
        __atomic_fetch_add(&x->syscall_spoofs, 1, __ATOMIC_RELAXED);
        s->cr2 = r->rip;
        if (h->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, s, sizeof(*s)))
            return -1;
        return x86_relegate_inject(x, vcpu, 14, 1, X86_PF_USER_FETCH) ? -1 : 1;
    }
    uint16_t kcs = (uint16_t)(m.e[0].data >> 32);
    s->cs = x86_ring0_segment(kcs & 0xfffc, 1);
    s->ss = x86_ring0_segment((uint16_t)(kcs + 8) & 0xfffc, 0);
    r->rflags = (r->rflags & ~(m.e[1].data | X86_RFLAGS_RF)) | 0x2;
    r->rip = x->guest_lstar[idx];
    if (h->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, s, sizeof(*s)) ||
        h->vcpu_set_state(vcpu, VMM_STATE_GPRS, r, sizeof(*r)))
        return -1;
    __atomic_fetch_add(&x->syscalls_relegated, 1, __ATOMIC_RELAXED);
    return 1;
}

/* ---- Saved state: an optional section "guest-lstar" at the end of the x86-cpus unit -------------------- */

int x86_syscall_save(x86raw *x, vmm_ssm *ssm)
{
    const vmm_helpers *h = x->hlp;
    if (!x->syscall_relegation)
        return 0; /* nothing to keep: the host's LSTAR is the guest's */
    unsigned n = h->vcpu_count(x->inst);
    h->ssm_put_optional(ssm, "guest-lstar");
    h->ssm_put_u64(ssm, x86_syscall_pt(x));
    h->ssm_put_u64(ssm, n);
    for (unsigned i = 0; i < n && i < X86_MAX_VCPUS; i++)
        h->ssm_put_u64(ssm, x->guest_lstar[i]);
    return h->ssm_end_optional(ssm);
}

int x86_syscall_load(x86raw *x, vmm_ssm *ssm)
{
    const vmm_helpers *h = x->hlp;
    unsigned n = h->vcpu_count(x->inst);
    uint64_t saved_n, v, pt;
    int have = h->ssm_get_optional(ssm, "guest-lstar");
    if (have < 0)
        return -1;
    if (have) {
        if (h->ssm_get_u64(ssm, &pt) || h->ssm_get_u64(ssm, &saved_n))
            return -1;
        if (pt != 0 && pt != X86_SYSCALL_PT_ELF && pt != X86_SYSCALL_PT_LINUX)
            return h->ssm_fail(ssm, "saved syscall page tables at 0x%llx, which x86-raw never uses",
                               (unsigned long long)pt);
        x->syscall_pt = pt;
        if (saved_n != n || n > X86_MAX_VCPUS)
            return h->ssm_fail(ssm, "the guest's LSTAR was saved for %llu vCPUs, this VM has %u",
                               (unsigned long long)saved_n, n);
        for (unsigned i = 0; i < n; i++) {
            if (h->ssm_get_u64(ssm, &v))
                return -1;
            if (!x86_canonical(v))
                return h->ssm_fail(ssm, "vCPU %u: saved LSTAR 0x%llx is not canonical", i, (unsigned long long)v);
            x->guest_lstar[i] = v;
        }
        if (h->ssm_end_optional(ssm))
            return -1;
    }
    for (unsigned i = 0; i < n && i < X86_MAX_VCPUS; i++) {
        vmm_vcpu *vcpu = h->vcpu_get(x->inst, i);
        if (x->syscall_relegation && !have) {
            /* Saved where syscall needed no help: the host's LSTAR, just restored, is the guest's. */
            struct {
                struct kvm_msrs hdr;
                struct kvm_msr_entry e;
            } m = {.hdr.nmsrs = 1, .e.index = X86_MSR_LSTAR};
            if (h->vcpu_get_state(vcpu, VMM_STATE_MSRS, &m, sizeof(m)))
                return h->ssm_fail(ssm, "vCPU %u: the host driver did not give LSTAR", i);
            x->guest_lstar[i] = m.e.data;
            if (m.e.data && x86_syscall_install(x, vcpu))
                h->log(x->inst, VMM_LOG_WARN, "vCPU %u: saved without syscall relegation, and the fake LSTAR "
                                              "mapping could not be added: processes may not make system calls",
                       i);
        }
        /* Where relegation is on, the host holds the fake LSTAR; where it is off, the guest's own. */
        uint64_t host = x->syscall_relegation ? X86_SYSCALL_FAKE_LSTAR : x->guest_lstar[i];
        if ((have || x->syscall_relegation) && x86_set_host_lstar(x, vcpu, host))
            return h->ssm_fail(ssm, "vCPU %u: the host driver refused LSTAR 0x%llx", i, (unsigned long long)host);
    }
    return 0;
}
