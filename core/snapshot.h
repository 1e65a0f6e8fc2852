/*
 * snapshot: saving a VM into the state store and restoring it, between the vm (units, RAM, dirty logging)
 * and saved-state/store. Called by main.c (restore) and vmcmd.c (save), on the loop thread but for the sweep.
 */
#ifndef VMM_CORE_SNAPSHOT_H
#define VMM_CORE_SNAPSHOT_H

#include <stddef.h>

#include "store.h"
#include "vm.h"

/* Save the VM as snapshot `name` (`config`: its vm_config text, for restoring). From the loop thread: pauses the
 * VM if it runs, takes every unit and, when the guest runs and userfaultfd can write-protect its RAM, protects the
 * pages to save and resumes it at once (a live save); otherwise writes RAM - only the pages dirtied since the last
 * save or restore of this process when dirty logging is on - before resuming it. Returns -1 with the reason in
 * err; 0 when the snapshot is saved; 1 for a live save, whose *job must then go to snapshot_job_sweep (on any one
 * thread: the loop thread stays free meanwhile) and after that to snapshot_save_finish on the loop thread. */
typedef struct snapshot_job snapshot_job;
/* Open now the host files a live save reads (/proc/self/pagemap), for the event loop's sandbox, which has no
 * open(2). Once, before the loop's filter; without it a save opens them itself. */
void snapshot_open_host_files(void);
int snapshot_save_start(vm *v, ss_store *st, const char *name, const char *config, snapshot_job **job, char *err,
                        size_t errlen);
/* Write the RAM while the guest runs, serving its writes to pages not reached yet, and commit. */
void snapshot_job_sweep(snapshot_job *j);
const char *snapshot_job_name(const snapshot_job *j);
/* On the loop thread after the sweep: the VM's parent for the next incremental save, the log line; frees j. 0, or
 * -1 with the reason in err. */
int snapshot_save_finish(snapshot_job *j, char *err, size_t errlen);

typedef struct snapshot_pager snapshot_pager;

/* Load snapshot `name` into a VM created with cfg.restoring, before it starts. 0, or -1 with the reason. Lazy
 * modes do not copy guest RAM now: it is registered with userfaultfd and a pager thread fills each page when it
 * is first touched (and, in LAZY mode, all of them in the background); a corrupt page found then stops the VM
 * with an error. Without userfaultfd they fall back to copying eagerly. */
typedef enum snapshot_restore_mode {
    SNAPSHOT_RESTORE_EAGER = 0,
    SNAPSHOT_RESTORE_LAZY = 1,     /* on first touch, and everything in the background */
    SNAPSHOT_RESTORE_ONDEMAND = 2, /* on first touch only: memory stays as small as what the guest uses */
} snapshot_restore_mode;

/* 0; -1 with the reason in err; -2 when a unit refused the user's input rather than the snapshot (ssm_fail_input:
 * a file it depends on changed since the save), which vmm reports with status 2. */
int snapshot_restore(vm *v, ss_store *st, const char *name, snapshot_restore_mode mode, snapshot_pager **pager,
                     char *err, size_t errlen);
/* Stop the pager (after the vCPUs are joined, before the VM's memory goes away). Prints its statistics with
 * --stats. Returns -1 if it found a corrupt page. */
int snapshot_pager_finish(snapshot_pager *p);

#endif
