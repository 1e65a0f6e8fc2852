/*
 * net.c: a bare-metal driver of virtio-net (tests/virtio/net.sh). Negotiates VERSION_1 and MAC, checks the MAC the
 * test configured, posts eight receive buffers, sends one UDP datagram 10.0.2.15:5556 -> 10.0.2.1:5555 ("hello
 * from virtio-net"), then waits for a datagram to port 5556 (frames of any other kind, which the host's stack sends
 * on its own, are skipped) and sends its payload back prefixed with "echo: ". Completions by PLIC interrupt. Then
 * two chains too short for the header, each of which must fail the device.
 * Prints "net ok" on the UART and ends through the SiFive finisher.
 */
#include "guest.h"

#define HDR 12   /* virtio_net_hdr with num_buffers */
#define RXLEN (HDR + 1514)

static struct queue rxq __attribute__((aligned(4096)));
static struct queue txq __attribute__((aligned(4096)));
static uint8_t rxbuf[QN][RXLEN];
static uint8_t txbuf[HDR + 1514];
static uint8_t mac[6];
static const uint8_t want_mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

#define WAIT_FOR(cond)                                                                                             \
    do {                                                                                                           \
        for (;;) {                                                                                                 \
            int before_ = irq_seen[NET_IRQ];                                                                       \
            fence();                                                                                               \
            if (cond)                                                                                              \
                break;                                                                                             \
            wait_irq(NET_IRQ, before_);                                                                            \
        }                                                                                                          \
    } while (0)

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* One UDP datagram from 10.0.2.15:5556 to 10.0.2.1:5555, to the broadcast MAC (the driver knows no ARP). */
static void udp_send(const char *prefix, const uint8_t *data, unsigned len)
{
    uint8_t *f = txbuf + HDR;
    unsigned plen = 0;
    for (unsigned i = 0; i < HDR; i++)
        txbuf[i] = 0;
    while (prefix[plen])
        plen++;
    for (unsigned i = 0; i < 6; i++) {
        f[i] = 0xff;
        f[6 + i] = mac[i];
    }
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14, *udp = ip + 20, *pay = udp + 8;
    unsigned total = 20 + 8 + plen + len;
    static const uint8_t iph[20] = {0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 2, 15, 10, 0, 2, 1};
    for (unsigned i = 0; i < 20; i++)
        ip[i] = iph[i];
    put16(ip + 2, (uint16_t)total);
    uint32_t sum = 0;
    for (unsigned i = 0; i < 20; i += 2)
        sum += be16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, (uint16_t)~sum);
    put16(udp, 5556);
    put16(udp + 2, 5555);
    put16(udp + 4, (uint16_t)(8 + plen + len));
    put16(udp + 6, 0); /* no checksum (IPv4 allows it) */
    for (unsigned i = 0; i < plen; i++)
        pay[i] = (uint8_t)prefix[i];
    for (unsigned i = 0; i < len; i++)
        pay[plen + i] = data[i];
    txq.desc[0] = (struct desc){(uint64_t)(uintptr_t)txbuf, HDR + 14 + total, 0, 0};
    vq_submit_sel(NET_BASE, 1, &txq, 0, 1);
    WAIT_FOR(txq.used.idx == (uint16_t)(txq.seen + 1));
    CHECK(40, txq.used.ring[txq.seen % QN].id == 0, "transmit: used element names another descriptor");
    txq.seen++;
}

static void rx_post(uint16_t i, int notify)
{
    rxq.desc[i] = (struct desc){(uint64_t)(uintptr_t)rxbuf[i], RXLEN, D_WRITE, 0};
    vq_submit_sel(NET_BASE, 0, &rxq, i, notify);
}

/* A transmit chain shorter than the header, then a receive buffer shorter than it: each must put the device in
 * DEVICE_NEEDS_RESET without returning the buffer (net.sh checks the log lines). */
static void hostile(void)
{
    R(NET_BASE, STATUS) = 0;
    vdev_negotiate(NET_BASE, 1, F_VERSION_1);
    vdev_queue_sel(NET_BASE, 1, &txq, QN);
    vdev_driver_ok(NET_BASE);
    txq.desc[0] = (struct desc){(uint64_t)(uintptr_t)txbuf, 8, 0, 0};
    vq_submit_sel(NET_BASE, 1, &txq, 0, 1);
    CHECK(45, R(NET_BASE, STATUS) & S_NEEDS_RESET, "a transmit chain of 8 bytes did not fail the device");
    CHECK(46, txq.used.idx == 0, "the broken transmit chain was returned");
    R(NET_BASE, STATUS) = 0;
    vdev_negotiate(NET_BASE, 1, F_VERSION_1);
    vdev_queue_sel(NET_BASE, 0, &rxq, QN);
    vdev_driver_ok(NET_BASE);
    rxq.desc[0] = (struct desc){(uint64_t)(uintptr_t)rxbuf[0], 4, D_WRITE, 0};
    vq_submit_sel(NET_BASE, 0, &rxq, 0, 1);
    CHECK(47, R(NET_BASE, STATUS) & S_NEEDS_RESET, "a receive buffer of 4 bytes did not fail the device");
    CHECK(48, rxq.used.idx == 0, "the broken receive buffer was returned");
    R(NET_BASE, STATUS) = 0;
}

void net_main(void)
{
    plic_setup();
    plic_enable(NET_IRQ);
    vdev_negotiate(NET_BASE, 1, F_VERSION_1 | (1ull << 5));
    for (unsigned i = 0; i < 6; i++)
        mac[i] = *(volatile uint8_t *)(NET_BASE + CONFIG + i);
    for (unsigned i = 0; i < 6; i++)
        CHECK(41, mac[i] == want_mac[i], "the MAC in the configuration space is not mac=");
    vdev_queue_sel(NET_BASE, 0, &rxq, QN);
    vdev_queue_sel(NET_BASE, 1, &txq, QN);
    vdev_driver_ok(NET_BASE);
    for (uint16_t i = 0; i < QN; i++)
        rx_post(i, i == QN - 1);
    put_str("net up\n");
    static const uint8_t hello[] = "hello from virtio-net";
    udp_send("", hello, sizeof(hello) - 1);
    for (unsigned skipped = 0;;) {
        WAIT_FOR(rxq.used.idx != rxq.seen);
        uint32_t id = rxq.used.ring[rxq.seen % QN].id, len = rxq.used.ring[rxq.seen % QN].len;
        rxq.seen++;
        CHECK(42, id < QN && len >= HDR && len <= RXLEN, "receive: used element out of range");
        const uint8_t *f = rxbuf[id] + HDR, *ip = f + 14, *udp = ip + 20;
        CHECK(43, rxbuf[id][10] == 1 && rxbuf[id][11] == 0, "receive: num_buffers is not 1");
        unsigned flen = len - HDR;
        int match = flen >= 14 + 20 + 8 && be16(f + 12) == 0x0800 && ip[0] == 0x45 && ip[9] == 17 &&
                    be16(udp + 2) == 5556;
        for (unsigned i = 0; match && i < 6; i++)
            match = f[i] == mac[i];
        if (match) {
            unsigned plen = be16(udp + 4) - 8;
            CHECK(44, plen <= flen - 14 - 28, "receive: UDP length beyond the frame");
            udp_send("echo: ", udp + 8, plen);
            hostile();
            put_str("net ok (");
            put_dec(skipped);
            put_str(" other frames skipped)\n");
            pass();
        }
        skipped++;
        rx_post((uint16_t)id, 1);
    }
}

BARE_START(net_main);
