/*
 * The RC's start state, written by the host into the rc-system MMIO2 region before vCPU 0 runs: 4-level page
 * tables (the target's RAM identity-mapped with user pages in the lower half, plus the user regions the plugin
 * asked for; the RC's modules, system area and MMIO2 regions supervisor-only in the top 2 GiB, code read-only,
 * everything else no-execute), the GDT with ring-0 and ring-3 segments, a TSS with the trap stacks and an I/O
 * bitmap that opens at most the plugin's own ports to ring 3 (none for rc-selftest), an IDT of the core's
 * exception stubs, and the boot-info block that tells the RC where everything is.
 */
#include <inttypes.h>
#include <string.h>

#include "rc_host.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

static uint64_t *rc_sys_u64(rc_host *h, uint64_t off)
{
    return (uint64_t *)(void *)(h->sys + off);
}

/* A zeroed page-table page from the pool; its offset in rc-system, or 0 when the pool is exhausted. */
static uint64_t rc_pt_alloc(rc_host *h)
{
    if (h->pt_next + 0x1000 > RC_SYS_PT_POOL_END)
        return 0;
    uint64_t off = h->pt_next;
    h->pt_next += 0x1000;
    memset(h->sys + off, 0, 0x1000);
    return off;
}

/* The table `levels` below the PML4 for va, created on the way; returns its offset in rc-system or 0. */
static uint64_t rc_pt_walk(rc_host *h, uint64_t va, unsigned stop_level)
{
    uint64_t table = RC_SYS_PT_POOL; /* the PML4 */
    int user = va < 0x800000000000ull;
    for (unsigned level = 4; level > stop_level; level--) {
        unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
        uint64_t *e = rc_sys_u64(h, table + idx * 8);
        if (!(*e & PTE_P)) {
            uint64_t next = rc_pt_alloc(h);
            if (!next)
                return 0;
            /* Upper-half tables are supervisor-only from the top: no ring-3 access below them. */
            *e = (RC_GPA_SYSTEM + next) | PTE_P | PTE_W | (user ? PTE_U : 0);
        } else if (*e & PTE_PS) {
            return 0;
        }
        table = (*e & PTE_ADDR) - RC_GPA_SYSTEM;
    }
    return table;
}

static int rc_map_4k(rc_host *h, uint64_t va, uint64_t gpa, uint64_t size, uint64_t flags)
{
    for (uint64_t off = 0; off < size; off += 0x1000) {
        uint64_t pt = rc_pt_walk(h, va + off, 1);
        if (!pt) {
            h->hlp->log(h->inst, VMM_LOG_ERROR, "RC page tables: pool exhausted mapping 0x%" PRIx64, va + off);
            return -1;
        }
        *rc_sys_u64(h, pt + ((va + off) >> 12 & 511) * 8) = (gpa + off) | flags | PTE_P;
    }
    return 0;
}

/* 2 MiB pages where va and gpa allow them (fewer table pages, fewer TLB misses for target code), 4 KiB else. */
static int rc_map_range(rc_host *h, uint64_t va, uint64_t gpa, uint64_t size, uint64_t flags)
{
    uint64_t off = 0;
    while (off < size) {
        uint64_t a = va + off, g = gpa + off;
        if (!(a & 0x1fffff) && !(g & 0x1fffff) && size - off >= 0x200000) {
            uint64_t pd = rc_pt_walk(h, a, 2);
            if (!pd) {
                h->hlp->log(h->inst, VMM_LOG_ERROR, "RC page tables: pool exhausted mapping 0x%" PRIx64, a);
                return -1;
            }
            *rc_sys_u64(h, pd + (a >> 21 & 511) * 8) = g | flags | PTE_P | PTE_PS;
            off += 0x200000;
        } else {
            if (rc_map_4k(h, a, g, 0x1000, flags))
                return -1;
            off += 0x1000;
        }
    }
    return 0;
}

static int rc_build_page_tables(rc_host *h)
{
    h->pt_next = RC_SYS_PT_POOL;
    if (!rc_pt_alloc(h)) /* the PML4 */
        return -1;
    /* Target RAM, VA == GPA; ring 3 may read and write it, and execute it only where the plugin says so. */
    if (rc_map_range(h, h->ram_gpa, h->ram_gpa, h->ram, PTE_W | PTE_U | (h->ram_executable ? 0 : PTE_NX)))
        return -1;
    for (unsigned i = 0; i < h->nuregions; i++) {
        const rc_user_region *u = &h->uregions[i];
        if (rc_map_range(h, u->va, u->gpa, u->size,
                         PTE_U | (u->writable ? PTE_W : 0) | (u->executable ? 0 : PTE_NX)))
            return -1;
    }
    for (unsigned i = 0; i < h->nmodules; i++) {
        const rc_module_rt *r = &h->mods[i];
        /* Code read-only even for ring 0 (CR0.WP): an RC bug writing its code faults instead of being dropped. */
        if (rc_map_4k(h, r->m.ro_va, r->ro_gpa, r->m.ro_size, 0))
            return -1;
        if (r->m.rw_memsz && rc_map_4k(h, r->m.rw_va, r->rw_gpa, r->m.rw_memsz, PTE_W | PTE_NX))
            return -1;
    }
    /* The system area, leaving the guard pages below each stack unmapped. */
    static const uint64_t sys_parts[][2] = {
        {0, RC_SYS_PT_POOL_END},
        {RC_SYS_STACK, RC_SYS_STACK_TOP - RC_SYS_STACK},
        {RC_SYS_TRAP_STACK, RC_SYS_TRAP_STACK_TOP - RC_SYS_TRAP_STACK},
        {RC_SYS_IST_STACK, RC_SYS_IST_STACK_TOP - RC_SYS_IST_STACK},
    };
    for (size_t i = 0; i < sizeof(sys_parts) / sizeof(sys_parts[0]); i++)
        if (rc_map_4k(h, RC_VA_SYSTEM + sys_parts[i][0], RC_GPA_SYSTEM + sys_parts[i][0], sys_parts[i][1],
                      PTE_W | PTE_NX))
            return -1;
    if (rc_map_4k(h, RC_VA_STATE, RC_GPA_STATE, RC_STATE_SIZE, PTE_W | PTE_NX) ||
        rc_map_4k(h, RC_VA_LOG, RC_GPA_LOG, RC_LOG_SIZE, PTE_W | PTE_NX) ||
        rc_map_4k(h, RC_VA_MAILBOX, RC_GPA_MAILBOX, RC_MAILBOX_SIZE, PTE_W | PTE_NX) ||
        /* Writable alias of the core's first ROM page: lets the selftest prove the ROM slot drops writes. */
        rc_map_4k(h, RC_VA_ROM_ALIAS, h->mods[0].ro_gpa, 0x1000, PTE_W | PTE_NX))
        return -1;
    h->hlp->log(h->inst, VMM_LOG_DEBUG, "RC page tables: %" PRIu64 " pages",
                (uint64_t)((h->pt_next - RC_SYS_PT_POOL) / 0x1000));
    return 0;
}

static void rc_build_gdt_tss(rc_host *h)
{
    uint64_t tss_va = RC_VA_SYSTEM + RC_SYS_TSS;
    uint32_t limit = h->tss_limit;
    uint64_t gdt[7] = {
        0,
        0x00af9b000000ffffull, /* 0x08 code64, DPL 0 (accessed bit preset: no write to the GDT on load) */
        0x00cf93000000ffffull, /* 0x10 data, DPL 0 */
        0x00cff3000000ffffull, /* 0x18 data, DPL 3 */
        0x00affb000000ffffull, /* 0x20 code64, DPL 3 */
    };
    x86kvm_tss_descriptor(tss_va, limit, &gdt[5]); /* 0x28 */
    memcpy(h->sys + RC_SYS_GDT, gdt, sizeof(gdt));
    uint8_t *tss = h->sys + RC_SYS_TSS;
    memset(tss, 0, 0x1000);
    uint64_t rsp0 = RC_VA_SYSTEM + RC_SYS_TRAP_STACK_TOP, ist1 = RC_VA_SYSTEM + RC_SYS_IST_STACK_TOP;
    memcpy(tss + 4, &rsp0, 8);
    memcpy(tss + 36, &ist1, 8);
    /* The I/O bitmap follows the TSS proper. Without ring-3 ports it is empty (base at the limit), so every port
     * access from ring 3 raises #GP; otherwise it opens exactly the plugin's ports, and every port above them
     * lies beyond the limit (closed). This host honours only the bitmap for ring 3 (IOPL is ignored). */
    uint16_t iomap = 0x68;
    memcpy(tss + 102, &iomap, 2);
    if (h->r3_port_count) {
        uint32_t end = (uint32_t)h->r3_port + h->r3_port_count;
        memset(tss + iomap, 0xff, (end + 7) / 8 + 1);
        for (uint32_t p = h->r3_port; p < end; p++)
            tss[iomap + p / 8] &= (uint8_t)~(1u << (p % 8));
    }
}

static void rc_build_idt(rc_host *h)
{
    uint8_t *idt = h->sys + RC_SYS_IDT;
    memset(idt, 0, 0x1000);
    for (unsigned v = 0; v < 32; v++) /* NMI and #DF on their own stack: RSP may be what went wrong */
        x86kvm_idt_gate(idt + 16 * v, h->trap_stubs + 16 * v, RC_SEL_CODE0, v == 2 || v == 8 ? 1 : 0);
}

static void rc_build_boot_info(rc_host *h)
{
    rc_boot_info bi;
    memset(&bi, 0, sizeof(bi));
    bi.magic = RC_BOOT_MAGIC;
    bi.abi = RC_ABI_VERSION;
    bi.nmodules = h->nmodules;
    bi.vcpus = 1;
    bi.hc_port = RC_HC_PORT;
    bi.target_ram = h->ram;
    bi.target_ram_base = h->ram_gpa;
    bi.target_entry = h->target_entry;
    bi.target_stack = h->target_stack;
    bi.system_va = RC_VA_SYSTEM;
    bi.state_va = RC_VA_STATE;
    bi.log_va = RC_VA_LOG;
    bi.mailbox_va = RC_VA_MAILBOX;
    bi.rom_alias_va = RC_VA_ROM_ALIAS;
    bi.unmapped_va = RC_VA_UNMAPPED;
    for (unsigned i = 0; i < h->nmodules; i++) {
        const rc_module_rt *r = &h->mods[i];
        rc_boot_module *b = &bi.modules[i];
        memcpy(b->name, r->m.name, sizeof(b->name));
        b->ro_va = r->m.ro_va;
        b->ro_size = r->m.ro_size;
        b->ro_gpa = r->ro_gpa;
        b->rw_va = r->m.rw_va;
        b->rw_size = r->m.rw_memsz;
        b->rw_gpa = r->rw_gpa;
    }
    memcpy(h->sys + RC_SYS_BOOTINFO, &bi, sizeof(bi));

    rc_vm_state vs = {.magic = RC_VM_STATE_MAGIC, .host_cookie = RC_HOST_COOKIE};
    memcpy(h->state + RC_STATE_VM, &vs, sizeof(vs));
    rc_log_ring lr = {.magic = RC_LOG_MAGIC, .size = RC_LOG_RING_BYTES};
    memcpy(h->log, &lr, sizeof(lr));
}

int rc_boot_build(rc_host *h)
{
    _Static_assert(sizeof(rc_boot_info) <= 0x1000, "boot info fits its page");
    h->tss_limit = 0x67;
    if (h->r3_port_count) {
        uint32_t end = (uint32_t)h->r3_port + h->r3_port_count;
        if (end > 0x7000) { /* the bitmap must fit the TSS page */
            h->hlp->log(h->inst, VMM_LOG_ERROR, "RC: ring-3 ports must lie below 0x7000 (got 0x%x+%u)", h->r3_port,
                        h->r3_port_count);
            return -1;
        }
        h->tss_limit = 0x68 + (end + 7) / 8; /* the bitmap and the 0xff byte after it */
    }
    if (rc_build_page_tables(h))
        return -1;
    rc_build_gdt_tss(h);
    rc_build_idt(h);
    rc_build_boot_info(h);
    return 0;
}

rc_boot_info *rc_boot_info_of(rc_host *h)
{
    return (rc_boot_info *)(void *)(h->sys + RC_SYS_BOOTINFO);
}

void rc_boot_sregs(const rc_host *h, struct kvm_sregs *s)
{
    const x86kvm_long_mode lm = {
        .code_sel = RC_SEL_CODE0, .data_sel = RC_SEL_DATA0, .tss_sel = RC_SEL_TSS,
        .gdt = RC_VA_SYSTEM + RC_SYS_GDT, .idt = RC_VA_SYSTEM + RC_SYS_IDT, .tss = RC_VA_SYSTEM + RC_SYS_TSS,
        .cr3 = RC_GPA_SYSTEM + RC_SYS_PT_POOL, .gdt_limit = 7 * 8 - 1, .idt_limit = 32 * 16 - 1,
        .tss_limit = h->tss_limit,
    };
    x86kvm_long_mode_sregs(s, &lm);
}
