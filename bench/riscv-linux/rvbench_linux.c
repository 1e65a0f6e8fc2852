/*
 * rvbench as a Linux user program: bench/riscv/bench.c unchanged (its hosted build, stdio output), wrapped to time
 * itself with the guest's own clocks (CLOCK_MONOTONIC and the process CPU clock), so the in-guest figure
 * excludes the boot. Built statically for riscv64 Linux by bench/riscv-linux/meson.build and run in the booted
 * guest by run_linux_bench.py.
 */
#include <stdio.h>
#include <time.h>

#define main rvbench_main
#include "../riscv/bench.c"
#undef main

static double linux_bench_seconds(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    double w0 = linux_bench_seconds(CLOCK_MONOTONIC), c0 = linux_bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
    int status = rvbench_main();
    double w1 = linux_bench_seconds(CLOCK_MONOTONIC), c1 = linux_bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
    printf("RVBENCH-LINUX wall=%.4f cpu=%.4f\n", w1 - w0, c1 - c0);
    fflush(stdout);
    return status;
}
