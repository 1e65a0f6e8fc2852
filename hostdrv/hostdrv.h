/*
 * hostdrv: the execution engines, behind one interface. An engine runs a VM's vCPUs and owns what the guest
 * sees of the host: memory slots (read-only, dirty-logged), vCPU state, interrupt delivery, exits turned into
 * vmm_exit events (VMM_EXIT_MSR for the registers asked for with VMM_FEATURE_MSR_EXIT, answered through
 * pointers into the engine's run area), and the host's limits (VMM_VM_STATE_HOST_LIMITS).
 *
 * Two engines: "kvm" (the host kernel runs the guest, /dev/kvm) and "inproc" (the architecture plugin's own
 * software engine runs it on the vCPU thread; guest RAM is plain host memory). What an engine can do is asked
 * (hostdrv_vm_caps), never assumed from its name. Called by core/ only; plugins reach it through the SDK.
 */
#ifndef VMM_HOSTDRV_H
#define VMM_HOSTDRV_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

typedef struct hostdrv_engine hostdrv_engine;
typedef struct hostdrv hostdrv;
typedef struct hostdrv_vm hostdrv_vm;
typedef struct hostdrv_vcpu hostdrv_vcpu;

enum {
    HOSTDRV_SLOT_READONLY = 1u << 0, /* guest writes exit as MMIO and do not change memory */
    HOSTDRV_SLOT_DIRTY_LOG = 1u << 1,
};

/* What a VM of an engine can do (hostdrv_vm_caps). */
enum {
    HOSTDRV_CAP_READONLY_SLOTS = 1u << 0,
    HOSTDRV_CAP_DIRTY_LOG = 1u << 1,     /* hostdrv_vm_get_dirty_log works for HOSTDRV_SLOT_DIRTY_LOG slots */
    HOSTDRV_CAP_IRQCHIP = 1u << 2,       /* hostdrv_vm_irq_line reaches an interrupt controller */
    HOSTDRV_CAP_MSI = 1u << 3,           /* hostdrv_vm_signal_msi does */
    HOSTDRV_CAP_STATE_CLASSES = 1u << 4, /* vCPU and VM state through vmm_state_class buffers */
};

/* An exit reason beyond the SDK's: the in-process engine's architecture stopped the VM (its status, if it gave
 * one, is already recorded through the vm_stop helper). */
#define HOSTDRV_EXIT_ENGINE_STOP 0x10000u

/* What the in-process engine runs for one vCPU: the architecture's software engine, called on the vCPU thread.
 * run returns 0 when it came back because the core asked (pause, stop), 1 when the VM is to stop. */
typedef struct hostdrv_soft {
    int (*run)(void *ctx);
    void *ctx;
} hostdrv_soft;

/* What an engine may ask of the architecture for the VM as a whole: its interrupt controller (lines and messages)
 * and its software engine's dirty-page tracking (see vmm_arch_ops.dirty_log). The inproc engine has none of its
 * own, so a NULL member leaves it without that capability (hostdrv_vm_caps says so); kvm routes lines and
 * messages to the architecture while no in-kernel controller was created (riscv64's PLIC under exec=rc), and logs
 * dirty pages itself. */
typedef struct hostdrv_soft_vm {
    int (*irq_line)(void *ctx, uint32_t line, int level);
    int (*msi)(void *ctx, uint64_t addr, uint32_t data);
    int (*dirty_log)(void *ctx, uint64_t gpa, uint64_t len, uint64_t *bitmap);
    void *ctx;
} hostdrv_soft_vm;

/* The engines, by name ("kvm", "inproc"); NULL for an unknown name. */
const hostdrv_engine *hostdrv_engine_find(const char *name);
const char *hostdrv_engine_name(const hostdrv_engine *engine);
/* One line for --help and `vmm plugins`: what the engine is. */
const char *hostdrv_engine_summary(const hostdrv_engine *engine);
/* "kvm, inproc": every engine's name, for messages. */
const char *hostdrv_engine_names(void);

/* Open an engine; on failure returns NULL and writes a one-line reason (e.g. "/dev/kvm: No such file or
 * directory") into err. */
hostdrv *hostdrv_open(const hostdrv_engine *engine, char *err, size_t errlen);
void hostdrv_close(hostdrv *drv);
const hostdrv_engine *hostdrv_engine_of(const hostdrv *drv);
/* Layout name of the state classes (see vmm_state_class), e.g. "kvm-x86_64"; with NULL, the layout of the
 * engine that state classes have on this host (what plugins are told at load time). */
const char *hostdrv_abi(const hostdrv *drv);
/* Largest number of vCPUs the engine allows. */
unsigned hostdrv_max_vcpus(const hostdrv *drv);
/* A one-line description of the engine and the capabilities it found, for --log info. */
const char *hostdrv_describe(const hostdrv *drv);

/* soft: what the engine may route to the architecture (see hostdrv_soft_vm; may be NULL). */
hostdrv_vm *hostdrv_vm_create(hostdrv *drv, const hostdrv_soft_vm *soft, char *err, size_t errlen);
void hostdrv_vm_destroy(hostdrv_vm *vm);
unsigned hostdrv_vm_caps(const hostdrv_vm *vm);
/* Map host memory into the guest. slot ids are the caller's; size 0 removes a slot. */
int hostdrv_vm_map(hostdrv_vm *vm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags);
/* Bitmap (one bit per 4 KiB page, caller sized) of pages written since the last call, for a dirty-logged slot. */
int hostdrv_vm_get_dirty_log(hostdrv_vm *vm, uint32_t slot, uint64_t *bitmap);
int hostdrv_vm_enable_feature(hostdrv_vm *vm, vmm_vm_feature feature, uint64_t arg);
int hostdrv_vm_irq_line(hostdrv_vm *vm, uint32_t line, int level);
/* Deliver a message-signalled interrupt through the engine's interrupt controller; safe from any thread. */
int hostdrv_vm_signal_msi(hostdrv_vm *vm, uint64_t addr, uint32_t data);
int hostdrv_vm_get_state(hostdrv_vm *vm, vmm_vm_state_class cls, void *buf, size_t len);
int hostdrv_vm_set_state(hostdrv_vm *vm, vmm_vm_state_class cls, const void *buf, size_t len);

/* soft: what the in-process engine runs for this vCPU (other engines ignore it). */
hostdrv_vcpu *hostdrv_vcpu_create(hostdrv_vm *vm, unsigned index, const hostdrv_soft *soft, char *err,
                                  size_t errlen);
void hostdrv_vcpu_destroy(hostdrv_vcpu *vcpu);
/* Run the guest until the next exit, which is described in *exit. PIO/MMIO data pointers stay valid until
 * the next run. Returns 0, or -1 with errno set when the engine refused to run (EINTR is reported as
 * VMM_EXIT_INTERRUPTED instead). */
int hostdrv_vcpu_run(hostdrv_vcpu *vcpu, vmm_exit *exit);
/* Make the next or the current hostdrv_vcpu_run return VMM_EXIT_INTERRUPTED soon; safe from other threads
 * (the caller also signals the vCPU thread). A run that starts kicked first finishes the instruction the last
 * exit left pending (which may itself exit again) and executes nothing further: the vCPU's state is then
 * complete, as a save needs it. Every engine keeps this promise. */
void hostdrv_vcpu_kick(hostdrv_vcpu *vcpu);
int hostdrv_vcpu_get_state(hostdrv_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len);
int hostdrv_vcpu_set_state(hostdrv_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len);
int hostdrv_vcpu_translate(hostdrv_vcpu *vcpu, uint64_t gva, uint64_t *gpa);

#endif /* VMM_HOSTDRV_H */
