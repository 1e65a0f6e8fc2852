/*
 * vmcmd: the commands a running VM takes - status, pause, resume, save, quit - in one place, so that the control
 * socket (control.c) and the console keys (loop.c) behave alike and refuse alike, in the same words. It owns what
 * saving needs: the state database and the VM's configuration text written into every snapshot. main.c creates it
 * once the VM exists; everything is called on the loop thread. A live save's RAM sweep runs on a worker thread
 * while the loop goes on serving the console, timers and the socket; its end comes back to the loop thread.
 */
#ifndef VMM_CORE_VMCMD_H
#define VMM_CORE_VMCMD_H

#include <stddef.h>

#include "store.h"
#include "vm.h"

typedef struct vmcmd vmcmd;

/* st may be NULL (no --state: saves are refused). cfg is the VM's configuration with accel set to the engine it
 * runs on; its text is taken now. NULL when out of memory. */
vmcmd *vmcmd_create(vm *v, loop *lp, ss_store *st, const vm_config *cfg);
/* After the loop has ended and the vCPUs are joined: wait for a save in progress and end it (its reply or
 * message still goes out). Before vm_destroy. */
void vmcmd_finish(vmcmd *c);
/* After loop_destroy (the loop held a handle of it). */
void vmcmd_destroy(vmcmd *c);

typedef struct vmcmd_status {
    const char *state;         /* "running", "paused" or "stopping" */
    unsigned vcpus;
    const char *last_snapshot; /* parent of the next incremental save; "" for none */
    const char *saving;        /* the snapshot a live save is writing now; "" for none */
} vmcmd_status;
void vmcmd_get_status(vmcmd *c, vmcmd_status *out);

/* 0, or -1 with a one-line reason. */
int vmcmd_pause(vmcmd *c, char *err, size_t errlen);
int vmcmd_resume(vmcmd *c, char *err, size_t errlen);
void vmcmd_quit(vmcmd *c);

typedef struct vmcmd_save_opts {
    const char *name; /* NULL: "console-YYYYmmdd-HHMMSS", local time */
} vmcmd_save_opts;
/* How a save ended: err NULL when saved as name. */
typedef void (*vmcmd_save_done_fn)(void *ctx, const char *name, const char *err);
/* Save; done is called exactly once, before this returns (refused, or saved with the guest paused) or later
 * from the loop (a live save), unless vmcmd_save_forget(c, ctx) came first. */
void vmcmd_save(vmcmd *c, const vmcmd_save_opts *opts, vmcmd_save_done_fn done, void *ctx);
/* The requester ctx has gone (a control client hung up): the save goes on, its end is told to nobody. */
void vmcmd_save_forget(vmcmd *c, void *ctx);

#endif
