/* rv_runtime: in-process execution of translated RISC-V code (see rv_runtime.h). */
#include "rv_runtime.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rv_decode.h"
#include "rv_hostmem.h"
#include "rv_mmu.h"
#include "rv_fpu.h"
#include "rv_translate.h"
#include "rv_codesnap.h"

#define RV_CODE_SIZE (64u << 20)
#define RV_TB_HASH_BITS 16
#define RV_TB_HASH_SIZE (1u << RV_TB_HASH_BITS)
#define RV_QUANTUM 200000 /* instructions between looks at interrupts, timers and stop requests */

/* mip: the lines the machine drives (read-only to the hart), and the bits M-mode software writes. The machine's
 * SEIP line is not stored: reads of mip OR it in, read-modify-writes see only the software bit (as the spec
 * requires, so a csrs/csrc on mip does not latch the external line). */
#define RV_MIP_MACHINE ((1u << RV_IRQ_MSI) | (1u << RV_IRQ_MTI) | (1u << RV_IRQ_MEI))
#define RV_MIP_SOFT ((1u << RV_IRQ_SSI) | (1u << RV_IRQ_STI) | (1u << RV_IRQ_SEI))
#define RV_MIE_MASK (RV_MIP_MACHINE | RV_MIP_SOFT)
/* mideleg: only supervisor interrupts can be delegated. medeleg: every exception S-mode can handle; ecall from
 * M (11) is read-only zero, 10 and 14 are reserved. */
#define RV_MIDELEG_MASK RV_MIP_SOFT
#define RV_MEDELEG_MASK 0xb3ffull
/* mstatus: the bits software may write (MPP separately, it is WARL over M, S and U), and the sstatus view. */
#define RV_MSTATUS_WRITABLE (RV_MSTATUS_SIE | RV_MSTATUS_MIE | RV_MSTATUS_SPIE | RV_MSTATUS_MPIE | RV_MSTATUS_SPP | \
                             RV_MSTATUS_MPRV | RV_MSTATUS_SUM | RV_MSTATUS_MXR | RV_MSTATUS_TVM | RV_MSTATUS_TW | \
                             RV_MSTATUS_TSR | RV_MSTATUS_FS)
#define RV_SSTATUS_WRITABLE (RV_MSTATUS_SIE | RV_MSTATUS_SPIE | RV_MSTATUS_SPP | RV_MSTATUS_SUM | RV_MSTATUS_MXR | \
                             RV_MSTATUS_FS)
#define RV_MSTATUS_UXL (2ull << 32) /* XLEN 64 in U and S; read-only */
#define RV_MSTATUS_SXL (2ull << 34)
#define RV_WATCH_MAX 4
#define RV_JC_USED_MAX 256
/* The longest WFI sleep. The machine's wake and the core's kick signal (ppoll's EINTR) end it sooner; this
 * only bounds a kick that lands between the look at should_return and the sleep. */
#define RV_WFI_MAX_NS 10000000

/* A block is found by its virtual pc, the translation context it was made in (rv_runtime.cur_flags: 0 when
 * neither fetch nor data accesses are translated, which is all of Bare and M-mode (the code does not depend on
 * the privilege then), else RV_CTX_ON | fetch and data translation | the privilege) and, with fetch translated,
 * the RAM page its pc maps to now. Not satp: generated code does not depend on it (the TLB is looked up at run
 * time), so the kernel's blocks serve every address space, while two processes' code at one virtual address
 * in different RAM pages keeps two blocks. */
#define RV_CTX_ON 1u
#define RV_CTX_FETCH 2u
#define RV_CTX_DATA 4u

/* Which jump cache (rv_cpu.jc) a context's blocks use. */
static unsigned rv_jc_ctx(uint32_t flags)
{
    const uint32_t paged = RV_CTX_ON | RV_CTX_FETCH | RV_CTX_DATA;
    if (flags == 0)
        return 0;
    if (flags == (paged | (RV_PRIV_S << 3)))
        return 1;
    if (flags == (paged | (RV_PRIV_U << 3)))
        return 2;
    return 3;
}
typedef struct rv_tb {
    uint64_t tag;    /* pc | 1 (pcs are even), 0: empty, so that an untouched or zeroed table is empty */
    uint64_t key;    /* fetch translated: the RAM offset of the page the block was read from; else 0 */
    uint32_t flags;
    uint32_t code;   /* offset in the code buffer */
    /* Fetch translated: the RAM offset of the next page when the first instruction crosses into it, else ~0;
     * both pages are checked against the current mapping when the dispatcher finds the block. */
    uint64_t poff2;
} rv_tb;

/* In-process, the rv_cpu sits in a block with a pointer back to its runtime (C helpers called by generated code
 * receive only the rv_cpu) and the codemap after it. In the VM it sits in shared memory without that pointer:
 * the exit handler knows its runtime, and no host address is ever written where the VM can read it. */
typedef struct rv_inproc_block {
    rv_runtime *rt;
    uint64_t pad[7];
    rv_cpu cpu;
} rv_inproc_block;

struct rv_runtime {
    rv_cpu *cpu;
    rv_machine_ops ops;
    uint8_t *ram;        /* host view of guest RAM; bounds come from ram_size here, never from rv_cpu */
    uint64_t ram_size;
    const uint8_t *rom;  /* rv_runtime_map_rom: a read-only window the hart may also fetch from */
    uint64_t rom_base, rom_size;
    uint8_t *codemap;    /* host view */
    rv_inproc_block *inproc;
    size_t inproc_len;
    int vm;              /* exec=rc: generated code runs at the VM's ring 3 */
    uint16_t vm_port;
    uint64_t vm_cpu_va;
    rv_vm_stubs stubs;
    int vm_in_block;     /* a block was entered since the last dispatch exit */
    uint64_t quantum_len;
    uint64_t stat_vm_exits[5];
    unsigned trace;
    int emulate_misaligned;

    uint8_t *code_rw, *code_rx; /* in the VM: code_rx is unused, code_rw is the host's MMIO2 pointer */
    size_t code_size;
    ptrdiff_t rx_delta;
    uint8_t *code_start; /* first byte after the trampolines */
    x64_buf buf;
    void (*enter)(rv_cpu *cpu, void *code);
    uint8_t *epilogue;

    rv_tb *tbs;
    unsigned ntbs;

    size_t codemap_len;
    uint64_t code_lo, code_hi; /* granules [lo, hi) may hold RV_CODEMAP_CODE marks */
    uint64_t *dirty;     /* dirty tracking: one bit per 4 KiB page of RAM written since the last collection */
    struct { uint64_t addr, len; } watch[RV_WATCH_MAX]; /* stores here call ops.store_watch */
    unsigned nwatch;

    int stopped;
    int wake_fd;         /* eventfd: rv_runtime_wake ends a WFI sleep */

    /* Which guest registers live in host registers: sampled usage of the code running when quanta expire. */
    rv_pin_map map;
    uint8_t pinned[RV_PIN_SLOTS];
    uint64_t reg_weight[32];
    uint64_t samples, next_decision;
    struct { uint64_t pc, n; } prof[1024]; /* trace=prof: samples per block */

    rv_helper_thunks thunks; /* for the current map, right after the trampolines or VM stubs */
    uint64_t stat_blocks, stat_flushes, stat_chains, stat_repins, stat_walks, stat_fencei_kept, stat_fencei_unread;
    uint64_t fencei_writes; /* ops.ram_writes at the last fence.i (~0 before the first) */

    /* Paging: the context blocks are looked up in, the one the TLB holds translations for, a fetch fault for
     * the dispatcher, and the page the translator is reading a block from. */
    uint32_t cur_flags;
    uint64_t cur_satp;
    uint64_t tlb_key[2]; int tlb_key_valid;
    uint64_t fetch_cause, fetch_tval;
    int xl_paged;
    uint64_t xl_vpage, xl_poff, xl_cross_poff; /* RAM offsets of the block's page and of the next one, or ~0 */
    rv_codesnap snap;    /* the pages translations were read from, for fence.i */
    /* Fetch translations (virtual page -> RAM offset) since the last sfence.vma or context change: what the
     * dispatcher checks a paged block's pages against without walking each time. */
    struct { uint64_t vpage, poff; } ftc[64];
    /* The superpages (2 MiB, 1 GiB, 512 GiB: one set of 4096 hashed bits each) the TLB, the fetch translations
     * and the jump caches may have taken a translation from since the last sfence.vma of everything: an
     * sfence.vma of an address in none of them concerns its 4 KiB page alone (Linux fences one page after each
     * page fault it handles: ~2,400 times in a boot, and each used to empty all of them). False hits only cost
     * a full flush. */
    uint64_t super_seen[3][64];
    /* In process: the code buffer's writable view is populated up to here (rv_code_populate). */
    uint8_t *code_populated;
    int code_populate_off;
    int last_tb_crosses; /* the block rv_tb_get returned reads two pages: nothing chains to it */
    /* Per jump cache (rv_cpu.jc): the slots filled since it was last emptied (more than RV_JC_USED_MAX: all of
     * it), and the context (flags, satp) its entries belong to. jc_cur: the one of the current context. */
    uint16_t jc_used[RV_JC_CTXS][RV_JC_USED_MAX];
    unsigned jc_nused[RV_JC_CTXS];
    uint64_t jc_lo[RV_JC_CTXS], jc_hi[RV_JC_CTXS]; /* the lowest and highest pc put there since (lo > hi: none) */
    uint32_t jc_flags[RV_JC_CTXS];
    uint64_t jc_satp[RV_JC_CTXS];
    unsigned jc_cur;
    uint64_t stat_remaps;
    uint64_t ntraps; /* exceptions and interrupts taken (an interpreted instruction that trapped did not retire) */
    /* SMP: mhartid, and what LR read (SC's compare-and-swap expects it) at lr_val_addr (~0: no value). */
    uint64_t hartid, lr_val, lr_val_addr;
    csh capstone;
    int have_capstone;
};

static uint64_t rv_instret(const rv_cpu *c)
{
    return c->instret + (c->quantum - (uint64_t)c->budget);
}

/* ---- Translation cache -------------------------------------------------------------------------------- */

/* The code map of RAM page p (offset >> 12) is all zero: a store into it needs nothing of the runtime. */
static int rv_page_map_clear(const rv_runtime *rt, uint64_t p)
{
    uint64_t g0 = p << (12 - RV_CODEMAP_SHIFT), n = 1u << (12 - RV_CODEMAP_SHIFT);
    if (g0 >= rt->codemap_len)
        return 0;
    if (n > rt->codemap_len - g0)
        n = rt->codemap_len - g0;
    for (uint64_t i = 0; i < n; i++)
        if (rt->codemap[g0 + i])
            return 0;
    return 1;
}

static void rv_mark_watch(rv_runtime *rt)
{
    for (unsigned i = 0; i < rt->nwatch; i++) {
        uint64_t off = rt->watch[i].addr - RV_RAM_BASE;
        for (uint64_t g = off >> RV_CODEMAP_SHIFT; g <= (off + rt->watch[i].len - 1) >> RV_CODEMAP_SHIFT; g++)
            rt->codemap[g] |= RV_CODEMAP_WATCH;
        rv_mmu_tlb_drop_writes(rt->cpu, off >> 12, (off + rt->watch[i].len - 1) >> 12);
    }
}

/* ---- Dirty-page tracking --------------------------------------------------------------------------------
 * Generated stores already test their granule's codemap byte and take the slow path when it is not zero, so a
 * page is tracked for free: RV_CODEMAP_DIRTY on its granules sends its first store to the runtime, which records
 * the page and clears the bit; later stores to it run at full speed until the log is read and the bit re-armed. */
#define RV_PAGE_SHIFT 12
#define RV_GRANULES_PER_PAGE (1u << (RV_PAGE_SHIFT - RV_CODEMAP_SHIFT))

static void rv_dirty_set_granules(rv_runtime *rt, uint64_t page, int arm)
{
    uint64_t g0 = page * RV_GRANULES_PER_PAGE, g1 = g0 + RV_GRANULES_PER_PAGE;
    if (g1 > rt->codemap_len)
        g1 = rt->codemap_len;
    for (uint64_t g = g0; g < g1; g++)
        rt->codemap[g] = arm ? rt->codemap[g] | RV_CODEMAP_DIRTY : rt->codemap[g] & ~RV_CODEMAP_DIRTY;
}

/* A write of len bytes at RAM offset off reached memory. */
static void rv_dirty_note(rv_runtime *rt, uint64_t off, uint64_t len)
{
    if (!rt->dirty || !len)
        return;
    for (uint64_t p = off >> RV_PAGE_SHIFT; p <= (off + len - 1) >> RV_PAGE_SHIFT; p++)
        if (!(rt->dirty[p / 64] & (1ull << (p % 64)))) {
            rt->dirty[p / 64] |= 1ull << (p % 64);
            rv_dirty_set_granules(rt, p, 0);
        }
}

/* A jump cache is emptied when its kind of context is entered with other flags or satp than its entries were
 * made in: only the entries the dispatcher filled since the last time, unless there were too many to have kept. */
static void rv_jc_clear_one(rv_runtime *rt, unsigned x)
{
    rv_jc_entry *jc = rt->cpu->jc[x];
    if (rt->jc_nused[x] <= RV_JC_USED_MAX && !rt->vm) {
        for (unsigned i = 0; i < rt->jc_nused[x]; i++)
            jc[rt->jc_used[x][i]] = (rv_jc_entry){ ~0ull, 0 };
    } else {
        for (unsigned i = 0; i < RV_JC_SIZE; i++)
            jc[i] = (rv_jc_entry){ ~0ull, 0 };
    }
    rt->jc_nused[x] = 0;
    rt->jc_lo[x] = ~0ull;
    rt->jc_hi[x] = 0;
}

/* Every jump cache: a flush, sfence.vma (the entries' pages were checked against mappings that may be gone). */
static void rv_jc_clear(rv_runtime *rt)
{
    for (unsigned x = 0; x < RV_JC_CTXS; x++)
        rv_jc_clear_one(rt, x);
}

/* sfence.vma of a 4 KiB page: the jump caches' entries for pcs in it (a block never reads two pages when it is
 * there). Their used lists may then name empty slots, which only makes them fill up sooner. */
static void rv_jc_drop_page(rv_runtime *rt, uint64_t page)
{
    for (unsigned x = 0; x < RV_JC_CTXS; x++) {
        rv_jc_entry *jc = rt->cpu->jc[x];
        /* The kernel's cache holds no user page's pcs and a program's none of its stack and heap: no scan. */
        if (page > rt->jc_hi[x] || page + 4095 < rt->jc_lo[x])
            continue;
        if (rt->jc_nused[x] <= RV_JC_USED_MAX) {
            for (unsigned i = 0; i < rt->jc_nused[x]; i++) {
                rv_jc_entry *e = &jc[rt->jc_used[x][i]];
                if ((e->pc & ~0xfffull) == page)
                    *e = (rv_jc_entry){ ~0ull, 0 };
            }
        } else {
            /* The pcs of one page fill half the cache's slots, from this one on. */
            unsigned first = (unsigned)(page >> 1);
            for (unsigned i = 0; i < 2048; i++) {
                rv_jc_entry *e = &jc[(first + i) & (RV_JC_SIZE - 1)];
                if ((e->pc & ~0xfffull) == page)
                    *e = (rv_jc_entry){ ~0ull, 0 };
            }
        }
    }
}

static unsigned rv_super_bit(uint64_t va, unsigned level)
{
    return (unsigned)(((va >> (12 + 9 * level)) * 0x9e3779b97f4a7c15ull) >> 52);
}

/* A translation from a superpage is about to be cached. */
static void rv_super_note(rv_runtime *rt, uint64_t va, unsigned level)
{
    if (level >= 1 && level <= 3) {
        unsigned b = rv_super_bit(va, level);
        rt->super_seen[level - 1][b >> 6] |= 1ull << (b & 63);
    }
}

static int rv_super_may_cover(const rv_runtime *rt, uint64_t va)
{
    for (unsigned level = 1; level <= 3; level++) {
        unsigned b = rv_super_bit(va, level);
        if (rt->super_seen[level - 1][b >> 6] & (1ull << (b & 63)))
            return 1;
    }
    return 0;
}

static void rv_ftc_clear(rv_runtime *rt)
{
    for (unsigned i = 0; i < 64; i++)
        rt->ftc[i].vpage = ~0ull;
}

static unsigned rv_ftc_slot(uint64_t va)
{
    return (unsigned)(va >> 12) & 63;
}

static void rv_ftc_drop_page(rv_runtime *rt, uint64_t va)
{
    if (rt->ftc[rv_ftc_slot(va)].vpage == (va & ~0xfffull))
        rt->ftc[rv_ftc_slot(va)].vpage = ~0ull;
}

/* The executable-view address of a byte of the code buffer (what generated code and the VM see). */
static uint64_t rv_exec_addr(const rv_runtime *rt, const uint8_t *p)
{
    return (uint64_t)(uintptr_t)p + (uint64_t)rt->rx_delta;
}

static uint64_t rv_helper_load(rv_cpu *c, uint64_t addr, uint32_t info);
static void rv_helper_store(rv_cpu *c, uint64_t addr, uint64_t val, uint32_t info);
static void rv_helper_interp(rv_cpu *c, uint32_t raw, uint32_t refund);

/* Throw away every translation: the simple, always-correct answer to self-modifying code and a full buffer. */
static void rv_flush(rv_runtime *rt)
{
    if (rt->ntbs)
        memset(rt->tbs, 0, RV_TB_HASH_SIZE * sizeof(*rt->tbs));
    rt->ntbs = 0;
    rv_jc_clear(rt);
    /* Only the granules translations covered lose their mark (watch and dirty-tracking bits stay): a flush costs
     * the size of the code, not of RAM (a 512 GiB guest has a 2 GiB codemap). */
    for (uint64_t g = rt->code_lo; g < rt->code_hi; g++)
        rt->codemap[g] &= (uint8_t)~RV_CODEMAP_CODE;
    rt->code_lo = UINT64_MAX;
    rt->code_hi = 0;
    rv_ftc_clear(rt);
    rv_codesnap_reset(&rt->snap);
    /* The trampolines spill and reload the pinned registers, so they follow the map. With an unchanged map
     * they come out byte for byte the same, which matters when the flush happens under running code (SMC). */
    rt->buf.p = rt->code_rw;
    rt->buf.overflow = 0;
    if (rt->vm) {
        rv_emit_vm_stubs(&rt->buf, &rt->map, rt->vm_cpu_va, rt->vm_port, &rt->stubs);
        rt->epilogue = rt->stubs.epilogue;
    } else {
        uint8_t *enter;
        rv_emit_trampolines(&rt->buf, &rt->map, &enter, &rt->epilogue);
        void *enter_rx = enter + rt->rx_delta;
        memcpy(&rt->enter, &enter_rx, sizeof(enter_rx));
    }
    /* The helpers: ring-3 stubs in the VM, the C functions in process. */
    uint64_t load = rt->vm ? rv_exec_addr(rt, rt->stubs.load) : (uint64_t)(uintptr_t)rv_helper_load;
    uint64_t store = rt->vm ? rv_exec_addr(rt, rt->stubs.store) : (uint64_t)(uintptr_t)rv_helper_store;
    uint64_t interp = rt->vm ? rv_exec_addr(rt, rt->stubs.interp) : (uint64_t)(uintptr_t)rv_helper_interp;
    rv_emit_helper_thunks(&rt->buf, &rt->map, load, store, interp, rt->epilogue, &rt->thunks);
    rt->code_start = rt->buf.p;
    rt->cpu->chain_field = 0;
    rt->stat_flushes++;
}

/* The slot of pc in the current context (rt->cur_flags) with key (see rv_tb). */
static rv_tb *rv_tb_slot(rv_runtime *rt, uint64_t pc, uint64_t key)
{
    uint32_t fl = rt->cur_flags;
    unsigned i = (unsigned)(((pc >> 1) ^ (key >> 12) ^ fl) * 0x9e3779b1u) >> (32 - RV_TB_HASH_BITS);
    uint64_t tag = pc | 1;
    while (rt->tbs[i].tag && !(rt->tbs[i].tag == tag && rt->tbs[i].flags == fl && rt->tbs[i].key == key))
        i = (i + 1) & (RV_TB_HASH_SIZE - 1);
    return &rt->tbs[i];
}

static int rv_fetch16(void *opaque, uint64_t addr, uint16_t *out)
{
    rv_runtime *rt = opaque;
    uint64_t off = addr - RV_RAM_BASE;
    if (off >= rt->ram_size || off + 2 > rt->ram_size) {
        off = addr - rt->rom_base;
        if (!rt->rom || off >= rt->rom_size || off + 2 > rt->rom_size)
            return -1;
        memcpy(out, rt->rom + off, 2);
        return 0;
    }
    memcpy(out, rt->ram + off, 2);
    return 0;
}

/* The translator's fetch: physical when fetches are not translated, else from the block's page (and, for a first
 * instruction that crosses into the next page, that page's first two bytes), whose translations rv_tb_get made. */
static int rv_xl_fetch16(void *opaque, uint64_t addr, uint16_t *out)
{
    rv_runtime *rt = opaque;
    if (!rt->xl_paged)
        return rv_fetch16(rt, addr, out);
    uint64_t off;
    if ((addr & ~0xfffull) == rt->xl_vpage && (addr & 0xfff) <= 0xffe)
        off = rt->xl_poff + (addr & 0xfff);
    else if (addr == rt->xl_vpage + 4096 && rt->xl_cross_poff != ~0ull)
        off = rt->xl_cross_poff;
    else
        return -1;
    memcpy(out, rt->ram + off, 2);
    return 0;
}


static void rv_trace_block(rv_runtime *rt, const rv_xlate_result *res)
{
    if (rt->trace & RV_TRACE_IN_ASM) {
        fprintf(stderr, "IN: 0x%016" PRIx64 "\n", res->pc);
        for (uint64_t pc = res->pc; pc < res->end_pc;) {
            uint16_t lo, hi = 0;
            rv_insn in;
            char text[96];
            if (rv_xl_fetch16(rt, pc, &lo))
                break;
            if (rv_insn_length(lo) == 4)
                rv_xl_fetch16(rt, pc + 2, &hi);
            rv_decode(lo | ((uint32_t)hi << 16), &in);
            if (in.len == 2)
                fprintf(stderr, "0x%016" PRIx64 ":  %04" PRIx32 "      %s\n", pc, in.raw, rv_disas(&in, pc, text, sizeof(text)));
            else
                fprintf(stderr, "0x%016" PRIx64 ":  %08" PRIx32 "  %s\n", pc, in.raw, rv_disas(&in, pc, text, sizeof(text)));
            pc += in.len;
        }
        fprintf(stderr, "\n");
    }
    if ((rt->trace & RV_TRACE_OUT_ASM) && rt->have_capstone) {
        cs_insn *insn;
        size_t n = cs_disasm(rt->capstone, res->code, (size_t)(res->code_end - res->code),
                             (uint64_t)(uintptr_t)(res->code + rt->rx_delta), 0, &insn);
        fprintf(stderr, "OUT: [size=%zu]\n", (size_t)(res->code_end - res->code));
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "0x%016" PRIx64 ":  %-8s %s\n", insn[i].address, insn[i].mnemonic, insn[i].op_str);
        if (n)
            cs_free(insn, n);
        fprintf(stderr, "\n");
    }
}

/* A walk set A/D bits in the PTE at RAM offset off: the dirty log hears of it, and translated code in that
 * granule goes (a page table next to code; from a helper, the block must then leave). */
static void rv_mmu_note_pte(rv_runtime *rt, int64_t off, int in_helper)
{
    if (off < 0)
        return;
    uint8_t map = rt->codemap[(uint64_t)off >> RV_CODEMAP_SHIFT];
    if (map & RV_CODEMAP_DIRTY)
        rv_dirty_note(rt, (uint64_t)off, 8);
    if (map & RV_CODEMAP_CODE) {
        rv_flush(rt);
        if (in_helper)
            rt->cpu->leave = 1;
    }
}

/* The RAM offset of the page holding the instruction at va (translated for fetch at the current privilege); 0,
 * or the exception cause. Only RAM is executable. */
static int rv_fetch_page(rv_runtime *rt, uint64_t va, uint64_t *poff)
{
    rv_mmu_result r;
    int e = rv_mmu_translate(rt->cpu, rt->ram, rt->ram_size, va, RV_ACC_FETCH, rt->cpu->priv, &r);
    rt->stat_walks++;
    if (e)
        return e;
    rv_mmu_note_pte(rt, r.pte_written, 0);
    uint64_t off = r.pa - RV_RAM_BASE;
    if (off >= rt->ram_size)
        return RV_EXC_INSN_ACCESS;
    rv_super_note(rt, va, r.level);
    *poff = off & ~0xfffull;
    return 0;
}

/* rv_fetch_page through the fetch-translation cache (faults are not cached). */
static int rv_fetch_page_cached(rv_runtime *rt, uint64_t va, uint64_t *poff)
{
    unsigned i = rv_ftc_slot(va);
    if (rt->ftc[i].vpage == (va & ~0xfffull)) {
        *poff = rt->ftc[i].poff;
        return 0;
    }
    int e = rv_fetch_page(rt, va, poff);
    if (!e) {
        rt->ftc[i].vpage = va & ~0xfffull;
        rt->ftc[i].poff = *poff;
    }
    return e;
}

/* A paged block still translates from the RAM it was read from: its page(s) map where they did. */
static int rv_tb_mapped(rv_runtime *rt, const rv_tb *t)
{
    uint64_t p, pc = t->tag & ~1ull;
    if (rv_fetch_page_cached(rt, pc, &p) || p != t->key)
        return 0;
    return t->poff2 == ~0ull || (!rv_fetch_page_cached(rt, (pc & ~0xfffull) + 4096, &p) && p == t->poff2);
}

static void rv_mark_code(rv_runtime *rt, uint64_t off0, uint64_t off1)
{
    if (off1 <= off0)
        return;
    uint64_t g0 = off0 >> RV_CODEMAP_SHIFT, g1 = (off1 - 1) >> RV_CODEMAP_SHIFT;
    /* A page whose map is not clear has no write tag leading into it already (a block spans at most two). */
    if (rv_page_map_clear(rt, off0 >> 12) || rv_page_map_clear(rt, (off1 - 1) >> 12))
        rv_mmu_tlb_drop_writes(rt->cpu, off0 >> 12, (off1 - 1) >> 12);
    for (uint64_t g = g0; g <= g1; g++)
        rt->codemap[g] |= RV_CODEMAP_CODE;
    if (g0 < rt->code_lo)
        rt->code_lo = g0;
    if (g1 + 1 > rt->code_hi)
        rt->code_hi = g1 + 1;
}

/* Copy the RAM pages a block at pc may be read from (unless they have copies): with paging, its page and the next
 * one for a crossing first instruction; without, as far as the longest block reaches. */
static void rv_snap_pages(rv_runtime *rt, uint64_t pc)
{
    uint64_t offs[2];
    if (rt->xl_paged) {
        offs[0] = rt->xl_poff;
        offs[1] = rt->xl_cross_poff; /* ~0 when none: outside RAM, ignored */
    } else {
        offs[0] = pc - RV_RAM_BASE; /* the ROM window wraps to far outside RAM: ignored */
        offs[1] = offs[0] + RV_TB_MAX_INSNS * 4 - 1;
    }
    for (int i = 0; i < 2; i++)
        if (offs[i] < rt->ram_size)
            rv_codesnap_take(&rt->snap, rt->ram, rt->ram_size, offs[i]);
}

/* After translating [pc, end): the bytes it read must still match the copies (per page). */
static void rv_snap_check_block(rv_runtime *rt, uint64_t pc, uint64_t end)
{
    uint64_t len = end - pc, first = 4096 - (pc & 0xfff);
    uint64_t off0 = rt->xl_paged ? rt->xl_poff + (pc & 0xfff) : pc - RV_RAM_BASE;
    uint64_t off1 = rt->xl_paged ? rt->xl_cross_poff : off0 + first; /* paged: ~0 when none */
    if (off0 < rt->ram_size)
        rv_codesnap_check(&rt->snap, rt->ram, off0, len < first ? len : first);
    if (len > first && off1 < rt->ram_size)
        rv_codesnap_check(&rt->snap, rt->ram, off1, len - first);
}

/* Code is written a block at a time and run at once: the executable view's page faults then find no page beyond the
 * one just written to map around it (one fault per 4 KiB page each way: ~3,400 in a Linux boot, ~3.5 us a page
 * on a nested host). Populating the writable view a chunk ahead lets each executable-view fault map 16 pages. */
#define RV_CODE_POPULATE_CHUNK (256u << 10)

static void rv_code_populate(rv_runtime *rt)
{
#ifdef MADV_POPULATE_WRITE
    if (rt->vm || rt->code_populate_off)
        return;
    uint8_t *end = rt->code_rw + rt->code_size;
    while (rt->code_populated < end && rt->buf.p + RV_TB_MAX_CODE > rt->code_populated) {
        size_t n = (size_t)(end - rt->code_populated) < RV_CODE_POPULATE_CHUNK ? (size_t)(end - rt->code_populated)
                                                                              : RV_CODE_POPULATE_CHUNK;
        if (madvise(rt->code_populated, n, MADV_POPULATE_WRITE)) {
            rt->code_populate_off = 1; /* a kernel before 5.14: the faults stay */
            return;
        }
        rt->code_populated += n;
    }
#else
    (void)rt;
#endif
}

/* The host code for pc (writable view), translating it if needed; NULL with rt->fetch_cause and fetch_tval set
 * when the instruction cannot be fetched. */
static uint8_t *rv_tb_get(rv_runtime *rt, uint64_t pc)
{
    /* sfence.vma and satp writes keep the blocks (their code depends on the RAM bytes, which the code map and
     * fence.i look after, and on the mapping): a paged block is looked up with the RAM page its pc maps to now,
     * and one whose first instruction crosses pages has its second page checked as well. */
    uint64_t key = 0;
    if (rt->cur_flags & RV_CTX_FETCH) {
        int e = rv_fetch_page_cached(rt, pc, &key);
        if (e) {
            rt->fetch_cause = (uint64_t)e;
            rt->fetch_tval = pc;
            return NULL;
        }
    }
    rv_tb *t = rv_tb_slot(rt, pc, key);
    if (t->tag) {
        if (t->poff2 == ~0ull) {
            rt->last_tb_crosses = 0;
            return rt->code_rw + t->code;
        }
        int ok = rv_tb_mapped(rt, t);
        t = rv_tb_slot(rt, pc, key); /* the walk may have set an A bit next to code and flushed */
        if (ok && t->tag) {
            rt->last_tb_crosses = 1;
            return rt->code_rw + t->code;
        }
        rt->stat_remaps++;
    }
    uint16_t probe;
    rt->fetch_cause = RV_EXC_INSN_ACCESS;
    rt->fetch_tval = pc;
    rt->xl_paged = (rt->cur_flags & RV_CTX_FETCH) != 0;
    if (rt->xl_paged) {
        /* Blocks stay inside one page, except a first instruction that crosses into the next (both pages are
         * translated, and a fault on the second reports its address). */
        rt->xl_vpage = pc & ~0xfffull;
        rt->xl_cross_poff = ~0ull;
        int e = rv_fetch_page_cached(rt, pc, &rt->xl_poff);
        if (e) {
            rt->fetch_cause = (uint64_t)e;
            return NULL;
        }
        if ((pc & 0xfff) == 0xffe && !rv_xl_fetch16(rt, pc, &probe) && rv_insn_length(probe) == 4) {
            e = rv_fetch_page_cached(rt, rt->xl_vpage + 4096, &rt->xl_cross_poff);
            if (e) {
                rt->fetch_cause = (uint64_t)e;
                rt->fetch_tval = rt->xl_vpage + 4096;
                return NULL;
            }
        }
    } else if (rv_fetch16(rt, pc, &probe) ||
               (rv_insn_length(probe) == 4 && rv_fetch16(rt, pc + 2, &probe))) {
        return NULL;
    }
    if (rt->ntbs >= RV_TB_HASH_SIZE / 2 || (size_t)(rt->buf.end - rt->buf.p) < 4 * RV_TB_MAX_CODE)
        rv_flush(rt);
    rv_code_populate(rt);
    rv_xlate_env env = {
        .map = &rt->map,
        .buf = &rt->buf, .exec_delta = rt->rx_delta, .epilogue = rt->epilogue, .fetch16 = rv_xl_fetch16, .opaque = rt,
        .ram_base = RV_RAM_BASE, .ram_size = rt->ram_size, .codemap_off = (int32_t)rt->cpu->codemap_off,
        .no_chain = (rt->trace & RV_TRACE_EXEC) != 0, .paged = (rt->cur_flags & RV_CTX_DATA) != 0,
        .page_chains = rt->xl_paged, .chain_vpage = pc & ~0xfffull, .fp_mxcsr_each = rt->vm != 0,
        .fma = !rt->vm && __builtin_cpu_supports("fma"),
        .jc_off = (int32_t)(offsetof(rv_cpu, jc) + rt->jc_cur * sizeof(rt->cpu->jc[0])),
    };
    env.thunks = &rt->thunks;
    rv_xlate_result res;
    rv_snap_pages(rt, pc);
    if (rv_translate_block(&env, pc, &res)) {
        rv_flush(rt);
        rv_snap_pages(rt, pc);
        if (rv_translate_block(&env, pc, &res))
            return NULL;
    }
    rv_snap_check_block(rt, res.pc, res.end_pc);
    if (rt->xl_paged) {
        uint64_t first_end = res.end_pc < rt->xl_vpage + 4096 ? res.end_pc : rt->xl_vpage + 4096;
        rv_mark_code(rt, rt->xl_poff + (pc & 0xfff), rt->xl_poff + (first_end - rt->xl_vpage));
        if (res.end_pc > rt->xl_vpage + 4096)
            rv_mark_code(rt, rt->xl_cross_poff, rt->xl_cross_poff + (res.end_pc - rt->xl_vpage - 4096));
    } else if (res.pc >= RV_RAM_BASE) { /* blocks in the ROM window need no marks: nothing writes there */
        rv_mark_code(rt, res.pc - RV_RAM_BASE, res.end_pc - RV_RAM_BASE);
    }
    t = rv_tb_slot(rt, pc, rt->xl_paged ? rt->xl_poff : 0);
    if (!t->tag) /* else it replaces a block whose second page is now mapped elsewhere */
        rt->ntbs++;
    t->tag = pc | 1;
    t->key = rt->xl_paged ? rt->xl_poff : 0;
    t->flags = rt->cur_flags;
    t->code = (uint32_t)(res.code - rt->code_rw);
    t->poff2 = rt->xl_paged && res.end_pc > rt->xl_vpage + 4096 ? rt->xl_cross_poff : ~0ull;
    rt->last_tb_crosses = t->poff2 != ~0ull;
    rt->stat_blocks++;
    if (rt->trace & (RV_TRACE_IN_ASM | RV_TRACE_OUT_ASM))
        rv_trace_block(rt, &res);
    return res.code;
}

/* ---- Traps -------------------------------------------------------------------------------------------- */

/* A trap goes to S-mode when it comes from S or U and medeleg/mideleg delegates its cause, else to M-mode. */
static int rv_trap_to_s(const rv_cpu *c, uint64_t cause)
{
    uint64_t deleg = (cause & RV_IRQ_FLAG) ? c->mideleg : c->medeleg;
    return c->priv <= RV_PRIV_S && ((deleg >> (cause & 63)) & 1);
}

/* Where a trap with this cause would go. */
static uint64_t rv_trap_vector(const rv_cpu *c, uint64_t cause)
{
    uint64_t tvec = rv_trap_to_s(c, cause) ? c->stvec : c->mtvec;
    uint64_t base = tvec & ~3ull;
    if ((cause & RV_IRQ_FLAG) && (tvec & 1))
        base += 4 * (cause & 63);
    return base;
}

static void rv_trap(rv_runtime *rt, uint64_t cause, uint64_t tval)
{
    rv_cpu *c = rt->cpu;
    rt->ntraps++;
    uint64_t s = c->mstatus, vec = rv_trap_vector(c, cause);
    if (rv_trap_to_s(c, cause)) {
        c->sepc = c->pc;
        c->scause = cause;
        c->stval = tval;
        s = (s & ~RV_MSTATUS_SPIE) | ((s & RV_MSTATUS_SIE) ? RV_MSTATUS_SPIE : 0);
        s &= ~(RV_MSTATUS_SIE | RV_MSTATUS_SPP);
        s |= c->priv == RV_PRIV_S ? RV_MSTATUS_SPP : 0;
        c->priv = RV_PRIV_S;
    } else {
        c->mepc = c->pc;
        c->mcause = cause;
        c->mtval = tval;
        s = (s & ~RV_MSTATUS_MPIE) | ((s & RV_MSTATUS_MIE) ? RV_MSTATUS_MPIE : 0);
        s &= ~RV_MSTATUS_MIE;
        s = (s & ~RV_MSTATUS_MPP) | ((uint64_t)c->priv << 11);
        c->priv = RV_PRIV_M;
    }
    c->mstatus = s;
    c->pc = vec;
    c->leave = 1;
    c->lr_addr = ~0ull;
}

/* mip as the hart sees it: the machine's lines sampled now (MSIP, MTIP, MEIP stored; SEIP ORed with the
 * software-written bit). */
static uint64_t rv_mip(rv_runtime *rt)
{
    rv_cpu *c = rt->cpu;
    uint64_t lines = rt->ops.irq_pending(rt->ops.opaque);
    c->mip = (c->mip & ~(uint64_t)RV_MIP_MACHINE) | (lines & RV_MIP_MACHINE);
    return c->mip | (lines & (1ull << RV_IRQ_SEI));
}

/* Take the highest-priority interrupt that is pending, enabled and not masked at this privilege, if any;
 * returns whether one is pending in mie at all (what ends wfi). Interrupts not delegated go to M-mode, taken
 * below M always and in M with mstatus.MIE; delegated ones go to S-mode, taken in U always, in S with
 * mstatus.SIE, never in M. M-level ones come first, then MEI, MSI, MTI, SEI, SSI, STI. */
static int rv_check_interrupts(rv_runtime *rt)
{
    rv_cpu *c = rt->cpu;
    uint64_t pend = rv_mip(rt) & c->mie;
    if (!pend)
        return 0;
    uint64_t to_m = c->priv < RV_PRIV_M || (c->mstatus & RV_MSTATUS_MIE) ? pend & ~c->mideleg : 0;
    uint64_t to_s = c->priv < RV_PRIV_S || (c->priv == RV_PRIV_S && (c->mstatus & RV_MSTATUS_SIE))
                        ? pend & c->mideleg : 0;
    uint64_t take = to_m ? to_m : to_s;
    static const unsigned order[6] = { RV_IRQ_MEI, RV_IRQ_MSI, RV_IRQ_MTI, RV_IRQ_SEI, RV_IRQ_SSI, RV_IRQ_STI };
    for (int i = 0; i < 6 && take; i++)
        if (take & (1ull << order[i])) {
            c->wfi = 0;
            rv_trap(rt, RV_IRQ_FLAG | order[i], 0);
            c->leave = 0;
            break;
        }
    return 1;
}

/* ---- Memory ------------------------------------------------------------------------------------------- */

/* After a store that reached a watched range: the machine's turn (a mailbox, say). */
static void rv_store_watched(rv_runtime *rt, uint64_t addr, unsigned size)
{
    for (unsigned i = 0; i < rt->nwatch; i++)
        if (addr < rt->watch[i].addr + rt->watch[i].len && addr + size > rt->watch[i].addr) {
            if (rt->ops.store_watch(rt->ops.opaque, addr, size))
                rt->cpu->leave = 1;
            return;
        }
}

/* One data access at a physical address from a helper: 0, or the exception cause. May set cpu->leave (code
 * flushed, guest stopped). */
static int rv_phys_access(rv_runtime *rt, uint64_t addr, unsigned size, int is_write, uint64_t *val, int amo)
{
    rv_cpu *c = rt->cpu;
    uint64_t off = addr - RV_RAM_BASE;
    if (addr & (size - 1)) {
        /* Trap (the default), or, with misaligned=emulate, do it as QEMU does when it lies wholly in RAM. */
        if (amo || !rt->emulate_misaligned || off >= rt->ram_size || size > rt->ram_size - off)
            return is_write || amo ? RV_EXC_STORE_MISALIGNED : RV_EXC_LOAD_MISALIGNED;
        if (!is_write) {
            uint64_t v = 0;
            memcpy(&v, rt->ram + off, size);
            *val = v;
            return 0;
        }
        memcpy(rt->ram + off, val, size);
        uint8_t map = rt->codemap[off >> RV_CODEMAP_SHIFT] | rt->codemap[(off + size - 1) >> RV_CODEMAP_SHIFT];
        if (map & RV_CODEMAP_DIRTY)
            rv_dirty_note(rt, off, size);
        if (map & RV_CODEMAP_CODE) {
            rv_flush(rt);
            c->leave = 1;
        }
        if (map & RV_CODEMAP_WATCH)
            rv_store_watched(rt, addr, size);
        return 0;
    }
    if (off < rt->ram_size) {
        uint8_t *p = rt->ram + off;
        if (!is_write) {
            uint64_t v = 0;
            memcpy(&v, p, size);
            *val = v;
            return 0;
        }
        memcpy(p, val, size);
        uint8_t map = rt->codemap[off >> RV_CODEMAP_SHIFT];
        if (map & RV_CODEMAP_DIRTY)
            rv_dirty_note(rt, off, size);
        if (map & RV_CODEMAP_CODE) {
            rv_flush(rt);
            c->leave = 1;
        }
        if (map & RV_CODEMAP_WATCH)
            rv_store_watched(rt, addr, size);
        return 0;
    }
    if (amo)
        return RV_EXC_STORE_ACCESS;
    uint64_t v = is_write ? *val : 0;
    int r = rt->ops.mmio(rt->ops.opaque, addr, size, is_write, &v);
    if (r < 0)
        return is_write ? RV_EXC_STORE_ACCESS : RV_EXC_LOAD_ACCESS;
    if (!is_write)
        *val = size == 8 ? v : v & ((1ull << (size * 8)) - 1);
    if (r > 0 || rt->ops.should_return(rt->ops.opaque))
        c->leave = 1;
    return 0;
}

/* One data access at a virtual address (translated when the hart's state says so). amo: 1 for LR/SC and the
 * write of an AMO, 2 for an AMO's read (which needs write permission and faults as a store). Page faults
 * report 13/15, a page-table entry outside RAM an access fault; a page outside RAM is a device access. */
static int rv_mem_access(rv_runtime *rt, uint64_t addr, unsigned size, int is_write, uint64_t *val, int amo)
{
    rv_cpu *c = rt->cpu;
    if (!rv_mmu_data_paged(c))
        return rv_phys_access(rt, addr, size, is_write, val, amo);
    int acc = is_write || amo == 2 ? RV_ACC_STORE : RV_ACC_LOAD;
    unsigned priv = rv_mmu_data_priv(c);
    rv_mmu_result r;
    if (addr & (size - 1)) {
        if (amo || !rt->emulate_misaligned)
            return is_write || amo ? RV_EXC_STORE_MISALIGNED : RV_EXC_LOAD_MISALIGNED;
        /* misaligned=emulate: byte by byte, each translated (the access may cross a page). */
        uint8_t bytes[8];
        memcpy(bytes, val, 8);
        for (unsigned i = 0; i < size; i++) {
            int e = rv_mmu_translate(c, rt->ram, rt->ram_size, addr + i, acc, priv, &r);
            if (e)
                return e;
            rv_mmu_note_pte(rt, r.pte_written, 1);
            uint64_t v = bytes[i];
            e = rv_phys_access(rt, r.pa, 1, is_write, &v, 0);
            if (e)
                return e;
            bytes[i] = (uint8_t)v;
        }
        if (!is_write) {
            uint64_t v = 0;
            memcpy(&v, bytes, size);
            *val = v;
        }
        return 0;
    }
    int e = rv_mmu_translate(c, rt->ram, rt->ram_size, addr, acc, priv, &r);
    rt->stat_walks++;
    if (e)
        return e;
    rv_mmu_note_pte(rt, r.pte_written, 1);
    if (r.pa - RV_RAM_BASE < rt->ram_size) {
        rv_super_note(rt, addr, r.level);
        rv_mmu_tlb_fill(c, addr, r.pa - RV_RAM_BASE, r.can_read,
                        r.can_write && rv_page_map_clear(rt, (r.pa - RV_RAM_BASE) >> 12));
    }
    return rv_phys_access(rt, r.pa, size, is_write, val, amo);
}

static uint64_t rv_do_load(rv_runtime *rt, uint64_t addr, uint32_t info)
{
    rv_cpu *c = rt->cpu;
    unsigned size = info & 0xff;
    uint64_t v = 0;
    int e = rv_mem_access(rt, addr, size, 0, &v, 0);
    if (e) {
        rv_trap(rt, (uint64_t)e, addr);
        return 0;
    }
    if ((info >> 8) & 1)
        v = (uint64_t)((int64_t)(v << (64 - 8 * size)) >> (64 - 8 * size));
    if (c->leave) {
        unsigned rd = (info >> 24) & 31;
        if (rd)
            c->x[rd] = v;
        c->pc += (info >> 16) & 0xff;
    }
    return v;
}

static void rv_do_store(rv_runtime *rt, uint64_t addr, uint64_t val, uint32_t info)
{
    rv_cpu *c = rt->cpu;
    int e = rv_mem_access(rt, addr, info & 0xff, 1, &val, 0);
    if (e) {
        rv_trap(rt, (uint64_t)e, addr);
        return;
    }
    if (c->leave)
        c->pc += (info >> 16) & 0xff;
}

/* ---- The one-instruction interpreter ------------------------------------------------------------------ */

/* Counters in S and U: mcounteren lets S (and then scounteren lets U) read cycle, time, instret, hpmcounterN. */
static int rv_counter_allowed(const rv_cpu *c, unsigned csr)
{
    uint64_t bit = 1ull << (csr & 31);
    if (c->priv < RV_PRIV_M && !(c->mcounteren & bit))
        return 0;
    return c->priv != RV_PRIV_U || (c->scounteren & bit);
}

/* Whether PMP entry i ignores writes: its own lock, or the next entry's lock when that one is TOR (its lower
 * bound is this pmpaddr). */
static int rv_pmp_locked(const rv_cpu *c, unsigned i, int addr)
{
    uint8_t cfg = (uint8_t)(c->pmpcfg[i / 8] >> (8 * (i % 8)));
    if (cfg & 0x80)
        return 1;
    if (!addr || i + 1 >= RV_PMP_ENTRIES)
        return 0;
    uint8_t next = (uint8_t)(c->pmpcfg[(i + 1) / 8] >> (8 * ((i + 1) % 8)));
    return (next & 0x80) && ((next >> 3) & 3) == 1;
}

/* pmpcfg0/2: eight entries each; locked entries keep their byte, reserved bits 6:5 read zero and the reserved
 * R=0 W=1 combination is stored as R=0 W=0. */
static void rv_pmpcfg_write(rv_cpu *c, unsigned reg, uint64_t v)
{
    uint64_t out = 0;
    for (unsigned k = 0; k < 8; k++) {
        unsigned i = reg * 8 + k;
        uint8_t old = (uint8_t)(c->pmpcfg[reg] >> (8 * k)), b = (uint8_t)(v >> (8 * k)) & 0x9f;
        if ((b & 3) == 2)
            b &= (uint8_t)~2;
        out |= (uint64_t)(rv_pmp_locked(c, i, 0) ? old : b) << (8 * k);
    }
    c->pmpcfg[reg] = out;
}

/* The privilege check (bits 9:8 of the number are the lowest privilege allowed), the counter gates and TVM;
 * then the value. -1: the CSR does not exist or may not be accessed here (illegal instruction). */
static int rv_csr_read(rv_runtime *rt, unsigned csr, uint64_t *v)
{
    rv_cpu *c = rt->cpu;
    if (c->priv < ((csr >> 8) & 3))
        return -1;
    if (csr >= 0xc00 && csr <= 0xc1f && !rv_counter_allowed(c, csr))
        return -1;
    switch (csr) {
    case 0x001: case 0x002: case 0x003: return rv_fpu_csr_read(c, csr, v);
    case 0x100: *v = (c->mstatus & RV_SSTATUS_WRITABLE) | RV_MSTATUS_UXL | rv_fpu_status_sd(c->mstatus); return 0;
    case 0x104: *v = c->mie & c->mideleg; return 0;
    case 0x105: *v = c->stvec; return 0;
    case 0x106: *v = c->scounteren; return 0;
    case 0x10a: *v = 0; return 0; /* senvcfg: none of its features (Zicbom, Zicboz, Svpbmt) */
    case 0x140: *v = c->sscratch; return 0;
    case 0x141: *v = c->sepc; return 0;
    case 0x142: *v = c->scause; return 0;
    case 0x143: *v = c->stval; return 0;
    case 0x144: *v = rv_mip(rt) & c->mideleg; return 0;
    case 0x180:
        if (c->priv == RV_PRIV_S && (c->mstatus & RV_MSTATUS_TVM))
            return -1;
        *v = c->satp;
        return 0;
    case 0x300: *v = c->mstatus | RV_MSTATUS_UXL | RV_MSTATUS_SXL | rv_fpu_status_sd(c->mstatus); return 0;
    case 0x301: *v = RV_MISA; return 0;
    case 0x302: *v = c->medeleg; return 0;
    case 0x303: *v = c->mideleg; return 0;
    case 0x304: *v = c->mie; return 0;
    case 0x305: *v = c->mtvec; return 0;
    case 0x306: *v = c->mcounteren; return 0;
    case 0x30a: *v = c->menvcfg; return 0;
    case 0x340: *v = c->mscratch; return 0;
    case 0x341: *v = c->mepc; return 0;
    case 0x342: *v = c->mcause; return 0;
    case 0x343: *v = c->mtval; return 0;
    case 0x344: *v = rv_mip(rt); return 0;
    case 0x3a0: *v = c->pmpcfg[0]; return 0;
    case 0x3a2: *v = c->pmpcfg[1]; return 0;
    /* CSR instructions end their block, whose charge includes the reading instruction: it has not retired. */
    case 0xb00: case 0xb02: case 0xc00: case 0xc02: *v = rv_instret(c) - 1; return 0;
    case 0xc01: *v = rt->ops.time(rt->ops.opaque); return 0;
    case 0xf14: *v = rt->hartid; return 0;
    case 0xf11: case 0xf12: case 0xf13: case 0xf15: *v = 0; return 0;
    default:
        if (csr >= 0x3b0 && csr < 0x3b0 + RV_PMP_ENTRIES) {
            *v = c->pmpaddr[csr - 0x3b0];
            return 0;
        }
        /* Present but read-only zero: PMP entries 16-63 (pmpcfg4-14, pmpaddr16-63; odd pmpcfg do not exist on
         * RV64), the HPM counters and their events, mcountinhibit, and the debug triggers (tselect, tdata1-3,
         * tcontrol: tdata1 reads type 0, no triggers). */
        if (csr == 0x320 || (csr >= 0x323 && csr <= 0x33f) || (csr >= 0x7a0 && csr <= 0x7a3) || csr == 0x7a5 ||
            (csr >= 0x3a4 && csr <= 0x3ae && !(csr & 1)) || (csr >= 0x3c0 && csr <= 0x3ef) ||
            (csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0xc03 && csr <= 0xc1f)) {
            *v = 0;
            return 0;
        }
        return -1;
    }
}

/* Called after rv_csr_read accepted the access; -1 for a read-only CSR (bits 11:10 == 3). */
static int rv_csr_write(rv_runtime *rt, unsigned csr, uint64_t v)
{
    rv_cpu *c = rt->cpu;
    if ((csr >> 10) == 3)
        return -1;
    switch (csr) {
    case 0x001: case 0x002: case 0x003: return rv_fpu_csr_write(c, csr, v);
    case 0x100: c->mstatus = (c->mstatus & ~RV_SSTATUS_WRITABLE) | (v & RV_SSTATUS_WRITABLE); return 0;
    case 0x104: c->mie = (c->mie & ~c->mideleg) | (v & c->mideleg); return 0;
    case 0x105: c->stvec = v & ~2ull; return 0;
    case 0x106: c->scounteren = v & 0xffffffffu; return 0;
    case 0x140: c->sscratch = v; return 0;
    case 0x141: c->sepc = v & ~1ull; return 0;
    case 0x142: c->scause = v; return 0;
    case 0x143: c->stval = v; return 0;
    case 0x144: { /* only SSIP is writable through sip, and only when delegated */
        uint64_t m = c->mideleg & (1ull << RV_IRQ_SSI);
        c->mip = (c->mip & ~m) | (v & m);
        return 0;
    }
    case 0x180:
        /* Bare, Sv39 and Sv48 (all 16 ASID bits); a write of another mode (Sv57) has no effect at all (WARL),
         * and Bare keeps ASID and PPN zero. Translations are looked up by satp, and the dispatcher empties the
         * TLB and jump cache when the context changes: nothing to flush here. */
        if (RV_SATP_MODE(v) == RV_SATP_BARE)
            c->satp = 0;
        else if (RV_SATP_MODE(v) == RV_SATP_SV39 || RV_SATP_MODE(v) == RV_SATP_SV48)
            c->satp = v;
        return 0;
    case 0x300: {
        uint64_t mpp = (v & RV_MSTATUS_MPP) == (2ull << 11) ? (c->mstatus & RV_MSTATUS_MPP) : (v & RV_MSTATUS_MPP);
        c->mstatus = (v & RV_MSTATUS_WRITABLE) | mpp;
        return 0;
    }
    case 0x302: c->medeleg = v & RV_MEDELEG_MASK; return 0;
    case 0x303: c->mideleg = v & RV_MIDELEG_MASK; return 0;
    case 0x304: c->mie = v & RV_MIE_MASK; return 0;
    case 0x305: c->mtvec = v & ~2ull; return 0;
    case 0x306: c->mcounteren = v & 0xffffffffu; return 0;
    case 0x30a: c->menvcfg = v & 1; return 0; /* FIOM only: fences here order I/O as well anyway */
    case 0x340: c->mscratch = v; return 0;
    case 0x341: c->mepc = v & ~1ull; return 0;
    case 0x342: c->mcause = v; return 0;
    case 0x343: c->mtval = v; return 0;
    case 0x344: c->mip = (c->mip & ~(uint64_t)RV_MIP_SOFT) | (v & RV_MIP_SOFT); return 0;
    case 0x3a0: rv_pmpcfg_write(c, 0, v); return 0;
    case 0x3a2: rv_pmpcfg_write(c, 1, v); return 0;
    case 0xb00: case 0xb02: c->instret = v - (c->quantum - (uint64_t)c->budget); return 0;
    default:
        if (csr >= 0x3b0 && csr < 0x3b0 + RV_PMP_ENTRIES) {
            if (!rv_pmp_locked(c, csr - 0x3b0, 1))
                c->pmpaddr[csr - 0x3b0] = v & ((1ull << 54) - 1);
            return 0;
        }
        return 0; /* read-only zero or WARL without writable bits (misa, senvcfg, HPM, triggers) */
    }
}

static uint64_t rv_amo_op(rv_op op, uint64_t a, uint64_t b, int w)
{
    if (w) {
        a = (uint64_t)(int64_t)(int32_t)a;
        b = (uint64_t)(int64_t)(int32_t)b;
    }
    switch (op) {
    case RV_OP_AMOSWAP_W: case RV_OP_AMOSWAP_D: return b;
    case RV_OP_AMOADD_W: case RV_OP_AMOADD_D: return a + b;
    case RV_OP_AMOXOR_W: case RV_OP_AMOXOR_D: return a ^ b;
    case RV_OP_AMOAND_W: case RV_OP_AMOAND_D: return a & b;
    case RV_OP_AMOOR_W: case RV_OP_AMOOR_D: return a | b;
    case RV_OP_AMOMIN_W: case RV_OP_AMOMIN_D: return (int64_t)a < (int64_t)b ? a : b;
    case RV_OP_AMOMAX_W: case RV_OP_AMOMAX_D: return (int64_t)a > (int64_t)b ? a : b;
    case RV_OP_AMOMINU_W: case RV_OP_AMOMINU_D:
        if (w) { a = (uint32_t)a; b = (uint32_t)b; }
        return a < b ? a : b;
    default:
        if (w) { a = (uint32_t)a; b = (uint32_t)b; }
        return a > b ? a : b;
    }
}

/* ---- SMP: atomics on guest RAM ---------------------------------------------------------------------------
 * Other harts run on other host threads over the same RAM, so AMOs and SC are host atomic instructions on it
 * (x86 locked instructions, which are also full barriers: any .aq/.rl holds). Only RAM takes AMOs and LR/SC. */

/* Where an AMO or SC at virtual address addr may act: 0 with *p and its physical address *pa, or the exception
 * cause (store/AMO misaligned, page fault, access). Translated like a store: AMOs need write permission. */
static int rv_atomic_target(rv_runtime *rt, uint64_t addr, unsigned size, uint8_t **p, uint64_t *pa)
{
    if (addr & (size - 1))
        return RV_EXC_STORE_MISALIGNED;
    uint64_t phys = addr;
    if (rv_mmu_data_paged(rt->cpu)) {
        rv_mmu_result r;
        int e = rv_mmu_translate(rt->cpu, rt->ram, rt->ram_size, addr, RV_ACC_STORE, rv_mmu_data_priv(rt->cpu), &r);
        if (e)
            return e;
        rv_mmu_note_pte(rt, r.pte_written, 1);
        phys = r.pa;
    }
    uint64_t off = phys - RV_RAM_BASE;
    if (off >= rt->ram_size || size > rt->ram_size - off)
        return RV_EXC_STORE_ACCESS;
    *p = rt->ram + off;
    *pa = phys;
    return 0;
}

/* After an AMO or SC wrote RAM: what a store's slow path does (dirty log, this hart's own code, a watch). */
static void rv_atomic_wrote(rv_runtime *rt, uint64_t addr, unsigned size)
{
    uint64_t off = addr - RV_RAM_BASE;
    uint8_t map = rt->codemap[off >> RV_CODEMAP_SHIFT];
    if (map & RV_CODEMAP_DIRTY)
        rv_dirty_note(rt, off, size);
    if (map & RV_CODEMAP_CODE) {
        rv_flush(rt);
        rt->cpu->leave = 1;
    }
    if (map & RV_CODEMAP_WATCH)
        rv_store_watched(rt, addr, size);
}

/* The AMO op at p (aligned, in RAM) with operand b, atomically; returns the old value (zero-extended). */
static uint64_t rv_atomic_amo(rv_op op, uint8_t *p, uint64_t b, int w)
{
    if (w) {
        uint32_t *q = (uint32_t *)(void *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED), v = (uint32_t)b;
        switch (op) {
        case RV_OP_AMOSWAP_W: return __atomic_exchange_n(q, v, __ATOMIC_SEQ_CST);
        case RV_OP_AMOADD_W: return __atomic_fetch_add(q, v, __ATOMIC_SEQ_CST);
        case RV_OP_AMOXOR_W: return __atomic_fetch_xor(q, v, __ATOMIC_SEQ_CST);
        case RV_OP_AMOAND_W: return __atomic_fetch_and(q, v, __ATOMIC_SEQ_CST);
        case RV_OP_AMOOR_W: return __atomic_fetch_or(q, v, __ATOMIC_SEQ_CST);
        default:
            while (!__atomic_compare_exchange_n(q, &old, (uint32_t)rv_amo_op(op, old, b, 1), 0, __ATOMIC_SEQ_CST,
                                                __ATOMIC_SEQ_CST)) {
            }
            return old;
        }
    }
    uint64_t *q = (uint64_t *)(void *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED);
    switch (op) {
    case RV_OP_AMOSWAP_D: return __atomic_exchange_n(q, b, __ATOMIC_SEQ_CST);
    case RV_OP_AMOADD_D: return __atomic_fetch_add(q, b, __ATOMIC_SEQ_CST);
    case RV_OP_AMOXOR_D: return __atomic_fetch_xor(q, b, __ATOMIC_SEQ_CST);
    case RV_OP_AMOAND_D: return __atomic_fetch_and(q, b, __ATOMIC_SEQ_CST);
    case RV_OP_AMOOR_D: return __atomic_fetch_or(q, b, __ATOMIC_SEQ_CST);
    default:
        while (!__atomic_compare_exchange_n(q, &old, rv_amo_op(op, old, b, 0), 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
        }
        return old;
    }
}

/* SC: succeeds when this hart's reservation holds and the word still has the value LR read, by one
 * compare-and-swap. Another hart's store of that same value in between (ABA) goes unnoticed, as on most binary
 * translators: LR/SC then behaves like a CAS loop, which is what guest code uses it for. */
static int rv_atomic_sc(rv_runtime *rt, uint64_t addr, unsigned size, uint64_t val, uint64_t *fail)
{
    uint8_t *p;
    uint64_t pa;
    *fail = 1;
    int e = rv_atomic_target(rt, addr, size, &p, &pa);
    if (e == RV_EXC_STORE_MISALIGNED || rt->cpu->lr_addr != addr)
        return e == RV_EXC_STORE_MISALIGNED ? e : 0;
    if (e)
        return e;
    if (rt->lr_val_addr != addr) /* a reservation from a restored snapshot: no value to compare, fail */
        return 0;
    int ok = size == 4 ? __atomic_compare_exchange_n((uint32_t *)(void *)p, &(uint32_t){ (uint32_t)rt->lr_val },
                                                     (uint32_t)val, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
                       : __atomic_compare_exchange_n((uint64_t *)(void *)p, &(uint64_t){ rt->lr_val }, val, 0,
                                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    if (ok) {
        *fail = 0;
        rv_atomic_wrote(rt, pa, size);
    }
    return 0;
}

static int rv_ext_mem(void *opaque, uint64_t addr, unsigned size, int is_write, uint64_t *val)
{
    return rv_mem_access(opaque, addr, size, is_write, val, 0);
}

static void rv_do_interp(rv_runtime *rt, uint32_t raw)
{
    rv_cpu *c = rt->cpu;
    rv_insn in;
    rv_decode(raw, &in);
    uint64_t a = c->x[in.rs1], b = c->x[in.rs2], r = 0, next = c->pc + in.len;
    int write_rd = 1;

    switch (in.op) {
    case RV_OP_MULHSU: {
        unsigned __int128 p = (unsigned __int128)a * b;
        r = (uint64_t)(p >> 64) - ((int64_t)a < 0 ? b : 0);
        break;
    }
    case RV_OP_DIV:
        r = b == 0 ? ~0ull : ((int64_t)a == INT64_MIN && (int64_t)b == -1) ? a : (uint64_t)((int64_t)a / (int64_t)b);
        break;
    case RV_OP_DIVU: r = b == 0 ? ~0ull : a / b; break;
    case RV_OP_REM:
        r = b == 0 ? a : ((int64_t)a == INT64_MIN && (int64_t)b == -1) ? 0 : (uint64_t)((int64_t)a % (int64_t)b);
        break;
    case RV_OP_REMU: r = b == 0 ? a : a % b; break;
    case RV_OP_DIVW: {
        int32_t x = (int32_t)a, y = (int32_t)b;
        r = (uint64_t)(int64_t)(y == 0 ? -1 : (x == INT32_MIN && y == -1) ? x : x / y);
        break;
    }
    case RV_OP_DIVUW: {
        uint32_t x = (uint32_t)a, y = (uint32_t)b;
        r = (uint64_t)(int64_t)(int32_t)(y == 0 ? ~0u : x / y);
        break;
    }
    case RV_OP_REMW: {
        int32_t x = (int32_t)a, y = (int32_t)b;
        r = (uint64_t)(int64_t)(y == 0 ? x : (x == INT32_MIN && y == -1) ? 0 : x % y);
        break;
    }
    case RV_OP_REMUW: {
        uint32_t x = (uint32_t)a, y = (uint32_t)b;
        r = (uint64_t)(int64_t)(int32_t)(y == 0 ? x : x % y);
        break;
    }
    case RV_OP_LR_W: case RV_OP_LR_D: {
        unsigned size = in.op == RV_OP_LR_W ? 4 : 8;
        int e = rv_mem_access(rt, a, size, 0, &r, 1);
        if (e) {
            rv_trap(rt, e == RV_EXC_STORE_MISALIGNED ? RV_EXC_LOAD_MISALIGNED : e == RV_EXC_LOAD_PAGE ? e
                                                                                    : RV_EXC_LOAD_ACCESS, a);
            return;
        }
        rt->lr_val = r;
        rt->lr_val_addr = a;
        if (size == 4)
            r = (uint64_t)(int64_t)(int32_t)r;
        c->lr_addr = a;
        break;
    }
    case RV_OP_SC_W: case RV_OP_SC_D: {
        unsigned size = in.op == RV_OP_SC_W ? 4 : 8;
        int e = rv_atomic_sc(rt, a, size, b, &r);
        if (e) {
            rv_trap(rt, (uint64_t)e, a);
            return;
        }
        c->lr_addr = ~0ull;
        break;
    }
    case RV_OP_AMOSWAP_W: case RV_OP_AMOADD_W: case RV_OP_AMOXOR_W: case RV_OP_AMOAND_W: case RV_OP_AMOOR_W:
    case RV_OP_AMOMIN_W: case RV_OP_AMOMAX_W: case RV_OP_AMOMINU_W: case RV_OP_AMOMAXU_W:
    case RV_OP_AMOSWAP_D: case RV_OP_AMOADD_D: case RV_OP_AMOXOR_D: case RV_OP_AMOAND_D: case RV_OP_AMOOR_D:
    case RV_OP_AMOMIN_D: case RV_OP_AMOMAX_D: case RV_OP_AMOMINU_D: case RV_OP_AMOMAXU_D: {
        int w = in.op <= RV_OP_AMOMAXU_W;
        unsigned size = w ? 4 : 8;
        uint8_t *p;
        uint64_t pa;
        int e = rv_atomic_target(rt, a, size, &p, &pa);
        if (e) {
            rv_trap(rt, (uint64_t)e, a);
            return;
        }
        uint64_t old = rv_atomic_amo(in.op, p, b, w);
        rv_atomic_wrote(rt, pa, size);
        r = w ? (uint64_t)(int64_t)(int32_t)old : old;
        break;
    }
    case RV_OP_CSRRW: case RV_OP_CSRRS: case RV_OP_CSRRC: case RV_OP_CSRRWI: case RV_OP_CSRRSI: case RV_OP_CSRRCI: {
        uint64_t src = in.op >= RV_OP_CSRRWI ? (uint64_t)in.imm : a;
        int is_rw = in.op == RV_OP_CSRRW || in.op == RV_OP_CSRRWI;
        int writes = is_rw || in.rs1 != 0;
        uint64_t old = 0;
        if ((!is_rw || in.rd != 0) && rv_csr_read(rt, in.csr, &old)) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        if (is_rw && in.rd == 0 && (c->priv < ((in.csr >> 8) & 3) || rv_csr_read(rt, in.csr, &r))) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        if (writes) {
            /* mip's read-modify-write sees the software SEIP, not the machine's line ORed into reads. */
            uint64_t base = in.csr == 0x344 ? c->mip : old;
            uint64_t nv = is_rw ? src : (in.op == RV_OP_CSRRS || in.op == RV_OP_CSRRSI) ? (base | src) : (base & ~src);
            uint64_t status = c->mstatus, satp = c->satp, mie = c->mie, mip = c->mip, mideleg = c->mideleg;
            if (rv_csr_write(rt, in.csr, nv)) {
                rv_trap(rt, RV_EXC_ILLEGAL, raw);
                return;
            }
            /* The block goes on after a CSR access (rv_translate.c) unless this changed what the dispatcher
             * decides: an interrupt that may now be taken, or the translation context (rv_mmu_sync). */
            if (((status ^ c->mstatus) & (RV_MSTATUS_SUM | RV_MSTATUS_MXR | RV_MSTATUS_MPRV | RV_MSTATUS_MPP)) ||
                (c->mstatus & ~status & (RV_MSTATUS_MIE | RV_MSTATUS_SIE)) || c->satp != satp || c->mie != mie ||
                c->mip != mip || c->mideleg != mideleg)
                c->leave = 1;
        }
        r = old;
        break;
    }
    case RV_OP_ECALL:
        rv_trap(rt, c->priv == RV_PRIV_M ? RV_EXC_ECALL_M : c->priv == RV_PRIV_S ? RV_EXC_ECALL_S : RV_EXC_ECALL_U, 0);
        return;
    case RV_OP_EBREAK:
        rv_trap(rt, RV_EXC_BREAKPOINT, c->pc);
        return;
    case RV_OP_MRET: {
        if (c->priv != RV_PRIV_M) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        uint64_t s = c->mstatus;
        c->priv = (unsigned)((s & RV_MSTATUS_MPP) >> 11);
        s = (s & ~RV_MSTATUS_MIE) | ((s & RV_MSTATUS_MPIE) ? RV_MSTATUS_MIE : 0);
        s |= RV_MSTATUS_MPIE;
        s &= ~RV_MSTATUS_MPP;
        if (c->priv != RV_PRIV_M)
            s &= ~RV_MSTATUS_MPRV;
        c->mstatus = s;
        c->pc = c->mepc;
        c->leave = 1;
        return;
    }
    case RV_OP_SRET: {
        if (c->priv < RV_PRIV_S || (c->priv == RV_PRIV_S && (c->mstatus & RV_MSTATUS_TSR))) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        uint64_t s = c->mstatus;
        c->priv = (s & RV_MSTATUS_SPP) ? RV_PRIV_S : RV_PRIV_U;
        s = (s & ~RV_MSTATUS_SIE) | ((s & RV_MSTATUS_SPIE) ? RV_MSTATUS_SIE : 0);
        s |= RV_MSTATUS_SPIE;
        s &= ~(RV_MSTATUS_SPP | RV_MSTATUS_MPRV);
        c->mstatus = s;
        c->pc = c->sepc;
        c->leave = 1;
        return;
    }
    case RV_OP_WFI:
        /* With S-mode present, wfi in U-mode is illegal (it could wait unboundedly), as on QEMU; in S-mode only
         * with mstatus.TW. */
        if (c->priv == RV_PRIV_U || (c->priv == RV_PRIV_S && (c->mstatus & RV_MSTATUS_TW))) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        c->wfi = 1;
        write_rd = 0;
        break;
    case RV_OP_FENCE_I:
    {
        /* This hart's own stores to translated code have flushed already; DMA and other harts' have not, and
         * fence.i is where they must become visible: keep the translations if their pages are unchanged, which
         * they are without comparing when nothing else wrote RAM since the last fence.i looked. The count is
         * read before the pages, so a write that lands while they are compared counts for the next fence.i. */
        uint64_t w = rt->ops.ram_writes ? rt->ops.ram_writes(rt->ops.opaque) : ~0ull;
        if (w != ~0ull && w == rt->fencei_writes && !rt->snap.stale) {
            rt->stat_fencei_kept++;
            rt->stat_fencei_unread++;
        } else if (!rv_codesnap_unchanged(&rt->snap, rt->ram)) {
            rv_flush(rt);
        } else {
            rt->stat_fencei_kept++;
        }
        rt->fencei_writes = w;
        write_rd = 0;
        break;
    }
    case RV_OP_SFENCE_VMA: {
        /* The TLB, the fetch translations and the jump cache (it jumps across pages unchecked) go, or with an
         * address outside every superpage they hold, only their entries for its page; the blocks stay: the
         * dispatcher checks a paged block's mapping when it finds it, and chains never leave a page (the block
         * ends here, so the next one goes through the dispatcher). rs2 (the ASID) is not looked at: dropping
         * more than asked is always allowed. */
        if (c->priv == RV_PRIV_U || (c->priv == RV_PRIV_S && (c->mstatus & RV_MSTATUS_TVM))) {
            rv_trap(rt, RV_EXC_ILLEGAL, raw);
            return;
        }
        uint64_t va = c->x[in.rs1];
        if (in.rs1 && !rt->vm && !rv_super_may_cover(rt, va)) {
            rv_mmu_tlb_flush_page(c, va);
            rv_ftc_drop_page(rt, va);
            rv_jc_drop_page(rt, va & ~0xfffull);
        } else {
            rv_mmu_tlb_flush(c);
            rt->tlb_key_valid = 0;
            rv_ftc_clear(rt);
            rv_jc_clear(rt);
            memset(rt->super_seen, 0, sizeof(rt->super_seen));
        }
        write_rd = 0;
        break;
    }
    default: {
        /* F, D and the bit-manipulation extensions (rv_fpu.c); anything else is illegal. */
        uint64_t tval = raw;
        int e = rv_ext_exec(c, &in, rv_ext_mem, rt, &tval);
        if (e == 0)
            c->pc = next;
        else
            rv_trap(rt, e > 0 ? (uint64_t)e : RV_EXC_ILLEGAL, e > 0 ? tval : raw);
        return;
    }
    }
    if (write_rd && in.rd)
        c->x[in.rd] = r;
    c->pc = next;
}

/* An interpreted instruction from generated code. Its segment was charged in full when it started (rv_translate.c):
 * if the block leaves here, the `refund` instructions after this one do not run, nor does this one if it
 * trapped. */
static void rv_interp_counted(rv_runtime *rt, uint32_t raw, uint32_t refund)
{
    uint64_t traps = rt->ntraps;
    rv_do_interp(rt, raw);
    if (rt->cpu->leave)
        rt->cpu->budget += (int64_t)refund + (rt->ntraps != traps);
}

/* The C entry points generated code calls in-process: from the rv_cpu back to its runtime. */
static rv_runtime *rv_rt_of(rv_cpu *c)
{
    return ((rv_inproc_block *)(void *)((char *)c - offsetof(rv_inproc_block, cpu)))->rt;
}

/* The helpers generated code calls in process: MXCSR goes back to 0x1f80 with clear flags before they return
 * (whatever C code set: device plugins, the FP helpers' own operations, whose flags fflags has already). */
static uint64_t rv_helper_load(rv_cpu *c, uint64_t addr, uint32_t info)
{
    uint64_t v = rv_do_load(rv_rt_of(c), addr, info);
    rv_fpu_host_reset();
    return v;
}

static void rv_helper_store(rv_cpu *c, uint64_t addr, uint64_t val, uint32_t info)
{
    rv_do_store(rv_rt_of(c), addr, val, info);
    rv_fpu_host_reset();
}

static void rv_helper_interp(rv_cpu *c, uint32_t raw, uint32_t refund)
{
    rv_runtime *rt = rv_rt_of(c);
    rv_fpu_fold_flags(c); /* raw flags of inline F/D operations (see rv_translate.c) */
    rv_interp_counted(rt, raw, refund);
    rv_fpu_host_reset();
}

/* ---- Register pinning -------------------------------------------------------------------------------- */

/* A profile sample's fetch: pc is virtual when fetches are translated (S and U code under Sv39 or Sv48: a Linux guest's
 * kernel and programs), so walk it, without side effects (no A bit set for a look-up the guest did not make), once
 * per page (vpage and poff cache the last one; vpage ~0: none). */
static int rv_sample_fetch16(rv_runtime *rt, uint64_t pc, uint64_t *vpage, uint64_t *poff, uint16_t *out)
{
    if (!rv_mmu_fetch_paged(rt->cpu))
        return rv_fetch16(rt, pc, out);
    if ((pc & ~0xfffull) != *vpage) {
        rv_mmu_result r;
        if (rv_mmu_translate(rt->cpu, rt->ram, rt->ram_size, pc, RV_ACC_FETCH_PROBE, rt->cpu->priv, &r))
            return -1;
        *vpage = pc & ~0xfffull;
        *poff = (r.pa & ~0xfffull) - RV_RAM_BASE;
    }
    if (*poff >= rt->ram_size || (pc & 0xfff) > 0xffe)
        return -1;
    memcpy(out, rt->ram + *poff + (pc & 0xfff), 2);
    return 0;
}

/* Quanta expire at block entries in proportion to where time goes, so the block at pc is a profile sample. */
static void rv_sample(rv_runtime *rt, uint64_t pc)
{
    uint64_t pc0 = pc, vpage = ~0ull, poff = 0;
    for (unsigned n = 0; n < RV_TB_MAX_INSNS; n++) {
        uint16_t lo, hi = 0;
        rv_insn in;
        if (rv_sample_fetch16(rt, pc, &vpage, &poff, &lo) ||
            (rv_insn_length(lo) == 4 && rv_sample_fetch16(rt, pc + 2, &vpage, &poff, &hi)))
            break;
        rv_decode(lo | ((uint32_t)hi << 16), &in);
        rt->reg_weight[in.rd]++;
        rt->reg_weight[in.rs1]++;
        rt->reg_weight[in.rs2]++;
        if (in.op == RV_OP_ILLEGAL || (in.op >= RV_OP_JAL && in.op <= RV_OP_BGEU) || (in.op >= RV_OP_FENCE_I && in.op <= RV_OP_CSRRCI))
            break;
        pc += in.len;
    }
    rt->samples++;
    if (rt->trace & RV_TRACE_PROF) {
        unsigned i = (unsigned)(pc0 >> 1) & 1023;
        for (unsigned k = 0; k < 1024 && rt->prof[i].n && rt->prof[i].pc != pc0; k++)
            i = (i + 1) & 1023;
        rt->prof[i].pc = pc0;
        rt->prof[i].n++;
    }
}

static void rv_print_profile(rv_runtime *rt)
{
    fprintf(stderr, "riscv64 profile: %" PRIu64 " samples (one per %u instructions)\n", rt->samples, RV_QUANTUM);
    for (int top = 0; top < 15; top++) {
        unsigned best = 1024;
        for (unsigned i = 0; i < 1024; i++)
            if (rt->prof[i].n && (best == 1024 || rt->prof[i].n > rt->prof[best].n))
                best = i;
        if (best == 1024)
            break;
        fprintf(stderr, "  0x%016" PRIx64 "  %5.1f%%\n", rt->prof[best].pc,
                100.0 * (double)rt->prof[best].n / (double)(rt->samples ? rt->samples : 1));
        rt->prof[best].n = 0;
    }
}

/* Re-pick the pinned registers from the samples; flush if the set changed. Only called from the dispatcher,
 * where no generated code is running and every guest register is in rv_cpu.x. */
static void rv_repin(rv_runtime *rt)
{
    uint8_t best[RV_PIN_SLOTS];
    uint64_t used = 0;
    for (unsigned i = 0; i < RV_PIN_SLOTS; i++) {
        unsigned pick = 0;
        for (unsigned r = 1; r < 32; r++)
            if (!((used >> r) & 1) && (pick == 0 || rt->reg_weight[r] > rt->reg_weight[pick]))
                pick = r;
        best[i] = (uint8_t)pick;
        used |= 1ull << pick;
    }
    uint64_t cur = 0;
    for (unsigned i = 0; i < RV_PIN_SLOTS; i++)
        cur |= 1ull << rt->pinned[i];
    if (cur == used)
        return;
    /* Keep registers that stay pinned in their host register: fewer differences in traces, same speed. */
    uint8_t next[RV_PIN_SLOTS] = { 0 };
    uint64_t placed = 0;
    for (unsigned i = 0; i < RV_PIN_SLOTS; i++)
        if ((used >> rt->pinned[i]) & 1) {
            next[i] = rt->pinned[i];
            placed |= 1ull << rt->pinned[i];
        }
    for (unsigned i = 0, j = 0; i < RV_PIN_SLOTS; i++) {
        if (next[i])
            continue;
        while ((placed >> best[j]) & 1)
            j++;
        next[i] = best[j];
        placed |= 1ull << best[j];
    }
    memcpy(rt->pinned, next, sizeof(next));
    rv_pin_map_build(&rt->map, rt->pinned, RV_PIN_SLOTS);
    rv_flush(rt);
    rt->stat_repins++;
}

/* ---- Dispatcher --------------------------------------------------------------------------------------- */

/* Before a block: interrupts, wfi, the block at pc (translated if needed), chaining and the jump cache. Returns
 * the block (writable view), or NULL when the caller should look at stop/pause requests and come again. */
/* The translation context for the next block: blocks are looked up in it, the jump cache holds only its
 * entries and the TLB only translations of its data privilege, SUM, MXR and satp. Every change of these goes
 * through the dispatcher first (CSR writes, xRET and traps end their block). */
static void rv_mmu_sync(rv_runtime *rt)
{
    rv_cpu *c = rt->cpu;
    int fp = rv_mmu_fetch_paged(c), dp = rv_mmu_data_paged(c);
    uint32_t flags = 0;
    uint64_t satp = 0;
    if (fp || dp) {
        flags = RV_CTX_ON | (fp ? RV_CTX_FETCH : 0) | (dp ? RV_CTX_DATA : 0) | (c->priv << 3);
        satp = c->satp;
    }
    if (flags != rt->cur_flags || satp != rt->cur_satp) {
        unsigned x = rv_jc_ctx(flags);
        if (rt->jc_flags[x] != flags || rt->jc_satp[x] != satp) {
            rv_jc_clear_one(rt, x);
            rt->jc_flags[x] = flags;
            rt->jc_satp[x] = satp;
        }
        rt->jc_cur = x;
        rv_ftc_clear(rt);
        rt->cur_flags = flags;
        rt->cur_satp = satp;
    }
    if (dp) {
        uint64_t key = rv_mmu_data_priv(c) | (c->mstatus & (RV_MSTATUS_SUM | RV_MSTATUS_MXR));
        if (!rt->tlb_key_valid || rt->tlb_key[0] != key || rt->tlb_key[1] != c->satp) {
            rv_mmu_tlb_flush(c);
            rt->tlb_key[0] = key;
            rt->tlb_key[1] = c->satp;
            rt->tlb_key_valid = 1;
        }
    }
}

static uint8_t *rv_dispatch_next(rv_runtime *rt)
{
    rv_cpu *c = rt->cpu;
    uint64_t pc0 = c->pc;
    unsigned priv0 = c->priv;
    int pending = rv_check_interrupts(rt);
    /* An interrupt taken here: the exit stub's chain field is for the pc it jumped to, not for the vector. */
    if (c->pc != pc0 || c->priv != priv0)
        c->chain_field = 0;
    if (c->wfi) {
        if (!pending) {
            uint64_t wait_ns = rt->ops.irq_wait_ns(rt->ops.opaque), n;
            if (wait_ns > RV_WFI_MAX_NS)
                wait_ns = RV_WFI_MAX_NS;
            struct timespec ts = { 0, (long)wait_ns };
            struct pollfd p = { .fd = rt->wake_fd, .events = POLLIN };
            /* A wake that came before this sleep is still counted in the eventfd: no interrupt is missed. */
            ppoll(&p, 1, &ts, NULL);
            ssize_t r = read(rt->wake_fd, &n, sizeof(n)); /* EAGAIN: no wake came */
            (void)r;
            return NULL;
        }
        c->wfi = 0;
    }
    rv_mmu_sync(rt);
    /* In process, a block the jump cache holds was found by rv_tb_get (and its page checked) in this context
     * since the last flush or sfence.vma, which empty it, and never reads two pages: take it from there, as
     * generated code's jalr does. (In the VM, ring 3 can write the jump cache: always look up.) */
    rv_jc_entry *e = &c->jc[rt->jc_cur][(c->pc >> 1) & (RV_JC_SIZE - 1)];
    uint8_t *code;
    if (e->pc == c->pc && !rt->vm) {
        code = (uint8_t *)(uintptr_t)(e->code - (uint64_t)rt->rx_delta);
        rt->last_tb_crosses = 0;
    } else {
        code = rv_tb_get(rt, c->pc);
    }
    if (!code) {
        if (rv_trap_vector(c, rt->fetch_cause) == c->pc) { /* mtvec or stvec: it would loop */
            char why[128];
            snprintf(why, sizeof(why), "instruction %s fault at 0x%" PRIx64 ", which is also the trap vector",
                     rt->fetch_cause == RV_EXC_INSN_PAGE ? "page" : "access", c->pc);
            rt->ops.stop(rt->ops.opaque, 1, why);
            rt->stopped = 1;
            return NULL;
        }
        rv_trap(rt, rt->fetch_cause, rt->fetch_tval);
        c->leave = 0;
        c->chain_field = 0;
        return NULL;
    }
    if (rt->trace & RV_TRACE_EXEC)
        fprintf(stderr, "Trace: 0x%016" PRIx64 "\n", c->pc);
    /* The exit stub's rel32 address comes from memory generated code writes (shared with the VM in exec=rc):
     * patch only inside the code buffer. */
    uint64_t field = c->chain_field, lo = rv_exec_addr(rt, rt->code_start);
    c->chain_field = 0;
    if (!rt->last_tb_crosses && field >= lo && field - lo <= (uint64_t)(rt->buf.p - rt->code_start) - 4 && rt->buf.p - rt->code_start >= 4) {
        x64_patch_rel32(rt->code_start + (field - lo), code);
        rt->stat_chains++;
    }
    if (!rt->last_tb_crosses && e->pc != c->pc) {
        unsigned x = rt->jc_cur;
        if (e->pc == ~0ull && rt->jc_nused[x]++ < RV_JC_USED_MAX)
            rt->jc_used[x][rt->jc_nused[x] - 1] = (uint16_t)(e - c->jc[x]);
        e->pc = c->pc;
        e->code = rv_exec_addr(rt, code);
        if (c->pc < rt->jc_lo[x])
            rt->jc_lo[x] = c->pc;
        if (c->pc > rt->jc_hi[x])
            rt->jc_hi[x] = c->pc;
    }
    c->quantum = rt->quantum_len;
    c->budget = (int64_t)rt->quantum_len;
    return code;
}

/* After generated code returned: profile sample when the quantum ran out, retired-instruction count. */
static void rv_dispatch_after(rv_runtime *rt)
{
    rv_cpu *c = rt->cpu;
    if (c->budget < RV_TB_MAX_INSNS && !c->wfi) {
        rv_sample(rt, c->pc);
        if (rt->samples >= rt->next_decision) {
            rt->next_decision *= 16;
            rv_repin(rt);
        }
    }
    rv_fpu_fold_flags(c);
    c->instret += c->quantum - (uint64_t)c->budget;
    c->quantum = 0;
    c->budget = 0;
}

int rv_runtime_run(rv_runtime *rt)
{
    while (!rt->stopped && !rt->ops.should_return(rt->ops.opaque)) {
        uint8_t *code = rv_dispatch_next(rt);
        if (!code)
            continue;
        rv_fpu_host_reset(); /* inline F/D operations read their flags from MXCSR */
        rt->enter(rt->cpu, code + rt->rx_delta);
        rv_dispatch_after(rt);
    }
    return rt->stopped ? -1 : 0;
}

void rv_runtime_vm_exit(rv_runtime *rt, uint32_t code)
{
    rv_cpu *c = rt->cpu;
    rv_fpu_fold_flags(c);
    if (code >= 1 && code <= 4)
        rt->stat_vm_exits[code]++;
    switch (code) {
    case RV_VMX_LOAD:
        c->vm_ret = rv_do_load(rt, c->vm_args[0], (uint32_t)c->vm_args[1]);
        return;
    case RV_VMX_STORE:
        rv_do_store(rt, c->vm_args[0], c->vm_args[1], (uint32_t)c->vm_args[2]);
        return;
    case RV_VMX_INTERP:
        rv_interp_counted(rt, (uint32_t)c->vm_args[0], (uint32_t)c->vm_args[1]);
        return;
    case RV_VMX_DISPATCH:
        break;
    default: {
        char why[96];
        snprintf(why, sizeof(why), "exec=rc: ring-3 code exited with unknown code %u", code);
        rt->ops.stop(rt->ops.opaque, 1, why);
        rt->stopped = 1;
        c->vm_next = rv_exec_addr(rt, rt->stubs.dispatch);
        return;
    }
    }
    if (rt->vm_in_block) {
        rv_dispatch_after(rt);
        rt->vm_in_block = 0;
    }
    /* Unless a block is ready, the dispatch stub exits again as soon as the vCPU runs (after a pause). */
    c->vm_next = rv_exec_addr(rt, rt->stubs.dispatch);
    while (!rt->stopped && !rt->ops.should_return(rt->ops.opaque)) {
        uint8_t *block = rv_dispatch_next(rt);
        if (!block)
            continue;
        c->vm_block = rv_exec_addr(rt, block);
        c->vm_next = rv_exec_addr(rt, rt->stubs.enter);
        rt->vm_in_block = 1;
        return;
    }
}

/* ---- Setup -------------------------------------------------------------------------------------------- */

static size_t rv_codemap_len(uint64_t ram_size)
{
    return (size_t)((ram_size + (1u << RV_CODEMAP_SHIFT) - 1) >> RV_CODEMAP_SHIFT);
}

/* The block table: mapped, so that it is empty (zero) without being touched, and one huge page: a Linux boot
 * touches nearly all of its 512 pages, each twice (a lookup maps the zero page, the first insert faults again). */
static rv_tb *rv_tb_table_new(void)
{
    return rv_hostmem_map(RV_TB_HASH_SIZE * sizeof(rv_tb));
}

/* What both modes share once cpu, codemap and the code buffer are in place. */
static rv_runtime *rv_runtime_start(rv_runtime *rt, uint64_t ram_va, char *err, size_t errlen)
{
    rt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->wake_fd < 0) {
        snprintf(err, errlen, "WFI wake eventfd: %s", strerror(errno));
        rv_runtime_free(rt);
        return NULL;
    }
    rt->buf = (x64_buf){ rt->code_rw, rt->code_rw + rt->code_size, 0 };
    /* Until samples say otherwise: what GCC allocates first (a5, a4, ... a0, a6), sp and s0. */
    static const uint8_t initial[RV_PIN_SLOTS] = { 15, 14, 13, 12, 11, 10, 2, 8, 16 };
    memcpy(rt->pinned, initial, sizeof(initial));
    rv_pin_map_build(&rt->map, rt->pinned, RV_PIN_SLOTS);
    rt->next_decision = 16;
    rt->fencei_writes = ~0ull;
    rt->tbs = rv_tb_table_new();
    if (!rt->tbs) {
        snprintf(err, errlen, "out of memory");
        rv_runtime_free(rt);
        return NULL;
    }
    rv_cpu *c = rt->cpu;
    c->ram = ram_va;
    c->ram_base = RV_RAM_BASE;
    c->ram_size = rt->ram_size;
    c->priv = RV_PRIV_M;
    c->lr_addr = ~0ull;
    c->tlb_nused = RV_TLB_USED_MAX + 1; /* the first flush empties all of it: zero is a valid tag */
    rv_mmu_tlb_flush(c);
    rt->lr_val_addr = ~0ull;
    for (unsigned x = 0; x < RV_JC_CTXS; x++) {
        rt->jc_nused[x] = RV_JC_USED_MAX + 1; /* the first clear empties all of it */
        rt->jc_flags[x] = 0;
        rt->jc_satp[x] = 0;
    }
    rt->jc_cur = 0;
    rv_flush(rt);
    rt->stat_flushes = 0;
    if (rt->trace & RV_TRACE_OUT_ASM)
        rt->have_capstone = cs_open(CS_ARCH_X86, CS_MODE_64, &rt->capstone) == CS_ERR_OK;
    return rt;
}

rv_runtime *rv_runtime_new(uint8_t *ram, uint64_t ram_size, const rv_machine_ops *ops, unsigned trace, char *err,
                           size_t errlen)
{
    rv_runtime *rt = calloc(1, sizeof(*rt));
    size_t codemap_len = rv_codemap_len(ram_size);
    /* The codemap follows the cpu in one allocation, so generated code reaches it from rbp. Mapped rather than
     * calloc'd: its pages stay untouched until used whatever malloc is told (MALLOC_PERTURB_ makes calloc clear
     * large blocks by hand, 2 GiB for a 512 GiB guest). */
    size_t blk_len = sizeof(rv_inproc_block) + codemap_len + 1;
    rv_inproc_block *blk = mmap(NULL, blk_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                -1, 0);
    if (!rt || blk == MAP_FAILED) {
        snprintf(err, errlen, "out of memory");
        free(rt);
        if (blk != MAP_FAILED)
            munmap(blk, blk_len);
        return NULL;
    }
    blk->rt = rt;
    rt->inproc = blk;
    rt->inproc_len = blk_len;
    rt->cpu = &blk->cpu;
    rt->codemap = (uint8_t *)(blk + 1);
    rt->codemap_len = codemap_len;
    rt->cpu->codemap_off = (int64_t)(sizeof(*blk) - offsetof(rv_inproc_block, cpu));
    rt->ops = *ops;
    rt->trace = trace;
    rt->ram = ram;
    rt->ram_size = ram_size;
    rt->quantum_len = RV_QUANTUM;
    rt->code_size = RV_CODE_SIZE;
    /* Two views of one memfd: generated code is written through one and executed through the other. */
    int fd = memfd_create("rv-code", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)rt->code_size)) {
        snprintf(err, errlen, "code buffer: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        munmap(blk, blk_len);
        free(rt);
        return NULL;
    }
    rt->code_rw = mmap(NULL, rt->code_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    rt->code_rx = mmap(NULL, rt->code_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    close(fd);
    if (rt->code_rw == MAP_FAILED || rt->code_rx == MAP_FAILED) {
        snprintf(err, errlen, "code buffer mapping: %s", strerror(errno));
        if (rt->code_rw != MAP_FAILED)
            munmap(rt->code_rw, rt->code_size);
        if (rt->code_rx != MAP_FAILED)
            munmap(rt->code_rx, rt->code_size);
        munmap(blk, blk_len);
        free(rt);
        return NULL;
    }
    rt->rx_delta = rt->code_rx - rt->code_rw;
    rt->code_populated = rt->code_rw;
    return rv_runtime_start(rt, (uint64_t)(uintptr_t)ram, err, errlen);
}

size_t rv_runtime_vm_cpu_bytes(uint64_t ram_size)
{
    size_t cpu = (sizeof(rv_cpu) + 63) & ~(size_t)63;
    return (cpu + rv_codemap_len(ram_size) + 1 + 4095) & ~(size_t)4095;
}

rv_runtime *rv_runtime_new_vm(const rv_vm_layout *l, const rv_machine_ops *ops, unsigned trace, char *err,
                              size_t errlen)
{
    if (l->cpu_size < rv_runtime_vm_cpu_bytes(l->ram_size) || l->code_size < 4 * RV_TB_MAX_CODE + 4096) {
        snprintf(err, errlen, "exec=rc: the shared regions are too small");
        return NULL;
    }
    rv_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->ops = *ops;
    rt->trace = trace;
    rt->vm = 1;
    rt->vm_port = l->port;
    rt->vm_cpu_va = l->cpu_va;
    rt->ram = l->ram;
    rt->ram_size = l->ram_size;
    /* An exit costs microseconds here: give each entry into the VM ten times the in-process quantum. */
    rt->quantum_len = 10 * RV_QUANTUM;
    memset(l->cpu_host, 0, l->cpu_size);
    rt->cpu = (rv_cpu *)(void *)l->cpu_host;
    size_t cpu = (sizeof(rv_cpu) + 63) & ~(size_t)63;
    rt->codemap = l->cpu_host + cpu;
    rt->codemap_len = rv_codemap_len(l->ram_size);
    rt->cpu->codemap_off = (int64_t)cpu;
    rt->code_rw = l->code_host;
    rt->code_size = l->code_size;
    rt->rx_delta = (ptrdiff_t)(l->code_va - (uint64_t)(uintptr_t)l->code_host);
    return rv_runtime_start(rt, l->ram_va, err, errlen);
}

uint64_t rv_runtime_vm_entry(rv_runtime *rt)
{
    return rv_exec_addr(rt, rt->stubs.entry);
}

void rv_runtime_free(rv_runtime *rt)
{
    if (!rt)
        return;
    if (rt->trace & RV_TRACE_PROF)
        rv_print_profile(rt);
    if (rt->have_capstone)
        cs_close(&rt->capstone);
    if (!rt->vm) {
        munmap(rt->code_rw, rt->code_size);
        munmap(rt->code_rx, rt->code_size);
    }
    if (rt->wake_fd >= 0)
        close(rt->wake_fd);
    if (rt->tbs)
        rv_hostmem_unmap(rt->tbs, RV_TB_HASH_SIZE * sizeof(*rt->tbs));
    rv_codesnap_free(&rt->snap);
    free(rt->dirty);
    if (rt->inproc)
        munmap(rt->inproc, rt->inproc_len);
    free(rt);
}

void rv_runtime_state_loaded(rv_runtime *rt)
{
    rv_mmu_tlb_flush(rt->cpu);
    rt->tlb_key_valid = 0;
    rt->cur_flags = 0;
    rt->cur_satp = 0;
    rt->jc_cur = 0;
    rv_flush(rt);
}

void rv_runtime_set_hartid(rv_runtime *rt, uint64_t hartid)
{
    rt->hartid = hartid;
}

void rv_runtime_wake(rv_runtime *rt)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so a wake is pending anyway. */
    ssize_t r = write(rt->wake_fd, &one, sizeof(one));
    (void)r;
}

rv_cpu *rv_runtime_cpu(rv_runtime *rt)
{
    return rt->cpu;
}

void rv_runtime_set_misaligned(rv_runtime *rt, int emulate)
{
    rt->emulate_misaligned = emulate;
}

int rv_runtime_dirty_start(rv_runtime *rt)
{
    uint64_t pages = (rt->ram_size + (1u << RV_PAGE_SHIFT) - 1) >> RV_PAGE_SHIFT;
    if (!rt->dirty) {
        rt->dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
        if (!rt->dirty)
            return -1;
    } else {
        memset(rt->dirty, 0, (pages + 63) / 64 * sizeof(uint64_t));
    }
    for (size_t g = 0; g < rt->codemap_len; g++)
        rt->codemap[g] |= RV_CODEMAP_DIRTY;
    rv_mmu_tlb_flush(rt->cpu); /* the hart is stopped: its next store to each page comes through here */
    return 0;
}

int rv_runtime_dirty_collect(rv_runtime *rt, uint64_t first_page, uint64_t npages, uint64_t *bitmap)
{
    uint64_t pages = (rt->ram_size + (1u << RV_PAGE_SHIFT) - 1) >> RV_PAGE_SHIFT;
    if (!rt->dirty || first_page > pages || npages > pages - first_page)
        return -1;
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t p = first_page + i;
        if (rt->dirty[p / 64] & (1ull << (p % 64))) {
            rt->dirty[p / 64] &= ~(1ull << (p % 64));
            bitmap[i / 64] |= 1ull << (i % 64);
            rv_dirty_set_granules(rt, p, 1);
            rv_mmu_tlb_drop_writes(rt->cpu, p, p);
        }
    }
    return 0;
}

int rv_runtime_map_rom(rv_runtime *rt, uint64_t base, const uint8_t *rom, uint64_t size)
{
    if (!rom || !size || size > UINT64_MAX - base || (base < RV_RAM_BASE + rt->ram_size && base + size > RV_RAM_BASE))
        return -1;
    rt->rom = rom;
    rt->rom_base = base;
    rt->rom_size = size;
    return 0;
}

int rv_runtime_watch(rv_runtime *rt, uint64_t addr, uint64_t len)
{
    if (rt->nwatch == RV_WATCH_MAX || !len || addr - RV_RAM_BASE >= rt->ram_size ||
        len > rt->ram_size - (addr - RV_RAM_BASE))
        return -1;
    rt->watch[rt->nwatch].addr = addr;
    rt->watch[rt->nwatch].len = len;
    rt->nwatch++;
    rv_mark_watch(rt);
    return 0;
}

void rv_runtime_dump(rv_runtime *rt, void (*print)(void *opaque, const char *line), void *opaque)
{
    rv_cpu *c = rt->cpu;
    char line[160];
    snprintf(line, sizeof(line), "pc  %016" PRIx64 "  priv %s  mstatus %016" PRIx64 "  mcause %" PRIx64
             "  mepc %" PRIx64 "  mtval %" PRIx64 "  mtvec %" PRIx64, c->pc, c->priv == RV_PRIV_M ? "M" : c->priv == RV_PRIV_S ? "S" : "U",
             c->mstatus, c->mcause, c->mepc, c->mtval, c->mtvec);
    print(opaque, line);
    for (unsigned r = 0; r < 32; r += 4) {
        snprintf(line, sizeof(line), "%-4s %016" PRIx64 "  %-4s %016" PRIx64 "  %-4s %016" PRIx64 "  %-4s %016" PRIx64,
                 rv_reg_name(r), c->x[r], rv_reg_name(r + 1), c->x[r + 1], rv_reg_name(r + 2), c->x[r + 2],
                 rv_reg_name(r + 3), c->x[r + 3]);
        print(opaque, line);
    }
    uint64_t pc = c->mepc;
    for (int i = 0; i < 4; i++) {
        uint16_t lo, hi = 0;
        rv_insn in;
        char text[96];
        if (rv_fetch16(rt, pc, &lo))
            break;
        if (rv_insn_length(lo) == 4 && rv_fetch16(rt, pc + 2, &hi))
            break;
        rv_decode(lo | ((uint32_t)hi << 16), &in);
        snprintf(line, sizeof(line), "%s0x%" PRIx64 ":  %s", i ? "  " : "> ", pc, rv_disas(&in, pc, text, sizeof(text)));
        print(opaque, line);
        pc += in.len;
    }
}

void rv_runtime_stats(rv_runtime *rt, uint64_t *instret, uint64_t *blocks, uint64_t *flushes, uint64_t *chains,
                      uint64_t *repins, char *pinned, size_t pinned_len)
{
    size_t o = 0;
    pinned[0] = 0;
    for (unsigned i = 0; i < RV_PIN_SLOTS && o < pinned_len; i++)
        o += (size_t)snprintf(pinned + o, pinned_len - o, "%s%s", i ? "," : "", rv_reg_name(rt->pinned[i]));
    *repins = rt->stat_repins;
    *instret = rv_instret(rt->cpu);
    *blocks = rt->stat_blocks;
    *flushes = rt->stat_flushes;
    *chains = rt->stat_chains;
}

void rv_runtime_fencei_stats(rv_runtime *rt, uint64_t *kept, uint64_t *unread)
{
    *kept = rt->stat_fencei_kept;
    *unread = rt->stat_fencei_unread;
}

void rv_runtime_vm_stats(rv_runtime *rt, uint64_t counts[4])
{
    for (int i = 0; i < 4; i++)
        counts[i] = rt->stat_vm_exits[i + 1];
}
