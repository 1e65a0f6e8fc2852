/*
 * vm: one virtual machine's lifecycle (create, configure, run, pause, resume, stop, destroy), its plugin
 * instances, its memory map and I/O buses, and the helper table plugins call. Called by the vmm command
 * (main.c); the event loop (loop.c) and the vCPU threads (vcpu.c) call the vm_* functions marked for them.
 */
#ifndef VMM_CORE_VM_H
#define VMM_CORE_VM_H

#include <pthread.h>
#include <stdint.h>

#include <vmm/plugin.h>

#include "hostdrv.h"
#include "iobus.h"
#include "memmap.h"
#include "options.h"
#include "plugin.h"
#include "vmconfig.h"

typedef struct vm vm;
typedef struct loop loop;

struct vmm_instance {
    vm *vm;
    const vmm_plugin_desc *desc;
    char name[48]; /* the plugin name, with ".N" for the second and later instances */
    void *state;
    opt_values opts;
    pthread_mutex_t lock; /* serialises I/O, timer and console-input callbacks */
    int constructed;
    int logged_error; /* it logged an error: the core adds no second line for the same failure */
    int stateless;    /* said it has no state to save (ssm_stateless) */
    struct board_fdt *fdt; /* its description for the guest's device tree (fdt_describe), or NULL */
    unsigned threads;      /* its threads started with thread_start and not joined yet */
};

/* Exit reasons the core counts: every vmm_exit_reason of the SDK it was built with. */
#define VCPU_EXIT_REASONS (VMM_EXIT_MSR + 1)

struct vmm_vcpu {
    vm *vm;
    unsigned index;
    hostdrv_vcpu *hv;
    pthread_t thread;
    int started;
    uint64_t exits; /* handled exits, for --log debug */
    uint64_t exits_by_reason[VCPU_EXIT_REASONS]; /* for --stats */
};

typedef struct vm_unit {
    vmm_instance *owner;
    char name[48];
    uint32_t instance, version;
    vmm_ssm_save_fn save;
    vmm_ssm_load_fn load;
} vm_unit;

struct vm {
    hostdrv *drv; /* the execution engine, opened by vm_create once the input is checked; owned by the VM */
    hostdrv_vm *hv;
    const char *accel; /* what --accel asked for (NULL: the architecture's choice), for the vm_accel helper */
    char *cmdline;
    plugin_registry *plugins;
    loop *loop;

    mem_map mem;
    iobus pio, mmio;
    uint32_t next_slot;
    unsigned mmio_slots; /* slots handed out by mmio_slot_claim (SDK 1.7) */
    uint64_t ram_size;
    void *ram;
    /* Host writes into guest memory (mem_write, writable mem_ptr) and device interrupts so far (SDK 1.8
     * mem_write_count): an engine that caches what it read from RAM needs to look again only when it grew. */
    uint64_t host_writes;

    vmm_instance *arch;
    vmm_instance **devices;
    unsigned ndevices;
    vmm_image *images;
    unsigned nimages;

    vmm_vcpu *vcpus;
    unsigned ncpus;

    vm_unit *units;
    unsigned nunits, capunits;
    int dirty_log;             /* RAM slots log dirty pages (a state database was named) */
    char last_snapshot[64];    /* parent for the next incremental save; "" = next save is full */

    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    int running;     /* vCPU threads started, I/O registration closed */
    int stopping;
    int paused;
    int stats;
    unsigned parked; /* vCPUs waiting while paused */
    int exit_status;
};

/* Create the VM from cfg: instances constructed and the architecture's check of the images first (nothing of
 * the host opened yet), then the host driver and its VM when the architecture needs one, RAM, images loaded,
 * vCPUs. Returns NULL after printing one line naming what is wrong; *status then holds the exit status vmm
 * should use (2 for bad input, 1 for host failures). */
/* The execution engines an architecture plugin runs guests on, preferred first ("inproc,kvm"). */
const char *vm_arch_engines(const vmm_plugin_desc *d);
/* The engine a created VM runs on ("kvm", "inproc"). */
const char *vm_engine_name(const vm *v);
vm *vm_create(plugin_registry *plugins, loop *lp, const vm_config *cfg, int *status);
/* Whether every instance can save its state (an architecture must have saved-state units; a device units, or
 * say it has no state). 0, or -1 with a one-line reason naming the plugin. */
int vm_check_saveable(const vm *v, char *err, size_t errlen);
/* Start the vCPU threads. 0, or -1 after logging. */
int vm_start(vm *v);
/* Wait for the vCPU threads after the loop ended; returns the exit status. */
int vm_join(vm *v);
void vm_destroy(vm *v);

/* Safe from any thread. The first status given wins. */
void vm_request_stop(vm *v, int status);
int vm_is_stopping(vm *v);
/* Park all vCPUs outside the guest (returns when they are parked) / let them run again. From the loop thread. */
int vm_pause(vm *v);
void vm_resume(vm *v);
int vm_is_paused(vm *v);

/* For vcpu.c: dispatch one port or MMIO exit to the registered instance. Return -1 when nothing is registered
 * at the address (reads then see all ones). */
int vm_dispatch_pio(vm *v, vmm_exit *exit);
int vm_dispatch_mmio(vm *v, vmm_exit *exit);
/* For vcpu.c: whether a stop or pause is pending. */
int vm_wants_vcpus_back(vm *v);
/* For vcpu.c: wait here while the VM is paused; returns non-zero when the VM is stopping. */
int vm_park_if_paused(vm *v);

/* The plugin whose descriptor is the VM's architecture (for snapshot metadata). */
const vmm_plugin_desc *vm_arch_desc(const vm *v);

/* Instance helpers for loop.c. */
void vm_instance_lock(vmm_instance *inst);
void vm_instance_unlock(vmm_instance *inst);

extern const vmm_helpers vm_helpers;

#endif
