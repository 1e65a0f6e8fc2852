/* rv_mmu: Sv39/Sv48 page-table walks and the software TLB (see rv_mmu.h). */
#include "rv_mmu.h"

#include <string.h>

#define RV_RAM_BASE_MMU 0x80000000ull

#define PTE_V (1u << 0)
#define PTE_R (1u << 1)
#define PTE_W (1u << 2)
#define PTE_X (1u << 3)
#define PTE_U (1u << 4)
#define PTE_A (1u << 6)
#define PTE_D (1u << 7)
#define PTE_RESERVED (0x3ffull << 54) /* N, PBMT and bits 60:54: no Svnapot, no Svpbmt */
#define PTE_PPN(p) (((p) >> 10) & ((1ull << 44) - 1))

unsigned rv_mmu_data_priv(const rv_cpu *c)
{
    if (c->priv == RV_PRIV_M && (c->mstatus & RV_MSTATUS_MPRV))
        return (unsigned)((c->mstatus & RV_MSTATUS_MPP) >> 11);
    return c->priv;
}

int rv_mmu_data_paged(const rv_cpu *c)
{
    return RV_SATP_MODE(c->satp) != RV_SATP_BARE && rv_mmu_data_priv(c) != RV_PRIV_M;
}

int rv_mmu_fetch_paged(const rv_cpu *c)
{
    return RV_SATP_MODE(c->satp) != RV_SATP_BARE && c->priv != RV_PRIV_M;
}

static int rv_mmu_fault(int access)
{
    return access == RV_ACC_FETCH ? RV_EXC_INSN_PAGE : access == RV_ACC_STORE ? RV_EXC_STORE_PAGE : RV_EXC_LOAD_PAGE;
}

static int rv_mmu_access_fault(int access)
{
    return access == RV_ACC_FETCH ? RV_EXC_INSN_ACCESS : access == RV_ACC_STORE ? RV_EXC_STORE_ACCESS
                                                                                : RV_EXC_LOAD_ACCESS;
}

/* Whether a leaf PTE allows this access at priv (MXR, SUM from mstatus; S never executes U pages). */
static int rv_mmu_allows(const rv_cpu *c, uint64_t pte, int access, unsigned priv)
{
    if (pte & PTE_U) {
        if (priv == RV_PRIV_S && (access == RV_ACC_FETCH || !(c->mstatus & RV_MSTATUS_SUM)))
            return 0;
    } else if (priv == RV_PRIV_U) {
        return 0;
    }
    switch (access) {
    case RV_ACC_FETCH: return (pte & PTE_X) != 0;
    case RV_ACC_STORE: return (pte & PTE_W) != 0;
    default: return (pte & PTE_R) || ((c->mstatus & RV_MSTATUS_MXR) && (pte & PTE_X));
    }
}

int rv_mmu_translate(const rv_cpu *c, uint8_t *ram, uint64_t ram_size, uint64_t va, int access, unsigned priv,
                     rv_mmu_result *out)
{
    unsigned mode = RV_SATP_MODE(c->satp);
    int levels = mode == RV_SATP_SV48 ? 4 : 3;
    unsigned vabits = 12 + 9 * (unsigned)levels;
    out->pte_written = -1;
    int probe = access == RV_ACC_FETCH_PROBE;
    if (probe)
        access = RV_ACC_FETCH;
    /* Bits above the virtual address width must all equal its top bit. */
    if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
        return rv_mmu_fault(access);
restart:;
    uint64_t table = PTE_PPN(c->satp << 10) << 12; /* satp.PPN is bits 43:0 */
    for (int i = levels - 1; i >= 0; i--) {
        uint64_t pte_pa = table + ((va >> (12 + 9 * i)) & 511) * 8;
        uint64_t off = pte_pa - RV_RAM_BASE_MMU;
        if (pte_pa < RV_RAM_BASE_MMU || off >= ram_size || ram_size - off < 8)
            return rv_mmu_access_fault(access);
        uint64_t *slot = (uint64_t *)(void *)(ram + off);
        uint64_t pte = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (!(pte & PTE_V) || ((pte & (PTE_R | PTE_W)) == PTE_W) || (pte & PTE_RESERVED))
            return rv_mmu_fault(access);
        if (!(pte & (PTE_R | PTE_X))) {
            /* A pointer to the next level: A, D and U are reserved there. */
            if (i == 0 || (pte & (PTE_A | PTE_D | PTE_U)))
                return rv_mmu_fault(access);
            table = PTE_PPN(pte) << 12;
            continue;
        }
        if (!rv_mmu_allows(c, pte, access, priv))
            return rv_mmu_fault(access);
        uint64_t ppn = PTE_PPN(pte);
        uint64_t low = (1ull << (9 * i)) - 1; /* superpage: its PPN's low levels must be zero */
        if (ppn & low)
            return rv_mmu_fault(access);
        uint64_t want = pte | PTE_A | (access == RV_ACC_STORE ? PTE_D : 0);
        if (want != pte) {
            if (probe)
                return rv_mmu_fault(access);
            /* The hardware A/D update: atomic, and only if the PTE is still what was checked (another hart may
             * have changed it: then walk again). */
            if (!__atomic_compare_exchange_n(slot, &pte, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                goto restart;
            out->pte_written = (int64_t)off;
            pte = want;
        }
        out->pa = ((ppn | ((va >> 12) & low)) << 12) | (va & 0xfff);
        out->level = (unsigned)i;
        out->can_read = rv_mmu_allows(c, pte, RV_ACC_LOAD, priv);
        out->can_write = rv_mmu_allows(c, pte, RV_ACC_STORE, priv) && (pte & PTE_D);
        return 0;
    }
    return rv_mmu_fault(access);
}

void rv_mmu_tlb_flush(rv_cpu *c)
{
    /* (In exec=rc ring 3 can write these fields: the indices are masked, and a wrong count only leaves the guest
     * its own stale translations, which lead into RAM as any entry does.) */
    uint32_t n = c->tlb_nused;
    if (n == 0)
        return;
    if (n <= RV_TLB_USED_MAX) {
        for (uint32_t i = 0; i < n; i++)
            c->tlb[c->tlb_used[i] & (RV_TLB_SIZE - 1)] = (rv_tlb_entry){ ~0ull, ~0ull, 0, 0 };
    } else {
        memset(c->tlb, 0xff, sizeof(c->tlb));
    }
    memset(c->site_ld, 0xff, sizeof(c->site_ld));
    memset(c->site_st, 0xff, sizeof(c->site_st));
    c->tlb_nused = 0;
}

void rv_mmu_tlb_flush_page(rv_cpu *c, uint64_t va)
{
    uint64_t page = va & ~0xfffull;
    rv_tlb_entry *e = &c->tlb[(va >> 12) & (RV_TLB_SIZE - 1)];
    if (e->tag_r == page || e->tag_w == page)
        e->tag_r = e->tag_w = ~0ull;
    /* A site may still hold the page after the TLB replaced it. */
    for (unsigned i = 0; i < RV_SITES; i++) {
        if (c->site_ld[i].tag == page)
            c->site_ld[i].tag = ~0ull;
        if (c->site_st[i].tag == page)
            c->site_st[i].tag = ~0ull;
    }
}

void rv_mmu_tlb_drop_writes(rv_cpu *c, uint64_t first, uint64_t last)
{
    for (unsigned i = 0; i < RV_TLB_SIZE; i++) {
        rv_tlb_entry *e = &c->tlb[i];
        if (e->tag_w != ~0ull) {
            uint64_t page = (e->tag_w + e->addend) >> 12;
            if (page >= first && page <= last)
                e->tag_w = ~0ull;
        }
    }
    /* A site may hold a write entry the TLB has since replaced. */
    for (unsigned i = 0; i < RV_SITES; i++) {
        rv_site_entry *e = &c->site_st[i];
        if (e->tag != ~0ull) {
            uint64_t page = (e->tag + (e->host_addend - c->ram)) >> 12;
            if (page >= first && page <= last)
                e->tag = ~0ull;
        }
    }
}

void rv_mmu_tlb_fill(rv_cpu *c, uint64_t va, uint64_t pa_off, int can_read, int can_write)
{
    unsigned i = (unsigned)(va >> 12) & (RV_TLB_SIZE - 1);
    rv_tlb_entry *e = &c->tlb[i];
    uint64_t page = va & ~0xfffull;
    if (c->tlb_nused < RV_TLB_USED_MAX)
        c->tlb_used[c->tlb_nused] = (uint8_t)i;
    if (c->tlb_nused <= RV_TLB_USED_MAX)
        c->tlb_nused++;
    e->tag_r = can_read ? page : ~0ull;
    e->tag_w = can_write ? page : ~0ull;
    e->addend = (pa_off & ~0xfffull) - page;
    e->host_addend = c->ram + e->addend;
}
