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
/* Load snapshot `name` into a VM created with cfg.restoring, before it starts. 0, or -1 with the reason. */
int snapshot_restore(vm *v, ss_store *st, const char *name, char *err, size_t errlen);

#endif
