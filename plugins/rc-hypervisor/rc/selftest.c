/*
 * RC selftest module: a second module of the image, started by the core through its header and importing the
 * core's services by name. It checks, from inside the VM, what the RC design promises: ROM stays unchanged
 * under writes, shadowed data starts with the image's values and is writable, the MMIO2 regions are shared
 * with the host, hypercalls carry arguments and results, target code runs at ring 3 and comes back on a trap,
 * and ring-3 code can touch none of the RC's pages. It also holds the deliberate RC fault and the benchmark
 * loops. Keep ring-0 work small: on software KVM every instruction here is emulated.
 */
#include "rc.h"

#define ST_TARGET_CODE 0x100000ull  /* where the ring-3 snippets are copied */
#define ST_TARGET_STACK 0x200000ull /* ring-3 stack top */
#define ST_TARGET_DATA 0x300000ull  /* a target page ring 3 may use */
#define ST_SVC_DONE 1u

extern const char r3_start[], r3_end[], r3_loop[], r3_svc[], r3_read[], r3_write[], r3_out[];

/* Imports from the core, resolved by name at init. */
static rc_log_fn st_log;
static rc_hypercall_fn st_hc;
static rc_ring3_run_fn st_run;
static rc_ctx_get_fn st_ctx_get;
static void (*st_flush)(void);

static const rc_boot_info *st_bi;
static unsigned st_passed, st_failed;

/* Image values: the shadowed-data check expects exactly these at start. */
static uint64_t st_shadow = 0x5348414430303031ull; /* "SHAD0001" */
static uint64_t st_bss;
static const uint64_t st_rom_value = 0x524f4d2d56414c55ull; /* "ROM-VALU" */

int st_init(const rc_boot_info *bi, const rc_module_header *core);
uint64_t st_fault_probe(const rc_boot_info *bi);

static void st_check(int ok, const char *what)
{
    if (ok)
        st_passed++;
    else
        st_failed++;
    st_log(ok ? RC_LOG_INFO : RC_LOG_ERROR, "selftest: %s: %s", ok ? "ok" : "FAIL", what);
}

static uint64_t st_target_addr(const char *label)
{
    return ST_TARGET_CODE + (uint64_t)(label - r3_start);
}

/* Run target code from `entry` until it traps; returns the vector. */
static uint64_t st_run_target(const char *entry, uint64_t rcx, uint64_t rsi, uint64_t rdx)
{
    rc_ctx *c = st_ctx_get(0);
    memset(c, 0, sizeof(*c));
    c->rip = st_target_addr(entry);
    c->rsp = ST_TARGET_STACK;
    c->rflags = 0x2;
    c->rcx = rcx;
    c->rsi = rsi;
    c->rdx = rdx;
    volatile rc_vm_state *vs = (volatile rc_vm_state *)(uintptr_t)(st_bi->state_va + RC_STATE_VM);
    vs->target_runs++;
    return st_run(c);
}

static int st_is_done_trap(const rc_ctx *c, uint64_t vector)
{
    const uint8_t *ip = (const uint8_t *)(uintptr_t)c->rip;
    return vector == 6 && ip[0] == 0x0f && ip[1] == 0x0b && (uint32_t)c->rax == ST_SVC_DONE;
}

static void st_test_rom(void)
{
    volatile uint64_t *alias = (volatile uint64_t *)(uintptr_t)st_bi->rom_alias_va;
    const rc_module_header *core = (const rc_module_header *)(uintptr_t)st_bi->modules[0].ro_va;
    uint64_t before = alias[0];
    st_check((uint32_t)before == RC_MODULE_MAGIC && core->magic == RC_MODULE_MAGIC,
             "rom: the writable alias reads the core's module header");
    alias[0] = 0x5752495454454e21ull; /* the host's ROM slot must drop this */
    uint64_t after = alias[0];
    st_check(after == before && core->magic == RC_MODULE_MAGIC, "rom: a write through the alias left the ROM unchanged");
    st_check(*(volatile const uint64_t *)&st_rom_value == 0x524f4d2d56414c55ull, "rom: module rodata reads its image value");
}

static void st_test_shadow(void)
{
    volatile uint64_t *sh = &st_shadow, *bss = &st_bss;
    st_check(*sh == 0x5348414430303031ull && *bss == 0, "shadow: data starts with the image's values, bss zeroed");
    *sh = 0x5348414430303032ull;
    *bss = 0x425353;
    st_check(*sh == 0x5348414430303032ull && *bss == 0x425353, "shadow: data and bss are writable");
}

static void st_test_mmio2(void)
{
    volatile rc_vm_state *vs = (volatile rc_vm_state *)(uintptr_t)(st_bi->state_va + RC_STATE_VM);
    st_check(vs->magic == RC_VM_STATE_MAGIC && vs->host_cookie == RC_HOST_COOKIE,
             "mmio2: the VM state page holds what the host wrote");
    vs->rc_cookie = RC_RC_COOKIE;
    vs->generation++;
    uint64_t seen = 0;
    int64_t st = st_hc(RC_HC_STATE_CHANGED, 0, 0, 0, 0, 0, &seen, NULL);
    st_check(st == RC_HC_OK && seen == RC_RC_COOKIE, "mmio2: the host read the RC's write to the VM state page");
}

static void st_test_hypercalls(void)
{
    uint64_t r0 = 0, r1 = 0;
    int64_t st = st_hc(RC_HC_TEST, 0x1234, 0x5678, 0xff, 0, 0, &r0, &r1);
    st_check(st == RC_HC_OK && r0 == 0x68ac && r1 == 0x12cb, "hypercall: arguments in, results out");
    st = st_hc(0x7777, 1, 2, 3, 0, 0, NULL, NULL);
    st_check(st == RC_HC_ENOSYS, "hypercall: an unknown call number fails with ENOSYS");
    st = st_hc(RC_HC_DEV_IO, RC_DEV_PIO, 0x3f8, 3, 1, 0, NULL, NULL);
    st_check(st == RC_HC_EINVAL, "hypercall: device access of size 3 refused with EINVAL");
    st = st_hc(RC_HC_DEV_IO, RC_DEV_PIO, RC_HC_PORT, 4, 1, 0, NULL, NULL);
    st_check(st == RC_HC_EINVAL, "hypercall: device access to the hypercall port itself refused");
    st = st_hc(RC_HC_DEV_IO, RC_DEV_MMIO, 0xd0000000, 4, 0, 0, NULL, NULL);
    st_check(st == RC_HC_EFAULT, "hypercall: device access to the RC's own memory refused with EFAULT");
}

static void st_test_device(void)
{
    static const char msg[] = "rc: hello through the forwarded uart\r\n";
    int64_t st = st_hc(RC_HC_DEV_IO, RC_DEV_PIO, 0x3f8, 1, 1, (uint8_t)msg[0], NULL, NULL);
    if (st == RC_HC_ENODEV) {
        st_log(RC_LOG_INFO, "selftest: device: no device at port 0x3f8 (add --device uart16550 to see it)");
        return;
    }
    for (size_t i = 1; st == RC_HC_OK && msg[i]; i++)
        st = st_hc(RC_HC_DEV_IO, RC_DEV_PIO, 0x3f8, 1, 1, (uint8_t)msg[i], NULL, NULL);
    uint64_t lsr = 0;
    int64_t st2 = st_hc(RC_HC_DEV_IO, RC_DEV_PIO, 0x3fd, 1, 0, 0, &lsr, NULL);
    st_check(st == RC_HC_OK && st2 == RC_HC_OK && (lsr & 0x20), "device: writes and a read forwarded to the UART");
}

static void st_test_ring3(void)
{
    rc_ctx *c = st_ctx_get(0);
    uint64_t v = st_run_target(r3_loop, 1000000, 0, 0);
    st_check(st_is_done_trap(c, v) && c->rcx == 0, "ring 3: a 1000000-iteration loop ran and trapped back");
    st_hc(RC_HC_STATE_CHANGED, 0, 0, 0, 0, 0, NULL, NULL);
    v = st_run_target(r3_svc, 20, 0, 0);
    unsigned trips = 0;
    while (v == 6 && !st_is_done_trap(c, v) && trips < 100) {
        trips++;
        c->rip += 2; /* past the ud2: the service is done */
        v = st_run(c);
    }
    st_check(st_is_done_trap(c, v) && trips == 20, "ring 3: 20 ring-3 -> RC -> ring-3 round trips");
}

/* One isolation probe: `entry` must trap with `vector` (and, for #PF, `error`), its access never completing. */
static void st_probe(const char *what, const char *entry, uint64_t addr, uint64_t vector, uint64_t error)
{
    rc_ctx *c = st_ctx_get(0);
    uint64_t v = st_run_target(entry, 0, addr, 0x4241445752495445ull);
    int ok = v == vector && (vector != 14 || (c->error == error && c->cr2 == addr)) && c->rbx == 0x1111;
    if (v != 6) {
        volatile rc_vm_state *vs = (volatile rc_vm_state *)(uintptr_t)(st_bi->state_va + RC_STATE_VM);
        vs->isolation_traps++;
        st_hc(RC_HC_TARGET_TRAP, 0, 0, 0, 0, 0, NULL, NULL);
    }
    char line[120];
    const char *p = "isolation: ";
    size_t n = 0;
    while (*p)
        line[n++] = *p++;
    for (p = what; *p && n < sizeof(line) - 1; p++)
        line[n++] = *p;
    line[n] = '\0';
    st_check(ok, line);
}

static void st_test_isolation(void)
{
    uint64_t core_ro = st_bi->modules[0].ro_va;
    st_probe("ring-3 read of the RC's ROM traps (#PF, user, present)", r3_read, core_ro, 14, 0x5);
    st_probe("ring-3 write to the RC's shadowed data traps (#PF, user, write, present)", r3_write,
             (uint64_t)(uintptr_t)&st_shadow, 14, 0x7);
    st_check(st_shadow == 0x5348414430303032ull, "isolation: the RC's data is unchanged after the ring-3 write");
    st_probe("ring-3 read of the mailbox (MMIO2) traps", r3_read, st_bi->mailbox_va, 14, 0x5);
    st_probe("ring-3 read of the RC's guest-physical address traps (not mapped for the target)", r3_read,
             RC_GPA_MODULES, 14, 0x4);
    st_probe("ring-3 hypercall attempt (out to the hypercall port) traps (#GP)", r3_out, 0, 13, 0);
    /* The control: the same snippet on a target page completes, so the traps above are the protection. */
    rc_ctx *c = st_ctx_get(0);
    uint64_t v = st_run_target(r3_read, 0, ST_TARGET_DATA, 0);
    st_check(st_is_done_trap(c, v) && c->rbx == 0x2222, "isolation: the same read of a target page completes");
}

/* Deliberately fault: a ring-0 read of a page that is never mapped. The host reports it and stops the VM. */
__attribute__((noinline)) uint64_t st_fault_probe(const rc_boot_info *bi)
{
    return *(volatile uint64_t *)(uintptr_t)bi->unmapped_va;
}

static void st_bench(void)
{
    uint64_t n = st_bi->iterations ? st_bi->iterations : 1000;
    st_hc(RC_HC_MARK, 1, 0, 0, 0, 0, NULL, NULL);
    for (uint64_t i = 0; i < n; i++)
        st_hc(RC_HC_NOP, 0, 0, 0, 0, 0, NULL, NULL);
    st_hc(RC_HC_MARK, 2, n, 0, 0, 0, NULL, NULL);

    volatile rc_hcall *slot = (volatile rc_hcall *)(uintptr_t)st_bi->mailbox_va;
    st_hc(RC_HC_MARK, 7, 0, 0, 0, 0, NULL, NULL);
    for (uint64_t i = 0; i < n; i++)
        rc_hc_doorbell(slot, RC_HC_NOP);
    st_hc(RC_HC_MARK, 8, n, 0, 0, 0, NULL, NULL);

    rc_ctx *c = st_ctx_get(0);
    st_hc(RC_HC_MARK, 3, 0, 0, 0, 0, NULL, NULL);
    uint64_t v = st_run_target(r3_svc, n, 0, 0);
    while (v == 6 && (uint32_t)c->rax != ST_SVC_DONE) {
        c->rip += 2;
        v = st_run(c);
    }
    st_hc(RC_HC_MARK, 4, n, 0, 0, 0, NULL, NULL);

    /* The same loop at ring 0, where software KVM emulates every instruction: the unit all RC costs are in. */
    uint64_t r0loops = n * 10;
    st_hc(RC_HC_MARK, 9, 0, 0, 0, 0, NULL, NULL);
    __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(r0loops));
    st_hc(RC_HC_MARK, 10, n * 10, 0, 0, 0, NULL, NULL);

    uint64_t loops = n * 100000;
    st_hc(RC_HC_MARK, 5, 0, 0, 0, 0, NULL, NULL);
    v = st_run_target(r3_loop, loops, 0, 0);
    st_hc(RC_HC_MARK, 6, loops, 0, 0, 0, NULL, NULL);
    if (!st_is_done_trap(c, v))
        st_log(RC_LOG_ERROR, "bench: the ring-3 loop ended with vector %lu at %p", v, (void *)(uintptr_t)c->rip);
}

static int st_import_all(const rc_module_header *core)
{
    st_log = (rc_log_fn)(uintptr_t)rc_import(core, "rc_log");
    st_hc = (rc_hypercall_fn)(uintptr_t)rc_import(core, "rc_hypercall");
    st_run = (rc_ring3_run_fn)(uintptr_t)rc_import(core, "rc_ring3_run");
    st_ctx_get = (rc_ctx_get_fn)(uintptr_t)rc_import(core, "rc_ctx_get");
    st_flush = (void (*)(void))(uintptr_t)rc_import(core, "rc_log_flush");
    return st_log && st_hc && st_run && st_ctx_get && st_flush ? 0 : -1;
}

int st_init(const rc_boot_info *bi, const rc_module_header *core)
{
    st_bi = bi;
    if (st_import_all(core))
        return 3; /* without rc_log there is no way to say more; the host reports the status */
    st_log(RC_LOG_INFO, "selftest: module up, imported 5 exports from %s", core->name);
    if (bi->target_ram < ST_TARGET_DATA + 0x1000) {
        st_log(RC_LOG_ERROR, "selftest: needs at least 4 MiB of target RAM");
        return 1;
    }
    memcpy((void *)(uintptr_t)ST_TARGET_CODE, r3_start, (size_t)(r3_end - r3_start));
    switch (bi->test) {
    case RC_TEST_FAULT:
        st_log(RC_LOG_INFO, "selftest: touching an unmapped RC page at %p", (void *)(uintptr_t)bi->unmapped_va);
        st_flush();
        return (int)st_fault_probe(bi);
    case RC_TEST_STOP:
        st_log(RC_LOG_INFO, "selftest: stopping the VM with status %lu", bi->stop_status);
        st_flush();
        st_hc(RC_HC_STOP, bi->stop_status, 0, 0, 0, 0, NULL, NULL);
        return 1; /* not reached: the host stops the VM */
    case RC_TEST_BENCH:
        st_bench();
        return 0;
    default:
        break;
    }
    st_test_rom();
    st_test_shadow();
    st_test_mmio2();
    st_test_hypercalls();
    st_test_device();
    st_test_ring3();
    st_test_isolation();
    st_log(st_failed ? RC_LOG_ERROR : RC_LOG_INFO, "selftest: %u checks passed, %u failed", st_passed, st_failed);
    return st_failed ? 1 : 0;
}

RC_MODULE("selftest", st_init);
RC_EXPORT(st_init);
RC_EXPORT(st_fault_probe);
