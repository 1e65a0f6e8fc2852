/* x86kvm: see x86kvm.h. */
#include "x86kvm.h"

#include <string.h>

struct kvm_segment x86kvm_flat_segment(uint16_t sel, uint8_t type, unsigned dpl, int code64)
{
    return (struct kvm_segment){.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
                                .dpl = (uint8_t)dpl, .db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1};
}

void x86kvm_tss_descriptor(uint64_t base, uint32_t limit, uint64_t out[2])
{
    out[0] = (limit & 0xffffull) | ((base & 0xffffffull) << 16) | (0xbull << 40) | (1ull << 47) |
             ((uint64_t)(limit >> 16 & 0xf) << 48) | (((base >> 24) & 0xffull) << 56);
    out[1] = base >> 32;
}

void x86kvm_idt_gate(uint8_t *slot, uint64_t off, uint16_t sel, unsigned ist)
{
    uint64_t lo = (off & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)(ist & 7) << 32) | (0x8eull << 40) |
                  (((off >> 16) & 0xffff) << 48);
    uint64_t hi = off >> 32;
    memcpy(slot, &lo, 8);
    memcpy(slot + 8, &hi, 8);
}

void x86kvm_long_mode_sregs(struct kvm_sregs *s, const x86kvm_long_mode *lm)
{
    s->cs = x86kvm_flat_segment(lm->code_sel, 0xb, 0, 1);
    s->ds = s->es = s->fs = s->gs = s->ss = x86kvm_flat_segment(lm->data_sel, 0x3, 0, 0);
    s->tr = (struct kvm_segment){.base = lm->tss, .limit = lm->tss_limit, .selector = lm->tss_sel, .type = 0xb,
                                 .present = 1};
    s->ldt = (struct kvm_segment){.type = 0x2, .unusable = 1};
    s->gdt.base = lm->gdt;
    s->gdt.limit = lm->gdt_limit;
    s->idt.base = lm->idt;
    s->idt.limit = lm->idt_limit;
    s->cr0 = 0x80050033ull; /* PG WP NE ET MP PE */
    s->cr3 = lm->cr3;
    s->cr4 = 0x620;         /* OSXMMEXCPT OSFXSR PAE */
    s->efer = 0xd00;        /* NXE LMA LME */
}

size_t x86kvm_read_linear(const vmm_helpers *hlp, vmm_instance *inst, vmm_vcpu *vcpu, uint64_t linear, int paged,
                          uint8_t *buf, size_t len)
{
    uint64_t gpa = linear;
    if (paged && (!vcpu || hlp->vcpu_translate(vcpu, linear, &gpa)))
        return 0;
    size_t in_page = 4096 - (size_t)(gpa & 4095);
    if (len > in_page)
        len = in_page;
    /* The page may end in a hole of the memory map: read as much of its start as there is. */
    while (len && hlp->mem_read(inst, gpa, buf, len))
        len--;
    return len;
}

vmm_exit_action x86kvm_dump_and_stop(const vmm_helpers *hlp, vmm_instance *inst, vmm_vcpu *vcpu, const char *why,
                                     int status, x86kvm_dump_fn dump, void *owner)
{
    dump(owner, vcpu, why);
    hlp->vm_stop(inst, status);
    return VMM_ACTION_STOP;
}
