/* bootrom: the riscv64 board's reset code and fw_dynamic_info (see bootrom.h). */
#include "bootrom.h"

#include <string.h>

/* Where the reset code finds its two addresses, relative to the ROM's start (t0 after auipc). */
#define BOOTROM_FW_ENTRY_OFFSET 0x20u
#define BOOTROM_DTB_OFFSET 0x28u

enum { RV_T0 = 5, RV_A0 = 10, RV_A1 = 11, RV_A2 = 12 };

static uint32_t bootrom_itype(uint32_t opcode, unsigned rd, unsigned funct3, unsigned rs1, uint32_t imm12)
{
    return (imm12 & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode;
}

static void bootrom_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void bootrom_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void bootrom_build(uint8_t *rom, uint64_t fw_entry, uint64_t dtb, uint64_t next_addr, uint64_t next_mode)
{
    const uint32_t code[] = {
        RV_T0 << 7 | 0x17,                                                  /* auipc t0, 0: the ROM's address */
        bootrom_itype(0x13, RV_A2, 0, RV_T0, BOOTROM_INFO_OFFSET),          /* addi a2, t0, info */
        bootrom_itype(0x73, RV_A0, 2, 0, 0xf14),                            /* csrr a0, mhartid */
        bootrom_itype(0x03, RV_A1, 3, RV_T0, BOOTROM_DTB_OFFSET),           /* ld a1, dtb(t0) */
        bootrom_itype(0x03, RV_T0, 3, RV_T0, BOOTROM_FW_ENTRY_OFFSET),      /* ld t0, fw_entry(t0) */
        bootrom_itype(0x67, 0, 0, RV_T0, 0),                                /* jr t0 */
    };
    memset(rom, 0, BOOTROM_USED);
    for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
        bootrom_put32(rom + 4 * i, code[i]);
    bootrom_put64(rom + BOOTROM_FW_ENTRY_OFFSET, fw_entry);
    bootrom_put64(rom + BOOTROM_DTB_OFFSET, dtb);
    const uint64_t info[6] = { BOOTROM_FW_DYNAMIC_MAGIC, BOOTROM_FW_DYNAMIC_VERSION, next_addr, next_mode,
                               0 /* options */, 0 /* boot_hart */ };
    for (int i = 0; i < 6; i++)
        bootrom_put64(rom + BOOTROM_INFO_OFFSET + 8 * i, info[i]);
}
