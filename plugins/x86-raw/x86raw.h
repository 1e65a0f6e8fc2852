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

#include "x86kvm.h"

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

/*
 * Syscall relegation (syscall.c), only where the host leaves a ring-3 `syscall` at CPL 3 (kvm_pvm): the guest's
 * LSTAR is kept by x86-raw (its rdmsr/wrmsr exit to the plugin), KVM's LSTAR points at a fake address whose page
 * the guest's page tables map user-accessible to a guest-physical page with no memory behind it, so a syscall
 * exits there and x86-raw finishes the ring transition into the guest's handler. The three page-table pages
 * (PDPT, PD, PT) are RAM the guest does not own: in x86-raw's boot area for ELF starts, reserved in the e820 map
 * for Linux. docs/x86-raw.md has the details.
 */
#define X86_MSR_STAR 0xc0000081u
#define X86_MSR_LSTAR 0xc0000082u
#define X86_MSR_SFMASK 0xc0000084u
#define X86_SYSCALL_FAKE_LSTAR 0xfffffe8000000000ull /* PML4 slot 509: the 4-level "unused hole", copied to every mm */
#define X86_SYSCALL_PML4_SLOT 509u
#define X86_SYSCALL_TRAP_GPA 0xfffb0000ull /* no memory slot, no device: a fetch there fails, data accesses are MMIO */
#define X86_SYSCALL_PT_ELF 0xd000ull       /* 3 pages after the TSS in the boot area */
#define X86_SYSCALL_PT_LINUX 0x9c000ull    /* 3 pages below the MP table, reserved in the e820 map */
#define X86_SYSCALL_PT_PAGES 3u
#define X86_MAX_VCPUS 1024u
#define X86_MSR_TSC 0x10u
#define X86_MSR_TSC_DEADLINE 0x6e0u
/* timer-slack=auto where the guest's kernel is emulated: 50 timer interrupts a second at most (Linux asks 250). */
#define X86_TIMER_SLACK_AUTO_NS 20000000ull

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
    uint64_t native_insns; /* instructions run natively, in X86_RELEGATE_NATIVE's exits (several per exit) */
    /* Syscall relegation (syscall.c). */
    int syscall_relegation;    /* on: the host needs it and gave LSTAR exits; set in vm_create */
    int syscall_unavailable;   /* the fake mapping could not be installed: LSTAR writes go to the host */
    uint64_t syscall_pt;       /* the 3 page-table pages as restored from a snapshot; 0: as the boot mode says */
    uint64_t syscalls_relegated, syscall_spoofs;
    uint64_t guest_lstar[X86_MAX_VCPUS]; /* the guest's LSTAR per vCPU, while the host's holds the fake one */
    /* The TSC-deadline timer with slack (timer.c); deadlines is NULL when KVM keeps the timer. */
    uint64_t timer_slack_ns;
    struct x86_deadline *deadlines;
    uint64_t timer_delivered, timer_held_back, timer_early, timer_tsc_drifts;
} x86raw;

/* devices.c: the board's slots for MMIO devices (vmm_board.mmio_slot), the check of the devices' windows and
 * lines against RAM (low_ram bytes from 0, high_ram from 4 GiB) and the board, the virtio_mmio.device= parameters
 * added to the user's command line (into buf; -1 when they do not fit). */
int x86_board_mmio_slot(unsigned index, uint64_t size, uint64_t *base, uint32_t *irq);
int x86_devices_check(x86raw *x, uint64_t low_ram, uint64_t high_ram);
int x86_devices_cmdline(x86raw *x, const char *user, char *buf, size_t size);

/* state.c: register the saved-state units. */
int x86_state_register(x86raw *x);

/* boot.c */
int x86_load_images(x86raw *x, const vmm_image *images, unsigned nimages);
int x86_build_long_mode_tables(x86raw *x);
void x86_set_long_mode_sregs(struct kvm_sregs *s);
void x86_set_real_mode_sregs(struct kvm_sregs *s, uint64_t addr);

/* linux.c: --kernel (bzImage or vmlinux), --initrd, --append; initrd may be NULL. */
int x86_boot_linux(x86raw *x, const vmm_image *kernel, const vmm_image *initrd);
/* Once the host's limits are known (vm_create): the e820 map in the zero page, which keeps the syscall trap's
 * page tables out of the guest's RAM where syscall is relegated. */
int x86_boot_linux_finish(x86raw *x);
/* The MP table for ncpus vCPUs (hlp->vcpu_count: every vCPU of the VM). */
int x86_boot_mptable(x86raw *x, unsigned ncpus);

/* syscall.c */
int x86_syscall_setup(x86raw *x);                     /* vm_create: decide, ask for LSTAR exits */
int x86_syscall_vcpu_init(x86raw *x, vmm_vcpu *vcpu); /* the host's LSTAR := the fake address */
vmm_exit_action x86_syscall_msr_exit(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit);
/* At an emulation failure: 1 a relegated syscall (or a spoofed jump, given #PF), 0 not ours, -1 failed. */
int x86_syscall_relegate(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, struct kvm_sregs *s);
/* Saved state: the guest's LSTAR values, an optional section of the x86-cpus unit. */
int x86_syscall_save(x86raw *x, vmm_ssm *ssm);
int x86_syscall_load(x86raw *x, vmm_ssm *ssm);

/* timer.c */
int x86_timer_parse_slack(const char *s, uint64_t *ns, char *err, size_t errlen); /* "auto": UINT64_MAX */
int x86_timer_setup(x86raw *x); /* vm_create: decide, ask for IA32_TSC_DEADLINE exits, create the timers */
void x86_timer_destroy(x86raw *x);
void x86_timer_fire(void *state, vmm_timer *timer);
vmm_exit_action x86_timer_msr_exit(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit);
int x86_timer_save(x86raw *x, vmm_ssm *ssm); /* optional section "tsc-deadline" of x86-cpus */
int x86_timer_load(x86raw *x, vmm_ssm *ssm);

/* relegate.c */
vmm_exit_action x86_relegate(x86raw *x, vmm_vcpu *vcpu, const vmm_exit *exit);
const char *x86_relegation_name(unsigned kind);

/* Shared by the relegations (relegate.c, native.c). The copy returns 0, or the first unmapped linear address
 * (1 for page 0); page_fault injects #PF for it. */
#include <capstone/capstone.h>
int x86_relegate_mem_operand(x86raw *x, vmm_vcpu *vcpu, const struct kvm_regs *r, const cs_insn *insn,
                             uint64_t *linear);
/* The same with the system registers already at hand (no host-driver call). */
int x86_relegate_mem_operand_at(const struct kvm_regs *r, const struct kvm_sregs *s, const cs_insn *insn,
                                uint64_t *linear);
uint64_t x86_relegate_copy(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, void *buf, size_t len, int write);
int x86_relegate_page_fault(x86raw *x, vmm_vcpu *vcpu, uint64_t linear, int write);
int x86_relegate_inject(x86raw *x, vmm_vcpu *vcpu, unsigned vector, int has_error_code, uint32_t error_code);
int x86_relegate_advance(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const cs_insn *insn);

/* native.c: run a SIMD/FP instruction on the host CPU with the guest's state, and the ones after it that it can
 * (*ran counts them); 1 done, 0 not applicable, -1 error. */
int x86_native_relegate(x86raw *x, vmm_vcpu *vcpu, struct kvm_regs *r, const struct kvm_sregs *s, const cs_insn *insn,
                        unsigned *ran);
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
/* Dump the vCPU under why and stop the VM with status (x86kvm_dump_and_stop with x86-raw's dump). */
vmm_exit_action x86_stop_with_dump(x86raw *x, vmm_vcpu *vcpu, const char *why, int status);

#endif
