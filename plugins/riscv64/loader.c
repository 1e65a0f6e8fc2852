/* loader: riscv64's program loading (see loader.h). */
#include "loader.h"

#include <elf.h>
#include <inttypes.h>
#include <string.h>

#include "rv_runtime.h"

typedef struct loader {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    int checking; /* vm_check: RAM does not exist yet */
    loader_program *out;
} loader;

static int loader_ram_has(const loader *m, uint64_t addr, uint64_t len)
{
    uint64_t ram = m->hlp->mem_ram_size(m->inst);
    return len && addr >= RV_RAM_BASE && addr - RV_RAM_BASE <= ram && len <= ram - (addr - RV_RAM_BASE);
}

/* The option that gave an image, for messages. */
static const char *loader_image_option(const vmm_image *img)
{
    return img->role == VMM_IMAGE_KERNEL ? "--kernel" : "--image";
}

/* What vm_check refuses up front rather than letting the guest find: program headers of another size (read as
 * Elf64_Phdr they would be garbage), PT_LOAD segments that overlap (the later would silently win), and an entry
 * point that no loaded segment holds (the hart's first fetch would fault). */
static int loader_check_elf_layout(loader *m, const vmm_image *img, const Elf64_Ehdr *eh)
{
    const uint8_t *d = img->data;
    const char *opt = loader_image_option(img);
    if (eh->e_phnum && eh->e_phentsize != sizeof(Elf64_Phdr)) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: program headers of %u bytes (e_phentsize), not the %zu of ELF64",
                    opt, img->path, eh->e_phentsize, sizeof(Elf64_Phdr));
        return -1;
    }
    int entry_loaded = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr a;
        memcpy(&a, d + eh->e_phoff + i * sizeof(a), sizeof(a));
        if (a.p_type != PT_LOAD || a.p_memsz == 0)
            continue;
        uint64_t a0 = a.p_paddr ? a.p_paddr : a.p_vaddr;
        /* Segments that wrap around are not inside RAM: loader_load_elf reports them. */
        if (a.p_memsz > UINT64_MAX - a0)
            continue;
        if (eh->e_entry >= a0 && eh->e_entry - a0 < a.p_memsz)
            entry_loaded = 1;
        for (unsigned j = i + 1; j < eh->e_phnum; j++) {
            Elf64_Phdr b;
            memcpy(&b, d + eh->e_phoff + j * sizeof(b), sizeof(b));
            uint64_t b0 = b.p_paddr ? b.p_paddr : b.p_vaddr;
            if (b.p_type != PT_LOAD || b.p_memsz == 0 || b.p_memsz > UINT64_MAX - b0)
                continue;
            if (a0 < b0 + b.p_memsz && b0 < a0 + a.p_memsz) {
                m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: segments %u (0x%" PRIx64 "-0x%" PRIx64 ") and %u (0x%"
                            PRIx64 "-0x%" PRIx64 ") overlap", opt, img->path, i, a0, a0 + a.p_memsz - 1, j, b0,
                            b0 + b.p_memsz - 1);
                return -1;
            }
        }
    }
    if (!entry_loaded) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: the entry point 0x%" PRIx64 " is in no loaded segment%s", opt,
                    img->path, (uint64_t)eh->e_entry, loader_ram_has(m, eh->e_entry, 2) ? "" : " (nor in RAM)");
        return -1;
    }
    return 0;
}

/* ELF64 RISC-V executable: PT_LOAD segments into RAM, the entry point, and the HTIF symbols if present. */
static int loader_load_elf(loader *m, const vmm_image *img)
{
    const uint8_t *d = img->data;
    size_t sz = img->size;
    Elf64_Ehdr eh;
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_RISCV ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s: not a little-endian ELF64 RISC-V executable", img->path);
        return -1;
    }
    if (eh.e_phoff > sz || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > sz - eh.e_phoff) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s: program headers out of the file", img->path);
        return -1;
    }
    if (loader_check_elf_layout(m, img, &eh))
        return -1;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, d + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_offset > sz || ph.p_filesz > sz - ph.p_offset || ph.p_filesz > ph.p_memsz) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "%s: segment %u out of the file", img->path, i);
            return -1;
        }
        uint64_t addr = ph.p_paddr ? ph.p_paddr : ph.p_vaddr;
        uint8_t *p = NULL;
        if (loader_ram_has(m, addr, ph.p_memsz) && !m->checking)
            p = m->hlp->mem_ptr(m->inst, addr, ph.p_memsz, 1);
        if (!loader_ram_has(m, addr, ph.p_memsz) || (!m->checking && !p)) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "%s: segment %u (0x%" PRIx64 ", %" PRIu64 " bytes) is not inside RAM "
                        "(0x80000000, --mem)", img->path, i, addr, (uint64_t)ph.p_memsz);
            return -1;
        }
        if (addr + ph.p_memsz > m->out->end)
            m->out->end = addr + ph.p_memsz;
        if (!m->out->start || addr < m->out->start)
            m->out->start = addr;
        if (m->checking)
            continue;
        memcpy(p, d + ph.p_offset, ph.p_filesz);
        memset(p + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }
    m->out->entry = eh.e_entry;
    /* Symbols: tohost/fromhost make the HTIF mailbox live. */
    if (eh.e_shoff && eh.e_shoff < sz && (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) <= sz - eh.e_shoff) {
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            Elf64_Shdr sh, strh;
            memcpy(&sh, d + eh.e_shoff + i * sizeof(sh), sizeof(sh));
            if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh.e_shnum)
                continue;
            memcpy(&strh, d + eh.e_shoff + sh.sh_link * sizeof(strh), sizeof(strh));
            if (sh.sh_offset > sz || sh.sh_size > sz - sh.sh_offset || strh.sh_offset > sz ||
                strh.sh_size > sz - strh.sh_offset)
                continue;
            for (uint64_t j = 0; j + sizeof(Elf64_Sym) <= sh.sh_size; j += sizeof(Elf64_Sym)) {
                Elf64_Sym sym;
                memcpy(&sym, d + sh.sh_offset + j, sizeof(sym));
                if (sym.st_name >= strh.sh_size)
                    continue;
                const char *name = (const char *)d + strh.sh_offset + sym.st_name;
                size_t maxlen = strh.sh_size - sym.st_name;
                if (strnlen(name, maxlen) == maxlen)
                    continue;
                if (!strcmp(name, "tohost"))
                    m->out->tohost = sym.st_value;
                else if (!strcmp(name, "fromhost"))
                    m->out->fromhost = sym.st_value;
            }
        }
    }
    return 0;
}

/* Every --image FILE@ADDR besides the program, as flat bytes at ADDR (a payload for firmware run as the program,
 * say: OpenSBI's fw_jump.elf with the kernel it jumps to at 0x80200000). Each must lie in RAM and overlap neither
 * the program's bytes nor another image. */
static int loader_load_extra(loader *m, const vmm_image *images, unsigned nimages, const vmm_image *program)
{
    for (unsigned i = 0; i < nimages; i++) {
        const vmm_image *img = &images[i];
        if (img == program || img->role != VMM_IMAGE_GENERIC)
            continue;
        if (!img->has_load_addr) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s: riscv64 runs one program (%s); give another image its "
                        "address, --image FILE@ADDR", img->path, program->path);
            return -1;
        }
        uint64_t a = img->load_addr, n = img->size;
        if (!loader_ram_has(m, a, n)) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s@0x%" PRIx64 ": %" PRIu64 " bytes do not fit in RAM "
                        "(0x80000000, --mem)", img->path, a, n);
            return -1;
        }
        for (unsigned j = 0; j < i; j++) {
            const vmm_image *o = &images[j];
            if (o == program || o->role != VMM_IMAGE_GENERIC || !o->has_load_addr)
                continue;
            if (a < o->load_addr + o->size && o->load_addr < a + n) {
                m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s@0x%" PRIx64 " overlaps --image %s@0x%" PRIx64,
                            img->path, a, o->path, o->load_addr);
                return -1;
            }
        }
        if (a < m->out->end && a + n > m->out->start) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s@0x%" PRIx64 " overlaps the program %s (0x%" PRIx64
                        "-0x%" PRIx64 ")", img->path, a, program->path, m->out->start, m->out->end - 1);
            return -1;
        }
        if (!m->checking && m->hlp->mem_write(m->inst, a, img->data, n)) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s@0x%" PRIx64 ": cannot be written to RAM", img->path, a);
            return -1;
        }
    }
    /* What follows the highest image is free for the initrd and the device tree. */
    for (unsigned i = 0; i < nimages; i++)
        if (&images[i] != program && images[i].role == VMM_IMAGE_GENERIC &&
            images[i].load_addr + images[i].size > m->out->end)
            m->out->end = images[i].load_addr + images[i].size;
    return 0;
}

int loader_load(vmm_instance *inst, const vmm_helpers *hlp, const vmm_image *images, unsigned nimages,
                int checking, loader_program *out)
{
    loader ctx = { .inst = inst, .hlp = hlp, .checking = checking, .out = out }, *m = &ctx;
    *out = (loader_program){ 0 };
    const vmm_image *img = NULL;
    for (unsigned i = 0; i < nimages; i++)
        if (images[i].role == VMM_IMAGE_KERNEL || (images[i].role == VMM_IMAGE_GENERIC && !img))
            img = &images[i];
    if (!img) {
        m->hlp->log(inst, VMM_LOG_ERROR, "no program: give one with --kernel FILE (ELF, or a flat binary loaded at "
                    "0x80000000)");
        return -1;
    }
    for (unsigned i = 0; i < nimages; i++)
        if (!images[i].size && images[i].role != VMM_IMAGE_INITRD) {
            m->hlp->log(inst, VMM_LOG_ERROR, "%s %s: the file is empty", loader_image_option(&images[i]),
                        images[i].path);
            return -1;
        }
    if (img->size >= sizeof(Elf64_Ehdr) && !memcmp(img->data, ELFMAG, SELFMAG)) {
        if (loader_load_elf(m, img))
            return -1;
    } else {
        uint64_t addr = img->has_load_addr ? img->load_addr : RV_RAM_BASE;
        if (!loader_ram_has(m, addr, img->size) ||
            (!m->checking && m->hlp->mem_write(inst, addr, img->data, img->size))) {
            m->hlp->log(inst, VMM_LOG_ERROR, "%s: %zu bytes at 0x%" PRIx64 " do not fit in RAM", img->path, img->size,
                        addr);
            return -1;
        }
        out->entry = addr;
        out->start = addr;
        out->end = addr + img->size;
    }
    return loader_load_extra(m, images, nimages, img);
}
