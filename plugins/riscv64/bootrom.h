/*
 * bootrom: the riscv64 board's boot ROM at 0x1000, where QEMU's virt has its own: reset code that hands the
 * firmware what it expects (a0 = mhartid, a1 = the device tree, a2 = a fw_dynamic_info structure telling
 * OpenSBI's fw_dynamic where the next stage is and in which mode) and jumps to the firmware. The ROM is the
 * plugin's memory: riscv64.c lets the hart fetch from it (rv_runtime_map_rom), serves loads from it and drops
 * stores, and keeps its bytes in the board's saved state. Called by riscv64.c only.
 */
#ifndef BOOTROM_H
#define BOOTROM_H

#include <stddef.h>
#include <stdint.h>

#define BOOTROM_BASE 0x1000ull
#define BOOTROM_SIZE 0xf000ull   /* as QEMU's virt: reads up to 0x10000 see the ROM (zeros past its code) */
#define BOOTROM_USED 0x80u       /* the bytes bootrom_build writes: all the saved state needs */

/* OpenSBI's fw_dynamic_info, version 2 (with boot_hart): six XLEN words. */
#define BOOTROM_FW_DYNAMIC_MAGIC 0x4942534full /* "OSBI" */
#define BOOTROM_FW_DYNAMIC_VERSION 2
#define BOOTROM_NEXT_MODE_S 1
#define BOOTROM_INFO_OFFSET 0x40u             /* where in the ROM the structure is (a2) */

/* Fills rom[0, BOOTROM_USED) (the rest stays as it is: zero): the reset code jumps to fw_entry with a1 = dtb
 * and a2 pointing at a fw_dynamic_info whose next stage is next_addr in next_mode, booted by hart 0. */
void bootrom_build(uint8_t *rom, uint64_t fw_entry, uint64_t dtb, uint64_t next_addr, uint64_t next_mode);

#endif
