/* clint: the riscv64 board's timer and software interrupt (see clint.h). */
#include "clint.h"

#include <time.h>

#include "rv_cpu.h"

#define CLINT_NS_PER_TICK (1000000000u / CLINT_HZ)

static uint64_t clint_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void clint_init(clint *c)
{
    c->start_ns = clint_now_ns();
    c->mtimecmp = ~0ull;
    c->msip = 0;
}

uint64_t clint_mtime(const clint *c)
{
    return (clint_now_ns() - c->start_ns) / CLINT_NS_PER_TICK;
}

void clint_set(clint *c, uint64_t mtime, uint64_t mtimecmp, uint32_t msip)
{
    /* Unsigned arithmetic wraps: a guest older than this host's uptime gets a start "before boot", and
     * clint_mtime's difference still comes out right. */
    c->start_ns = clint_now_ns() - mtime * CLINT_NS_PER_TICK;
    c->mtimecmp = mtimecmp;
    c->msip = msip;
}

void clint_access(clint *c, uint64_t off, unsigned size, int is_write, uint64_t *val)
{
    uint64_t width = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
    if (off < 4 && size <= 4) {
        if (is_write)
            c->msip = (uint32_t)*val & 1;
        else
            *val = c->msip;
    } else if (off >= 0x4000 && off < 0x4008) {
        unsigned sh = (unsigned)(off - 0x4000) * 8;
        uint64_t mask = width << sh;
        if (is_write)
            c->mtimecmp = (c->mtimecmp & ~mask) | ((*val << sh) & mask);
        else
            *val = (c->mtimecmp & mask) >> sh;
    } else if (off >= 0xbff8 && off < 0xc000) {
        unsigned sh = (unsigned)(off - 0xbff8) * 8;
        if (!is_write)
            *val = (clint_mtime(c) >> sh) & width;
    } else if (!is_write) {
        *val = 0;
    }
}

uint64_t clint_pending(const clint *c)
{
    uint64_t mip = 0;
    if (clint_mtime(c) >= c->mtimecmp)
        mip |= 1ull << RV_IRQ_MTI;
    if (c->msip & 1)
        mip |= 1ull << RV_IRQ_MSI;
    return mip;
}

uint64_t clint_wait_ns(const clint *c)
{
    uint64_t now = clint_mtime(c);
    if (now >= c->mtimecmp || c->mtimecmp - now > UINT64_MAX / CLINT_NS_PER_TICK)
        return UINT64_MAX;
    return (c->mtimecmp - now) * CLINT_NS_PER_TICK;
}
