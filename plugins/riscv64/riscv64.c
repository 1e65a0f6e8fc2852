/*
 * riscv64: the RISC-V architecture plugin. A QEMU-virt-compatible machine (RAM at 0x80000000, the CLINT at
 * 0x2000000 (clint.c), the PLIC at 0xc000000 (plic.c), Spike's HTIF mailbox for programs that have one (htif.c);
 * the UART at 0x10000000 and the SiFive test device at 0x100000 are device plugins the board asks the core for by
 * default, vmm_board) and a device tree in RAM (dtb.c, a1 at reset) whose harts (--cpus, up to 8; one runtime
 * and vCPU thread each) are executed by the recompiler library (plugins/recompiler/) in this process (vcpu_run),
 * so no KVM is needed. This file is the glue between the vmm
 * plugin ABI and rv_runtime: options, RAM, the program (loaded by loader.c), the machine's callbacks (device
 * access, interrupt lines, time) and reports.
 *
 * Execution modes, one translator: `exec=inproc` (the default; generated code runs in this process) and
 * `exec=rc`, where generated code runs at ring 3 of a KVM VM under the RC hypervisor (its rvexec module): the
 * RISC-V RAM is the VM's target RAM (user pages, no execute), the code buffer is an MMIO2 region ring 3 may
 * read and execute but not write, the rv_cpu and the ring-3 stack another (read/write, no execute), and ring 3
 * comes back to this plugin through one port the RC's TSS opens to it (RV_RC_PORT). Everything else in the VM
 * belongs to the RC and is supervisor-only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/plugin.h>

#include "bootrom.h"
#include "clint.h"
#include "dtb.h"
#include "htif.h"
#include "loader.h"
#include "plic.h"
#include "rc_host.h"
#include "rv_runtime.h"

/* exec=rc layout, in the range rc_abi.h leaves to a target's plugin. */
#define RV_RC_CODE_GPA RC_GPA_TARGET_REGIONS        /* code buffer, VA == GPA */
#define RV_RC_CODE_SIZE (16ull << 20)
#define RV_RC_CPU_GPA (RV_RC_CODE_GPA + RV_RC_CODE_SIZE) /* rv_cpu, codemap, ring-3 stack */
#define RV_RC_STACK_SIZE 0x10000ull
#define RV_RC_PORT 0x5e8                             /* ring 3 -> this plugin; 4 bytes, beside the RC's 0x5e0 */
#define RV_RC_RAM_MAX (RC_GPA_SYSTEM - RV_RAM_BASE)  /* RISC-V RAM must end below the RC's regions */

extern const unsigned char rc_rvexec_blob[];
extern const size_t rc_rvexec_blob_size;

#define RV64_MAX_HARTS CLINT_MAX_HARTS /* the CLINT's and the device tree's tables; 8 as QEMU's virt per socket */

struct riscv64;

/* One hart: its own runtime (translations, code buffer, codemap) on its own vCPU thread, over the shared RAM. */
typedef struct rv64_hart {
    struct riscv64 *m;
    unsigned index;           /* mhartid, the vCPU's index */
    vmm_vcpu *vcpu;
    rv_runtime *rt;           /* atomic: the PLIC and other harts' IPIs wake it from their threads */
    uint64_t ext_pending;     /* atomic: mip's MEIP/SEIP as the PLIC's contexts 2 * index and 2 * index + 1 set */
} rv64_hart;

struct riscv64 {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    rv64_hart hart[RV64_MAX_HARTS];
    unsigned nharts;
    unsigned trace;
    int emulate_misaligned;
    uint64_t entry, tohost, fromhost;
    int stopped;
    int exec_rc;
    int checking;             /* vm_check: the loader checks the program; RAM does not exist yet */
    rc_host rc;               /* exec=rc: the RC's host end */
    uint8_t *code, *cpu;      /* exec=rc: MMIO2 regions shared with ring 3 */
    uint64_t cpu_size;
    clint clint;
    htif htif;
    plic *plic;               /* device lines arrive here from any thread (irq_line) */
    int dirty_wanted;         /* the engine asked for dirty logging (before the runtime existed, maybe) */
    uint64_t dtb_addr;        /* where vm_load put the device tree: a1 at reset */
    loader_firmware fw;       /* bios=: read by vm_check, loaded by vm_load, then freed */
    int fw_open;
    int fw_boot;              /* a firmware runs: the hart starts in the boot ROM */
    uint8_t *rom;             /* the boot ROM's BOOTROM_SIZE bytes (bootrom.h) */
};

#define RV64_PLIC_CONTEXTS(harts) (2 * (harts)) /* per hart: M-mode and S-mode, numbered as on QEMU's virt */

static int riscv64_start_rc(struct riscv64 *m);
static void riscv64_htif_setup(struct riscv64 *m);
static int riscv64_board_save(void *state, vmm_ssm *ssm);
static int riscv64_board_load(void *state, vmm_ssm *ssm, uint32_t version);
static const vmm_ssm_save_fn riscv64_hart_save_fns[RV64_MAX_HARTS];
static const vmm_ssm_load_fn riscv64_hart_load_fns[RV64_MAX_HARTS];
#define RV64_BOARD_VERSION 1
#define RV64_HART_VERSION 1

static int riscv64_parse_trace(const char *s, unsigned *out)
{
    *out = 0;
    while (s && *s) {
        size_t n = strcspn(s, "+:");
        if (n == 6 && !strncmp(s, "in_asm", n))
            *out |= RV_TRACE_IN_ASM;
        else if (n == 7 && !strncmp(s, "out_asm", n))
            *out |= RV_TRACE_OUT_ASM;
        else if (n == 4 && !strncmp(s, "exec", n))
            *out |= RV_TRACE_EXEC;
        else if (n == 4 && !strncmp(s, "prof", n))
            *out |= RV_TRACE_PROF;
        else if (n != 0)
            return -1;
        s += n;
        if (*s)
            s++;
    }
    return 0;
}

/* The PLIC's output for one context changed (under its lock, on whatever thread raised a line or claimed). */
static void riscv64_plic_notify(void *opaque, unsigned context, int level)
{
    struct riscv64 *m = opaque;
    uint64_t bit = 1ull << (context % 2 ? RV_IRQ_SEI : RV_IRQ_MEI);
    rv64_hart *hart = &m->hart[context / 2 % RV64_MAX_HARTS];
    if (level)
        __atomic_fetch_or(&hart->ext_pending, bit, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_and(&hart->ext_pending, ~bit, __ATOMIC_SEQ_CST);
    rv_runtime *rt = __atomic_load_n(&hart->rt, __ATOMIC_ACQUIRE);
    if (level && rt)
        rv_runtime_wake(rt);
}

static int riscv64_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    struct riscv64 *m = state;
    m->inst = inst;
    m->hlp = hlp;
    if (riscv64_parse_trace(hlp->opt_string(inst, "trace"), &m->trace)) {
        hlp->log(inst, VMM_LOG_ERROR, "trace=%s: use in_asm, out_asm, exec and prof, joined with '+'",
                 hlp->opt_string(inst, "trace"));
        return -1;
    }
    const char *mis = hlp->opt_string(inst, "misaligned");
    if (strcmp(mis, "trap") && strcmp(mis, "emulate")) {
        hlp->log(inst, VMM_LOG_ERROR, "misaligned=%s: use trap or emulate", mis);
        return -1;
    }
    m->emulate_misaligned = !strcmp(mis, "emulate");
    const char *exec = hlp->opt_string(inst, "exec");
    if (exec && strcmp(exec, "inproc") != 0 && strcmp(exec, "rc") != 0) {
        hlp->log(inst, VMM_LOG_ERROR, "exec=%s: use inproc (in this process) or rc (inside a KVM VM, at ring 3 "
                 "under the RC hypervisor)", exec);
        return -1;
    }
    /* --accel picks the engine, exec= where translated code runs; they must agree (kvm is exec=rc). */
    const char *accel = VMM_HELPERS_HAVE(hlp, 4) ? hlp->vm_accel(inst) : NULL;
    if (exec && accel && (strcmp(exec, "rc") == 0) != (strcmp(accel, "kvm") == 0)) {
        hlp->log(inst, VMM_LOG_ERROR, "exec=%s and --accel %s disagree: exec=rc runs on the kvm engine, exec=inproc "
                 "on the inproc engine (give one of them)", exec, accel);
        return -1;
    }
    m->exec_rc = exec ? !strcmp(exec, "rc") : accel && !strcmp(accel, "kvm");
    m->nharts = hlp->vcpu_count(inst);
    if (m->nharts > RV64_MAX_HARTS)
        m->nharts = RV64_MAX_HARTS; /* vm_check refuses more */
    if (m->nharts == 0)
        m->nharts = 1;
    m->plic = plic_new(RV64_PLIC_CONTEXTS(m->nharts), riscv64_plic_notify, m);
    m->rom = calloc(1, BOOTROM_SIZE);
    if (!m->plic || !m->rom) {
        hlp->log(inst, VMM_LOG_ERROR, "out of memory for the PLIC and the boot ROM");
        return -1;
    }
    if (!m->exec_rc) {
        if (hlp->ssm_register(inst, "riscv64", 0, RV64_BOARD_VERSION, riscv64_board_save, riscv64_board_load))
            return -1;
        for (unsigned i = 0; i < m->nharts; i++) /* one unit instance per hart, instance = mhartid */
            if (hlp->ssm_register(inst, "riscv64-hart", i, RV64_HART_VERSION, riscv64_hart_save_fns[i],
                                  riscv64_hart_load_fns[i]))
                return -1;
    }
    m->rc.inst = inst;
    m->rc.hlp = hlp;
    m->rc.builtin_image = rc_rvexec_blob;
    m->rc.builtin_image_size = rc_rvexec_blob_size;
    return 0;
}

static void riscv64_destruct(vmm_instance *inst, void *state)
{
    struct riscv64 *m = state;
    if (m->hart[0].rt && m->exec_rc && m->hlp->stats_enabled(inst)) {
        uint64_t v[4];
        rv_runtime_vm_stats(m->hart[0].rt, v);
        fprintf(stderr, "riscv64: exec=rc exits to vmm: %" PRIu64 " dispatch, %" PRIu64 " load, %" PRIu64 " store, %"
                PRIu64 " interpreter\n", v[0], v[1], v[2], v[3]);
    }
    for (unsigned i = 0; i < RV64_MAX_HARTS; i++) {
        rv_runtime *rt = m->hart[i].rt;
        if (rt && m->hlp->stats_enabled(inst)) {
            uint64_t n, blocks, flushes, chains, repins;
            char pinned[64], who[24] = "";
            if (m->nharts > 1)
                snprintf(who, sizeof(who), " hart %u", i);
            uint64_t kept, unread;
            rv_runtime_stats(rt, &n, &blocks, &flushes, &chains, &repins, pinned, sizeof(pinned));
            rv_runtime_fencei_stats(rt, &kept, &unread);
            fprintf(stderr, "riscv64%s: %" PRIu64 " guest instructions, %" PRIu64 " blocks translated, %" PRIu64
                    " flushes, %" PRIu64 " chains, %" PRIu64 " re-pins, pinned %s, fence.i kept the blocks %" PRIu64
                    " times (%" PRIu64 " without comparing pages)\n", who, n, blocks, flushes, chains, repins, pinned,
                    kept, unread);
        }
        rv_runtime_free(rt);
        m->hart[i].rt = NULL;
    }
    plic_free(m->plic);
    m->plic = NULL;
    free(m->rom);
    m->rom = NULL;
    loader_firmware_close(&m->fw);
    if (m->exec_rc) {
        if (m->rc.log)
            rc_log_drain(&m->rc);
        rc_image_free(&m->rc);
    }
}

static void riscv64_hc_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    struct riscv64 *m = state;
    rc_hc_port_write(&m->rc, offset, size, val);
}

/* Ring 3's way back: the RV_VMX_* code in eax. */
static void riscv64_vmx_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    struct riscv64 *m = state;
    if (offset != 0 || size != 4 || !m->hart[0].rt) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "exec=rc: a %u-byte write to port 0x%" PRIx64 " is not a ring-3 exit",
                    size, RV_RC_PORT + offset);
        m->hlp->vm_stop(m->inst, 1);
        return;
    }
    rv_runtime_vm_exit(m->hart[0].rt, (uint32_t)val);
}

static int riscv64_vm_create_rc(struct riscv64 *m, uint64_t size)
{
    const vmm_helpers *hlp = m->hlp;
    rc_host *h = &m->rc;
    if (size > RV_RC_RAM_MAX) {
        hlp->log(m->inst, VMM_LOG_ERROR, "--mem: exec=rc takes at most %llu MiB of RISC-V RAM (it must end below the "
                 "RC's regions at 0x%llx)", RV_RC_RAM_MAX >> 20, RC_GPA_SYSTEM);
        return -1;
    }
    void *code, *cpu;
    m->cpu_size = (rv_runtime_vm_cpu_bytes(size) + RV_RC_STACK_SIZE + 0x1fffff) & ~0x1fffffull;
    if (hlp->mem_map_ram(m->inst, RV_RAM_BASE, size, "ram") || rc_map_regions(h) ||
        hlp->mem_map_mmio2(m->inst, RV_RC_CODE_GPA, RV_RC_CODE_SIZE, "rv-code", &code) ||
        hlp->mem_map_mmio2(m->inst, RV_RC_CPU_GPA, m->cpu_size, "rv-cpu", &cpu) ||
        hlp->pio_register(m->inst, RC_HC_PORT, 4, NULL, riscv64_hc_write) ||
        hlp->pio_register(m->inst, RV_RC_PORT, 4, NULL, riscv64_vmx_write) ||
        rc_image_load(h, NULL) || rc_image_map(h))
        return -1;
    m->code = code;
    m->cpu = cpu;
    h->ram_gpa = RV_RAM_BASE;
    h->ram = size;
    h->ram_executable = 0;
    h->uregions[0] = (rc_user_region){ RV_RC_CODE_GPA, RV_RC_CODE_GPA, RV_RC_CODE_SIZE, 0, 1, "translated code" };
    h->uregions[1] = (rc_user_region){ RV_RC_CPU_GPA, RV_RC_CPU_GPA, m->cpu_size, 1, 0, "RISC-V CPU state and stack" };
    h->nuregions = 2;
    h->r3_port = RV_RC_PORT;
    h->r3_port_count = 4;
    return 0;
}

static int riscv64_vm_create(vmm_instance *inst, void *state)
{
    struct riscv64 *m = state;
    uint64_t size = m->hlp->mem_ram_size(inst);
    if (size % 4096 || size == 0 || size > (1ull << 40)) {
        m->hlp->log(inst, VMM_LOG_ERROR, "--mem must be a non-zero multiple of 4 KiB");
        return -1;
    }
    if (m->exec_rc)
        return riscv64_vm_create_rc(m, size);
    return m->hlp->mem_map_ram(inst, RV_RAM_BASE, size, "ram");
}

/* The initrd where QEMU's virt puts it (far enough above the kernel that a kernel decompressing itself does not
 * clobber it: half of RAM, at most 128 MiB), into RAM unless checking. start and end stay 0 without one. */
static int riscv64_place_initrd(struct riscv64 *m, const vmm_image *images, unsigned nimages,
                                const loader_program *prog, uint64_t *start, uint64_t *end)
{
    uint64_t ram = m->hlp->mem_ram_size(m->inst);
    *start = *end = 0;
    for (unsigned i = 0; i < nimages; i++) {
        const vmm_image *img = &images[i];
        if (img->role != VMM_IMAGE_INITRD)
            continue;
        uint64_t at = (prog->next_addr + (ram / 2 < (128ull << 20) ? ram / 2 : 128ull << 20) + 4095) & ~4095ull;
        if (at < prog->end)
            at = (prog->end + 4095) & ~4095ull;
        if (at < RV_RAM_BASE || at - RV_RAM_BASE > ram || img->size > ram - (at - RV_RAM_BASE)) {
            m->hlp->log(m->inst, VMM_LOG_ERROR, "--initrd %s: %zu bytes do not fit in RAM above the kernel (at 0x%"
                        PRIx64 "; --mem)", img->path, img->size, at);
            return -1;
        }
        if (!m->checking && m->hlp->mem_write(m->inst, at, img->data, img->size))
            return -1;
        *start = at;
        *end = at + img->size;
    }
    return 0;
}

/* Where the device tree goes: like QEMU, 2 MiB-aligned below the end of RAM (or 3 GiB), else 4 KiB-aligned
 * there when RAM is too small for that, never over the kernel or the initrd. 0 when it does not fit. */
static uint64_t riscv64_dtb_place(uint64_t ram, uint64_t size, uint64_t used_end)
{
    uint64_t top = RV_RAM_BASE + ram;
    if (top > (3ull << 30))
        top = 3ull << 30;
    for (uint64_t align = 2ull << 20; align >= 4096; align = align == 4096 ? 0 : 4096) {
        if (size > top - RV_RAM_BASE)
            return 0;
        uint64_t at = (top - size) & ~(align - 1);
        if (at >= RV_RAM_BASE && at >= used_end)
            return at;
    }
    return 0;
}

static int riscv64_vm_load(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    struct riscv64 *m = state;
    const vmm_helpers *h = m->hlp;
    loader_program prog;
    uint64_t initrd_start, initrd_end;
    if (!m->fw_open && loader_firmware_open(inst, h, h->opt_string(inst, "bios"), images, nimages, &m->fw))
        return -1;
    m->fw_open = 1;
    if (loader_load(inst, h, images, nimages, &m->fw, m->checking, &prog) ||
        riscv64_place_initrd(m, images, nimages, &prog, &initrd_start, &initrd_end))
        return -1;
    m->entry = prog.entry;
    m->fw_boot = prog.firmware;
    m->tohost = prog.tohost;
    m->fromhost = prog.fromhost;
    uint64_t ram = h->mem_ram_size(inst);
    dtb_input in = { .harts = m->nharts, .ram_base = RV_RAM_BASE,
                     .ram_size = ram, .misa = RV_MISA, .timebase_hz = CLINT_HZ,
                     .clint_base = CLINT_BASE, .clint_size = CLINT_SIZE, .plic_base = PLIC_BASE,
                     .plic_size = PLIC_SIZE(RV64_PLIC_CONTEXTS(m->nharts)), .plic_sources = PLIC_SOURCES,
                     .bootargs = h->vm_cmdline(inst), .initrd_start = initrd_start, .initrd_end = initrd_end };
    void *blob;
    size_t len;
    if (dtb_build(inst, h, &in, &blob, &len))
        return -1;
    uint64_t used = prog.end > initrd_end ? prog.end : initrd_end;
    m->dtb_addr = riscv64_dtb_place(ram, len, used);
    int r = 0;
    if (!m->dtb_addr) {
        h->log(inst, VMM_LOG_ERROR, "--mem: no room for the device tree (%zu bytes) above the program and initrd, "
               "which end at 0x%" PRIx64, len, used);
        r = -1;
    } else if (!m->checking) {
        r = h->mem_write(inst, m->dtb_addr, blob, len);
        const char *dump = h->opt_string(inst, "dtb-dump");
        FILE *f = dump ? fopen(dump, "wb") : NULL;
        if (dump && (!f || fwrite(blob, 1, len, f) != len || fclose(f))) {
            h->log(inst, VMM_LOG_ERROR, "dtb-dump=%s: cannot write it", dump);
            if (f)
                fclose(f);
            r = -1;
        }
        h->log(inst, VMM_LOG_DEBUG, "device tree: %zu bytes at 0x%" PRIx64, len, m->dtb_addr);
    }
    free(blob);
    if (r)
        return -1;
    bootrom_build(m->rom, prog.entry, m->dtb_addr, prog.next_addr, BOOTROM_NEXT_MODE_S);
    if (!m->checking)
        loader_firmware_close(&m->fw); /* in RAM now */
    return m->exec_rc && !m->checking ? riscv64_start_rc(m) : 0;
}

/* Before any host resource: the machine's limits, and the program as vm_load will place it. In process, the
 * hart needs no host driver; exec=rc runs it in a KVM VM. */
static int riscv64_vm_check(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    struct riscv64 *m = state;
    uint64_t size = m->hlp->mem_ram_size(inst);
    unsigned cpus = m->hlp->vcpu_count(inst);
    if (cpus < 1 || cpus > RV64_MAX_HARTS) {
        m->hlp->log(inst, VMM_LOG_ERROR, "--cpus %u: this board has 1 to %u harts (the CLINT's and the PLIC's layout "
                    "as on QEMU's virt, one socket)", cpus, RV64_MAX_HARTS);
        return -1;
    }
    if (m->exec_rc && cpus != 1) {
        m->hlp->log(inst, VMM_LOG_ERROR, "--cpus %u: exec=rc runs one hart only (use exec=inproc, the default, for "
                    "several)", cpus);
        return -1;
    }
    if (size % 4096 || size == 0 || size > (1ull << 40)) {
        m->hlp->log(inst, VMM_LOG_ERROR, "--mem: RAM must be a non-zero multiple of 4 KiB, at most 1 TiB");
        return -1;
    }
    if (m->exec_rc && size > RV_RC_RAM_MAX) {
        m->hlp->log(inst, VMM_LOG_ERROR, "--mem: exec=rc takes at most %llu MiB of RISC-V RAM (it must end below the "
                    "RC's regions at 0x%llx)", RV_RC_RAM_MAX >> 20, RC_GPA_SYSTEM);
        return -1;
    }
    if (!images)
        return m->exec_rc;
    m->checking = 1;
    int r = riscv64_vm_load(inst, state, images, nimages);
    m->checking = 0;
    m->entry = 0;
    m->fw_boot = 0;
    m->tohost = m->fromhost = 0;
    m->dtb_addr = 0;
    return r ? -1 : m->exec_rc;
}

/* ---- Machine callbacks for the runtime ---------------------------------------------------------------- */

static int riscv64_mmio(void *opaque, uint64_t addr, unsigned size, int is_write, uint64_t *val)
{
    rv64_hart *hart = opaque;
    struct riscv64 *m = hart->m;
    if (addr - BOOTROM_BASE < BOOTROM_SIZE) {
        /* Reads within the ROM see its bytes; writes are dropped, as on QEMU's virt. */
        if (size > BOOTROM_SIZE - (addr - BOOTROM_BASE))
            return -1;
        if (!is_write) {
            uint64_t v = 0;
            for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)m->rom[addr - BOOTROM_BASE + i] << (8 * i);
            *val = v;
        }
        return 0;
    }
    if (addr - CLINT_BASE < CLINT_SIZE) {
        int target = clint_access(&m->clint, addr - CLINT_BASE, size, is_write, val);
        rv_runtime *rt = target >= 0 ? __atomic_load_n(&m->hart[target].rt, __ATOMIC_ACQUIRE) : NULL;
        if (rt && (unsigned)target != hart->index)
            rv_runtime_wake(rt); /* an IPI or its new mtimecmp: out of WFI at once */
        return is_write; /* a new mtimecmp or msip: the hart looks at its interrupts again */
    }
    if (addr - PLIC_BASE < PLIC_SIZE(RV64_PLIC_CONTEXTS(m->nharts))) {
        if (is_write)
            plic_write(m->plic, addr - PLIC_BASE, size, *val);
        else
            *val = plic_read(m->plic, addr - PLIC_BASE, size);
        return 1; /* a claim, a completion, an enable or a threshold may change MEIP */
    }
    uint8_t data[8];
    memcpy(data, val, 8);
    int r = m->hlp->io_dispatch(hart->vcpu, 1, addr, size, is_write, data);
    if (!is_write) {
        uint64_t v = 0;
        memcpy(&v, data, size);
        *val = v;
    }
    return r;
}

static int riscv64_should_return(void *opaque)
{
    rv64_hart *hart = opaque;
    return hart->m->hlp->vcpu_should_return(hart->vcpu);
}

static void riscv64_print_line(void *opaque, const char *line)
{
    (void)opaque;
    fprintf(stderr, "  %s\n", line);
}

/* The guest stopped, or `hart` cannot continue (its registers are dumped with status 1). */
static void riscv64_halt(struct riscv64 *m, rv64_hart *hart, int status, const char *why)
{
    if (why) {
        if (m->nharts > 1 && hart)
            m->hlp->log(m->inst, VMM_LOG_ERROR, "hart %u: %s", hart->index, why);
        else
            m->hlp->log(m->inst, VMM_LOG_ERROR, "%s", why);
        if (status == 1 && hart && hart->rt)
            rv_runtime_dump(hart->rt, riscv64_print_line, m);
    }
    __atomic_store_n(&m->stopped, 1, __ATOMIC_RELEASE); /* read by every hart's thread */
    m->hlp->vm_stop(m->inst, status);
}

static void riscv64_stop(void *opaque, int status, const char *why)
{
    rv64_hart *hart = opaque;
    riscv64_halt(hart->m, hart, status, why);
}

/* HTIF's exit (the hart that wrote tohost is not known here: hart 0's registers, as with one hart). */
static void riscv64_htif_exit(void *opaque, int status, const char *why)
{
    struct riscv64 *m = opaque;
    riscv64_halt(m, &m->hart[0], status, why);
}

static void riscv64_console(void *opaque, const void *buf, size_t len)
{
    struct riscv64 *m = opaque;
    m->hlp->console_write(m->inst, buf, len);
}

static uint64_t riscv64_irq_pending(void *opaque)
{
    rv64_hart *hart = opaque;
    return clint_pending(&hart->m->clint, hart->index) | __atomic_load_n(&hart->ext_pending, __ATOMIC_ACQUIRE);
}

/* A device's interrupt line (irq_set), on any thread: into the PLIC as source `line`. */
static int riscv64_irq_line(vmm_instance *inst, void *state, uint32_t line, int level)
{
    struct riscv64 *m = state;
    if (plic_set_line(m->plic, line, level)) {
        m->hlp->log(inst, VMM_LOG_WARN, "interrupt line %u: the PLIC has sources 1 to %u", line, PLIC_SOURCES - 1);
        return -1;
    }
    return 0;
}

static uint64_t riscv64_irq_wait_ns(void *opaque)
{
    rv64_hart *hart = opaque;
    return clint_wait_ns(&hart->m->clint, hart->index);
}

static uint64_t riscv64_time(void *opaque)
{
    rv64_hart *hart = opaque;
    return clint_mtime(&hart->m->clint);
}

static int riscv64_store_watch(void *opaque, uint64_t addr, unsigned size)
{
    rv64_hart *hart = opaque;
    (void)addr;
    (void)size;
    return htif_tohost_written(&hart->m->htif);
}

/* HTIF writes guest RAM through the plugin's own pointer: taking a writable pointer again is how the core hears of
 * it (its dirty-page log for device writes). */
static void riscv64_htif_wrote(void *opaque, uint64_t addr, uint64_t len)
{
    struct riscv64 *m = opaque;
    (void)m->hlp->mem_ptr(m->inst, addr, len, 1);
}

/* The mailbox at the program's tohost/fromhost, if it has one (after vm_load, or a restore), watched by every
 * hart's runtime that exists. */
static void riscv64_htif_setup(struct riscv64 *m)
{
    if (!m->tohost)
        return;
    uint64_t size = m->hlp->mem_ram_size(m->inst);
    m->htif = (htif){ .ram = m->hlp->mem_ptr(m->inst, RV_RAM_BASE, size, 1), .ram_base = RV_RAM_BASE,
                      .ram_size = size, .tohost = m->tohost, .fromhost = m->fromhost,
                      .ops = { .opaque = m, .console = riscv64_console, .exit = riscv64_htif_exit,
                               .wrote = riscv64_htif_wrote } };
    /* A mailbox outside RAM stays silent, as it would on Spike. */
    for (unsigned i = 0; i < m->nharts; i++)
        if (m->htif.ram && m->hart[i].rt && rv_runtime_watch(m->hart[i].rt, m->tohost, 8))
            m->hlp->log(m->inst, VMM_LOG_DEBUG, "HTIF tohost 0x%" PRIx64 " is not inside RAM: no HTIF", m->tohost);
}

/* One hart: only devices write RAM behind its back, and the core counts their writes (SDK 1.8). */
static uint64_t riscv64_ram_writes(void *opaque)
{
    const rv64_hart *h = opaque;
    return h->m->hlp->mem_write_count(h->m->inst);
}

/* The machine's callbacks for one hart's runtime (in process or exec=rc). */
static rv_machine_ops riscv64_hart_ops(const struct riscv64 *m, rv64_hart *hart)
{
    rv_machine_ops ops = {
        .opaque = hart, .mmio = riscv64_mmio, .should_return = riscv64_should_return, .stop = riscv64_stop,
        .irq_pending = riscv64_irq_pending, .irq_wait_ns = riscv64_irq_wait_ns, .time = riscv64_time,
        .store_watch = riscv64_store_watch,
    };
    if (m->nharts == 1 && VMM_HELPERS_HAVE(m->hlp, 8) && m->hlp->mem_write_count)
        ops.ram_writes = riscv64_ram_writes;
    return ops;
}

/* exec=rc: the runtime over the shared regions, then the RC's start state with the ring-3 entry stub. */
static int riscv64_start_rc(struct riscv64 *m)
{
    char err[256];
    uint64_t size = m->hlp->mem_ram_size(m->inst);
    uint8_t *ram = m->hlp->mem_ptr(m->inst, RV_RAM_BASE, size, 1);
    if (!ram) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "guest RAM is not one host mapping");
        return -1;
    }
    m->hart[0] = (rv64_hart){ .m = m, .index = 0 };
    rv_machine_ops ops = riscv64_hart_ops(m, &m->hart[0]);
    rv_vm_layout lay = { .ram = ram, .ram_size = size, .ram_va = RV_RAM_BASE, .cpu_host = m->cpu,
                         .cpu_va = RV_RC_CPU_GPA, .cpu_size = m->cpu_size - RV_RC_STACK_SIZE, .code_host = m->code,
                         .code_va = RV_RC_CODE_GPA, .code_size = RV_RC_CODE_SIZE, .port = RV_RC_PORT };
    rv_runtime *rt = rv_runtime_new_vm(&lay, &ops, m->trace, err, sizeof(err));
    __atomic_store_n(&m->hart[0].rt, rt, __ATOMIC_RELEASE); /* the PLIC may wake it from another thread */
    if (!rt) {
        m->hlp->log(m->inst, VMM_LOG_ERROR, "%s", err);
        return -1;
    }
    m->rc.target_entry = rv_runtime_vm_entry(rt);
    m->rc.target_stack = RV_RC_CPU_GPA + m->cpu_size;
    return rc_boot_build(&m->rc);
}

static int riscv64_vcpu_init(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    struct riscv64 *m = state;
    char err[256];
    unsigned index = m->hlp->vcpu_index(vcpu);
    if (index >= m->nharts) {
        m->hlp->log(inst, VMM_LOG_ERROR, "vCPU %u: the board has %u harts", index, m->nharts);
        return -1;
    }
    rv64_hart *hart = &m->hart[index];
    hart->m = m;
    hart->index = index;
    hart->vcpu = vcpu;
    if (!m->exec_rc) {
        uint64_t size = m->hlp->mem_ram_size(inst);
        uint8_t *ram = m->hlp->mem_ptr(inst, RV_RAM_BASE, size, 1);
        if (!ram) {
            m->hlp->log(inst, VMM_LOG_ERROR, "guest RAM is not one host mapping");
            return -1;
        }
        rv_machine_ops ops = riscv64_hart_ops(m, hart);
        rv_runtime *rt = rv_runtime_new(ram, size, &ops, m->trace, err, sizeof(err));
        if (!rt) {
            m->hlp->log(inst, VMM_LOG_ERROR, "%s", err);
            return -1;
        }
        rv_runtime_set_hartid(rt, index);
        __atomic_store_n(&hart->rt, rt, __ATOMIC_RELEASE); /* the PLIC and other harts may wake it */
    } else if (!hart->rt || rc_vcpu_start(&m->rc, vcpu)) {
        return -1;
    }
    if (!m->exec_rc && m->dirty_wanted && rv_runtime_dirty_start(hart->rt)) {
        m->hlp->log(inst, VMM_LOG_ERROR, "out of memory for the dirty-page log");
        return -1;
    }
    if (index == 0) /* vcpu_init runs for hart 0 first, before any hart runs */
        clint_init(&m->clint, m->nharts);
    if (m->tohost) {
        uint64_t size = m->hlp->mem_ram_size(inst);
        m->htif = (htif){ .ram = m->hlp->mem_ptr(inst, RV_RAM_BASE, size, 1), .ram_base = RV_RAM_BASE,
                          .ram_size = size, .tohost = m->tohost, .fromhost = m->fromhost,
                          .ops = { .opaque = m, .console = riscv64_console, .exit = riscv64_htif_exit,
                                   .wrote = riscv64_htif_wrote } };
        if (m->htif.ram && rv_runtime_watch(hart->rt, m->tohost, 8))
            m->hlp->log(inst, VMM_LOG_DEBUG, "HTIF tohost 0x%" PRIx64 " is not inside RAM: no HTIF", m->tohost);
    }
    rv_runtime_set_misaligned(hart->rt, m->emulate_misaligned);
    if (rv_runtime_map_rom(hart->rt, BOOTROM_BASE, m->rom, BOOTROM_SIZE))
        return -1;
    rv_cpu *c = rv_runtime_cpu(hart->rt);
    /* With firmware, every hart starts in the boot ROM, whose reset code sets a0-a2 (a0 from mhartid) and jumps to
     * it (firmware picks a boot hart by lottery); a bare-metal program starts at once on every hart with a0 and a1
     * as that code would pass them, as on QEMU's virt. */
    c->pc = m->fw_boot ? BOOTROM_BASE : m->entry;
    c->x[10] = index;
    c->x[11] = m->fw_boot ? 0 : m->dtb_addr;
    m->hlp->log(inst, VMM_LOG_DEBUG, "hart %u: entry 0x%" PRIx64 ", device tree 0x%" PRIx64 "%s", index,
                m->fw_boot ? (uint64_t)BOOTROM_BASE : m->entry, m->dtb_addr, m->tohost ? ", HTIF tohost" : "");
    return 0;
}

static vmm_exit_action riscv64_vcpu_run(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    struct riscv64 *m = state;
    (void)inst;
    /* Only the inproc engine calls this: with exec=rc the kvm engine runs the RC, and ring 3 exits come to
     * riscv64_vmx_write. */
    if (__atomic_load_n(&m->stopped, __ATOMIC_ACQUIRE))
        return VMM_ACTION_RESUME; /* the stop request is on its way: the core returns */
    rv_runtime_run(m->hart[m->hlp->vcpu_index(vcpu) % RV64_MAX_HARTS].rt);
    return VMM_ACTION_RESUME;
}

static vmm_exit_action riscv64_vcpu_exit(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    struct riscv64 *m = state;
    if (m->exec_rc)
        return rc_vcpu_exit(&m->rc, vcpu, exit);
    m->hlp->log(inst, VMM_LOG_ERROR, "unexpected host-driver exit %u", (unsigned)exit->reason);
    return VMM_ACTION_STOP;
}

static void riscv64_vcpu_dump(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    struct riscv64 *m = state;
    (void)inst;
    rv_runtime *rt = m->hart[m->hlp->vcpu_index(vcpu) % RV64_MAX_HARTS].rt;
    if (rt)
        rv_runtime_dump(rt, riscv64_print_line, m);
    if (m->exec_rc)
        rc_dump(&m->rc, vcpu, "exec=rc: the VM's vCPU");
}

/* The inproc engine's dirty log (SDK 1.5): the recompiler records the pages the hart writes; the core records
 * what devices and HTIF write. Only called with the hart stopped. */
static int riscv64_dirty_log(vmm_instance *inst, void *state, uint64_t gpa, uint64_t len, uint64_t *bitmap)
{
    struct riscv64 *m = state;
    uint64_t ram = m->hlp->mem_ram_size(inst);
    if (m->exec_rc || gpa < RV_RAM_BASE || gpa - RV_RAM_BASE > ram || len > ram - (gpa - RV_RAM_BASE) ||
        (gpa | len) & 4095)
        return -1;
    int r = 0;
    if (!bitmap)
        m->dirty_wanted = 1;
    /* Every hart records its own writes; a hart not set up yet wrote nothing. */
    for (unsigned i = 0; i < m->nharts; i++)
        if (m->hart[i].rt)
            r |= bitmap ? rv_runtime_dirty_collect(m->hart[i].rt, (gpa - RV_RAM_BASE) >> 12, len >> 12, bitmap)
                        : rv_runtime_dirty_start(m->hart[i].rt);
    return r ? -1 : 0;
}

/* ---- Saved state ------------------------------------------------------------------------------------------
 * Two units: "riscv64" (the board: what the program was, the CLINT, the PLIC) and "riscv64-hart" per hart (the
 * architectural registers). Translations are never saved: the restored hart translates afresh. Saved only in
 * process (exec=rc registers no unit, so its saves are refused: ring 3 keeps guest registers in host registers
 * between exits, where a pause can find them). */

/* The board keeps version 1's layout: hart 0's mtimecmp and msip where the one hart's were, the PLIC's enables and
 * thresholds for all 2 * harts contexts, and the other harts' mtimecmp/msip in an optional section "harts". */
static int riscv64_board_save(void *state, vmm_ssm *ssm)
{
    struct riscv64 *m = state;
    const vmm_helpers *h = m->hlp;
    uint32_t enable[RV64_PLIC_CONTEXTS(RV64_MAX_HARTS) * PLIC_SOURCES / 32];
    uint32_t threshold[RV64_PLIC_CONTEXTS(RV64_MAX_HARTS)];
    unsigned contexts = RV64_PLIC_CONTEXTS(m->nharts);
    plic_state ps = { .enable = enable, .threshold = threshold };
    plic_save(m->plic, &ps);
    h->ssm_put_u64(ssm, RV_MISA);
    h->ssm_put_u64(ssm, m->nharts);
    h->ssm_put_u64(ssm, h->mem_ram_size(m->inst));
    h->ssm_put_u64(ssm, m->tohost);
    h->ssm_put_u64(ssm, m->fromhost);
    h->ssm_put_u64(ssm, clint_mtime(&m->clint));
    h->ssm_put_u64(ssm, __atomic_load_n(&m->clint.mtimecmp[0], __ATOMIC_ACQUIRE));
    h->ssm_put_u64(ssm, __atomic_load_n(&m->clint.msip[0], __ATOMIC_ACQUIRE));
    h->ssm_put_bytes(ssm, ps.priority, sizeof(ps.priority));
    h->ssm_put_bytes(ssm, ps.level, sizeof(ps.level));
    h->ssm_put_bytes(ssm, ps.pending, sizeof(ps.pending));
    h->ssm_put_bytes(ssm, ps.claimed, sizeof(ps.claimed));
    h->ssm_put_bytes(ssm, enable, contexts * PLIC_SOURCES / 32 * sizeof(uint32_t));
    int r = h->ssm_put_bytes(ssm, threshold, contexts * sizeof(uint32_t));
    if (m->nharts > 1) {
        h->ssm_put_optional(ssm, "harts");
        for (unsigned i = 1; i < m->nharts; i++) {
            h->ssm_put_u64(ssm, __atomic_load_n(&m->clint.mtimecmp[i], __ATOMIC_ACQUIRE));
            h->ssm_put_u64(ssm, __atomic_load_n(&m->clint.msip[i], __ATOMIC_ACQUIRE));
        }
        r = h->ssm_end_optional(ssm);
    }
    if (r)
        return r;
    /* The boot ROM came after version 1 (its bytes depend on the images, which a restore does not load). */
    h->ssm_put_optional(ssm, "bootrom");
    h->ssm_put_bytes(ssm, m->rom, BOOTROM_USED);
    return h->ssm_end_optional(ssm);
}

static int riscv64_board_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    struct riscv64 *m = state;
    const vmm_helpers *h = m->hlp;
    if (version != RV64_BOARD_VERSION)
        return h->ssm_fail(ssm, "board state version %u; this riscv64 reads version %u", version, RV64_BOARD_VERSION);
    uint64_t misa, harts, ram, tohost, fromhost, mtime, mtimecmp[RV64_MAX_HARTS], msip[RV64_MAX_HARTS];
    uint32_t enable[RV64_PLIC_CONTEXTS(RV64_MAX_HARTS) * PLIC_SOURCES / 32];
    uint32_t threshold[RV64_PLIC_CONTEXTS(RV64_MAX_HARTS)];
    unsigned contexts = RV64_PLIC_CONTEXTS(m->nharts);
    plic_state ps = { .enable = enable, .threshold = threshold };
    if (h->ssm_get_u64(ssm, &misa) || h->ssm_get_u64(ssm, &harts))
        return -1;
    /* The hart count first: the PLIC's tables below are as long as it says. */
    if (harts != m->nharts)
        return h->ssm_fail(ssm, "saved with %" PRIu64 " harts, configured with %u (--cpus)", harts, m->nharts);
    if (h->ssm_get_u64(ssm, &ram) || h->ssm_get_u64(ssm, &tohost) || h->ssm_get_u64(ssm, &fromhost) ||
        h->ssm_get_u64(ssm, &mtime) || h->ssm_get_u64(ssm, &mtimecmp[0]) || h->ssm_get_u64(ssm, &msip[0]) ||
        h->ssm_get_bytes(ssm, ps.priority, sizeof(ps.priority)) || h->ssm_get_bytes(ssm, ps.level, sizeof(ps.level)) ||
        h->ssm_get_bytes(ssm, ps.pending, sizeof(ps.pending)) ||
        h->ssm_get_bytes(ssm, ps.claimed, sizeof(ps.claimed)) ||
        h->ssm_get_bytes(ssm, enable, contexts * PLIC_SOURCES / 32 * sizeof(uint32_t)) ||
        h->ssm_get_bytes(ssm, threshold, contexts * sizeof(uint32_t)))
        return -1;
    if (m->nharts > 1) {
        int opt = h->ssm_get_optional(ssm, "harts");
        if (opt <= 0)
            return opt < 0 ? -1 : h->ssm_fail(ssm, "the other harts' timer and software interrupt state is missing");
        for (unsigned i = 1; i < m->nharts; i++)
            if (h->ssm_get_u64(ssm, &mtimecmp[i]) || h->ssm_get_u64(ssm, &msip[i]))
                return -1;
        if (h->ssm_end_optional(ssm))
            return -1;
    }
    /* Snapshots from before S-mode say ACIMU, from before F and D ACIMSU: their guest runs the same on this
     * superset (it found FS Off and no F or D in misa, and the hart comes back with FS as it was). */
    const uint64_t s_bit = 1ull << 18, fd_bits = (1ull << 3) | (1ull << 5);
    if (misa != RV_MISA && misa != (RV_MISA & ~fd_bits) && misa != (RV_MISA & ~(fd_bits | s_bit))) {
        char extra[27] = "", missing[27] = "";
        for (unsigned i = 0, ne = 0, nm = 0; i < 26; i++) {
            if ((misa & ~(uint64_t)RV_MISA) & (1ull << i))
                extra[ne++] = (char)('A' + i);
            if (((uint64_t)RV_MISA & ~misa) & (1ull << i))
                missing[nm++] = (char)('A' + i);
        }
        return h->ssm_fail(ssm, "saved with misa 0x%" PRIx64 ", this riscv64 implements 0x%" PRIx64 " (saved with%s%s"
                           ", without%s%s)", misa, (uint64_t)RV_MISA, *extra ? " " : " nothing more", extra,
                           *missing ? " " : " nothing less", missing);
    }
    if (ram != h->mem_ram_size(m->inst))
        return h->ssm_fail(ssm, "saved with %" PRIu64 " bytes of RAM, configured with %" PRIu64, ram,
                           h->mem_ram_size(m->inst));
    if (tohost && (tohost < RV_RAM_BASE || tohost - RV_RAM_BASE > ram - 8 ||
                   (fromhost && (fromhost < RV_RAM_BASE || fromhost - RV_RAM_BASE > ram - 8))))
        return h->ssm_fail(ssm, "HTIF mailbox 0x%" PRIx64 "/0x%" PRIx64 " is outside RAM", tohost, fromhost);
    int rom = h->ssm_get_optional(ssm, "bootrom");
    if (rom < 0 || (rom && (h->ssm_get_bytes(ssm, m->rom, BOOTROM_USED) || h->ssm_end_optional(ssm))))
        return -1;
    m->tohost = tohost;
    m->fromhost = fromhost;
    riscv64_htif_setup(m);
    clint_set(&m->clint, mtime);
    for (unsigned i = 0; i < m->nharts; i++)
        clint_set_hart(&m->clint, i, mtimecmp[i], (uint32_t)msip[i] & 1);
    plic_load(m->plic, &ps);
    return 0;
}

static int riscv64_hart_save(void *state, vmm_ssm *ssm, unsigned index)
{
    struct riscv64 *m = state;
    const vmm_helpers *h = m->hlp;
    const rv_cpu *c = rv_runtime_cpu(m->hart[index].rt);
    const uint64_t csr[] = { c->pc, c->priv, c->mstatus, c->mie, c->mip, c->mtvec, c->mscratch, c->mepc,
                             c->mcause, c->mtval, c->mcounteren, c->instret, c->lr_addr, (uint64_t)c->wfi };
    h->ssm_put_bytes(ssm, c->x, sizeof(c->x));
    h->ssm_put_bytes(ssm, csr, sizeof(csr));
    /* S-mode came after version 1: an optional section, so older snapshots (without it) still load. */
    const uint64_t smode[] = { c->medeleg, c->mideleg, c->stvec, c->sscratch, c->sepc, c->scause, c->stval,
                               c->scounteren, c->satp, c->menvcfg, c->pmpcfg[0], c->pmpcfg[1] };
    h->ssm_put_optional(ssm, "smode");
    h->ssm_put_bytes(ssm, smode, sizeof(smode));
    h->ssm_put_bytes(ssm, c->pmpaddr, sizeof(c->pmpaddr));
    h->ssm_end_optional(ssm);
    /* F and D, also after version 1: without this section the FP state is zero (such a snapshot has FS Off). */
    h->ssm_put_optional(ssm, "fpu");
    h->ssm_put_bytes(ssm, c->f, sizeof(c->f));
    h->ssm_put_u64(ssm, c->fcsr);
    return h->ssm_end_optional(ssm);
}

static int riscv64_hart_load(void *state, vmm_ssm *ssm, uint32_t version, unsigned index)
{
    struct riscv64 *m = state;
    const vmm_helpers *h = m->hlp;
    if (version != RV64_HART_VERSION)
        return h->ssm_fail(ssm, "hart state version %u; this riscv64 reads version %u", version, RV64_HART_VERSION);
    uint64_t x[32], csr[14], smode[12] = { 0 }, pmpaddr[RV_PMP_ENTRIES] = { 0 };
    if (h->ssm_get_bytes(ssm, x, sizeof(x)) || h->ssm_get_bytes(ssm, csr, sizeof(csr)))
        return -1;
    int opt = h->ssm_get_optional(ssm, "smode");
    if (opt < 0 || (opt && (h->ssm_get_bytes(ssm, smode, sizeof(smode)) ||
                            h->ssm_get_bytes(ssm, pmpaddr, sizeof(pmpaddr)) || h->ssm_end_optional(ssm))))
        return -1;
    uint64_t f[32] = { 0 }, fcsr = 0;
    opt = h->ssm_get_optional(ssm, "fpu");
    if (opt < 0 || (opt && (h->ssm_get_bytes(ssm, f, sizeof(f)) || h->ssm_get_u64(ssm, &fcsr) ||
                            h->ssm_end_optional(ssm))))
        return -1;
    if (fcsr > 0xff)
        return h->ssm_fail(ssm, "hart state is damaged (fcsr 0x%" PRIx64 ")", fcsr);
    if (x[0] != 0 || (csr[1] != RV_PRIV_M && csr[1] != RV_PRIV_S && csr[1] != RV_PRIV_U) || csr[13] > 1)
        return h->ssm_fail(ssm, "hart state is damaged (x0 0x%" PRIx64 ", privilege %" PRIu64 ", wfi %" PRIu64 ")",
                           x[0], csr[1], csr[13]);
    rv_cpu *c = rv_runtime_cpu(m->hart[index].rt);
    memcpy(c->x, x, sizeof(x));
    c->pc = csr[0];
    c->priv = (uint32_t)csr[1];
    c->mstatus = csr[2];
    c->mie = csr[3];
    c->mip = csr[4];
    c->mtvec = csr[5];
    c->mscratch = csr[6];
    c->mepc = csr[7];
    c->mcause = csr[8];
    c->mtval = csr[9];
    c->mcounteren = csr[10];
    c->instret = csr[11];
    c->lr_addr = csr[12];
    c->wfi = (int)csr[13];
    c->medeleg = smode[0];
    c->mideleg = smode[1];
    c->stvec = smode[2];
    c->sscratch = smode[3];
    c->sepc = smode[4];
    c->scause = smode[5];
    c->stval = smode[6];
    c->scounteren = smode[7];
    c->satp = smode[8];
    c->menvcfg = smode[9];
    c->pmpcfg[0] = smode[10];
    c->pmpcfg[1] = smode[11];
    memcpy(c->pmpaddr, pmpaddr, sizeof(pmpaddr));
    memcpy(c->f, f, sizeof(f));
    c->fcsr = fcsr;
    rv_runtime_state_loaded(m->hart[index].rt); /* translations, TLB and jump cache follow the restored satp and privilege */
    return 0;
}

/* The SDK's save and load callbacks get no unit instance: one pair per hart index. */
#define RV64_HART_UNIT(i) \
    static int riscv64_hart_save_##i(void *state, vmm_ssm *ssm) { return riscv64_hart_save(state, ssm, i); } \
    static int riscv64_hart_load_##i(void *state, vmm_ssm *ssm, uint32_t version) \
    { \
        return riscv64_hart_load(state, ssm, version, i); \
    }
RV64_HART_UNIT(0)
RV64_HART_UNIT(1)
RV64_HART_UNIT(2)
RV64_HART_UNIT(3)
RV64_HART_UNIT(4)
RV64_HART_UNIT(5)
RV64_HART_UNIT(6)
RV64_HART_UNIT(7)
_Static_assert(RV64_MAX_HARTS == 8, "one save/load pair per hart");
static const vmm_ssm_save_fn riscv64_hart_save_fns[RV64_MAX_HARTS] = {
    riscv64_hart_save_0, riscv64_hart_save_1, riscv64_hart_save_2, riscv64_hart_save_3,
    riscv64_hart_save_4, riscv64_hart_save_5, riscv64_hart_save_6, riscv64_hart_save_7,
};
static const vmm_ssm_load_fn riscv64_hart_load_fns[RV64_MAX_HARTS] = {
    riscv64_hart_load_0, riscv64_hart_load_1, riscv64_hart_load_2, riscv64_hart_load_3,
    riscv64_hart_load_4, riscv64_hart_load_5, riscv64_hart_load_6, riscv64_hart_load_7,
};

/* QEMU virt's devices that are device plugins here; --nodefaults leaves them out, a --device of the same plugin
 * replaces them. The guest reaches no port space: a device there could never be used. */
static const char *const riscv64_default_devices[] = { "uart16550,mmio=0x10000000,irq=10", "sifive-test", NULL };

static const vmm_board riscv64_board = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_board),
    .default_devices = riscv64_default_devices,
    .buses = VMM_BUS_MMIO,
};

static const vmm_arch_ops riscv64_arch_ops = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_arch_ops),
    .vm_create = riscv64_vm_create,
    .vm_load = riscv64_vm_load,
    .vm_check = riscv64_vm_check,
    .engines = "inproc,kvm",
    .state_abi = "kvm-x86_64", /* exec=rc: the RC's vCPU, in KVM's x86-64 structures */
    .vcpu_init = riscv64_vcpu_init,
    .vcpu_exit = riscv64_vcpu_exit,
    .vcpu_dump = riscv64_vcpu_dump,
    .vcpu_run = riscv64_vcpu_run,
    .irq_line = riscv64_irq_line,
    .dirty_log = riscv64_dirty_log,
    .board = &riscv64_board,
};

static const vmm_option_desc riscv64_options[] = {
    { .name = "trace", .type = VMM_OPT_STRING, .default_value = NULL,
      .help = "debug output on stderr, '+'-separated: in_asm (guest blocks, disassembled), out_asm (host code, "
              "Capstone), exec (every block entered; turns chaining off), prof (the hottest blocks, sampled, at exit)" },
    { .name = "misaligned", .type = VMM_OPT_STRING, .default_value = "trap",
      .help = "misaligned loads and stores: trap (address-misaligned exception to mtvec) or emulate (perform "
              "them, as QEMU does); AMOs always trap" },
    { .name = "exec", .type = VMM_OPT_STRING,
      .help = "where translated code runs: inproc (in this process; the default) or rc (at ring 3 of a KVM VM "
              "under the RC hypervisor; needs /dev/kvm, RAM up to 1280 MiB; the default with --accel kvm)" },
    { .name = "bios", .type = VMM_OPT_STRING,
      .help = "firmware run in M-mode from the boot ROM at 0x1000 (a0 hart id, a1 device tree, a2 OpenSBI's "
              "fw_dynamic_info), with --kernel as its S-mode next stage (a Linux Image at 0x80200000, an ELF, or "
              "a flat binary): an ELF or flat FILE (at 0x80000000), default (" LOADER_DEFAULT_BIOS ") or none "
              "(--kernel runs bare-metal in M-mode). Not given: default for a Linux Image --kernel, else none" },
    { .name = "dtb-dump", .type = VMM_OPT_STRING,
      .help = "write the device tree the guest gets (a1 at reset) to this file (dtc -I dtb -O dts FILE shows it)" },
    { .name = NULL },
};

static const vmm_plugin_desc riscv64_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_ARCH,
    .instance_size = sizeof(struct riscv64),
    .name = "riscv64",
    .description = "RISC-V RV64IMAC machine (QEMU virt layout) run by a RISC-V to x86-64 recompiler; default "
                   "devices (--nodefaults: none): uart16550,mmio=0x10000000,irq=10 and sifive-test",
    .options = riscv64_options,
    .construct = riscv64_construct,
    .destruct = riscv64_destruct,
    .reset = NULL,
    .arch = &riscv64_arch_ops,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(riscv64_desc)
