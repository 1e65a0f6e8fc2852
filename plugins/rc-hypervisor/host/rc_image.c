/*
 * The RC image on the host side: reading it (embedded, or image=PATH), checking every offset, size and address
 * in it before use (an image from a path is input like any other), mapping each module's read-only part as ROM
 * and its data as shadowed RAM, and naming addresses for reports (module, symbol, region).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rc_host.h"

#define RC_IMAGE_MAX (64u << 20)

static uint64_t rc_page_up(uint64_t n)
{
    return (n + 0xfffull) & ~0xfffull;
}

static int rc_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

static int rc_read_file(rc_host *h, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > RC_IMAGE_MAX) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "image=%s: %s", path,
                    fd < 0 ? strerror(errno) : "not a regular file of 1 byte to 64 MiB");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    h->image_file = malloc((size_t)st.st_size);
    size_t got = 0;
    while (h->image_file && got < (size_t)st.st_size) {
        ssize_t n = read(fd, h->image_file + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!h->image_file || got != (size_t)st.st_size) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "image=%s: cannot read it", path);
        return -1;
    }
    h->image = h->image_file;
    h->image_size = got;
    return 0;
}

static int rc_bad(rc_host *h, const char *name, const char *why)
{
    h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: module '%s': %s", name, why);
    return -1;
}

/* A NUL-terminated string at va, wholly inside the module's ROM. */
static int rc_ro_string_ok(const rc_module_rt *r, uint64_t va)
{
    if (va < r->m.ro_va || va - r->m.ro_va >= r->m.ro_size)
        return 0;
    const uint8_t *p = r->ro + (va - r->m.ro_va);
    return memchr(p, 0, r->m.ro_size - (va - r->m.ro_va)) != NULL;
}

static int rc_in_module(const rc_module_rt *r, uint64_t va)
{
    return (va >= r->m.ro_va && va - r->m.ro_va < r->m.ro_size) ||
           (r->m.rw_memsz && va >= r->m.rw_va && va - r->m.rw_va < r->m.rw_memsz);
}

static int rc_check_module(rc_host *h, unsigned i)
{
    rc_module_rt *r = &h->mods[i];
    const rc_image_module *m = &r->m;
    const char *name = m->name;
    if (!memchr(m->name, 0, sizeof(m->name)) || !m->name[0])
        return rc_bad(h, "?", "name is empty or not terminated");
    if (!rc_range_ok(m->ro_off, m->ro_size, h->image_size) || !rc_range_ok(m->rw_off, m->rw_filesz, h->image_size) ||
        m->rw_filesz > m->rw_memsz || m->nsyms > h->image_size / sizeof(rc_image_sym) ||
        !rc_range_ok(m->sym_off, m->nsyms * sizeof(rc_image_sym), h->image_size) ||
        !rc_range_ok(m->str_off, m->str_size, h->image_size))
        return rc_bad(h, name, "an offset or size lies outside the image");
    if (m->ro_size < sizeof(rc_module_header) || (m->ro_va & 0xfff) || (m->rw_va & 0xfff) ||
        m->ro_va < RC_VA_MODULES || m->ro_va >= RC_VA_SYSTEM || m->ro_size > RC_VA_SYSTEM - m->ro_va ||
        (m->rw_memsz && (m->rw_va < m->ro_va + rc_page_up(m->ro_size) || m->rw_va >= RC_VA_SYSTEM ||
                         m->rw_memsz > RC_VA_SYSTEM - m->rw_va)))
        return rc_bad(h, name, "its addresses are not page-aligned inside the module area "
                               "(0xffffffff80000000-0xffffffffc0000000) with data after code");
    uint64_t end = m->rw_memsz ? m->rw_va + rc_page_up(m->rw_memsz) : m->ro_va + rc_page_up(m->ro_size);
    for (unsigned j = 0; j < i; j++) {
        const rc_image_module *o = &h->mods[j].m;
        uint64_t oend = o->rw_memsz ? o->rw_va + rc_page_up(o->rw_memsz) : o->ro_va + rc_page_up(o->ro_size);
        if (m->ro_va < oend && o->ro_va < end)
            return rc_bad(h, name, "overlaps an earlier module");
        if (!strcmp(o->name, name))
            return rc_bad(h, name, "two modules have this name");
    }
    r->ro = h->image + m->ro_off;
    r->rw = h->image + m->rw_off;
    r->strs = (const char *)h->image + m->str_off;
    if (m->str_size && r->strs[m->str_size - 1] != '\0')
        return rc_bad(h, name, "symbol names are not terminated");
    rc_image_sym *syms = calloc(m->nsyms ? m->nsyms : 1, sizeof(*syms));
    if (!syms)
        return rc_bad(h, name, "out of memory");
    memcpy(syms, h->image + m->sym_off, m->nsyms * sizeof(*syms));
    h->sym_copies[i] = syms;
    r->syms = syms;
    for (uint64_t s = 0; s < m->nsyms; s++)
        if (syms[s].name >= m->str_size || (s && syms[s].addr < syms[s - 1].addr))
            return rc_bad(h, name, "a symbol's name is outside the string table, or symbols are not sorted");

    /* The module header and its export table, as the core will read them. */
    rc_module_header hdr;
    memcpy(&hdr, r->ro, sizeof(hdr));
    if (hdr.magic != RC_MODULE_MAGIC || hdr.abi != RC_ABI_VERSION || strncmp(hdr.name, name, RC_NAME_MAX))
        return rc_bad(h, name, "no matching module header at the start of its ROM");
    if (hdr.init && (hdr.init < m->ro_va || hdr.init - m->ro_va >= m->ro_size))
        return rc_bad(h, name, "its init/entry point is outside its ROM");
    if (hdr.exports_start > hdr.exports_end || hdr.exports_start < m->ro_va ||
        hdr.exports_end - m->ro_va > m->ro_size || (hdr.exports_end - hdr.exports_start) % sizeof(rc_export))
        return rc_bad(h, name, "its export table is outside its ROM or has a partial entry");
    char list[512] = "";
    size_t used = 0;
    for (uint64_t e = hdr.exports_start; e < hdr.exports_end; e += sizeof(rc_export)) {
        rc_export ex;
        memcpy(&ex, r->ro + (e - m->ro_va), sizeof(ex));
        if (!rc_ro_string_ok(r, ex.name) || !rc_in_module(r, ex.addr))
            return rc_bad(h, name, "an export's name or address is outside the module");
        const char *ename = (const char *)r->ro + (ex.name - m->ro_va);
        if (i == 0 && !strcmp(ename, "rc_trap_stubs"))
            h->trap_stubs = ex.addr;
        if (used < sizeof(list)) {
            int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? " " : "", ename);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    if (i == 0) {
        if (strcmp(name, "core") || !hdr.init)
            return rc_bad(h, name, "the first module must be 'core' with an entry point");
        if (!h->trap_stubs || h->trap_stubs - m->ro_va > m->ro_size || m->ro_size - (h->trap_stubs - m->ro_va) < 32 * 16)
            return rc_bad(h, name, "the core exports no rc_trap_stubs (32 stubs of 16 bytes) in its ROM");
        h->entry = hdr.init;
    }
    h->hlp->log(h->inst, VMM_LOG_DEBUG, "RC module %s: ROM 0x%" PRIx64 "+0x%" PRIx64 ", data 0x%" PRIx64 "+0x%" PRIx64
                ", %" PRIu64 " symbols, exports: %s", name, m->ro_va, m->ro_size, m->rw_va, m->rw_memsz, m->nsyms, list);
    return 0;
}

int rc_map_regions(rc_host *h)
{
    void *sys, *st, *lg, *mb;
    if (h->hlp->mem_map_mmio2(h->inst, RC_GPA_SYSTEM, RC_SYS_SIZE, "rc-system", &sys) ||
        h->hlp->mem_map_mmio2(h->inst, RC_GPA_STATE, RC_STATE_SIZE, "rc-state", &st) ||
        h->hlp->mem_map_mmio2(h->inst, RC_GPA_LOG, RC_LOG_SIZE, "rc-log", &lg) ||
        h->hlp->mem_map_mmio2(h->inst, RC_GPA_MAILBOX, RC_MAILBOX_SIZE, "rc-mailbox", &mb))
        return -1;
    h->sys = sys;
    h->state = st;
    h->log = lg;
    h->mailbox = mb;
    return 0;
}

int rc_image_load(rc_host *h, const char *path)
{
    if (path) {
        if (rc_read_file(h, path))
            return -1;
    } else {
        h->image = h->builtin_image;
        h->image_size = h->builtin_image_size;
    }
    rc_image_header hdr;
    if (h->image_size < sizeof(hdr)) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: %zu bytes, too short for a header", h->image_size);
        return -1;
    }
    memcpy(&hdr, h->image, sizeof(hdr));
    if (memcmp(hdr.magic, RC_IMAGE_MAGIC, sizeof(hdr.magic)) || hdr.abi != RC_ABI_VERSION) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: not an RC image of ABI %u (bad magic or version)", RC_ABI_VERSION);
        return -1;
    }
    if (hdr.size != h->image_size || hdr.nmodules == 0 || hdr.nmodules > RC_MAX_MODULES ||
        !rc_range_ok(sizeof(hdr), (uint64_t)hdr.nmodules * sizeof(rc_image_module), h->image_size)) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: size %" PRIu64 " (file %zu) or module count %u is wrong",
                    hdr.size, h->image_size, hdr.nmodules);
        return -1;
    }
    /* rc-pack aligns the module table to 16 bytes after the header. */
    size_t table = (sizeof(hdr) + 15) & ~(size_t)15;
    if (!rc_range_ok(table, (uint64_t)hdr.nmodules * sizeof(rc_image_module), h->image_size)) {
        h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: module table outside the file");
        return -1;
    }
    h->nmodules = hdr.nmodules;
    for (unsigned i = 0; i < h->nmodules; i++) {
        memcpy(&h->mods[i].m, h->image + table + i * sizeof(rc_image_module), sizeof(rc_image_module));
        if (rc_check_module(h, i))
            return -1;
    }
    return 0;
}

void rc_image_free(rc_host *h)
{
    for (unsigned i = 0; i < RC_MAX_MODULES; i++) {
        free(h->sym_copies[i]);
        h->sym_copies[i] = NULL;
    }
    free(h->image_file);
    h->image_file = NULL;
}

int rc_image_map(rc_host *h)
{
    uint64_t gpa = RC_GPA_MODULES;
    char name[64];
    for (unsigned i = 0; i < h->nmodules; i++) {
        rc_module_rt *r = &h->mods[i];
        uint64_t ro = rc_page_up(r->m.ro_size), rw = rc_page_up(r->m.rw_memsz);
        if (ro + rw > RC_GPA_MODULES_END - gpa) {
            h->hlp->log(h->inst, VMM_LOG_ERROR, "RC image: modules do not fit below 0x%llx", RC_GPA_MODULES_END);
            return -1;
        }
        r->ro_gpa = gpa;
        snprintf(name, sizeof(name), "rc-%s-rom", r->m.name);
        if (h->hlp->mem_map_rom(h->inst, gpa, r->ro, r->m.ro_size, 0, name))
            return -1;
        gpa += ro;
        if (!rw)
            continue;
        r->rw_gpa = gpa;
        /* Shadowed: the guest gets a RAM copy of data followed by zeroed bss. */
        uint8_t *data = calloc(1, rw);
        if (!data)
            return -1;
        memcpy(data, r->rw, r->m.rw_filesz);
        snprintf(name, sizeof(name), "rc-%s-data", r->m.name);
        int rc = h->hlp->mem_map_rom(h->inst, gpa, data, rw, 1, name);
        free(data);
        if (rc)
            return -1;
        gpa += rw;
    }
    return 0;
}

void rc_symbolize(const rc_host *h, uint64_t va, char *buf, size_t len)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < h->nmodules; i++) {
        const rc_module_rt *r = &h->mods[i];
        if (!rc_in_module(r, va))
            continue;
        const rc_image_sym *best = NULL;
        for (uint64_t s = 0; s < r->m.nsyms && r->syms[s].addr <= va; s++)
            if (rc_in_module(r, r->syms[s].addr))
                best = &r->syms[s];
        if (best)
            snprintf(buf, len, "%s:%s+0x%" PRIx64, r->m.name, r->strs + best->name, va - best->addr);
        else
            snprintf(buf, len, "%s+0x%" PRIx64, r->m.name, va - r->m.ro_va);
        return;
    }
}

const char *rc_describe_va(const rc_host *h, uint64_t va, char *buf, size_t len)
{
    for (unsigned i = 0; i < h->nmodules; i++) {
        const rc_module_rt *r = &h->mods[i];
        if (va >= r->m.ro_va && va - r->m.ro_va < rc_page_up(r->m.ro_size)) {
            snprintf(buf, len, "RC module '%s' ROM", r->m.name);
            return buf;
        }
        if (r->m.rw_memsz && va >= r->m.rw_va && va - r->m.rw_va < rc_page_up(r->m.rw_memsz)) {
            snprintf(buf, len, "RC module '%s' shadowed data", r->m.name);
            return buf;
        }
    }
    static const struct {
        uint64_t va, size;
        const char *name;
    } regions[] = {
        {RC_VA_SYSTEM, RC_SYS_SIZE, "RC system area (boot info, GDT, IDT, TSS, page tables, stacks)"},
        {RC_VA_STATE, RC_STATE_SIZE, "MMIO2 rc-state (target register files, VM state)"},
        {RC_VA_LOG, RC_LOG_SIZE, "MMIO2 rc-log (log ring)"},
        {RC_VA_MAILBOX, RC_MAILBOX_SIZE, "MMIO2 rc-mailbox (hypercalls)"},
        {RC_VA_ROM_ALIAS, 0x1000, "ROM alias of the core"},
    };
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        if (va >= regions[i].va && va - regions[i].va < regions[i].size) {
            snprintf(buf, len, "%s", regions[i].name);
            return buf;
        }
    if (va >= RC_GPA_SYSTEM && va < RC_GPA_MODULES_END) {
        snprintf(buf, len, "the RC's guest-physical range (not mapped for the target)");
        return buf;
    }
    for (unsigned i = 0; i < h->nuregions; i++)
        if (va >= h->uregions[i].va && va - h->uregions[i].va < h->uregions[i].size) {
            snprintf(buf, len, "%s (%s for ring 3)", h->uregions[i].what,
                     h->uregions[i].writable ? "writable" : "read-only");
            return buf;
        }
    if ((va < h->ram_gpa || va - h->ram_gpa >= h->ram) && va < 0x800000000000ull) {
        snprintf(buf, len, "lower half outside target RAM (unmapped)");
        return buf;
    }
    return NULL;
}

size_t rc_image_code(const rc_host *h, uint64_t va, uint8_t *buf, size_t len)
{
    for (unsigned i = 0; i < h->nmodules; i++) {
        const rc_module_rt *r = &h->mods[i];
        if (va >= r->m.ro_va && va - r->m.ro_va < r->m.ro_size) {
            size_t n = (size_t)(r->m.ro_size - (va - r->m.ro_va));
            if (n > len)
                n = len;
            memcpy(buf, r->ro + (va - r->m.ro_va), n);
            return n;
        }
    }
    return 0;
}
