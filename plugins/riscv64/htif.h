/*
 * htif: Spike's host-target interface as riscv-tests and their benchmark runtime use it, a mailbox in guest RAM
 * at the program's tohost/fromhost symbols: exit with a status (pass, or the failing test's number), a console
 * character, and the write and exit syscalls of a syscall block. Called by riscv64.c on the hart's thread after
 * a store reached tohost (the recompiler's store watch).
 */
#ifndef HTIF_H
#define HTIF_H

#include <stddef.h>
#include <stdint.h>

typedef struct htif_ops {
    void *opaque;
    void (*console)(void *opaque, const void *buf, size_t len);
    /* The guest ended itself: status 0 (pass) to 255; `why` for a failure, else NULL. */
    void (*exit)(void *opaque, int status, const char *why);
    /* The mailbox wrote len bytes of guest RAM at addr (for dirty-page logging). */
    void (*wrote)(void *opaque, uint64_t addr, uint64_t len);
} htif_ops;

typedef struct htif {
    uint8_t *ram;           /* host view of guest RAM [ram_base, ram_base + ram_size) */
    uint64_t ram_base, ram_size;
    uint64_t tohost, fromhost; /* guest addresses; fromhost 0: none */
    htif_ops ops;
} htif;

/* Serve the command tohost holds, if any, and clear it. Returns 1 when the guest ended itself, else 0. */
int htif_tohost_written(htif *h);

#endif
