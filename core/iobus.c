/* iobus: see iobus.h. */
#include "iobus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void iobus_init(iobus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
}

void iobus_free(iobus *bus)
{
    free(bus->ranges);
    bus->ranges = NULL;
    bus->count = bus->cap = 0;
}

static size_t iobus_lower_bound(const iobus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const io_range *r = &bus->ranges[mid];
        if (r->base + (r->size - 1) < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int iobus_register(iobus *bus, const io_range *range, const char *owner_name, char *err, size_t errlen)
{
    if (range->size == 0 || range->base + (range->size - 1) < range->base) {
        snprintf(err, errlen, "%s: %s range at 0x%" PRIx64 " size 0x%" PRIx64 " is empty or wraps around", owner_name,
                 bus->name, range->base, range->size);
        return -1;
    }
    size_t at = iobus_lower_bound(bus, range->base);
    if (at < bus->count && bus->ranges[at].base <= range->base + (range->size - 1)) {
        const io_range *o = &bus->ranges[at];
        snprintf(err, errlen, "%s: %s range 0x%" PRIx64 "-0x%" PRIx64 " overlaps 0x%" PRIx64 "-0x%" PRIx64
                 " registered earlier", owner_name, bus->name, range->base, range->base + range->size - 1, o->base,
                 o->base + o->size - 1);
        return -1;
    }
    if (bus->count == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 16;
        io_range *n = realloc(bus->ranges, cap * sizeof(*n));
        if (!n) {
            snprintf(err, errlen, "%s: out of memory", owner_name);
            return -1;
        }
        bus->ranges = n;
        bus->cap = cap;
    }
    memmove(&bus->ranges[at + 1], &bus->ranges[at], (bus->count - at) * sizeof(*bus->ranges));
    bus->ranges[at] = *range;
    bus->count++;
    return 0;
}

const io_range *iobus_find(const iobus *bus, uint64_t addr)
{
    size_t at = iobus_lower_bound(bus, addr);
    if (at < bus->count && bus->ranges[at].base <= addr)
        return &bus->ranges[at];
    return NULL;
}
