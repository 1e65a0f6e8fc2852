/*
 * board: what an architecture's board brings besides its CPUs (SDK 1.6, vmm_board): the default devices the core
 * creates before the user's, the buses a device may register on, and the device descriptions (fdt_describe,
 * fdt_prop) that devices leave for the architecture's device tree, and the board's slots for small MMIO devices
 * (mmio_slot_claim). Called by vm.c while a VM is created; the
 * fdt_* helpers are installed in the helper table. Knows no architecture and no device by name.
 */
#ifndef VMM_CORE_BOARD_H
#define VMM_CORE_BOARD_H

#include <stddef.h>

#include <vmm/plugin.h>

#include "vmconfig.h"

/* The architecture's board, or NULL (a plugin built before SDK 1.6, or one without). */
const vmm_board *board_of(const vmm_plugin_desc *arch);
/* Whether the guest of this architecture reaches a port I/O space. */
int board_has_port_bus(const vmm_plugin_desc *arch);

/* The devices of one run: the board's defaults (unless nodefaults, and those of a plugin the user names
 * himself), then the user's. */
typedef struct board_devices {
    vm_device_config list[VM_CONFIG_MAX_DEVICES * 2];
    unsigned count;
    char *names[VM_CONFIG_MAX_DEVICES]; /* the defaults' plugin names, split off their options */
    unsigned nnames;
} board_devices;

/* 0, or -1 with a one-line reason in err (too many devices). Free with board_devices_free. */
int board_devices_build(const vmm_plugin_desc *arch, const vm_config *cfg, board_devices *out, char *err,
                        size_t errlen);
void board_devices_free(board_devices *b);

/* One instance's description (fdt_describe, fdt_prop); freed with board_fdt_free. */
typedef struct board_fdt board_fdt;
void board_fdt_free(board_fdt *f);

int board_hlp_fdt_describe(vmm_instance *inst, const char *node_name, const char *compatible, int irq);
int board_hlp_fdt_prop(vmm_instance *inst, const char *name, const void *value, size_t len);
int board_hlp_fdt_device(vmm_instance *inst, unsigned index, vmm_fdt_device *out);
int board_hlp_mmio_slot_claim(vmm_instance *inst, uint64_t size, uint64_t *base, uint32_t *irq);

#endif
