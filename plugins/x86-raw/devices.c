/*
 * devices.c: x86-raw's side of the MMIO devices the user adds (virtio-mmio transports, which describe themselves
 * with the SDK's fdt_describe): the board's slots for them (vmm_board.mmio_slot), the check that each lies in the
 * 32-bit MMIO hole on an interrupt line the board can route, and the virtio_mmio.device= parameters through which
 * a Linux guest without a device tree or ACPI finds them. docs/x86-raw.md, "Virtio devices".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86raw.h"

/* Slot n: a 4 KiB page from 0xd0000000 (above RAM, which stops at 3 GiB, far below the IOAPIC) and the n-th ISA
 * line the board leaves free. The MP table wires ISA IRQs 0-15 to IOAPIC pins 0-15 (and KVM drives the PIC's too). */
#define X86_SLOT_BASE UINT64_C(0xd0000000)
#define X86_SLOT_SIZE 0x1000ull
static const uint8_t x86_slot_irqs[] = {5, 6, 7, 9, 10, 11, 14, 15};
#define X86_NSLOTS (sizeof(x86_slot_irqs) / sizeof(x86_slot_irqs[0]))

/* The platform's own windows below 4 GiB: IOAPIC (0xfec00000), local APIC and MSI (0xfee00000), the host
 * driver's private areas and the syscall trap page (0xfffb0000 and up). */
#define X86_PLATFORM_WINDOW 0xfec00000ull
#define X86_4G 0x100000000ull

static const char *const x86_isa_owner[16] = {
    [0] = "the PIT", [1] = "the keyboard (i8042)", [2] = "the PIC cascade", [3] = "COM2", [4] = "COM1",
    [8] = "the RTC", [12] = "the PS/2 mouse (i8042)", [13] = "the FPU",
};

int x86_board_mmio_slot(unsigned index, uint64_t size, uint64_t *base, uint32_t *irq)
{
    if (index >= X86_NSLOTS || size > X86_SLOT_SIZE)
        return -1;
    *base = X86_SLOT_BASE + index * X86_SLOT_SIZE;
    *irq = x86_slot_irqs[index];
    return 0;
}

static int x86_is_virtio(const vmm_fdt_device *d)
{
    const char *c = d->compatible;
    size_t n = strlen("virtio,mmio");
    while ((c = strstr(c, "virtio,mmio")) != NULL) {
        if ((c == d->compatible || c[-1] == ' ') && (c[n] == ' ' || c[n] == 0))
            return 1;
        c += n;
    }
    return 0;
}

static int x86_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

int x86_devices_check(x86raw *x, uint64_t low_ram, uint64_t high_ram)
{
    const vmm_helpers *hlp = x->hlp;
    if (!VMM_HELPERS_HAVE(hlp, 6) || !hlp->fdt_device) /* the fuzzer's table has no devices */
        return 0;
    vmm_fdt_device d, e;
    for (unsigned i = 0; hlp->fdt_device(x->inst, i, &d) == 0; i++) {
        if (d.size) {
            const char *what = NULL;
            char ram[96];
            if (x86_overlaps(d.base, d.size, 0, low_ram) || x86_overlaps(d.base, d.size, X86_HIGH_RAM_BASE, high_ram)) {
                snprintf(ram, sizeof(ram), "guest RAM (0-0x%" PRIx64 "%s)", low_ram - 1,
                         high_ram ? " and from 4 GiB" : "");
                what = ram;
            } else if (x86_overlaps(d.base, d.size, X86_PLATFORM_WINDOW, X86_4G - X86_PLATFORM_WINDOW))
                what = "the platform's IOAPIC, local APIC and host-driver areas (0xfec00000-0xffffffff)";
            if (what) {
                hlp->log(x->inst, VMM_LOG_ERROR, "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps %s; the board leaves "
                         "0x%" PRIx64 "-0xfebfffff to devices", d.instance, d.base, d.base + d.size - 1, what, low_ram);
                return -1;
            }
        }
        if (d.irq < 0)
            continue;
        if (d.irq > 15) {
            hlp->log(x->inst, VMM_LOG_ERROR, "%s: IRQ %d: x86-raw routes ISA IRQs 0-15 only (the MP table's); free "
                     "ones: 5, 6, 7, 9, 10, 11, 14, 15", d.instance, (int)d.irq);
            return -1;
        }
        if (x86_is_virtio(&d) && !x->irqchip) {
            hlp->log(x->inst, VMM_LOG_ERROR, "%s: a virtio device completes requests by interrupt, and irqchip=off "
                     "leaves the guest no interrupt controller to receive it on: drop irqchip=off", d.instance);
            return -1;
        }
        if (x86_is_virtio(&d) && x86_isa_owner[d.irq]) {
            hlp->log(x->inst, VMM_LOG_ERROR, "%s: IRQ %d belongs to %s on this board; free ones: 5, 6, 7, 9, 10, "
                     "11, 14, 15", d.instance, (int)d.irq, x86_isa_owner[d.irq]);
            return -1;
        }
        /* ISA lines are edge-triggered and not shared. */
        for (unsigned j = 0; j < i && hlp->fdt_device(x->inst, j, &e) == 0; j++)
            if (e.irq == d.irq) {
                hlp->log(x->inst, VMM_LOG_ERROR, "%s and %s both use IRQ %d; ISA lines are not shared", e.instance,
                         d.instance, (int)d.irq);
                return -1;
            }
    }
    return 0;
}

/* " virtio_mmio.device=SIZE@BASE:IRQ" for every virtio-mmio device, appended to the user's command line into buf;
 * 0, or -1 when it does not fit in size bytes. Where the user wrote such parameters himself, none are added. */
int x86_devices_cmdline(x86raw *x, const char *user, char *buf, size_t size)
{
    const vmm_helpers *hlp = x->hlp;
    size_t len = (size_t)snprintf(buf, size, "%s", user);
    if (len >= size)
        return -1;
    if (!VMM_HELPERS_HAVE(hlp, 6) || !hlp->fdt_device)
        return 0;
    int named = strstr(user, "virtio_mmio.device=") != NULL;
    vmm_fdt_device d;
    for (unsigned i = 0; hlp->fdt_device(x->inst, i, &d) == 0; i++) {
        if (!x86_is_virtio(&d) || !d.size || d.irq < 0)
            continue;
        if (named) {
            hlp->log(x->inst, VMM_LOG_INFO, "--append names virtio_mmio.device= itself: %s at 0x%" PRIx64 " IRQ %d "
                     "is not added", d.instance, d.base, (int)d.irq);
            continue;
        }
        int n = snprintf(buf + len, size - len, "%svirtio_mmio.device=0x%" PRIx64 "@0x%" PRIx64 ":%d",
                         len ? " " : "", d.size, d.base, (int)d.irq);
        if (n < 0 || (size_t)n >= size - len)
            return -1;
        len += (size_t)n;
    }
    return 0;
}
