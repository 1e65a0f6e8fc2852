/* Sv39 and Sv48 paging: satp's WARL modes and ASID, loads, stores, AMOs and fetches through 4 KiB pages and
 * 2 MiB / 1 GiB / 512 GiB superpages, A and D set by the walk, every permission case (R, W, X, U with SUM, MXR,
 * U pages not executable from S, S pages not usable from U), reserved encodings (W without R, bits 63:54, A/D/U
 * on a pointer, a pointer at level 0), misaligned superpages, non-canonical addresses, stval of every page fault
 * (a fetch crossing into an unmapped page reports the second page), a delegated page fault, MPRV with MPP,
 * sfence.vma (by address and of everything) after remapping data and code (reached by jr and by a direct jump
 * from another page; by the address of another 4 KiB page of a remapped superpage), a store rewriting code through a mapping that had taken stores before the page held code,
 * two address spaces under two ASIDs, a device page, and a guest trying to reach outside RAM
 * through satp and PTEs (access faults). S/U code runs from an identity-mapped
 * gigapage (and a U alias of it at 0xc0000000); faults go to M (s4 = mcause, s3 = mtval). */
#include "test.h"
#define SREPORT
#include "smode.h"

#define V 1
#define R 2
#define W 4
#define X 8
#define U 0x10
#define A 0x40
#define D 0x80
#define PG 0x40000000            /* l0[i] maps PG + i * 4096 */
#define UALIAS 0x40000000        /* U-mode code runs at label + UALIAS */

/* table[idx] = leaf or pointer to `target` (a label) with flags */
#define PTE(table, idx, target, flags) \
    la t0, target; srli t0, t0, 12; slli t0, t0, 10; li t1, flags; or t0, t0, t1; la t1, table; sd t0, (idx) * 8(t1)
/* table[idx] = PPN of physical address pa, with flags */
#define PTEPA(table, idx, pa, flags) \
    li t0, ((pa) >> 12) << 10; li t1, flags; or t0, t0, t1; la t1, table; sd t0, (idx) * 8(t1)
#define SATP(mode, asid, root) \
    la t0, root; srli t0, t0, 12; li t1, ((mode) << 60) | ((asid) << 44); or t0, t0, t1; csrw satp, t0
/* run S-mode code at label with a0 = va (a4 = -1 before), back in M with s4 = mcause, s3 = mtval */
#define SRUN(label, va) li a0, va; li a4, -1; li s4, -1; RESUME(1f); GO(PRV_S, label); 1:
#define URUN(label, va) li a0, va; li a4, -1; li s4, -1; RESUME(1f); GO(PRV_U, label + UALIAS); 1:
#define OK_S(n, val) CHECK(n, s4, 9); CHECK(n, a4, val)
#define FAULT(n, cause, tval) CHECK(n, s4, cause); CHECK(n, s3, tval)
/* A page-table entry outside RAM is an access fault (the spec); QEMU 7.2 raises a page fault there. */
#ifdef QEMU
#define PTE_LOAD_FAULT 13
#define PTE_FETCH_FAULT 12
#else
#define PTE_LOAD_FAULT 5
#define PTE_FETCH_FAULT 1
#endif
#define LOADPTE(table, idx) la t0, table; ld a4, (idx) * 8(t0)

TEST_BEGIN("paging")
    SETUP_HANDLERS
    /* satp: Sv39 and Sv48 with all 16 ASID bits are kept, Sv57 is refused */
    li t0, (8 << 60) | (0xffff << 44) | 0x1234
    csrw satp, t0
    csrr a4, satp
    CHECK(1, a4, (8 << 60) | (0xffff << 44) | 0x1234)
    li t0, (9 << 60) | 0x5678
    csrw satp, t0
    csrr a4, satp
    CHECK(2, a4, (9 << 60) | 0x5678)
#ifndef QEMU /* QEMU 7.2 has Sv57 */
    li t0, (10 << 60) | 0x9abc
    csrw satp, t0
    csrr a4, satp
    CHECK(3, a4, (9 << 60) | 0x5678)
#endif
    csrw satp, zero

    /* The tables. */
    PTEPA(root, 0, 0, V | R | W | A | D)                  /* devices, identity */
    PTE(root, 1, l1, V)
    PTEPA(root, 2, 0x80000000, V | R | W | X | A | D)     /* RAM, identity: S code */
    PTEPA(root, 3, 0x80000000, V | R | W | X | U | A | D) /* U alias of RAM */
    PTEPA(root, 4, 0x80200000, V | R | A | D)             /* misaligned gigapage */
    PTEPA(root, 5, 0x300000000, V)                        /* pointer outside RAM */
    PTEPA(root, 6, 0x0c000000, V)                         /* pointer into the PLIC */
    PTE(l1, 0, l0, V)
    PTEPA(l1, 1, 0x80000000, V | R | A | D)               /* 2 MiB page at PG + 2M */
    PTE(l1, 2, tp0, V | R | A | D)                        /* misaligned 2 MiB page */
    PTE(l1, 3, l0, V | A)                                 /* pointer with A: reserved */
    PTE(l0, 0, tp0, V | R | W | A | D)
    PTE(l0, 1, tp1, V | R | W)
    PTE(l0, 2, tp0, V | X | A)
    PTE(l0, 3, tp0, V | R | A)
    PTE(l0, 4, tp0, V | W | A | D)
    PTE(l0, 5, tp0, V | R | A | D | (1 << 54))
    PTE(l0, 6, cpa, V | X | A)
    PTE(l0, 7, cpc, V | X | A)
    PTE(l0, 9, tp0, V | R | W | U | A | D)
    PTEPA(l0, 10, 0x200000000, V | R | W | A | D)         /* leaf outside RAM */
    PTEPA(l0, 11, 0xfffffffffff000, V | R | W | A | D)    /* the largest PPN */
    PTEPA(l0, 12, 0x0c000000, V | R | W | A | D)          /* a device page: the PLIC */
    PTE(l0, 13, tp0, R | W | A | D)                       /* not valid */
    PTE(l0, 14, tp0, V)                                   /* pointer at level 0 */
    PTE(l0, 15, cpa, V | X | U | A)                       /* U code */
    SATP(8, 1, root)
    sfence.vma

    /* Loads and stores through a 4 KiB page */
    SRUN(s_ld, PG)
    OK_S(4, 0x1111111111111111)
    li a1, 0x5555
    SRUN(s_sd, PG + 8)
    CHECK(5, s4, 9)
    la t0, tp0
    ld a4, 8(t0)
    CHECK(6, a4, 0x5555)
    /* A and D: a load sets A only, a store D */
    SRUN(s_ld, PG + 4096)
    OK_S(7, 0x2222222222222222)
    LOADPTE(l0, 1)
    andi a4, a4, A | D
    CHECK(8, a4, A)
    li a1, 7
    SRUN(s_sd, PG + 4096 + 16)
    CHECK(9, s4, 9)
    LOADPTE(l0, 1)
    andi a4, a4, A | D
    CHECK(10, a4, A | D)
    /* a loop storing and loading through the TLB inline (hits after the first miss) */
    SRUN(s_loop, PG + 4096)
    OK_S(68, 4950)
    la t0, tp1
    ld a4, 64 + 8 * 99(t0)
    CHECK(69, a4, 99)
    li a1, 0
    SRUN(s_sd, PG + 4096 + 64)
    CHECK(70, s4, 9)
    /* X only: no load, unless MXR; no store */
    SRUN(s_ld, PG + 2 * 4096)
    FAULT(11, 13, PG + 2 * 4096)
    li t0, 1 << 19
    csrs mstatus, t0
    SRUN(s_ld, PG + 2 * 4096)
    OK_S(12, 0x1111111111111111)
    li t0, 1 << 19
    csrc mstatus, t0
    SRUN(s_ld, PG + 2 * 4096)                             /* the MXR translation is gone with MXR */
    FAULT(13, 13, PG + 2 * 4096)
    /* R only: stores and AMOs fault as stores, LR loads */
    SRUN(s_sd, PG + 3 * 4096 + 24)
    FAULT(14, 15, PG + 3 * 4096 + 24)
    SRUN(s_amo, PG + 3 * 4096 + 8)
    FAULT(15, 15, PG + 3 * 4096 + 8)
    SRUN(s_lr, PG + 3 * 4096)
    OK_S(16, 0x1111111111111111)
    SRUN(s_lr, PG + 2 * 4096)
    FAULT(17, 13, PG + 2 * 4096)
    /* reserved: W without R, bits 63:54, invalid, pointer at level 0, pointer with A */
    SRUN(s_ld, PG + 4 * 4096)
    FAULT(18, 13, PG + 4 * 4096)
    SRUN(s_sd, PG + 4 * 4096)
    FAULT(19, 15, PG + 4 * 4096)
    SRUN(s_ld, PG + 5 * 4096 + 8)
    FAULT(20, 13, PG + 5 * 4096 + 8)
    SRUN(s_ld, PG + 13 * 4096)
    FAULT(21, 13, PG + 13 * 4096)
    SRUN(s_ld, PG + 14 * 4096)
    FAULT(22, 13, PG + 14 * 4096)
    SRUN(s_ld, PG + 0x600000)
    FAULT(23, 13, PG + 0x600000)
    /* superpages: 2 MiB aligned (PG + 2M maps RAM from 0x80000000), misaligned 2 MiB and 1 GiB */
    la t0, tp1
    li t1, 0x80000000 - (PG + 0x200000)
    sub a0, t0, t1
    li a4, -1
    RESUME(1f)
    GO(PRV_S, s_ld)
1:  OK_S(24, 0x2222222222222222)
    SRUN(s_ld, PG + 0x400000)
    FAULT(25, 13, PG + 0x400000)
    SRUN(s_ld, 0x100000000)
    FAULT(26, 13, 0x100000000)
    /* non-canonical (Sv39: bits 63:39 must equal bit 38) */
    SRUN(s_ld, 0x0000008000000000)
    FAULT(27, 13, 0x0000008000000000)
    SRUN(s_sd, 0xffff7fc000000000)
    FAULT(28, 15, 0xffff7fc000000000)
    SRUN(s_ld, 0xffffffc000000000)                        /* canonical, unmapped */
    FAULT(29, 13, 0xffffffc000000000)
    /* U pages: not from S without SUM, never executable from S; S pages not from U */
    SRUN(s_ld, PG + 9 * 4096)
    FAULT(30, 13, PG + 9 * 4096)
    li t0, 1 << 18
    csrs mstatus, t0
    SRUN(s_ld, PG + 9 * 4096)
    OK_S(31, 0x1111111111111111)
    SRUN(s_jr, PG + 15 * 4096)
    FAULT(32, 12, PG + 15 * 4096)
    li t0, 1 << 18
    csrc mstatus, t0
    URUN(u_ld, PG + 9 * 4096)
    CHECK(33, s4, 8)
    CHECK(34, a4, 0x1111111111111111)
    URUN(u_ld, PG)
    FAULT(35, 13, PG)
    URUN(u_jr, PG + 15 * 4096)                            /* U code page: runs (li a4, 1; ecall from U) */
    CHECK(36, s4, 8)
    CHECK(37, a4, 1)
    URUN(u_jr, PG + 6 * 4096)                             /* S code page from U */
    FAULT(38, 12, PG + 6 * 4096)
    /* fetch: X page runs, a page without X faults, a 4-byte instruction crossing into an unmapped page reports
     * the second page */
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(39, 1)
    /* each privilege has its own jump cache: what one ran is not a hit for the other */
    URUN(u_jr, PG + 6 * 4096)
    FAULT(85, 12, PG + 6 * 4096)
    URUN(u_jr, PG + 15 * 4096)
    CHECK(86, a4, 1)
    SRUN(s_jr, PG + 15 * 4096)
    FAULT(87, 12, PG + 15 * 4096)
    SRUN(s_jr, PG + 3 * 4096)
    FAULT(40, 12, PG + 3 * 4096)
    SRUN(s_jr, PG + 8 * 4096 - 2)
    FAULT(41, 12, PG + 8 * 4096)
    PTE(l0, 8, cpd, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 8 * 4096 - 2)
    OK_S(42, 7)
    /* outside RAM: a leaf there (nothing mapped: access fault), the largest PPN, a pointer outside RAM and one
     * into a device; a device page works */
    SRUN(s_ld, PG + 10 * 4096)
    FAULT(43, 5, PG + 10 * 4096)
    SRUN(s_sd, PG + 11 * 4096)
    FAULT(44, 7, PG + 11 * 4096)
    SRUN(s_ld, 0x140000000)
    FAULT(45, PTE_LOAD_FAULT, 0x140000000)
    SRUN(s_jr, 0x180000000)
    FAULT(46, PTE_FETCH_FAULT, 0x180000000)
    SRUN(s_ldw, PG + 12 * 4096 + 4)                        /* PLIC source 1 priority: 0 */
    OK_S(47, 0)
    /* a delegated page fault goes to S with stval */
    li t0, 1 << 13
    csrw medeleg, t0
    SRUN(s_ld, PG + 13 * 4096 + 0x128)
    CHECK(48, s4, 9)
    CHECK(49, a1, 13)
    CHECK(50, a3, PG + 13 * 4096 + 0x128)
    csrw medeleg, zero
    /* MPRV: M's loads and stores at MPP's privilege, translated */
    li t0, (1 << 17) | (3 << 11)
    csrc mstatus, t0
    li t0, (1 << 17) | (1 << 11)
    csrs mstatus, t0
    li t0, PG
    ld a4, 0(t0)
    li t1, (1 << 17)
    csrc mstatus, t1
    CHECK(51, a4, 0x1111111111111111)
    li t0, (1 << 17) | (3 << 11)
    csrc mstatus, t0
    li t0, (1 << 17)                                      /* MPP = U: an S page faults, in M */
    csrs mstatus, t0
    RESUME(1f)
    li t0, PG
    ld a4, 0(t0)
1:  li t1, (1 << 17)
    csrc mstatus, t1
    FAULT(52, 13, PG)
    /* sfence.vma after remapping data and code */
    SRUN(s_ld, PG)
    OK_S(53, 0x1111111111111111)
    PTE(l0, 0, tp2, V | R | W | A | D)
    sfence.vma
    SRUN(s_ld, PG)
    OK_S(54, 0x3333333333333333)
    PTE(l0, 0, tp0, V | R | W | A | D)                   /* a data page, by address */
    li t0, PG
    sfence.vma t0
    SRUN(s_ld, PG)
    OK_S(71, 0x1111111111111111)
    PTE(l0, 6, cpb, V | X | A)
    li t0, PG + 6 * 4096
    sfence.vma t0
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(55, 2)
    /* a code page mapped elsewhere, then sfence.vma of everything: the blocks translated from the old page stay
     * cached under the same pc and satp, and must not run again (both ways: each page has run at that address) */
    PTE(l0, 6, cpa, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(72, 1)
    PTE(l0, 6, cpb, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(73, 2)
    /* the same through a direct jump from another page (a chain would skip the dispatcher's check) */
    PTE(l0, 16, cpj, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 16 * 4096)
    OK_S(74, 2)
    PTE(l0, 6, cpa, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 16 * 4096)
    OK_S(75, 1)
    PTE(l0, 6, cpb, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 16 * 4096)
    OK_S(76, 2)
    /* a page that took a store (so the TLB may let stores into it go straight to RAM) then runs code, which a
     * store through the same mapping rewrites without fence.i: the new instruction runs (exact SMC, as in smc.S) */
    PTE(l0, 20, cps, V | R | W | X | A | D)
    sfence.vma
    SRUN(s_smc, PG + 20 * 4096)
    OK_S(77, 2)
    /* the same load and the same store run three times (the third through the site's own cache of the page),
     * then the page is remapped: after sfence.vma they must reach the new page */
    SRUN(s_ld3, PG)
    OK_S(78, 0x1111111111111111)
    li a1, 0x5151
    SRUN(s_sd3, PG + 16)
    CHECK(79, s4, 9)
    PTE(l0, 0, tp2, V | R | W | A | D)
    sfence.vma
    SRUN(s_ld3, PG)
    OK_S(80, 0x3333333333333333)
    li a1, 0x5252
    SRUN(s_sd3, PG + 16)
    CHECK(81, s4, 9)
    la t0, tp0
    ld a4, 16(t0)
    CHECK(82, a4, 0x5151)
    la t0, tp2
    ld a4, 16(t0)
    CHECK(83, a4, 0x5252)
    PTE(l0, 0, tp0, V | R | W | A | D)
    sfence.vma
    /* one store instruction writes data into a page three times, the page then runs code, and the same store
     * rewrites that code: its cached page must have lost its write permission with the TLB's */
    PTE(l0, 21, cps2, V | R | W | X | A | D)
    sfence.vma
    SRUN(s_smc2, PG + 21 * 4096)
    OK_S(84, 2)
    /* sfence.vma of one address: that page's site caches go too (78-83 fence everything) */
    SRUN(s_ld3, PG)
    OK_S(88, 0x1111111111111111)
    PTE(l0, 0, tp2, V | R | W | A | D)
    li t0, PG
    sfence.vma t0
    SRUN(s_ld3, PG)
    OK_S(89, 0x3333333333333333)
    PTE(l0, 0, tp0, V | R | W | A | D)
    li t0, PG
    sfence.vma t0
    /* a 2 MiB page read through one of its 4 KiB pages, remapped, then fenced by the address of another of its
     * 4 KiB pages: the fence is for the whole superpage */
    li t0, 0x80400008
    li t1, 0x7777
    sd t1, 0(t0)
    li t0, 0x80600008
    li t1, 0x8888
    sd t1, 0(t0)
    PTEPA(l1, 1, 0x80400000, V | R | A | D)
    li t0, PG + 0x200000
    sfence.vma t0
    SRUN(s_ld3, PG + 0x200000 + 8)
    OK_S(90, 0x7777)
    PTEPA(l1, 1, 0x80600000, V | R | A | D)
    li t0, PG + 0x200000 + 5 * 4096
    sfence.vma t0
    SRUN(s_ld3, PG + 0x200000 + 8)
    OK_S(91, 0x8888)
    PTEPA(l1, 1, 0x80000000, V | R | A | D)
    sfence.vma
    /* code that ran twice at one address (the second time from the jump cache), its page remapped and fenced by
     * an address inside it: the new code runs */
    PTE(l0, 6, cpa, V | X | A)
    sfence.vma
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(92, 1)
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(93, 1)
    PTE(l0, 6, cpb, V | X | A)
    li t0, PG + 6 * 4096 + 2
    sfence.vma t0
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(94, 2)
    /* two address spaces, ASIDs 1 and 2: the same addresses, other pages */
    PTEPA(root2, 2, 0x80000000, V | R | W | X | A | D)
    PTE(root2, 1, l1b, V)
    PTE(l1b, 0, l0b, V)
    PTE(l0b, 0, tp3, V | R | W | A | D)
    PTE(l0b, 6, cpa, V | X | A)
    SATP(8, 2, root2)
    SRUN(s_ld, PG)
    OK_S(56, 0x4444444444444444)
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(57, 1)
    SATP(8, 1, root)
    SRUN(s_ld, PG)
    OK_S(58, 0x1111111111111111)
    SRUN(s_jr, PG + 6 * 4096)
    OK_S(59, 2)
    SATP(8, 2, root2)
    SRUN(s_ld, PG)
    OK_S(60, 0x4444444444444444)
    /* Sv48: root48[0] -> the Sv39 root as level 2; root48[1] a 512 GiB page at 0 */
    PTE(root48, 0, root, V)
    PTEPA(root48, 1, 0, V | R | W | A | D)
    PTEPA(root48, 2, 0x80000000, V | R | A | D)           /* misaligned 512 GiB page */
    SATP(9, 3, root48)
    SRUN(s_ld, PG + 4096)
    OK_S(61, 0x2222222222222222)
    la t0, tp3
    li t1, 0x8000000000
    add a0, t0, t1
    li a4, -1
    RESUME(1f)
    GO(PRV_S, s_ld)
1:  OK_S(62, 0x4444444444444444)
    SRUN(s_ld, 0x10000000000)
    FAULT(63, 13, 0x10000000000)
    SRUN(s_ld, 0x0000800000000000)                        /* non-canonical in Sv48 */
    FAULT(64, 13, 0x0000800000000000)
    SRUN(s_ld, 0x0000008000000000 + 0x80000000)           /* canonical in Sv48 (was not in Sv39) */
    CHECK(65, s4, 9)
    /* escapes: a root outside RAM, at a huge PPN: access faults on fetch and load */
    li t0, (8 << 60) | 0xfffffffffff
    csrw satp, t0
    SRUN(s_ld, PG)
    CHECK(66, s4, PTE_FETCH_FAULT)
    la t6, s_ld
    bne s3, t6, fail
    li t0, (9 << 60) | (0x300000000 >> 12)
    csrw satp, t0
    li t0, 1 << 17 | 1 << 11
    csrs mstatus, t0
    RESUME(1f)
    li t0, PG
    ld a4, 0(t0)
1:  li t1, (1 << 17)
    csrc mstatus, t1
    FAULT(67, PTE_LOAD_FAULT, PG)
    csrw satp, zero
    sfence.vma
    TEST_END

    .balign 4
s_ld: ld a4, 0(a0)
    ecall
s_ldw: lw a4, 0(a0)
    ecall
s_sd: sd a1, 0(a0)
    ecall
s_lr: lr.d a4, (a0)
    ecall
s_amo: amoadd.d a4, a1, (a0)
    ecall
s_jr: jr a0
s_loop: li t0, 0
    li a4, 0
1:  slli t1, t0, 3
    add t1, t1, a0
    sd t0, 64(t1)
    ld t2, 64(t1)
    add a4, a4, t2
    addi t0, t0, 1
    li t1, 100
    blt t0, t1, 1b
    ecall
s_smc: sd zero, 64(a0)                                   /* the page holds no code yet */
    jalr a0                                               /* cps: a4 = 1 */
    li t0, 0x00200713                                     /* addi a4, zero, 2 */
    sw t0, 0(a0)
    jalr a0
    ecall
s_ld3: li t0, 3
1:  ld a4, 0(a0)
    addi t0, t0, -1
    bnez t0, 1b
    ecall
s_sd3: li t0, 3
1:  sd a1, 0(a0)
    addi t0, t0, -1
    bnez t0, 1b
    ecall
s_smc2: addi t2, a0, 64
    li t3, 0
    jal s_store
    jal s_store
    jal s_store
    jalr a0                                               /* cps2: a4 = 1 */
    mv t2, a0
    li t3, 0x00200713                                     /* addi a4, zero, 2 */
    jal s_store
    jalr a0
    ecall
s_store: sw t3, 0(t2)
    ret
u_ld: ld a4, 0(a0)
    ecall
u_jr: jr a0
    HANDLERS

    .balign 4096
cpa: li a4, 1
    ecall
    .balign 4096
cpb: li a4, 2
    ecall
    .balign 4096
cpc: .skip 4094
    .2byte 0x0013                                         /* low half of nop (addi x0, x0, 0) */
    .balign 4096
cpd: .2byte 0x0000                                        /* its high half */
    li a4, 7
    ecall
    .balign 4096
cps: .4byte 0x00100713                                    /* addi a4, zero, 1 (rewritten by s_smc) */
    .4byte 0x00008067                                     /* ret */
    .balign 4096
cps2: .4byte 0x00100713                                   /* addi a4, zero, 1 (rewritten by s_smc2) */
    .4byte 0x00008067                                     /* ret */
    .balign 4096
cpj: .4byte 0x800f606f                                    /* j . - 10 pages: at PG + 16 pages, to PG + 6 pages */

    .data
    .balign 4096
root: .zero 4096
l1: .zero 4096
l0: .zero 4096
root2: .zero 4096
l1b: .zero 4096
l0b: .zero 4096
root48: .zero 4096
tp0: .dword 0x1111111111111111
    .zero 4088
tp1: .dword 0x2222222222222222
    .zero 4088
tp2: .dword 0x3333333333333333
    .zero 4088
tp3: .dword 0x4444444444444444
    .zero 4088
