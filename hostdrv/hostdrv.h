/*
 * hostdrv: the host execution driver. Puts the host's virtualisation interface (today KVM through /dev/kvm)
 * behind a neutral one: open and probe, VMs, memory slots (read-only, dirty-logged), vCPUs, and exits turned
 * into vmm_exit events (VMM_EXIT_MSR for the registers asked for with VMM_FEATURE_MSR_EXIT, answered through
 * pointers into the driver's run area), and the host's limits (VMM_VM_STATE_HOST_LIMITS, found by a probe in a
 * scratch VM the first time they are asked for). Called by core/ only; plugins reach it through the SDK helper
 * table.
 */
#ifndef VMM_HOSTDRV_H
#define VMM_HOSTDRV_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

typedef struct hostdrv hostdrv;
typedef struct hostdrv_vm hostdrv_vm;
typedef struct hostdrv_vcpu hostdrv_vcpu;

enum {
    HOSTDRV_SLOT_READONLY = 1u << 0, /* guest writes exit as MMIO and do not change memory */
    HOSTDRV_SLOT_DIRTY_LOG = 1u << 1,
};

/* Open the driver; on failure returns NULL and writes a one-line reason (e.g. "/dev/kvm: No such file or
 * directory") into err. */
hostdrv *hostdrv_open(char *err, size_t errlen);
void hostdrv_close(hostdrv *drv);
/* Layout name of the state classes (see vmm_state_class), e.g. "kvm-x86_64". */
const char *hostdrv_abi(const hostdrv *drv);
/* Largest number of vCPUs the driver recommends / allows. */
unsigned hostdrv_max_vcpus(const hostdrv *drv);
/* A one-line description of the driver and the capabilities it found, for --log info. */
const char *hostdrv_describe(const hostdrv *drv);

hostdrv_vm *hostdrv_vm_create(hostdrv *drv, char *err, size_t errlen);
void hostdrv_vm_destroy(hostdrv_vm *vm);
/* Map host memory into the guest. slot ids are the caller's; size 0 removes a slot. */
int hostdrv_vm_map(hostdrv_vm *vm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags);
/* Bitmap (one bit per 4 KiB page, caller sized) of pages written since the last call, for a dirty-logged slot. */
int hostdrv_vm_get_dirty_log(hostdrv_vm *vm, uint32_t slot, uint64_t *bitmap);
int hostdrv_vm_enable_feature(hostdrv_vm *vm, vmm_vm_feature feature, uint64_t arg);
int hostdrv_vm_irq_line(hostdrv_vm *vm, uint32_t line, int level);
int hostdrv_vm_has_irqchip(const hostdrv_vm *vm);
/* Deliver a message-signalled interrupt through the in-kernel interrupt controller; safe from any thread. */
int hostdrv_vm_signal_msi(hostdrv_vm *vm, uint64_t addr, uint32_t data);
int hostdrv_vm_get_state(hostdrv_vm *vm, vmm_vm_state_class cls, void *buf, size_t len);
int hostdrv_vm_set_state(hostdrv_vm *vm, vmm_vm_state_class cls, const void *buf, size_t len);

hostdrv_vcpu *hostdrv_vcpu_create(hostdrv_vm *vm, unsigned index, char *err, size_t errlen);
void hostdrv_vcpu_destroy(hostdrv_vcpu *vcpu);
/* Enter the guest until the next exit, which is described in *exit. PIO/MMIO data pointers stay valid until
 * the next run. Returns 0, or -1 with errno set when the host refused to run (EINTR is reported as
 * VMM_EXIT_INTERRUPTED instead). */
int hostdrv_vcpu_run(hostdrv_vcpu *vcpu, vmm_exit *exit);
/* Make the next or the current hostdrv_vcpu_run return VMM_EXIT_INTERRUPTED soon; safe from other threads
 * (the caller also signals the vCPU thread). A run that starts kicked first finishes the instruction the last
 * exit left pending (which may itself exit again) and executes nothing further: the vCPU's state is then
 * complete, as a save needs it. */
void hostdrv_vcpu_kick(hostdrv_vcpu *vcpu);
int hostdrv_vcpu_get_state(hostdrv_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len);
int hostdrv_vcpu_set_state(hostdrv_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len);
int hostdrv_vcpu_translate(hostdrv_vcpu *vcpu, uint64_t gva, uint64_t *gpa);

#endif /* VMM_HOSTDRV_H */
