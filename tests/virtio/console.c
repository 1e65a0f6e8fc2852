/*
 * console.c: a bare-metal driver of virtio-console (tests/virtio/virtio.sh, case console). Port 0 only: queue 0
 * (receiveq) gets eight 16-byte buffers, so a host line arrives in pieces the driver joins; queue 1 (transmitq)
 * sends "hello from hvc0\n", then answers each line with "echo: LINE\n" until the line "quit", answered "bye\n".
 * Completions by PLIC interrupt. Prints "console ok" on the UART and ends through the SiFive finisher.
 */
#include "guest.h"

#define RXLEN 16

static struct queue rxq __attribute__((aligned(4096)));
static struct queue txq __attribute__((aligned(4096)));
static uint8_t rxbuf[QN][RXLEN];
static char txbuf[160];
static char line[128];
static unsigned linelen;

/* Wait until cond holds, sleeping on the device's interrupt. */
#define WAIT_FOR(cond)                                                                                             \
    do {                                                                                                           \
        for (;;) {                                                                                                 \
            int before_ = irq_seen[CON_IRQ];                                                                       \
            fence();                                                                                               \
            if (cond)                                                                                              \
                break;                                                                                             \
            wait_irq(CON_IRQ, before_);                                                                            \
        }                                                                                                          \
    } while (0)

static void con_send(const char *a, const char *b, unsigned blen, const char *c)
{
    unsigned n = 0;
    while (*a)
        txbuf[n++] = *a++;
    for (unsigned i = 0; i < blen; i++)
        txbuf[n++] = b[i];
    while (*c)
        txbuf[n++] = *c++;
    txq.desc[0] = (struct desc){(uint64_t)(uintptr_t)txbuf, n, 0, 0};
    vq_submit_sel(CON_BASE, 1, &txq, 0, 1);
    WAIT_FOR(txq.used.idx == (uint16_t)(txq.seen + 1));
    CHECK(30, txq.used.ring[txq.seen % QN].id == 0, "transmit: used element names another descriptor");
    txq.seen++;
}

static void rx_post(uint16_t i, int notify)
{
    rxq.desc[i] = (struct desc){(uint64_t)(uintptr_t)rxbuf[i], RXLEN, D_WRITE, 0};
    vq_submit_sel(CON_BASE, 0, &rxq, i, notify);
}

void console_main(void)
{
    plic_setup();
    plic_enable(CON_IRQ);
    vdev_negotiate(CON_BASE, 3, F_VERSION_1);
    vdev_queue_sel(CON_BASE, 0, &rxq, QN);
    vdev_queue_sel(CON_BASE, 1, &txq, QN);
    vdev_driver_ok(CON_BASE);
    for (uint16_t i = 0; i < QN; i++)
        rx_post(i, i == QN - 1);
    put_str("console up\n");
    con_send("hello from hvc0\n", "", 0, "");
    for (unsigned lines = 0;;) {
        WAIT_FOR(rxq.used.idx != rxq.seen);
        uint32_t id = rxq.used.ring[rxq.seen % QN].id, len = rxq.used.ring[rxq.seen % QN].len;
        rxq.seen++;
        CHECK(31, id < QN && len <= RXLEN, "receive: used element out of range");
        for (uint32_t i = 0; i < len; i++) {
            char ch = (char)rxbuf[id][i];
            if (ch != '\n') {
                CHECK(32, linelen < sizeof(line), "receive: line too long");
                line[linelen++] = ch;
                continue;
            }
            lines++;
            if (linelen == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't') {
                con_send("bye\n", "", 0, "");
                put_str("console ok after ");
                put_dec(lines);
                put_str(" lines\n");
                pass();
            }
            con_send("echo: ", line, linelen, "\n");
            linelen = 0;
        }
        rx_post((uint16_t)id, 1);
    }
}

BARE_START(console_main);
