/*
 * RC module "rvexec": runs a target's code at ring 3 for an architecture plugin that generates that code on the
 * host (the riscv64 recompiler with exec=rc). The ring-3 code talks to its plugin directly through the port the
 * plugin opened in the TSS I/O bitmap, so in normal operation this module does nothing after entering ring 3:
 * on software KVM every ring-0 instruction costs about a microsecond. It only comes back here when ring-3 code
 * traps (a bug in generated code, or an access outside what the page tables give ring 3); it then reports the
 * trap to the host, which prints it, and the VM stops with status 1.
 */
#include "rc.h"

int rx_init(const rc_boot_info *bi, const rc_module_header *core);

int rx_init(const rc_boot_info *bi, const rc_module_header *core)
{
    rc_log_fn log = (rc_log_fn)rc_import(core, "rc_log");
    rc_hypercall_fn hc = (rc_hypercall_fn)rc_import(core, "rc_hypercall");
    rc_ring3_run_fn run = (rc_ring3_run_fn)rc_import(core, "rc_ring3_run");
    rc_ctx_get_fn ctx_get = (rc_ctx_get_fn)rc_import(core, "rc_ctx_get");
    if (!log || !hc || !run || !ctx_get)
        return 1;
    if (!bi->target_entry || !bi->target_stack) {
        log(RC_LOG_ERROR, "rvexec: the host gave no target entry point");
        return 1;
    }
    rc_ctx *c = ctx_get(0);
    memset(c, 0, sizeof(*c));
    c->rip = bi->target_entry;
    c->rsp = bi->target_stack;
    c->rflags = 0x2;
    log(RC_LOG_DEBUG, "rvexec: entering target code at 0x%lx", bi->target_entry);
    uint64_t vector = run(c);
    log(RC_LOG_DEBUG, "rvexec: target trapped with vector %lu", vector);
    hc(RC_HC_TARGET_TRAP, 0, 0, 0, 0, 0, NULL, NULL);
    return 1;
}

RC_MODULE("rvexec", rx_init);
