/* clint: the riscv64 board's timer and software interrupts, per hart (see clint.h). */
#include "clint.h"

#include <time.h>

#include "rv_cpu.h"

#define CLINT_NS_PER_TICK (1000000000u / CLINT_HZ)
#define CLINT_MTIMECMP 0x4000u
#define CLINT_MTIME 0xbff8u

static uint64_t clint_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void clint_init(clint *c, unsigned harts)
{
    c->start_ns = clint_now_ns();
    c->harts = harts > CLINT_MAX_HARTS ? CLINT_MAX_HARTS : harts;
    for (unsigned h = 0; h < CLINT_MAX_HARTS; h++) {
        c->mtimecmp[h] = ~0ull;
        c->msip[h] = 0;
    }
}

uint64_t clint_mtime(const clint *c)
{
    return (clint_now_ns() - c->start_ns) / CLINT_NS_PER_TICK;
}

void clint_set(clint *c, uint64_t mtime)
{
    /* Unsigned arithmetic wraps: a guest older than this host's uptime gets a start "before boot", and
     * clint_mtime's difference still comes out right. */
    c->start_ns = clint_now_ns() - mtime * CLINT_NS_PER_TICK;
}

void clint_set_hart(clint *c, unsigned hart, uint64_t mtimecmp, uint32_t msip)
{
    if (hart >= c->harts)
        return;
    __atomic_store_n(&c->mtimecmp[hart], mtimecmp, __ATOMIC_RELEASE);
    __atomic_store_n(&c->msip[hart], msip & 1, __ATOMIC_RELEASE);
}

int clint_access(clint *c, uint64_t off, unsigned size, int is_write, uint64_t *val)
{
    uint64_t width = size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
    if (off < 4ull * c->harts && size <= 4) {
        unsigned h = (unsigned)(off / 4), sh = (unsigned)(off % 4) * 8;
        if (!is_write) {
            *val = (__atomic_load_n(&c->msip[h], __ATOMIC_ACQUIRE) >> sh) & width;
            return -1;
        }
        if (sh == 0) /* bit 0 of the word is all there is */
            __atomic_store_n(&c->msip[h], (uint32_t)*val & 1, __ATOMIC_RELEASE);
        return (int)h;
    }
    if (off >= CLINT_MTIMECMP && off < CLINT_MTIMECMP + 8ull * c->harts) {
        unsigned h = (unsigned)((off - CLINT_MTIMECMP) / 8), sh = (unsigned)((off - CLINT_MTIMECMP) % 8) * 8;
        uint64_t mask = width << sh, cmp = __atomic_load_n(&c->mtimecmp[h], __ATOMIC_ACQUIRE);
        if (!is_write) {
            *val = (cmp & mask) >> sh;
            return -1;
        }
        __atomic_store_n(&c->mtimecmp[h], (cmp & ~mask) | ((*val << sh) & mask), __ATOMIC_RELEASE);
        return (int)h;
    }
    if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
        unsigned sh = (unsigned)(off - CLINT_MTIME) * 8;
        if (!is_write)
            *val = (clint_mtime(c) >> sh) & width;
    } else if (!is_write) {
        *val = 0;
    }
    return -1;
}

uint64_t clint_pending(const clint *c, unsigned hart)
{
    uint64_t mip = 0;
    if (clint_mtime(c) >= __atomic_load_n(&c->mtimecmp[hart], __ATOMIC_ACQUIRE))
        mip |= 1ull << RV_IRQ_MTI;
    if (__atomic_load_n(&c->msip[hart], __ATOMIC_ACQUIRE) & 1)
        mip |= 1ull << RV_IRQ_MSI;
    return mip;
}

uint64_t clint_wait_ns(const clint *c, unsigned hart)
{
    uint64_t now = clint_mtime(c), cmp = __atomic_load_n(&c->mtimecmp[hart], __ATOMIC_ACQUIRE);
    if (now >= cmp || cmp - now > UINT64_MAX / CLINT_NS_PER_TICK)
        return UINT64_MAX;
    return (cmp - now) * CLINT_NS_PER_TICK;
}
