/* board: see board.h. */
#include "board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vm.h"

struct board_fdt {
    char *node_name, *compatible;
    int irq;
    vmm_fdt_prop props[VMM_FDT_MAX_PROPS];
    unsigned nprops;
};

const vmm_board *board_of(const vmm_plugin_desc *arch)
{
    const vmm_arch_ops *ops = arch->arch;
    /* Before 1.6 the field was a reserved slot, NULL by rule 4. plugin.c checked the board's version and size. */
    if (!ops || VMM_VERSION_MINOR(arch->version) < 6 || VMM_VERSION_MINOR(ops->version) < 6)
        return NULL;
    return ops->board;
}

int board_has_port_bus(const vmm_plugin_desc *arch)
{
    const vmm_board *b = board_of(arch);
    return !b || !b->buses || (b->buses & VMM_BUS_PORT);
}

/* The plugin name of a --device value: up to its first comma. */
static int board_same_plugin(const char *name, const char *spec)
{
    size_t n = strcspn(spec, ",");
    return strlen(name) == n && !strncmp(name, spec, n);
}

int board_devices_build(const vmm_plugin_desc *arch, const vm_config *cfg, board_devices *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const vmm_board *b = board_of(arch);
    for (unsigned i = 0; b && b->default_devices && !cfg->nodefaults && b->default_devices[i]; i++) {
        const char *spec = b->default_devices[i];
        int replaced = 0;
        for (unsigned j = 0; j < cfg->ndevices && !replaced; j++)
            replaced = board_same_plugin(cfg->devices[j].name, spec);
        if (replaced)
            continue;
        if (out->nnames == VM_CONFIG_MAX_DEVICES) {
            snprintf(err, errlen, "--arch %s: its board has more than %d default devices", arch->name,
                     VM_CONFIG_MAX_DEVICES);
            board_devices_free(out);
            return -1;
        }
        size_t n = strcspn(spec, ",");
        char *name = strndup(spec, n);
        if (!name) {
            snprintf(err, errlen, "out of memory");
            board_devices_free(out);
            return -1;
        }
        out->names[out->nnames++] = name;
        out->list[out->count++] = (vm_device_config){.name = name, .options = spec[n] ? spec + n + 1 : NULL};
    }
    for (unsigned i = 0; i < cfg->ndevices; i++)
        out->list[out->count++] = cfg->devices[i];
    return 0;
}

void board_devices_free(board_devices *b)
{
    for (unsigned i = 0; i < b->nnames; i++)
        free(b->names[i]);
    memset(b, 0, sizeof(*b));
}

void board_fdt_free(board_fdt *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < f->nprops; i++) {
        free((void *)f->props[i].name);
        free((void *)f->props[i].value);
    }
    free(f->node_name);
    free(f->compatible);
    free(f);
}

/* Node names and compatible strings go into the tree as they are: printable, no separators of the tree's own. */
static int board_fdt_text_ok(const char *s, size_t max, int spaces)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < ' ' + !spaces || s[n] > '~' || s[n] == '/' || s[n] == '@')
            return 0;
    return n > 0 && n <= max;
}

int board_hlp_fdt_describe(vmm_instance *inst, const char *node_name, const char *compatible, int irq)
{
    if (inst == inst->vm->arch || inst->vm->running || inst->fdt) {
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_describe: %s", inst == inst->vm->arch ? "for devices only" :
                inst->fdt ? "called twice" : "only while the device is set up (construct)");
        return -1;
    }
    if (!node_name || !compatible || !board_fdt_text_ok(node_name, 31, 0) || !board_fdt_text_ok(compatible, 255, 1)) {
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_describe: the node name (1 to 31 characters) and compatible list (1 "
                "to 255) must be printable, without '/' or '@'");
        return -1;
    }
    board_fdt *f = calloc(1, sizeof(*f));
    if (!f || !(f->node_name = strdup(node_name)) || !(f->compatible = strdup(compatible))) {
        board_fdt_free(f);
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_describe: out of memory");
        return -1;
    }
    f->irq = irq < 0 ? -1 : irq;
    inst->fdt = f;
    return 0;
}

int board_hlp_fdt_prop(vmm_instance *inst, const char *name, const void *value, size_t len)
{
    static const char *const own[] = {"reg", "compatible", "interrupts", "interrupt-parent", "interrupts-extended",
                                      "phandle", "name"};
    board_fdt *f = inst->fdt;
    if (!f || inst->vm->running) {
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_prop: call fdt_describe first, while the device is set up");
        return -1;
    }
    if (!name || !board_fdt_text_ok(name, 31, 0) || (len && !value) || len > VMM_FDT_MAX_PROP_LEN ||
        f->nprops == VMM_FDT_MAX_PROPS) {
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_prop %s: at most %d properties of at most %d bytes, named in 1 to 31 "
                "printable characters", name ? name : "(null)", VMM_FDT_MAX_PROPS, VMM_FDT_MAX_PROP_LEN);
        return -1;
    }
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (!strcmp(name, own[i])) {
            log_msg(VMM_LOG_ERROR, inst->name, "fdt_prop %s: the architecture writes that property itself", name);
            return -1;
        }
    for (unsigned i = 0; i < f->nprops; i++)
        if (!strcmp(name, f->props[i].name)) {
            log_msg(VMM_LOG_ERROR, inst->name, "fdt_prop %s: given twice", name);
            return -1;
        }
    char *n = strdup(name);
    void *v = malloc(len ? len : 1);
    if (!n || !v) {
        free(n);
        free(v);
        log_msg(VMM_LOG_ERROR, inst->name, "fdt_prop: out of memory");
        return -1;
    }
    if (len)
        memcpy(v, value, len);
    f->props[f->nprops++] = (vmm_fdt_prop){.name = n, .value = v, .len = (uint32_t)len};
    return 0;
}

int board_hlp_fdt_device(vmm_instance *inst, unsigned index, vmm_fdt_device *out)
{
    vm *v = inst->vm;
    if (inst != v->arch)
        return -1;
    for (unsigned i = 0; i < v->ndevices; i++) {
        const vmm_instance *d = v->devices[i];
        if (!d->fdt || index--)
            continue;
        *out = (vmm_fdt_device){.instance = d->name, .node_name = d->fdt->node_name,
                                .compatible = d->fdt->compatible, .irq = d->fdt->irq, .nprops = d->fdt->nprops,
                                .props = d->fdt->props};
        for (size_t r = 0; r < v->mem.count; r++) /* sorted by address: the first is the lowest */
            if (v->mem.regions[r].owner == d && v->mem.regions[r].kind == MEM_MMIO) {
                out->base = v->mem.regions[r].gpa;
                out->size = v->mem.regions[r].size;
                break;
            }
        return 0;
    }
    return -1;
}

int board_hlp_mmio_slot_claim(vmm_instance *inst, uint64_t size, uint64_t *base, uint32_t *irq)
{
    vm *v = inst->vm;
    const vmm_board *b = board_of(v->arch->desc);
    if (inst == v->arch || v->running || !base || !irq)
        return -1;
    /* Before 1.7 the field was a reserved slot, NULL by rule. */
    if (!b || VMM_VERSION_MINOR(b->version) < 7 || !b->mmio_slot)
        return -1;
    if (b->mmio_slot(v->mmio_slots, size, base, irq)) {
        log_msg(VMM_LOG_ERROR, inst->name, "the %s board has no free slot left for another MMIO device (%u taken): "
                "give its address and interrupt line", v->arch->name, v->mmio_slots);
        return -2;
    }
    v->mmio_slots++;
    return 0;
}
