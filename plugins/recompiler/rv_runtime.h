/*
 * rv_runtime: the execution of a RISC-V hart on top of rv_translate: the code buffer (dual-mapped, writable and
 * executable views, never both on one mapping), the translation-block cache and chaining, the dispatcher loop,
 * the helpers generated code calls (memory slow paths, the one-instruction interpreter for CSRs, traps,
 * division and AMOs). It has no devices: everything outside RAM, the interrupt lines into mip, the time CSR and
 * stores the machine watches are the machine's, reached through rv_machine_ops, so this library knows nothing
 * of the vmm plugin ABI nor of a board. Called by the architecture plugin (plugins/riscv64/) on the hart's
 * thread.
 */
#ifndef RV_RUNTIME_H
#define RV_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "rv_cpu.h"

#define RV_RAM_BASE 0x80000000ull

enum { RV_TRACE_IN_ASM = 1, RV_TRACE_OUT_ASM = 2, RV_TRACE_EXEC = 4, RV_TRACE_PROF = 8 };

/* The machine around the hart. Every callback is called on the hart's thread, from the dispatcher or from a
 * helper (never from generated code's fast paths). */
typedef struct rv_machine_ops {
    void *opaque;
    /* An access outside RAM: 0, 1 when done and the hart should leave its block to look at interrupts again
     * (the access changed them: a timer compare, a software interrupt), or -1 when nothing is there (access
     * fault). */
    int (*mmio)(void *opaque, uint64_t addr, unsigned size, int is_write, uint64_t *val);
    /* True when the dispatcher should return to the caller (stop or pause requested). */
    int (*should_return)(void *opaque);
    /* The hart failed beyond recovery (status 1, `why` says what happened). */
    void (*stop)(void *opaque, int status, const char *why);
    /* The interrupt lines the machine drives, as mip bits: MEIP (1 << RV_IRQ_MEI), MTIP, MSIP, SEIP (ORed with
     * the bit M-mode software writes); others ignored. Asked before every block the dispatcher enters and on
     * reads of mip and sip. */
    uint64_t (*irq_pending)(void *opaque);
    /* For WFI: nanoseconds until irq_pending() may change by itself (a timer deadline), or UINT64_MAX. Any
     * other change (a line raised by another thread) must call rv_runtime_wake. */
    uint64_t (*irq_wait_ns)(void *opaque);
    /* The time CSR (rdtime). */
    uint64_t (*time)(void *opaque);
    /* A store reached a range given to rv_runtime_watch (already done in RAM): return 1 to leave the block (the
     * machine stopped the guest, say), else 0. */
    int (*store_watch)(void *opaque, uint64_t addr, unsigned size);
    /* Optional: a count that grows whenever anything but this hart may have written RAM (devices, and other
     * harts where there are any), its writes done when it is read. Where it is NULL, or it grew since the last
     * fence.i, fence.i compares the pages translations were read from; else it keeps them at once. */
    uint64_t (*ram_writes)(void *opaque);
} rv_machine_ops;

typedef struct rv_runtime rv_runtime;

/* ram: host memory of the guest RAM window [RV_RAM_BASE, RV_RAM_BASE + ram_size). */
rv_runtime *rv_runtime_new(uint8_t *ram, uint64_t ram_size, const rv_machine_ops *ops, unsigned trace,
                           char *err, size_t errlen);
void rv_runtime_free(rv_runtime *rt);
rv_cpu *rv_runtime_cpu(rv_runtime *rt);
/* A read-only window outside RAM the hart may execute from (a boot ROM at [base, base + size), host bytes at
 * rom, which must stay valid and unchanged once the hart has run them). Only fetches read it here: data
 * accesses there still go to ops.mmio, which serves them from the same bytes. Returns 0, or -1 when it overlaps
 * RAM or is empty. */
int rv_runtime_map_rom(rv_runtime *rt, uint64_t base, const uint8_t *rom, uint64_t size);
/* Stores to guest RAM [addr, addr + len) call ops.store_watch (a mailbox such as HTIF's tohost); at most 4
 * ranges. Returns 0, or -1 when the range is not in RAM or the table is full. */
int rv_runtime_watch(rv_runtime *rt, uint64_t addr, uint64_t len);
/* Dirty-page tracking of guest RAM, for the in-process engine's log (incremental and live snapshots): after
 * rv_runtime_dirty_start, every write the hart makes to RAM (generated code, helpers, AMOs) is recorded per
 * 4 KiB page until rv_runtime_dirty_collect ORs the pages [first_page, first_page + npages) into bitmap (bit i =
 * page first_page + i) and forgets them. The first store to a page after a collection takes the slow path once;
 * the stores after it cost nothing. Writes the machine makes itself are not seen here. Call both with the hart
 * stopped (not inside rv_runtime_run). Return 0, or -1 (out of memory; a range outside RAM or no tracking). */
int rv_runtime_dirty_start(rv_runtime *rt);
int rv_runtime_dirty_collect(rv_runtime *rt, uint64_t first_page, uint64_t npages, uint64_t *bitmap);
/* Misaligned loads and stores: trap (0, the default) or perform them when they lie in RAM (1). AMOs and LR/SC
 * always trap. */
void rv_runtime_set_misaligned(rv_runtime *rt, int emulate);
/* In-VM mode (exec=rc): generated code runs at the VM's ring 3, from a code buffer and with an rv_cpu in memory
 * shared with the VM (host pointer + the VM address of the same bytes), and leaves to the host by `out` on
 * `port`; the caller maps these regions for ring 3 and calls rv_runtime_vm_exit() for each such exit. */
typedef struct rv_vm_layout {
    uint8_t *ram;                /* host view of guest RAM */
    uint64_t ram_size, ram_va;   /* where ring 3 finds it */
    uint8_t *cpu_host;           /* rv_cpu and codemap: rv_runtime_vm_cpu_bytes(ram_size) bytes at least */
    uint64_t cpu_va;
    size_t cpu_size;
    uint8_t *code_host;          /* the code buffer: host (writable) and VM (ring 3, read + execute) views */
    uint64_t code_va;
    size_t code_size;
    uint16_t port;
} rv_vm_layout;
size_t rv_runtime_vm_cpu_bytes(uint64_t ram_size);
rv_runtime *rv_runtime_new_vm(const rv_vm_layout *layout, const rv_machine_ops *ops, unsigned trace, char *err,
                              size_t errlen);
/* Where ring 3 starts (its stack is the caller's), and the handler of the value ring 3 wrote to the port. */
uint64_t rv_runtime_vm_entry(rv_runtime *rt);
void rv_runtime_vm_exit(rv_runtime *rt, uint32_t code);
/* Exits to the host by kind (dispatch, load, store, interp) for --stats. */
void rv_runtime_vm_stats(rv_runtime *rt, uint64_t counts[4]);

/* After the machine replaced the hart's registers (a restored snapshot): translations, the TLB and the jump
 * cache are rebuilt from the new state (they are never saved). */
void rv_runtime_state_loaded(rv_runtime *rt);

/* After raising a bit irq_pending() reports, from any thread (async-signal-safe): a hart sleeping in WFI
 * looks at its interrupts again at once. A running hart sees the bit when it next comes back to its dispatcher,
 * at the latest when its quantum ends (200,000 instructions in process, 2 million in the VM). */
void rv_runtime_wake(rv_runtime *rt);

/* SMP: the hart's mhartid (0 until set). Harts of one machine are runtimes of their own over the same RAM, each
 * on its own thread: AMOs and LR/SC are host atomics on that RAM; a hart's stores to code another hart translated
 * reach that hart at its next fence.i, which flushes all its translations (the spec asks no more). */
void rv_runtime_set_hartid(rv_runtime *rt, uint64_t hartid);

/* Run until should_return() or until the guest stops; returns 0, or -1 once the hart cannot continue. */
int rv_runtime_run(rv_runtime *rt);
/* Registers and the instructions around pc, for error reports. */
void rv_runtime_dump(rv_runtime *rt, void (*print)(void *opaque, const char *line), void *opaque);
/* Counters for --stats, and the guest registers pinned in host registers now (comma-separated names). */
void rv_runtime_stats(rv_runtime *rt, uint64_t *instret, uint64_t *blocks, uint64_t *flushes, uint64_t *chains,
                      uint64_t *repins, char *pinned, size_t pinned_len);
/* fence.i that kept the translations, and of those the ones that needed no page compared (ops.ram_writes). */
void rv_runtime_fencei_stats(rv_runtime *rt, uint64_t *kept, uint64_t *unread);

#endif
