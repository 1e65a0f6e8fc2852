/*
 * loader: riscv64's program loading. The program is the --kernel image (else the first --image): an ELF64
 * RISC-V executable (PT_LOAD segments into RAM, its entry point, and the tohost/fromhost symbols of Spike's HTIF
 * mailbox) or a flat binary at 0x80000000 or its --image address. Every other --image FILE@ADDR is copied to ADDR
 * (a payload the program starts: OpenSBI's next stage). Called by riscv64.c from vm_check (checking:
 * every refusal, nothing written, RAM need not exist) and vm_load (written into RAM through mem_ptr/mem_write).
 */
#ifndef LOADER_H
#define LOADER_H

#include <stdint.h>

#include <vmm/plugin.h>

typedef struct loader_program {
    uint64_t entry;
    uint64_t tohost, fromhost; /* 0: the program has none */
    uint64_t start;            /* the program's lowest byte */
    uint64_t end;              /* the end of the highest byte loaded: what follows is free for the initrd and DTB */
} loader_program;

/* Returns 0, or -1 after logging why (one line naming the option and file). */
int loader_load(vmm_instance *inst, const vmm_helpers *hlp, const vmm_image *images, unsigned nimages,
                int checking, loader_program *out);

#endif
