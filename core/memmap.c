/* memmap: see memmap.h. */
#include "memmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void memmap_init(mem_map *map)
{
    memset(map, 0, sizeof(*map));
}

void memmap_free(mem_map *map)
{
    free(map->regions);
    memset(map, 0, sizeof(*map));
}

const char *memmap_kind_name(mem_kind kind)
{
    switch (kind) {
    case MEM_RAM:
        return "RAM";
    case MEM_ROM:
        return "ROM";
    case MEM_MMIO:
        return "MMIO";
    case MEM_MMIO2:
        return "MMIO2";
    }
    return "?";
}

/* Index of the first region whose end is above gpa: the only candidate that can contain gpa. */
static size_t memmap_lower_bound(const mem_map *map, uint64_t gpa)
{
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mem_region *r = &map->regions[mid];
        if (r->gpa + (r->size - 1) < gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int memmap_add(mem_map *map, const mem_region *region, char *err, size_t errlen)
{
    const char *kind = memmap_kind_name(region->kind);
    if (region->size == 0) {
        snprintf(err, errlen, "%s region '%s' at 0x%" PRIx64 " has size 0", kind, region->name, region->gpa);
        return -1;
    }
    if (region->gpa + (region->size - 1) < region->gpa) {
        snprintf(err, errlen, "%s region '%s' at 0x%" PRIx64 " size 0x%" PRIx64 " wraps around the address space",
                 kind, region->name, region->gpa, region->size);
        return -1;
    }
    if (region->kind != MEM_MMIO &&
        ((region->gpa | region->size) & (MEMMAP_PAGE_SIZE - 1))) {
        snprintf(err, errlen, "%s region '%s' at 0x%" PRIx64 " size 0x%" PRIx64 " is not aligned to %u bytes",
                 kind, region->name, region->gpa, region->size, MEMMAP_PAGE_SIZE);
        return -1;
    }
    size_t at = memmap_lower_bound(map, region->gpa);
    if (at < map->count && map->regions[at].gpa <= region->gpa + (region->size - 1)) {
        const mem_region *o = &map->regions[at];
        snprintf(err, errlen,
                 "%s region '%s' at 0x%" PRIx64 "-0x%" PRIx64 " overlaps %s region '%s' at 0x%" PRIx64 "-0x%" PRIx64,
                 kind, region->name, region->gpa, region->gpa + region->size - 1, memmap_kind_name(o->kind), o->name,
                 o->gpa, o->gpa + o->size - 1);
        return -1;
    }
    if (map->count == map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 16;
        mem_region *n = realloc(map->regions, cap * sizeof(*n));
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        map->regions = n;
        map->cap = cap;
    }
    memmove(&map->regions[at + 1], &map->regions[at], (map->count - at) * sizeof(*map->regions));
    map->regions[at] = *region;
    map->count++;
    return (int)at;
}

mem_region *memmap_find(const mem_map *map, uint64_t gpa)
{
    size_t at = memmap_lower_bound(map, gpa);
    if (at < map->count && map->regions[at].gpa <= gpa)
        return &map->regions[at];
    return NULL;
}

mem_region *memmap_find_range(const mem_map *map, uint64_t gpa, uint64_t len)
{
    if (len == 0 || gpa + (len - 1) < gpa)
        return NULL;
    mem_region *r = memmap_find(map, gpa);
    if (!r || gpa + (len - 1) > r->gpa + (r->size - 1))
        return NULL;
    return r;
}
