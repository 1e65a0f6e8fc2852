/* clint: the riscv64 board's timer and software interrupts, per hart (see clint.h). */
#include "clint.h"

#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

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

/* Asked at every dispatch of every hart whether its MTIP is up: a clock read each time was 3-4% of a Linux boot's
 * CPU time (clock_gettime ~23 ns here, rdtsc ~10). With an invariant TSC, a hart whose compare lies ahead notes
 * the TSC value before which it cannot be reached and reads no clock until then: the rate is a lower bound
 * (measured, less 1%) and the horizon at most CLINT_GUARD_MAX_NS, so a guard never ends after the true deadline
 * unless the TSC slowed by more than 1% within that horizon. The clock itself (mtime) stays CLOCK_MONOTONIC. */
#define CLINT_GUARD_MAX_NS 1000000u
#define CLINT_CALIB_NS 20000000u

static int clint_tsc_invariant(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    return __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8));
#else
    return 0;
#endif
}

static uint64_t clint_tsc(void)
{
#if defined(__x86_64__)
    return __rdtsc();
#else
    return 0;
#endif
}

void clint_init(clint *c, unsigned harts)
{
    c->start_ns = clint_now_ns();
    c->tsc_rate_lo = 0;
    c->tsc_calib_tsc = clint_tsc_invariant() ? clint_tsc() : 0;
    c->tsc_calib_ns = c->start_ns;
    c->harts = harts > CLINT_MAX_HARTS ? CLINT_MAX_HARTS : harts;
    for (unsigned h = 0; h < CLINT_MAX_HARTS; h++) {
        c->mtimecmp[h] = ~0ull;
        c->msip[h] = 0;
        c->guard[h] = (clint_guard){ 0, 0 };
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
    for (unsigned h = 0; h < CLINT_MAX_HARTS; h++)
        c->guard[h] = (clint_guard){ 0, 0 }; /* harts are stopped: a restore */
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

/* The rate once CLINT_CALIB_NS have passed since clint_init (on hart 0's thread, which owns the calibration). */
static uint64_t clint_tsc_rate(clint *c, unsigned hart, uint64_t tsc, uint64_t ns)
{
    if (c->tsc_rate_lo || !c->tsc_calib_tsc || hart != 0)
        return __atomic_load_n(&c->tsc_rate_lo, __ATOMIC_ACQUIRE);
    uint64_t dns = ns - c->tsc_calib_ns, dtsc = tsc - c->tsc_calib_tsc;
    if (dns < CLINT_CALIB_NS || tsc <= c->tsc_calib_tsc)
        return 0;
    unsigned __int128 rate = ((unsigned __int128)dtsc << 32) / dns;
    rate -= rate / 100;
    uint64_t r = rate > UINT64_MAX ? 0 : (uint64_t)rate;
    __atomic_store_n(&c->tsc_rate_lo, r, __ATOMIC_RELEASE);
    return r;
}

uint64_t clint_pending(clint *c, unsigned hart)
{
    uint64_t mip = 0, cmp = __atomic_load_n(&c->mtimecmp[hart], __ATOMIC_ACQUIRE);
    clint_guard *g = &c->guard[hart];
    if (cmp == ~0ull) {
        /* never */
    } else if (g->guard_cmp == cmp && g->tsc_guard && clint_tsc() < g->tsc_guard) {
        /* not yet: the TSC has not reached the guard */
    } else {
        uint64_t tsc = clint_tsc(), ns = clint_now_ns(), now = (ns - c->start_ns) / CLINT_NS_PER_TICK;
        g->tsc_guard = 0;
        if (now >= cmp) {
            mip |= 1ull << RV_IRQ_MTI;
        } else {
            uint64_t rate = clint_tsc_rate(c, hart, tsc, ns);
            uint64_t left = cmp - now > CLINT_GUARD_MAX_NS / CLINT_NS_PER_TICK
                                ? CLINT_GUARD_MAX_NS
                                : (cmp - now) * CLINT_NS_PER_TICK - (ns - c->start_ns) % CLINT_NS_PER_TICK;
            if (rate) {
                g->tsc_guard = tsc + (uint64_t)(((unsigned __int128)left * rate) >> 32);
                g->guard_cmp = cmp;
            }
        }
    }
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
