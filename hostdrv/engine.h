/*
 * engine: what an execution engine provides to hostdrv.c (the operations table) and the common first member of
 * its objects, through which hostdrv.c dispatches. For the engines in this directory only.
 */
#ifndef VMM_HOSTDRV_ENGINE_H
#define VMM_HOSTDRV_ENGINE_H

#include "hostdrv.h"

struct hostdrv {
    const hostdrv_engine *engine;
};
struct hostdrv_vm {
    const hostdrv_engine *engine;
};
struct hostdrv_vcpu {
    const hostdrv_engine *engine;
};

struct hostdrv_engine {
    const char *name;
    const char *summary;
    hostdrv *(*open)(char *err, size_t errlen);
    void (*close)(hostdrv *drv);
    const char *(*abi)(const hostdrv *drv);
    unsigned (*max_vcpus)(const hostdrv *drv);
    const char *(*describe)(const hostdrv *drv);
    hostdrv_vm *(*vm_create)(hostdrv *drv, const hostdrv_soft_vm *soft, char *err, size_t errlen);
    void (*vm_destroy)(hostdrv_vm *vm);
    unsigned (*vm_caps)(const hostdrv_vm *vm);
    int (*vm_map)(hostdrv_vm *vm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags);
    int (*vm_get_dirty_log)(hostdrv_vm *vm, uint32_t slot, uint64_t *bitmap);
    int (*vm_enable_feature)(hostdrv_vm *vm, vmm_vm_feature feature, uint64_t arg);
    int (*vm_irq_line)(hostdrv_vm *vm, uint32_t line, int level);
    int (*vm_signal_msi)(hostdrv_vm *vm, uint64_t addr, uint32_t data);
    int (*vm_get_state)(hostdrv_vm *vm, vmm_vm_state_class cls, void *buf, size_t len);
    int (*vm_set_state)(hostdrv_vm *vm, vmm_vm_state_class cls, const void *buf, size_t len);
    hostdrv_vcpu *(*vcpu_create)(hostdrv_vm *vm, unsigned index, const hostdrv_soft *soft, char *err,
                                 size_t errlen);
    void (*vcpu_destroy)(hostdrv_vcpu *vcpu);
    int (*vcpu_run)(hostdrv_vcpu *vcpu, vmm_exit *exit);
    void (*vcpu_kick)(hostdrv_vcpu *vcpu);
    int (*vcpu_get_state)(hostdrv_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len);
    int (*vcpu_set_state)(hostdrv_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len);
    int (*vcpu_translate)(hostdrv_vcpu *vcpu, uint64_t gva, uint64_t *gpa);
};

extern const hostdrv_engine hostdrv_engine_kvm;
extern const hostdrv_engine hostdrv_engine_inproc;

#endif /* VMM_HOSTDRV_ENGINE_H */
