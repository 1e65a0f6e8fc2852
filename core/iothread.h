/*
 * iothread: a device's own threads (SDK 1.7 thread_start and thread_join). The core starts the thread, names it
 * and installs the device I/O sandbox filter in it before the plugin's function runs, so that a device's worker
 * is never left with no filter or with whatever its creator had (docs/sandbox.md). Called by vm.c (the helper
 * table, and the check that an instance joined its threads before it was destroyed).
 */
#ifndef VMM_CORE_IOTHREAD_H
#define VMM_CORE_IOTHREAD_H

#include <vmm/plugin.h>

int iothread_hlp_start(vmm_instance *inst, const char *name, vmm_thread_fn fn, void *arg, vmm_thread **thread);
int iothread_hlp_join(vmm_thread *thread, void **result);

#endif
