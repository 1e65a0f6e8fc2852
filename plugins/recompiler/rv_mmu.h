/*
 * rv_mmu: RISC-V Sv39/Sv48 address translation for the recompiler's runtime (rv_runtime.c, the only caller):
 * which accesses are translated in the hart's current state, the page-table walk of the privileged spec (PTE
 * permission, reserved-encoding, superpage-alignment and canonical-address checks, A/D bits set by
 * compare-and-swap in guest RAM) and the software TLB generated code reads inline (rv_cpu.tlb). Page tables
 * are only ever read from guest RAM: a walk that leaves RAM is an access fault, never a host address.
 */
#ifndef RV_MMU_H
#define RV_MMU_H

#include <stdint.h>

#include "rv_cpu.h"

#define RV_SATP_MODE(s) ((unsigned)((s) >> 60))
#define RV_SATP_BARE 0
#define RV_SATP_SV39 8
#define RV_SATP_SV48 9
#define RV_SATP_ASID_BITS 16 /* all of satp.ASID is kept (WARL: 16 implemented bits) */

enum { RV_ACC_LOAD = 0, RV_ACC_STORE = 1, RV_ACC_FETCH = 2,
       RV_ACC_FETCH_PROBE = 3 /* a fetch walk that never writes a PTE: fails where it would have to set A */ };

/* Exception causes of translation. */
enum { RV_EXC_INSN_PAGE = 12, RV_EXC_LOAD_PAGE = 13, RV_EXC_STORE_PAGE = 15 };

typedef struct rv_mmu_result {
    uint64_t pa;          /* physical address of va */
    int can_read, can_write; /* for the TLB: the page allows loads / stores without another walk (D already set) */
    int64_t pte_written;  /* RAM offset of a PTE whose A/D bits the walk set, or -1 */
    unsigned level;       /* of the leaf: 0 for a 4 KiB page, 1 for 2 MiB, 2 for 1 GiB, 3 for 512 GiB */
} rv_mmu_result;

/* The privilege data accesses are made at (MPRV/MPP in M), and whether they are translated. */
unsigned rv_mmu_data_priv(const rv_cpu *c);
int rv_mmu_data_paged(const rv_cpu *c);
int rv_mmu_fetch_paged(const rv_cpu *c);

/* Translate va for an access of this kind at privilege priv; 0, or the exception cause (page fault 12/13/15, or
 * access fault 1/5/7 when a page-table entry lies outside RAM). */
int rv_mmu_translate(const rv_cpu *c, uint8_t *ram, uint64_t ram_size, uint64_t va, int access, unsigned priv,
                     rv_mmu_result *out);

/* The software TLB: every entry invalid. */
void rv_mmu_tlb_flush(rv_cpu *c);
/* sfence.vma of one address: the entry and the site caches of its 4 KiB page (the caller knows no superpage
 * translation covers it: entries are per 4 KiB page, so one from a superpage would stand for others too). */
void rv_mmu_tlb_flush_page(rv_cpu *c, uint64_t va);
/* Enter a translation of the 4 KiB page holding va (pa in RAM at RAM offset pa_off). */
void rv_mmu_tlb_fill(rv_cpu *c, uint64_t va, uint64_t pa_off, int can_read, int can_write);
/* Generated stores under paging trust the write tag alone (no code-map check): the runtime fills it only for
 * pages whose code map is clear, and drops it from every entry leading into RAM pages first..last (offsets >> 12)
 * before it marks code, a watched range or dirty tracking in them. */
void rv_mmu_tlb_drop_writes(rv_cpu *c, uint64_t first, uint64_t last);

#endif
