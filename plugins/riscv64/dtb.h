/*
 * dtb: the device tree riscv64 hands its guest in a1 (as QEMU's virt board does), built with libfdt from what the
 * machine has: RAM, the hart, the CLINT, the PLIC, /chosen (--append, --initrd, the console), and every device
 * plugin that described itself (the SDK's fdt_describe, read back with fdt_device). Called by riscv64.c from
 * vm_load.
 */
#ifndef RV_DTB_H
#define RV_DTB_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#define DTB_MAX_HARTS 8

typedef struct dtb_input {
    unsigned harts;                   /* 1 .. DTB_MAX_HARTS: cpu@0 .. cpu@N-1 */
    uint64_t ram_base, ram_size;
    uint64_t misa;
    uint32_t timebase_hz;
    uint64_t clint_base, clint_size;
    uint64_t plic_base, plic_size;
    unsigned plic_sources;            /* sources 1 .. plic_sources - 1 exist */
    const char *bootargs;             /* NULL or "": none */
    uint64_t initrd_start, initrd_end; /* both 0: none */
} dtb_input;

/* A malloc'd blob in *out (*len bytes). 0, or -1 after logging why (a device's line the PLIC lacks, a tree too
 * large). */
int dtb_build(vmm_instance *inst, const vmm_helpers *hlp, const dtb_input *in, void **out, size_t *len);

/* "rv64imac_zicsr_zifencei" from misa (the letters Linux's riscv,isa parser knows; S and U are not ISA letters). */
void dtb_isa_string(uint64_t misa, char *buf, size_t len);

#endif
