/* loader: riscv64's program loading (see loader.h). */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rv_runtime.h"

typedef struct loader {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    int checking; /* vm_check: RAM does not exist yet */
    loader_program *out;
    const vmm_image *bios; /* the firmware as an image, for messages */
} loader;

static int loader_ram_has(const loader *m, uint64_t addr, uint64_t len)
{
    uint64_t ram = m->hlp->mem_ram_size(m->inst);
    return len && addr >= RV_RAM_BASE && addr - RV_RAM_BASE <= ram && len <= ram - (addr - RV_RAM_BASE);
}

/* The option that gave an image, for messages. */
static const char *loader_image_option(const loader *m, const vmm_image *img)
{
    if (img == m->bios)
        return "--bios";
    return img->role == VMM_IMAGE_KERNEL ? "--kernel" : "--image";
}

/* What vm_check refuses up front rather than letting the guest find: program headers of another size (read as
 * Elf64_Phdr they would be garbage), PT_LOAD segments that overlap (the later would silently win), and an entry
 * point that no loaded segment holds (the hart's first fetch would fault). */
static int loader_check_elf_layout(loader *m, const vmm_image *img, const Elf64_Ehdr *eh)
{
    const uint8_t *d = img->data;
    const char *opt = loader_image_option(m, img);
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
    const char *opt = loader_image_option(m, img);
    Elf64_Ehdr eh;
    memcpy(&eh, d, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_RISCV ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: not a little-endian ELF64 RISC-V executable", opt, img->path);
        return -1;
    }
    if (eh.e_phoff > sz || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > sz - eh.e_phoff) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: program headers out of the file", opt, img->path);
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
            m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: segment %u out of the file", opt, img->path, i);
            return -1;
        }
        uint64_t addr = ph.p_paddr ? ph.p_paddr : ph.p_vaddr;
        uint8_t *p = NULL;
        if (loader_ram_has(m, addr, ph.p_memsz) && !m->checking)
            p = m->hlp->mem_ptr(m->inst, addr, ph.p_memsz, 1);
        if (!loader_ram_has(m, addr, ph.p_memsz) || (!m->checking && !p)) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: segment %u (0x%" PRIx64 ", %" PRIu64 " bytes) is not inside "
                        "RAM (0x80000000, --mem)", opt, img->path, i, addr, (uint64_t)ph.p_memsz);
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
    const char *pname = program ? program->path : m->bios->path;
    for (unsigned i = 0; i < nimages; i++) {
        const vmm_image *img = &images[i];
        if (img == program || img->role != VMM_IMAGE_GENERIC)
            continue;
        if (!img->has_load_addr) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--image %s: riscv64 runs one program (%s); give another image its "
                        "address, --image FILE@ADDR", img->path, pname);
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
                        "-0x%" PRIx64 ")", img->path, a, pname, m->out->start, m->out->end - 1);
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

/* A flat binary at addr. */
static int loader_load_flat(loader *m, const vmm_image *img, uint64_t addr)
{
    if (!img->size || !loader_ram_has(m, addr, img->size) ||
        (!m->checking && m->hlp->mem_write(m->inst, addr, img->data, img->size))) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s %s: %zu bytes at 0x%" PRIx64 " do not fit in RAM (0x80000000, --mem)",
                    loader_image_option(m, img), img->path, img->size, addr);
        return -1;
    }
    m->out->entry = addr;
    m->out->start = addr;
    m->out->end = addr + img->size;
    return 0;
}

/* ---- Linux Image -------------------------------------------------------------------------------------------
 * The 64-byte header Linux puts at the start of arch/riscv/boot/Image (Documentation/riscv/boot-image-header):
 * two instructions, then little-endian text_offset (u64 at 8), image_size (u64 at 16: the size in memory, with
 * bss), flags (u64 at 24; bit 0: big-endian), version (u32 at 32: major << 16 | minor), two reserved fields, the
 * deprecated magic "RISCV" (u64 at 48) and magic2 "RSC\x05" (u32 at 56). */
#define LOADER_IMAGE_HEADER 64u
#define LOADER_IMAGE_MAGIC2 0x05435352u
#define LOADER_KERNEL_ALIGN (2ull << 20) /* an RV64 kernel maps itself with 2 MiB pages */

static uint64_t loader_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Either magic where it belongs (a file cut inside the header still says what it was meant to be). */
static int loader_is_linux_image(const vmm_image *img)
{
    return (img->size >= 60 && loader_le(img->data + 56, 4) == LOADER_IMAGE_MAGIC2) ||
           (img->size >= 56 && !memcmp(img->data + 48, "RISCV\0\0\0", 8));
}

/* The Image as the next stage, at the first 2 MiB boundary that is past the firmware and at least text_offset
 * into RAM; its bss (image_size past the file) is RAM's zeros. */
static int loader_load_linux_image(loader *m, const vmm_image *img, uint64_t fw_end)
{
    const uint8_t *h = img->data;
    const char *p = img->path;
    if (img->size < LOADER_IMAGE_HEADER) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: a Linux Image cut short (%zu bytes, less than its %u-byte "
                    "header)", p, img->size, LOADER_IMAGE_HEADER);
        return -1;
    }
    uint64_t text_offset = loader_le(h + 8, 8), image_size = loader_le(h + 16, 8), flags = loader_le(h + 24, 8);
    uint32_t version = (uint32_t)loader_le(h + 32, 4);
    if (loader_le(h + 56, 4) != LOADER_IMAGE_MAGIC2) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: a Linux Image header without its magic2 \"RSC\\x05\" at "
                    "0x38 (a header older than version 0.2 or a damaged one)", p);
        return -1;
    }
    if (version >> 16 != 0 || (version & 0xffff) < 2) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: Linux Image header version %u.%u; this loader reads 0.2 "
                    "and later 0.x", p, version >> 16, version & 0xffff);
        return -1;
    }
    if (flags & 1) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: a big-endian Linux Image (flags bit 0); this machine is "
                    "little-endian", p);
        return -1;
    }
    if (image_size < img->size) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: the Image header's image_size (%" PRIu64 " bytes) is "
                    "smaller than the file (%zu bytes): not a whole kernel Image", p, image_size, img->size);
        return -1;
    }
    if (text_offset % 4096) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: the Image header's text_offset 0x%" PRIx64 " is not a "
                    "multiple of 4 KiB", p, text_offset);
        return -1;
    }
    uint64_t ram = m->hlp->mem_ram_size(m->inst);
    uint64_t at = text_offset < ram ? RV_RAM_BASE + text_offset : UINT64_MAX;
    if (at < fw_end)
        at = fw_end;
    at = at > UINT64_MAX - LOADER_KERNEL_ALIGN ? UINT64_MAX : (at + LOADER_KERNEL_ALIGN - 1) & ~(LOADER_KERNEL_ALIGN - 1);
    if (!loader_ram_has(m, at, image_size)) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: the Image takes %" PRIu64 " bytes (image_size) from 0x%"
                    PRIx64 " (past the firmware, text_offset 0x%" PRIx64 "), beyond RAM (0x80000000, --mem %" PRIu64
                    " MiB)", p, image_size, at == UINT64_MAX ? 0 : at, text_offset, ram >> 20);
        return -1;
    }
    if (!m->checking && m->hlp->mem_write(m->inst, at, img->data, img->size)) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s: cannot be written to RAM", p);
        return -1;
    }
    m->out->entry = at;
    m->out->start = at;
    m->out->end = at + image_size;
    return 0;
}

/* ---- Firmware ------------------------------------------------------------------------------------------ */

int loader_firmware_open(vmm_instance *inst, const vmm_helpers *hlp, const char *bios, const vmm_image *images,
                         unsigned nimages, loader_firmware *fw)
{
    *fw = (loader_firmware){ 0 };
    const char *path = bios;
    if (bios && !strcmp(bios, "none"))
        return 0;
    if (!bios) {
        const vmm_image *k = NULL;
        for (unsigned i = 0; i < nimages; i++)
            if (images[i].role == VMM_IMAGE_KERNEL)
                k = &images[i];
        if (!k || !loader_is_linux_image(k))
            return 0; /* a bare-metal program, as before firmware existed */
        path = LOADER_DEFAULT_BIOS;
        if (access(path, R_OK)) {
            hlp->log(inst, VMM_LOG_ERROR, "--kernel %s is a Linux Image, which needs firmware: give --bios FILE (the "
                     "default, %s, is not installed: apt-get install opensbi)", k->path, path);
            return -1;
        }
    } else if (!strcmp(bios, "default")) {
        path = LOADER_DEFAULT_BIOS;
    }
    if (!*path) {
        hlp->log(inst, VMM_LOG_ERROR, "--bios: give a firmware file, default or none");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st))
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size == 0)
        why = "an empty file";
    else if ((uint64_t)st.st_size > (1ull << 32))
        why = "larger than 4 GiB, more than firmware can be";
    if (!why) {
        fw->size = (size_t)st.st_size;
        fw->data = malloc(fw->size);
        fw->path = strdup(path);
        size_t got = 0;
        while (fw->data && fw->path && got < fw->size) {
            ssize_t n = read(fd, fw->data + got, fw->size - got);
            if (n <= 0) {
                why = n < 0 ? strerror(errno) : "the file shrank while being read";
                break;
            }
            got += (size_t)n;
        }
        if (!fw->data || !fw->path)
            why = "out of memory";
    }
    if (fd >= 0)
        close(fd);
    if (why) {
        hlp->log(inst, VMM_LOG_ERROR, "--bios %s: %s", path, why);
        loader_firmware_close(fw);
        return -1;
    }
    vmm_image as_image = { .path = fw->path, .data = fw->data, .size = fw->size };
    if (loader_is_linux_image(&as_image)) {
        hlp->log(inst, VMM_LOG_ERROR, "--bios %s: a Linux Image, not firmware (give it with --kernel)", path);
        loader_firmware_close(fw);
        return -1;
    }
    return 0;
}

void loader_firmware_close(loader_firmware *fw)
{
    free(fw->data);
    free(fw->path);
    *fw = (loader_firmware){ 0 };
}

/* The firmware at its addresses (an ELF) or at 0x80000000, then the kernel as its next stage. */
static int loader_load_with_firmware(loader *m, const vmm_image *images, unsigned nimages, const loader_firmware *fw)
{
    vmm_image fwimg = { .path = fw->path, .data = fw->data, .size = fw->size, .role = VMM_IMAGE_GENERIC };
    m->bios = &fwimg;
    loader_program *out = m->out;
    if (fwimg.size >= sizeof(Elf64_Ehdr) && !memcmp(fwimg.data, ELFMAG, SELFMAG) ? loader_load_elf(m, &fwimg)
                                                                               : loader_load_flat(m, &fwimg, RV_RAM_BASE))
        return -1;
    out->firmware = 1;
    const loader_program fwp = *out;
    uint64_t next = (fwp.end + LOADER_KERNEL_ALIGN - 1) & ~(LOADER_KERNEL_ALIGN - 1);
    const vmm_image *k = NULL;
    for (unsigned i = 0; i < nimages; i++)
        if (images[i].role == VMM_IMAGE_KERNEL)
            k = &images[i];
    out->next_addr = next;
    out->kernel_start = next;
    if (k) {
        loader_program kp = { 0 };
        loader km = { .inst = m->inst, .hlp = m->hlp, .checking = m->checking, .out = &kp };
        int r;
        if (loader_is_linux_image(k))
            r = loader_load_linux_image(&km, k, fwp.end);
        else if (k->size >= sizeof(Elf64_Ehdr) && !memcmp(k->data, ELFMAG, SELFMAG))
            r = loader_load_elf(&km, k);
        else
            r = loader_load_flat(&km, k, next);
        if (r)
            return -1;
        if (kp.start < fwp.end && fwp.start < kp.end) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--kernel %s (0x%" PRIx64 "-0x%" PRIx64 ") overlaps the firmware "
                        "--bios %s (0x%" PRIx64 "-0x%" PRIx64 "); without firmware, give --bios none", k->path,
                        kp.start, kp.end - 1, fw->path, fwp.start, fwp.end - 1);
            return -1;
        }
        out->next_addr = kp.entry;
        out->kernel_start = kp.start;
        if (kp.start < out->start)
            out->start = kp.start;
        if (kp.end > out->end)
            out->end = kp.end;
    }
    return loader_load_extra(m, images, nimages, k);
}

int loader_load(vmm_instance *inst, const vmm_helpers *hlp, const vmm_image *images, unsigned nimages,
                const loader_firmware *fw, int checking, loader_program *out)
{
    loader ctx = { .inst = inst, .hlp = hlp, .checking = checking, .out = out }, *m = &ctx;
    *out = (loader_program){ 0 };
    if (fw && fw->data)
        return loader_load_with_firmware(m, images, nimages, fw);
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
            m->hlp->log(inst, VMM_LOG_ERROR, "%s %s: the file is empty", loader_image_option(m, &images[i]),
                        images[i].path);
            return -1;
        }
    if (img->size >= sizeof(Elf64_Ehdr) && !memcmp(img->data, ELFMAG, SELFMAG)) {
        if (loader_load_elf(m, img))
            return -1;
    } else if (loader_load_flat(m, img, img->has_load_addr ? img->load_addr : RV_RAM_BASE)) {
        return -1;
    }
    out->next_addr = out->entry;
    out->kernel_start = out->start;
    return loader_load_extra(m, images, nimages, img);
}
