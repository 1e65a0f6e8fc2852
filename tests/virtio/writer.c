/*
 * writer.c: the virtio-blk snapshot test's guest (tests/virtio/virtio.sh snapshot). It writes sectors 0..63 of the
 * image one request at a time, pausing between them, and prints "wrote N" after each; each completion comes by
 * PLIC interrupt and must advance the used index by exactly one (a restore that lost the queue's indices fails
 * here). Then it reads the whole image back, checks every sector and prints "verified".
 */
#include "guest.h"

#define SECTORS 64
#ifndef DELAY
#define DELAY 2000000
#endif

static struct queue q __attribute__((aligned(4096)));
static uint8_t data[512] __attribute__((unused)), back[SECTORS * 512];
static struct {
    uint32_t type, reserved;
    uint64_t sector;
} hdr;
static volatile uint8_t st;

static uint8_t request(uint32_t type, uint64_t sector, void *buf, uint32_t len, int to_guest)
{
    int before = irq_seen[BLK_IRQ];
    hdr.type = type;
    hdr.sector = sector;
    st = 0xff;
    q.desc[0] = (struct desc){(uint64_t)(uintptr_t)&hdr, 16, D_NEXT, 1};
    q.desc[1] = (struct desc){(uint64_t)(uintptr_t)buf, len, (uint16_t)(D_NEXT | (to_guest ? D_WRITE : 0)), 2};
    q.desc[2] = (struct desc){(uint64_t)(uintptr_t)&st, 1, D_WRITE, 0};
    vq_submit(BLK_BASE, &q, 0, 1);
    wait_used(BLK_IRQ, before, &q.used.idx, (uint16_t)(q.seen + 1));
    fence();
    CHECK(30, q.used.idx == (uint16_t)(q.seen + 1), "used index did not advance by one");
    q.seen++;
    return st;
}

#ifdef HEAVY
/* HEAVY: passes over the image, each sector's bytes depending on the pass, INFLIGHT writes per notify, each request
 * two descriptors (header and data in one readable buffer, then the status), no pause between batches: a save lands
 * while requests are on virtio-blk's worker. Prints "round R" after each pass. The passes go on until a byte comes
 * in on the console (the test types one into the restored run), so the guest cannot finish before the save however
 * slowly the test gets to it; then it reads the image back, checks it holds the last pass and prints
 * "verified round R". */
#define INFLIGHT 4
#define ROUNDS_MAX 1000000 /* a guard only: the test ends the passes */
#define UART_LSR ((volatile uint8_t *)0x10000005) /* bit 0: a received byte is waiting */
static struct {
    uint32_t type, reserved;
    uint64_t sector;
    uint8_t data[512];
} wreq[INFLIGHT];
static volatile uint8_t wst[INFLIGHT];

void writer_main(void)
{
    plic_setup();
    vdev_negotiate(BLK_BASE, 2, F_VERSION_1);
    vdev_queue(BLK_BASE, &q, QN);
    vdev_driver_ok(BLK_BASE);
    unsigned r;
    for (r = 0;; r++) {
        for (unsigned n = 0; n < SECTORS; n += INFLIGHT) {
            for (unsigned k = 0; k < INFLIGHT; k++) {
                wreq[k].type = 1;
                wreq[k].sector = n + k;
                for (unsigned i = 0; i < 512; i++)
                    wreq[k].data[i] = (uint8_t)((n + k) * 31 + i + r);
                wst[k] = 0xff;
                q.desc[2 * k] = (struct desc){(uint64_t)(uintptr_t)&wreq[k], sizeof(wreq[k]), D_NEXT,
                                              (uint16_t)(2 * k + 1)};
                q.desc[2 * k + 1] = (struct desc){(uint64_t)(uintptr_t)&wst[k], 1, D_WRITE, 0};
                vq_submit(BLK_BASE, &q, (uint16_t)(2 * k), k == INFLIGHT - 1);
            }
            for (;;) {
                int before = irq_seen[BLK_IRQ];
                fence();
                if (q.used.idx == (uint16_t)(q.seen + INFLIGHT))
                    break;
                CHECK(35, (uint16_t)(q.used.idx - q.seen) < INFLIGHT, "more buffers used than offered");
                wait_irq(BLK_IRQ, before);
            }
            q.seen += INFLIGHT;
            for (unsigned k = 0; k < INFLIGHT; k++)
                CHECK(36, wst[k] == 0, "a write failed");
        }
        put_str("round ");
        put_dec(r);
        put_str("\n");
        if ((*UART_LSR & 1) || r + 1 == ROUNDS_MAX)
            break;
    }
    CHECK(33, request(0, 0, back, sizeof(back), 1) == 0, "read failed");
    for (unsigned n = 0; n < SECTORS; n++)
        for (unsigned i = 0; i < 512; i++)
            CHECK(34, back[n * 512 + i] == (uint8_t)(n * 31 + i + r), "a sector does not hold the last pass");
    put_str("verified round ");
    put_dec(r);
    put_str("\n");
    pass();
}
#else
void writer_main(void)
{
    plic_setup();
    vdev_negotiate(BLK_BASE, 2, F_VERSION_1);
    vdev_queue(BLK_BASE, &q, QN);
    vdev_driver_ok(BLK_BASE);
    for (unsigned n = 0; n < SECTORS; n++) {
        for (volatile unsigned long d = 0; d < DELAY; d++)
            ;
        for (unsigned i = 0; i < 512; i++)
            data[i] = (uint8_t)(n * 31 + i);
        CHECK(31, request(1, n, data, 512, 0) == 0, "write failed");
        put_str("wrote ");
        put_dec(n);
        put_str("\n");
    }
    CHECK(33, request(0, 0, back, sizeof(back), 1) == 0, "read failed");
    for (unsigned n = 0; n < SECTORS; n++)
        for (unsigned i = 0; i < 512; i++)
            CHECK(34, back[n * 512 + i] == (uint8_t)(n * 31 + i), "a sector does not hold what was written");
    put_str("verified\n");
    pass();
}
#endif

BARE_START(writer_main);
