/*
 * memmap: the guest-physical memory map of one VM: which range is RAM, ROM (optionally shadowed), MMIO or
 * MMIO2, kept sorted so lookups are a binary search. Pure bookkeeping: it allocates nothing the guest sees and
 * never talks to the host driver (vm.c does). Called by core/ only.
 */
#ifndef VMM_CORE_MEMMAP_H
#define VMM_CORE_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

#define MEMMAP_PAGE_SIZE 4096u

typedef enum mem_kind {
    MEM_RAM = 1,
    MEM_ROM = 2,   /* read-only to the guest; with `shadowed`, a writable RAM copy of the image */
    MEM_MMIO = 3,  /* device callbacks, no backing memory */
    MEM_MMIO2 = 4, /* plugin-owned host memory mapped into the guest */
} mem_kind;

typedef struct mem_region {
    uint64_t gpa, size;
    mem_kind kind;
    int shadowed;     /* MEM_ROM only */
    uint8_t *host;    /* backing memory (RAM, ROM, MMIO2); NULL for MMIO */
    const void *owner; /* the instance that created it (NULL for guest RAM) */
    char name[48];
    uint32_t slot;    /* host driver slot, for backed regions */
    unsigned slot_flags; /* HOSTDRV_SLOT_*: how the region is (or will be) mapped into the host driver's VM */
    uint64_t rom_writes; /* guest writes dropped (ROM) */
    uint64_t *host_dirty; /* RAM with dirty logging: pages written by the host (device DMA), which the host
                             driver's log does not see; owned by vm.c */
} mem_region;

typedef struct mem_map {
    mem_region *regions; /* sorted by gpa, never overlapping */
    size_t count, cap;
} mem_map;

void memmap_init(mem_map *map);
void memmap_free(mem_map *map);
const char *memmap_kind_name(mem_kind kind);
/* Add a region after checking it: non-empty, no wrap-around, page-aligned unless MMIO, no overlap. On error
 * returns -1 and writes a one-line reason to err. On success returns the region's index. */
int memmap_add(mem_map *map, const mem_region *region, char *err, size_t errlen);
/* The region containing gpa, or NULL. */
mem_region *memmap_find(const mem_map *map, uint64_t gpa);
/* The region containing all of [gpa, gpa+len), or NULL (len 0 never matches). */
mem_region *memmap_find_range(const mem_map *map, uint64_t gpa, uint64_t len);

#endif
