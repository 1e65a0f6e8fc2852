/*
 * What every RC module sees: the ABI shared with the host, freestanding helpers (rc_lib.c, linked into each
 * module so modules do not depend on each other at link time), the macros that declare a module and its export
 * table, and the function types of the core's exports that other modules import by name at run time.
 */
#ifndef RC_H
#define RC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../rc_abi.h"

#define RC_USED __attribute__((used))
#define RC_NORETURN __attribute__((noreturn))

/* One per module: the header the host and the core look for at the start of the module's ROM. */
#define RC_MODULE(modname, init_fn)                                                                          \
    extern const rc_export __rc_exports_start[], __rc_exports_end[];                                        \
    __attribute__((section(".rc_module_header"), used)) const rc_module_header rc_this_module = {         \
        .magic = RC_MODULE_MAGIC, .abi = RC_ABI_VERSION, .name = modname,                                    \
        .init = (uint64_t)(uintptr_t)(init_fn), .exports_start = (uint64_t)(uintptr_t)__rc_exports_start,    \
        .exports_end = (uint64_t)(uintptr_t)__rc_exports_end}

/* Put `sym` in this module's export table under its own name. */
#define RC_EXPORT(sym)                                                                                      \
    static const char rc_export_name_##sym[] = #sym;                                                         \
    __attribute__((section(".rc_exports"), used, aligned(16))) static const rc_export rc_export_##sym = {    \
        (uint64_t)(uintptr_t)rc_export_name_##sym, (uint64_t)(uintptr_t)&(sym)}

/* Core exports, as importers call them. */
typedef void (*rc_log_fn)(unsigned level, const char *fmt, ...);
typedef int64_t (*rc_hypercall_fn)(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                   uint64_t *ret0, uint64_t *ret1);
typedef uint64_t (*rc_ring3_run_fn)(rc_ctx *ctx);
typedef rc_ctx *(*rc_ctx_get_fn)(unsigned vcpu);

/* Module init, called by the core in image order once the core is up. Returns 0 or a vmm exit status. */
typedef int (*rc_module_init_fn)(const rc_boot_info *bi, const rc_module_header *core);

/* Log levels match vmm's (0 error .. 4 trace). */
enum { RC_LOG_ERROR = 0, RC_LOG_WARN = 1, RC_LOG_INFO = 2, RC_LOG_DEBUG = 3 };

/*
 * The shortest hypercall there is, inlined: store the call number and ring the doorbell (vCPU 0's slot). For
 * calls whose arguments are already in the slot or that take none; on software KVM each emulated instruction
 * saved here is about a microsecond (docs/rc-hypervisor.md has the figures).
 */
static inline int64_t rc_hc_doorbell(volatile rc_hcall *slot, uint64_t nr)
{
    slot->nr = nr;
    __asm__ volatile("outl %%eax, %%dx" : : "a"(0u), "d"((uint16_t)RC_HC_PORT) : "memory");
    return slot->status;
}

/* rc_lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
/* vsnprintf subset: %s %c %d %u %x %lx %lu %ld %llx %p %%; returns the length written (truncated). */
size_t rc_vformat(char *buf, size_t len, const char *fmt, va_list ap);
/* Look up `name` in a module's export table; NULL when absent. */
const void *rc_import(const rc_module_header *mod, const char *name);

static inline uint64_t rc_read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

#endif
