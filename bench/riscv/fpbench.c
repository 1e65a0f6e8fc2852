/*
 * fpbench: a floating-point benchmark written for this project, the F/D counterpart of bench.c: double-precision
 * matrix multiply with explicit fused multiply-adds, an n-body style step (sqrt, division), single-precision
 * Mandelbrot iterations (compares decide the loop) and integer <-> FP conversions. Built with
 * -ffp-contract=off so that every fused operation is the explicit one and the riscv64 ELF (on vmm and on
 * qemu-system-riscv64) and the native x86-64 build compute bit-identical results: all print the same checksum.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef ITERATIONS
#define ITERATIONS 200
#endif

#include "bench_out.h"

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t dbits(double d)
{
    union { double d; uint64_t u; } x = { d };
    return x.u;
}

#define N 24
static double ma[N][N], mb[N][N], mc[N][N];

static uint64_t bench_gemm(uint32_t seed, uint64_t h)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            seed = seed * 1103515245u + 12345u;
            ma[i][j] = (double)(int32_t)(seed >> 4) / 65536.0;
            seed = seed * 1103515245u + 12345u;
            mb[i][j] = (double)(seed >> 8) / 1048576.0 - 4.0;
        }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < N; k++)
                s = __builtin_fma(ma[i][k], mb[k][j], s);
            mc[i][j] = s;
        }
    for (int i = 0; i < N; i++)
        h = mix(h, dbits(mc[i][(i * 7) % N]));
    return h;
}

#define BODIES 16
static uint64_t bench_nbody(uint32_t seed, uint64_t h)
{
    double x[BODIES], y[BODIES], vx[BODIES], vy[BODIES], m[BODIES];
    for (int i = 0; i < BODIES; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (double)(seed >> 16) / 256.0;
        seed = seed * 1103515245u + 12345u;
        y[i] = (double)(seed >> 16) / 256.0;
        vx[i] = vy[i] = 0.0;
        m[i] = 1.0 + (double)(i % 5);
    }
    for (int step = 0; step < 8; step++) {
        for (int i = 0; i < BODIES; i++)
            for (int j = 0; j < BODIES; j++) {
                if (i == j)
                    continue;
                double dx = x[j] - x[i], dy = y[j] - y[i];
                double d2 = dx * dx + dy * dy + 0.01;
                double inv = m[j] / (d2 * __builtin_sqrt(d2));
                vx[i] += dx * inv;
                vy[i] += dy * inv;
            }
        for (int i = 0; i < BODIES; i++) {
            x[i] += 0.01 * vx[i];
            y[i] += 0.01 * vy[i];
        }
    }
    for (int i = 0; i < BODIES; i++)
        h = mix(mix(h, dbits(x[i])), dbits(vy[i]));
    return h;
}

static uint64_t bench_mandel(uint32_t seed, uint64_t h)
{
    float cx0 = -2.0f + (float)(seed & 15) / 64.0f, cy0 = -1.0f;
    uint32_t total = 0;
    for (int py = 0; py < 16; py++)
        for (int px = 0; px < 16; px++) {
            float cx = cx0 + (float)px * 0.15f, cy = cy0 + (float)py * 0.125f;
            float zx = 0.0f, zy = 0.0f;
            int n = 0;
            while (n < 64 && zx * zx + zy * zy <= 4.0f) {
                float t = zx * zx - zy * zy + cx;
                zy = 2.0f * zx * zy + cy;
                zx = t;
                n++;
            }
            total += (uint32_t)n;
        }
    return mix(h, total);
}

static uint64_t bench_convert(uint32_t seed, uint64_t h)
{
    int64_t acc = 0;
    for (int i = 0; i < 256; i++) {
        seed = seed * 1103515245u + 12345u;
        double d = (double)(int32_t)seed * 0.37;
        float f = (float)d;
        acc += (int64_t)d + (int32_t)f + (int64_t)(uint32_t)(seed >> 1) / 3;
        acc ^= (int64_t)((double)acc * 0.5);
    }
    return mix(h, (uint64_t)acc);
}

int main(void)
{
    uint64_t h = 0;
    for (uint32_t it = 0; it < ITERATIONS; it++) {
        h = bench_gemm(it * 7u + 1u, h);
        h = bench_nbody(it * 13u + 5u, h);
        h = bench_mandel(it, h);
        h = bench_convert(it * 17u + 3u, h);
    }
    out_str("fpbench checksum ");
    out_hex(h, 16);
    out_str("\n");
    return 0;
}
