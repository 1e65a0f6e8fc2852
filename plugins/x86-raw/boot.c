/*
 * x86-raw start state: loading flat binaries and ELF64 images, and the long-mode environment (GDT, TSS, IDT
 * with reporting handlers, identity page tables) described in docs/x86-raw.md.
 */
#include <elf.h>
#include <inttypes.h>
#include <string.h>

#include "x86raw.h"

static int x86_overlaps_boot_area(uint64_t addr, uint64_t size)
{
    return size && addr < X86_BOOT_AREA_END;
}

/* Copy len bytes to gpa after checking the range; names the image on failure. */
static int x86_place(x86raw *x, const char *path, uint64_t gpa, const void *data, uint64_t filesz, uint64_t memsz)
{
    if (memsz == 0)
        return 0;
    uint8_t *dst = gpa + memsz >= gpa ? x->hlp->mem_ptr(x->inst, gpa, memsz, 1) : NULL;
    if (!dst) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: 0x%" PRIx64 " bytes at 0x%" PRIx64 " do not fit in guest RAM (%" PRIu64
                    " MiB)", path, memsz, gpa, x->hlp->mem_ram_size(x->inst) >> 20);
        return -1;
    }
    memcpy(dst, data, filesz);
    memset(dst + filesz, 0, memsz - filesz);
    return 0;
}

static int x86_is_elf(const vmm_image *img)
{
    return img->size >= SELFMAG && memcmp(img->data, ELFMAG, SELFMAG) == 0;
}

static int x86_load_elf(x86raw *x, const vmm_image *img, uint64_t *entry)
{
    const char *path = img->path;
    Elf64_Ehdr eh;
    if (img->size < sizeof(eh)) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: truncated ELF header (%zu bytes)", path, img->size);
        return -1;
    }
    memcpy(&eh, img->data, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: not a little-endian 64-bit ELF (x86-raw runs ELF64 images)", path);
        return -1;
    }
    if (eh.e_machine != EM_X86_64) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: ELF machine %u is not x86-64", path, eh.e_machine);
        return -1;
    }
    if (eh.e_type != ET_EXEC) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: ELF type %u is not an executable (link it with a fixed address)",
                    path, eh.e_type);
        return -1;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > img->size ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > img->size - eh.e_phoff) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: program headers are missing or outside the file", path);
        return -1;
    }
    int loaded = 0, entry_inside = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img->data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > img->size || ph.p_filesz > img->size - ph.p_offset) {
            x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: segment %u lies outside the file or is larger on disk than in memory",
                        path, i);
            return -1;
        }
        if (x86_overlaps_boot_area(ph.p_paddr, ph.p_memsz)) {
            x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: segment %u at 0x%" PRIx64 " overlaps x86-raw's boot area "
                        "(below 0x%llx); link the guest at 0x100000 or above", path, i, (uint64_t)ph.p_paddr,
                        X86_BOOT_AREA_END);
            return -1;
        }
        if (x86_place(x, path, ph.p_paddr, img->data + ph.p_offset, ph.p_filesz, ph.p_memsz))
            return -1;
        if (eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz)
            entry_inside = 1;
        loaded++;
    }
    if (!loaded) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: no loadable segment", path);
        return -1;
    }
    if (!entry_inside) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: entry point 0x%" PRIx64 " is outside every loaded segment", path,
                    (uint64_t)eh.e_entry);
        return -1;
    }
    *entry = eh.e_entry;
    return 0;
}

int x86_load_images(x86raw *x, const vmm_image *images, unsigned nimages)
{
    if (nimages == 0) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "no image to run (give one with --image FILE[@ADDR])");
        return -1;
    }
    const vmm_image *kernel = NULL, *initrd = NULL;
    for (unsigned i = 0; i < nimages; i++) {
        if (images[i].role == VMM_IMAGE_KERNEL)
            kernel = &images[i];
        else if (images[i].role == VMM_IMAGE_INITRD)
            initrd = &images[i];
    }
    if (initrd && !kernel) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: --initrd needs --kernel", initrd->path);
        return -1;
    }
    if (kernel) {
        if (nimages != (initrd ? 2u : 1u)) {
            x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: --kernel cannot be combined with --image", kernel->path);
            return -1;
        }
        return x86_boot_linux(x, kernel, initrd);
    }
    int have_elf = 0;
    for (unsigned i = 0; i < nimages; i++)
        if (!images[i].has_load_addr && x86_is_elf(&images[i]))
            have_elf = 1;
    x->boot_mode = X86_BOOT_NONE;
    for (unsigned i = 0; i < nimages; i++) {
        const vmm_image *img = &images[i];
        if (!img->has_load_addr && x86_is_elf(img)) {
            uint64_t entry;
            if (x86_load_elf(x, img, &entry))
                return -1;
            if (x->boot_mode != X86_BOOT_LONG) {
                x->boot_mode = X86_BOOT_LONG;
                x->entry = entry;
            }
            continue;
        }
        uint64_t addr = img->has_load_addr ? img->load_addr : X86_FLAT_DEFAULT_ADDR;
        if (have_elf && x86_overlaps_boot_area(addr, img->size)) {
            x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: load address 0x%" PRIx64 " overlaps x86-raw's boot area "
                        "(below 0x%llx) used by the long-mode start", img->path, addr, X86_BOOT_AREA_END);
            return -1;
        }
        if (x86_place(x, img->path, addr, img->data, img->size, img->size))
            return -1;
        if (!have_elf && x->boot_mode == X86_BOOT_NONE) {
            if (addr >= 0x100000 || (addr & 0xf) || img->size == 0) {
                x->hlp->log(x->inst, VMM_LOG_ERROR, "%s: a real-mode image must be non-empty and load below 1 MiB at "
                            "a 16-byte aligned address (got 0x%" PRIx64 ")", img->path, addr);
                return -1;
            }
            x->boot_mode = X86_BOOT_REAL;
            x->entry = addr;
        }
    }
    return x->boot_mode == X86_BOOT_LONG ? x86_build_long_mode_tables(x) : 0;
}

int x86_build_long_mode_tables(x86raw *x)
{
    uint8_t *boot = x->hlp->mem_ptr(x->inst, 0, X86_BOOT_AREA_END, 1);
    if (!boot) {
        x->hlp->log(x->inst, VMM_LOG_ERROR, "guest RAM is too small for the long-mode boot area");
        return -1;
    }
    uint64_t gdt[7] = {
        0,
        0x00af9a000000ffffull, /* 0x08 code64, DPL 0 */
        0x00cf92000000ffffull, /* 0x10 data, DPL 0 */
        0x00affa000000ffffull, /* 0x18 code64, DPL 3 */
        0x00cff2000000ffffull, /* 0x20 data, DPL 3 */
    };
    x86kvm_tss_descriptor(X86_TSS_ADDR, X86_TSS_LIMIT, &gdt[5]); /* 0x28 */
    memcpy(boot + X86_GDT_ADDR, gdt, sizeof(gdt));

    /* An all-zero I/O bitmap lets ring 3 use every port: software KVM ignores IOPL for ring-3 port access and
     * only honours the bitmap, and test guests drop to ring 3 and still talk to the UART. */
    uint8_t *tss = boot + X86_TSS_ADDR;
    memset(tss, 0, X86_TSS_LIMIT + 1);
    uint64_t rsp0 = X86_STACK_TOP;
    memcpy(tss + 4, &rsp0, sizeof(rsp0));
    uint16_t iomap = X86_TSS_IOMAP_OFFSET;
    memcpy(tss + 102, &iomap, sizeof(iomap));
    tss[X86_TSS_LIMIT] = 0xff;

    /* Default handlers: mov edx, PORT; mov eax, vector; out dx, eax; hlt; jmp back to hlt. */
    for (unsigned v = 0; v < 256; v++) {
        uint8_t *stub = boot + X86_STUBS_ADDR + 16 * v;
        uint32_t port = X86_REPORT_PORT, vec = v;
        stub[0] = 0xba;
        memcpy(stub + 1, &port, 4);
        stub[5] = 0xb8;
        memcpy(stub + 6, &vec, 4);
        stub[10] = 0xef;
        stub[11] = 0xf4;
        stub[12] = 0xeb;
        stub[13] = 0xfd;
        stub[14] = stub[15] = 0x90;

        x86kvm_idt_gate(boot + X86_IDT_ADDR + 16 * v, X86_STUBS_ADDR + 16 * v, X86_SEL_CODE64, 0);
    }

    /* Identity map of 4 GiB with 2 MiB pages: present, writable, user, large. */
    uint64_t pml4e = X86_PDPT_ADDR | 0x7;
    memcpy(boot + X86_PML4_ADDR, &pml4e, 8);
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t pdpte = (X86_PD_ADDR + i * 0x1000) | 0x7;
        memcpy(boot + X86_PDPT_ADDR + i * 8, &pdpte, 8);
        for (uint64_t j = 0; j < 512; j++) {
            uint64_t pde = ((i << 30) | (j << 21)) | 0x87;
            memcpy(boot + X86_PD_ADDR + i * 0x1000 + j * 8, &pde, 8);
        }
    }
    return 0;
}

void x86_set_long_mode_sregs(struct kvm_sregs *s)
{
    static const x86kvm_long_mode lm = {
        .code_sel = X86_SEL_CODE64, .data_sel = X86_SEL_DATA, .tss_sel = X86_SEL_TSS,
        .gdt = X86_GDT_ADDR, .idt = X86_IDT_ADDR, .tss = X86_TSS_ADDR, .cr3 = X86_PML4_ADDR,
        .gdt_limit = 7 * 8 - 1, .idt_limit = 256 * 16 - 1, .tss_limit = X86_TSS_LIMIT,
    };
    x86kvm_long_mode_sregs(s, &lm);
}

void x86_set_real_mode_sregs(struct kvm_sregs *s, uint64_t addr)
{
    struct kvm_segment seg = {.base = addr, .limit = 0xffff, .selector = (uint16_t)(addr >> 4), .type = 0x3,
                              .present = 1, .s = 1};
    s->ds = s->es = s->fs = s->gs = s->ss = seg;
    seg.type = 0xb;
    s->cs = seg;
}
