/*
 * bench/hypercall: what the RC hypervisor's two crossings cost, next to the limit, in one run.
 *   - raw KVM port exit: a minimal in-process KVM guest (64-bit, ring 0, no vmm code) doing `out` in a loop;
 *     the cheapest way there is to go guest -> host -> guest. This is the limit an RC hypercall is measured
 *     against.
 *   - RC hypercall (RC -> host -> RC) and ring-3 -> RC -> ring-3 trap: timed by the rc-selftest plugin between
 *     mark hypercalls in `vmm run --arch rc-selftest,test=bench`, read from vmm's log.
 *   - the ring-3 loop (dec/jnz) inside the VM against the same loop on the host: guest ring 3 runs natively.
 * Every figure is the median of the repetitions; runs of the raw loop and of vmm alternate so drift hits both.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HCB_VMM
#define HCB_VMM "vmm"
#endif

#define HCB_MAX_REPS 51
#define HCB_RAW_MEM 0x200000ull
#define HCB_RAW_CODE 0x1000ull
#define HCB_RAW_PML4 0x10000ull
#define HCB_RAW_PDPT 0x11000ull
#define HCB_RAW_PD 0x12000ull
#define HCB_RAW_PORT 0x5e0

enum { HCB_RAW, HCB_HCALL, HCB_TRAP, HCB_LOOP, HCB_DOORBELL, HCB_R0LOOP, HCB_HOST_LOOP, HCB_COUNT };

static void hcb_die(const char *what)
{
    fprintf(stderr, "hypercall-bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t hcb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns per port exit of a 64-bit ring-0 guest doing `out` n times, KVM_RUN loop only (set-up excluded). */
static double hcb_raw_port_exit(uint64_t n)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        hcb_die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        hcb_die("KVM_CREATE_VM");
    uint8_t *mem = mmap(NULL, HCB_RAW_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        hcb_die("mmap");
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = HCB_RAW_MEM,
                                                 .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
        hcb_die("KVM_SET_USER_MEMORY_REGION");
    /* 1: out %al, %dx; dec %rcx; jnz 1b; hlt */
    static const uint8_t code[] = {0xee, 0x48, 0xff, 0xc9, 0x75, 0xfa, 0xf4};
    memcpy(mem + HCB_RAW_CODE, code, sizeof(code));
    uint64_t pml4e = HCB_RAW_PDPT | 3, pdpte = HCB_RAW_PD | 3, pde = 0x83;
    memcpy(mem + HCB_RAW_PML4, &pml4e, 8);
    memcpy(mem + HCB_RAW_PDPT, &pdpte, 8);
    memcpy(mem + HCB_RAW_PD, &pde, 8);
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vcpu < 0 || run_size <= 0)
        hcb_die("KVM_CREATE_VCPU");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        hcb_die("mmap kvm_run");
    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s))
        hcb_die("KVM_GET_SREGS");
    struct kvm_segment cs = {.limit = 0xffffffff, .selector = 8, .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1};
    struct kvm_segment ds = {.limit = 0xffffffff, .selector = 16, .type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1};
    s.cs = cs;
    s.ds = s.es = s.fs = s.gs = s.ss = ds;
    s.cr0 = 0x80050033ull;
    s.cr3 = HCB_RAW_PML4;
    s.cr4 = 0x620;
    s.efer = 0xd00;
    struct kvm_regs r = {.rip = HCB_RAW_CODE, .rflags = 2, .rcx = n, .rdx = HCB_RAW_PORT, .rsp = 0x100000};
    if (ioctl(vcpu, KVM_SET_SREGS, &s) || ioctl(vcpu, KVM_SET_REGS, &r))
        hcb_die("KVM_SET_REGS");
    uint64_t exits = 0, t0 = hcb_now_ns();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) && errno != EINTR)
            hcb_die("KVM_RUN");
        if (run->exit_reason == KVM_EXIT_IO) {
            exits++;
            continue;
        }
        break;
    }
    uint64_t t1 = hcb_now_ns();
    if (run->exit_reason != KVM_EXIT_HLT || exits != n) {
        fprintf(stderr, "hypercall-bench: raw guest ended with exit %u after %" PRIu64 " port exits\n",
                run->exit_reason, exits);
        exit(1);
    }
    munmap(run, (size_t)run_size);
    close(vcpu);
    close(vm);
    close(kvm);
    munmap(mem, HCB_RAW_MEM);
    return (double)(t1 - t0) / (double)n;
}

/* The ring-3 loop's instructions, on the host. */
static double hcb_host_loop(uint64_t n)
{
    uint64_t t0 = hcb_now_ns(), c = n;
    __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(c));
    return (double)(hcb_now_ns() - t0) / (double)n;
}

/* One vmm run in bench mode; fills out[HCB_HCALL..HCB_R0LOOP] with ns per operation. */
static void hcb_vmm(const char *vmm, uint64_t n, double *out)
{
    char arch[96];
    snprintf(arch, sizeof(arch), "rc-selftest,test=bench,iterations=%" PRIu64, n);
    int pipefd[2];
    if (pipe(pipefd))
        hcb_die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        hcb_die("fork");
    if (pid == 0) {
        dup2(pipefd[1], 2);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        close(pipefd[0]);
        execl(vmm, vmm, "run", "--arch", arch, "--log", "info", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    if (!f)
        hcb_die("fdopen");
    char line[512];
    static const char *const names[] = {"hypercall", "ring3-roundtrip", "ring3-loop", "hypercall-doorbell",
                                        "ring0-loop"};
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        for (int i = 0; i < 5; i++) {
            char key[64];
            snprintf(key, sizeof(key), "bench: %s count=", names[i]);
            const char *p = strstr(line, key), *q = p ? strstr(p, "ns_per_op=") : NULL;
            if (q) {
                out[HCB_HCALL + i] = strtod(q + strlen("ns_per_op="), NULL);
                found |= 1 << i;
            }
        }
    }
    fclose(f);
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || found != 31) {
        fprintf(stderr, "hypercall-bench: %s run --arch %s failed (status 0x%x, figures found 0x%x)\n", vmm, arch,
                status, found);
        exit(1);
    }
}

static int hcb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double hcb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), hcb_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    const char *vmm = HCB_VMM;
    uint64_t n = 2000;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vmm") && i + 1 < argc)
            vmm = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: hypercall-bench [--vmm PATH] [-n ITERATIONS (default 2000)] [-r REPS (default 5)]\n");
            return 2;
        }
    }
    if (n == 0 || n > 1000000 || reps < 1 || reps > HCB_MAX_REPS) {
        fprintf(stderr, "hypercall-bench: -n must be 1..1000000 and -r 1..%d\n", HCB_MAX_REPS);
        return 2;
    }
    static double v[HCB_COUNT][HCB_MAX_REPS];
    for (int r = 0; r < reps; r++) {
        double out[HCB_COUNT] = {0};
        v[HCB_RAW][r] = hcb_raw_port_exit(n);
        hcb_vmm(vmm, n, out);
        v[HCB_HCALL][r] = out[HCB_HCALL];
        v[HCB_TRAP][r] = out[HCB_TRAP];
        v[HCB_LOOP][r] = out[HCB_LOOP];
        v[HCB_DOORBELL][r] = out[HCB_DOORBELL];
        v[HCB_R0LOOP][r] = out[HCB_R0LOOP];
        v[HCB_HOST_LOOP][r] = hcb_host_loop(n * 100000);
    }
    double m[HCB_COUNT];
    for (int k = 0; k < HCB_COUNT; k++)
        m[k] = hcb_median(v[k], reps);
    printf("hypercall-bench: %" PRIu64 " operations per run, median of %d runs\n", n, reps);
    printf("  %-46s %12s %10s\n", "crossing", "per op", "vs limit");
    printf("  %-46s %9.2f us %9.2fx\n", "raw KVM port exit, ring 0 (the limit)", m[HCB_RAW] / 1e3, 1.0);
    printf("  %-46s %9.2f us %9.2fx\n", "RC hypercall (RC -> host -> RC)", m[HCB_HCALL] / 1e3, m[HCB_HCALL] / m[HCB_RAW]);
    printf("  %-46s %9.2f us %9.2fx\n", "RC hypercall, inline doorbell (number only)", m[HCB_DOORBELL] / 1e3,
           m[HCB_DOORBELL] / m[HCB_RAW]);
    printf("  %-46s %9.2f us %9.2fx\n", "ring-3 -> RC -> ring-3 trap round trip", m[HCB_TRAP] / 1e3, m[HCB_TRAP] / m[HCB_RAW]);
    printf("  %-46s %9.3f ns\n", "ring-3 loop iteration in the VM (dec/jnz)", m[HCB_LOOP]);
    printf("  %-46s %9.2f us %9.0fx the host\n", "same loop at ring 0 in the VM (emulated)", m[HCB_R0LOOP] / 1e3,
           m[HCB_R0LOOP] / m[HCB_HOST_LOOP]);
    printf("  %-46s %9.3f ns %9.2fx\n", "same loop on the host", m[HCB_HOST_LOOP], m[HCB_LOOP] / m[HCB_HOST_LOOP]);
    return 0;
}
