/*
 * Relegation, the raw-mode heritage: when the host driver reports that it could not execute an instruction
 * (an emulation failure), x86-raw decodes it with Capstone and, if this table knows it, performs it for the
 * guest. Anything else stops the VM with the disassembly. Each entry has a guest test in tests/guests/x86/.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86raw.h"

typedef int (*x86_relegate_fn)(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn);

typedef struct x86_relegation {
    unsigned insn_id; /* Capstone's X86_INS_* */
    unsigned kind;    /* index into x86raw.relegations */
    const char *name;
    x86_relegate_fn fn;
} x86_relegation;

/* int3: the instruction's architectural effect is delivering #BP with RIP after it, which is what an injected
 * exception does once RIP is advanced. */
static int x86_relegate_int3(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn)
{
    struct kvm_vcpu_events ev;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev)))
        return -1;
    r->rip += insn->size;
    if (x->hlp->vcpu_set_state(vcpu, VMM_STATE_GPRS, r, sizeof(*r)))
        return -1;
    ev.exception.injected = 1;
    ev.exception.nr = 3;
    ev.exception.has_error_code = 0;
    ev.exception.error_code = 0;
    ev.flags = 0;
    return x->hlp->vcpu_set_state(vcpu, VMM_STATE_EVENTS, &ev, sizeof(ev));
}

static const x86_relegation x86_relegations[] = {
    {X86_INS_INT3, X86_RELEGATE_INT3, "int3", x86_relegate_int3},
};

const char *x86_relegation_name(unsigned kind)
{
    for (size_t i = 0; i < sizeof(x86_relegations) / sizeof(x86_relegations[0]); i++)
        if (x86_relegations[i].kind == kind)
            return x86_relegations[i].name;
    return "?";
}

static vmm_exit_action x86_relegation_failed(x86raw *x, vmm_vcpu *vcpu, const char *why)
{
    x86_dump_vcpu(x, vcpu, why);
    x->hlp->vm_stop(x->inst, 1);
    return VMM_ACTION_STOP;
}

vmm_exit_action x86_relegate(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    char why[384];
    if (exit->u.internal.suberror != VMM_INTERNAL_EMULATION) {
        snprintf(why, sizeof(why), "the host driver stopped the guest with internal error %u",
                 exit->u.internal.suberror);
        return x86_relegation_failed(x, vcpu, why);
    }
    struct kvm_regs r;
    struct kvm_sregs s;
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r)) ||
        x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s)))
        return x86_relegation_failed(x, vcpu, "emulation failure, and the registers cannot be read");

    uint8_t code[16];
    size_t n = x86_read_code(x, vcpu, &r, &s, code, sizeof(code));
    if (n == 0 && exit->u.internal.insn_len) {
        n = exit->u.internal.insn_len;
        memcpy(code, exit->u.internal.insn_bytes, n);
    }
    cs_mode mode = ((s.efer & 0x400) && s.cs.l) ? CS_MODE_64 : (s.cr0 & 1) && s.cs.db ? CS_MODE_32 : CS_MODE_16;
    csh h;
    cs_insn *insn = NULL;
    size_t count = 0;
    if (n && cs_open(CS_ARCH_X86, mode, &h) == CS_ERR_OK) {
        count = cs_disasm(h, code, n, r.rip, 1, &insn);
        cs_close(&h);
    }
    if (count == 0)
        return x86_relegation_failed(x, vcpu, "the host could not execute the instruction at RIP, and it does not decode");

    vmm_exit_action action = VMM_ACTION_STOP;
    const x86_relegation *rel = NULL;
    for (size_t i = 0; i < sizeof(x86_relegations) / sizeof(x86_relegations[0]); i++)
        if (x86_relegations[i].insn_id == insn[0].id)
            rel = &x86_relegations[i];
    if (!rel) {
        snprintf(why, sizeof(why), "the host could not execute '%s %s' and x86-raw has no relegation for it",
                 insn[0].mnemonic, insn[0].op_str);
        action = x86_relegation_failed(x, vcpu, why);
    } else if (rel->fn(x, vcpu, &r, &insn[0])) {
        snprintf(why, sizeof(why), "relegating '%s' failed", rel->name);
        action = x86_relegation_failed(x, vcpu, why);
    } else {
        __atomic_fetch_add(&x->relegations[rel->kind], 1, __ATOMIC_RELAXED);
        if (x->hlp->log_enabled(x->inst, VMM_LOG_DEBUG))
            x->hlp->log(x->inst, VMM_LOG_DEBUG, "relegated '%s' at 0x%" PRIx64, rel->name, (uint64_t)insn[0].address);
        action = VMM_ACTION_RESUME;
    }
    cs_free(insn, count);
    return action;
}
