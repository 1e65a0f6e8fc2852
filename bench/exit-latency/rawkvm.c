/*
 * rawkvm: the physical limit for bench/exit-latency. A deliberately minimal KVM loop (no vmm code) that starts
 * an ELF64 guest in the x86-raw long-mode state of docs/x86-raw.md, resumes at once on every port write to the
 * null port and stops on the debug-exit write (port 0x501). Whatever vmm adds per exit is measured against this.
 *
 * usage: rawkvm [--mem MIB] GUEST.ELF [FILE@ADDR ...]
 * Prints the exit count and the time spent in the KVM_RUN loop; exits 0 when the guest wrote debug-exit.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAWKVM_NULL_PORT 0x5e0
#define RAWKVM_DEBUG_EXIT_PORT 0x501
#define RAWKVM_BOOT_AREA_END 0x80000ull

/* Boot-area layout. Addresses are ours (the doc fixes only selectors, RSP and that all of it is below 0x80000). */
#define RAWKVM_GDT_ADDR 0x1000ull
#define RAWKVM_TSS_ADDR 0xa000ull /* 0x68 bytes, then an 8 KiB I/O bitmap and its 0xff end byte */
#define RAWKVM_TSS_IOMAP_OFFSET 0x68u
#define RAWKVM_TSS_LIMIT (RAWKVM_TSS_IOMAP_OFFSET + 0x2000u)
#define RAWKVM_PML4_ADDR 0x10000ull
#define RAWKVM_PDPT_ADDR 0x11000ull
#define RAWKVM_PD_ADDR 0x12000ull /* four PDs, 0x12000..0x15fff, cover 4 GiB */
#define RAWKVM_STACK_TOP 0x80000ull

#define RAWKVM_PTE_P 0x1ull
#define RAWKVM_PTE_RW 0x2ull
#define RAWKVM_PTE_US 0x4ull
#define RAWKVM_PTE_PS 0x80ull

#define RAWKVM_CR0_PE 0x1ull
#define RAWKVM_CR0_ET 0x10ull
#define RAWKVM_CR0_NE 0x20ull
#define RAWKVM_CR0_WP 0x10000ull
#define RAWKVM_CR0_PG 0x80000000ull
#define RAWKVM_CR4_PAE 0x20ull
#define RAWKVM_CR4_OSFXSR 0x200ull
#define RAWKVM_CR4_OSXMMEXCPT 0x400ull
#define RAWKVM_EFER_LME 0x100ull
#define RAWKVM_EFER_LMA 0x400ull
#define RAWKVM_EFER_NXE 0x800ull

typedef struct rawkvm_vm {
    int kvm_fd;
    int vm_fd;
    int vcpu_fd;
    uint8_t *mem;
    uint64_t mem_size;
    struct kvm_run *run;
} rawkvm_vm;

static void rawkvm_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void rawkvm_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rawkvm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int rawkvm_call_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
    int ret = ioctl(fd, req, arg);
    if (ret < 0)
        rawkvm_die("%s: %s", what, strerror(errno));
    return ret;
}

static uint8_t *rawkvm_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        rawkvm_die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0)
        rawkvm_die("%s: %s", path, strerror(errno));
    uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        rawkvm_die("out of memory reading %s", path);
    if (st.st_size && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        rawkvm_die("%s: short read", path);
    fclose(f);
    *len = (size_t)st.st_size;
    return buf;
}

static void rawkvm_copy_to_guest(rawkvm_vm *vm, uint64_t gpa, const void *src, uint64_t len, const char *what)
{
    if (gpa > vm->mem_size || len > vm->mem_size - gpa)
        rawkvm_die("%s: [0x%" PRIx64 ", +0x%" PRIx64 ") does not fit in guest RAM", what, gpa, len);
    memcpy(vm->mem + gpa, src, len);
}

/* Loads PT_LOAD segments at p_paddr, as x86-raw does; returns the entry point. */
static uint64_t rawkvm_load_elf(rawkvm_vm *vm, const char *path)
{
    size_t len;
    uint8_t *buf = rawkvm_read_file(path, &len);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
        rawkvm_die("%s: not an x86-64 ELF64 executable", path);
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
        rawkvm_die("%s: bad program header table", path);
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(buf + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset)
            rawkvm_die("%s: segment %u lies outside the file", path, i);
        if (ph[i].p_paddr < RAWKVM_BOOT_AREA_END)
            rawkvm_die("%s: segment %u at 0x%" PRIx64 " overlaps the boot area", path, i, (uint64_t)ph[i].p_paddr);
        if (ph[i].p_paddr > vm->mem_size || ph[i].p_memsz > vm->mem_size - ph[i].p_paddr)
            rawkvm_die("%s: segment %u does not fit in guest RAM", path, i);
        rawkvm_copy_to_guest(vm, ph[i].p_paddr, buf + ph[i].p_offset, ph[i].p_filesz, path);
        memset(vm->mem + ph[i].p_paddr + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
    }
    uint64_t entry = eh->e_entry;
    free(buf);
    return entry;
}

static void rawkvm_load_raw(rawkvm_vm *vm, const char *spec)
{
    const char *at = strrchr(spec, '@');
    if (!at)
        rawkvm_die("%s: raw images must be given as FILE@ADDR", spec);
    char *end;
    errno = 0;
    uint64_t gpa = strtoull(at + 1, &end, 0);
    if (errno || *end || end == at + 1)
        rawkvm_die("%s: bad address", spec);
    char *path = strndup(spec, (size_t)(at - spec));
    if (!path)
        rawkvm_die("out of memory");
    size_t len;
    uint8_t *buf = rawkvm_read_file(path, &len);
    rawkvm_copy_to_guest(vm, gpa, buf, len, path);
    free(buf);
    free(path);
}

static uint64_t rawkvm_make_seg_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    return (uint64_t)(limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)access << 40) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)(flags & 0xf) << 52) |
           ((uint64_t)(base >> 24) << 56);
}

static struct kvm_segment rawkvm_make_segment(uint16_t sel, uint8_t type, uint8_t dpl, bool code)
{
    struct kvm_segment s = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = dpl,
        .db = code ? 0 : 1,
        .s = 1,
        .l = code ? 1 : 0,
        .g = 1,
    };
    return s;
}

/* GDT, TSS and page tables in guest memory: iretq to ring 3 reads the GDT, the CPU walks the page tables. */
static void rawkvm_build_boot_area(rawkvm_vm *vm)
{
    uint64_t *gdt = (uint64_t *)(vm->mem + RAWKVM_GDT_ADDR);
    gdt[0] = 0;
    gdt[1] = rawkvm_make_seg_desc(0, 0xfffff, 0x9a, 0xa); /* 0x08 code64 DPL0 */
    gdt[2] = rawkvm_make_seg_desc(0, 0xfffff, 0x92, 0xc); /* 0x10 data DPL0 */
    gdt[3] = rawkvm_make_seg_desc(0, 0xfffff, 0xfa, 0xa); /* 0x18 code64 DPL3 */
    gdt[4] = rawkvm_make_seg_desc(0, 0xfffff, 0xf2, 0xc); /* 0x20 data DPL3 */
    gdt[5] = rawkvm_make_seg_desc((uint32_t)RAWKVM_TSS_ADDR, RAWKVM_TSS_LIMIT, 0x8b, 0x0); /* 0x28 TSS, busy */
    gdt[6] = RAWKVM_TSS_ADDR >> 32;

    /*
     * 64-bit TSS with RSP0 and an all-zero I/O bitmap, as x86-raw's: kvm_pvm drops RFLAGS.IOPL at CPL 3 and
     * grants ring-3 port access only through the bitmap, so without it the ring-3 run would #GP.
     */
    uint8_t *tss = vm->mem + RAWKVM_TSS_ADDR;
    memset(tss, 0, RAWKVM_TSS_LIMIT + 1);
    uint64_t rsp0 = RAWKVM_STACK_TOP;
    memcpy(tss + 4, &rsp0, sizeof(rsp0));
    uint16_t iomap = RAWKVM_TSS_IOMAP_OFFSET;
    memcpy(tss + 102, &iomap, sizeof(iomap));
    tss[RAWKVM_TSS_LIMIT] = 0xff; /* the byte the CPU requires after the bitmap */

    uint64_t *pml4 = (uint64_t *)(vm->mem + RAWKVM_PML4_ADDR);
    uint64_t *pdpt = (uint64_t *)(vm->mem + RAWKVM_PDPT_ADDR);
    uint64_t *pd = (uint64_t *)(vm->mem + RAWKVM_PD_ADDR);
    const uint64_t flags = RAWKVM_PTE_P | RAWKVM_PTE_RW | RAWKVM_PTE_US;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = RAWKVM_PDPT_ADDR | flags;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (RAWKVM_PD_ADDR + i * 4096) | flags;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | flags | RAWKVM_PTE_PS;
}

static void rawkvm_set_cpuid(rawkvm_vm *vm)
{
    /* KVM refuses EFER.LME/NXE unless the guest CPUID advertises LM/NX, so hand the guest what KVM supports. */
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + (size_t)n * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid)
        rawkvm_die("out of memory");
    cpuid->nent = (uint32_t)n;
    rawkvm_call_ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
    rawkvm_call_ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
    free(cpuid);
}

static void rawkvm_set_long_mode(rawkvm_vm *vm, uint64_t entry)
{
    struct kvm_sregs sregs;
    rawkvm_call_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cr0 = RAWKVM_CR0_PE | RAWKVM_CR0_ET | RAWKVM_CR0_NE | RAWKVM_CR0_WP | RAWKVM_CR0_PG;
    sregs.cr4 = RAWKVM_CR4_PAE | RAWKVM_CR4_OSFXSR | RAWKVM_CR4_OSXMMEXCPT;
    sregs.cr3 = RAWKVM_PML4_ADDR;
    sregs.efer = RAWKVM_EFER_LME | RAWKVM_EFER_LMA | RAWKVM_EFER_NXE;
    sregs.gdt.base = RAWKVM_GDT_ADDR;
    sregs.gdt.limit = 7 * 8 - 1;
    /* No IDT: this guest takes no exceptions on its good path, and a fault then ends as a visible shutdown. */
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = rawkvm_make_segment(0x08, 0xb, 0, true);
    struct kvm_segment data = rawkvm_make_segment(0x10, 0x3, 0, false);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = (struct kvm_segment){
        .base = RAWKVM_TSS_ADDR, .limit = RAWKVM_TSS_LIMIT, .selector = 0x28, .type = 0xb, .present = 1, .s = 0};
    sregs.ldt = (struct kvm_segment){.type = 0x2, .present = 1, .unusable = 1};
    rawkvm_call_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

    struct kvm_regs regs = {.rip = entry, .rsp = RAWKVM_STACK_TOP, .rflags = 0x2, .rdi = 0};
    rawkvm_call_ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static void rawkvm_create_vm(rawkvm_vm *vm, uint64_t mem_size)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        rawkvm_die("/dev/kvm: %s", strerror(errno));
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        rawkvm_die("/dev/kvm: API version %d, expected %d", api, KVM_API_VERSION);
    vm->vm_fd = rawkvm_call_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

    vm->mem_size = mem_size;
    vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->mem == MAP_FAILED)
        rawkvm_die("guest RAM (%" PRIu64 " bytes): %s", mem_size, strerror(errno));
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uintptr_t)vm->mem};
    rawkvm_call_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

    vm->vcpu_fd = rawkvm_call_ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    int run_size = rawkvm_call_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    vm->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (vm->run == MAP_FAILED)
        rawkvm_die("mmap kvm_run: %s", strerror(errno));
}

static void rawkvm_report_unexpected_exit(rawkvm_vm *vm)
{
    struct kvm_run *run = vm->run;
    struct kvm_regs regs;
    uint64_t rip = ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        rawkvm_die("unexpected port %s 0x%x (size %u) at rip 0x%" PRIx64,
                   run->io.direction == KVM_EXIT_IO_OUT ? "write to" : "read from", run->io.port, run->io.size,
                   rip);
    case KVM_EXIT_SHUTDOWN:
        rawkvm_die("guest shut down (triple fault) at rip 0x%" PRIx64, rip);
    case KVM_EXIT_INTERNAL_ERROR:
        rawkvm_die("KVM internal error, suberror %u, at rip 0x%" PRIx64, run->internal.suberror, rip);
    case KVM_EXIT_FAIL_ENTRY:
        rawkvm_die("VM entry failed, reason 0x%llx",
                   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    default:
        rawkvm_die("unexpected exit reason %u at rip 0x%" PRIx64, run->exit_reason, rip);
    }
}

static double rawkvm_read_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The loop under test: nothing but KVM_RUN and the checks needed to tell the null port from debug-exit. */
static uint64_t rawkvm_run_loop(rawkvm_vm *vm)
{
    struct kvm_run *run = vm->run;
    uint64_t exits = 0;
    for (;;) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rawkvm_die("KVM_RUN: %s", strerror(errno));
        }
        exits++;
        if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT) {
            rawkvm_report_unexpected_exit(vm);
        }
        if (run->io.port == RAWKVM_NULL_PORT)
            continue;
        if (run->io.port == RAWKVM_DEBUG_EXIT_PORT)
            return exits;
        rawkvm_report_unexpected_exit(vm);
    }
}

static void rawkvm_print_usage(void)
{
    fprintf(stderr, "usage: rawkvm [--mem MIB] GUEST.ELF [FILE@ADDR ...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t mem_mib = 64;
    int argi = 1;
    if (argi < argc && strcmp(argv[argi], "--mem") == 0) {
        if (argi + 1 >= argc)
            rawkvm_print_usage();
        char *end;
        mem_mib = strtoull(argv[argi + 1], &end, 0);
        if (*end || mem_mib < 4 || mem_mib > 4096)
            rawkvm_die("--mem %s: expected a size in MiB between 4 and 4096", argv[argi + 1]);
        argi += 2;
    }
    if (argi >= argc || argv[argi][0] == '-')
        rawkvm_print_usage();

    rawkvm_vm vm;
    rawkvm_create_vm(&vm, mem_mib << 20);
    uint64_t entry = rawkvm_load_elf(&vm, argv[argi]);
    for (int i = argi + 1; i < argc; i++)
        rawkvm_load_raw(&vm, argv[i]);
    rawkvm_build_boot_area(&vm);
    rawkvm_set_cpuid(&vm);
    rawkvm_set_long_mode(&vm, entry);

    double t0 = rawkvm_read_clock_ns();
    uint64_t exits = rawkvm_run_loop(&vm);
    double t1 = rawkvm_read_clock_ns();
    printf("rawkvm: %" PRIu64 " exits in %.3f ms (%.0f ns per exit)\n", exits, (t1 - t0) / 1e6,
           (t1 - t0) / (double)exits);
    return 0;
}
