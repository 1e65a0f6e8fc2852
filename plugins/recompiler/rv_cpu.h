/*
 * rv_cpu: the guest hart's architectural state as the generated code sees it (register file, pc, the
 * instruction budget, the guest memory window) plus the machine-mode CSRs the runtime keeps. The translator
 * addresses these fields by offset from the host register that holds the rv_cpu pointer, so both execution
 * modes share one layout. In the in-VM mode (exec=rc) this structure lives in memory shared with the VM's ring
 * 3: the runtime on the host treats every field the generated code may write as untrusted, and keeps the
 * host's own pointers and bounds (RAM, codemap) out of it.
 */
#ifndef RV_CPU_H
#define RV_CPU_H

#include <stddef.h>
#include <stdint.h>

#define RV_JC_BITS 12 /* indirect-jump cache: guest pc -> host code, direct-mapped */
#define RV_JC_SIZE (1u << RV_JC_BITS)
/* One jump cache per kind of translation context (rv_runtime.c, rv_jc_ctx): no translation; S with Sv39/48; U
 * with Sv39/48; any other. A trap or xRET between U and S then keeps both (a Linux guest's every system call and
 * interrupt used to empty the one cache, and each return address missed once after it). */
#define RV_JC_CTXS 4
#define RV_CODEMAP_SHIFT 8 /* self-modifying-code granule: 256 bytes of guest RAM per byte of codemap */
#define RV_CODEMAP_CODE 1   /* a translated block covers this granule */
#define RV_CODEMAP_WATCH 2  /* stores here go through the runtime (HTIF tohost) */
#define RV_CODEMAP_DIRTY 4  /* dirty tracking: the page's first store since the log was read goes through the runtime */

enum { RV_PRIV_U = 0, RV_PRIV_S = 1, RV_PRIV_M = 3 };

/* Exception causes (mcause, interrupt bit clear). */
enum {
    RV_EXC_INSN_MISALIGNED = 0, RV_EXC_INSN_ACCESS = 1, RV_EXC_ILLEGAL = 2, RV_EXC_BREAKPOINT = 3,
    RV_EXC_LOAD_MISALIGNED = 4, RV_EXC_LOAD_ACCESS = 5, RV_EXC_STORE_MISALIGNED = 6, RV_EXC_STORE_ACCESS = 7,
    RV_EXC_ECALL_U = 8, RV_EXC_ECALL_S = 9, RV_EXC_ECALL_M = 11,
};
/* misa: RV64 with A, C, D, F, I, M, S and U (what the translator and runtime implement; Zba, Zbb, Zbs too, which
 * misa does not show). */
#define RV_MISA ((2ull << 62) | (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5) | (1u << 8) | (1u << 12) | \
                 (1u << 18) | (1u << 20))

#define RV_IRQ_FLAG (1ull << 63)
#define RV_IRQ_SSI 1
#define RV_IRQ_MSI 3
#define RV_IRQ_STI 5
#define RV_IRQ_MTI 7
#define RV_IRQ_SEI 9
#define RV_IRQ_MEI 11

#define RV_MSTATUS_SIE (1ull << 1)
#define RV_MSTATUS_MIE (1ull << 3)
#define RV_MSTATUS_SPIE (1ull << 5)
#define RV_MSTATUS_MPIE (1ull << 7)
#define RV_MSTATUS_SPP (1ull << 8)
#define RV_MSTATUS_MPP (3ull << 11)
#define RV_MSTATUS_MPRV (1ull << 17)
#define RV_MSTATUS_SUM (1ull << 18)
#define RV_MSTATUS_MXR (1ull << 19)
#define RV_MSTATUS_TVM (1ull << 20)
#define RV_MSTATUS_TW (1ull << 21)
#define RV_MSTATUS_TSR (1ull << 22)
#define RV_PMP_ENTRIES 16

typedef struct rv_jc_entry {
    uint64_t pc;
    uint64_t code; /* executable address */
} rv_jc_entry;

/* Software TLB (paging on): generated code of blocks translated with data translation on checks
 * (va & ~0xfff | (size - 1)) against tag_r / tag_w of entry (va >> 12) & (RV_TLB_SIZE - 1) and adds addend to va to
 * get the RAM offset. A tag of ~0 never matches. The runtime fills entries only for pages inside RAM. */
#define RV_TLB_BITS 8
#define RV_TLB_SIZE (1u << RV_TLB_BITS)
typedef struct rv_tlb_entry {
    uint64_t tag_r, tag_w;
    uint64_t addend;      /* RAM offset of the page minus its virtual address (stores: the code map wants it) */
    uint64_t host_addend; /* the same plus ram (r15): loads need no add */
} rv_tlb_entry;

/* Per-site caches (paging on): each load or store site of a paged block (slot (pc >> 1) & (RV_SITES - 1), loads
 * and stores apart) keeps the TLB entry it last used: tag (the page, as tag_r or tag_w) and host addend. A hit
 * skips the TLB's index computation; a miss goes to the TLB and refills the slot. Entries are copies of TLB
 * entries, so they are emptied with it (rv_mmu_tlb_flush) and store entries lose pages with the write tags
 * (rv_mmu_tlb_drop_writes). */
#define RV_SITE_BITS 8
#define RV_SITES (1u << RV_SITE_BITS)
typedef struct rv_site_entry {
    uint64_t tag;
    uint64_t host_addend;
} rv_site_entry;

typedef struct rv_cpu {
    uint64_t x[32];       /* x[0] stays 0 */
    uint64_t pc;
    int64_t budget;       /* instructions left in this quantum; a block whose count takes it below 0 exits */
    uint64_t ram;         /* where generated code finds guest RAM (r15): a host address in-process, a VM address in the VM */
    int64_t codemap_off;  /* the codemap (one byte per RV_CODEMAP granule of RAM) is this far from this struct */
    uint64_t chain_field; /* set by an exit stub: the rel32 (executable view) to point at the next block */
    uint32_t leave;       /* set by a helper: return to the dispatcher, pc is already set */
    uint32_t priv;
    uint64_t ram_base, ram_size;

    /* Machine-mode CSRs. */
    uint64_t mstatus, mie, mip, mtvec, mscratch, mepc, mcause, mtval, mcounteren;
    uint64_t instret;     /* retired instructions before the current quantum */
    uint64_t quantum;     /* budget the current quantum started with */
    uint64_t lr_addr;     /* LR reservation, or ~0 */
    int wfi;              /* waiting for an interrupt */

    /* Supervisor mode and delegation. mip above holds the bits software writes (SSIP, STIP, SEIP) and the
     * machine's MSIP/MTIP/MEIP as last sampled; the machine's SEIP line is ORed in when mip is read. */
    uint64_t medeleg, mideleg, stvec, sscratch, sepc, scause, stval, scounteren, satp, menvcfg, senvcfg;
    uint64_t pmpcfg[2];                  /* pmpcfg0, pmpcfg2: eight entries each (RV64 has no odd pmpcfg) */
    uint64_t pmpaddr[RV_PMP_ENTRIES];

    /* F and D: the registers (single values NaN-boxed: upper 32 bits all ones) and fcsr (frm in bits 7:5, fflags
     * in 4:0); mstatus.FS above says whether they are used. */
    uint64_t f[32];
    uint64_t fcsr;

    /* In-VM mode only: the ring-3 stubs and the host's exit handler talk through these. */
    uint64_t vm_next;     /* where the dispatch stub jumps after its exit: the enter stub, or itself again */
    uint64_t vm_block;    /* the block the enter stub jumps to */
    uint64_t vm_args[3];  /* helper arguments (the stubs store rsi, rdx, rcx) */
    uint64_t vm_ret;      /* helper result (rax) */

    rv_jc_entry jc[RV_JC_CTXS][RV_JC_SIZE];
    rv_tlb_entry tlb[RV_TLB_SIZE];
    rv_site_entry site_ld[RV_SITES], site_st[RV_SITES];
    /* The TLB entries filled since it was last emptied (more than RV_TLB_USED_MAX: any), so that emptying it
     * costs what was used: Linux's every system call and SUM toggle changes the data context. The site caches
     * are filled only from TLB hits, so none was filled since when none of these was. */
#define RV_TLB_USED_MAX 64
    uint32_t tlb_nused;
    uint8_t tlb_used[RV_TLB_USED_MAX];
} rv_cpu;

#endif
