/*
 * The in-process engine of hostdrv: the architecture plugin's software engine (an RV64 recompiler, say) runs
 * each vCPU on its thread. Guest RAM is the plain host memory the core mapped. The engine keeps the kick promise
 * of hostdrv.h, so that pause, stop and save behave as they do on KVM, and routes interrupt lines, MSIs and
 * dirty-log requests to what the architecture provides for them (hostdrv_soft_vm) — each capability present
 * only when the architecture has it.
 *
 * No vCPU state classes: their layouts are KVM's; an in-process architecture saves its vCPUs through its own
 * saved-state units.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct inproc_drv {
    struct hostdrv base;
    unsigned max_vcpus;
    char description[128];
} inproc_drv;

/* A slot as the core mapped it: the dirty log is asked by slot, the architecture's tracking by address. */
typedef struct inproc_slot {
    uint32_t id;
    unsigned flags;
    uint64_t gpa, size;
} inproc_slot;

typedef struct inproc_vm {
    struct hostdrv_vm base;
    inproc_drv *drv;
    hostdrv_soft_vm soft;
    inproc_slot *slots;
    size_t nslots, capslots;
} inproc_vm;

typedef struct inproc_vcpu {
    struct hostdrv_vcpu base;
    hostdrv_soft soft;
    int kicked; /* atomic: the next run returns at once */
} inproc_vcpu;

static void inproc_set_error(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "in-process engine: %s: %s", what, strerror(ENOMEM));
}

static hostdrv *inproc_open(char *err, size_t errlen)
{
    inproc_drv *drv = calloc(1, sizeof(*drv));
    if (!drv) {
        inproc_set_error(err, errlen, "cannot start");
        return NULL;
    }
    drv->base.engine = &hostdrv_engine_inproc;
    /* Each vCPU is a host thread; more of them than the core allows would only contend. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    drv->max_vcpus = 256;
    snprintf(drv->description, sizeof(drv->description),
             "in-process engine (the architecture executes the guest; %ld host CPUs online)", cpus);
    return &drv->base;
}

static void inproc_close(hostdrv *hd)
{
    free(hd);
}

static const char *inproc_abi(const hostdrv *hd)
{
    (void)hd;
    return "none"; /* no state classes */
}

static unsigned inproc_max_vcpus(const hostdrv *hd)
{
    return ((const inproc_drv *)hd)->max_vcpus;
}

static const char *inproc_describe(const hostdrv *hd)
{
    return ((const inproc_drv *)hd)->description;
}

static hostdrv_vm *inproc_vm_create(hostdrv *hd, const hostdrv_soft_vm *soft, char *err, size_t errlen)
{
    inproc_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        inproc_set_error(err, errlen, "VM");
        return NULL;
    }
    vm->base.engine = &hostdrv_engine_inproc;
    vm->drv = (inproc_drv *)hd;
    if (soft)
        vm->soft = *soft;
    return &vm->base;
}

static void inproc_vm_destroy(hostdrv_vm *hvm)
{
    free(((inproc_vm *)hvm)->slots);
    free(hvm);
}

static unsigned inproc_vm_caps(const hostdrv_vm *hvm)
{
    const inproc_vm *vm = (const inproc_vm *)hvm;
    /* The architecture's loads and stores see the memory map as it is, read-only regions included. */
    unsigned caps = HOSTDRV_CAP_READONLY_SLOTS;
    if (vm->soft.irq_line)
        caps |= HOSTDRV_CAP_IRQCHIP;
    if (vm->soft.msi)
        caps |= HOSTDRV_CAP_MSI;
    if (vm->soft.dirty_log)
        caps |= HOSTDRV_CAP_DIRTY_LOG;
    return caps;
}

static inproc_slot *inproc_slot_find(inproc_vm *vm, uint32_t id)
{
    for (size_t i = 0; i < vm->nslots; i++)
        if (vm->slots[i].id == id)
            return &vm->slots[i];
    return NULL;
}

static int inproc_vm_map(hostdrv_vm *hvm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags)
{
    /* The architecture reaches guest memory through the core's map; only what the dirty log needs is kept. */
    inproc_vm *vm = (inproc_vm *)hvm;
    (void)host;
    inproc_slot *s = inproc_slot_find(vm, slot);
    if (size == 0) {
        if (s)
            *s = vm->slots[--vm->nslots];
        return 0;
    }
    /* Without the architecture's tracking the slot is simply not logged: the caps say so, and saves ask them. */
    if (!vm->soft.dirty_log)
        flags &= ~(unsigned)HOSTDRV_SLOT_DIRTY_LOG;
    if (!s) {
        if (vm->nslots == vm->capslots) {
            size_t cap = vm->capslots ? vm->capslots * 2 : 8;
            inproc_slot *n = realloc(vm->slots, cap * sizeof(*n));
            if (!n)
                return -1;
            vm->slots = n;
            vm->capslots = cap;
        }
        s = &vm->slots[vm->nslots++];
    }
    *s = (inproc_slot){.id = slot, .flags = flags, .gpa = gpa, .size = size};
    /* Tracking starts with the slot, as KVM's log does. */
    if ((flags & HOSTDRV_SLOT_DIRTY_LOG) && vm->soft.dirty_log(vm->soft.ctx, gpa, size, NULL)) {
        vm->nslots--;
        errno = ENOTSUP;
        return -1;
    }
    return 0;
}

static int inproc_unsupported(void)
{
    errno = ENOTSUP;
    return -1;
}

static int inproc_vm_get_dirty_log(hostdrv_vm *hvm, uint32_t slot, uint64_t *bitmap)
{
    inproc_vm *vm = (inproc_vm *)hvm;
    inproc_slot *s = inproc_slot_find(vm, slot);
    if (!s || !(s->flags & HOSTDRV_SLOT_DIRTY_LOG) || !vm->soft.dirty_log) {
        errno = s ? ENOTSUP : ENOENT;
        return -1;
    }
    uint64_t pages = s->size / 4096;
    /* KVM's log replaces the caller's bitmap; the architecture's ORs into it. */
    memset(bitmap, 0, (pages + 63) / 64 * sizeof(uint64_t));
    if (vm->soft.dirty_log(vm->soft.ctx, s->gpa, s->size, bitmap)) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static int inproc_vm_enable_feature(hostdrv_vm *hvm, vmm_vm_feature feature, uint64_t arg)
{
    (void)hvm, (void)feature, (void)arg;
    return inproc_unsupported();
}

static int inproc_vm_irq_line(hostdrv_vm *hvm, uint32_t line, int level)
{
    inproc_vm *vm = (inproc_vm *)hvm;
    if (!vm->soft.irq_line) {
        errno = ENODEV;
        return -1;
    }
    if (vm->soft.irq_line(vm->soft.ctx, line, level)) {
        errno = EINVAL; /* a line the architecture's controller does not have */
        return -1;
    }
    return 0;
}

static int inproc_vm_signal_msi(hostdrv_vm *hvm, uint64_t addr, uint32_t data)
{
    inproc_vm *vm = (inproc_vm *)hvm;
    if (!vm->soft.msi) {
        errno = ENODEV;
        return -1;
    }
    if (vm->soft.msi(vm->soft.ctx, addr, data)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

static int inproc_vm_get_state(hostdrv_vm *hvm, vmm_vm_state_class cls, void *buf, size_t len)
{
    (void)hvm, (void)cls, (void)buf, (void)len;
    return inproc_unsupported();
}

static int inproc_vm_set_state(hostdrv_vm *hvm, vmm_vm_state_class cls, const void *buf, size_t len)
{
    (void)hvm, (void)cls, (void)buf, (void)len;
    return inproc_unsupported();
}

static hostdrv_vcpu *inproc_vcpu_create(hostdrv_vm *hvm, unsigned index, const hostdrv_soft *soft, char *err,
                                        size_t errlen)
{
    (void)hvm, (void)index;
    if (!soft || !soft->run) {
        if (err && errlen)
            snprintf(err, errlen, "in-process engine: the architecture has no software engine for vCPU %u", index);
        return NULL;
    }
    inproc_vcpu *vcpu = calloc(1, sizeof(*vcpu));
    if (!vcpu) {
        inproc_set_error(err, errlen, "vCPU");
        return NULL;
    }
    vcpu->base.engine = &hostdrv_engine_inproc;
    vcpu->soft = *soft;
    return &vcpu->base;
}

static void inproc_vcpu_destroy(hostdrv_vcpu *hvc)
{
    free(hvc);
}

static int inproc_vcpu_run(hostdrv_vcpu *hvc, vmm_exit *exit)
{
    inproc_vcpu *vcpu = (inproc_vcpu *)hvc;
    memset(exit, 0, offsetof(vmm_exit, u));
    /* The software engine finishes every instruction before it returns: a kicked run has nothing pending. */
    if (__atomic_exchange_n(&vcpu->kicked, 0, __ATOMIC_ACQ_REL)) {
        exit->reason = VMM_EXIT_INTERRUPTED;
        return 0;
    }
    exit->reason = vcpu->soft.run(vcpu->soft.ctx) ? HOSTDRV_EXIT_ENGINE_STOP : VMM_EXIT_INTERRUPTED;
    return 0;
}

static void inproc_vcpu_kick(hostdrv_vcpu *hvc)
{
    __atomic_store_n(&((inproc_vcpu *)hvc)->kicked, 1, __ATOMIC_RELEASE);
}

static int inproc_vcpu_get_state(hostdrv_vcpu *hvc, vmm_state_class cls, void *buf, size_t len)
{
    (void)hvc, (void)cls, (void)buf, (void)len;
    return inproc_unsupported();
}

static int inproc_vcpu_set_state(hostdrv_vcpu *hvc, vmm_state_class cls, const void *buf, size_t len)
{
    (void)hvc, (void)cls, (void)buf, (void)len;
    return inproc_unsupported();
}

static int inproc_vcpu_translate(hostdrv_vcpu *hvc, uint64_t gva, uint64_t *gpa)
{
    (void)hvc, (void)gva, (void)gpa;
    return inproc_unsupported();
}

const hostdrv_engine hostdrv_engine_inproc = {
    .name = "inproc",
    .summary = "the architecture plugin executes the guest in this process (no KVM needed)",
    .open = inproc_open,
    .close = inproc_close,
    .abi = inproc_abi,
    .max_vcpus = inproc_max_vcpus,
    .describe = inproc_describe,
    .vm_create = inproc_vm_create,
    .vm_destroy = inproc_vm_destroy,
    .vm_caps = inproc_vm_caps,
    .vm_map = inproc_vm_map,
    .vm_get_dirty_log = inproc_vm_get_dirty_log,
    .vm_enable_feature = inproc_vm_enable_feature,
    .vm_irq_line = inproc_vm_irq_line,
    .vm_signal_msi = inproc_vm_signal_msi,
    .vm_get_state = inproc_vm_get_state,
    .vm_set_state = inproc_vm_set_state,
    .vcpu_create = inproc_vcpu_create,
    .vcpu_destroy = inproc_vcpu_destroy,
    .vcpu_run = inproc_vcpu_run,
    .vcpu_kick = inproc_vcpu_kick,
    .vcpu_get_state = inproc_vcpu_get_state,
    .vcpu_set_state = inproc_vcpu_set_state,
    .vcpu_translate = inproc_vcpu_translate,
};
