/*
 * guest.h: the bare-metal RISC-V side of the virtio tests (QEMU virt layout, M-mode, no OS): UART output, the SiFive
 * finisher, the PLIC, and a minimal virtio-mmio version 2 driver with one split queue per device. Included by the
 * test guests of tests/virtio only.
 */
#ifndef VIRTIO_GUEST_H
#define VIRTIO_GUEST_H

#include <stdint.h>

#include "bare.h"

#define PLIC 0x0c000000ul
#define RNG_BASE 0x10001000ul
#define RNG_IRQ 1
#define BLK_BASE 0x10002000ul
#define BLK_IRQ 2
#define CON_BASE 0x10003000ul /* virtio-console (console.c), slot 2 */
#define CON_IRQ 3
#define NET_BASE 0x10004000ul /* virtio-net (net.c), slot 3 */
#define NET_IRQ 4
#define RAM_END (0x80000000ul + 64ul * 1024 * 1024) /* the tests run with --mem 64M */

#define R(base, off) (*(volatile uint32_t *)((base) + (off)))
#define MAGIC 0x000
#define VERSION 0x004
#define DEVICE_ID 0x008
#define DEVICE_FEATURES 0x010
#define DEVICE_FEATURES_SEL 0x014
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define QUEUE_SEL 0x030
#define QUEUE_NUM_MAX 0x034
#define QUEUE_NUM 0x038
#define QUEUE_READY 0x044
#define QUEUE_NOTIFY 0x050
#define INTERRUPT_STATUS 0x060
#define INTERRUPT_ACK 0x064
#define STATUS 0x070
#define QUEUE_DESC 0x080
#define QUEUE_DRIVER 0x090
#define QUEUE_DEVICE 0x0a0
#define CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define F_INDIRECT (1ull << 28)
#define F_VERSION_1 (1ull << 32)

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define QN 8

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct queue {
    struct desc desc[QN] __attribute__((aligned(16)));
    struct {
        uint16_t flags, idx, ring[QN], used_event;
    } avail __attribute__((aligned(2)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[QN];
        uint16_t avail_event;
    } used __attribute__((aligned(4)));
    uint16_t seen; /* the used index the driver has consumed up to */
};

static void fail(unsigned code, const char *why)
{
    put_str("FAIL: ");
    put_str(why);
    put_str("\n");
    *FINISHER = (code << 16) | 0x3333;
    for (;;)
        ;
}

#define CHECK(code, cond, why)                                                                                     \
    do {                                                                                                           \
        if (!(cond))                                                                                               \
            fail(code, why);                                                                                       \
    } while (0)

static void pass(void)
{
    *FINISHER = 0x5555;
    for (;;)
        ;
}

static void fence(void)
{
    __asm__ volatile("fence rw, rw" ::: "memory");
}

/* Status handshake up to FEATURES_OK (§3.1.1); returns the features offered. `want` must be accepted. */
static uint64_t vdev_negotiate(unsigned long base, uint32_t id, uint64_t want)
{
    CHECK(10, R(base, MAGIC) == 0x74726976, "bad magic");
    CHECK(11, R(base, VERSION) == 2, "not virtio-mmio version 2");
    CHECK(12, R(base, DEVICE_ID) == id, "wrong device ID");
    R(base, STATUS) = 0;
    CHECK(13, R(base, STATUS) == 0, "reset did not clear Status");
    R(base, STATUS) = S_ACK;
    R(base, STATUS) = S_ACK | S_DRIVER;
    R(base, DEVICE_FEATURES_SEL) = 0;
    uint64_t offered = R(base, DEVICE_FEATURES);
    R(base, DEVICE_FEATURES_SEL) = 1;
    offered |= (uint64_t)R(base, DEVICE_FEATURES) << 32;
    CHECK(14, (offered & want) == want, "a wanted feature is not offered");
    R(base, DRIVER_FEATURES_SEL) = 0;
    R(base, DRIVER_FEATURES) = (uint32_t)want;
    R(base, DRIVER_FEATURES_SEL) = 1;
    R(base, DRIVER_FEATURES) = (uint32_t)(want >> 32);
    R(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
    CHECK(15, R(base, STATUS) & S_FEATURES_OK, "FEATURES_OK not accepted");
    return offered;
}

static void vdev_queue_sel(unsigned long base, uint32_t sel, struct queue *q, uint32_t num)
{
    for (unsigned i = 0; i < sizeof(*q); i++)
        ((volatile char *)q)[i] = 0;
    R(base, QUEUE_SEL) = sel;
    CHECK(16, R(base, QUEUE_NUM_MAX) >= num, "QueueNumMax too small");
    CHECK(17, R(base, QUEUE_READY) == 0, "queue ready after reset");
    R(base, QUEUE_NUM) = num;
    R(base, QUEUE_DESC) = (uint32_t)(uintptr_t)q->desc;
    R(base, QUEUE_DESC + 4) = (uint32_t)((uint64_t)(uintptr_t)q->desc >> 32);
    R(base, QUEUE_DRIVER) = (uint32_t)(uintptr_t)&q->avail;
    R(base, QUEUE_DRIVER + 4) = 0;
    R(base, QUEUE_DEVICE) = (uint32_t)(uintptr_t)&q->used;
    R(base, QUEUE_DEVICE + 4) = 0;
    R(base, QUEUE_READY) = 1;
}

__attribute__((unused)) static void vdev_queue(unsigned long base, struct queue *q, uint32_t num)
{
    vdev_queue_sel(base, 0, q, num);
}

static void vdev_driver_ok(unsigned long base)
{
    R(base, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK;
}

/* Offer the chain starting at descriptor `head` and tell the device. */
static void vq_submit_sel(unsigned long base, uint32_t sel, struct queue *q, uint16_t head, int notify)
{
    q->avail.ring[q->avail.idx % QN] = head;
    fence();
    q->avail.idx++;
    fence();
    if (notify)
        R(base, QUEUE_NOTIFY) = sel;
}

__attribute__((unused)) static void vq_submit(unsigned long base, struct queue *q, uint16_t head, int notify)
{
    vq_submit_sel(base, 0, q, head, notify);
}

/* Completions by interrupt: the trap handler claims the PLIC source, acknowledges the device's InterruptStatus and
 * counts. */
static volatile int irq_seen[5];
static volatile uint32_t irq_status[5];

/* aligned(4): mtvec's low two bits are its MODE, so the handler's address must be a multiple of 4; with RVC, gcc
 * places functions at any even address. net.c's and console.c's handler sat at 4n+2 behind a `ret`: every interrupt
 * jumped to wherever ra pointed, the handler never ran, and the unclaimed PLIC line re-trapped at each wait_irq. */
__attribute__((interrupt("machine"), aligned(4), unused)) static void trap(void)
{
    uint64_t cause;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    if (cause != 0x800000000000000bull)
        fail(2, "unexpected trap");
    uint32_t src = *(volatile uint32_t *)(PLIC + 0x200004); /* claim */
    unsigned long base = src >= RNG_IRQ && src <= NET_IRQ ? RNG_BASE + 0x1000ul * (src - RNG_IRQ) : 0;
    if (base) {
        uint32_t st = R(base, INTERRUPT_STATUS);
        R(base, INTERRUPT_ACK) = st; /* the device lowers its line */
        irq_status[src] |= st;
        irq_seen[src]++;
    }
    *(volatile uint32_t *)(PLIC + 0x200004) = src; /* complete */
}

/* Sleep until the device's interrupt; mstatus.MIE is opened only between checks so the wake cannot be missed. */
__attribute__((unused)) static void wait_irq(unsigned src, int before)
{
    for (unsigned long spins = 0; irq_seen[src] == before; spins++) {
        __asm__ volatile("wfi");
        __asm__ volatile("csrsi mstatus, 8\n\tcsrci mstatus, 8" ::: "memory");
        CHECK(3, spins < 100000000ul, "no interrupt");
    }
}

/* Wait for a completion's interrupt, then on until the used index reaches `want`. With a device that completes
 * off the vCPU thread (virtio-blk io=thread), the interrupt of an earlier request can arrive after the guest already
 * saw its used element, and then ends the next wait early: one stale interrupt is allowed before the real one. */
__attribute__((unused)) static void wait_used(unsigned src, int before, volatile uint16_t *used_idx, uint16_t want)
{
    wait_irq(src, before);
    for (unsigned n = 0; n < 2; n++) {
        before = irq_seen[src];
        fence();
        if (*used_idx == want)
            return;
        wait_irq(src, before);
    }
}

__attribute__((unused)) static void plic_setup(void)
{
    *(volatile uint32_t *)(PLIC + 4 * RNG_IRQ) = 1;
    *(volatile uint32_t *)(PLIC + 4 * BLK_IRQ) = 1;
    *(volatile uint32_t *)(PLIC + 0x2000) = (1u << RNG_IRQ) | (1u << BLK_IRQ);
    *(volatile uint32_t *)(PLIC + 0x200000) = 0;
    uint64_t vec; /* read back: a handler mtvec cannot hold must fail here, not as a wild jump at the first interrupt */
    __asm__ volatile("csrw mtvec, %0\n\tcsrr %0, mtvec" : "=r"(vec) : "0"(trap));
    CHECK(4, vec == (uint64_t)(uintptr_t)trap, "mtvec does not hold the trap handler (not 4-byte aligned?)");
    __asm__ volatile("csrs mie, %0" ::"r"(1ul << 11)); /* MEIE; mstatus.MIE stays clear outside wait_irq */
}

/* One more PLIC source for hart 0's M-mode context, after plic_setup. */
__attribute__((unused)) static void plic_enable(unsigned src)
{
    *(volatile uint32_t *)(PLIC + 4 * src) = 1;
    *(volatile uint32_t *)(PLIC + 0x2000) |= 1u << src;
}

#endif
