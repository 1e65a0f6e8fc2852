/*
 * Unit test of the recompiler runtime's WFI wake (rv_runtime_wake): a hart that sleeps in WFI with no timer
 * deadline takes an external interrupt (MEIP) raised by another thread as soon as that thread wakes it, not
 * when the runtime's longest WFI sleep (10 ms) ends. The machine here is the test's: RAM, a pending MEIP bit,
 * and a "done" register at 0x100000 that the guest's interrupt handler writes.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rv_runtime.h"

#define DONE_ADDR 0x100000ull
#define TRIALS 7
#define RAISE_AFTER_NS UINT64_C(1000000)/* the hart has been asleep this long when the line rises */
#define MAX_MEDIAN_NS UINT64_C(5000000) /* half the runtime's longest WFI sleep */

/* Machine mode: mtvec = handler, mie = MEIE, mstatus.MIE, then wfi in a loop; the handler stores to DONE_ADDR. */
static const uint32_t prog[] = {
    0x00000297, /* auipc t0, 0 */
    0x02428293, /* addi t0, t0, 36: the handler */
    0x30529073, /* csrw mtvec, t0 */
    0x00001337, /* lui t1, 1 */
    0x80030313, /* addi t1, t1, -2048: t1 = 0x800, MEIE */
    0x30431073, /* csrw mie, t1 */
    0x30046073, /* csrsi mstatus, 8: MIE */
    0x10500073, /* wfi */
    0xffdff06f, /* j the wfi */
    0x001003b7, /* handler: lui t2, 0x100 */
    0x0003a023, /* sw zero, 0(t2) */
    0x0000006f, /* j . */
};

typedef struct machine {
    uint64_t pending; /* atomic: mip bits */
    int done;         /* atomic */
    uint64_t done_ns;
    int failed;
} machine;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int m_mmio(void *opaque, uint64_t addr, unsigned size, int is_write, uint64_t *val)
{
    machine *m = opaque;
    (void)size;
    (void)val;
    if (addr != DONE_ADDR || !is_write)
        return -1;
    m->done_ns = now_ns();
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
    return 0;
}

static int m_should_return(void *opaque)
{
    return __atomic_load_n(&((machine *)opaque)->done, __ATOMIC_ACQUIRE);
}

static void m_stop(void *opaque, int status, const char *why)
{
    machine *m = opaque;
    fprintf(stderr, "the hart stopped (%d): %s\n", status, why ? why : "");
    m->failed = 1;
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
}

static uint64_t m_irq_pending(void *opaque)
{
    return __atomic_load_n(&((machine *)opaque)->pending, __ATOMIC_ACQUIRE);
}

static uint64_t m_irq_wait_ns(void *opaque)
{
    (void)opaque;
    return UINT64_MAX; /* no timer: only a wake or the runtime's own limit ends the sleep */
}

static uint64_t m_time(void *opaque)
{
    (void)opaque;
    return 0;
}

static int m_store_watch(void *opaque, uint64_t addr, unsigned size)
{
    (void)opaque;
    (void)addr;
    (void)size;
    return 0;
}

static void *hart(void *arg)
{
    rv_runtime_run(arg);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One hart asleep in WFI, woken by a line raised from this thread; the latency until its handler ran. */
static int trial(uint8_t *ram, uint64_t ram_size, uint64_t *latency)
{
    machine m = { 0 };
    rv_machine_ops ops = { .opaque = &m, .mmio = m_mmio, .should_return = m_should_return, .stop = m_stop,
                           .irq_pending = m_irq_pending, .irq_wait_ns = m_irq_wait_ns, .time = m_time,
                           .store_watch = m_store_watch };
    char err[256];
    memset(ram, 0, ram_size);
    memcpy(ram, prog, sizeof(prog));
    rv_runtime *rt = rv_runtime_new(ram, ram_size, &ops, 0, err, sizeof(err));
    if (!rt) {
        fprintf(stderr, "rv_runtime_new: %s\n", err);
        return -1;
    }
    rv_cpu *c = rv_runtime_cpu(rt);
    c->pc = RV_RAM_BASE;
    pthread_t t;
    if (pthread_create(&t, NULL, hart, rt)) {
        rv_runtime_free(rt);
        return -1;
    }
    uint64_t t0 = now_ns();
    while (!__atomic_load_n(&c->wfi, __ATOMIC_ACQUIRE) && now_ns() - t0 < 5000000000ull) {
        struct timespec ts = { 0, 100000 };
        nanosleep(&ts, NULL);
    }
    struct timespec ts = { 0, (long)RAISE_AFTER_NS };
    nanosleep(&ts, NULL);
    uint64_t raised = now_ns();
    __atomic_store_n(&m.pending, 1ull << RV_IRQ_MEI, __ATOMIC_RELEASE);
    rv_runtime_wake(rt);
    pthread_join(t, NULL);
    int ok = !m.failed && m.done_ns && c->mcause == (RV_IRQ_FLAG | RV_IRQ_MEI);
    if (!ok)
        fprintf(stderr, "the hart did not take the external interrupt (mcause 0x%" PRIx64 ")\n", c->mcause);
    *latency = m.done_ns - raised;
    rv_runtime_free(rt);
    return ok ? 0 : -1;
}

int main(void)
{
    uint64_t ram_size = 64 << 10, lat[TRIALS];
    uint8_t *ram = calloc(1, ram_size);
    if (!ram)
        return 1;
    for (int i = 0; i < TRIALS; i++)
        if (trial(ram, ram_size, &lat[i])) {
            free(ram);
            return 1;
        }
    free(ram);
    qsort(lat, TRIALS, sizeof(lat[0]), cmp_u64);
    printf("WFI wake latency over %d trials: min %" PRIu64 " us, median %" PRIu64 " us, max %" PRIu64 " us\n",
           TRIALS, lat[0] / 1000, lat[TRIALS / 2] / 1000, lat[TRIALS - 1] / 1000);
    if (lat[TRIALS / 2] > MAX_MEDIAN_NS) {
        fprintf(stderr, "FAIL: the median latency is above %" PRIu64 " us: the wake did not end the WFI sleep\n",
                MAX_MEDIAN_NS / 1000);
        return 1;
    }
    return 0;
}
