/*
 * loader: riscv64's program loading. Without firmware (--bios none), the program is the --kernel image (else the
 * first --image), run in M-mode: an ELF64 RISC-V executable (PT_LOAD segments into RAM, its entry point, and the
 * tohost/fromhost symbols of Spike's HTIF mailbox) or a flat binary at 0x80000000 or its --image address. With
 * firmware (--bios FILE, an ELF or a flat binary at 0x80000000), the firmware is the program, started from the
 * boot ROM, and --kernel is its S-mode next stage: a Linux Image (its RISC-V header read and checked) at the
 * first 2 MiB boundary past the firmware, as QEMU's virt places it, an ELF at its own addresses, or a flat binary
 * at that boundary. Every other --image FILE@ADDR is copied to ADDR (a payload the program starts: OpenSBI's
 * next stage). Also resolves bios= (loader_firmware_open: the file, or the default for a Linux Image).
 * Called by riscv64.c from vm_check (checking: every refusal, nothing written, RAM need not exist) and vm_load
 * (written into RAM through mem_ptr/mem_write).
 */
#ifndef LOADER_H
#define LOADER_H

#include <stdint.h>

#include <vmm/plugin.h>

/* Debian's opensbi package: the firmware a Linux Image gets when bios= is not given. */
#define LOADER_DEFAULT_BIOS "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf"

typedef struct loader_program {
    uint64_t entry;            /* the program's entry: where the hart (or, with firmware, the boot ROM) jumps */
    uint64_t tohost, fromhost; /* 0: the program has none */
    uint64_t start;            /* the program's lowest byte */
    uint64_t end;              /* the end of the highest byte loaded: what follows is free for the initrd and DTB */
    int firmware;              /* the program is firmware, started from the boot ROM with next_addr as next stage */
    uint64_t next_addr;        /* the next stage's entry (fw_dynamic_info); without firmware, the entry */
    uint64_t kernel_start;     /* the kernel's lowest byte (the program's without firmware): the initrd goes above */
} loader_program;

/* The firmware file bios= names, read into memory; data NULL: none (bare-metal). */
typedef struct loader_firmware {
    char *path;
    uint8_t *data;
    size_t size;
} loader_firmware;

/* Resolves bios= (NULL when not given): "none" (no firmware), "default" (LOADER_DEFAULT_BIOS) or a file. Not
 * given, a Linux Image --kernel gets the default firmware, anything else none, as before there was firmware.
 * Returns 0, or -1 after logging why in one line (unreadable, empty, the default firmware not installed). */
int loader_firmware_open(vmm_instance *inst, const vmm_helpers *hlp, const char *bios, const vmm_image *images,
                         unsigned nimages, loader_firmware *fw);
void loader_firmware_close(loader_firmware *fw);

/* Returns 0, or -1 after logging why (one line naming the option and file). fw: NULL or fw->data NULL for none. */
int loader_load(vmm_instance *inst, const vmm_helpers *hlp, const vmm_image *images, unsigned nimages,
                const loader_firmware *fw, int checking, loader_program *out);

#endif
