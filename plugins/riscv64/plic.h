/*
 * plic: the RISC-V Platform-Level Interrupt Controller of the riscv64 machine, register-compatible with the SiFive
 * PLIC that QEMU's virt board has (priorities, pending bits, per-context enables, thresholds, claim/complete).
 * Sources are level-triggered. Contexts are numbered as on virt: 2 * hart for machine mode, 2 * hart + 1 for
 * supervisor mode. Safe from any thread (a device raises a line from the event loop while the hart claims on its
 * own thread); `notify` is called, under the controller's lock, whenever a context's interrupt output changes.
 * Used by riscv64.c only.
 */
#ifndef RV_PLIC_H
#define RV_PLIC_H

#include <stdint.h>

#define PLIC_BASE 0xc000000ull
#define PLIC_SOURCES 96 /* source 0 does not exist; 1..95, as QEMU's virt */
#define PLIC_SIZE(contexts) (0x200000ull + (uint64_t)(contexts) * 0x1000)

typedef struct plic plic;
typedef void (*plic_notify_fn)(void *opaque, unsigned context, int level);

plic *plic_new(unsigned contexts, plic_notify_fn notify, void *opaque);
void plic_free(plic *p);
/* A device's line: 0 lowered, non-zero raised. -1 for a source the controller does not have. */
int plic_set_line(plic *p, uint32_t source, int level);
/* Register access at offset `off` of the PLIC's region; only aligned 32-bit accesses do anything (others read 0). */
uint64_t plic_read(plic *p, uint64_t off, unsigned size);
void plic_write(plic *p, uint64_t off, unsigned size, uint64_t val);

/* Saved state: the registers the guest programmed, the gateways' claims and the lines' levels (a restored device
 * does not raise its line again). */
typedef struct plic_state {
    uint32_t priority[PLIC_SOURCES];
    uint32_t level[PLIC_SOURCES / 32];
    uint32_t pending[PLIC_SOURCES / 32];
    uint32_t claimed[PLIC_SOURCES / 32];
    uint32_t *enable;    /* contexts * PLIC_SOURCES / 32 words */
    uint32_t *threshold; /* contexts words */
} plic_state;
unsigned plic_contexts(const plic *p);
/* Copy out / in (buffers of plic_contexts() entries for enable and threshold); load re-evaluates the outputs. */
void plic_save(plic *p, plic_state *s);
void plic_load(plic *p, const plic_state *s);

#endif
