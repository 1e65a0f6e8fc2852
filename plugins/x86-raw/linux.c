/*
 * x86-raw Linux boot: the x86 boot protocol's 64-bit entry for --kernel (a bzImage or an uncompressed ELF
 * vmlinux), --initrd and --append. A bzImage's payload is decompressed here on the host and its ELF's segments
 * streamed into guest RAM as they come out, so the guest never runs the kernel's own decompressor: on software
 * KVM that code runs at ring 0, emulated, and never finishes; everywhere else it costs boot time. The zero page
 * carries an e820 map that mirrors x86-raw's RAM layout, and an MP table describes the vCPUs and the IOAPIC so
 * --cpus N works without ACPI.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <inttypes.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86raw.h"

/* Where the boot structures go: inside x86-raw's boot area, clear of its tables (docs/linux-boot.md). */
#define X86_LINUX_ZERO_PAGE 0x10000ull
#define X86_LINUX_CMDLINE 0x20000ull
#define X86_LINUX_CMDLINE_MAX 0x10000ull
/* The MP table sits in the last KiB of base memory, one of the places Linux scans, reserved in the e820 map. */
#define X86_LINUX_MPTABLE 0x9fc00ull
#define X86_LINUX_EBDA_END 0xa0000ull
#define X86_LINUX_HIGH_START 0x100000ull
#define X86_IOAPIC_ADDR 0xfec00000ull
#define X86_LAPIC_ADDR 0xfee00000ull

/* A decompressed kernel larger than this is not a kernel this plugin should believe. */
#define X86_LINUX_MAX_KERNEL (1ull << 30)
/* The decompressed ELF streams through a window this big, so the host never holds the whole vmlinux. */
#define X86_LINUX_XZ_WINDOW (256u * 1024u)
/* Its ELF and program headers must come in the first bytes, to be read before any segment streams past. */
#define X86_LINUX_ELF_PREFIX (64u * 1024u)
_Static_assert(X86_LINUX_ELF_PREFIX <= X86_LINUX_XZ_WINDOW, "the headers arrive within the first window");

#define X86_SETUP_HDR_OFF 0x1f1u
#define X86_HDRS_MAGIC 0x53726448u /* "HdrS" */

static int x86_boot_fail(x86raw *x, const char *path, const char *fmt, const char *detail)
{
    x->hlp->log(x->inst, VMM_LOG_ERROR, fmt, path, detail);
    return -1;
}

static uint32_t x86_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Where an ELF kernel's loadable segments go, read from its headers and checked against the file and guest RAM. */
typedef struct x86_boot_elf {
    uint64_t entry, start, end;
    Elf64_Phdr *seg; /* PT_LOAD segments with a memory size, by file offset */
    unsigned nseg;
} x86_boot_elf;

static int x86_boot_seg_by_offset(const void *a, const void *b)
{
    const Elf64_Phdr *pa = a, *pb = b;
    return pa->p_offset < pb->p_offset ? -1 : pa->p_offset > pb->p_offset;
}

/*
 * Read an ELF vmlinux's headers from the first avail bytes of a file of size bytes, and check every segment
 * before a byte is loaded: a stream cannot go back, so nothing may be refused half way through. On failure err
 * gets the reason and elf->seg is freed.
 */
static int x86_boot_parse_elf(x86raw *x, const uint8_t *data, size_t avail, uint64_t size, x86_boot_elf *elf,
                              char *err, size_t errlen)
{
    memset(elf, 0, sizeof(*elf));
    Elf64_Ehdr eh;
    if (size < sizeof(eh) || avail < sizeof(eh)) {
        snprintf(err, errlen, "the kernel ELF header is truncated");
        return -1;
    }
    memcpy(&eh, data, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
        snprintf(err, errlen, "the kernel is not an x86-64 ELF executable");
        return -1;
    }
    uint64_t ph_bytes = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > size ||
        ph_bytes > size - eh.e_phoff) {
        snprintf(err, errlen, "the kernel's program headers are missing or truncated");
        return -1;
    }
    if (eh.e_phoff > avail || ph_bytes > avail - eh.e_phoff) {
        snprintf(err, errlen, "the kernel's program headers end past the first %u KiB of the decompressed ELF, "
                 "where x86-raw's streaming loader needs them", X86_LINUX_ELF_PREFIX / 1024);
        return -1;
    }
    elf->seg = malloc(ph_bytes);
    if (!elf->seg) {
        snprintf(err, errlen, "out of memory for the kernel's program headers");
        return -1;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD && ph.p_memsz != 0)
            elf->seg[elf->nseg++] = ph;
    }
    if (!elf->nseg) {
        snprintf(err, errlen, "the kernel has no loadable segment");
        goto fail;
    }
    qsort(elf->seg, elf->nseg, sizeof(*elf->seg), x86_boot_seg_by_offset);
    uint64_t lo = UINT64_MAX, hi = 0;
    int entry_ok = 0;
    for (unsigned i = 0; i < elf->nseg; i++) {
        const Elf64_Phdr *ph = &elf->seg[i];
        if (ph->p_filesz > ph->p_memsz || ph->p_offset > size || ph->p_filesz > size - ph->p_offset) {
            snprintf(err, errlen, "a kernel segment lies outside the file (truncated?)");
            goto fail;
        }
        /* Below 0xa0000 live the boot area, the zero page, the command line and the MP table. */
        if (ph->p_paddr < X86_LINUX_EBDA_END || ph->p_paddr + ph->p_memsz < ph->p_paddr) {
            snprintf(err, errlen, "a kernel segment is below 640 KiB (x86-raw's boot structures) or wraps around");
            goto fail;
        }
        if (!x->hlp->mem_ptr(x->inst, ph->p_paddr, ph->p_memsz, 0)) {
            snprintf(err, errlen, "the kernel segment at 0x%" PRIx64 "-0x%" PRIx64 " does not fit in guest RAM (%"
                     PRIu64 " MiB); give more with --mem", (uint64_t)ph->p_paddr,
                     (uint64_t)(ph->p_paddr + ph->p_memsz), x->hlp->mem_ram_size(x->inst) >> 20);
            goto fail;
        }
        /* Each file byte is copied once as it streams past, and a later segment's bss must not clear an
         * earlier one's contents: shared bytes either way would make the result depend on the order. */
        for (unsigned j = 0; j < i; j++) {
            const Elf64_Phdr *q = &elf->seg[j];
            if (q->p_filesz && ph->p_filesz && ph->p_offset < q->p_offset + q->p_filesz) {
                snprintf(err, errlen, "kernel segments overlap in the file (at offset 0x%" PRIx64 ")",
                         (uint64_t)ph->p_offset);
                goto fail;
            }
            if (ph->p_paddr < q->p_paddr + q->p_memsz && q->p_paddr < ph->p_paddr + ph->p_memsz) {
                snprintf(err, errlen, "kernel segments overlap in memory (at 0x%" PRIx64 ")",
                         (uint64_t)(ph->p_paddr > q->p_paddr ? ph->p_paddr : q->p_paddr));
                goto fail;
            }
        }
        if (ph->p_paddr + ph->p_memsz > hi)
            hi = ph->p_paddr + ph->p_memsz;
        if (ph->p_paddr < lo)
            lo = ph->p_paddr;
        /* vmlinux's e_entry is the physical address of startup_64. */
        if (eh.e_entry >= ph->p_paddr && eh.e_entry - ph->p_paddr < ph->p_memsz)
            entry_ok = 1;
    }
    if (!entry_ok) {
        snprintf(err, errlen, "the kernel's entry point is outside its loaded segments");
        goto fail;
    }
    elf->entry = eh.e_entry;
    elf->start = lo;
    elf->end = hi;
    return 0;
fail:
    free(elf->seg);
    elf->seg = NULL;
    return -1;
}

/* The bytes at file offset pos..pos+len go to the segments they belong to; the rest (headers, padding, section
 * tables) are dropped. */
static void x86_boot_copy_segments(x86raw *x, const x86_boot_elf *elf, uint64_t pos, const uint8_t *buf,
                                   size_t len)
{
    for (unsigned i = 0; i < elf->nseg; i++) {
        const Elf64_Phdr *ph = &elf->seg[i];
        if (ph->p_offset >= pos + len)
            break; /* sorted: every later segment starts later still */
        uint64_t from = ph->p_offset > pos ? ph->p_offset : pos;
        uint64_t to = ph->p_offset + ph->p_filesz < pos + len ? ph->p_offset + ph->p_filesz : pos + len;
        if (from >= to)
            continue;
        /* Checked for the whole segment by x86_boot_parse_elf, so this cannot fail. */
        uint8_t *dst = x->hlp->mem_ptr(x->inst, ph->p_paddr + (from - ph->p_offset), to - from, 1);
        if (dst)
            memcpy(dst, buf + (from - pos), to - from);
    }
}

/* The bss, past each segment's file bytes, reads as zero whatever RAM held before. */
static void x86_boot_zero_bss(x86raw *x, const x86_boot_elf *elf)
{
    for (unsigned i = 0; i < elf->nseg; i++) {
        const Elf64_Phdr *ph = &elf->seg[i];
        if (ph->p_memsz == ph->p_filesz)
            continue;
        uint8_t *dst = x->hlp->mem_ptr(x->inst, ph->p_paddr + ph->p_filesz, ph->p_memsz - ph->p_filesz, 1);
        if (dst)
            memset(dst, 0, ph->p_memsz - ph->p_filesz);
    }
}

/* A vmlinux read whole: its segments are copied straight from the file. */
static int x86_boot_load_vmlinux(x86raw *x, const char *path, const uint8_t *data, size_t size, x86_boot_elf *elf)
{
    char err[256];
    if (x86_boot_parse_elf(x, data, size, size, elf, err, sizeof(err)))
        return x86_boot_fail(x, path, "%s: %s", err);
    x86_boot_copy_segments(x, elf, 0, data, size);
    x86_boot_zero_bss(x, elf);
    return 0;
}

static const char *x86_boot_xz_error(lzma_ret r)
{
    return r == LZMA_DATA_ERROR ? "corrupt xz data" : r == LZMA_BUF_ERROR ? "the xz data is truncated"
                                                                          : "the xz stream is damaged";
}

/* Fill the window from the decoder: it comes back full, or short with the stream's end or an error. */
static lzma_ret x86_boot_xz_fill(lzma_stream *s, uint8_t *win, size_t *got)
{
    s->next_out = win;
    s->avail_out = X86_LINUX_XZ_WINDOW;
    /* liblzma reports a stream cut short as LZMA_BUF_ERROR only on a call that can make no progress. */
    lzma_ret r = LZMA_OK;
    while (r == LZMA_OK && s->avail_out)
        r = lzma_code(s, LZMA_FINISH);
    *got = X86_LINUX_XZ_WINDOW - s->avail_out;
    return r;
}

/*
 * Decompress a bzImage's payload and load its ELF as it streams out, one window at a time: the host holds
 * liblzma's dictionary and one window, never the whole vmlinux. Only xz is understood: it is what Debian's
 * kernels use (payload magic fd 37 7a 58 5a 00); other compressors are named in the error so the user knows what
 * is missing.
 */
static int x86_boot_load_payload(x86raw *x, const char *path, const uint8_t *in, size_t inlen, x86_boot_elf *elf)
{
    static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    const char *other = NULL;
    if (inlen >= 2 && in[0] == 0x1f && (in[1] == 0x8b || in[1] == 0x9e))
        other = "gzip";
    else if (inlen >= 3 && memcmp(in, "BZh", 3) == 0)
        other = "bzip2";
    else if (inlen >= 4 && x86_le32(in) == 0xfd2fb528u)
        other = "zstd";
    else if (inlen >= 4 && memcmp(in, "\x89LZO", 4) == 0)
        other = "lzo";
    else if (inlen >= 4 && x86_le32(in) == 0x184c2102u)
        other = "lz4";
    else if (inlen >= 3 && in[0] == 0x5d && in[1] == 0 && in[2] == 0)
        other = "lzma";
    if (other)
        return x86_boot_fail(x, path, "%s: the kernel payload is %s-compressed; x86-raw decompresses xz payloads only "
                             "(Debian's); give an uncompressed vmlinux instead", other);
    if (inlen < sizeof(xz_magic) + 4 || memcmp(in, xz_magic, sizeof(xz_magic)) != 0)
        return x86_boot_fail(x, path, "%s: the kernel payload is not in a known compressed format (%s)",
                             "no xz, gzip, zstd, bzip2, lzma, lzo or lz4 magic");
    /* The kernel build appends the decompressed size as 4 little-endian bytes after the xz stream. */
    uint64_t want = x86_le32(in + inlen - 4);
    if (want < sizeof(Elf64_Ehdr) || want > X86_LINUX_MAX_KERNEL)
        return x86_boot_fail(x, path, "%s: the kernel payload's trailer gives an implausible size (%s)",
                             "not between 64 bytes and 1 GiB");
    memset(elf, 0, sizeof(*elf));
    uint8_t *win = malloc(X86_LINUX_XZ_WINDOW);
    if (!win)
        return x86_boot_fail(x, path, "%s: %s", "out of memory for the decompression window");
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) {
        free(win);
        return x86_boot_fail(x, path, "%s: %s", "liblzma would not start a decoder");
    }
    s.next_in = in;
    s.avail_in = inlen - 4;
    char err[256] = "";
    const char *why = NULL;
    uint64_t pos = 0;
    size_t got;
    lzma_ret r;
    do {
        r = x86_boot_xz_fill(&s, win, &got);
        if (r != LZMA_OK && r != LZMA_STREAM_END) {
            why = x86_boot_xz_error(r);
            break;
        }
        if (got > want - pos) {
            why = "the decompressed kernel is larger than the trailer says";
            break;
        }
        /* A short first window is the whole kernel; one that the trailer says is not is reported below. */
        if (pos == 0 && (r == LZMA_OK || got == want) &&
            x86_boot_parse_elf(x, win, got < X86_LINUX_ELF_PREFIX ? got : X86_LINUX_ELF_PREFIX, want, elf, err,
                               sizeof(err)))
            break;
        x86_boot_copy_segments(x, elf, pos, win, got);
        pos += got;
    } while (r == LZMA_OK);
    if (!why && !err[0] && r == LZMA_STREAM_END && pos != want)
        why = "the decompressed size differs from the trailer";
    if (err[0]) {
        /* Damaged xz data decodes to garbage before the decoder notices: if the rest of the stream does not
         * check out, that is the reason to give rather than whatever the garbage looked like. */
        while (r == LZMA_OK)
            r = x86_boot_xz_fill(&s, win, &got);
        if (r != LZMA_STREAM_END)
            why = x86_boot_xz_error(r);
    }
    lzma_end(&s);
    free(win);
    if (why) {
        free(elf->seg);
        elf->seg = NULL;
        return x86_boot_fail(x, path, "%s: cannot decompress the kernel payload: %s", why);
    }
    if (err[0])
        return x86_boot_fail(x, path, "%s: %s", err);
    x86_boot_zero_bss(x, elf);
    return 0;
}

/* The e820 map: x86-raw's RAM regions, less the MP table's KiB at the top of base memory and, where syscall is
 * relegated, the three page-table pages of the syscall trap mapping below it (syscall.c). */
static unsigned x86_boot_e820(x86raw *x, struct boot_params *bp)
{
    uint64_t ram = x->hlp->mem_ram_size(x->inst);
    uint64_t low = ram < X86_LOW_RAM_MAX ? ram : X86_LOW_RAM_MAX;
    uint64_t reserved = x->syscall_relegation ? X86_SYSCALL_PT_LINUX : X86_LINUX_MPTABLE;
    _Static_assert(X86_SYSCALL_PT_LINUX + X86_SYSCALL_PT_PAGES * 0x1000ull <= X86_LINUX_MPTABLE,
                   "the syscall page tables end below the MP table");
    unsigned n = 0;
    bp->e820_table[n++] = (struct boot_e820_entry){.addr = 0, .size = reserved, .type = 1};
    bp->e820_table[n++] = (struct boot_e820_entry){.addr = reserved, .size = X86_LINUX_EBDA_END - reserved,
                                                   .type = 2};
    if (low > X86_LINUX_HIGH_START)
        bp->e820_table[n++] = (struct boot_e820_entry){.addr = X86_LINUX_HIGH_START,
                                                       .size = low - X86_LINUX_HIGH_START, .type = 1};
    if (ram > low)
        bp->e820_table[n++] = (struct boot_e820_entry){.addr = X86_HIGH_RAM_BASE, .size = ram - low, .type = 1};
    bp->e820_entries = (uint8_t)n;
    return n;
}

int x86_boot_linux_finish(x86raw *x)
{
    if (!x->linux_zero_page)
        return 0;
    struct boot_params *bp = x->hlp->mem_ptr(x->inst, x->linux_zero_page, sizeof(*bp), 1);
    if (!bp)
        return -1;
    memset(bp->e820_table, 0, sizeof(bp->e820_table));
    x86_boot_e820(x, bp);
    return 0;
}

static uint8_t x86_mp_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0 - sum);
}

/*
 * MP specification 1.4 tables: one processor entry per vCPU (APIC ID = index, as CPUID says), an ISA bus, the
 * in-kernel IOAPIC with ISA IRQs 0-15 wired to its pins 0-15 (KVM's default routing), LINT0 ExtINT and LINT1 NMI.
 */
int x86_boot_mptable(x86raw *x, unsigned ncpus)
{
    uint8_t *base = x->hlp->mem_ptr(x->inst, X86_LINUX_MPTABLE, X86_LINUX_EBDA_END - X86_LINUX_MPTABLE, 1);
    size_t need = 16 + 44 + 20 * (size_t)ncpus + 8 + 8 + 8 * 16 + 8 * 2;
    if (!base) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "guest RAM is too small for the MP table at 0x%llx", X86_LINUX_MPTABLE);
        return -1;
    }
    if (need > X86_LINUX_EBDA_END - X86_LINUX_MPTABLE) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "--cpus %u: too many vCPUs for the MP table", ncpus);
        return -1;
    }
    memset(base, 0, X86_LINUX_EBDA_END - X86_LINUX_MPTABLE);
    uint8_t *fp = base, *cfg = base + 16, *p = cfg + 44;
    uint8_t ioapic_id = (uint8_t)ncpus;
    uint16_t entries = 0;
    for (unsigned i = 0; i < ncpus; i++, p += 20, entries++) {
        p[0] = 0;            /* processor */
        p[1] = (uint8_t)i;   /* local APIC ID */
        p[2] = 0x14;         /* local APIC version */
        p[3] = 1 | (i == 0 ? 2 : 0); /* enabled, BSP */
        uint32_t sig = 0x600, features = 0x201; /* family 6; FPU, APIC */
        memcpy(p + 4, &sig, 4);
        memcpy(p + 8, &features, 4);
    }
    p[0] = 1; /* bus 0: ISA */
    memcpy(p + 2, "ISA   ", 6);
    p += 8, entries++;
    p[0] = 2; /* IOAPIC */
    p[1] = ioapic_id;
    p[2] = 0x11;
    p[3] = 1;
    uint32_t ioapic = (uint32_t)X86_IOAPIC_ADDR;
    memcpy(p + 4, &ioapic, 4);
    p += 8, entries++;
    for (unsigned irq = 0; irq < 16; irq++, p += 8, entries++) {
        p[0] = 3; /* I/O interrupt: INT, conforming polarity and trigger */
        p[1] = 0;
        p[4] = 0; /* source bus */
        p[5] = (uint8_t)irq;
        p[6] = ioapic_id;
        p[7] = (uint8_t)irq;
    }
    for (unsigned lint = 0; lint < 2; lint++, p += 8, entries++) {
        p[0] = 4;                    /* local interrupt */
        p[1] = lint == 0 ? 3 : 1;    /* ExtINT, NMI */
        p[4] = 0;
        p[5] = 0;
        p[6] = 0xff;                 /* every local APIC */
        p[7] = (uint8_t)lint;
    }
    uint16_t cfg_len = (uint16_t)(p - cfg);
    memcpy(cfg, "PCMP", 4);
    memcpy(cfg + 4, &cfg_len, 2);
    cfg[6] = 4; /* spec 1.4 */
    memcpy(cfg + 8, "VMM     ", 8);
    memcpy(cfg + 16, "X86-RAW     ", 12);
    memcpy(cfg + 34, &entries, 2);
    uint32_t lapic = (uint32_t)X86_LAPIC_ADDR;
    memcpy(cfg + 36, &lapic, 4);
    cfg[7] = x86_mp_checksum(cfg, cfg_len);

    memcpy(fp, "_MP_", 4);
    uint32_t cfg_addr = (uint32_t)(X86_LINUX_MPTABLE + 16);
    memcpy(fp + 4, &cfg_addr, 4);
    fp[8] = 1; /* length in 16-byte units */
    fp[9] = 4;
    fp[10] = x86_mp_checksum(fp, 16);
    return 0;
}

/* "HdrS" at 0x202 and the protocol version after it, which x86_boot_linux reads next: a file cut right after
 * the magic must not be read past its end (tests/fuzz/corpus/x86-linux/crash-bzimage-cut-after-magic). */
static int x86_boot_is_bzimage(const vmm_image *k)
{
    return k->size >= 0x206 + 2 && x86_le32(k->data + 0x202) == X86_HDRS_MAGIC;
}

int x86_boot_linux(x86raw *x, const vmm_image *kernel, const vmm_image *initrd)
{
    const char *path = kernel->path;
    struct boot_params bp;
    memset(&bp, 0, sizeof(bp));
    x86_boot_elf elf;
    uint64_t initrd_max = 0x7fffffffull, init_size = 0;
    uint32_t cmdline_max = 2047;

    if (x86_boot_is_bzimage(kernel)) {
        const uint8_t *k = kernel->data;
        uint16_t version;
        memcpy(&version, k + 0x206, 2);
        /* Protocol 2.08 brought payload_offset/length, 2.12 xloadflags (XLF_KERNEL_64: the 64-bit entry). */
        if (version < 0x20c)
            return x86_boot_fail(x, path, "%s: %s", "boot protocol older than 2.12 (no 64-bit entry)");
        size_t hdr_end = 0x202u + k[0x201];
        if (hdr_end > kernel->size)
            return x86_boot_fail(x, path, "%s: %s", "the setup header is truncated");
        /* A newer kernel's header may be longer than the one this was built with: its extra fields stay unset. */
        size_t hdr_len = hdr_end - X86_SETUP_HDR_OFF;
        memcpy(&bp.hdr, k + X86_SETUP_HDR_OFF, hdr_len < sizeof(bp.hdr) ? hdr_len : sizeof(bp.hdr));
        if (bp.hdr.boot_flag != 0xaa55)
            return x86_boot_fail(x, path, "%s: %s", "the setup header's boot flag is not 0xaa55");
        if (!(bp.hdr.xloadflags & XLF_KERNEL_64))
            return x86_boot_fail(x, path, "%s: %s", "not a 64-bit kernel (XLF_KERNEL_64 is clear)");
        unsigned setup_sects = bp.hdr.setup_sects ? bp.hdr.setup_sects : 4;
        uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
        uint64_t off = pm_start + bp.hdr.payload_offset, len = bp.hdr.payload_length;
        if (pm_start > kernel->size || off > kernel->size || len > kernel->size - off || len == 0)
            return x86_boot_fail(x, path, "%s: %s", "the compressed payload lies outside the file (truncated?)");
        /* syssize counts 16-byte units, rounded up. */
        if (bp.hdr.syssize && pm_start + (uint64_t)bp.hdr.syssize * 16 > kernel->size + 15)
            return x86_boot_fail(x, path, "%s: %s", "the file is shorter than the setup header's syssize (truncated)");
        if (x86_boot_load_payload(x, path, k + off, len, &elf))
            return -1;
        initrd_max = bp.hdr.initrd_addr_max;
        init_size = bp.hdr.init_size;
        cmdline_max = bp.hdr.cmdline_size;
    } else if (kernel->size >= SELFMAG && memcmp(kernel->data, ELFMAG, SELFMAG) == 0) {
        bp.hdr.boot_flag = 0xaa55;
        bp.hdr.header = X86_HDRS_MAGIC;
        bp.hdr.version = 0x20f;
        bp.hdr.kernel_alignment = 0x200000;
        bp.hdr.cmdline_size = cmdline_max;
        bp.hdr.initrd_addr_max = (uint32_t)initrd_max;
        if (x86_boot_load_vmlinux(x, path, kernel->data, kernel->size, &elf))
            return -1;
    } else {
        return x86_boot_fail(x, path, "%s: %s", "neither a bzImage (no \"HdrS\" setup header) nor an ELF vmlinux");
    }

    free(elf.seg);
    uint64_t entry = elf.entry, start = elf.start, end = elf.end;
    /* The kernel's early allocations (brk, page tables) run past its image, up to init_size from its start. */
    if (init_size && start + init_size > end)
        end = start + init_size;

    bp.hdr.type_of_loader = 0xff;
    bp.hdr.loadflags |= LOADED_HIGH;

    /* The user's line and how the kernel finds the virtio-mmio devices (devices.c). */
    char *cmdline = malloc(X86_LINUX_CMDLINE_MAX);
    if (!cmdline)
        return x86_boot_fail(x, path, "%s: %s", "out of memory");
    int too_long = x86_devices_cmdline(x, x->hlp->vm_cmdline(x->inst), cmdline, X86_LINUX_CMDLINE_MAX);
    size_t cmdlen = strlen(cmdline);
    if (too_long || cmdlen > cmdline_max) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "--append: the command line%s is %s%zu bytes; this kernel takes at most %u",
                    strcmp(cmdline, x->hlp->vm_cmdline(x->inst)) ? " with the virtio_mmio.device= parameters" : "",
                    too_long ? "more than " : "", cmdlen, cmdline_max);
        free(cmdline);
        return -1;
    }
    x->hlp->log(x->inst, VMM_LOG_DEBUG, "kernel command line: %s", cmdline);
    int wrote = x->hlp->mem_write(x->inst, X86_LINUX_CMDLINE, cmdline, cmdlen + 1);
    free(cmdline);
    if (wrote)
        return -1;
    bp.hdr.cmd_line_ptr = (uint32_t)X86_LINUX_CMDLINE;

    uint64_t ram = x->hlp->mem_ram_size(x->inst);
    uint64_t low = ram < X86_LOW_RAM_MAX ? ram : X86_LOW_RAM_MAX;
    if (initrd) {
        /* As high as allowed, page aligned, below initrd_addr_max and the end of low RAM, above the kernel and
         * above 1 MiB: 640 KiB-1 MiB is not RAM in the e820 map, so an initrd there (a small --mem, a kernel linked
         * low) would be lost to the kernel (tests/fuzz/corpus/x86-linux/crash-initrd-in-legacy-hole). */
        uint64_t top = low < initrd_max + 1 ? low : initrd_max + 1;
        uint64_t lowest = end > X86_LINUX_HIGH_START ? end : X86_LINUX_HIGH_START;
        if (initrd->size == 0)
            return x86_boot_fail(x, initrd->path, "%s: %s", "the initrd is empty");
        if (initrd->size > top || ((top - initrd->size) & ~0xfffull) < lowest) {
            x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: the initrd (%zu bytes) does not fit between the kernel's end "
                        "(0x%" PRIx64 ", at least 1 MiB) and 0x%" PRIx64 "; give more memory with --mem",
                        initrd->path, initrd->size, lowest, top);
            return -1;
        }
        uint64_t at = (top - initrd->size) & ~0xfffull;
        void *dst = x->hlp->mem_ptr(x->inst, at, initrd->size, 1);
        if (!dst)
            return x86_boot_fail(x, initrd->path, "%s: %s", "the initrd's place is not guest RAM");
        memcpy(dst, initrd->data, initrd->size);
        bp.hdr.ramdisk_image = (uint32_t)at;
        bp.hdr.ramdisk_size = (uint32_t)initrd->size;
        bp.ext_ramdisk_image = (uint32_t)(at >> 32);
        bp.ext_ramdisk_size = (uint32_t)((uint64_t)initrd->size >> 32);
    } else if (end > low) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: the kernel needs RAM up to 0x%" PRIx64 "; give more with --mem",
                    path, end);
        return -1;
    }
    if (end > low)
        return x86_boot_fail(x, path, "%s: %s", "the kernel's working area runs past low RAM; give more with --mem");

    x86_boot_e820(x, &bp);
    if (x->hlp->mem_write(x->inst, X86_LINUX_ZERO_PAGE, &bp, sizeof(bp)))
        return -1;
    if (x86_boot_mptable(x, x->hlp->vcpu_count(x->inst)))
        return -1;
    x->boot_mode = X86_BOOT_LONG;
    x->entry = entry;
    x->linux_zero_page = X86_LINUX_ZERO_PAGE;
    return x86_build_long_mode_tables(x);
}
