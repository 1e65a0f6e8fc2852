/* snapshot: see snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
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

    uint64_t t0 = loop_clock_ns(), t1;
    int rc = -1;
    ss_save *s = ss_save_begin(st, &meta, err, errlen);
    if (s && (snapshot_save_units(v, s, err, errlen) || snapshot_save_ram(v, s, incremental, name, err, errlen) ||
              ss_save_seal(s, err, errlen))) {
        ss_save_abort(s);
        s = NULL;
    }
    /* The transaction holds its own copy of every page now: the guest may run while it is written out. */
    t1 = loop_clock_ns();
    if (was_running)
        vm_resume(v);
    if (s)
        rc = ss_save_commit(s, err, errlen);
    if (rc == 0)
        snprintf(v->last_snapshot, sizeof(v->last_snapshot), "%s", name);
    else
        v->last_snapshot[0] = '\0'; /* the dirty log was consumed: the next save cannot be incremental */
    if (rc == 0)
        rc = ss_sync(st, err, errlen);
    if (rc == 0)
        log_info("saved snapshot '%s'%s%s: guest paused %.1f ms, durable after %.1f ms", name,
                 incremental ? " on top of " : "", incremental ? meta.parent : "", (double)(t1 - t0) / 1e6,
                 (double)(loop_clock_ns() - t0) / 1e6);
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
    /* The VM's RAM is fresh, so zero pages need no write (which would only fault them in). */
    if (page)
        memcpy(m->host + (gpa - m->gpa), page, SS_PAGE_SIZE);
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

/* ---- Lazy page-in ------------------------------------------------------------------------------------- */

#define PAGER_MAX_REGIONS 16
#define PAGER_PREFETCH_BATCH 64

struct snapshot_pager {
    vm *v;
    ss_reader *reader;
    int uffd, stop_fd;
    pthread_t thread;
    int started;
    struct {
        uint8_t *host;
        uint64_t gpa, size;
    } regions[PAGER_MAX_REGIONS];
    unsigned nregions, prefetch_region;
    uint64_t prefetch_page;
    int prefetch, prefetch_done, corrupt;
    uint64_t faults, copied, zeroed;
    char err[256];
};

/* Fill one page of region r (offset off), from the snapshot or with zeros. */
static void pager_fill(snapshot_pager *p, unsigned r, uint64_t off, int wake)
{
    uint64_t index = (p->regions[r].gpa + off) / SS_PAGE_SIZE;
    const uint8_t *page;
    int got = ss_reader_page(p->reader, index, &page, p->err, sizeof(p->err));
    uint64_t dst = (uint64_t)(uintptr_t)(p->regions[r].host + off);
    if (got < 0 && !p->corrupt) {
        p->corrupt = 1;
        log_error("restoring: %s; stopping the VM", p->err);
        vm_request_stop(p->v, 1);
    }
    if (got > 0) {
        struct uffdio_copy c = {.dst = dst, .src = (uint64_t)(uintptr_t)page, .len = SS_PAGE_SIZE,
                                .mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE};
        if (ioctl(p->uffd, UFFDIO_COPY, &c) == 0)
            p->copied++;
    } else {
        struct uffdio_zeropage z = {.range = {.start = dst, .len = SS_PAGE_SIZE},
                                    .mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE};
        if (ioctl(p->uffd, UFFDIO_ZEROPAGE, &z) == 0)
            p->zeroed++;
    }
}

static void pager_serve_faults(snapshot_pager *p)
{
    struct uffd_msg msg[16];
    ssize_t n;
    while ((n = read(p->uffd, msg, sizeof(msg))) > 0) {
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
            if (msg[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            uint64_t addr = msg[i].arg.pagefault.address & ~(uint64_t)(SS_PAGE_SIZE - 1);
            for (unsigned r = 0; r < p->nregions; r++) {
                uint64_t base = (uint64_t)(uintptr_t)p->regions[r].host;
                if (addr >= base && addr < base + p->regions[r].size) {
                    p->faults++;
                    pager_fill(p, r, addr - base, 1);
                }
            }
        }
    }
}

/* Copy in the next batch of snapshot pages; true when every page holding data is in. */
static int pager_prefetch(snapshot_pager *p)
{
    for (unsigned done = 0; done < PAGER_PREFETCH_BATCH && p->prefetch_region < p->nregions;) {
        unsigned r = p->prefetch_region;
        if (p->prefetch_page >= p->regions[r].size / SS_PAGE_SIZE) {
            p->prefetch_region++;
            p->prefetch_page = 0;
            continue;
        }
        uint64_t index = p->regions[r].gpa / SS_PAGE_SIZE + p->prefetch_page;
        const uint8_t *page;
        /* Zero pages are left to the kernel: once the regions are unregistered they fill with zeros anyway. */
        if (ss_reader_page(p->reader, index, &page, p->err, sizeof(p->err)) != 0) {
            pager_fill(p, r, p->prefetch_page * SS_PAGE_SIZE, 1);
            done++;
        }
        p->prefetch_page++;
    }
    return p->prefetch_region >= p->nregions;
}

static void *pager_thread(void *arg)
{
    snapshot_pager *p = arg;
    struct pollfd fds[2] = {{.fd = p->uffd, .events = POLLIN}, {.fd = p->stop_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, p->prefetch && !p->prefetch_done ? 0 : -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents & POLLIN)
            break;
        if (fds[0].revents & POLLIN)
            pager_serve_faults(p);
        if (p->prefetch && !p->prefetch_done && pager_prefetch(p)) {
            /* Every page with data is in: the rest is zero, which the kernel provides by itself. */
            p->prefetch_done = 1;
            for (unsigned r = 0; r < p->nregions; r++) {
                struct uffdio_range range = {.start = (uint64_t)(uintptr_t)p->regions[r].host,
                                             .len = p->regions[r].size};
                ioctl(p->uffd, UFFDIO_UNREGISTER, &range);
            }
            pager_serve_faults(p); /* faults that raced with the unregistration */
            ss_reader_close(p->reader);
            p->reader = NULL;
            break;
        }
    }
    return NULL;
}

static void pager_free(snapshot_pager *p)
{
    if (p->uffd >= 0)
        close(p->uffd);
    if (p->stop_fd >= 0)
        close(p->stop_fd);
    ss_reader_close(p->reader);
    free(p);
}

int snapshot_pager_finish(snapshot_pager *p)
{
    if (!p)
        return 0;
    if (p->started) {
        uint64_t one = 1;
        if (write(p->stop_fd, &one, sizeof(one)) < 0)
            log_warn("pager: cannot wake: %s", strerror(errno));
        pthread_join(p->thread, NULL);
    }
    if (p->v->stats)
        fprintf(stderr, "vmm: stats: lazy restore: %llu guest faults, %llu pages copied, %llu zeroed, %s\n",
                (unsigned long long)p->faults, (unsigned long long)p->copied, (unsigned long long)p->zeroed,
                p->prefetch_done ? "all data in" : p->prefetch ? "stopped before all data was in" : "on demand only");
    int corrupt = p->corrupt;
    pager_free(p);
    return corrupt ? -1 : 0;
}

/* Register guest RAM for lazy filling and start the pager; NULL (and nothing changed) if userfaultfd is not
 * available, so the caller copies eagerly instead. */
static snapshot_pager *pager_start(vm *v, ss_reader *reader, int prefetch)
{
    snapshot_pager *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->v = v;
    p->prefetch = prefetch;
    p->stop_fd = -1;
    p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API};
    if (p->uffd < 0 || ioctl(p->uffd, UFFDIO_API, &api) ||
        (p->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
        log_info("userfaultfd unavailable (%s): restoring eagerly", strerror(errno));
        pager_free(p);
        return NULL;
    }
    for (size_t i = 0; i < v->mem.count; i++) {
        const mem_region *m = &v->mem.regions[i];
        if (m->kind != MEM_RAM)
            continue;
        struct uffdio_register reg = {.range = {.start = (uint64_t)(uintptr_t)m->host, .len = m->size},
                                      .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (p->nregions == PAGER_MAX_REGIONS || ioctl(p->uffd, UFFDIO_REGISTER, &reg)) {
            log_info("userfaultfd cannot register guest RAM (%s): restoring eagerly", strerror(errno));
            for (unsigned r = 0; r < p->nregions; r++) {
                struct uffdio_range range = {.start = (uint64_t)(uintptr_t)p->regions[r].host,
                                             .len = p->regions[r].size};
                ioctl(p->uffd, UFFDIO_UNREGISTER, &range);
            }
            pager_free(p);
            return NULL;
        }
        p->regions[p->nregions].host = m->host;
        p->regions[p->nregions].gpa = m->gpa;
        p->regions[p->nregions].size = m->size;
        p->nregions++;
    }
    p->reader = reader;
    if (pthread_create(&p->thread, NULL, pager_thread, p)) {
        p->reader = NULL;
        pager_free(p);
        return NULL;
    }
    p->started = 1;
    return p;
}

int snapshot_restore(vm *v, ss_store *st, const char *name, snapshot_restore_mode mode, snapshot_pager **pager,
                     char *err, size_t errlen)
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
    /* Units first: they are small and the most likely to be refused, and refusing must leave nothing behind. */
    int rc = ss_load_units(st, name, snapshot_load_unit, &l, err, errlen);
    for (unsigned i = 0; !rc && i < v->nunits; i++)
        if (!l.loaded[i]) {
            snprintf(err, errlen, "snapshot '%s' has no unit '%s' instance %u, which %s needs", name, v->units[i].name,
                     v->units[i].instance, v->units[i].owner->name);
            rc = -1;
        }
    free(l.loaded);
    if (rc)
        return -1;
    ss_reader *reader = ss_reader_open(st, name, max_index, err, errlen);
    if (!reader)
        return -1;
    if (mode != SNAPSHOT_RESTORE_EAGER && pager)
        *pager = pager_start(v, reader, mode == SNAPSHOT_RESTORE_LAZY);
    if (mode == SNAPSHOT_RESTORE_EAGER || !pager || !*pager) {
        /* Eager: every page in now, each one's hash checked before the guest runs. */
        rc = ss_reader_each(reader, snapshot_load_page, &l, err, errlen);
        ss_reader_close(reader);
        if (rc)
            return -1;
    }
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
