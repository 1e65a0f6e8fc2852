/*
 * vCPU 0 of an RC VM: its start registers (64-bit, ring 0, at the core's entry with the boot info in RDI) and the
 * exits such a VM can take besides port and MMIO accesses. Every one of them ends the VM with a report, because
 * the RC never halts, shuts down or stops executable on purpose: it ends itself with the STOP hypercall.
 */
#include <stdio.h>
#include <string.h>

#include "rc_host.h"

int rc_vcpu_start(rc_host *h, vmm_vcpu *vcpu)
{
    const vmm_helpers *hlp = h->hlp;
    struct kvm_sregs s;
    if (hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return -1;
    rc_boot_sregs(h, &s);
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rflags = 0x2;
    r.rip = h->entry;
    r.rsp = RC_VA_SYSTEM + RC_SYS_STACK_TOP;
    r.rdi = RC_VA_SYSTEM + RC_SYS_BOOTINFO;
    if (hlp->vcpu_set_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)) ||
        hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r))) {
        hlp->log(h->inst, VMM_LOG_ERROR, "the host driver refused the RC's start registers");
        return -1;
    }
    return 0;
}

static void rc_dump_owner(void *owner, vmm_vcpu *vcpu, const char *headline)
{
    rc_dump(owner, vcpu, headline);
}

static vmm_exit_action rc_stop(rc_host *h, vmm_vcpu *vcpu, const char *why)
{
    return x86kvm_dump_and_stop(h->hlp, h->inst, vcpu, why, 1, rc_dump_owner, h);
}

vmm_exit_action rc_vcpu_exit(rc_host *h, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    char why[160];
    switch (exit->reason) {
    case VMM_EXIT_HALT:
        if (h->faulted) {
            h->hlp->vm_stop(h->inst, 1);
            return VMM_ACTION_STOP;
        }
        return rc_stop(h, vcpu, "the RC halted without a stop hypercall (bad boot info, or a fault while reporting one)");
    case VMM_EXIT_SHUTDOWN:
        return rc_stop(h, vcpu, "triple fault: the CPU shut down inside the RC");
    case VMM_EXIT_INTERNAL_ERROR:
        snprintf(why, sizeof(why), "the host could not execute an RC instruction (internal error, suberror %u)",
                 exit->u.internal.suberror);
        return rc_stop(h, vcpu, why);
    case VMM_EXIT_FAIL_ENTRY:
        snprintf(why, sizeof(why), "the host refused to enter the RC (hardware reason 0x%llx)",
                 (unsigned long long)exit->u.fail_entry.hw_reason);
        return rc_stop(h, vcpu, why);
    default:
        snprintf(why, sizeof(why), "unexpected exit %u while running the RC", exit->reason);
        return rc_stop(h, vcpu, why);
    }
}
