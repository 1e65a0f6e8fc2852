/*
 * blkbench.c: virtio-blk throughput from a bare-metal riscv64 guest (bench/virtio/run.sh). For each request size it
 * writes the whole image sequentially, flushes, then reads it all back, one request in flight, each completion by
 * PLIC interrupt; it prints the CLINT's mtime ticks (10 MHz) for each pass: "write SIZE TICKS", "read SIZE TICKS".
 */
#include "guest.h"

#ifndef IMAGE_SECTORS
#define IMAGE_SECTORS 131072 /* 64 MiB */
#endif
#define MTIME (*(volatile uint64_t *)0x200bff8)

static struct queue q __attribute__((aligned(4096)));
static uint8_t data[65536] __attribute__((aligned(4096)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr;
static volatile uint8_t st;

static void request(uint32_t type, uint64_t sector, uint32_t len)
{
    int before = irq_seen[BLK_IRQ];
    hdr.type = type;
    hdr.sector = sector;
    st = 0xff;
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)&hdr, 16, D_NEXT, 1};
    if (len) {
        q.desc[1] = (struct desc){(uint64_t)(uintptr_t)data, len, (uint16_t)(D_NEXT | (type == 0 ? D_WRITE : 0)), 2};
        q.desc[2] = (struct desc){(uint64_t)(uintptr_t)&st, 1, D_WRITE, 0};
    } else {
        q.desc[1] = (struct desc){(uint64_t)(uintptr_t)&st, 1, D_WRITE, 0};
    }
    vq_submit(BLK_BASE, &q, 0, 1);
    wait_irq(BLK_IRQ, before);
    CHECK(30, st == 0, "request failed");
}

void bench_main(void)
{
    static const uint32_t sizes[] = {4096, 16384, 65536};
    plic_setup();
    vdev_negotiate(BLK_BASE, 2, F_VERSION_1);
    vdev_queue(BLK_BASE, &q, QN);
    vdev_driver_ok(BLK_BASE);
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    for (unsigned s = 0; s < 3; s++) {
        uint32_t sz = sizes[s];
        for (int rd = 0; rd < 2; rd++) {
            uint64_t t0 = MTIME;
            for (uint64_t sec = 0; sec < IMAGE_SECTORS; sec += sz / 512)
                request(rd ? 0 : 1, sec, sz);
            if (!rd)
                request(4, 0, 0);
            uint64_t t1 = MTIME;
            put_str(rd ? "read " : "write ");
            put_dec(sz);
            put_str(" ");
            put_dec(t1 - t0);
            put_str("\n");
        }
    }
    pass();
}

BARE_START(bench_main);
