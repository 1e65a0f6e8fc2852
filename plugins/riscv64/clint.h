/*
 * clint: the core-local interruptor of the riscv64 virt board, at QEMU's address: msip (software interrupt),
 * mtimecmp and mtime for one hart, mtime counting at QEMU's 10 MHz from the board's start. It drives mip's MTIP
 * and MSIP. Called by riscv64.c on the hart's thread (MMIO, the runtime's irq_pending and time callbacks).
 */
#ifndef CLINT_H
#define CLINT_H

#include <stdint.h>

#define CLINT_BASE 0x2000000ull
#define CLINT_SIZE 0x10000ull
#define CLINT_HZ 10000000u /* mtime ticks per second, as on QEMU's virt (the device tree's timebase-frequency) */

typedef struct clint {
    uint64_t start_ns; /* CLOCK_MONOTONIC at mtime 0, modulo 2^64 (before the host's boot, after a restore) */
    uint64_t mtimecmp;
    uint32_t msip;
} clint;

void clint_init(clint *c);
/* An access at off (< CLINT_SIZE) of size 1, 2, 4 or 8 bytes; unimplemented registers read 0. */
void clint_access(clint *c, uint64_t off, unsigned size, int is_write, uint64_t *val);
uint64_t clint_mtime(const clint *c);
/* A restore: mtime continues from the saved value (never jumps back), with the saved compare and msip. */
void clint_set(clint *c, uint64_t mtime, uint64_t mtimecmp, uint32_t msip);
/* mip bits: MTIP once mtime reached mtimecmp, MSIP while msip is set. */
uint64_t clint_pending(const clint *c);
/* Nanoseconds until MTIP rises, or UINT64_MAX when it is up already or mtimecmp is out of reach. */
uint64_t clint_wait_ns(const clint *c);

#endif
