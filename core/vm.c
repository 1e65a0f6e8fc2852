/* vm: see vm.h. Also implements the helper table (vm_helpers) every plugin instance receives. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"
#include "iothread.h"
#include "log.h"
#include "loop.h"
#include "sandbox.h"
#include "ssm.h"
#include "vcpu.h"

#define VM_MAX_IMAGE_SIZE (1ull << 32)
#define VM_MAX_CPUS 1024u

static _Thread_local vmm_vcpu *vm_current_vcpu;

void vm_set_current_vcpu(vmm_vcpu *vcpu)
{
    vm_current_vcpu = vcpu;
}

/* ---- Instances ---------------------------------------------------------------------------------------- */

void vm_instance_lock(vmm_instance *inst)
{
    pthread_mutex_lock(&inst->lock);
    sandbox_instance_push(inst->name); /* every callback runs under its instance's lock */
}

void vm_instance_unlock(vmm_instance *inst)
{
    sandbox_instance_pop();
    pthread_mutex_unlock(&inst->lock);
}

static vmm_instance *vm_instance_new(vm *v, const vmm_plugin_desc *desc, const char *options, unsigned nth,
                                     char *err, size_t errlen)
{
    vmm_instance *inst = calloc(1, sizeof(*inst));
    if (!inst) {
        snprintf(err, errlen, "%s: out of memory", desc->name);
        return NULL;
    }
    inst->vm = v;
    inst->desc = desc;
    if (nth)
        snprintf(inst->name, sizeof(inst->name), "%s.%u", desc->name, nth);
    else
        snprintf(inst->name, sizeof(inst->name), "%s", desc->name);
    inst->state = calloc(1, desc->instance_size ? desc->instance_size : 1);
    if (!inst->state) {
        snprintf(err, errlen, "%s: out of memory for %u bytes of instance data", inst->name, desc->instance_size);
        free(inst);
        return NULL;
    }
    if (opt_values_parse(&inst->opts, desc->options, options, inst->name, err, errlen)) {
        free(inst->state);
        free(inst);
        return NULL;
    }
    pthread_mutex_init(&inst->lock, NULL);
    return inst;
}

static void vm_instance_free(vmm_instance *inst)
{
    if (!inst)
        return;
    if (inst->constructed && inst->desc->destruct)
        inst->desc->destruct(inst, inst->state);
    /* Its state goes away now: a thread still running on it is the plugin's bug, said rather than hidden. */
    if (__atomic_load_n(&inst->threads, __ATOMIC_RELAXED))
        log_msg(VMM_LOG_ERROR, inst->name, "destroyed with %u thread(s) from thread_start still running (join them "
                "in destruct)", inst->threads);
    opt_values_free(&inst->opts);
    board_fdt_free(inst->fdt);
    pthread_mutex_destroy(&inst->lock);
    free(inst->state);
    free(inst);
}

/* ---- Memory ------------------------------------------------------------------------------------------- */

static void *vm_alloc_guest_memory(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Guest RAM is large and mostly untouched; transparent huge pages make the host's page walks shorter. */
    madvise(p, size, MADV_HUGEPAGE);
    return p;
}

/* Add a backed region to the map and to the host driver. */
static int vm_map_backed(vm *v, vmm_instance *owner, mem_kind kind, uint64_t gpa, uint64_t size, void *host,
                         int shadowed, const char *name, unsigned slot_flags)
{
    if (v->running) {
        log_msg(VMM_LOG_ERROR, owner ? owner->name : "vmm", "%s region '%s': regions must be mapped before the VM starts",
                memmap_kind_name(kind), name);
        return -1;
    }
    mem_region r = {.gpa = gpa, .size = size, .kind = kind, .shadowed = shadowed, .host = host, .owner = owner,
                    .slot_flags = slot_flags};
    snprintf(r.name, sizeof(r.name), "%s", name ? name : "");
    r.slot = v->next_slot;
    char err[256];
    if (memmap_add(&v->mem, &r, err, sizeof(err)) < 0) {
        log_msg(VMM_LOG_ERROR, owner ? owner->name : "vmm", "%s", err);
        if (owner)
            owner->logged_error = 1;
        return -1;
    }
    if (v->hv && hostdrv_vm_map(v->hv, r.slot, gpa, host, size, slot_flags)) {
        int e = errno;
        log_msg(VMM_LOG_ERROR, owner ? owner->name : "vmm", "%s region '%s' at 0x%" PRIx64 ": host driver refused: %s",
                memmap_kind_name(kind), r.name, gpa, strerror(e));
        /* Keep the map consistent with the host driver. */
        mem_region *added = memmap_find(&v->mem, gpa);
        if (added) {
            size_t at = (size_t)(added - v->mem.regions);
            memmove(added, added + 1, (v->mem.count - at - 1) * sizeof(*added));
            v->mem.count--;
        }
        return -1;
    }
    v->next_slot++;
    return 0;
}

/* Host writes into logged RAM are remembered here for the next incremental snapshot. */
static void vm_mark_host_dirty(const mem_region *r, uint64_t gpa, uint64_t len)
{
    if (!r->host_dirty || !len)
        return;
    for (uint64_t p = (gpa - r->gpa) / MEMMAP_PAGE_SIZE; p <= (gpa - r->gpa + len - 1) / MEMMAP_PAGE_SIZE; p++)
        __atomic_fetch_or(&r->host_dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
}

/* Copy between host and guest over the backed regions covering [gpa, gpa+len); all or nothing. */
static int vm_mem_access(vm *v, uint64_t gpa, void *buf, size_t len, int write)
{
    if (len == 0)
        return 0;
    if (gpa + (len - 1) < gpa)
        return -1;
    /* Check the whole range first so a failed access changes nothing. */
    for (uint64_t at = gpa, left = len; left;) {
        const mem_region *r = memmap_find(&v->mem, at);
        if (!r || !r->host || (write && r->kind == MEM_ROM && !r->shadowed))
            return -1;
        uint64_t n = r->gpa + r->size - at;
        if (n > left)
            n = left;
        at += n;
        left -= n;
    }
    for (uint64_t at = gpa, left = len, off = 0; left;) {
        const mem_region *r = memmap_find(&v->mem, at);
        uint64_t n = r->gpa + r->size - at;
        if (n > left)
            n = left;
        if (write) {
            memcpy(r->host + (at - r->gpa), (const uint8_t *)buf + off, n);
            vm_mark_host_dirty(r, at, n);
            /* After the copy: whoever sees the count grow also sees the bytes. */
            __atomic_fetch_add(&v->host_writes, 1, __ATOMIC_RELEASE);
        } else
            memcpy((uint8_t *)buf + off, r->host + (at - r->gpa), n);
        at += n;
        left -= n;
        off += n;
    }
    return 0;
}

/* ---- The helper table --------------------------------------------------------------------------------- */

static void hlp_log(vmm_instance *inst, vmm_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (level == VMM_LOG_ERROR)
        inst->logged_error = 1;
    log_vmsg(level, inst->name, fmt, ap);
    va_end(ap);
}

static int hlp_log_enabled(vmm_instance *inst, vmm_log_level level)
{
    (void)inst;
    return log_enabled(level);
}

static const opt_value *hlp_opt(vmm_instance *inst, const char *name, vmm_option_type type)
{
    const opt_value *v = opt_values_find(&inst->opts, name);
    if (!v) {
        log_msg(VMM_LOG_ERROR, inst->name, "asked for option '%s' it did not declare", name);
        return NULL;
    }
    if (v->desc->type != type) {
        log_msg(VMM_LOG_ERROR, inst->name, "asked for option '%s' with the wrong type", name);
        return NULL;
    }
    return v;
}

static const char *hlp_opt_string(vmm_instance *inst, const char *name)
{
    const opt_value *v = hlp_opt(inst, name, VMM_OPT_STRING);
    return v ? v->text : NULL;
}

static uint64_t hlp_opt_u64(vmm_instance *inst, const char *name)
{
    const opt_value *v = hlp_opt(inst, name, VMM_OPT_U64);
    return v && v->text ? v->u64 : 0;
}

static int hlp_opt_bool(vmm_instance *inst, const char *name)
{
    const opt_value *v = hlp_opt(inst, name, VMM_OPT_BOOL);
    return v && v->text ? v->boolean : 0;
}

static int hlp_opt_is_set(vmm_instance *inst, const char *name)
{
    const opt_value *v = opt_values_find(&inst->opts, name);
    return v && v->text;
}

static int vm_register_io(vmm_instance *inst, iobus *bus, uint64_t base, uint64_t size, vmm_io_read_fn rd,
                          vmm_io_write_fn wr)
{
    if (inst->vm->running) {
        log_msg(VMM_LOG_ERROR, inst->name, "%s ranges must be registered before the VM starts", bus->name);
        return -1;
    }
    io_range r = {.base = base, .size = size, .owner = inst, .rd = rd, .wr = wr};
    char err[256];
    if (iobus_register(bus, &r, inst->name, err, sizeof(err))) {
        log_msg(VMM_LOG_ERROR, "vmm", "%s", err);
        inst->logged_error = 1;
        return -1;
    }
    return 0;
}

static int hlp_pio_register(vmm_instance *inst, uint16_t base, uint32_t count, vmm_io_read_fn rd, vmm_io_write_fn wr)
{
    if (count == 0 || (uint32_t)base + count > 0x10000) {
        log_msg(VMM_LOG_ERROR, inst->name, "port range 0x%x+%u is outside the 64 KiB port space", base, count);
        return -1;
    }
    if (inst != inst->vm->arch && !board_has_port_bus(inst->vm->arch->desc)) {
        log_msg(VMM_LOG_ERROR, inst->name, "ports 0x%x-0x%x: %s has no port I/O bus, its guest could not reach them "
                "(give the device an MMIO address if it has one: vmm plugins --help %s)", base, base + count - 1,
                inst->vm->arch->name, inst->desc->name);
        inst->logged_error = 1;
        return -1;
    }
    return vm_register_io(inst, &inst->vm->pio, base, count, rd, wr);
}

static int hlp_mmio_register(vmm_instance *inst, uint64_t base, uint64_t size, vmm_io_read_fn rd, vmm_io_write_fn wr)
{
    /* The memory map refuses MMIO over RAM, ROM or MMIO2; the bus then finds it by address. */
    mem_region r = {.gpa = base, .size = size, .kind = MEM_MMIO, .owner = inst};
    snprintf(r.name, sizeof(r.name), "%s", inst->name);
    char err[256];
    if (inst->vm->running) {
        log_msg(VMM_LOG_ERROR, inst->name, "MMIO ranges must be registered before the VM starts");
        return -1;
    }
    if (memmap_add(&inst->vm->mem, &r, err, sizeof(err)) < 0) {
        log_msg(VMM_LOG_ERROR, inst->name, "%s", err);
        return -1;
    }
    return vm_register_io(inst, &inst->vm->mmio, base, size, rd, wr);
}

static int hlp_irq_set(vmm_instance *inst, uint32_t line, int level)
{
    vm *v = inst->vm;
    /* A device that wrote through a pointer tells the guest with an interrupt: count it as the end of the writes
     * (plugin.h, mem_write_count). */
    __atomic_fetch_add(&v->host_writes, 1, __ATOMIC_RELEASE);
    if (!(hostdrv_vm_caps(v->hv) & HOSTDRV_CAP_IRQCHIP)) {
        log_msg(VMM_LOG_DEBUG, inst->name, "IRQ %u set to %d with no interrupt controller", line, level);
        return -1;
    }
    if (hostdrv_vm_irq_line(v->hv, line, level)) {
        log_msg(VMM_LOG_WARN, inst->name, "IRQ %u: %s", line, strerror(errno));
        return -1;
    }
    return 0;
}

static int hlp_msi_send(vmm_instance *inst, uint64_t addr, uint32_t data)
{
    vm *v = inst->vm;
    __atomic_fetch_add(&v->host_writes, 1, __ATOMIC_RELEASE);
    if (!(hostdrv_vm_caps(v->hv) & HOSTDRV_CAP_MSI)) {
        log_msg(VMM_LOG_DEBUG, inst->name, "MSI 0x%" PRIx64 "/0x%x with no interrupt controller", addr, data);
        return -1;
    }
    if (hostdrv_vm_signal_msi(v->hv, addr, data)) {
        log_msg(VMM_LOG_WARN, inst->name, "MSI 0x%" PRIx64 "/0x%x: %s", addr, data, strerror(errno));
        return -1;
    }
    return 0;
}

static int hlp_mem_read(vmm_instance *inst, uint64_t gpa, void *buf, size_t len)
{
    return vm_mem_access(inst->vm, gpa, buf, len, 0);
}

static int hlp_mem_write(vmm_instance *inst, uint64_t gpa, const void *buf, size_t len)
{
    return vm_mem_access(inst->vm, gpa, (void *)buf, len, 1);
}

static void *hlp_mem_ptr(vmm_instance *inst, uint64_t gpa, size_t len, int writable)
{
    const mem_region *r = memmap_find_range(&inst->vm->mem, gpa, len);
    if (!r || !r->host || (writable && r->kind == MEM_ROM && !r->shadowed))
        return NULL;
    /* A writable pointer counts as written when it is taken (documented in plugin.h). */
    if (writable) {
        vm_mark_host_dirty(r, gpa, len);
        __atomic_fetch_add(&inst->vm->host_writes, 1, __ATOMIC_RELEASE);
    }
    return r->host + (gpa - r->gpa);
}

static uint64_t hlp_mem_write_count(vmm_instance *inst)
{
    return __atomic_load_n(&inst->vm->host_writes, __ATOMIC_ACQUIRE);
}

static uint64_t hlp_mem_ram_size(vmm_instance *inst)
{
    return inst->vm->ram_size;
}

static int hlp_mem_map_ram(vmm_instance *inst, uint64_t gpa, uint64_t len, const char *name)
{
    vm *v = inst->vm;
    if (inst->desc->kind != VMM_KIND_ARCH) {
        log_msg(VMM_LOG_ERROR, inst->name, "only architecture plugins map guest RAM");
        return -1;
    }
    void *host = vm_alloc_guest_memory(len ? len : 1);
    if (!host) {
        log_msg(VMM_LOG_ERROR, inst->name, "cannot allocate %" PRIu64 " bytes of guest RAM: %s", len, strerror(errno));
        return -1;
    }
    if (vm_map_backed(v, inst, MEM_RAM, gpa, len, host, 0, name, v->dirty_log ? HOSTDRV_SLOT_DIRTY_LOG : 0)) {
        munmap(host, len ? len : 1);
        return -1;
    }
    if (v->dirty_log) {
        mem_region *r = memmap_find(&v->mem, gpa);
        r->host_dirty = calloc(len / MEMMAP_PAGE_SIZE / 64 + 1, sizeof(uint64_t));
        if (!r->host_dirty) {
            log_msg(VMM_LOG_ERROR, inst->name, "out of memory for the dirty-page map of '%s'", name);
            return -1;
        }
    }
    return 0;
}

static uint64_t vm_page_round(uint64_t n)
{
    return (n + MEMMAP_PAGE_SIZE - 1) & ~(uint64_t)(MEMMAP_PAGE_SIZE - 1);
}

static int hlp_mem_map_rom(vmm_instance *inst, uint64_t gpa, const void *data, size_t len, int shadowed,
                           const char *name)
{
    uint64_t size = vm_page_round(len);
    if (len == 0 || size < len) {
        log_msg(VMM_LOG_ERROR, inst->name, "ROM '%s' has size %zu", name ? name : "", len);
        return -1;
    }
    void *host = vm_alloc_guest_memory(size);
    if (!host) {
        log_msg(VMM_LOG_ERROR, inst->name, "cannot allocate ROM '%s': %s", name ? name : "", strerror(errno));
        return -1;
    }
    memcpy(host, data, len);
    if (vm_map_backed(inst->vm, inst, MEM_ROM, gpa, size, host, shadowed, name,
                      shadowed ? 0 : HOSTDRV_SLOT_READONLY)) {
        munmap(host, size);
        return -1;
    }
    return 0;
}

static int hlp_mem_map_mmio2(vmm_instance *inst, uint64_t gpa, size_t len, const char *name, void **host_ptr)
{
    void *host = vm_alloc_guest_memory(len ? len : 1);
    if (!host) {
        log_msg(VMM_LOG_ERROR, inst->name, "cannot allocate MMIO2 '%s': %s", name ? name : "", strerror(errno));
        return -1;
    }
    if (vm_map_backed(inst->vm, inst, MEM_MMIO2, gpa, len, host, 0, name, 0)) {
        munmap(host, len ? len : 1);
        return -1;
    }
    *host_ptr = host;
    return 0;
}

static vmm_timer *hlp_timer_create(vmm_instance *inst, vmm_timer_fn fn)
{
    return loop_timer_create(inst->vm->loop, inst, fn);
}

static uint64_t hlp_clock_ns(vmm_instance *inst)
{
    (void)inst;
    return loop_clock_ns();
}

static void hlp_console_write(vmm_instance *inst, const void *buf, size_t len)
{
    loop_console_write(inst->vm->loop, buf, len);
}

static int hlp_console_claim_input(vmm_instance *inst, vmm_console_input_fn fn)
{
    return loop_console_claim_input(inst->vm->loop, inst, fn);
}

static void hlp_vm_stop(vmm_instance *inst, int status)
{
    log_msg(VMM_LOG_DEBUG, inst->name, "stops the VM with status %d", status);
    vm_request_stop(inst->vm, status);
}

static int hlp_vm_enable_feature(vmm_instance *inst, vmm_vm_feature feature, uint64_t arg)
{
    if (!inst->vm->hv) {
        log_msg(VMM_LOG_ERROR, inst->name, "feature %d needs a host driver, and there is none", (int)feature);
        return -1;
    }
    if (hostdrv_vm_enable_feature(inst->vm->hv, feature, arg)) {
        log_msg(VMM_LOG_ERROR, inst->name, "host driver refused feature %d: %s", (int)feature, strerror(errno));
        return -1;
    }
    return 0;
}

/* Before the engine exists, or on one without state classes, there is no state behind them. */
static int vm_no_host(void)
{
    errno = ENODEV;
    return -1;
}

static int hlp_vm_get_state(vmm_instance *inst, vmm_vm_state_class cls, void *buf, size_t len)
{
    return inst->vm->hv ? hostdrv_vm_get_state(inst->vm->hv, cls, buf, len) : vm_no_host();
}

static int hlp_vm_set_state(vmm_instance *inst, vmm_vm_state_class cls, const void *buf, size_t len)
{
    return inst->vm->hv ? hostdrv_vm_set_state(inst->vm->hv, cls, buf, len) : vm_no_host();
}

static int hlp_vcpu_get_state(vmm_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len)
{
    return vcpu->hv ? hostdrv_vcpu_get_state(vcpu->hv, cls, buf, len) : vm_no_host();
}

static int hlp_vcpu_set_state(vmm_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len)
{
    return vcpu->hv ? hostdrv_vcpu_set_state(vcpu->hv, cls, buf, len) : vm_no_host();
}

static int hlp_vcpu_translate(vmm_vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
    return vcpu->hv ? hostdrv_vcpu_translate(vcpu->hv, gva, gpa) : vm_no_host();
}

static unsigned hlp_vcpu_index(vmm_vcpu *vcpu)
{
    return vcpu->index;
}

static vmm_vcpu *hlp_vcpu_current(vmm_instance *inst)
{
    (void)inst;
    return vm_current_vcpu;
}

static int hlp_vcpu_should_return(vmm_vcpu *vcpu)
{
    return vm_wants_vcpus_back(vcpu->vm);
}

static int hlp_stats_enabled(vmm_instance *inst)
{
    return inst->vm->stats;
}

static const char *hlp_vm_cmdline(vmm_instance *inst)
{
    return inst->vm->cmdline ? inst->vm->cmdline : "";
}

static int hlp_io_dispatch(vmm_vcpu *vcpu, int is_mmio, uint64_t addr, unsigned size, int is_write, uint8_t *data)
{
    vmm_exit e;
    memset(&e, 0, offsetof(vmm_exit, u) + sizeof(e.u.mmio));
    if (is_mmio) {
        e.reason = VMM_EXIT_MMIO;
        e.u.mmio.gpa = addr;
        e.u.mmio.len = size;
        e.u.mmio.is_write = (uint8_t)(is_write != 0);
        e.u.mmio.data = data;
        return vm_dispatch_mmio(vcpu->vm, &e);
    }
    if (addr > 0xffff) {
        if (!is_write)
            memset(data, 0xff, size);
        return -1;
    }
    e.reason = VMM_EXIT_PIO;
    e.u.pio.port = (uint16_t)addr;
    e.u.pio.size = (uint8_t)size;
    e.u.pio.is_write = (uint8_t)(is_write != 0);
    e.u.pio.count = 1;
    e.u.pio.data = data;
    return vm_dispatch_pio(vcpu->vm, &e);
}

static int vm_unit_name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return n > 0 && n < 48;
}

static int hlp_ssm_register(vmm_instance *inst, const char *unit, uint32_t instance, uint32_t version,
                            vmm_ssm_save_fn save, vmm_ssm_load_fn load)
{
    vm *v = inst->vm;
    if (!unit || !vm_unit_name_ok(unit) || !save || !load) {
        log_msg(VMM_LOG_ERROR, inst->name, "saved-state unit '%s': needs a name of [a-z0-9_.-] and both callbacks",
                unit ? unit : "(null)");
        return -1;
    }
    for (unsigned i = 0; i < v->nunits; i++)
        if (!strcmp(v->units[i].name, unit) && v->units[i].instance == instance) {
            log_msg(VMM_LOG_ERROR, inst->name, "saved-state unit '%s' instance %u is registered already", unit,
                    instance);
            return -1;
        }
    if (v->nunits == v->capunits) {
        unsigned cap = v->capunits ? v->capunits * 2 : 16;
        vm_unit *n = realloc(v->units, cap * sizeof(*n));
        if (!n)
            return -1;
        v->units = n;
        v->capunits = cap;
    }
    vm_unit *u = &v->units[v->nunits++];
    memset(u, 0, sizeof(*u));
    u->owner = inst;
    snprintf(u->name, sizeof(u->name), "%s", unit);
    u->instance = instance;
    u->version = version;
    u->save = save;
    u->load = load;
    return 0;
}

static void hlp_ssm_stateless(vmm_instance *inst)
{
    inst->stateless = 1;
}

static const char *hlp_vm_accel(vmm_instance *inst)
{
    return inst->vm->accel;
}

static int vm_instance_has_units(const vm *v, const vmm_instance *inst)
{
    for (unsigned i = 0; i < v->nunits; i++)
        if (v->units[i].owner == inst)
            return 1;
    return 0;
}

int vm_check_saveable(const vm *v, char *err, size_t errlen)
{
    if (!vm_instance_has_units(v, v->arch)) {
        snprintf(err, errlen, "%s cannot save its state yet (it registers no saved-state units): a snapshot of this "
                 "VM could not be restored", v->arch->name);
        return -1;
    }
    for (unsigned i = 0; i < v->ndevices; i++) {
        const vmm_instance *d = v->devices[i];
        /* Plugins built before SDK 1.3 had no way to say they are stateless: they are taken at their word. */
        if (VMM_VERSION_MINOR(d->desc->version) >= 3 && !d->stateless && !vm_instance_has_units(v, d)) {
            snprintf(err, errlen, "%s cannot save its state (it registers no saved-state units and does not say it "
                     "has none): a snapshot of this VM could not be restored", d->name);
            return -1;
        }
    }
    return 0;
}

static int hlp_ssm_fail(vmm_ssm *ssm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ssm_vfail(ssm, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned hlp_vcpu_count(vmm_instance *inst)
{
    return inst->vm->ncpus;
}

static vmm_vcpu *hlp_vcpu_get(vmm_instance *inst, unsigned index)
{
    vm *v = inst->vm;
    return v->vcpus && index < v->ncpus ? &v->vcpus[index] : NULL;
}

const vmm_plugin_desc *vm_arch_desc(const vm *v)
{
    return v->arch->desc;
}

const vmm_helpers vm_helpers = {
    .version = VMM_HELPERS_VERSION,
    .size = sizeof(vmm_helpers),
    .log = hlp_log,
    .log_enabled = hlp_log_enabled,
    .opt_string = hlp_opt_string,
    .opt_u64 = hlp_opt_u64,
    .opt_bool = hlp_opt_bool,
    .opt_is_set = hlp_opt_is_set,
    .pio_register = hlp_pio_register,
    .mmio_register = hlp_mmio_register,
    .irq_set = hlp_irq_set,
    .mem_read = hlp_mem_read,
    .mem_write = hlp_mem_write,
    .mem_ptr = hlp_mem_ptr,
    .mem_ram_size = hlp_mem_ram_size,
    .mem_map_ram = hlp_mem_map_ram,
    .mem_map_rom = hlp_mem_map_rom,
    .mem_map_mmio2 = hlp_mem_map_mmio2,
    .timer_create = hlp_timer_create,
    .timer_arm = loop_timer_arm,
    .timer_stop = loop_timer_stop,
    .clock_ns = hlp_clock_ns,
    .console_write = hlp_console_write,
    .console_claim_input = hlp_console_claim_input,
    .vm_stop = hlp_vm_stop,
    .vm_enable_feature = hlp_vm_enable_feature,
    .vm_get_state = hlp_vm_get_state,
    .vm_set_state = hlp_vm_set_state,
    .vcpu_get_state = hlp_vcpu_get_state,
    .vcpu_set_state = hlp_vcpu_set_state,
    .vcpu_translate = hlp_vcpu_translate,
    .vcpu_index = hlp_vcpu_index,
    .vcpu_current = hlp_vcpu_current,
    .vcpu_should_return = hlp_vcpu_should_return,
    .vm_cmdline = hlp_vm_cmdline,
    .io_dispatch = hlp_io_dispatch,
    .stats_enabled = hlp_stats_enabled,
    .ssm_register = hlp_ssm_register,
    .ssm_put_u64 = ssm_put_u64,
    .ssm_put_bytes = ssm_put_bytes,
    .ssm_put_str = ssm_put_str,
    .ssm_get_u64 = ssm_get_u64,
    .ssm_get_bytes = ssm_get_bytes,
    .ssm_get_str = ssm_get_str,
    .ssm_put_optional = ssm_put_optional,
    .ssm_end_optional = ssm_end_optional,
    .ssm_get_optional = ssm_get_optional,
    .ssm_fail = hlp_ssm_fail,
    .vcpu_count = hlp_vcpu_count,
    .vcpu_get = hlp_vcpu_get,
    .ssm_get_var_bytes = ssm_get_var_bytes,
    .msi_send = hlp_msi_send,
    .ssm_stateless = hlp_ssm_stateless,
    .vm_accel = hlp_vm_accel,
    .fdt_describe = board_hlp_fdt_describe,
    .fdt_prop = board_hlp_fdt_prop,
    .fdt_device = board_hlp_fdt_device,
    .thread_start = iothread_hlp_start,
    .thread_join = iothread_hlp_join,
    .ssm_pages_incremental = ssm_pages_incremental,
    .ssm_put_pages = ssm_put_pages,
    .ssm_get_pages = ssm_get_pages,
    .ssm_fail_input = ssm_fail_input,
    .mmio_slot_claim = board_hlp_mmio_slot_claim,
    .mem_write_count = hlp_mem_write_count,
    .version_end = VMM_HELPERS_VERSION,
};

/* ---- I/O dispatch (vCPU threads) ---------------------------------------------------------------------- */

static uint64_t vm_load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void vm_store_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void vm_io_access(const io_range *r, uint64_t addr, unsigned size, int is_write, uint8_t *data)
{
    vmm_instance *inst = r->owner;
    vm_instance_lock(inst);
    if (is_write) {
        if (r->wr)
            r->wr(inst->state, addr - r->base, size, vm_load_le(data, size));
    } else {
        vm_store_le(data, size, r->rd ? r->rd(inst->state, addr - r->base, size) : ~0ull);
    }
    vm_instance_unlock(inst);
}

int vm_dispatch_pio(vm *v, vmm_exit *exit)
{
    unsigned size = exit->u.pio.size;
    uint8_t *data = exit->u.pio.data;
    if (size != 1 && size != 2 && size != 4)
        return -1;
    const io_range *r = iobus_find(&v->pio, exit->u.pio.port);
    for (uint32_t i = 0; i < exit->u.pio.count; i++, data += size) {
        if (r)
            vm_io_access(r, exit->u.pio.port, size, exit->u.pio.is_write, data);
        else if (!exit->u.pio.is_write)
            memset(data, 0xff, size);
    }
    if (!r && log_enabled(VMM_LOG_TRACE))
        log_msg(VMM_LOG_TRACE, "vmm", "unassigned port 0x%x %s (%u bytes)", exit->u.pio.port,
                exit->u.pio.is_write ? "write" : "read", size);
    return r ? 0 : -1;
}

int vm_dispatch_mmio(vm *v, vmm_exit *exit)
{
    uint64_t gpa = exit->u.mmio.gpa;
    unsigned len = exit->u.mmio.len;
    if (len == 0 || len > 8)
        return -1;
    const io_range *r = iobus_find(&v->mmio, gpa);
    if (r) {
        vm_io_access(r, gpa, len, exit->u.mmio.is_write, exit->u.mmio.data);
        return 0;
    }
    mem_region *m = memmap_find(&v->mem, gpa);
    if (m && m->kind == MEM_ROM && exit->u.mmio.is_write) {
        /* The host driver kept the ROM unchanged; say so once, then count. */
        if (__atomic_fetch_add(&m->rom_writes, 1, __ATOMIC_RELAXED) == 0)
            log_msg(VMM_LOG_WARN, "vmm", "guest wrote to ROM '%s' at 0x%" PRIx64 "; the write was dropped", m->name,
                    gpa);
        return 0;
    }
    if (!exit->u.mmio.is_write)
        memset(exit->u.mmio.data, 0xff, len);
    log_msg(VMM_LOG_DEBUG, "vmm", "unassigned MMIO %s at 0x%" PRIx64 " (%u bytes)",
            exit->u.mmio.is_write ? "write" : "read", gpa, len);
    return -1;
}

/* ---- Lifecycle ---------------------------------------------------------------------------------------- */

/* Image buffers are whole 2 MiB-aligned huge pages: a 3.5 MiB kernel read into 4 KiB pages took ~870 page faults
 * (~1.7 us each on a nested host; zeroing a huge page takes ~0.1 ms) for memory that lives only until vm_load has
 * copied it. */
#define VM_IMAGE_BUF_ALIGN ((size_t)2 << 20)

static size_t vm_image_buf_len(size_t size)
{
    return ((size ? size : 1) + VM_IMAGE_BUF_ALIGN - 1) & ~(VM_IMAGE_BUF_ALIGN - 1);
}

static uint8_t *vm_image_buf_alloc(size_t size)
{
    size_t len = vm_image_buf_len(size);
    uint8_t *p = mmap(NULL, len + VM_IMAGE_BUF_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)p + VM_IMAGE_BUF_ALIGN - 1) & ~(uintptr_t)(VM_IMAGE_BUF_ALIGN - 1));
    if (at > p)
        munmap(p, (size_t)(at - p));
    if (at + len < p + len + VM_IMAGE_BUF_ALIGN)
        munmap(at + len, (size_t)(p + len + VM_IMAGE_BUF_ALIGN - (at + len)));
    madvise(at, len, MADV_HUGEPAGE);
    return at;
}

static void vm_image_buf_free(const uint8_t *data, size_t size)
{
    if (data)
        munmap((void *)(uintptr_t)data, vm_image_buf_len(size));
}

static int vm_read_file(const char *path, uint8_t **data, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > VM_MAX_IMAGE_SIZE) {
        if (errno == 0 || S_ISREG(st.st_mode) == 0)
            errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        return -1;
    }
    uint8_t *buf = vm_image_buf_alloc((size_t)st.st_size);
    if (!buf) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            vm_image_buf_free(buf, (size_t)st.st_size);
            close(fd);
            if (n == 0)
                errno = EIO;
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *size = got;
    return 0;
}

/* The option that named an image, for its error messages. */
static const char *vm_image_option(int role)
{
    return role == VMM_IMAGE_KERNEL ? "--kernel" : role == VMM_IMAGE_INITRD ? "--initrd" : "--image";
}

static int vm_construct(vmm_instance *inst)
{
    if (inst->desc->construct(inst, &vm_helpers, inst->state)) {
        if (!inst->logged_error)
            log_msg(VMM_LOG_ERROR, inst->name, "could not be set up");
        return -1;
    }
    inst->constructed = 1;
    return 0;
}

static const vmm_plugin_desc *vm_find_device(vm *v, const char *name)
{
    if (strchr(name, '/')) {
        /* A path: load that file (a device built out of tree) and take the one device it registers. */
        const plugin *known = plugin_find_path(v->plugins, name);
        if (known && known->desc->kind == VMM_KIND_DEVICE)
            return known->desc;
        size_t before = v->plugins->count;
        char err[512];
        if (plugin_load_file(v->plugins, name, err, sizeof(err))) {
            log_error("%s", err);
            return NULL;
        }
        for (size_t i = before; i < v->plugins->count; i++)
            if (v->plugins->items[i].desc->kind == VMM_KIND_DEVICE)
                return v->plugins->items[i].desc;
        log_error("%s: registers no device plugin", name);
        return NULL;
    }
    const plugin *p = plugin_find(v->plugins, name);
    if (!p) {
        log_error("--device %s: no such device plugin (see 'vmm plugins')", name);
        return NULL;
    }
    if (p->desc->kind != VMM_KIND_DEVICE) {
        log_error("--device %s: '%s' is a %s plugin, not a device", name, name, plugin_kind_name(p->desc->kind));
        return NULL;
    }
    return p->desc;
}

const char *vm_engine_name(const vm *v)
{
    return hostdrv_engine_name(hostdrv_engine_of(v->drv));
}

const char *vm_arch_engines(const vmm_plugin_desc *d)
{
    const vmm_arch_ops *ops = d->arch;
    if (VMM_VERSION_MINOR(d->version) >= 4 && VMM_VERSION_MINOR(ops->version) >= 4 && ops->engines)
        return ops->engines;
    return ops->vcpu_run ? "inproc" : "kvm";
}

/* Is engine one of the comma-separated names in list? */
static int vm_engine_listed(const char *list, const char *engine)
{
    size_t n = strlen(engine);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, engine, n))
            return 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

/* The architectures that run guests on the inproc engine, for the message of a run that needs one. */
static void vm_list_inproc_archs(const plugin_registry *plugins, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < plugins->count && n < len; i++) {
        const vmm_plugin_desc *d = plugins->items[i].desc;
        if (d->kind == VMM_KIND_ARCH && vm_engine_listed(vm_arch_engines(d), "inproc"))
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", d->name);
    }
}

/* Does this configuration need the host driver? Asks the architecture (vm_check, SDK 1.3), which also checks
 * the images; -1 when it refused them. */
static int vm_check_arch(vm *v, int restoring)
{
    const vmm_arch_ops *ops = v->arch->desc->arch;
    if (VMM_VERSION_MINOR(v->arch->desc->version) >= 3 && ops->vm_check)
        return ops->vm_check(v->arch, v->arch->state, restoring ? NULL : v->images, restoring ? 0 : v->nimages);
    return ops->vcpu_run ? 0 : 1;
}

/* What the engine offers this VM, once the architecture has asked for its features (KVM's irqchip, say). */
static void vm_log_engine_caps(const vm *v)
{
    unsigned caps = hostdrv_vm_caps(v->hv);
    log_info("engine %s can: %s%s%s%s%s", hostdrv_engine_name(hostdrv_engine_of(v->drv)),
             caps & HOSTDRV_CAP_READONLY_SLOTS ? "read-only regions, " : "",
             caps & HOSTDRV_CAP_IRQCHIP ? "interrupt lines, " : "no interrupt lines, ",
             caps & HOSTDRV_CAP_MSI ? "MSIs, " : "no MSIs, ",
             caps & HOSTDRV_CAP_DIRTY_LOG ? "dirty-page log (incremental and live saves), " : "no dirty-page log, ",
             caps & HOSTDRV_CAP_STATE_CLASSES ? "vCPU state classes" : "vCPU state by the architecture's units");
}

/* What the in-process engine routes to the architecture (SDK 1.5): its interrupt controller and dirty tracking. */
static int vm_soft_irq_line(void *ctx, uint32_t line, int level)
{
    vmm_instance *a = ctx;
    return a->desc->arch->irq_line(a, a->state, line, level);
}

static int vm_soft_msi(void *ctx, uint64_t addr, uint32_t data)
{
    vmm_instance *a = ctx;
    return a->desc->arch->msi(a, a->state, addr, data);
}

static int vm_soft_dirty_log(void *ctx, uint64_t gpa, uint64_t len, uint64_t *bitmap)
{
    vmm_instance *a = ctx;
    return a->desc->arch->dirty_log(a, a->state, gpa, len, bitmap);
}

static hostdrv_soft_vm vm_soft_of(vmm_instance *arch)
{
    hostdrv_soft_vm soft = {.ctx = arch};
    const vmm_arch_ops *ops = arch->desc->arch;
    if (VMM_VERSION_MINOR(arch->desc->version) < 5 || VMM_VERSION_MINOR(ops->version) < 5)
        return soft;
    soft.irq_line = ops->irq_line ? vm_soft_irq_line : NULL;
    soft.msi = ops->msi ? vm_soft_msi : NULL;
    soft.dirty_log = ops->dirty_log ? vm_soft_dirty_log : NULL;
    return soft;
}

/* Open the engine (KVM where the architecture needs the host kernel to run the guest, else in process) and
 * create its VM, then give it the regions mapped so far (instances map theirs while they are constructed,
 * before any host resource exists). */
static int vm_open_host(vm *v, const vm_config *cfg, int required)
{
    char err[512];
    const hostdrv_engine *engine = hostdrv_engine_find(required ? "kvm" : "inproc");
    v->drv = hostdrv_open(engine, err, sizeof(err));
    if (!v->drv && !required) {
        log_error("%s", err);
        return -1;
    }
    if (!v->drv) {
        char inproc[256];
        vm_list_inproc_archs(v->plugins, inproc, sizeof(inproc));
        log_error("--arch %s%s%s needs KVM to run its guest, and this host has none (%s)%s%s", cfg->arch,
                  cfg->arch_options ? "," : "", cfg->arch_options ? cfg->arch_options : "", err,
                  inproc[0] ? "; without KVM, vmm runs in process: --arch " : "", inproc);
        return -1;
    }
    log_info("engine %s: %s", hostdrv_engine_name(engine), hostdrv_describe(v->drv));
    unsigned max_cpus = hostdrv_max_vcpus(v->drv);
    if (v->ncpus > max_cpus) {
        log_error("--cpus %u: the host allows 1 to %u", v->ncpus, max_cpus);
        return -2;
    }
    hostdrv_soft_vm soft = vm_soft_of(v->arch);
    v->hv = hostdrv_vm_create(v->drv, &soft, err, sizeof(err));
    if (!v->hv) {
        log_error("%s", err);
        return -1;
    }
    for (size_t i = 0; i < v->mem.count; i++) {
        const mem_region *r = &v->mem.regions[i];
        if (r->host && hostdrv_vm_map(v->hv, r->slot, r->gpa, r->host, r->size, r->slot_flags)) {
            log_msg(VMM_LOG_ERROR, r->owner ? ((const vmm_instance *)r->owner)->name : "vmm",
                    "%s region '%s' at 0x%" PRIx64 ": host driver refused: %s", memmap_kind_name(r->kind), r->name,
                    r->gpa, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The board's default devices (SDK 1.6, board.c), then the user's, as instances not yet constructed. */
static int vm_create_devices(vm *v, const vmm_plugin_desc *arch, const vm_config *cfg)
{
    char err[512];
    board_devices *bd = malloc(sizeof(*bd));
    if (!bd || board_devices_build(arch, cfg, bd, err, sizeof(err))) {
        log_error("%s", bd ? err : "out of memory");
        free(bd);
        return -1;
    }
    int r = -1;
    v->devices = calloc(bd->count ? bd->count : 1, sizeof(*v->devices));
    if (!v->devices) {
        log_error("out of memory");
        goto out;
    }
    for (unsigned i = 0; i < bd->count; i++) {
        const vmm_plugin_desc *d = vm_find_device(v, bd->list[i].name);
        if (!d)
            goto out;
        unsigned nth = 0;
        for (unsigned j = 0; j < i; j++)
            if (v->devices[j]->desc == d)
                nth++;
        v->devices[i] = vm_instance_new(v, d, bd->list[i].options, nth, err, sizeof(err));
        if (!v->devices[i]) {
            log_error("%s%s", err, i < bd->nnames ? " (a default device of the board: --nodefaults leaves it out)" : "");
            goto out;
        }
        v->ndevices = i + 1;
    }
    r = 0;
out:
    board_devices_free(bd);
    free(bd);
    return r;
}

vm *vm_create(plugin_registry *plugins, loop *lp, const vm_config *cfg, int *status)
{
    char err[512];
    *status = 2;
    const plugin *ap = plugin_find(plugins, cfg->arch);
    if (!ap) {
        log_error("--arch %s: no such architecture plugin (see 'vmm plugins')", cfg->arch);
        return NULL;
    }
    if (ap->desc->kind != VMM_KIND_ARCH) {
        log_error("--arch %s: '%s' is a %s plugin, not an architecture", cfg->arch, cfg->arch,
                  plugin_kind_name(ap->desc->kind));
        return NULL;
    }
    if (cfg->cpus == 0 || cfg->cpus > VM_MAX_CPUS) {
        log_error("--cpus %u: give 1 to %u", cfg->cpus, VM_MAX_CPUS);
        return NULL;
    }

    vm *v = calloc(1, sizeof(*v));
    if (!v) {
        log_error("out of memory");
        *status = 1;
        return NULL;
    }
    v->plugins = plugins;
    v->loop = lp;
    v->ram_size = cfg->ram_size;
    v->ncpus = cfg->cpus;
    v->cmdline = cfg->cmdline ? strdup(cfg->cmdline) : NULL;
    v->accel = cfg->accel;
    v->stats = cfg->stats;
    v->dirty_log = cfg->dirty_log;
    memmap_init(&v->mem);
    iobus_init(&v->pio, "port");
    iobus_init(&v->mmio, "MMIO");
    pthread_mutex_init(&v->run_lock, NULL);
    pthread_cond_init(&v->run_cond, NULL);

    /* Everything the user gave is checked before any host resource is opened: files, options, the devices'
     * and the architecture's view of them. Only then is the host driver opened, and only if it is needed. */
    v->images = calloc(cfg->nimages ? cfg->nimages : 1, sizeof(*v->images));
    if (!v->images)
        goto host_fail;
    for (unsigned i = 0; i < cfg->nimages; i++) {
        uint8_t *data;
        size_t size;
        if (vm_read_file(cfg->images[i].path, &data, &size)) {
            log_error("%s %s: %s", vm_image_option(cfg->images[i].role), cfg->images[i].path, strerror(errno));
            goto fail;
        }
        v->images[i] = (vmm_image){.path = cfg->images[i].path, .data = data, .size = size,
                                   .load_addr = cfg->images[i].load_addr, .has_load_addr = cfg->images[i].has_load_addr,
                                   .role = cfg->images[i].role};
        v->nimages = i + 1;
    }
    const char *engines = vm_arch_engines(ap->desc);
    if (cfg->accel && !vm_engine_listed(engines, cfg->accel)) {
        log_error("--accel %s: --arch %s does not run guests on the %s engine (its engines: %s)", cfg->accel,
                  cfg->arch, cfg->accel, engines);
        goto fail;
    }
    v->arch = vm_instance_new(v, ap->desc, cfg->arch_options, 0, err, sizeof(err));
    if (!v->arch) {
        log_error("%s", err);
        goto fail;
    }
    if (vm_create_devices(v, ap->desc, cfg))
        goto fail;
    /* Constructors check their option values and register I/O ranges: a refusal is the configuration's. */
    if (vm_construct(v->arch))
        goto fail;
    for (unsigned i = 0; i < v->ndevices; i++)
        if (vm_construct(v->devices[i]))
            goto fail;
    int needs_host = vm_check_arch(v, cfg->restoring);
    if (needs_host < 0)
        goto fail;
    const char *engine = needs_host ? "kvm" : "inproc";
    if (cfg->accel && strcmp(cfg->accel, engine) != 0) {
        /* The architecture was told (vm_accel) and still chose the other: its options say otherwise. */
        log_error("--accel %s: --arch %s%s%s runs this guest on the %s engine; its options and --accel disagree",
                  cfg->accel, cfg->arch, cfg->arch_options ? "," : "", cfg->arch_options ? cfg->arch_options : "",
                  engine);
        goto fail;
    }
    /* The host-driver gate: the architecture's state classes must be the kvm engine's; known before it opens. */
    if (needs_host && plugin_check_state_abi(ap->desc, engine, hostdrv_abi(NULL), err, sizeof(err))) {
        log_error("--arch %s: %s%s", cfg->arch, err,
                  vm_engine_listed(engines, "inproc") ? "; it also runs on the inproc engine (--accel inproc)" : "");
        goto fail;
    }
    log_info("engine %s: %s (%s's engines: %s)", engine, cfg->accel ? "--accel" : "the architecture's choice",
             cfg->arch, engines);

    *status = 1;
    int r = vm_open_host(v, cfg, needs_host);
    if (r) {
        if (r == -2)
            *status = 2;
        goto fail;
    }
    if (v->arch->desc->arch->vm_create && v->arch->desc->arch->vm_create(v->arch, v->arch->state)) {
        if (!v->arch->logged_error)
            log_error("%s: could not create the machine", v->arch->name);
        goto fail;
    }
    vm_log_engine_caps(v);
    uint64_t mapped = 0;
    for (size_t i = 0; i < v->mem.count; i++)
        if (v->mem.regions[i].kind == MEM_RAM)
            mapped += v->mem.regions[i].size;
    if (mapped != v->ram_size) {
        log_error("%s mapped %" PRIu64 " bytes of RAM, --mem asked for %" PRIu64, v->arch->name, mapped, v->ram_size);
        goto fail;
    }
    if (!cfg->restoring && v->arch->desc->arch->vm_load(v->arch, v->arch->state, v->images, v->nimages)) {
        *status = 2; /* images are user input: a bad one is a usage error */
        goto fail;
    }
    /* Loaded into the guest: the files' copies would only sit in vmm's memory for the VM's life (a 63 MiB
     * vmlinux, say). The SDK gives the plugin the data for the duration of vm_load only. */
    for (unsigned i = 0; i < v->nimages; i++) {
        vm_image_buf_free(v->images[i].data, v->images[i].size);
        v->images[i].data = NULL;
        v->images[i].size = 0;
    }

    v->vcpus = calloc(v->ncpus, sizeof(*v->vcpus));
    if (!v->vcpus)
        goto host_fail;
    for (unsigned i = 0; i < v->ncpus; i++) {
        vmm_vcpu *c = &v->vcpus[i];
        c->vm = v;
        c->index = i;
        hostdrv_soft soft = {.run = v->arch->desc->arch->vcpu_run ? vcpu_run_software : NULL, .ctx = c};
        c->hv = hostdrv_vcpu_create(v->hv, i, &soft, err, sizeof(err));
        if (!c->hv) {
            log_error("vCPU %u: %s", i, err);
            goto fail;
        }
        if (v->arch->desc->arch->vcpu_init(v->arch, v->arch->state, c)) {
            if (!v->arch->logged_error)
                log_error("%s: could not set up vCPU %u", v->arch->name, i);
            goto fail;
        }
    }
    *status = 0;
    return v;

host_fail:
    log_error("out of memory");
    *status = 1;
fail:
    vm_destroy(v);
    return NULL;
}

int vm_start(vm *v)
{
    if (vcpu_setup_kick_signal())
        return -1;
    v->running = 1;
    for (unsigned i = 0; i < v->ncpus; i++) {
        int e = pthread_create(&v->vcpus[i].thread, NULL, vcpu_thread, &v->vcpus[i]);
        if (e) {
            log_error("vCPU %u: cannot start its thread: %s", i, strerror(e));
            vm_request_stop(v, 1);
            return -1;
        }
        v->vcpus[i].started = 1;
    }
    return 0;
}

int vm_join(vm *v)
{
    for (unsigned i = 0; i < v->ncpus; i++)
        if (v->vcpus[i].started) {
            pthread_join(v->vcpus[i].thread, NULL);
            v->vcpus[i].started = 0;
        }
    return v->exit_status;
}

static void vm_kick_all(vm *v)
{
    for (unsigned i = 0; v->vcpus && i < v->ncpus; i++)
        if (v->vcpus[i].hv)
            vcpu_kick(&v->vcpus[i]);
}

void vm_request_stop(vm *v, int status)
{
    pthread_mutex_lock(&v->run_lock);
    int first = !v->stopping;
    if (first) {
        __atomic_store_n(&v->stopping, 1, __ATOMIC_RELEASE);
        v->exit_status = status;
    }
    pthread_cond_broadcast(&v->run_cond);
    pthread_mutex_unlock(&v->run_lock);
    if (!first)
        return;
    vm_kick_all(v);
    if (v->loop)
        loop_notify_stop(v->loop);
}

int vm_is_stopping(vm *v)
{
    return __atomic_load_n(&v->stopping, __ATOMIC_ACQUIRE);
}

int vm_wants_vcpus_back(vm *v)
{
    return __atomic_load_n(&v->stopping, __ATOMIC_ACQUIRE) || __atomic_load_n(&v->paused, __ATOMIC_ACQUIRE);
}

int vm_pause(vm *v)
{
    pthread_mutex_lock(&v->run_lock);
    if (v->stopping || v->paused) {
        pthread_mutex_unlock(&v->run_lock);
        return v->stopping ? -1 : 0;
    }
    __atomic_store_n(&v->paused, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&v->run_lock);
    vm_kick_all(v);
    pthread_mutex_lock(&v->run_lock);
    while (!v->stopping && v->parked < v->ncpus)
        pthread_cond_wait(&v->run_cond, &v->run_lock);
    pthread_mutex_unlock(&v->run_lock);
    return v->stopping ? -1 : 0;
}

void vm_resume(vm *v)
{
    pthread_mutex_lock(&v->run_lock);
    __atomic_store_n(&v->paused, 0, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&v->run_cond);
    pthread_mutex_unlock(&v->run_lock);
}

int vm_is_paused(vm *v)
{
    pthread_mutex_lock(&v->run_lock);
    int p = v->paused;
    pthread_mutex_unlock(&v->run_lock);
    return p;
}

int vm_park_if_paused(vm *v)
{
    pthread_mutex_lock(&v->run_lock);
    if (v->paused && !v->stopping) {
        v->parked++;
        pthread_cond_broadcast(&v->run_cond);
        while (v->paused && !v->stopping)
            pthread_cond_wait(&v->run_cond, &v->run_lock);
        v->parked--;
    }
    int stopping = v->stopping;
    pthread_mutex_unlock(&v->run_lock);
    return stopping;
}

/* --stats: what each vCPU's exits were, for finding where a guest's time goes on the host. */
static void vm_print_stats(vm *v)
{
    static const char *const names[] = {"none", "pio", "mmio", "halt", "shutdown", "internal", "fail-entry",
                                        "system-event", "debug", "interrupted", "unknown", "msr"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == VCPU_EXIT_REASONS, "a name for every exit reason");
    for (unsigned i = 0; v->vcpus && i < v->ncpus; i++) {
        char line[512];
        int n = snprintf(line, sizeof(line), "vmm: stats: vCPU %u exits:", i);
        for (unsigned r = 1; r < VCPU_EXIT_REASONS && n > 0 && (size_t)n < sizeof(line); r++)
            if (v->vcpus[i].exits_by_reason[r])
                n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu", names[r],
                              (unsigned long long)v->vcpus[i].exits_by_reason[r]);
        fprintf(stderr, "%s\n", line);
    }
}

void vm_destroy(vm *v)
{
    if (!v)
        return;
    if (v->stats && v->running)
        vm_print_stats(v);
    for (unsigned i = 0; v->vcpus && i < v->ncpus; i++)
        hostdrv_vcpu_destroy(v->vcpus[i].hv);
    free(v->vcpus);
    for (unsigned i = 0; i < v->ndevices; i++)
        vm_instance_free(v->devices[i]);
    free(v->devices);
    vm_instance_free(v->arch);
    hostdrv_vm_destroy(v->hv);
    hostdrv_close(v->drv);
    for (size_t i = 0; i < v->mem.count; i++) {
        if (v->mem.regions[i].host)
            munmap(v->mem.regions[i].host, v->mem.regions[i].size);
        free(v->mem.regions[i].host_dirty);
    }
    memmap_free(&v->mem);
    iobus_free(&v->pio);
    iobus_free(&v->mmio);
    for (unsigned i = 0; i < v->nimages; i++)
        vm_image_buf_free(v->images[i].data, v->images[i].size);
    free(v->images);
    free(v->cmdline);
    free(v->units);
    pthread_mutex_destroy(&v->run_lock);
    pthread_cond_destroy(&v->run_cond);
    free(v);
}
