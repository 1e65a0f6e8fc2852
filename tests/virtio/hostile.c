/*
 * hostile.c: a virtio driver that breaks the rules (tests/virtio/virtio.sh hostile), one way per case, on a freshly
 * reset device each time: queue sizes that are not powers of 2 or exceed QueueNumMax, a looping chain, buffers
 * outside RAM or wrapping around the address space, indices beyond the queue, a descriptor table outside RAM,
 * indirect descriptors misused, a block request too short to hold a header, console buffers the wrong way round. After each the device must report
 * DEVICE_NEEDS_RESET, and must not have returned the buffer; after a reset it must work again.
 */
#include "guest.h"

static struct queue q __attribute__((aligned(4096)));
static uint8_t buf[256] __attribute__((aligned(16)));
static struct desc itable[2] __attribute__((aligned(16)));
static struct desc itable2[1] __attribute__((aligned(16)));
static uint8_t hdr[8], st;
static unsigned cases;

static void ready(unsigned long base, uint32_t id, uint64_t features)
{
    vdev_negotiate(base, id, features);
    vdev_queue(base, &q, QN);
    vdev_driver_ok(base);
}

static void expect_reset(unsigned long base, int after_driver_ok)
{
    cases++;
    CHECK(cases, R(base, STATUS) & S_NEEDS_RESET, "the device does not need a reset");
    CHECK(cases, q.used.idx == 0, "the device returned a buffer of a broken request");
    if (after_driver_ok)
        CHECK(cases, R(base, INTERRUPT_STATUS) & 2, "no configuration-change interrupt with DEVICE_NEEDS_RESET");
    R(base, STATUS) = 0;
    CHECK(cases, R(base, STATUS) == 0 && R(base, INTERRUPT_STATUS) == 0, "reset did not clear the device");
}

static void one_desc(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    q.desc[0] = (struct desc){addr, len, flags, next};
    vq_submit(RNG_BASE, &q, 0, 1);
}

void hostile_main(void)
{
    /* Queue sizes. */
    vdev_negotiate(RNG_BASE, 4, F_VERSION_1);
    R(RNG_BASE, QUEUE_SEL) = 0;
    R(RNG_BASE, QUEUE_NUM) = 3;
    expect_reset(RNG_BASE, 0);
    vdev_negotiate(RNG_BASE, 4, F_VERSION_1);
    R(RNG_BASE, QUEUE_SEL) = 0;
    R(RNG_BASE, QUEUE_NUM) = 65536;
    expect_reset(RNG_BASE, 0);

    /* A chain that loops: 0 -> 1 -> 0 ... */
    ready(RNG_BASE, 4, F_VERSION_1);
    q.desc[1] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE | D_NEXT, 0};
    one_desc((uint64_t)(uintptr_t)buf, 64, D_WRITE | D_NEXT, 1);
    expect_reset(RNG_BASE, 1);

    /* Buffers outside RAM: far away, straddling its end, wrapping around 2^64. */
    ready(RNG_BASE, 4, F_VERSION_1);
    one_desc(0x1000000000ull, 64, D_WRITE, 0);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1);
    one_desc(RAM_END - 8, 64, D_WRITE, 0);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1);
    one_desc(0xfffffffffffffff0ull, 256, D_WRITE, 0);
    expect_reset(RNG_BASE, 1);

    /* Indices beyond the queue: a next field, an available ring entry, the available index. */
    ready(RNG_BASE, 4, F_VERSION_1);
    one_desc((uint64_t)(uintptr_t)buf, 64, D_WRITE | D_NEXT, 9);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1);
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE, 0};
    vq_submit(RNG_BASE, &q, 200, 1);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1);
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE, 0};
    fence();
    q.avail.idx = 100;
    fence();
    R(RNG_BASE, QUEUE_NOTIFY) = 0;
    expect_reset(RNG_BASE, 1);

    /* A descriptor table outside RAM, found when the queue is made ready. */
    vdev_negotiate(RNG_BASE, 4, F_VERSION_1);
    R(RNG_BASE, QUEUE_SEL) = 0;
    R(RNG_BASE, QUEUE_NUM) = QN;
    R(RNG_BASE, QUEUE_DESC) = 0;
    R(RNG_BASE, QUEUE_DESC + 4) = 0x10;
    R(RNG_BASE, QUEUE_DRIVER) = (uint32_t)(uintptr_t)&q.avail;
    R(RNG_BASE, QUEUE_DEVICE) = (uint32_t)(uintptr_t)&q.used;
    R(RNG_BASE, QUEUE_READY) = 1;
    CHECK(40, R(RNG_BASE, QUEUE_READY) == 0, "a queue outside RAM became ready");
    expect_reset(RNG_BASE, 0);

    /* Indirect descriptors: not negotiated, nested, a table of 1.5 descriptors. */
    ready(RNG_BASE, 4, F_VERSION_1);
    itable[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE, 0};
    one_desc((uint64_t)(uintptr_t)itable, 16, D_INDIRECT, 0);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1 | F_INDIRECT);
    itable2[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE, 0};
    itable[0] = (struct desc){(uint64_t)(uintptr_t)itable2, 16, D_INDIRECT, 0};
    one_desc((uint64_t)(uintptr_t)itable, 32, D_INDIRECT, 0);
    expect_reset(RNG_BASE, 1);
    ready(RNG_BASE, 4, F_VERSION_1 | F_INDIRECT);
    one_desc((uint64_t)(uintptr_t)itable, 24, D_INDIRECT, 0);
    expect_reset(RNG_BASE, 1);

    /* A block request with an 8-byte header. */
    ready(BLK_BASE, 2, F_VERSION_1);
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)hdr, sizeof(hdr), D_NEXT, 1};
    q.desc[1] = (struct desc){(uint64_t)(uintptr_t)&st, 1, D_WRITE, 0};
    vq_submit(BLK_BASE, &q, 0, 1);
    expect_reset(BLK_BASE, 1);

    /* virtio-console: a receive buffer the device would read, a transmit buffer it would write. */
    ready(CON_BASE, 3, F_VERSION_1);
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, 0, 0};
    vq_submit(CON_BASE, &q, 0, 1);
    expect_reset(CON_BASE, 1);
    vdev_negotiate(CON_BASE, 3, F_VERSION_1);
    vdev_queue_sel(CON_BASE, 1, &q, QN);
    vdev_driver_ok(CON_BASE);
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)buf, 64, D_WRITE, 0};
    vq_submit_sel(CON_BASE, 1, &q, 0, 1);
    expect_reset(CON_BASE, 1);

    /* After a reset the device works: 64 random bytes, returned (polled: no interrupt controller set up here). */
    ready(RNG_BASE, 4, F_VERSION_1);
    one_desc((uint64_t)(uintptr_t)buf, 64, D_WRITE, 0);
    for (unsigned long spins = 0; *(volatile uint16_t *)&q.used.idx != 1; spins++)
        CHECK(41, spins < 100000000ul, "no buffer returned after the reset");
    CHECK(42, q.used.ring[0].len == 64, "the buffer came back with the wrong length");
    CHECK(43, !(R(RNG_BASE, STATUS) & S_NEEDS_RESET), "a valid request after a reset needs a reset");
    put_str("hostile ok\n");
    pass();
}

BARE_START(hostile_main);
