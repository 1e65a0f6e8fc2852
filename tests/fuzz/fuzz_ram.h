/*
 * fuzz_ram: guest RAM for the loader harnesses, behind the helper-table functions a plugin uses (mem_ptr,
 * mem_read, mem_write, mem_ram_size) with the core's bounds rules (core/vm.c, core/memmap.c: a range must lie
 * wholly inside one RAM region, an empty range is refused). Each region is its own exact-size heap block, so
 * ASan reports a loader touching memory past the end of RAM. Under ASan the whole of RAM is also poisoned until
 * a helper hands a range out: a loader that asks mem_ptr for 16 bytes and writes 32 is caught even inside RAM.
 */
#ifndef VMM_FUZZ_RAM_H
#define VMM_FUZZ_RAM_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#define FUZZ_RAM_MAX_REGIONS 2

typedef struct fuzz_ram_region {
    uint64_t gpa, size;
    uint8_t *host;
} fuzz_ram_region;

typedef struct fuzz_ram {
    fuzz_ram_region regions[FUZZ_RAM_MAX_REGIONS];
    unsigned count;
    uint64_t total; /* what mem_ram_size reports: the --mem size */
} fuzz_ram;

/* The one RAM of the harness (the helpers get no context but the instance). */
extern fuzz_ram fuzz_ram_current;

/* Add a zeroed region; aborts when out of memory (a harness failure, not a finding). */
void fuzz_ram_add(fuzz_ram *ram, uint64_t gpa, uint64_t size);
void fuzz_ram_free(fuzz_ram *ram);
/* The host address of [gpa, gpa + len) if it is wholly in one region, else NULL; unpoisons it. */
void *fuzz_ram_range(fuzz_ram *ram, uint64_t gpa, uint64_t len);
/* Poison the whole of RAM again (under ASan; else nothing): what a helper handed out before is closed. */
void fuzz_ram_repoison(fuzz_ram *ram);
/* The same range's bytes without unpoisoning, for the harness's own checks after a load. */
const uint8_t *fuzz_ram_peek(fuzz_ram *ram, uint64_t gpa, uint64_t len);
/* The same, but NULL when part of the range was never handed out by a helper (under ASan, which tracks that;
 * elsewhere the same as fuzz_ram_peek): for a harness that looks for something where it may not have been put. */
const uint8_t *fuzz_ram_peek_handed(fuzz_ram *ram, uint64_t gpa, uint64_t len);

/* Helper-table functions over fuzz_ram_current; log formats its message (so bad format arguments show), prints
 * it when FUZZ_VERBOSE is set and hands it to fuzz_ram_log_hook when a harness set one (to check it). */
void fuzz_ram_set_helpers(vmm_helpers *hlp);
extern void (*fuzz_ram_log_hook)(vmm_log_level level, const char *msg);

#endif
