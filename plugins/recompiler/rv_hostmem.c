/* See rv_hostmem.h. */
#include "rv_hostmem.h"

#include <stdint.h>
#include <sys/mman.h>

#define RV_HOSTMEM_HUGE ((size_t)2 << 20)

void *rv_hostmem_map(size_t len)
{
    /* Over-allocate by one huge page and trim: a kernel before 6.7 does not align large anonymous mappings. */
    uint8_t *p = mmap(NULL, len + RV_HOSTMEM_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)p + RV_HOSTMEM_HUGE - 1) & ~(uintptr_t)(RV_HOSTMEM_HUGE - 1));
    if (at > p)
        munmap(p, (size_t)(at - p));
    if (at + len < p + len + RV_HOSTMEM_HUGE)
        munmap(at + len, (size_t)(p + len + RV_HOSTMEM_HUGE - (at + len)));
    madvise(at, len, MADV_HUGEPAGE);
    return at;
}

void rv_hostmem_unmap(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}
