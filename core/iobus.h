/*
 * iobus: dispatch of guest port I/O and MMIO accesses to the plugin instance that registered the range.
 * Ranges are kept sorted and found by binary search. Registration happens before vCPUs start; lookups are
 * lock-free after that. Called by core/ only.
 */
#ifndef VMM_CORE_IOBUS_H
#define VMM_CORE_IOBUS_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

typedef struct io_range {
    uint64_t base, size;
    vmm_instance *owner;
    vmm_io_read_fn rd;
    vmm_io_write_fn wr;
} io_range;

typedef struct iobus {
    const char *name; /* "port" or "MMIO", for messages */
    io_range *ranges;
    size_t count, cap;
} iobus;

void iobus_init(iobus *bus, const char *name);
void iobus_free(iobus *bus);
/* Returns 0, or -1 with a one-line reason in err (empty, wrapping or overlapping range). */
int iobus_register(iobus *bus, const io_range *range, const char *owner_name, char *err, size_t errlen);
/* The range containing addr, or NULL. */
const io_range *iobus_find(const iobus *bus, uint64_t addr);

#endif
