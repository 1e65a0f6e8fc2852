/*
 * vcpu: the thread that runs one virtual CPU: enter the guest, dispatch port and MMIO exits to the I/O
 * buses, hand every other exit to the architecture plugin, park while paused, leave when the VM stops.
 * Called by vm.c only.
 */
#ifndef VMM_CORE_VCPU_H
#define VMM_CORE_VCPU_H

#include "vm.h"

/* Install the (empty) signal handler used to kick vCPU threads out of the guest. 0, or -1 after logging. */
int vcpu_setup_kick_signal(void);
void *vcpu_thread(void *arg);
/* The in-process engine's hostdrv_soft.run for a vCPU (arg): the architecture's vcpu_run. */
int vcpu_run_software(void *arg);
/* Make the vCPU leave the guest soon; safe from any thread. */
void vcpu_kick(vmm_vcpu *vcpu);
/* Set by the vCPU thread so helpers know which vCPU an I/O callback runs on. */
void vm_set_current_vcpu(vmm_vcpu *vcpu);

#endif
