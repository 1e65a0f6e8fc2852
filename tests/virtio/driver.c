/*
 * driver.c: a bare-metal virtio driver (tests/virtio/virtio.sh). It negotiates features with virtio-rng (slot 0) and
 * virtio-blk (slot 1), sets up a split queue on each and takes every completion as a machine external interrupt
 * through the PLIC (never by polling the used ring): random bytes from virtio-rng; on virtio-blk a read of the
 * image the test wrote, two writes in one notify (one through an indirect table), a flush, GET_ID, a discard, a
 * read past the end and an unknown request type. Built with -DREADONLY it expects VIRTIO_BLK_F_RO, writes refused
 * with IOERR and DISCARD with UNSUPP. Ends through the SiFive finisher: 0x5555, or (N << 16) | 0x3333 for check N.
 */
#include "guest.h"

#define SECTORS 64 /* the image the test creates: 32 KiB */

static struct queue rngq __attribute__((aligned(4096)));
static struct queue blkq __attribute__((aligned(4096)));
static uint8_t buf[2][4096] __attribute__((aligned(16)));
static uint8_t wbuf[2048], ibuf[512], rbuf[2048];
static struct desc itable[3] __attribute__((aligned(16)));
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr[4];
static uint8_t status[4];
static struct {
    uint64_t sector;
    uint32_t num, flags;
} discard_range;

static void rng_read(uint8_t *dst, uint32_t len)
{
    int before = irq_seen[RNG_IRQ];
    rngq.desc[0] = (struct desc){(uint64_t)(uintptr_t)dst, len, D_WRITE, 0};
    vq_submit(RNG_BASE, &rngq, 0, 1);
    wait_irq(RNG_IRQ, before);
    fence();
    CHECK(20, irq_status[RNG_IRQ] & 1, "virtio-rng: no used-buffer interrupt");
    CHECK(21, rngq.used.idx == (uint16_t)(rngq.seen + 1), "virtio-rng: used index did not advance by one");
    CHECK(22, rngq.used.ring[rngq.seen % QN].id == 0 && rngq.used.ring[rngq.seen % QN].len == len,
          "virtio-rng: used element is not (0, len)");
    rngq.seen++;
}

/* One block request in descriptors 3n..3n+2 (header, data, status); returns the status byte. */
static void blk_prepare(unsigned n, uint32_t type, uint64_t sector, void *data, uint32_t len, int to_guest)
{
    hdr[n].type = type;
    hdr[n].reserved = 0;
    hdr[n].sector = sector;
    status[n] = 0xff;
    struct desc *d = &blkq.desc[2 * n];
    if (len) {
        d[0] = (struct desc){(uint64_t)(uintptr_t)&hdr[n], 16, D_NEXT, (uint16_t)(2 * n + 1)};
        d[1] = (struct desc){(uint64_t)(uintptr_t)data, len, (uint16_t)(D_NEXT | (to_guest ? D_WRITE : 0)), 7};
        blkq.desc[7] = (struct desc){(uint64_t)(uintptr_t)&status[n], 1, D_WRITE, 0};
    } else {
        d[0] = (struct desc){(uint64_t)(uintptr_t)&hdr[n], 16, D_NEXT, (uint16_t)(2 * n + 1)};
        d[1] = (struct desc){(uint64_t)(uintptr_t)&status[n], 1, D_WRITE, 0};
    }
}

static uint8_t blk_do(uint32_t type, uint64_t sector, void *data, uint32_t len, int to_guest)
{
    int before = irq_seen[BLK_IRQ];
    blk_prepare(0, type, sector, data, len, to_guest);
    vq_submit(BLK_BASE, &blkq, 0, 1);
    wait_used(BLK_IRQ, before, &blkq.used.idx, (uint16_t)(blkq.seen + 1));
    fence();
    CHECK(30, blkq.used.idx == (uint16_t)(blkq.seen + 1), "virtio-blk: used index did not advance by one");
    CHECK(31, blkq.used.ring[blkq.seen % QN].id == 0, "virtio-blk: used element names another head");
    blkq.seen++;
    return status[0];
}

static int same(const uint8_t *a, const uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

void driver_main(void)
{
    plic_setup();

    /* virtio-rng: two reads, each all its length, and different. */
    vdev_negotiate(RNG_BASE, 4, F_VERSION_1);
    vdev_queue(RNG_BASE, &rngq, QN);
    vdev_driver_ok(RNG_BASE);
    rng_read(buf[0], 256);
    rng_read(buf[1], 256);
    CHECK(23, !same(buf[0], buf[1], 256), "virtio-rng: two reads gave the same bytes");
    unsigned zeros = 0;
    for (unsigned i = 0; i < 256; i++)
        zeros += buf[0][i] == 0;
    CHECK(24, zeros < 32, "virtio-rng: mostly zeros");
    put_str("rng ok\n");

    /* virtio-blk */
    uint64_t offered = vdev_negotiate(BLK_BASE, 2, F_VERSION_1 | F_INDIRECT | (1ull << 9));
#ifdef READONLY
    CHECK(40, offered & (1ull << 5), "virtio-blk: VIRTIO_BLK_F_RO not offered with readonly=on");
    CHECK(41, !(offered & (1ull << 13)), "virtio-blk: DISCARD offered on a read-only image");
#else
    CHECK(40, !(offered & (1ull << 5)), "virtio-blk: VIRTIO_BLK_F_RO offered on a writable image");
    CHECK(41, offered & (1ull << 13), "virtio-blk: DISCARD not offered");
#endif
    uint64_t capacity = R(BLK_BASE, CONFIG) | (uint64_t)R(BLK_BASE, CONFIG + 4) << 32;
    CHECK(42, capacity == SECTORS, "virtio-blk: capacity is not the image's");
    vdev_queue(BLK_BASE, &blkq, QN);
    vdev_driver_ok(BLK_BASE);

    /* The test wrote byte i of the image as (i * 7 + i / 512) & 0xff. */
    CHECK(43, blk_do(0, 2, rbuf, 1024, 1) == 0, "virtio-blk: read failed");
    for (unsigned i = 0; i < 1024; i++)
        CHECK(44, rbuf[i] == (uint8_t)((1024 + i) * 7 + (1024 + i) / 512), "virtio-blk: read the wrong bytes");

    for (unsigned i = 0; i < sizeof(wbuf); i++)
        wbuf[i] = (uint8_t)(0xa5 ^ i);
    for (unsigned i = 0; i < sizeof(ibuf); i++)
        ibuf[i] = (uint8_t)(0x3c + i);
    /* Two writes in one notify: sectors 4..7 directly, sector 8 through an indirect table. */
    int before = irq_seen[BLK_IRQ];
    blk_prepare(0, 1, 4, wbuf, sizeof(wbuf), 0);
    hdr[1] = (typeof(hdr[1])){1, 0, 8};
    status[1] = 0xff;
    itable[0] = (struct desc){(uint64_t)(uintptr_t)&hdr[1], 16, D_NEXT, 1};
    itable[1] = (struct desc){(uint64_t)(uintptr_t)ibuf, sizeof(ibuf), D_NEXT, 2};
    itable[2] = (struct desc){(uint64_t)(uintptr_t)&status[1], 1, D_WRITE, 0};
    blkq.desc[5] = (struct desc){(uint64_t)(uintptr_t)itable, sizeof(itable), D_INDIRECT, 0};
    vq_submit(BLK_BASE, &blkq, 0, 0);
    vq_submit(BLK_BASE, &blkq, 5, 1);
    /* With io=thread the two may complete in separate interrupts: wait until both are used. */
    for (unsigned n = 0; n < 2 && *(volatile uint16_t *)&blkq.used.idx != (uint16_t)(blkq.seen + 2); n++) {
        wait_irq(BLK_IRQ, before);
        before = irq_seen[BLK_IRQ];
    }
    fence();
    CHECK(45, blkq.used.idx == (uint16_t)(blkq.seen + 2), "virtio-blk: two requests, used index not +2");
    CHECK(46, blkq.used.ring[blkq.seen % QN].id == 0 && blkq.used.ring[(blkq.seen + 1) % QN].id == 5,
          "virtio-blk: used elements out of order");
    blkq.seen += 2;
#ifdef READONLY
    CHECK(47, status[0] == 1 && status[1] == 1, "virtio-blk: a write on a read-only image was not IOERR");
#else
    CHECK(47, status[0] == 0 && status[1] == 0, "virtio-blk: a write failed");
#endif
    CHECK(48, blk_do(4, 0, 0, 0, 0) == 0, "virtio-blk: flush failed");

    static uint8_t back[2048];
    CHECK(49, blk_do(0, 4, back, sizeof(back), 1) == 0, "virtio-blk: read back failed");
#ifdef READONLY
    CHECK(50, back[0] == (uint8_t)(2048 * 7 + 4), "virtio-blk: a refused write changed the image");
#else
    CHECK(50, same(back, wbuf, sizeof(wbuf)), "virtio-blk: read back differs from what was written");
#endif

    static char id[20];
    CHECK(51, blk_do(8, 0, id, sizeof(id), 1) == 0, "virtio-blk: GET_ID failed");
    CHECK(52, same((const uint8_t *)id, (const uint8_t *)"disk.img", 9), "virtio-blk: GET_ID is not the image name");

    discard_range.sector = 16;
    discard_range.num = 8;
    discard_range.flags = 0;
    uint8_t st = blk_do(11, 0, &discard_range, sizeof(discard_range), 0);
#ifdef READONLY
    CHECK(53, st == 2, "virtio-blk: DISCARD on a read-only image was not UNSUPP");
#else
    CHECK(53, st == 0, "virtio-blk: DISCARD failed");
    CHECK(54, blk_do(0, 16, back, 512, 1) == 0, "virtio-blk: read after discard failed");
    for (unsigned i = 0; i < 512; i++)
        CHECK(55, back[i] == 0, "virtio-blk: a discarded sector does not read as zeros");
#endif
    CHECK(56, blk_do(0, SECTORS - 1, back, 1024, 1) == 1, "virtio-blk: a read past the end was not IOERR");
    CHECK(57, blk_do(99, 0, 0, 0, 0) == 2, "virtio-blk: an unknown request was not UNSUPP");
    CHECK(58, !(R(BLK_BASE, STATUS) & S_NEEDS_RESET), "virtio-blk: needs a reset after valid requests");
    put_str("blk ok\n");
    pass();
}

BARE_START(driver_main);
