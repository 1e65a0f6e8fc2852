/*
 * snapshot: saving a VM into the state store and restoring it, between the vm (units, RAM, dirty logging)
 * and saved-state/store. Called by main.c, the control socket and the console keys, on the loop thread.
 */
#ifndef VMM_CORE_SNAPSHOT_H
#define VMM_CORE_SNAPSHOT_H

#include <stddef.h>

#include "store.h"
#include "vm.h"

/* Save the VM as snapshot `name`: pauses it (if running), writes every unit and the RAM pages — only the pages
 * dirtied since the last save or restore of this process when dirty logging is on — in one transaction, and
 * resumes it. `config` describes the VM's configuration for restoring. 0, or -1 with the reason in err. */
int snapshot_save(vm *v, ss_store *st, const char *name, const char *config, char *err, size_t errlen);
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

int snapshot_restore(vm *v, ss_store *st, const char *name, snapshot_restore_mode mode, snapshot_pager **pager,
                     char *err, size_t errlen);
/* Stop the pager (after the vCPUs are joined, before the VM's memory goes away). Prints its statistics with
 * --stats. Returns -1 if it found a corrupt page. */
int snapshot_pager_finish(snapshot_pager *p);

#endif
