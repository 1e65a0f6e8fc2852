/* bench/mmu: what the host-MMU alternative to a software TLB would cost per operation on this machine: mapping
 * one guest page into a reserved host region (mmap MAP_FIXED of the RAM memfd), changing its protection
 * (mprotect), a SIGSEGV round trip (fault, handler, return by siglongjmp), and dropping a whole address space
 * (munmap of the region with N pages mapped, as a satp switch or sfence.vma would). Prints nanoseconds per
 * operation. Usage: hostmmu [PAGES] */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf jb;
static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 16384;
    size_t ram = pages * 4096;
    int fd = memfd_create("ram", 0);
    if (fd < 0 || ftruncate(fd, (off_t)ram))
        return 1;
    size_t region = (size_t)1 << 36; /* a reserved guest-virtual window */
    uint8_t *base = mmap(NULL, region, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return 1;
    /* map pages one by one, scattered (page i of RAM at virtual page 7 * i) */
    double t0 = now();
    for (size_t i = 0; i < pages; i++)
        if (mmap(base + 7 * i * 4096, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)(i * 4096)) ==
            MAP_FAILED)
            return 1;
    double t_map = (now() - t0) / (double)pages;
    for (size_t i = 0; i < pages; i++)
        base[7 * i * 4096] = 1; /* populate the host page tables */
    t0 = now();
    for (size_t i = 0; i < pages; i++)
        mprotect(base + 7 * i * 4096, 4096, PROT_READ);
    double t_prot = (now() - t0) / (double)pages;
    struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
    sigaction(SIGSEGV, &sa, NULL);
    volatile uint8_t *p = base + 4096; /* PROT_NONE */
    unsigned n = 100000;
    t0 = now();
    for (unsigned i = 0; i < n; i++)
        if (!sigsetjmp(jb, 1))
            *p = 1;
    double t_segv = (now() - t0) / n;
    t0 = now();
    munmap(base, region);
    mmap(base, region, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    double t_unmap = now() - t0;
    printf("pages %zu: mmap one page %.0f ns, mprotect one page %.0f ns, SIGSEGV round trip %.0f ns, "
           "munmap of the region with all mapped %.0f us (%.0f ns per page)\n",
           pages, t_map, t_prot, t_segv, t_unmap / 1000, t_unmap / (double)pages);
    return 0;
}
