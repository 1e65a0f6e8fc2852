/* snapshot: see snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "ssm.h"

static int snapshot_page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < SS_PAGE_SIZE / 8; i++)
        if (q[i])
            return 0;
    return 1;
}

/* Progress on the terminal for saves long enough to notice. */
typedef struct snapshot_progress {
    const char *name;
    uint64_t total, done;
    int last_tenth;
    int show;
} snapshot_progress;

static void snapshot_progress_step(snapshot_progress *p)
{
    p->done++;
    if (!p->show)
        return;
    int tenth = (int)(p->done * 10 / p->total);
    if (tenth != p->last_tenth) {
        p->last_tenth = tenth;
        fprintf(stderr, "\rvmm: saving %s: %d%%%s", p->name, tenth * 10, tenth == 10 ? "\r\n" : "");
    }
}

static int snapshot_save_units(vm *v, ss_save *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < v->nunits; i++) {
        vm_unit *u = &v->units[i];
        vmm_ssm w;
        ssm_writer_init(&w, u->name);
        vm_instance_lock(u->owner);
        int rc = u->save(u->owner->state, &w);
        vm_instance_unlock(u->owner);
        if (rc && !w.failed)
            ssm_fail(&w, "the save callback failed");
        if (ssm_writer_finish(&w) || ss_save_unit(s, u->name, u->instance, u->version, w.buf, w.len)) {
            snprintf(err, errlen, "unit '%s' instance %u: %s", u->name, u->instance,
                     w.failed ? w.err : ss_save_error(s));
            ssm_writer_free(&w);
            return -1;
        }
        ssm_writer_free(&w);
    }
    return 0;
}

static int snapshot_save_ram(vm *v, ss_save *s, int incremental, const char *name, char *err, size_t errlen)
{
    uint64_t total = 0;
    for (size_t r = 0; r < v->mem.count; r++)
        if (v->mem.regions[r].kind == MEM_RAM)
            total += v->mem.regions[r].size / SS_PAGE_SIZE;
    snapshot_progress prog = {.name = name, .total = total ? total : 1, .last_tenth = -1,
                              .show = total >= (256u << 20) / SS_PAGE_SIZE && isatty(STDERR_FILENO)};
    for (size_t r = 0; r < v->mem.count; r++) {
        const mem_region *m = &v->mem.regions[r];
        if (m->kind != MEM_RAM)
            continue; /* ROM and MMIO2 are re-created by their owners, not saved */
        uint64_t pages = m->size / SS_PAGE_SIZE;
        uint64_t *dirty = NULL;
        if (v->dirty_log && v->hv) {
            /* Fetching the log also clears it: from here on it counts toward the next save. */
            dirty = calloc(pages / 64 + 1, sizeof(uint64_t));
            if (!dirty || hostdrv_vm_get_dirty_log(v->hv, m->slot, dirty)) {
                snprintf(err, errlen, "reading the dirty-page log of '%s': %s", m->name, strerror(errno));
                free(dirty);
                return -1;
            }
        }
        if (dirty && m->host_dirty)
            for (uint64_t w = 0; w < pages / 64 + 1; w++)
                dirty[w] |= __atomic_exchange_n(&m->host_dirty[w], 0, __ATOMIC_RELAXED);
        for (uint64_t p = 0; p < pages; p++) {
            snapshot_progress_step(&prog);
            const uint8_t *page = m->host + p * SS_PAGE_SIZE;
            uint64_t index = m->gpa / SS_PAGE_SIZE + p;
            int rc = 0;
            if (incremental) {
                if (dirty[p / 64] & (1ull << (p % 64)))
                    rc = ss_save_page(s, index, snapshot_page_is_zero(page) ? NULL : page);
            } else if (!snapshot_page_is_zero(page)) {
                rc = ss_save_page(s, index, page);
            }
            if (rc) {
                snprintf(err, errlen, "%s", ss_save_error(s));
                free(dirty);
                return -1;
            }
        }
        free(dirty);
    }
    return 0;
}

int snapshot_save(vm *v, ss_store *st, const char *name, const char *config, char *err, size_t errlen)
{
    int was_running = v->running && !vm_is_paused(v);
    if (was_running && vm_pause(v)) {
        snprintf(err, errlen, "the VM is stopping");
        return -1;
    }
    ss_meta meta;
    memset(&meta, 0, sizeof(meta));
    snprintf(meta.name, sizeof(meta.name), "%s", name);
    meta.created = (uint64_t)time(NULL);
    snprintf(meta.vmm_version, sizeof(meta.vmm_version), "%s", VMM_VERSION_STRING);
    snprintf(meta.arch, sizeof(meta.arch), "%s", vm_arch_desc(v)->name);
    meta.arch_abi = vm_arch_desc(v)->version;
    meta.ram_size = v->ram_size;
    meta.cpus = v->ncpus;
    snprintf(meta.config, sizeof(meta.config), "%s", config ? config : "");
    snprintf(meta.host, sizeof(meta.host), "%s", v->drv ? hostdrv_abi(v->drv) : "none");
    /* Incremental only when every page written since the parent is in the dirty log. */
    int incremental = v->dirty_log && v->hv && v->last_snapshot[0];
    if (incremental)
        snprintf(meta.parent, sizeof(meta.parent), "%s", v->last_snapshot);

    uint64_t t0 = loop_clock_ns();
    int rc = -1;
    ss_save *s = ss_save_begin(st, &meta, err, errlen);
    if (s) {
        if (snapshot_save_units(v, s, err, errlen) || snapshot_save_ram(v, s, incremental, name, err, errlen)) {
            ss_save_abort(s);
            /* The dirty log was consumed: the next save cannot be incremental against anything. */
            v->last_snapshot[0] = '\0';
        } else {
            rc = ss_save_commit(s, err, errlen);
            if (rc == 0)
                snprintf(v->last_snapshot, sizeof(v->last_snapshot), "%s", name);
            else
                v->last_snapshot[0] = '\0';
        }
    }
    if (rc == 0)
        log_info("saved snapshot '%s'%s%s in %.1f ms", name, incremental ? " on top of " : "",
                 incremental ? meta.parent : "", (double)(loop_clock_ns() - t0) / 1e6);
    if (was_running)
        vm_resume(v);
    return rc;
}

typedef struct snapshot_loader {
    vm *v;
    unsigned char *loaded; /* per registered unit */
    char *err;
    size_t errlen;
} snapshot_loader;

static int snapshot_load_page(void *ctx, uint64_t index, const uint8_t *page)
{
    snapshot_loader *l = ctx;
    uint64_t gpa = index * SS_PAGE_SIZE;
    const mem_region *m = memmap_find(&l->v->mem, gpa);
    if (!m || m->kind != MEM_RAM) {
        snprintf(l->err, l->errlen, "the snapshot has a page at 0x%" PRIx64 ", outside this VM's RAM", gpa);
        return -1;
    }
    uint8_t *dst = m->host + (gpa - m->gpa);
    if (page)
        memcpy(dst, page, SS_PAGE_SIZE);
    else
        memset(dst, 0, SS_PAGE_SIZE);
    return 0;
}

static int snapshot_load_unit(void *ctx, const char *unit, uint32_t instance, uint32_t version, const uint8_t *blob,
                              size_t len)
{
    snapshot_loader *l = ctx;
    vm *v = l->v;
    vm_unit *u = NULL;
    for (unsigned i = 0; i < v->nunits; i++)
        if (!strcmp(v->units[i].name, unit) && v->units[i].instance == instance) {
            u = &v->units[i];
            l->loaded[i] = 1;
        }
    if (!u) {
        snprintf(l->err, l->errlen, "the snapshot has unit '%s' instance %u, which no plugin of this VM registered",
                 unit, instance);
        return -1;
    }
    vmm_ssm r;
    if (ssm_reader_init(&r, unit, blob, len) == 0) {
        vm_instance_lock(u->owner);
        int rc = u->load(u->owner->state, &r, version);
        vm_instance_unlock(u->owner);
        if (rc && !r.failed)
            ssm_fail(&r, "the load callback refused version %u", version);
        ssm_reader_finish(&r);
    }
    if (r.failed) {
        snprintf(l->err, l->errlen, "unit '%s' instance %u (saved version %u, this %s reads version %u): %s", unit,
                 instance, version, u->owner->name, u->version, r.err);
        return -1;
    }
    return 0;
}

int snapshot_restore(vm *v, ss_store *st, const char *name, char *err, size_t errlen)
{
    ss_meta meta;
    if (ss_get_meta(st, name, &meta, err, errlen))
        return -1;
    const vmm_plugin_desc *ad = vm_arch_desc(v);
    if (strcmp(meta.arch, ad->name) != 0) {
        snprintf(err, errlen, "snapshot '%s' was saved with architecture %s, this VM is %s", name, meta.arch, ad->name);
        return -1;
    }
    if (VMM_VERSION_MAJOR(meta.arch_abi) != VMM_VERSION_MAJOR(ad->version)) {
        snprintf(err, errlen, "snapshot '%s' was saved by %s for SDK major %u, the loaded plugin is for major %u", name,
                 meta.arch, VMM_VERSION_MAJOR(meta.arch_abi), VMM_VERSION_MAJOR(ad->version));
        return -1;
    }
    if (meta.ram_size != v->ram_size) {
        snprintf(err, errlen, "snapshot '%s' was saved with %" PRIu64 " MiB of RAM, this VM has %" PRIu64 " MiB", name,
                 meta.ram_size >> 20, v->ram_size >> 20);
        return -1;
    }
    if (meta.cpus != v->ncpus) {
        snprintf(err, errlen, "snapshot '%s' was saved with %u vCPUs, this VM has %u", name, meta.cpus, v->ncpus);
        return -1;
    }
    uint64_t max_index = 0;
    for (size_t r = 0; r < v->mem.count; r++) {
        const mem_region *m = &v->mem.regions[r];
        if (m->kind == MEM_RAM && (m->gpa + m->size) / SS_PAGE_SIZE > max_index)
            max_index = (m->gpa + m->size) / SS_PAGE_SIZE;
    }
    snapshot_loader l = {.v = v, .loaded = calloc(v->nunits + 1, 1), .err = err, .errlen = errlen};
    if (!l.loaded) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = ss_load_pages(st, name, max_index, snapshot_load_page, &l, err, errlen);
    if (!rc)
        rc = ss_load_units(st, name, snapshot_load_unit, &l, err, errlen);
    for (unsigned i = 0; !rc && i < v->nunits; i++)
        if (!l.loaded[i]) {
            snprintf(err, errlen, "snapshot '%s' has no unit '%s' instance %u, which %s needs", name, v->units[i].name,
                     v->units[i].instance, v->units[i].owner->name);
            rc = -1;
        }
    free(l.loaded);
    if (rc)
        return -1;
    /* Writes from here on are what the next incremental save on top of this snapshot must hold. */
    if (v->dirty_log && v->hv)
        for (size_t r = 0; r < v->mem.count; r++) {
            const mem_region *m = &v->mem.regions[r];
            if (m->kind != MEM_RAM)
                continue;
            uint64_t *bits = calloc(m->size / SS_PAGE_SIZE / 64 + 1, sizeof(uint64_t));
            if (bits)
                hostdrv_vm_get_dirty_log(v->hv, m->slot, bits);
            free(bits);
            if (m->host_dirty)
                memset(m->host_dirty, 0, (m->size / SS_PAGE_SIZE / 64 + 1) * sizeof(uint64_t));
        }
    snprintf(v->last_snapshot, sizeof(v->last_snapshot), "%s", name);
    return 0;
}
