/*
 * rc-pack: the build step that turns linked RC modules (ELF, one per module, each at its fixed base) into the
 * RC image container described in rc_abi.h: per module the ROM bytes, the shadowed-data bytes and a symbol table
 * (for fault reports). With --c-source it also writes the image as a C array, which is how the host plugin
 * embeds it. Runs on the build machine only; its inputs come from our own linker, but it still checks them.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rc_abi.h"

#define PACK_MAX_SYMS 4096

typedef struct pack_buf {
    uint8_t *data;
    size_t len, cap;
} pack_buf;

static void pack_die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "rc-pack: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static size_t pack_append(pack_buf *b, const void *data, size_t len)
{
    size_t at = (b->len + 15) & ~(size_t)15;
    if (at + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < at + len)
            cap *= 2;
        uint8_t *n = realloc(b->data, cap);
        if (!n)
            pack_die("%s%s", "out of memory", "");
        memset(n + b->cap, 0, cap - b->cap);
        b->data = n;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + at, data, len);
    b->len = at + len;
    return at;
}

static uint8_t *pack_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        pack_die("%s: %s", path, strerror(errno));
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *n = realloc(data, cap);
            if (!n)
                pack_die("%s: %s", path, "out of memory");
            data = n;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    if (ferror(f))
        pack_die("%s: %s", path, "read error");
    fclose(f);
    *size = len;
    return data;
}

static int pack_in_file(size_t fsize, uint64_t off, uint64_t len)
{
    return off <= fsize && len <= fsize - off;
}

static int pack_sym_cmp(const void *a, const void *b)
{
    const rc_image_sym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Add one module ELF to the image; its entry in the module table is filled here. */
static void pack_module(pack_buf *img, rc_image_module *m, const char *path)
{
    size_t fsize;
    uint8_t *f = pack_read(path, &fsize);
    Elf64_Ehdr eh;
    if (fsize < sizeof(eh))
        pack_die("%s: %s", path, "not an ELF file");
    memcpy(&eh, f, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || !pack_in_file(fsize, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr)))
        pack_die("%s: %s", path, "not an x86-64 ELF with program headers");
    Elf64_Phdr ro = {0}, rw = {0};
    int nro = 0, nrw = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, f + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (!pack_in_file(fsize, ph.p_offset, ph.p_filesz) || ph.p_filesz > ph.p_memsz)
            pack_die("%s: %s", path, "a segment lies outside the file");
        if (ph.p_flags & PF_W) {
            rw = ph;
            nrw++;
        } else {
            ro = ph;
            nro++;
        }
    }
    if (nro != 1 || nrw > 1 || ro.p_filesz < sizeof(rc_module_header) || (ro.p_vaddr & 0xfff) ||
        (nrw && (rw.p_vaddr & 0xfff)))
        pack_die("%s: %s", path, "expected one page-aligned read-only and at most one writable segment (see rc.ld)");
    rc_module_header hdr;
    memcpy(&hdr, f + ro.p_offset, sizeof(hdr));
    if (hdr.magic != RC_MODULE_MAGIC || hdr.abi != RC_ABI_VERSION || !memchr(hdr.name, 0, sizeof(hdr.name)))
        pack_die("%s: %s", path, "no RC module header at the start of the read-only segment");
    memset(m, 0, sizeof(*m));
    memcpy(m->name, hdr.name, sizeof(m->name));
    m->ro_va = ro.p_vaddr;
    m->ro_size = ro.p_filesz;
    m->ro_off = pack_append(img, f + ro.p_offset, ro.p_filesz);
    if (nrw) {
        m->rw_va = rw.p_vaddr;
        m->rw_filesz = rw.p_filesz;
        m->rw_memsz = rw.p_memsz;
        m->rw_off = pack_append(img, f + rw.p_offset, rw.p_filesz);
    }

    /* Symbols, for naming the function a fault is in. */
    rc_image_sym *syms = calloc(PACK_MAX_SYMS, sizeof(*syms));
    char *strs = malloc(65536);
    size_t nsyms = 0, strlen_ = 0;
    if (!syms || !strs)
        pack_die("%s: %s", path, "out of memory");
    if (eh.e_shentsize == sizeof(Elf64_Shdr) && pack_in_file(fsize, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr))) {
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            Elf64_Shdr sh, strsh;
            memcpy(&sh, f + eh.e_shoff + i * sizeof(sh), sizeof(sh));
            if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh.e_shnum || sh.sh_entsize != sizeof(Elf64_Sym) ||
                !pack_in_file(fsize, sh.sh_offset, sh.sh_size))
                continue;
            memcpy(&strsh, f + eh.e_shoff + sh.sh_link * sizeof(strsh), sizeof(strsh));
            if (!pack_in_file(fsize, strsh.sh_offset, strsh.sh_size))
                continue;
            const char *names = (const char *)f + strsh.sh_offset;
            for (uint64_t s = 0; s < sh.sh_size / sizeof(Elf64_Sym) && nsyms < PACK_MAX_SYMS; s++) {
                Elf64_Sym sym;
                memcpy(&sym, f + sh.sh_offset + s * sizeof(sym), sizeof(sym));
                unsigned type = ELF64_ST_TYPE(sym.st_info);
                if ((type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE) || sym.st_shndx == SHN_UNDEF ||
                    sym.st_shndx == SHN_ABS || sym.st_name >= strsh.sh_size)
                    continue;
                const char *name = names + sym.st_name;
                const char *nul = memchr(name, 0, strsh.sh_size - sym.st_name);
                size_t nlen = nul ? (size_t)(nul - name) : 0;
                if (nlen == 0 || name[0] == '.' || strlen_ + nlen + 1 > 65536)
                    continue;
                memcpy(strs + strlen_, name, nlen + 1);
                syms[nsyms++] = (rc_image_sym){.addr = sym.st_value, .size = sym.st_size, .name = (uint32_t)strlen_,
                                               .is_func = type == STT_FUNC};
                strlen_ += nlen + 1;
            }
        }
    }
    qsort(syms, nsyms, sizeof(*syms), pack_sym_cmp);
    m->nsyms = nsyms;
    m->sym_off = pack_append(img, syms, nsyms * sizeof(*syms));
    m->str_size = strlen_;
    m->str_off = pack_append(img, strs, strlen_);
    free(syms);
    free(strs);
    free(f);
}

static void pack_write_c(const char *path, const char *symbol, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        pack_die("%s: %s", path, strerror(errno));
    fprintf(f, "/* Generated by rc-pack: the RC hypervisor image, embedded in the host plugin. Do not edit. */\n"
               "#include <stddef.h>\n"
               "extern const unsigned char %s[];\nextern const size_t %s_size;\n"
               "__attribute__((aligned(16))) const unsigned char %s[] = {",
            symbol, symbol, symbol);
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%s0x%02x,", i % 16 ? " " : "\n    ", data[i]);
    fprintf(f, "\n};\nconst size_t %s_size = %zu;\n", symbol, len);
    if (fclose(f))
        pack_die("%s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
    const char *out = NULL, *csrc = NULL, *symbol = "rc_image_blob";
    const char *inputs[RC_MAX_MODULES];
    unsigned n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--c-source") && i + 1 < argc)
            csrc = argv[++i];
        else if (!strcmp(argv[i], "--symbol") && i + 1 < argc)
            symbol = argv[++i];
        else if (argv[i][0] == '-')
            pack_die("unknown option %s%s", argv[i], "");
        else if (n == RC_MAX_MODULES)
            pack_die("%s%s", "too many modules", "");
        else
            inputs[n++] = argv[i];
    }
    if (!out || n == 0) {
        fprintf(stderr, "usage: rc-pack -o IMAGE [--c-source FILE.c [--symbol NAME]] CORE.elf [MODULE.elf...]\n");
        return 2;
    }
    pack_buf img = {0};
    rc_image_header hdr = {.abi = RC_ABI_VERSION, .nmodules = n};
    memcpy(hdr.magic, RC_IMAGE_MAGIC, sizeof(hdr.magic));
    pack_append(&img, &hdr, sizeof(hdr));
    rc_image_module mods[RC_MAX_MODULES];
    memset(mods, 0, sizeof(mods));
    size_t table = pack_append(&img, mods, n * sizeof(mods[0]));
    for (unsigned i = 0; i < n; i++)
        pack_module(&img, &mods[i], inputs[i]);
    memcpy(img.data + table, mods, n * sizeof(mods[0]));
    hdr.size = img.len;
    memcpy(img.data, &hdr, sizeof(hdr));
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(img.data, 1, img.len, f) != img.len || fclose(f))
        pack_die("%s: %s", out, strerror(errno));
    if (csrc)
        pack_write_c(csrc, symbol, img.data, img.len);
    free(img.data);
    return 0;
}
