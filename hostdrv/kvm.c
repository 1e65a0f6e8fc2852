/*
 * The KVM backend of kvm_drv: /dev/kvm ioctls behind the neutral interface in hostdrv.h.
 * State class buffers use KVM's own structures (ABI "kvm-x86_64"); this file only checks their sizes.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct kvm_drv {
    struct hostdrv base; /* first: hostdrv.c dispatches through it */
    int fd;
    int api_version;
    int vcpu_mmap_size;
    unsigned nr_vcpus, max_vcpus;
    int has_readonly_mem, has_immediate_exit, has_irqchip, has_vcpu_events, has_xsave, has_xcrs;
    int limits_probed;     /* kvm_probe_limits ran; limits holds its result */
    uint64_t limits;       /* VMM_HOST_LIMIT_* */
    char provider[32];
    char description[256];
} kvm_drv;

/* KVM takes at most this many filter ranges; x86-raw needs one. */
#define KVM_MSR_EXIT_MAX 16

typedef struct kvm_vm {
    struct hostdrv_vm base;
    kvm_drv *drv;
    int fd;
    int irqchip;
    hostdrv_soft_vm soft; /* the architecture's own controller, used while KVM's is not created */
    unsigned nmsr_exits; /* MSRs whose accesses exit to user space (VMM_FEATURE_MSR_EXIT) */
    uint32_t msr_exits[KVM_MSR_EXIT_MAX];
    uint8_t msr_deny; /* the filter's bitmap for each one-MSR range: 0 = denied, so the access exits */
} kvm_vm;

/* The exit structure is part of the SDK ABI; its union never grows. */
_Static_assert(sizeof(vmm_exit) == 8 + 256, "vmm_exit changed size");

typedef struct kvm_vcpu {
    struct hostdrv_vcpu base;
    kvm_vm *vm;
    int fd;
    unsigned index;
    struct kvm_run *run;
} kvm_vcpu;

static void kvm_set_error(char *err, size_t errlen, const char *what, int e)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, strerror(e));
}

static int kvm_check_extension(int fd, long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

/* Which kernel module provides /dev/kvm tells the user whether guest kernels will run natively. */
static void kvm_find_provider(char *buf, size_t len)
{
    static const char *const modules[] = {"kvm_intel", "kvm_amd", "kvm_pvm"};
    struct stat st;
    snprintf(buf, len, "unknown");
    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/module/%s", modules[i]);
        if (stat(path, &st) == 0) {
            snprintf(buf, len, "%s", modules[i]);
            return;
        }
    }
}

static hostdrv *kvm_open(char *err, size_t errlen)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        kvm_set_error(err, errlen, "/dev/kvm", errno);
        return NULL;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        if (err)
            snprintf(err, errlen, "/dev/kvm: KVM API version %d, this build needs %d", api, KVM_API_VERSION);
        close(fd);
        return NULL;
    }
    kvm_drv *drv = calloc(1, sizeof(*drv));
    if (!drv) {
        close(fd);
        kvm_set_error(err, errlen, "kvm", ENOMEM);
        return NULL;
    }
    drv->fd = fd;
    drv->api_version = api;
    drv->vcpu_mmap_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (drv->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        kvm_set_error(err, errlen, "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE", errno ? errno : EINVAL);
        close(fd);
        free(drv);
        return NULL;
    }
    drv->nr_vcpus = (unsigned)kvm_check_extension(fd, KVM_CAP_NR_VCPUS);
    drv->max_vcpus = (unsigned)kvm_check_extension(fd, KVM_CAP_MAX_VCPUS);
    if (!drv->nr_vcpus)
        drv->nr_vcpus = 4;
    if (!drv->max_vcpus)
        drv->max_vcpus = drv->nr_vcpus;
    drv->has_readonly_mem = kvm_check_extension(fd, KVM_CAP_READONLY_MEM);
    drv->has_immediate_exit = kvm_check_extension(fd, KVM_CAP_IMMEDIATE_EXIT);
    drv->has_irqchip = kvm_check_extension(fd, KVM_CAP_IRQCHIP);
    drv->has_vcpu_events = kvm_check_extension(fd, KVM_CAP_VCPU_EVENTS);
    drv->has_xsave = kvm_check_extension(fd, KVM_CAP_XSAVE);
    drv->has_xcrs = kvm_check_extension(fd, KVM_CAP_XCRS);
    if (!drv->has_immediate_exit) {
        /* Without it a stop request can be lost between the flag check and KVM_RUN. */
        if (err)
            snprintf(err, errlen, "/dev/kvm: KVM_CAP_IMMEDIATE_EXIT is missing (kernel too old)");
        close(fd);
        free(drv);
        return NULL;
    }
    kvm_find_provider(drv->provider, sizeof(drv->provider));
    snprintf(drv->description, sizeof(drv->description),
             "kvm API %d, provider %s, vcpus %u (max %u), readonly-mem %s, irqchip %s, vcpu-events %s, xsave %s",
             api, drv->provider, drv->nr_vcpus, drv->max_vcpus, drv->has_readonly_mem ? "yes" : "no",
             drv->has_irqchip ? "yes" : "no", drv->has_vcpu_events ? "yes" : "no", drv->has_xsave ? "yes" : "no");
    drv->base.engine = &hostdrv_engine_kvm;
    return &drv->base;
}

static void kvm_close(hostdrv *hd)
{
    kvm_drv *drv = (kvm_drv *)hd;
    if (!drv)
        return;
    close(drv->fd);
    free(drv);
}

static const char *kvm_abi(const hostdrv *hd)
{
    (void)hd;
#if defined(__x86_64__)
    return "kvm-x86_64";
#else
    return "kvm-unknown";
#endif
}

static unsigned kvm_max_vcpus(const hostdrv *hd)
{
    const kvm_drv *drv = (const kvm_drv *)hd;
    return drv->max_vcpus;
}

static const char * kvm_describe(const hostdrv *hd)
{
    const kvm_drv *drv = (const kvm_drv *)hd;
    return drv->description;
}

static hostdrv_vm *kvm_vm_create(hostdrv *hd, const hostdrv_soft_vm *soft, char *err, size_t errlen)
{
    kvm_drv *drv = (kvm_drv *)hd;
    int fd = ioctl(drv->fd, KVM_CREATE_VM, 0);
    if (fd < 0) {
        kvm_set_error(err, errlen, "/dev/kvm: KVM_CREATE_VM", errno);
        return NULL;
    }
    kvm_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        close(fd);
        kvm_set_error(err, errlen, "kvm", ENOMEM);
        return NULL;
    }
    vm->drv = drv;
    vm->fd = fd;
    vm->base.engine = &hostdrv_engine_kvm;
    /* KVM logs dirty pages itself; an architecture whose interrupt controller is its own (riscv64 with exec=rc:
     * the guest's PLIC is not KVM's) gets lines and messages routed to it, as on the inproc engine. */
    if (soft) {
        vm->soft = *soft;
        vm->soft.dirty_log = NULL;
    }
    return &vm->base;
}

static void kvm_vm_destroy(hostdrv_vm *hvm)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    if (!vm)
        return;
    close(vm->fd);
    free(vm);
}

static int kvm_vm_map(hostdrv_vm *hvm, uint32_t slot, uint64_t gpa, void *host, uint64_t size, unsigned flags)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (flags & HOSTDRV_SLOT_READONLY) {
        if (!vm->drv->has_readonly_mem) {
            errno = ENOTSUP;
            return -1;
        }
        r.flags |= KVM_MEM_READONLY;
    }
    if (flags & HOSTDRV_SLOT_DIRTY_LOG)
        r.flags |= KVM_MEM_LOG_DIRTY_PAGES;
    return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -1 : 0;
}

static int kvm_vm_get_dirty_log(hostdrv_vm *hvm, uint32_t slot, uint64_t *bitmap)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};
    return ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -1 : 0;
}

/* Accesses to the listed MSRs exit to user space: KVM's MSR filter denies them (default allow for every other
 * MSR) and KVM_CAP_X86_USER_SPACE_MSR turns a filter denial into KVM_EXIT_X86_RDMSR/WRMSR instead of #GP. The
 * filter is replaced as a whole, so the list is kept here and set again with each addition. */
static int kvm_add_msr_exit(kvm_vm *vm, uint64_t index)
{
    if (index > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    for (unsigned i = 0; i < vm->nmsr_exits; i++)
        if (vm->msr_exits[i] == index)
            return 0;
    if (vm->nmsr_exits == KVM_MSR_EXIT_MAX) {
        errno = ENOSPC;
        return -1;
    }
    if (kvm_check_extension(vm->drv->fd, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
        kvm_check_extension(vm->drv->fd, KVM_CAP_X86_MSR_FILTER) <= 0) {
        errno = ENOTSUP;
        return -1;
    }
    if (vm->nmsr_exits == 0) {
        struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .args = {KVM_MSR_EXIT_REASON_FILTER}};
        if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
            return -1;
    }
    struct kvm_msr_filter f = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
    vm->msr_exits[vm->nmsr_exits] = (uint32_t)index;
    for (unsigned i = 0; i <= vm->nmsr_exits; i++)
        f.ranges[i] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
                                                    .nmsrs = 1, .base = vm->msr_exits[i], .bitmap = &vm->msr_deny};
    if (ioctl(vm->fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
        return -1;
    vm->nmsr_exits++;
    return 0;
}

static int kvm_vm_enable_feature(hostdrv_vm *hvm, vmm_vm_feature feature, uint64_t arg)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    switch (feature) {
    case VMM_FEATURE_IRQCHIP:
        if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
            return -1;
        vm->irqchip = 1;
        return 0;
    case VMM_FEATURE_PIT: {
        struct kvm_pit_config cfg = {.flags = KVM_PIT_SPEAKER_DUMMY};
        return ioctl(vm->fd, KVM_CREATE_PIT2, &cfg) < 0 ? -1 : 0;
    }
    case VMM_FEATURE_PRIVATE_AREA:
        return ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)arg) < 0 ? -1 : 0;
    case VMM_FEATURE_IDENTITY_MAP: {
        uint64_t addr = arg;
        return ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0 ? -1 : 0;
    }
    case VMM_FEATURE_MSR_EXIT:
        return kvm_add_msr_exit(vm, arg);
    }
    errno = EINVAL;
    return -1;
}

static int kvm_vm_irq_line(hostdrv_vm *hvm, uint32_t line, int level)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    if (!vm->irqchip && vm->soft.irq_line) {
        if (vm->soft.irq_line(vm->soft.ctx, line, level) == 0)
            return 0;
        errno = EINVAL;
        return -1;
    }
    if (!vm->irqchip) {
        errno = ENODEV;
        return -1;
    }
    struct kvm_irq_level irq = {.irq = line, .level = level ? 1 : 0};
    return ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0 ? -1 : 0;
}

/* Variable-length KVM structures: a count in the header decides how much of the buffer is used. */
static int kvm_check_cpuid_len(const void *buf, size_t len)
{
    if (len < sizeof(struct kvm_cpuid2))
        return -1;
    const struct kvm_cpuid2 *c = buf;
    return len < sizeof(*c) + (size_t)c->nent * sizeof(c->entries[0]) ? -1 : 0;
}

static int kvm_check_msrs_len(const void *buf, size_t len)
{
    if (len < sizeof(struct kvm_msrs))
        return -1;
    const struct kvm_msrs *m = buf;
    return len < sizeof(*m) + (size_t)m->nmsrs * sizeof(m->entries[0]) ? -1 : 0;
}

#if defined(__x86_64__)
/*
 * The limits probe: a scratch VM whose one vCPU starts at ring 3 in long mode and executes `syscall`; the
 * LSTAR target is a `hlt`. Where the host runs syscall as the architecture says, the hlt runs at CPL 0 and
 * exits as KVM_EXIT_HLT (no interrupt controller). Where it stays at CPL 3 (kvm_pvm with a non-PVM guest), the
 * hlt faults, and with an empty IDT that ends in a shutdown. Anything but a halt at CPL 0 counts as the limit.
 * Guest-physical layout (one 64 KiB slot): 0x1000 PML4, 0x2000 PDPT, 0x3000 PD (one 2 MiB user page), 0x4000
 * GDT, 0x5000 TSS, 0x6000 the ring-3 code, 0x7000 the LSTAR target. Returns VMM_HOST_LIMIT_* bits; a probe that
 * cannot be set up reports no limit (and logs nothing: the caller's use of the result is optional).
 */
#define KVM_PROBE_MEM 0x10000u
static uint64_t kvm_probe_limits(kvm_drv *drv)
{
    uint64_t limits = 0;
    int vmfd = -1, cpufd = -1;
    struct kvm_run *run = MAP_FAILED;
    struct kvm_cpuid2 *cpuid = NULL;
    uint8_t *mem = mmap(NULL, KVM_PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return 0;
    vmfd = ioctl(drv->fd, KVM_CREATE_VM, 0);
    struct kvm_userspace_memory_region r0 = {.slot = 0, .memory_size = KVM_PROBE_MEM,
                                             .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (vmfd < 0 || ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r0) < 0)
        goto out;
    uint64_t pml4 = 0x2000 | 7, pdpt = 0x3000 | 7, pde = 0x87; /* P, RW, US (and PS for the 2 MiB page) */
    memcpy(mem + 0x1000, &pml4, 8);
    memcpy(mem + 0x2000, &pdpt, 8);
    memcpy(mem + 0x3000, &pde, 8);
    const uint64_t gdt[7] = {0, 0x00af9a000000ffffull, 0x00cf92000000ffffull, 0x00affa000000ffffull,
                             0x00cff2000000ffffull, 0x00008b0050000067ull, 0};
    memcpy(mem + 0x4000, gdt, sizeof(gdt));
    mem[0x6000] = 0x0f, mem[0x6001] = 0x05, mem[0x6002] = 0xf4; /* syscall; hlt */
    mem[0x7000] = 0xf4;                                         /* hlt */

    cpufd = ioctl(vmfd, KVM_CREATE_VCPU, 0);
    if (cpufd < 0)
        goto out;
    run = mmap(NULL, (size_t)drv->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpufd, 0);
    cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
    if (run == MAP_FAILED || !cpuid)
        goto out;
    cpuid->nent = 256;
    if (ioctl(drv->fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 || ioctl(cpufd, KVM_SET_CPUID2, cpuid) < 0)
        goto out;
    struct kvm_sregs s;
    if (ioctl(cpufd, KVM_GET_SREGS, &s) < 0)
        goto out;
    s.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
    s.cr3 = 0x1000;
    s.cr4 = 0x20; /* PAE */
    s.efer = 0xd01; /* SCE, LME, LMA, NXE */
    s.gdt = (struct kvm_dtable){.base = 0x4000, .limit = sizeof(gdt) - 1};
    s.idt = (struct kvm_dtable){.base = 0, .limit = 0};
    s.cs = (struct kvm_segment){.limit = 0xffffffff, .selector = 0x1b, .type = 0xb, .present = 1, .dpl = 3,
                                .s = 1, .l = 1, .g = 1};
    s.ss = (struct kvm_segment){.limit = 0xffffffff, .selector = 0x23, .type = 0x3, .present = 1, .dpl = 3,
                                .s = 1, .db = 1, .g = 1};
    s.ds = s.es = s.fs = s.gs = s.ss;
    s.tr = (struct kvm_segment){.base = 0x5000, .limit = 0x67, .selector = 0x28, .type = 0xb, .present = 1};
    s.ldt = (struct kvm_segment){.type = 0x2, .present = 1, .unusable = 1};
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[3];
    } msrs = {.hdr.nmsrs = 3,
              .e = {{.index = 0xc0000081, .data = (0x10ull << 48) | (0x08ull << 32)}, /* STAR */
                    {.index = 0xc0000082, .data = 0x7000},                            /* LSTAR */
                    {.index = 0xc0000084, .data = 0x200}}};                           /* SFMASK: IF */
    struct kvm_regs r = {.rip = 0x6000, .rsp = 0x8000, .rflags = 0x2};
    if (ioctl(cpufd, KVM_SET_SREGS, &s) < 0 || ioctl(cpufd, KVM_SET_MSRS, &msrs) != 3 ||
        ioctl(cpufd, KVM_SET_REGS, &r) < 0)
        goto out;
    limits = VMM_HOST_LIMIT_X86_SYSCALL_CPL3;
    for (int tries = 0; tries < 4; tries++) {
        if (ioctl(cpufd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        if (run->exit_reason != KVM_EXIT_HLT)
            break;
        if (ioctl(cpufd, KVM_GET_SREGS, &s) == 0 && ioctl(cpufd, KVM_GET_REGS, &r) == 0 &&
            (s.cs.selector & 3) == 0 && s.cs.dpl == 0 && r.rip == 0x7001)
            limits &= ~VMM_HOST_LIMIT_X86_SYSCALL_CPL3;
        break;
    }
out:
    free(cpuid);
    if (run != MAP_FAILED)
        munmap(run, (size_t)drv->vcpu_mmap_size);
    if (cpufd >= 0)
        close(cpufd);
    if (vmfd >= 0)
        close(vmfd);
    munmap(mem, KVM_PROBE_MEM);
    return limits;
}
#else
static uint64_t kvm_probe_limits(kvm_drv *drv)
{
    (void)drv;
    return 0;
}
#endif

/*
 * Whether guest kernel code runs in the host's instruction emulator rather than on the CPU: the case for a
 * software KVM (kvm_pvm) and for any /dev/kvm on a CPU without VT-x/AMD-V. Timing a guest loop would say the
 * same but is noisy; these two facts are not.
 */
static uint64_t kvm_kernel_emulated(void)
{
    if (access("/sys/module/kvm_pvm", F_OK) == 0)
        return VMM_HOST_LIMIT_KERNEL_EMULATED;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[4096];
    int seen_flags = 0, hw = 0;
    while (!hw && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        seen_flags = 1;
        hw = strstr(line, " vmx") || strstr(line, " svm");
    }
    fclose(f);
    return seen_flags && !hw ? VMM_HOST_LIMIT_KERNEL_EMULATED : 0;
}

static int kvm_vm_signal_msi(hostdrv_vm *hvm, uint64_t addr, uint32_t data)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    if (!vm->irqchip) {
        if (vm->soft.msi && vm->soft.msi(vm->soft.ctx, addr, data) == 0)
            return 0;
        errno = vm->soft.msi ? EINVAL : ENODEV;
        return -1;
    }
    struct kvm_msi msi = {.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};
    /* 0 means the interrupt was blocked (masked at the destination), which is not the caller's error. */
    return ioctl(vm->fd, KVM_SIGNAL_MSI, &msi) < 0 ? -1 : 0;
}

static int kvm_vm_get_state(hostdrv_vm *hvm, vmm_vm_state_class cls, void *buf, size_t len)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    switch (cls) {
    case VMM_VM_STATE_SUPPORTED_CPU_MODEL:
        if (kvm_check_cpuid_len(buf, len))
            break;
        return ioctl(vm->drv->fd, KVM_GET_SUPPORTED_CPUID, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_IRQCHIP:
        if (len < sizeof(struct kvm_irqchip))
            break;
        return ioctl(vm->fd, KVM_GET_IRQCHIP, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_PIT:
        if (len < sizeof(struct kvm_pit_state2))
            break;
        return ioctl(vm->fd, KVM_GET_PIT2, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_CLOCK:
        if (len < sizeof(struct kvm_clock_data))
            break;
        return ioctl(vm->fd, KVM_GET_CLOCK, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_MSR_INDEX_LIST: {
        const struct kvm_msr_list *l = buf;
        if (len < sizeof(*l) || len < sizeof(*l) + (size_t)l->nmsrs * sizeof(l->indices[0]))
            break;
        return ioctl(vm->drv->fd, KVM_GET_MSR_INDEX_LIST, buf) < 0 ? -1 : 0;
    }
    case VMM_VM_STATE_HOST_LIMITS:
        if (len != sizeof(uint64_t))
            break;
        if (!vm->drv->limits_probed) {
            vm->drv->limits = kvm_probe_limits(vm->drv) | kvm_kernel_emulated();
            vm->drv->limits_probed = 1;
        }
        memcpy(buf, &vm->drv->limits, sizeof(uint64_t));
        return 0;
    }
    errno = EINVAL;
    return -1;
}

static int kvm_vm_set_state(hostdrv_vm *hvm, vmm_vm_state_class cls, const void *buf, size_t len)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    switch (cls) {
    case VMM_VM_STATE_SUPPORTED_CPU_MODEL:
    case VMM_VM_STATE_MSR_INDEX_LIST:
    case VMM_VM_STATE_HOST_LIMITS:
        break;
    case VMM_VM_STATE_IRQCHIP:
        if (len < sizeof(struct kvm_irqchip))
            break;
        return ioctl(vm->fd, KVM_SET_IRQCHIP, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_PIT:
        if (len < sizeof(struct kvm_pit_state2))
            break;
        return ioctl(vm->fd, KVM_SET_PIT2, buf) < 0 ? -1 : 0;
    case VMM_VM_STATE_CLOCK:
        if (len < sizeof(struct kvm_clock_data))
            break;
        return ioctl(vm->fd, KVM_SET_CLOCK, buf) < 0 ? -1 : 0;
    }
    errno = EINVAL;
    return -1;
}

static hostdrv_vcpu *kvm_vcpu_create(hostdrv_vm *hvm, unsigned index, const hostdrv_soft *soft, char *err,
                                     size_t errlen)
{
    kvm_vm *vm = (kvm_vm *)hvm;
    (void)soft; /* KVM runs the guest itself */
    int fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0) {
        kvm_set_error(err, errlen, "/dev/kvm: KVM_CREATE_VCPU", errno);
        return NULL;
    }
    void *run = mmap(NULL, (size_t)vm->drv->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        kvm_set_error(err, errlen, "/dev/kvm: mmap of the vCPU run area", errno);
        close(fd);
        return NULL;
    }
    kvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));
    if (!vcpu) {
        munmap(run, (size_t)vm->drv->vcpu_mmap_size);
        close(fd);
        kvm_set_error(err, errlen, "kvm", ENOMEM);
        return NULL;
    }
    vcpu->vm = vm;
    vcpu->fd = fd;
    vcpu->index = index;
    vcpu->run = run;
    vcpu->base.engine = &hostdrv_engine_kvm;
    return &vcpu->base;
}

static void kvm_vcpu_destroy(hostdrv_vcpu *hvc)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    if (!vcpu)
        return;
    munmap(vcpu->run, (size_t)vcpu->vm->drv->vcpu_mmap_size);
    close(vcpu->fd);
    free(vcpu);
}

static void kvm_vcpu_kick(hostdrv_vcpu *hvc)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    __atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void kvm_translate_exit(struct kvm_run *run, vmm_exit *exit)
{
    memset(exit, 0, offsetof(vmm_exit, u) + sizeof(exit->u.internal));
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        exit->reason = VMM_EXIT_PIO;
        exit->u.pio.port = run->io.port;
        exit->u.pio.size = run->io.size;
        exit->u.pio.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        exit->u.pio.count = run->io.count;
        exit->u.pio.data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        exit->reason = VMM_EXIT_MMIO;
        exit->u.mmio.gpa = run->mmio.phys_addr;
        exit->u.mmio.len = run->mmio.len;
        exit->u.mmio.is_write = run->mmio.is_write;
        exit->u.mmio.data = run->mmio.data;
        break;
    case KVM_EXIT_HLT:
        exit->reason = VMM_EXIT_HALT;
        break;
    case KVM_EXIT_SHUTDOWN:
        exit->reason = VMM_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_INTERNAL_ERROR: {
        exit->reason = VMM_EXIT_INTERNAL_ERROR;
        exit->u.internal.suberror = run->internal.suberror;
        uint32_t n = run->internal.ndata;
        if (n > 16)
            n = 16;
        exit->u.internal.ndata = n;
        memcpy(exit->u.internal.data, run->internal.data, n * sizeof(uint64_t));
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
            (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
            uint32_t len = run->emulation_failure.insn_size;
            if (len > sizeof(exit->u.internal.insn_bytes))
                len = sizeof(exit->u.internal.insn_bytes);
            memcpy(exit->u.internal.insn_bytes, run->emulation_failure.insn_bytes, len);
            exit->u.internal.insn_len = len;
        }
        break;
    }
    case KVM_EXIT_FAIL_ENTRY:
        exit->reason = VMM_EXIT_FAIL_ENTRY;
        exit->u.fail_entry.hw_reason = run->fail_entry.hardware_entry_failure_reason;
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        exit->reason = VMM_EXIT_SYSTEM_EVENT;
        exit->u.system_event.type = run->system_event.type;
        break;
    case KVM_EXIT_DEBUG:
        exit->reason = VMM_EXIT_DEBUG;
        break;
    case KVM_EXIT_INTR:
        exit->reason = VMM_EXIT_INTERRUPTED;
        break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
        exit->reason = VMM_EXIT_MSR;
        exit->u.msr.index = run->msr.index;
        exit->u.msr.is_write = run->exit_reason == KVM_EXIT_X86_WRMSR;
        exit->u.msr.data = exit->u.msr.is_write ? run->msr.data : 0;
        run->msr.error = 0;
        run->msr.data = exit->u.msr.is_write ? run->msr.data : 0;
        exit->u.msr.result = (uint64_t *)&run->msr.data;
        exit->u.msr.error = &run->msr.error;
        break;
    default:
        exit->reason = VMM_EXIT_UNKNOWN;
        exit->u.unknown.code = run->exit_reason;
        break;
    }
}

static int kvm_vcpu_run(hostdrv_vcpu *hvc, vmm_exit *exit)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            __atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            memset(exit, 0, offsetof(vmm_exit, u));
            exit->reason = VMM_EXIT_INTERRUPTED;
            return 0;
        }
        return -1;
    }
    kvm_translate_exit(vcpu->run, exit);
    return 0;
}

struct kvm_state_ioctl {
    unsigned long get, set;
    size_t size; /* fixed size; 0 for the variable-length classes */
};

static int kvm_state_ioctl_for(vmm_state_class cls, struct kvm_state_ioctl *out)
{
    switch (cls) {
    case VMM_STATE_GPRS:
        *out = (struct kvm_state_ioctl){KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs)};
        return 0;
    case VMM_STATE_SYSREGS:
        *out = (struct kvm_state_ioctl){KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs)};
        return 0;
    case VMM_STATE_FPU:
        *out = (struct kvm_state_ioctl){KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu)};
        return 0;
    case VMM_STATE_EVENTS:
        *out = (struct kvm_state_ioctl){KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events)};
        return 0;
    case VMM_STATE_CPU_MODEL:
        *out = (struct kvm_state_ioctl){KVM_GET_CPUID2, KVM_SET_CPUID2, 0};
        return 0;
    case VMM_STATE_MSRS:
        *out = (struct kvm_state_ioctl){KVM_GET_MSRS, KVM_SET_MSRS, 0};
        return 0;
    case VMM_STATE_LAPIC:
        *out = (struct kvm_state_ioctl){KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state)};
        return 0;
    case VMM_STATE_XSAVE:
        *out = (struct kvm_state_ioctl){KVM_GET_XSAVE, KVM_SET_XSAVE, sizeof(struct kvm_xsave)};
        return 0;
    case VMM_STATE_XCRS:
        *out = (struct kvm_state_ioctl){KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs)};
        return 0;
    case VMM_STATE_MP_STATE:
        *out = (struct kvm_state_ioctl){KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state)};
        return 0;
    case VMM_STATE_DEBUGREGS:
        *out = (struct kvm_state_ioctl){KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs)};
        return 0;
    case VMM_STATE_TSC_KHZ: /* get only, handled by hostdrv_vcpu_get_state itself */
        break;
    }
    return -1;
}

static int kvm_state_len_ok(vmm_state_class cls, const struct kvm_state_ioctl *io, const void *buf, size_t len)
{
    if (io->size)
        return len >= io->size;
    if (cls == VMM_STATE_CPU_MODEL)
        return kvm_check_cpuid_len(buf, len) == 0;
    return kvm_check_msrs_len(buf, len) == 0;
}

static int kvm_vcpu_get_state(hostdrv_vcpu *hvc, vmm_state_class cls, void *buf, size_t len)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    if (cls == VMM_STATE_TSC_KHZ) {
        int khz = len == sizeof(uint32_t) ? ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0) : -1;
        if (khz <= 0) {
            errno = khz == 0 || len != sizeof(uint32_t) ? EINVAL : errno;
            return -1;
        }
        uint32_t v = (uint32_t)khz;
        memcpy(buf, &v, sizeof(v));
        return 0;
    }
    struct kvm_state_ioctl io;
    if (kvm_state_ioctl_for(cls, &io) || !kvm_state_len_ok(cls, &io, buf, len)) {
        errno = EINVAL;
        return -1;
    }
    int r = ioctl(vcpu->fd, io.get, buf);
    /* KVM_GET_MSRS returns how many it read; fewer than asked is an error for the caller. */
    if (cls == VMM_STATE_MSRS && r >= 0 && (uint32_t)r != ((struct kvm_msrs *)buf)->nmsrs) {
        errno = EINVAL;
        return -1;
    }
    return r < 0 ? -1 : 0;
}

static int kvm_vcpu_set_state(hostdrv_vcpu *hvc, vmm_state_class cls, const void *buf, size_t len)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    struct kvm_state_ioctl io;
    if (kvm_state_ioctl_for(cls, &io) || !kvm_state_len_ok(cls, &io, buf, len)) {
        errno = EINVAL;
        return -1;
    }
    int r = ioctl(vcpu->fd, io.set, buf);
    if (cls == VMM_STATE_MSRS && r >= 0 && (uint32_t)r != ((const struct kvm_msrs *)buf)->nmsrs) {
        errno = EINVAL;
        return -1;
    }
    return r < 0 ? -1 : 0;
}

static int kvm_vcpu_translate(hostdrv_vcpu *hvc, uint64_t gva, uint64_t *gpa)
{
    kvm_vcpu *vcpu = (kvm_vcpu *)hvc;
    struct kvm_translation t = {.linear_address = gva};
    if (ioctl(vcpu->fd, KVM_TRANSLATE, &t) < 0)
        return -1;
    if (!t.valid) {
        errno = EFAULT;
        return -1;
    }
    *gpa = t.physical_address;
    return 0;
}

static unsigned kvm_vm_caps(const hostdrv_vm *hvm)
{
    const kvm_vm *vm = (const kvm_vm *)hvm;
    return (vm->drv->has_readonly_mem ? HOSTDRV_CAP_READONLY_SLOTS : 0) | HOSTDRV_CAP_DIRTY_LOG |
           (vm->irqchip ? HOSTDRV_CAP_IRQCHIP | HOSTDRV_CAP_MSI : 0) |
           (!vm->irqchip && vm->soft.irq_line ? HOSTDRV_CAP_IRQCHIP : 0) |
           (!vm->irqchip && vm->soft.msi ? HOSTDRV_CAP_MSI : 0) | HOSTDRV_CAP_STATE_CLASSES;
}

const hostdrv_engine hostdrv_engine_kvm = {
    .name = "kvm",
    .summary = "the host kernel's KVM (/dev/kvm) runs the guest",
    .open = kvm_open,
    .close = kvm_close,
    .abi = kvm_abi,
    .max_vcpus = kvm_max_vcpus,
    .describe = kvm_describe,
    .vm_create = kvm_vm_create,
    .vm_destroy = kvm_vm_destroy,
    .vm_caps = kvm_vm_caps,
    .vm_map = kvm_vm_map,
    .vm_get_dirty_log = kvm_vm_get_dirty_log,
    .vm_enable_feature = kvm_vm_enable_feature,
    .vm_irq_line = kvm_vm_irq_line,
    .vm_signal_msi = kvm_vm_signal_msi,
    .vm_get_state = kvm_vm_get_state,
    .vm_set_state = kvm_vm_set_state,
    .vcpu_create = kvm_vcpu_create,
    .vcpu_destroy = kvm_vcpu_destroy,
    .vcpu_run = kvm_vcpu_run,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_get_state = kvm_vcpu_get_state,
    .vcpu_set_state = kvm_vcpu_set_state,
    .vcpu_translate = kvm_vcpu_translate,
};
