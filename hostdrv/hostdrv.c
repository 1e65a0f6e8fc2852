/* hostdrv: see hostdrv.h. Dispatches each call to the engine the object belongs to. */
#include "engine.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const hostdrv_engine *const hostdrv_engines[] = {&hostdrv_engine_kvm, &hostdrv_engine_inproc};
#define HOSTDRV_NENGINES (sizeof(hostdrv_engines) / sizeof(hostdrv_engines[0]))

const hostdrv_engine *hostdrv_engine_find(const char *name)
{
    for (size_t i = 0; name && i < HOSTDRV_NENGINES; i++)
        if (!strcmp(hostdrv_engines[i]->name, name))
            return hostdrv_engines[i];
    return NULL;
}

const char *hostdrv_engine_name(const hostdrv_engine *engine)
{
    return engine->name;
}

const char *hostdrv_engine_summary(const hostdrv_engine *engine)
{
    return engine->summary;
}

const char *hostdrv_engine_names(void)
{
    static char names[64]; /* from the table, once: the same for the process's life */
    if (!names[0])
        for (size_t i = 0, n = 0; i < HOSTDRV_NENGINES && n < sizeof(names); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", hostdrv_engines[i]->name);
    return names;
}

hostdrv *hostdrv_open(const hostdrv_engine *engine, char *err, size_t errlen)
{
    return engine->open(err, errlen);
}

void hostdrv_close(hostdrv *drv)
{
    if (drv)
        drv->engine->close(drv);
}

const hostdrv_engine *hostdrv_engine_of(const hostdrv *drv)
{
    return drv->engine;
}

const char *hostdrv_abi(const hostdrv *drv)
{
    /* Plugins are told the layout of the state classes when they are loaded, before any engine is open: the
     * one engine that has state classes (KVM) gives it. */
    return drv ? drv->engine->abi(drv) : hostdrv_engine_kvm.abi(NULL);
}

unsigned hostdrv_max_vcpus(const hostdrv *drv)
{
    return drv->engine->max_vcpus(drv);
}

const char *hostdrv_describe(const hostdrv *drv)
{
    return drv->engine->describe(drv);
}

hostdrv_vm *hostdrv_vm_create(hostdrv *drv, const hostdrv_soft_vm *soft, char *err, size_t errlen)
{
    return drv->engine->vm_create(drv, soft, err, errlen);
}

void hostdrv_vm_destroy(hostdrv_vm *vm)
{
    if (vm)
        vm->engine->vm_destroy(vm);
}

unsigned hostdrv_vm_caps(const hostdrv_vm *vm)
{
    return vm ? vm->engine->vm_caps(vm) : 0;
}

int hostdrv_vm_map(hostdrv_vm *vm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags)
{
    return vm->engine->vm_map(vm, slot, gpa, host, size, flags);
}

int hostdrv_vm_get_dirty_log(hostdrv_vm *vm, uint32_t slot, uint64_t *bitmap)
{
    return vm->engine->vm_get_dirty_log(vm, slot, bitmap);
}

int hostdrv_vm_enable_feature(hostdrv_vm *vm, vmm_vm_feature feature, uint64_t arg)
{
    return vm->engine->vm_enable_feature(vm, feature, arg);
}

int hostdrv_vm_irq_line(hostdrv_vm *vm, uint32_t line, int level)
{
    return vm->engine->vm_irq_line(vm, line, level);
}

int hostdrv_vm_signal_msi(hostdrv_vm *vm, uint64_t addr, uint32_t data)
{
    return vm->engine->vm_signal_msi(vm, addr, data);
}

int hostdrv_vm_get_state(hostdrv_vm *vm, vmm_vm_state_class cls, void *buf, size_t len)
{
    return vm->engine->vm_get_state(vm, cls, buf, len);
}

int hostdrv_vm_set_state(hostdrv_vm *vm, vmm_vm_state_class cls, const void *buf, size_t len)
{
    return vm->engine->vm_set_state(vm, cls, buf, len);
}

hostdrv_vcpu *hostdrv_vcpu_create(hostdrv_vm *vm, unsigned index, const hostdrv_soft *soft, char *err,
                                  size_t errlen)
{
    return vm->engine->vcpu_create(vm, index, soft, err, errlen);
}

void hostdrv_vcpu_destroy(hostdrv_vcpu *vcpu)
{
    if (vcpu)
        vcpu->engine->vcpu_destroy(vcpu);
}

int hostdrv_vcpu_run(hostdrv_vcpu *vcpu, vmm_exit *exit)
{
    return vcpu->engine->vcpu_run(vcpu, exit);
}

void hostdrv_vcpu_kick(hostdrv_vcpu *vcpu)
{
    vcpu->engine->vcpu_kick(vcpu);
}

int hostdrv_vcpu_get_state(hostdrv_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len)
{
    return vcpu->engine->vcpu_get_state(vcpu, cls, buf, len);
}

int hostdrv_vcpu_set_state(hostdrv_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len)
{
    return vcpu->engine->vcpu_set_state(vcpu, cls, buf, len);
}

int hostdrv_vcpu_translate(hostdrv_vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
    return vcpu->engine->vcpu_translate(vcpu, gva, gpa);
}
