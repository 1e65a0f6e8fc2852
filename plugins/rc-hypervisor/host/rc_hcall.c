/*
 * The host end of the RC: hypercalls arriving on the reserved port (the mailbox slot holds the call; every field
 * in it is guest-supplied and checked here), the log ring drained into vmm's log, reports of RC faults and of
 * target code trapping where it must not (Capstone disassembly at RIP, nearest RC symbol), and benchmark marks.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rc_host.h"

static const char *const rc_vector_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor segment overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection", "#PF page fault",
    "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check", "#XM SIMD error",
    "#VE virtualization", "#CP control protection", "reserved", "reserved", "reserved", "reserved", "reserved",
    "reserved", "#HV hypervisor injection", "#VC VMM communication", "#SX security", "reserved",
};

static const char *rc_vector_name(uint64_t v)
{
    return v < 32 ? rc_vector_names[v] : "not an exception";
}

/* ---- Log ring ----------------------------------------------------------------------------------------- */

static void rc_log_emit(rc_host *h, const char *line, size_t len)
{
    vmm_log_level level = VMM_LOG_INFO;
    if (len && line[0] >= '0' && line[0] <= '4') {
        level = (vmm_log_level)(line[0] - '0');
        line++;
        len--;
    }
    char text[256];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof(text) - 1; i++)
        text[n++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
    text[n] = '\0';
    h->log_lines++;
    h->hlp->log(h->inst, level, "rc: %s", text);
}

void rc_log_drain(rc_host *h)
{
    rc_log_ring *r = (rc_log_ring *)(void *)h->log;
    const char *data = (const char *)h->log + RC_LOG_DATA;
    uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
    uint64_t tail = r->tail;
    if (head - tail > RC_LOG_RING_BYTES) {
        h->hlp->log(h->inst, VMM_LOG_WARN, "RC log ring inconsistent (head %" PRIu64 ", tail %" PRIu64 "); skipped",
                    head, tail);
        __atomic_store_n(&r->tail, head, __ATOMIC_RELEASE);
        return;
    }
    char line[256];
    size_t n = 0;
    uint64_t consumed = tail;
    for (uint64_t at = tail; at != head; at++) {
        char c = data[at & (RC_LOG_RING_BYTES - 1)];
        if (c == '\n' || n == sizeof(line)) {
            rc_log_emit(h, line, n);
            n = 0;
            consumed = at + (c == '\n');
            if (c != '\n')
                line[n++] = c;
            continue;
        }
        line[n++] = c;
    }
    /* A line still being written stays in the ring. */
    __atomic_store_n(&r->tail, consumed, __ATOMIC_RELEASE);
    uint64_t dropped = __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
    if (dropped != h->log_dropped_seen) {
        h->hlp->log(h->inst, VMM_LOG_WARN, "the RC dropped %" PRIu64 " log line(s): the ring was full",
                    dropped - h->log_dropped_seen);
        h->log_dropped_seen = dropped;
    }
}

/* ---- Disassembly and dumps ---------------------------------------------------------------------------- */

/* Code at va: from the image for RC ROM, else through the vCPU's page tables. */
static size_t rc_read_code(rc_host *h, vmm_vcpu *vcpu, uint64_t va, uint8_t *buf, size_t len)
{
    size_t n = rc_image_code(h, va, buf, len);
    return n ? n : x86kvm_read_linear(h->hlp, h->inst, vcpu, va, 1, buf, len);
}

static void rc_disassemble(rc_host *h, vmm_vcpu *vcpu, uint64_t va, unsigned max, char *out, size_t outlen)
{
    uint8_t code[64];
    size_t n = rc_read_code(h, vcpu, va, code, sizeof(code));
    snprintf(out, outlen, "  (no code readable at 0x%" PRIx64 ")\n", va);
    csh cs;
    if (!n || cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
        return;
    cs_insn *insn;
    size_t count = cs_disasm(cs, code, n, va, max, &insn);
    size_t used = 0;
    for (size_t i = 0; i < count && used < outlen; i++) {
        char bytes[49] = "", sym[96];
        for (unsigned b = 0; b < insn[i].size && b < 16; b++)
            snprintf(bytes + 3 * b, sizeof(bytes) - 3 * b, "%02x ", insn[i].bytes[b]);
        rc_symbolize(h, insn[i].address, sym, sizeof(sym));
        int w = snprintf(out + used, outlen - used, "%s %016" PRIx64 " %-28s %-24s %s %s\n", i ? "  " : "=>",
                         insn[i].address, sym[0] ? sym : "", bytes, insn[i].mnemonic, insn[i].op_str);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (count)
        cs_free(insn, count);
    else
        snprintf(out, outlen, "  (the bytes at 0x%" PRIx64 " do not decode: %02x %02x %02x)\n", va, code[0],
                 n > 1 ? code[1] : 0, n > 2 ? code[2] : 0);
    cs_close(&cs);
}

static void rc_pf_bits(uint64_t error, char *buf, size_t len)
{
    snprintf(buf, len, " (%s, %s, %s%s)", error & 1 ? "protection" : "not present", error & 2 ? "write" : "read",
             error & 4 ? "user" : "supervisor", error & 16 ? ", instruction fetch" : "");
}

void rc_dump(rc_host *h, vmm_vcpu *vcpu, const char *headline)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    rc_log_drain(h);
    if (h->hlp->vcpu_get_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r)) ||
        h->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s))) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "%s (registers unavailable)", headline);
        return;
    }
    char sym[96], code[1024];
    rc_symbolize(h, r.rip, sym, sizeof(sym));
    rc_disassemble(h, vcpu, r.rip, 4, code, sizeof(code));
    h->hlp->log(h->inst, VMM_LOG_ERROR,
                "%s\n  RIP=%016llx %s CPL=%u RFLAGS=%08llx\n"
                "  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
                "  RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
                "  CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx EFER=%08llx\n%s",
                headline, r.rip, sym, s.cs.selector & 3u, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
                r.rsp, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, code);
}

/* ---- Reports ------------------------------------------------------------------------------------------ */

static void rc_report_fault(rc_host *h, vmm_vcpu *vcpu, unsigned slot)
{
    rc_fault_record f;
    memcpy(&f, h->mailbox + slot * RC_MAILBOX_SLOT + RC_MAILBOX_FAULT_OFFSET, sizeof(f));
    char sym[96], code[1024], bits[64] = "", where[128];
    rc_symbolize(h, f.rip, sym, sizeof(sym));
    rc_disassemble(h, vcpu, f.rip, 3, code, sizeof(code));
    if (f.vector == 14)
        rc_pf_bits(f.error, bits, sizeof(bits));
    const char *cr2_in = f.vector == 14 ? rc_describe_va(h, f.cr2, where, sizeof(where)) : NULL;
    h->hlp->log(h->inst, VMM_LOG_ERROR,
                "RC fault: %s (vector %" PRIu64 "), error code 0x%" PRIx64 "%s, RIP 0x%" PRIx64 " <%s>, CR2 0x%" PRIx64
                "%s%s%s, RSP 0x%" PRIx64 ", CS 0x%" PRIx64 "\n"
                "  RAX=%016" PRIx64 " RBX=%016" PRIx64 " RCX=%016" PRIx64 " RDX=%016" PRIx64 "\n"
                "  RSI=%016" PRIx64 " RDI=%016" PRIx64 " RBP=%016" PRIx64 "\n"
                "  faulting code:\n%s  the RC stopped; so does the VM",
                rc_vector_name(f.vector), f.vector, f.error, bits, f.rip, sym[0] ? sym : "outside the RC image", f.cr2,
                cr2_in ? " (" : "", cr2_in ? cr2_in : "", cr2_in ? ")" : "", f.rsp, f.cs, f.gprs[0], f.gprs[1],
                f.gprs[2], f.gprs[3], f.gprs[4], f.gprs[5], f.gprs[6], code);
}

static void rc_report_target_trap(rc_host *h, vmm_vcpu *vcpu, unsigned ctx_index)
{
    rc_ctx c;
    memcpy(&c, h->state + RC_STATE_CTX + ctx_index * RC_STATE_CTX_STRIDE, sizeof(c));
    char code[512], bits[64] = "", where[128];
    rc_disassemble(h, vcpu, c.rip, 1, code, sizeof(code));
    if (c.vector == 14)
        rc_pf_bits(c.error, bits, sizeof(bits));
    const char *in = c.vector == 14 ? rc_describe_va(h, c.cr2, where, sizeof(where)) : NULL;
    char cr2[192] = "";
    if (c.vector == 14)
        snprintf(cr2, sizeof(cr2), ", CR2 0x%" PRIx64 "%s%s", c.cr2, in ? " in " : "", in ? in : "");
    h->hlp->log(h->inst, VMM_LOG_WARN,
                "target trap (isolation): ring-3 code took %s (vector %" PRIu64 "), error code 0x%" PRIx64
                "%s%s; the access did not happen\n%s",
                rc_vector_name(c.vector), c.vector, c.error, bits, cr2, code);
}

static void rc_log_target_state(rc_host *h, unsigned ctx_index)
{
    rc_ctx c;
    rc_vm_state vs;
    memcpy(&c, h->state + RC_STATE_CTX + ctx_index * RC_STATE_CTX_STRIDE, sizeof(c));
    memcpy(&vs, h->state + RC_STATE_VM, sizeof(vs));
    h->hlp->log(h->inst, VMM_LOG_INFO,
                "target state changed: vCPU %u RIP=0x%" PRIx64 " RSP=0x%" PRIx64 " RAX=0x%" PRIx64 " RCX=0x%" PRIx64
                ", last trap vector %" PRIu64 ", %" PRIu64 " traps; VM state generation %u, %" PRIu64 " target runs",
                ctx_index, c.rip, c.rsp, c.rax, c.rcx, c.vector, c.traps, vs.generation, vs.target_runs);
}

/* ---- Hypercalls --------------------------------------------------------------------------------------- */

static int64_t rc_hc_dev_io(rc_host *h, vmm_vcpu *vcpu, const rc_hcall *c, uint64_t *ret)
{
    uint64_t kind = c->args[0], addr = c->args[1], size = c->args[2], is_write = c->args[3], val = c->args[4];
    if (kind > RC_DEV_MMIO || is_write > 1 || !vcpu)
        return RC_HC_EINVAL;
    if (kind == RC_DEV_PIO) {
        if ((size != 1 && size != 2 && size != 4) || addr > 0xffff || addr + size > 0x10000)
            return RC_HC_EINVAL;
        /* Our own port: the dispatch would come back here with our instance lock held. */
        if ((addr < RC_HC_PORT + 4 && addr + size > RC_HC_PORT) ||
            (h->r3_port_count && addr < (uint64_t)h->r3_port + h->r3_port_count && addr + size > h->r3_port))
            return RC_HC_EINVAL;
    } else {
        if ((size != 1 && size != 2 && size != 4 && size != 8) || addr + size < addr)
            return RC_HC_EINVAL;
        /* Memory, not a device: target RAM and the RC's own regions are not reachable this way. */
        if ((addr + size > h->ram_gpa && addr < h->ram_gpa + h->ram) ||
            (addr + size > RC_GPA_SYSTEM && addr < RC_GPA_TARGET_REGIONS_END))
            return RC_HC_EFAULT;
    }
    uint8_t data[8];
    for (unsigned i = 0; i < 8; i++)
        data[i] = (uint8_t)(val >> (8 * i));
    if (h->hlp->io_dispatch(vcpu, kind == RC_DEV_MMIO, addr, (unsigned)size, (int)is_write, data))
        return RC_HC_ENODEV;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)data[i] << (8 * i);
    *ret = is_write ? 0 : v;
    return RC_HC_OK;
}

static void rc_hc_mark(rc_host *h, uint64_t id, uint64_t count)
{
    static const char *const names[] = {"hypercall", "ring3-roundtrip", "ring3-loop", "hypercall-doorbell",
                                        "ring0-loop"};
    uint64_t now = h->hlp->clock_ns(h->inst);
    if (id == 0 || id >= RC_MARKS)
        return;
    h->mark_ns[id] = now;
    if (id % 2 == 0 && h->mark_ns[id - 1] && count && id / 2 - 1 < sizeof(names) / sizeof(names[0])) {
        double ns = (double)(now - h->mark_ns[id - 1]);
        h->hlp->log(h->inst, VMM_LOG_INFO, "bench: %s count=%" PRIu64 " total_ms=%.3f ns_per_op=%.2f", names[id / 2 - 1],
                    count, ns / 1e6, ns / (double)count);
    }
}

void rc_hc_port_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    rc_host *h = state;
    vmm_vcpu *vcpu = h->hlp->vcpu_current(h->inst);
    /* The doorbell carries the mailbox slot; only vCPU 0's exists today. */
    if (offset != 0 || size != 4 || val != 0 || !vcpu || h->hlp->vcpu_index(vcpu) != 0) {
        h->hc_bad++;
        h->hlp->log(h->inst, VMM_LOG_WARN, "ignored a %u-byte write of 0x%" PRIx64 " to hypercall port 0x%" PRIx64
                    " (expected a 4-byte write of the mailbox slot to 0x%x)", size, val, RC_HC_PORT + offset, RC_HC_PORT);
        return;
    }
    unsigned slot = (unsigned)val;
    rc_hcall *mb = (rc_hcall *)(void *)(h->mailbox + slot * RC_MAILBOX_SLOT);
    rc_hcall c;
    memcpy(&c, mb, sizeof(c)); /* one snapshot: what we check is what we use */
    rc_log_drain(h);
    int64_t status = RC_HC_OK;
    uint64_t r0 = 0, r1 = 0;
    if (c.nr < RC_HC_COUNT)
        h->hc_counts[c.nr]++;
    switch (c.nr) {
    case RC_HC_NOP:
    case RC_HC_LOG_FLUSH:
        break;
    case RC_HC_STOP:
        if (c.args[0] > 255) {
            status = RC_HC_EINVAL;
            break;
        }
        h->hlp->log(h->inst, VMM_LOG_INFO, "the RC stops the VM with status %" PRIu64, c.args[0]);
        h->hlp->vm_stop(h->inst, (int)c.args[0]);
        break;
    case RC_HC_DEV_IO:
        status = rc_hc_dev_io(h, vcpu, &c, &r0);
        break;
    case RC_HC_STATE_CHANGED: {
        if (c.args[0] != 0) {
            status = RC_HC_EINVAL;
            break;
        }
        rc_log_target_state(h, 0);
        rc_vm_state vs;
        memcpy(&vs, h->state + RC_STATE_VM, sizeof(vs));
        r0 = vs.rc_cookie;
        break;
    }
    case RC_HC_TEST:
        r0 = c.args[0] + c.args[1];
        r1 = c.args[0] ^ c.args[2];
        break;
    case RC_HC_FAULT:
        h->faulted = 1;
        rc_report_fault(h, vcpu, slot);
        h->hlp->vm_stop(h->inst, 1);
        break;
    case RC_HC_MARK:
        rc_hc_mark(h, c.args[0], c.args[1]);
        break;
    case RC_HC_TARGET_TRAP:
        if (c.args[0] != 0) {
            status = RC_HC_EINVAL;
            break;
        }
        rc_report_target_trap(h, vcpu, 0);
        break;
    default:
        h->hc_unknown++;
        h->hlp->log(h->inst, VMM_LOG_WARN, "unknown hypercall number 0x%" PRIx64 " (args 0x%" PRIx64 ", 0x%" PRIx64
                    ", 0x%" PRIx64 "): returned ENOSYS (%d); valid numbers are 0 to %u", c.nr, c.args[0], c.args[1],
                    c.args[2], RC_HC_ENOSYS, RC_HC_COUNT - 1);
        status = RC_HC_ENOSYS;
        break;
    }
    mb->ret[0] = r0;
    mb->ret[1] = r1;
    __atomic_store_n(&mb->status, status, __ATOMIC_RELEASE);
}
