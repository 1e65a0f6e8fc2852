/*
 * x86-raw diagnostics: reading the code at a vCPU's instruction pointer, disassembling it with Capstone, and
 * the register dump printed when a guest stops on an error.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86raw.h"

static int x86_long_mode_code(const struct kvm_sregs *s)
{
    return (s->efer & 0x400) && s->cs.l;
}

static uint64_t x86_rip_linear(const struct kvm_regs *r, const struct kvm_sregs *s)
{
    return x86_long_mode_code(s) ? r->rip : (s->cs.base + r->rip) & 0xffffffffull;
}

int x86_rip_to_gpa(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const struct kvm_sregs *s, uint64_t *gpa)
{
    uint64_t linear = x86_rip_linear(r, s);
    if (!(s->cr0 & 0x80000000ull)) {
        *gpa = linear;
        return 0;
    }
    return x->hlp->vcpu_translate(vcpu, linear, gpa);
}

size_t x86_read_code(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const struct kvm_sregs *s, uint8_t *code,
                     size_t len)
{
    return x86kvm_read_linear(x->hlp, x->inst, vcpu, x86_rip_linear(r, s), (s->cr0 & 0x80000000ull) != 0, code, len);
}

unsigned x86_disassemble(const uint8_t *code, size_t len, uint64_t addr, const struct kvm_sregs *s, unsigned max_insns,
                         char *buf, size_t buflen)
{
    cs_mode mode = x86_long_mode_code(s) ? CS_MODE_64 : (s->cr0 & 1) && s->cs.db ? CS_MODE_32 : CS_MODE_16;
    csh h;
    buf[0] = '\0';
    if (cs_open(CS_ARCH_X86, mode, &h) != CS_ERR_OK)
        return 0;
    cs_insn *insn;
    size_t n = cs_disasm(h, code, len, addr, max_insns, &insn);
    unsigned first = n ? insn[0].size : 0;
    size_t used = 0;
    for (size_t i = 0; i < n && used < buflen; i++) {
        char bytes[3 * 16 + 1] = "";
        for (unsigned b = 0; b < insn[i].size && b < 16; b++)
            snprintf(bytes + 3 * b, sizeof(bytes) - 3 * b, "%02x ", insn[i].bytes[b]);
        int w = snprintf(buf + used, buflen - used, "%s  %016" PRIx64 ":  %-24s %s %s\n", i == 0 ? "=>" : "  ",
                         insn[i].address, bytes, insn[i].mnemonic, insn[i].op_str);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n)
        cs_free(insn, n);
    cs_close(&h);
    return first;
}

static void x86_format_segment(char *buf, size_t len, const char *name, const struct kvm_segment *seg)
{
    snprintf(buf, len, "%s=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u", name, seg->selector,
             (unsigned long long)seg->base, seg->limit, seg->type, seg->dpl, seg->present, seg->l, seg->db);
}

void x86_dump_vcpu(x86raw *x, vmm_vcpu *vcpu, const char *headline)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    unsigned idx = x->hlp->vcpu_index(vcpu);
    if (x->hlp->vcpu_get_state(vcpu, VMM_STATE_GPRS, &r, sizeof(r)) ||
        x->hlp->vcpu_get_state(vcpu, VMM_STATE_SYSREGS, &s, sizeof(s))) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "vCPU %u: %s (registers unavailable)", idx, headline);
        return;
    }
    char segs[6][96];
    x86_format_segment(segs[0], sizeof(segs[0]), "CS", &s.cs);
    x86_format_segment(segs[1], sizeof(segs[1]), "SS", &s.ss);
    x86_format_segment(segs[2], sizeof(segs[2]), "DS", &s.ds);
    x86_format_segment(segs[3], sizeof(segs[3]), "ES", &s.es);
    x86_format_segment(segs[4], sizeof(segs[4]), "TR", &s.tr);
    x86_format_segment(segs[5], sizeof(segs[5]), "FS", &s.fs);

    uint8_t code[64];
    size_t n = x86_read_code(x, vcpu, &r, &s, code, sizeof(code));
    char disasm[1024] = "  (no code readable at RIP)\n";
    uint64_t linear = x86_long_mode_code(&s) ? r.rip : s.cs.base + r.rip;
    if (n && !x86_disassemble(code, n, linear, &s, 6, disasm, sizeof(disasm)))
        snprintf(disasm, sizeof(disasm), "  (the bytes at RIP do not decode: %02x %02x %02x %02x)\n", code[0],
                 n > 1 ? code[1] : 0, n > 2 ? code[2] : 0, n > 3 ? code[3] : 0);

    char msg[4096];
    snprintf(msg, sizeof(msg),
             "vCPU %u: %s\n"
             "  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
             "  RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n"
             "  R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
             "  R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n"
             "  RIP=%016llx RFLAGS=%08llx CPL=%u\n"
             "  %s\n  %s\n  %s\n  %s\n  %s\n  %s\n"
             "  GDT=%016llx/%04x IDT=%016llx/%04x\n"
             "  CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx EFER=%08llx\n"
             "  code at RIP:\n%s",
             idx, headline, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
             r.r13, r.r14, r.r15, r.rip, r.rflags, s.cs.selector & 3u, segs[0], segs[1], segs[2], segs[3], segs[4],
             segs[5], (unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit,
             s.cr0, s.cr2, s.cr3, s.cr4, s.efer, disasm);
    x->hlp->log(x->inst, VMM_LOG_ERROR, "%s", msg);
}

static void x86_dump_owner(void *owner, vmm_vcpu *vcpu, const char *headline)
{
    x86_dump_vcpu(owner, vcpu, headline);
}

vmm_exit_action x86_stop_with_dump(x86raw *x, vmm_vcpu *vcpu, const char *why, int status)
{
    return x86kvm_dump_and_stop(x->hlp, x->inst, vcpu, why, status, x86_dump_owner, x);
}
