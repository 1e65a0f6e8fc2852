/*
 * rv_translate: the RISC-V -> x86-64 translator. It turns one guest basic block into host code in a buffer it
 * is given and knows nothing about where guest memory comes from or how helpers reach devices: the runtime
 * (rv_runtime.c for the in-process mode) supplies the fetch function, the helpers and the code buffer, so the
 * in-VM mode can reuse this file unchanged.
 *
 * Register convention of the generated code: rbp = rv_cpu * (the codemap lies at a fixed offset from it),
 * r15 = host address of guest RAM, r11 = the instruction budget, rax/rcx/rdx scratch, and nine guest registers
 * pinned in host
 * registers (rv_pin_map: the runtime picks them per program) for the whole time generated code runs; they (and
 * the budget) are written back to rv_cpu around every helper call and on exit.
 */
#ifndef RV_TRANSLATE_H
#define RV_TRANSLATE_H

#include <stdint.h>

#include "rv_cpu.h"
#include "x64_emit.h"

#define RV_TB_MAX_INSNS 64
#define RV_TB_MAX_CODE 16384 /* host bytes one block can need, slow paths included */

/* Helpers the generated code calls (System V ABI). `info` packs the access size (bits 0..7), signedness (bit
 * 8), the instruction length (bits 16..23) and, for loads, rd (bits 24..28). cpu->pc holds the instruction's
 * address on entry. A helper that diverts control (trap, stop, flushed code) sets cpu->pc and cpu->leave; a
 * load that completed but must leave (the VM is stopping) writes rd itself, since generated code then does
 * not. */
typedef uint64_t (*rv_load_helper_fn)(rv_cpu *cpu, uint64_t addr, uint32_t info);
typedef void (*rv_store_helper_fn)(rv_cpu *cpu, uint64_t addr, uint64_t val, uint32_t info);
/* Executes one instruction that has no inline translation; sets cpu->pc to what follows it. */
typedef void (*rv_interp_helper_fn)(rv_cpu *cpu, uint32_t raw);

#define RV_PIN_SLOTS 9
/* Guest register -> host register (-1: lives in rv_cpu.x). One map for all blocks of a code buffer, since
 * chained blocks hand registers to each other without a sync. */
typedef struct rv_pin_map {
    int8_t host[33]; /* [32]: a pseudo register in rdx, for if-converted code */
} rv_pin_map;
#define RV_PSEUDO_REG 32
extern const int rv_pin_hosts[RV_PIN_SLOTS];
/* Pin regs[0..n) (guest register numbers, x0 ignored) to the host registers in rv_pin_hosts order. */
void rv_pin_map_build(rv_pin_map *m, const uint8_t *regs, unsigned n);

/* The shared part of every helper call from generated code, one thunk per helper, emitted for the pin map after
 * the trampolines or the VM stubs: spill the pinned registers and the budget, call the helper (rdi = the CPU,
 * rsi = what the call site put in rax; rdx and rcx as it set them: none of the three holds a guest register),
 * reload, then return to the site with the result in rax, or, when the helper asked to leave (cpu->leave), drop
 * the return address and exit to the dispatcher as the block's own "pc already set" exit does. A call site is
 * then 4 to 7 instructions instead of about 28: boot code is full of such sites (every load or store's slow
 * path, every CSR access), and emitting them was much of translation time. Like the trampolines, they come out
 * byte for byte the same for the same map and helpers, so a flush under a running helper is harmless. */
typedef struct rv_helper_thunks {
    uint8_t *load, *store, *interp; /* writable-view addresses */
} rv_helper_thunks;
void rv_emit_helper_thunks(x64_buf *b, const rv_pin_map *map, uint64_t load, uint64_t store, uint64_t interp,
                           uint8_t *epilogue, rv_helper_thunks *out);

typedef struct rv_xlate_env {
    const rv_pin_map *map;
    x64_buf *buf;            /* where the block goes (writable view) */
    int64_t exec_delta;      /* executable-view address minus writable-view address of the same byte */
    uint8_t *epilogue;       /* writable-view address of the common exit to the dispatcher */
    int (*fetch16)(void *opaque, uint64_t addr, uint16_t *out); /* 0, or -1 when addr is not fetchable */
    void *opaque;
    uint64_t ram_base, ram_size;
    int32_t codemap_off;     /* rv_cpu.codemap - rv_cpu pointer */
    /* The helpers (rv_*_helper_fn: C functions in process, ring-3 stubs in the VM) through their thunks for
     * this map. */
    const rv_helper_thunks *thunks;
    int32_t jc_off;          /* the rv_cpu offset of the jump cache of the block's context (rv_cpu.jc) */
    int no_chain;            /* every block exit returns to the dispatcher (exec tracing) */
    int paged;               /* loads and stores are translated: through rv_cpu.tlb inline, else the helpers */
    /* Inline F/D: 1 = load MXCSR with 0x1f80 before each operation (exec=rc: nothing else resets the VM's
     * MXCSR); 0 = the runtime keeps MXCSR at 0x1f80 with clear flags whenever generated code runs (in process). */
    int fp_mxcsr_each;
    /* Fused multiply-adds inline as FMA3 (vfmadd...): only where the CPU running the code has it. In process that
     * is this host; exec=rc runs it in a VM whose CPU may lack FMA (or VEX) although the host has it: 0 there,
     * and the interpreter helper (on the host) computes them. */
    int fma;
    /* Fetch is translated: chain only exits to the block's own virtual page (chain_vpage), so that chained code
     * never runs without the dispatcher having checked its page's mapping since the last sfence.vma. */
    int page_chains;
    uint64_t chain_vpage;
} rv_xlate_env;

typedef struct rv_xlate_result {
    uint8_t *code;           /* writable-view start of the block */
    uint8_t *code_end;
    uint64_t pc, end_pc;     /* guest range [pc, end_pc) */
    unsigned ninsns;
} rv_xlate_result;

/* The code that enters generated code: void enter(rv_cpu *cpu, void *code), and the common epilogue that
 * returns from it. Emitted once per code buffer. */
void rv_emit_trampolines(x64_buf *b, const rv_pin_map *map, uint8_t **enter, uint8_t **epilogue);

/* In-VM mode: the fixed ring-3 stubs at the start of the code buffer (the same bytes whatever the pin map, so
 * a flush while the vCPU sits in one of them is harmless), then the enter and epilogue code for the map. Each
 * stub leaves to the host with `out %eax, %dx` (eax = an RV_VMX_* code) on the port the RC opened to ring 3. */
enum { RV_VMX_DISPATCH = 1, RV_VMX_LOAD = 2, RV_VMX_STORE = 3, RV_VMX_INTERP = 4 };
typedef struct rv_vm_stubs {
    uint8_t *entry;    /* ring 3 starts here: rbp = the rv_cpu, r15 = guest RAM, then dispatch */
    uint8_t *dispatch; /* back to the host's dispatcher; then jmp [rbp + vm_next] */
    uint8_t *load, *store, *interp; /* helpers for generated code */
    uint8_t *enter;    /* reload the pinned registers, jmp [rbp + vm_block] */
    uint8_t *epilogue; /* spill them, then dispatch */
    uint8_t *fixed_end;
} rv_vm_stubs;
void rv_emit_vm_stubs(x64_buf *b, const rv_pin_map *map, uint64_t cpu_va, uint16_t port, rv_vm_stubs *out);

/* Translate the block at pc; 0, or -1 if the buffer overflowed (flush and retry). The first instruction is
 * fetchable (the runtime raises an instruction access fault otherwise). */
int rv_translate_block(const rv_xlate_env *env, uint64_t pc, rv_xlate_result *res);

#endif
