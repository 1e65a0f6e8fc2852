/*
 * x86-raw internals: x86 guests run raw under KVM; what the host cannot run is relegated here. Shared by the
 * files of this plugin only (boot.c builds the start state, relegate.c handles instructions the host could not
 * execute, dump.c prints vCPU state, x86raw.c is the plugin itself).
 */
#ifndef X86RAW_H
#define X86RAW_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

/* The boot area below belongs to x86-raw in long-mode starts (docs/x86-raw.md). */
#define X86_BOOT_AREA_END 0x80000ull
#define X86_GDT_ADDR 0x1000ull
#define X86_IDT_ADDR 0x2000ull
#define X86_STUBS_ADDR 0x3000ull
#define X86_PML4_ADDR 0x4000ull
#define X86_PDPT_ADDR 0x5000ull
#define X86_PD_ADDR 0x6000ull /* four page directories: 4 GiB of 2 MiB pages */
#define X86_TSS_ADDR 0xa000ull /* 0x68 bytes, then an 8 KiB I/O bitmap and its 0xff end byte */
#define X86_TSS_IOMAP_OFFSET 0x68u
#define X86_TSS_LIMIT (X86_TSS_IOMAP_OFFSET + 0x2000u)
#define X86_STACK_TOP 0x80000ull
#define X86_FLAT_DEFAULT_ADDR 0x10000ull

#define X86_SEL_CODE64 0x08
#define X86_SEL_DATA 0x10
#define X86_SEL_TSS 0x28

/* Port the default exception handlers write their vector to. */
#define X86_REPORT_PORT 0x5f0

/* Guest RAM above this goes above 4 GiB, leaving the hole for the platform's MMIO (LAPIC, IOAPIC, ...). */
#define X86_LOW_RAM_MAX 0xc0000000ull
#define X86_HIGH_RAM_BASE 0x100000000ull
/* Host-driver private areas (KVM on VMX needs them), just below the BIOS area at the top of 4 GiB. */
#define X86_PRIVATE_AREA 0xfffbd000ull
#define X86_IDENTITY_MAP_AREA 0xfffbc000ull

enum x86_relegation_kind {
    X86_RELEGATE_INT3,
    X86_RELEGATE_CMPXCHG16B,
    X86_RELEGATE_CMPXCHG8B,
    X86_RELEGATE_XSAVE,
    X86_RELEGATE_XSAVES,
    X86_RELEGATE_XRSTOR,
    X86_RELEGATE_XRSTORS,
    X86_RELEGATE_XGETBV,
    X86_RELEGATE_BITS,
    X86_RELEGATE_CRC32,
    X86_RELEGATE_SMAP,
    X86_RELEGATE_FWAIT,
    X86_RELEGATE_NATIVE,
    X86_RELEGATE_COUNT
};

typedef enum x86_boot_mode { X86_BOOT_NONE, X86_BOOT_REAL, X86_BOOT_LONG } x86_boot_mode;

typedef struct x86raw {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    int irqchip;
    x86_boot_mode boot_mode;
    uint64_t entry;       /* long mode: RIP; real mode: the image's physical address */
    uint64_t linux_zero_page; /* --kernel: the boot_params handed to the kernel in RSI; 0 otherwise */
    uint64_t relegations[X86_RELEGATE_COUNT];
} x86raw;

/* state.c: register the saved-state units. */
int x86_state_register(x86raw *x);

/* boot.c */
int x86_load_images(x86raw *x, const vmm_image *images, unsigned nimages);
int x86_build_long_mode_tables(x86raw *x);
void x86_set_long_mode_sregs(struct kvm_sregs *s);
void x86_set_real_mode_sregs(struct kvm_sregs *s, uint64_t addr);

/* linux.c: --kernel (bzImage or vmlinux), --initrd, --append; initrd may be NULL. */
int x86_boot_linux(x86raw *x, const vmm_image *kernel, const vmm_image *initrd);
/* The MP table for ncpus vCPUs (hlp->vcpu_count: every vCPU of the VM). */
int x86_boot_mptable(x86raw *x, unsigned ncpus);

/* relegate.c */
vmm_exit_action x86_relegate(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit);
const char *x86_relegation_name(unsigned kind);

/* Shared by the relegations (relegate.c, native.c). The copy returns 0, or the first unmapped linear address
 * (1 for page 0); page_fault injects #PF for it. */
#include <capstone/capstone.h>
int x86_relegate_mem_operand(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const cs_insn *insn,
                             uint64_t *linear);
uint64_t x86_relegate_copy(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, void *buf, size_t len, int write);
int x86_relegate_page_fault(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, int write);
int x86_relegate_advance(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn);

/* native.c: run a SIMD/FP instruction on the host CPU with the guest's state; 1 done, 0 not applicable, -1 error. */
int x86_native_relegate(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn);
/* The same for register-only VEX/EVEX instructions Capstone does not decode. */
int x86_native_relegate_raw(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const uint8_t *code, size_t len);

/* dump.c */
/* Guest-physical address of the instruction pointer's linear address, or -1. */
int x86_rip_to_gpa(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const struct kvm_sregs *s, uint64_t *gpa);
/* Disassemble up to max_insns at the vCPU's RIP into buf; returns the first instruction's length, 0 if none. */
unsigned x86_disassemble(const uint8_t *code, size_t len, uint64_t addr, const struct kvm_sregs *s, unsigned max_insns,
                         char *buf, size_t buflen);
/* Read up to len bytes of code at the vCPU's RIP; returns how many could be read. */
size_t x86_read_code(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const struct kvm_sregs *s, uint8_t *code,
                     size_t len);
/* Log the headline, registers and the code at RIP as one message at error level. */
void x86_dump_vcpu(x86raw *x, vmm_vcpu *vcpu, const char *headline);

#endif
