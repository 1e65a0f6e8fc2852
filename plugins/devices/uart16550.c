/*
 * uart16550: a National Semiconductor 16550A UART on the port bus (COM1 by default), or memory-mapped with
 * `mmio=ADDR` (register stride 1, as on QEMU's riscv virt board: mmio=0x10000000; its PLIC line there is 10).
 *
 * Register set (offsets from iobase):
 *   0  RBR (read) / THR (write)        DLL when LCR.DLAB = 1
 *   1  IER                             DLM when LCR.DLAB = 1
 *   2  IIR (read) / FCR (write)
 *   3  LCR
 *   4  MCR
 *   5  LSR
 *   6  MSR
 *   7  SCR
 *
 * The serial line runs at infinite speed:
 *  - A byte written to THR is transmitted at once (to the console, or to our own receiver in loopback mode),
 *    so LSR.THRE and LSR.TEMT read as 1 outside the write itself. Writing THR still clears a pending THR-empty
 *    interrupt before the transmitter empties again and re-raises it, so the guest sees a new rising edge per
 *    byte (as on real hardware, and as the edge-triggered ISA PIC needs).
 *  - The 16550's receiver timeout (data below the FIFO trigger level and no line activity for four character
 *    times) is considered elapsed as soon as the data is in the FIFO: in FIFO mode the guest gets a "character
 *    timeout" interrupt for any data below the trigger level, "received data available" at or above it.
 *    Without FIFOs, any received byte raises "received data available".
 *  - Console input that does not fit in the receiver waits in a pending buffer (the far end of the line) and
 *    moves into the receiver as the guest reads, so no typed byte is lost unless that buffer overflows too;
 *    then LSR.OE is set and the byte is dropped. Bytes looped back from THR overrun like on the real chip.
 *  - Modem inputs: CTS, DSR and DCD are asserted, RI is not (a permanently connected null modem). In loopback
 *    mode they follow MCR: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2, with the delta bits set on changes.
 *  - The interrupt output is not gated by MCR.OUT2 (the PC board does that on real hardware; QEMU and kvmtool
 *    do not either, and guests that rely on it are rare).
 *
 * Accesses wider than one byte are split into byte accesses to consecutive registers, like an ISA bus would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/plugin.h>

#define UART_NR_PORTS 8
#define UART_FIFO_SIZE 16
#define UART_PENDING_SIZE 4096

/* Register offsets */
#define UART_RX 0  /* in:  receive buffer (DLAB = 0) */
#define UART_TX 0  /* out: transmit holding (DLAB = 0) */
#define UART_DLL 0 /* divisor latch low (DLAB = 1) */
#define UART_IER 1 /* interrupt enable (DLAB = 0) */
#define UART_DLM 1 /* divisor latch high (DLAB = 1) */
#define UART_IIR 2 /* in:  interrupt identification */
#define UART_FCR 2 /* out: FIFO control */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

/* IER */
#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08  /* modem status */
#define UART_IER_MASK 0x0f

/* IIR */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_TIMEOUT 0x0c
#define UART_IIR_FIFO_ENABLED 0xc0

/* FCR */
#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_DMA_SELECT 0x08
#define UART_FCR_TRIGGER_MASK 0xc0
#define UART_FCR_STORED (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK)

/* LCR */
#define UART_LCR_DLAB 0x80

/* MCR */
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
#define UART_MCR_MASK 0x1f

/* LSR */
#define UART_LSR_DR 0x01   /* data ready */
#define UART_LSR_OE 0x02   /* overrun error */
#define UART_LSR_PE 0x04   /* parity error */
#define UART_LSR_FE 0x08   /* framing error */
#define UART_LSR_BI 0x10   /* break interrupt */
#define UART_LSR_THRE 0x20 /* transmit holding register empty */
#define UART_LSR_TEMT 0x40 /* transmitter empty */
#define UART_LSR_FIFOE 0x80 /* error in the receive FIFO */
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

/* MSR */
#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_DELTAS 0x0f
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80
#define UART_MSR_LINES 0xf0

/* What the modem inputs read outside loopback mode. */
#define UART_MSR_IDLE_LINES (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

/* Divisor latch at power-on: 115200 / 12 = 9600 baud (the chip leaves it undefined). */
#define UART_POWER_ON_DIVISOR 12

struct uart {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint16_t iobase;
    uint64_t mmio_base; /* 0: on the port bus */
    uint32_t irq;
    int irq_level;   /* level last given to irq_set */
    int have_input;  /* we own console input */

    uint8_t ier, fcr, lcr, mcr, msr, scr, dll, dlm;
    uint8_t lsr_errors; /* sticky LSR error bits, cleared by reading LSR; DR, THRE, TEMT are computed */
    uint8_t rbr;        /* last byte read, returned again when the receiver is empty */
    int thr_ipending;   /* the transmitter has emptied since THR was last written or the THRE IIR read */

    /* Receiver: 16-byte FIFO, or 1-byte holding register when FIFOs are off. */
    uint8_t rx_fifo[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;

    /* Console input that did not fit in the receiver yet. */
    uint8_t pending[UART_PENDING_SIZE];
    unsigned pending_head, pending_count;
    uint64_t dropped; /* console bytes lost to a full pending buffer */
};

/* ---- Receiver ----------------------------------------------------------------------------------------- */

static unsigned uart_get_rx_capacity(const struct uart *u)
{
    return (u->fcr & UART_FCR_ENABLE_FIFO) ? UART_FIFO_SIZE : 1;
}

static unsigned uart_get_rx_trigger(const struct uart *u)
{
    static const unsigned levels[4] = { 1, 4, 8, 14 };

    return levels[(u->fcr & UART_FCR_TRIGGER_MASK) >> 6];
}

static void uart_clear_rx(struct uart *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
}

static void uart_push_rx(struct uart *u, uint8_t byte)
{
    u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
    u->rx_count++;
}

static uint8_t uart_pop_rx(struct uart *u)
{
    uint8_t byte = u->rx_fifo[u->rx_head];

    u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
    u->rx_count--;
    return byte;
}

/* A byte arriving from our own transmitter (loopback): overruns like the chip does when the receiver is full. */
static void uart_receive_looped(struct uart *u, uint8_t byte)
{
    if (u->rx_count < uart_get_rx_capacity(u)) {
        uart_push_rx(u, byte);
        return;
    }
    u->lsr_errors |= UART_LSR_OE;
    if (!(u->fcr & UART_FCR_ENABLE_FIFO)) {
        /* 16450 mode: the new character overwrites the holding register. In FIFO mode it is lost. */
        u->rx_fifo[u->rx_head] = byte;
    }
}

/* Move waiting console input into the receiver as far as it has room. The receiver is disconnected from the
 * line in loopback mode, so input keeps waiting then. */
static void uart_fill_rx(struct uart *u)
{
    if (u->mcr & UART_MCR_LOOP)
        return;
    while (u->pending_count > 0 && u->rx_count < uart_get_rx_capacity(u)) {
        uart_push_rx(u, u->pending[u->pending_head]);
        u->pending_head = (u->pending_head + 1) % UART_PENDING_SIZE;
        u->pending_count--;
    }
}

/* ---- Interrupts --------------------------------------------------------------------------------------- */

/* The highest-priority pending interrupt, as IIR bits 0..3 (UART_IIR_NO_INT when none). */
static uint8_t uart_compute_iir(const struct uart *u)
{
    if ((u->ier & UART_IER_RLSI) && (u->lsr_errors & UART_LSR_ERRORS))
        return UART_IIR_RLSI;
    if ((u->ier & UART_IER_RDI) && u->rx_count > 0) {
        if ((u->fcr & UART_FCR_ENABLE_FIFO) && u->rx_count < uart_get_rx_trigger(u))
            return UART_IIR_TIMEOUT;
        return UART_IIR_RDI;
    }
    if ((u->ier & UART_IER_THRI) && u->thr_ipending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_MSI) && (u->msr & UART_MSR_DELTAS))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

/* Drive the interrupt line from the current state; tell the core only when the level changes. */
static void uart_update_irq(struct uart *u)
{
    int level = uart_compute_iir(u) != UART_IIR_NO_INT;

    if (level == u->irq_level)
        return;
    u->irq_level = level;
    u->hlp->irq_set(u->inst, u->irq, level);
}

/* ---- Modem status ------------------------------------------------------------------------------------- */

/* Recompute the modem input lines (MSR bits 4..7) and latch the delta bits for the ones that changed. */
static void uart_update_msr(struct uart *u)
{
    uint8_t lines, changed;

    if (u->mcr & UART_MCR_LOOP) {
        lines = 0;
        if (u->mcr & UART_MCR_RTS)
            lines |= UART_MSR_CTS;
        if (u->mcr & UART_MCR_DTR)
            lines |= UART_MSR_DSR;
        if (u->mcr & UART_MCR_OUT1)
            lines |= UART_MSR_RI;
        if (u->mcr & UART_MCR_OUT2)
            lines |= UART_MSR_DCD;
    } else {
        lines = UART_MSR_IDLE_LINES;
    }

    changed = (u->msr ^ lines) & UART_MSR_LINES;
    if (changed & UART_MSR_CTS)
        u->msr |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR)
        u->msr |= UART_MSR_DDSR;
    if ((changed & UART_MSR_RI) && !(lines & UART_MSR_RI))
        u->msr |= UART_MSR_TERI; /* trailing edge of RI only */
    if (changed & UART_MSR_DCD)
        u->msr |= UART_MSR_DDCD;
    u->msr = (uint8_t)((u->msr & UART_MSR_DELTAS) | lines);
}

/* ---- Transmitter -------------------------------------------------------------------------------------- */

static void uart_transmit(struct uart *u, uint8_t byte)
{
    /* Writing THR clears the THR-empty interrupt ... */
    u->thr_ipending = 0;
    uart_update_irq(u);

    if (u->mcr & UART_MCR_LOOP)
        uart_receive_looped(u, byte);
    else
        u->hlp->console_write(u->inst, &byte, 1);

    /* ... and the byte leaves at once, so the transmitter is empty again. */
    u->thr_ipending = 1;
    uart_update_irq(u);
}

/* ---- Register access ---------------------------------------------------------------------------------- */

static uint8_t uart_read_lsr(struct uart *u)
{
    uint8_t lsr = (uint8_t)(u->lsr_errors | UART_LSR_THRE | UART_LSR_TEMT);

    if (u->rx_count > 0)
        lsr |= UART_LSR_DR;
    /* Reading LSR clears the error bits (and with them a receiver line status interrupt). */
    u->lsr_errors = 0;
    return lsr;
}

static uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
    uint8_t val;

    switch (reg) {
    case UART_RX:
        if (u->lcr & UART_LCR_DLAB)
            return u->dll;
        if (u->rx_count > 0) {
            u->rbr = uart_pop_rx(u);
            uart_fill_rx(u);
        }
        return u->rbr;
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB)
            return u->dlm;
        return u->ier;
    case UART_IIR:
        val = uart_compute_iir(u);
        /* Reading IIR acknowledges a THR-empty interrupt, but only when it is the one reported. */
        if (val == UART_IIR_THRI)
            u->thr_ipending = 0;
        if (u->fcr & UART_FCR_ENABLE_FIFO)
            val |= UART_IIR_FIFO_ENABLED;
        return val;
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        return uart_read_lsr(u);
    case UART_MSR:
        val = u->msr;
        u->msr &= (uint8_t)~UART_MSR_DELTAS;
        return val;
    case UART_SCR:
    default:
        return u->scr;
    }
}

static void uart_write_ier(struct uart *u, uint8_t val)
{
    uint8_t old = u->ier;

    u->ier = val & UART_IER_MASK;
    /* Enabling the THR-empty interrupt while the transmitter is empty raises it at once (even if an earlier
     * one was acknowledged by reading IIR). */
    if ((u->ier & UART_IER_THRI) && !(old & UART_IER_THRI))
        u->thr_ipending = 1;
}

static void uart_write_fcr(struct uart *u, uint8_t val)
{
    uint8_t old = u->fcr;

    /* The other FCR bits are programmed only together with the FIFO enable bit. */
    u->fcr = (val & UART_FCR_ENABLE_FIFO) ? (uint8_t)(val & UART_FCR_STORED) : 0;

    /* Switching the FIFOs on or off clears them, as does the receiver reset bit. The transmitter is always
     * empty, so the transmitter reset bit has nothing to clear. */
    if (((old ^ u->fcr) & UART_FCR_ENABLE_FIFO) || ((u->fcr & UART_FCR_ENABLE_FIFO) && (val & UART_FCR_CLEAR_RCVR)))
        uart_clear_rx(u);
    uart_fill_rx(u);
}

static void uart_write_mcr(struct uart *u, uint8_t val)
{
    uint8_t old = u->mcr;

    u->mcr = val & UART_MCR_MASK;
    uart_update_msr(u);
    /* Leaving loopback reconnects the receiver to the line: waiting input can come in again. */
    if ((old & UART_MCR_LOOP) && !(u->mcr & UART_MCR_LOOP))
        uart_fill_rx(u);
}

static void uart_write_reg(struct uart *u, unsigned reg, uint8_t val)
{
    switch (reg) {
    case UART_TX:
        if (u->lcr & UART_LCR_DLAB)
            u->dll = val;
        else
            uart_transmit(u, val);
        break;
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB)
            u->dlm = val;
        else
            uart_write_ier(u, val);
        break;
    case UART_FCR:
        uart_write_fcr(u, val);
        break;
    case UART_LCR:
        u->lcr = val;
        break;
    case UART_MCR:
        uart_write_mcr(u, val);
        break;
    case UART_LSR:
    case UART_MSR:
        /* Read-only (factory test registers on the real chip). */
        break;
    case UART_SCR:
    default:
        u->scr = val;
        break;
    }
}

/* ---- Callbacks from the core -------------------------------------------------------------------------- */

static uint64_t uart_io_read(void *state, uint64_t offset, unsigned size)
{
    struct uart *u = state;
    uint64_t val = 0;

    for (unsigned i = 0; i < size && offset + i < UART_NR_PORTS; i++)
        val |= (uint64_t)uart_read_reg(u, (unsigned)(offset + i)) << (8 * i);
    uart_update_irq(u);
    return val;
}

static void uart_io_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    struct uart *u = state;

    for (unsigned i = 0; i < size && offset + i < UART_NR_PORTS; i++)
        uart_write_reg(u, (unsigned)(offset + i), (uint8_t)(val >> (8 * i)));
    uart_update_irq(u);
}

/* Console input: into the receiver while it has room and nothing is waiting ahead, then into the pending
 * buffer, then dropped with an overrun. */
static void uart_receive_console(void *state, const uint8_t *buf, size_t len)
{
    struct uart *u = state;
    uint64_t dropped = 0;

    uart_fill_rx(u);
    for (size_t i = 0; i < len; i++) {
        if (u->pending_count == 0 && !(u->mcr & UART_MCR_LOOP) && u->rx_count < uart_get_rx_capacity(u)) {
            uart_push_rx(u, buf[i]);
        } else if (u->pending_count < UART_PENDING_SIZE) {
            u->pending[(u->pending_head + u->pending_count) % UART_PENDING_SIZE] = buf[i];
            u->pending_count++;
        } else {
            u->lsr_errors |= UART_LSR_OE;
            dropped++;
        }
    }
    if (dropped > 0) {
        u->dropped += dropped;
        u->hlp->log(u->inst, VMM_LOG_DEBUG, "input overrun: dropped %llu bytes (%llu in all)",
                    (unsigned long long)dropped, (unsigned long long)u->dropped);
    }
    uart_update_irq(u);
}

/* Power-on register values (the 16550A's master reset, plus a defined divisor and scratch register). */
static void uart_reset(vmm_instance *inst, void *state)
{
    struct uart *u = state;

    (void)inst;
    u->ier = 0;
    u->fcr = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->msr = UART_MSR_IDLE_LINES;
    u->scr = 0;
    u->dll = UART_POWER_ON_DIVISOR & 0xff;
    u->dlm = UART_POWER_ON_DIVISOR >> 8;
    u->lsr_errors = 0;
    u->rbr = 0;
    u->thr_ipending = 0;
    uart_clear_rx(u);
    /* Input typed before the reset is not meant for the new boot. */
    u->pending_head = 0;
    u->pending_count = 0;
    uart_update_irq(u);
}

/* ---- Saved state -------------------------------------------------------------------------------------- */

#define UART_STATE_VERSION 1

/* The FIFO and the pending input are saved in arrival order, so ring positions are not part of the format. */
static int uart_save(void *state, vmm_ssm *ssm)
{
    struct uart *u = state;
    const vmm_helpers *h = u->hlp;
    uint8_t regs[11] = {u->ier, u->fcr, u->lcr, u->mcr, u->msr, u->scr, u->dll, u->dlm, u->lsr_errors, u->rbr,
                        (uint8_t)(u->thr_ipending != 0)};
    uint8_t rx[UART_FIFO_SIZE];
    for (unsigned i = 0; i < u->rx_count; i++)
        rx[i] = u->rx_fifo[(u->rx_head + i) % UART_FIFO_SIZE];
    uint8_t *pending = malloc(u->pending_count ? u->pending_count : 1);
    if (!pending)
        return h->ssm_fail(ssm, "out of memory");
    for (unsigned i = 0; i < u->pending_count; i++)
        pending[i] = u->pending[(u->pending_head + i) % UART_PENDING_SIZE];
    h->ssm_put_u64(ssm, u->iobase);
    h->ssm_put_u64(ssm, u->mmio_base);
    h->ssm_put_u64(ssm, u->irq);
    h->ssm_put_bytes(ssm, regs, sizeof(regs));
    h->ssm_put_u64(ssm, u->rx_count);
    h->ssm_put_bytes(ssm, rx, u->rx_count);
    h->ssm_put_u64(ssm, u->pending_count);
    h->ssm_put_bytes(ssm, pending, u->pending_count);
    free(pending);
    return h->ssm_put_u64(ssm, u->dropped);
}

static int uart_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    struct uart *u = state;
    const vmm_helpers *h = u->hlp;
    uint64_t iobase, mmio, irq, rx_count, pending;
    uint8_t regs[11], rx[UART_FIFO_SIZE];
    if (version != UART_STATE_VERSION)
        return h->ssm_fail(ssm, "unknown version %u (this UART saves version %u)", version, UART_STATE_VERSION);
    if (h->ssm_get_u64(ssm, &iobase) || h->ssm_get_u64(ssm, &mmio) || h->ssm_get_u64(ssm, &irq))
        return -1;
    if (iobase != u->iobase || mmio != u->mmio_base || irq != u->irq)
        return h->ssm_fail(ssm, "saved at port 0x%llx, MMIO 0x%llx, IRQ %llu; configured at port 0x%x, MMIO 0x%llx, "
                           "IRQ %u", (unsigned long long)iobase, (unsigned long long)mmio, (unsigned long long)irq,
                           (unsigned)u->iobase, (unsigned long long)u->mmio_base, (unsigned)u->irq);
    if (h->ssm_get_bytes(ssm, regs, sizeof(regs)) || h->ssm_get_u64(ssm, &rx_count))
        return -1;
    if (rx_count > UART_FIFO_SIZE)
        return h->ssm_fail(ssm, "%llu bytes in a %u-byte FIFO", (unsigned long long)rx_count, UART_FIFO_SIZE);
    if (h->ssm_get_bytes(ssm, rx, rx_count) || h->ssm_get_u64(ssm, &pending))
        return -1;
    if (pending > UART_PENDING_SIZE)
        return h->ssm_fail(ssm, "%llu pending bytes saved, the buffer holds %u", (unsigned long long)pending,
                           UART_PENDING_SIZE);
    if (h->ssm_get_bytes(ssm, u->pending, pending) || h->ssm_get_u64(ssm, &u->dropped))
        return -1;
    u->pending_head = 0;
    u->pending_count = (unsigned)pending;
    u->ier = regs[0];
    u->fcr = regs[1];
    u->lcr = regs[2];
    u->mcr = regs[3];
    u->msr = regs[4];
    u->scr = regs[5];
    u->dll = regs[6];
    u->dlm = regs[7];
    u->lsr_errors = regs[8];
    u->rbr = regs[9];
    u->thr_ipending = regs[10];
    u->rx_head = 0;
    u->rx_count = (unsigned)rx_count;
    memcpy(u->rx_fifo, rx, rx_count);
    u->irq_level = 0;
    uart_update_irq(u);
    return 0;
}

static int uart_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    struct uart *u = state;

    u->inst = inst;
    u->hlp = hlp;
    u->iobase = (uint16_t)hlp->opt_u64(inst, "iobase");
    u->irq = (uint32_t)hlp->opt_u64(inst, "irq");
    u->irq_level = 0;
    uart_reset(inst, u);

    u->mmio_base = hlp->opt_is_set(inst, "mmio") ? hlp->opt_u64(inst, "mmio") : 0;
    if (u->mmio_base) {
        /* QEMU's virt board decodes a 256-byte window for its eight byte registers. */
        if (hlp->mmio_register(inst, u->mmio_base, 0x100, uart_io_read, uart_io_write) != 0)
            return -1;
        /* In the device tree as QEMU's virt has it: a 16550A clocked at 3.6864 MHz. */
        static const uint8_t clock[4] = { 0x00, 0x38, 0x40, 0x00 };
        if (VMM_HELPERS_HAVE(hlp, 6) && (hlp->fdt_describe(inst, "serial", "ns16550a", (int)u->irq) ||
                                         hlp->fdt_prop(inst, "clock-frequency", clock, sizeof(clock))))
            return -1;
    } else if (hlp->pio_register(inst, u->iobase, UART_NR_PORTS, uart_io_read, uart_io_write) != 0) {
        return -1;
    }
    /* The instance number is where the UART sits, so two UARTs keep their own state apart. */
    if (hlp->ssm_register(inst, "uart16550", u->mmio_base ? (uint32_t)(u->mmio_base >> 8) : u->iobase,
                          UART_STATE_VERSION, uart_save, uart_load) != 0)
        return -1;

    if (hlp->console_claim_input(inst, uart_receive_console) == 0) {
        u->have_input = 1;
    } else {
        u->have_input = 0;
        hlp->log(inst, VMM_LOG_WARN, "console input is owned by another device; this UART receives nothing");
    }
    if (u->mmio_base)
        hlp->log(inst, VMM_LOG_DEBUG, "16550A at MMIO 0x%llx, irq %u%s", (unsigned long long)u->mmio_base,
                 (unsigned)u->irq, u->have_input ? ", console input" : "");
    else
        hlp->log(inst, VMM_LOG_DEBUG, "16550A at port 0x%x, irq %u%s", (unsigned)u->iobase, (unsigned)u->irq,
                 u->have_input ? ", console input" : "");
    return 0;
}

static const vmm_option_desc uart_options[] = {
    {
        .name = "iobase",
        .type = VMM_OPT_U64,
        .default_value = "0x3f8",
        .help = "first of the 8 I/O ports (COM1 0x3f8, COM2 0x2f8, COM3 0x3e8, COM4 0x2e8)",
        .min = 0,
        .max = 0xfff8,
    },
    {
        .name = "irq",
        .type = VMM_OPT_U64,
        .default_value = "4",
        .help = "interrupt line (COM1 and COM3: 4, COM2 and COM4: 3)",
        .min = 0,
        .max = 255,
    },
    {
        .name = "mmio",
        .type = VMM_OPT_U64,
        .default_value = NULL,
        .help = "memory-mapped at this guest-physical address instead of the port bus, registers 1 byte apart "
                "(QEMU riscv virt: 0x10000000); iobase is then unused",
        .min = 0,
        .max = 0,
    },
    { .name = NULL },
};

static const vmm_plugin_desc uart_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(struct uart),
    .name = "uart16550",
    .description = "16550A UART with 16-byte FIFOs, connected to the console",
    .options = uart_options,
    .construct = uart_construct,
    .destruct = NULL,
    .reset = uart_reset,
    .arch = NULL,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(uart_desc)
