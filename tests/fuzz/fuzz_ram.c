/* fuzz_ram: see fuzz_ram.h. */
#include "fuzz_ram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_RAM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_RAM_ASAN 1
#endif
#ifdef FUZZ_RAM_ASAN
#include <sanitizer/asan_interface.h>
#define FUZZ_RAM_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FUZZ_RAM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FUZZ_RAM_POISON(p, n) ((void)(p), (void)(n))
#define FUZZ_RAM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

fuzz_ram fuzz_ram_current;

void fuzz_ram_add(fuzz_ram *ram, uint64_t gpa, uint64_t size)
{
    if (ram->count == FUZZ_RAM_MAX_REGIONS || size == 0)
        abort();
    uint8_t *host = calloc(1, size);
    if (!host)
        abort();
    FUZZ_RAM_POISON(host, size);
    ram->regions[ram->count++] = (fuzz_ram_region){.gpa = gpa, .size = size, .host = host};
    ram->total += size;
}

void fuzz_ram_free(fuzz_ram *ram)
{
    for (unsigned i = 0; i < ram->count; i++) {
        FUZZ_RAM_UNPOISON(ram->regions[i].host, ram->regions[i].size);
        free(ram->regions[i].host);
    }
    memset(ram, 0, sizeof(*ram));
}

void fuzz_ram_repoison(fuzz_ram *ram)
{
    for (unsigned i = 0; i < ram->count; i++)
        FUZZ_RAM_POISON(ram->regions[i].host, ram->regions[i].size);
}

const uint8_t *fuzz_ram_peek(fuzz_ram *ram, uint64_t gpa, uint64_t len)
{
    if (len == 0 || gpa + (len - 1) < gpa)
        return NULL;
    for (unsigned i = 0; i < ram->count; i++) {
        const fuzz_ram_region *r = &ram->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

const uint8_t *fuzz_ram_peek_handed(fuzz_ram *ram, uint64_t gpa, uint64_t len)
{
    const uint8_t *p = fuzz_ram_peek(ram, gpa, len);
#ifdef FUZZ_RAM_ASAN
    if (p && __asan_region_is_poisoned((void *)(uintptr_t)p, len))
        return NULL;
#endif
    return p;
}

void *fuzz_ram_range(fuzz_ram *ram, uint64_t gpa, uint64_t len)
{
    uint8_t *p = (uint8_t *)fuzz_ram_peek(ram, gpa, len);
    if (p)
        FUZZ_RAM_UNPOISON(p, len);
    return p;
}

void (*fuzz_ram_log_hook)(vmm_log_level level, const char *msg);

static void fuzz_ram_log(vmm_instance *inst, vmm_log_level level, const char *fmt, ...)
{
    (void)inst;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "log %d: %s\n", (int)level, msg);
    if (fuzz_ram_log_hook)
        fuzz_ram_log_hook(level, msg);
}

static int fuzz_ram_log_enabled(vmm_instance *inst, vmm_log_level level)
{
    (void)inst;
    (void)level;
    return 1;
}

static int fuzz_ram_read(vmm_instance *inst, uint64_t gpa, void *buf, size_t len)
{
    (void)inst;
    void *p = fuzz_ram_range(&fuzz_ram_current, gpa, len);
    if (!p)
        return -1;
    memcpy(buf, p, len);
    return 0;
}

static int fuzz_ram_write(vmm_instance *inst, uint64_t gpa, const void *buf, size_t len)
{
    (void)inst;
    void *p = fuzz_ram_range(&fuzz_ram_current, gpa, len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    return 0;
}

static void *fuzz_ram_ptr(vmm_instance *inst, uint64_t gpa, size_t len, int writable)
{
    (void)inst;
    (void)writable;
    return fuzz_ram_range(&fuzz_ram_current, gpa, len);
}

static uint64_t fuzz_ram_size(vmm_instance *inst)
{
    (void)inst;
    return fuzz_ram_current.total;
}

void fuzz_ram_set_helpers(vmm_helpers *hlp)
{
    hlp->version = VMM_HELPERS_VERSION;
    hlp->size = sizeof(*hlp);
    hlp->log = fuzz_ram_log;
    hlp->log_enabled = fuzz_ram_log_enabled;
    hlp->mem_read = fuzz_ram_read;
    hlp->mem_write = fuzz_ram_write;
    hlp->mem_ptr = fuzz_ram_ptr;
    hlp->mem_ram_size = fuzz_ram_size;
}
