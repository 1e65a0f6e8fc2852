/*
 * x86kvm: helpers for architecture plugins whose guests are x86-64 code on the kvm engine and whose vCPU state is
 * KVM's x86-64 layout (state_abi "kvm-x86_64"): the pieces of a long-mode start state (flat segments, the TSS
 * descriptor, interrupt gates, the system registers), reading guest code through the guest's own page tables,
 * and giving up on a vCPU with a report. A static library linked into x86-raw and the RC hypervisor's host end
 * (rc-selftest, riscv64 with exec=rc); it reaches the core only through the SDK helpers it is handed.
 */
#ifndef X86KVM_H
#define X86KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

/* A flat 4 GiB segment (base 0, page-granular limit). code64: long-mode code (L set, D/B clear). */
struct kvm_segment x86kvm_flat_segment(uint16_t sel, uint8_t type, unsigned dpl, int code64);

/* The two GDT words of a busy 64-bit TSS descriptor (TR is loaded with it already busy). */
void x86kvm_tss_descriptor(uint64_t base, uint32_t limit, uint64_t out[2]);

/* A 64-bit interrupt gate (DPL 0) to off in code segment sel, on IST stack ist (0: none), into 16 bytes of IDT. */
void x86kvm_idt_gate(uint8_t *slot, uint64_t off, uint16_t sel, unsigned ist);

/* Where a plugin put the tables of its long-mode start state, at the addresses the CPU sees. */
typedef struct x86kvm_long_mode {
    uint16_t code_sel, data_sel, tss_sel; /* ring-0 64-bit code, ring-0 data, the TSS */
    uint64_t gdt, idt, tss, cr3;
    uint16_t gdt_limit, idt_limit;
    uint32_t tss_limit;
} x86kvm_long_mode;

/* The system registers of a CPU that starts at ring 0 in 64-bit mode: flat segments, paging with PAE and NX,
 * write protection at ring 0, SSE usable. */
void x86kvm_long_mode_sregs(struct kvm_sregs *s, const x86kvm_long_mode *lm);

/* Up to len bytes of guest memory at a linear address, through the vCPU's page tables when paged is set, else
 * at the same physical address. Stops at the end of the page, because the next one may be unmapped or lie
 * elsewhere physically. Returns how many bytes were read (0: none readable). */
size_t x86kvm_read_linear(const vmm_helpers *hlp, vmm_instance *inst, vmm_vcpu *vcpu, uint64_t linear, int paged,
                          uint8_t *buf, size_t len);

/* The plugin's own report of a vCPU (registers, code, whatever it can name), logged under headline. */
typedef void (*x86kvm_dump_fn)(void *owner, vmm_vcpu *vcpu, const char *headline);

/* Give up on a guest that cannot go on (a triple fault, an instruction nothing can run): report the vCPU under
 * why, stop the VM with status, and return the action that ends this vCPU's run. */
vmm_exit_action x86kvm_dump_and_stop(const vmm_helpers *hlp, vmm_instance *inst, vmm_vcpu *vcpu, const char *why,
                                     int status, x86kvm_dump_fn dump, void *owner);

#endif
