/* dtb: see dtb.h. Node names, phandles and property order follow QEMU's virt board, so that guests and firmware
 * written against QEMU's tree find what they look for. */
#include "dtb.h"

#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DTB_MAX (64u << 10)
#define DTB_PHANDLE_INTC 1
#define DTB_PHANDLE_PLIC 2
#define DTB_PHANDLE_TEST 3
/* SMP: hart 0's interrupt controller keeps phandle 1; the others' and the cpu nodes' (for cpu-map) are these. */
#define DTB_PHANDLE_INTC_HART(h) ((h) == 0 ? DTB_PHANDLE_INTC : 0x100u + (h))
#define DTB_PHANDLE_CPU(h) (0x200u + (h))
#define DTB_IRQ_M_SOFT 3
#define DTB_IRQ_M_TIMER 7
#define DTB_IRQ_S_EXT 9
#define DTB_IRQ_M_EXT 11

void dtb_isa_string(uint64_t misa, char *buf, size_t len)
{
    static const char order[] = "imafdqlcbjtpvh"; /* the canonical order of the ISA manual */
    size_t n = (size_t)snprintf(buf, len, "rv64");
    for (const char *c = order; *c && n + 1 < len; c++)
        if (misa & (1ull << (*c - 'a')))
            buf[n++] = *c;
    buf[n < len ? n : len - 1] = '\0';
    /* The multi-letter extensions misa cannot show: always there with this recompiler. */
    snprintf(buf + strlen(buf), len - strlen(buf), "_zicsr_zifencei_zba_zbb_zbs");
}

/* reg = <base size> in two cells each. */
static int dtb_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t cells[2] = {cpu_to_fdt64(base), cpu_to_fdt64(size)};
    return fdt_property(fdt, "reg", cells, sizeof(cells));
}

/* "a b c" -> "a\0b\0c\0", the string list of a compatible property. */
static int dtb_compatible(void *fdt, const char *list)
{
    char buf[256];
    size_t n = strlen(list);
    if (n >= sizeof(buf))
        return -FDT_ERR_BADVALUE;
    memcpy(buf, list, n + 1);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == ' ')
            buf[i] = '\0';
    return fdt_property(fdt, "compatible", buf, n + 1);
}

/* Whether the space-separated list has the entry. */
static int dtb_has(const char *list, const char *entry)
{
    size_t n = strlen(entry);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, entry, n))
            return 1;
        p += len;
        p += *p == ' ';
    }
    return 0;
}

static int dtb_cpu(void *fdt, const dtb_input *in, unsigned h, const char *isa)
{
    char name[16];
    int e = 0;
    snprintf(name, sizeof(name), "cpu@%u", h);
    e |= fdt_begin_node(fdt, name);
    if (in->harts > 1)
        e |= fdt_property_u32(fdt, "phandle", DTB_PHANDLE_CPU(h));
    e |= fdt_property_string(fdt, "device_type", "cpu");
    e |= fdt_property_u32(fdt, "reg", h);
    e |= fdt_property_string(fdt, "status", "okay");
    e |= fdt_property_string(fdt, "compatible", "riscv");
    e |= fdt_property_string(fdt, "riscv,isa", isa);
    e |= fdt_property_string(fdt, "mmu-type", "riscv,sv48"); /* Sv39 and Sv48, both modes */
    e |= fdt_begin_node(fdt, "interrupt-controller");
    e |= fdt_property_u32(fdt, "#address-cells", 0);
    e |= fdt_property_u32(fdt, "#interrupt-cells", 1);
    e |= fdt_property(fdt, "interrupt-controller", NULL, 0);
    e |= fdt_property_string(fdt, "compatible", "riscv,cpu-intc");
    e |= fdt_property_u32(fdt, "phandle", DTB_PHANDLE_INTC_HART(h));
    e |= fdt_end_node(fdt);
    e |= fdt_end_node(fdt);
    return e;
}

static int dtb_cpus(void *fdt, const dtb_input *in)
{
    char isa[64];
    dtb_isa_string(in->misa, isa, sizeof(isa));
    int e = 0;
    e |= fdt_begin_node(fdt, "cpus");
    e |= fdt_property_u32(fdt, "#address-cells", 1);
    e |= fdt_property_u32(fdt, "#size-cells", 0);
    e |= fdt_property_u32(fdt, "timebase-frequency", in->timebase_hz);
    for (unsigned h = 0; h < in->harts; h++)
        e |= dtb_cpu(fdt, in, h, isa);
    if (in->harts > 1) { /* one cluster, one core per hart, as QEMU's virt with one socket */
        e |= fdt_begin_node(fdt, "cpu-map");
        e |= fdt_begin_node(fdt, "cluster0");
        for (unsigned h = 0; h < in->harts; h++) {
            char name[16];
            snprintf(name, sizeof(name), "core%u", h);
            e |= fdt_begin_node(fdt, name);
            e |= fdt_property_u32(fdt, "cpu", DTB_PHANDLE_CPU(h));
            e |= fdt_end_node(fdt);
        }
        e |= fdt_end_node(fdt);
        e |= fdt_end_node(fdt);
    }
    e |= fdt_end_node(fdt);
    return e;
}

static int dtb_soc_fixed(void *fdt, const dtb_input *in)
{
    char name[48];
    int e = 0;
    snprintf(name, sizeof(name), "clint@%" PRIx64, in->clint_base);
    e |= fdt_begin_node(fdt, name);
    /* Per hart: its software and timer interrupts; the PLIC's contexts 2h (M) and 2h + 1 (S), as riscv64.c. */
    fdt32_t clint_irqs[4 * DTB_MAX_HARTS], plic_irqs[4 * DTB_MAX_HARTS];
    for (unsigned h = 0; h < in->harts; h++) {
        clint_irqs[4 * h] = plic_irqs[4 * h] = cpu_to_fdt32(DTB_PHANDLE_INTC_HART(h));
        clint_irqs[4 * h + 1] = cpu_to_fdt32(DTB_IRQ_M_SOFT);
        clint_irqs[4 * h + 2] = plic_irqs[4 * h + 2] = cpu_to_fdt32(DTB_PHANDLE_INTC_HART(h));
        clint_irqs[4 * h + 3] = cpu_to_fdt32(DTB_IRQ_M_TIMER);
        plic_irqs[4 * h + 1] = cpu_to_fdt32(DTB_IRQ_M_EXT);
        plic_irqs[4 * h + 3] = cpu_to_fdt32(DTB_IRQ_S_EXT);
    }
    e |= fdt_property(fdt, "interrupts-extended", clint_irqs, 16 * in->harts);
    e |= dtb_reg(fdt, in->clint_base, in->clint_size);
    e |= dtb_compatible(fdt, "sifive,clint0 riscv,clint0");
    e |= fdt_end_node(fdt);
    snprintf(name, sizeof(name), "plic@%" PRIx64, in->plic_base);
    e |= fdt_begin_node(fdt, name);
    e |= fdt_property_u32(fdt, "phandle", DTB_PHANDLE_PLIC);
    e |= fdt_property_u32(fdt, "riscv,ndev", in->plic_sources - 1);
    e |= dtb_reg(fdt, in->plic_base, in->plic_size);
    e |= fdt_property(fdt, "interrupts-extended", plic_irqs, 16 * in->harts);
    e |= fdt_property(fdt, "interrupt-controller", NULL, 0);
    e |= dtb_compatible(fdt, "sifive,plic-1.0.0 riscv,plic0");
    e |= fdt_property_u32(fdt, "#address-cells", 0);
    e |= fdt_property_u32(fdt, "#interrupt-cells", 1);
    e |= fdt_end_node(fdt);
    return e;
}

/* One described device. The first test finisher gets the phandle /poweroff and /reboot refer to (*is_test). */
static int dtb_device(vmm_instance *inst, const vmm_helpers *hlp, void *fdt, const dtb_input *in,
                      const vmm_fdt_device *d, int have_test, int *is_test)
{
    char name[64]; /* a node name of up to 31 characters (the SDK's limit), '@' and 16 hex digits */
    if (!d->size) {
        hlp->log(inst, VMM_LOG_DEBUG, "%s described itself but has no MMIO range: not in the device tree",
                 d->instance);
        return 0;
    }
    if (d->irq == 0 || (d->irq > 0 && (unsigned)d->irq >= in->plic_sources)) {
        hlp->log(inst, VMM_LOG_ERROR, "%s: interrupt line %d: the PLIC has sources 1 to %u", d->instance, d->irq,
                 in->plic_sources - 1);
        return -2;
    }
    *is_test = dtb_has(d->compatible, "sifive,test0") && dtb_has(d->compatible, "syscon");
    /* A name cut short would lose its unit address's last digits: two devices could share it. */
    if ((size_t)snprintf(name, sizeof(name), "%s@%" PRIx64, d->node_name, d->base) >= sizeof(name)) {
        hlp->log(inst, VMM_LOG_ERROR, "%s: its device-tree node name '%s' is too long", d->instance, d->node_name);
        return -2;
    }
    int e = fdt_begin_node(fdt, name);
    if (*is_test && !have_test)
        e |= fdt_property_u32(fdt, "phandle", DTB_PHANDLE_TEST);
    if (d->irq > 0) {
        e |= fdt_property_u32(fdt, "interrupts", (uint32_t)d->irq);
        e |= fdt_property_u32(fdt, "interrupt-parent", DTB_PHANDLE_PLIC);
    }
    for (unsigned i = 0; i < d->nprops; i++)
        e |= fdt_property(fdt, d->props[i].name, d->props[i].value, (int)d->props[i].len);
    e |= dtb_reg(fdt, d->base, d->size);
    e |= dtb_compatible(fdt, d->compatible);
    e |= fdt_end_node(fdt);
    return e;
}

static int dtb_syscon(void *fdt, const char *node, const char *compatible, uint32_t value)
{
    int e = fdt_begin_node(fdt, node);
    e |= fdt_property_u32(fdt, "value", value);
    e |= fdt_property_u32(fdt, "offset", 0);
    e |= fdt_property_u32(fdt, "regmap", DTB_PHANDLE_TEST);
    e |= fdt_property_string(fdt, "compatible", compatible);
    e |= fdt_end_node(fdt);
    return e;
}

int dtb_build(vmm_instance *inst, const vmm_helpers *hlp, const dtb_input *in, void **out, size_t *len)
{
    void *fdt = calloc(1, DTB_MAX);
    char name[64], console[64] = "";
    int e = 0, have_test = 0;
    if (!fdt) {
        hlp->log(inst, VMM_LOG_ERROR, "out of memory for the device tree");
        return -1;
    }
    /* First pass: the console for /chosen, which comes before /soc as in QEMU's tree. */
    vmm_fdt_device d;
    int described = VMM_HELPERS_HAVE(hlp, 6); /* an older core has no device descriptions: only the fixed nodes */
    for (unsigned i = 0; described && !console[0] && hlp->fdt_device(inst, i, &d) == 0; i++)
        if (d.size && dtb_has(d.compatible, "ns16550a"))
            snprintf(console, sizeof(console), "/soc/%s@%" PRIx64, d.node_name, d.base);

    e |= fdt_create(fdt, DTB_MAX);
    e |= fdt_finish_reservemap(fdt);
    e |= fdt_begin_node(fdt, "");
    e |= fdt_property_u32(fdt, "#address-cells", 2);
    e |= fdt_property_u32(fdt, "#size-cells", 2);
    e |= fdt_property_string(fdt, "compatible", "riscv-virtio");
    e |= fdt_property_string(fdt, "model", "riscv-virtio,vmm");

    e |= fdt_begin_node(fdt, "chosen");
    if (in->bootargs && in->bootargs[0])
        e |= fdt_property_string(fdt, "bootargs", in->bootargs);
    if (console[0])
        e |= fdt_property_string(fdt, "stdout-path", console);
    if (in->initrd_end) {
        e |= fdt_property_u64(fdt, "linux,initrd-start", in->initrd_start);
        e |= fdt_property_u64(fdt, "linux,initrd-end", in->initrd_end);
    }
    e |= fdt_end_node(fdt);

    snprintf(name, sizeof(name), "memory@%" PRIx64, in->ram_base);
    e |= fdt_begin_node(fdt, name);
    e |= fdt_property_string(fdt, "device_type", "memory");
    e |= dtb_reg(fdt, in->ram_base, in->ram_size);
    e |= fdt_end_node(fdt);

    e |= dtb_cpus(fdt, in);

    e |= fdt_begin_node(fdt, "soc");
    e |= fdt_property_u32(fdt, "#address-cells", 2);
    e |= fdt_property_u32(fdt, "#size-cells", 2);
    e |= fdt_property_string(fdt, "compatible", "simple-bus");
    e |= fdt_property(fdt, "ranges", NULL, 0);
    for (unsigned i = 0; described && hlp->fdt_device(inst, i, &d) == 0; i++) {
        int is_test = 0;
        int r = dtb_device(inst, hlp, fdt, in, &d, have_test, &is_test);
        if (r == -2) {
            free(fdt);
            return -1;
        }
        e |= r;
        have_test |= is_test;
    }
    e |= dtb_soc_fixed(fdt, in);
    e |= fdt_end_node(fdt);

    if (have_test) {
        e |= dtb_syscon(fdt, "poweroff", "syscon-poweroff", 0x5555);
        e |= dtb_syscon(fdt, "reboot", "syscon-reboot", 0x7777);
    }
    e |= fdt_end_node(fdt);
    e |= fdt_finish(fdt);
    if (e) {
        hlp->log(inst, VMM_LOG_ERROR, "the device tree could not be built (more than %u KiB, or a device's property "
                 "libfdt refused)", DTB_MAX >> 10);
        free(fdt);
        return -1;
    }
    *len = fdt_totalsize(fdt);
    *out = fdt;
    return 0;
}
