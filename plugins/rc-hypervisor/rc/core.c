/*
 * RC core module: the base of the RC hypervisor. It comes up on the boot info the host wrote, owns the log
 * ring and the hypercall mailbox, reports its own faults to the host, runs target code at ring 3 (the world
 * switch is in core_entry.S), and starts the other modules of the image through their headers. What it offers
 * other modules is its export table; they import by name (rc_import), so modules are plug-ins too.
 */
#include "rc.h"

/* Used by core_entry.S. */
uint64_t rc_ring3_saved_rsp;
rc_ctx *rc_cur_ctx;

static const rc_boot_info *rc_bi;
static int rc_in_fault;

extern char rc_trap_stubs[];
void rc_core_entry(void);
uint64_t rc_ring3_run(rc_ctx *ctx);
void rc_core_main(const rc_boot_info *bi);
RC_NORETURN void rc_trap_fault(const uint64_t *frame);
void rc_log(unsigned level, const char *fmt, ...);
int64_t rc_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t *ret0,
                     uint64_t *ret1);
rc_ctx *rc_ctx_get(unsigned vcpu);
void rc_log_flush(void);

static volatile rc_hcall *rc_mailbox(void)
{
    /* vCPU 0 only for now: the slot index is what the doorbell write carries. */
    return (volatile rc_hcall *)(uintptr_t)rc_bi->mailbox_va;
}

int64_t rc_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t *ret0,
                     uint64_t *ret1)
{
    volatile rc_hcall *h = rc_mailbox();
    h->nr = nr;
    h->args[0] = a0;
    h->args[1] = a1;
    h->args[2] = a2;
    h->args[3] = a3;
    h->args[4] = a4;
    /* No "pending" marker and no args[5]: the host always writes status, and each emulated store costs ~1 us. */
    __asm__ volatile("outl %%eax, %%dx" : : "a"(0u), "d"((uint16_t)RC_HC_PORT) : "memory");
    if (ret0)
        *ret0 = h->ret[0];
    if (ret1)
        *ret1 = h->ret[1];
    return h->status;
}

void rc_log_flush(void)
{
    rc_hypercall(RC_HC_LOG_FLUSH, 0, 0, 0, 0, 0, NULL, NULL);
}

/* Append one "<level>text\n" line; flush first when it would not fit, drop (and count) if it still does not. */
void rc_log(unsigned level, const char *fmt, ...)
{
    char line[240];
    va_list ap;
    va_start(ap, fmt);
    line[0] = (char)('0' + (level > 4 ? 4 : level));
    size_t n = 1 + rc_vformat(line + 1, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    volatile rc_log_ring *r = (volatile rc_log_ring *)(uintptr_t)rc_bi->log_va;
    volatile char *data = (volatile char *)(uintptr_t)(rc_bi->log_va + RC_LOG_DATA);
    uint64_t size = r->size;
    if (r->head - r->tail + n > size)
        rc_log_flush();
    if (r->head - r->tail + n > size) {
        r->dropped++;
        return;
    }
    uint64_t head = r->head;
    for (size_t i = 0; i < n; i++)
        data[(head + i) & (size - 1)] = line[i];
    r->head = head + n;
    /* Keep the ring from filling between hypercalls: past half full, hand it to the host now. */
    if (r->head - r->tail > size / 2)
        rc_log_flush();
}

rc_ctx *rc_ctx_get(unsigned vcpu)
{
    if (vcpu >= rc_bi->vcpus)
        return NULL;
    return (rc_ctx *)(uintptr_t)(rc_bi->state_va + RC_STATE_CTX + vcpu * RC_STATE_CTX_STRIDE);
}

/* A fault at ring 0 (frame: 15 GPRs, vector, error, rip, cs, rflags, rsp, ss): report it; the host stops. */
void rc_trap_fault(const uint64_t *frame)
{
    if (rc_in_fault++ == 0 && rc_bi) {
        volatile rc_fault_record *f =
            (volatile rc_fault_record *)(uintptr_t)(rc_bi->mailbox_va + RC_MAILBOX_FAULT_OFFSET);
        for (unsigned i = 0; i < 15; i++)
            f->gprs[i] = frame[i];
        f->vector = frame[15];
        f->error = frame[16];
        f->rip = frame[17];
        f->cs = frame[18];
        f->rflags = frame[19];
        f->rsp = frame[20];
        f->ss = frame[21];
        f->cr2 = rc_read_cr2();
        rc_hypercall(RC_HC_FAULT, f->vector, f->error, f->rip, f->cr2, 0, NULL, NULL);
    }
    /* A fault while reporting one, or the host let us go on: halt; the host sees the halt and stops. */
    for (;;)
        __asm__ volatile("cli; hlt");
}

static const char rc_core_greeting[] = "RC hypervisor core up";

void rc_core_main(const rc_boot_info *bi)
{
    rc_bi = bi;
    if (bi->magic != RC_BOOT_MAGIC || bi->abi != RC_ABI_VERSION) {
        /* Nothing is known to be mapped: no log, no mailbox. The halt tells the host. */
        return;
    }
    rc_log(RC_LOG_INFO, "%s: ABI %u, %u module(s), target RAM %lu MiB, hypercall port 0x%x", rc_core_greeting,
           bi->abi, bi->nmodules, bi->target_ram >> 20, bi->hc_port);
    volatile rc_vm_state *vs = (volatile rc_vm_state *)(uintptr_t)(bi->state_va + RC_STATE_VM);
    vs->generation++;
    int status = 0;
    const rc_module_header *core = (const rc_module_header *)(uintptr_t)bi->modules[0].ro_va;
    for (unsigned i = 1; i < bi->nmodules && i < RC_MAX_MODULES && status == 0; i++) {
        const rc_module_header *m = (const rc_module_header *)(uintptr_t)bi->modules[i].ro_va;
        if (m->magic != RC_MODULE_MAGIC || m->abi != RC_ABI_VERSION || !m->init) {
            rc_log(RC_LOG_ERROR, "module %u (%s) has no valid header", i, bi->modules[i].name);
            status = 1;
            break;
        }
        rc_log(RC_LOG_DEBUG, "starting module %s", m->name);
        status = ((rc_module_init_fn)(uintptr_t)m->init)(bi, core);
    }
    if (bi->nmodules < 2)
        rc_log(RC_LOG_WARN, "no module besides the core: nothing to run");
    rc_log(RC_LOG_DEBUG, "core done, status %d", status);
    rc_log_flush();
    rc_hypercall(RC_HC_STOP, (uint64_t)status, 0, 0, 0, 0, NULL, NULL);
}

RC_MODULE("core", rc_core_entry);
RC_EXPORT(rc_core_entry);
RC_EXPORT(rc_trap_stubs);
RC_EXPORT(rc_log);
RC_EXPORT(rc_log_flush);
RC_EXPORT(rc_hypercall);
RC_EXPORT(rc_ring3_run);
RC_EXPORT(rc_ctx_get);
