/*
 * clint: the core-local interruptor of the riscv64 virt board, at QEMU's address and in its (ACLINT-compatible)
 * layout: one msip word per hart at +4 * hart (software interrupt), one mtimecmp per hart at +0x4000 + 8 * hart,
 * and one mtime at +0xbff8 counting at QEMU's 10 MHz from the board's start. It drives each hart's MTIP and MSIP.
 * Called by riscv64.c on any hart's thread (MMIO from one hart may set another's msip or mtimecmp: those fields
 * are accessed atomically), through the runtime's irq_pending and time callbacks.
 */
#ifndef CLINT_H
#define CLINT_H

#include <stdint.h>

#define CLINT_BASE 0x2000000ull
#define CLINT_SIZE 0x10000ull
#define CLINT_HZ 10000000u /* mtime ticks per second, as on QEMU's virt (the device tree's timebase-frequency) */
#define CLINT_MAX_HARTS 8

/* What one hart's thread alone reads and writes in clint_pending: a TSC value before which its MTIP cannot rise
 * (tsc_guard), valid while its mtimecmp is still guard_cmp. */
typedef struct clint_guard {
    uint64_t tsc_guard, guard_cmp;
} clint_guard;

typedef struct clint {
    uint64_t start_ns; /* CLOCK_MONOTONIC at mtime 0, modulo 2^64 (before the host's boot, after a restore) */
    unsigned harts;
    uint64_t mtimecmp[CLINT_MAX_HARTS];
    uint32_t msip[CLINT_MAX_HARTS];
    clint_guard guard[CLINT_MAX_HARTS];
    /* The TSC's rate, for the guards: measured against CLOCK_MONOTONIC (0 until then, or without an invariant
     * TSC), a lower bound in ticks per nanosecond << 32. */
    uint64_t tsc_calib_tsc, tsc_calib_ns, tsc_rate_lo;
} clint;

void clint_init(clint *c, unsigned harts);
/* An access at off (< CLINT_SIZE) of size 1, 2, 4 or 8 bytes; unimplemented registers read 0. Returns the hart
 * whose msip or mtimecmp a write changed (the caller wakes it), or -1. */
int clint_access(clint *c, uint64_t off, unsigned size, int is_write, uint64_t *val);
uint64_t clint_mtime(const clint *c);
/* A restore: mtime continues from the saved value (never jumps back); then each hart's compare and msip. */
void clint_set(clint *c, uint64_t mtime);
void clint_set_hart(clint *c, unsigned hart, uint64_t mtimecmp, uint32_t msip);
/* mip bits of one hart: MTIP once mtime reached its mtimecmp, MSIP while its msip is set. Only on the hart's own
 * thread (it keeps the hart's guard). */
uint64_t clint_pending(clint *c, unsigned hart);
/* Nanoseconds until the hart's MTIP rises, or UINT64_MAX when it is up already or mtimecmp is out of reach. */
uint64_t clint_wait_ns(const clint *c, unsigned hart);

#endif
