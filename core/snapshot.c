/* snapshot: see snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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
#include "sandbox.h"
#include "ssm.h"


/* The engine tracks guest writes to RAM (live saves need it). */
static int snapshot_engine_logs_dirty(const vm *v)
{
    return (hostdrv_vm_caps(v->hv) & HOSTDRV_CAP_DIRTY_LOG) != 0;
}

/* RAM was mapped dirty-logged (a --state run) and the engine logs: a save can be incremental. */
static int snapshot_dirty_logged(const vm *v)
{
    return v->dirty_log && snapshot_engine_logs_dirty(v);
}

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

/* With the VM paused: every unit's state into its own buffer. The transaction is written elsewhere (on the thread
 * that owns it), so the units are taken here, at the pause, and written from these buffers. */
static int snapshot_take_units(vm *v, vmm_ssm *w, int incremental, char *err, size_t errlen)
{
    for (unsigned i = 0; i < v->nunits; i++) {
        vm_unit *u = &v->units[i];
        ssm_writer_init(&w[i], u->name);
        w[i].pages_allowed = 1;
        w[i].incremental = incremental;
        vm_instance_lock(u->owner);
        int rc = u->save(u->owner->state, &w[i]);
        vm_instance_unlock(u->owner);
        if (rc && !w[i].failed)
            ssm_fail(&w[i], "the save callback failed");
        if (ssm_writer_finish(&w[i])) {
            snprintf(err, errlen, "unit '%s' instance %u: %s", u->name, u->instance, w[i].err);
            for (unsigned k = 0; k <= i; k++)
                ssm_writer_free(&w[k]);
            return -1;
        }
    }
    return 0;
}

/* The units' page data (SDK 1.7 ssm_put_pages), after every RAM page: the store takes pages in rising order, and
 * each unit's space lies above guest memory, in the order of their bases. The data were copied at the pause. */
static int snapshot_write_unit_pages(vm *v, vmm_ssm *w, ss_save *s, char *err, size_t errlen)
{
    unsigned n = 0, *order = calloc(v->nunits + 1, sizeof(unsigned));
    uint64_t *base = calloc(v->nunits + 1, sizeof(uint64_t));
    int rc = 0;
    if (!order || !base) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (unsigned i = 0; !rc && i < v->nunits; i++) {
        if (!w[i].npages)
            continue;
        base[i] = ss_space_base(v->units[i].name, v->units[i].instance);
        unsigned k = n++;
        for (; k > 0 && base[order[k - 1]] >= base[i]; k--) {
            if (base[order[k - 1]] == base[i]) {
                snprintf(err, errlen, "units '%s' %u and '%s' %u would share their page data in the store",
                         v->units[order[k - 1]].name, v->units[order[k - 1]].instance, v->units[i].name,
                         v->units[i].instance);
                rc = -1;
                break;
            }
            order[k] = order[k - 1];
        }
        order[k] = i;
    }
    for (unsigned k = 0; !rc && k < n; k++) {
        vmm_ssm *u = &w[order[k]];
        for (size_t p = 0; p < u->npages; p++)
            if ((u->pages[p].data || u->incremental) &&
                ss_save_page(s, base[order[k]] + u->pages[p].index, u->pages[p].data)) {
                snprintf(err, errlen, "unit '%s' instance %u: %s", v->units[order[k]].name,
                         v->units[order[k]].instance, ss_save_error(s));
                rc = -1;
                break;
            }
    }
    free(order);
    free(base);
    return rc;
}

static int snapshot_write_units(vm *v, vmm_ssm *w, ss_save *s, char *err, size_t errlen)
{
    for (unsigned i = 0; i < v->nunits; i++) {
        vm_unit *u = &v->units[i];
        if (ss_save_unit(s, u->name, u->instance, u->version, w[i].buf, w[i].len)) {
            snprintf(err, errlen, "unit '%s' instance %u: %s", u->name, u->instance, ss_save_error(s));
            return -1;
        }
    }
    return 0;
}

/* Take a RAM region's dirty pages since the last take: KVM's log (fetching it clears it) and the pages devices
 * wrote (mem_write, writable mem_ptr), which that log cannot see. A bitmap to free, or NULL with err set. */
static uint64_t *snapshot_take_dirty(vm *v, const mem_region *m, char *err, size_t errlen)
{
    uint64_t words = m->size / SS_PAGE_SIZE / 64 + 1;
    uint64_t *dirty = calloc(words, sizeof(uint64_t));
    if (!dirty || hostdrv_vm_get_dirty_log(v->hv, m->slot, dirty)) {
        snprintf(err, errlen, "reading the dirty-page log of '%s': %s", m->name, strerror(errno));
        free(dirty);
        return NULL;
    }
    if (m->host_dirty)
        for (uint64_t w = 0; w < words; w++)
            dirty[w] |= __atomic_exchange_n(&m->host_dirty[w], 0, __ATOMIC_RELAXED);
    return dirty;
}

/* Record one page the save wants (page NULL: known to be zero): a full save leaves zero pages out, an incremental
 * one records them as zero, since its parent may have data there. */
static int snapshot_put_page(ss_save *s, uint64_t index, const uint8_t *page, int incremental)
{
    if (page && snapshot_page_is_zero(page))
        page = NULL;
    return page || incremental ? ss_save_page(s, index, page) : 0;
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
        /* Taken on full saves too: the next incremental save counts from this one. */
        uint64_t *dirty = NULL;
        if (snapshot_dirty_logged(v) && !(dirty = snapshot_take_dirty(v, m, err, errlen)))
            return -1;
        for (uint64_t p = 0; p < pages; p++) {
            snapshot_progress_step(&prog);
            int rc = 0;
            if (!incremental || (dirty[p / 64] & (1ull << (p % 64))))
                rc = snapshot_put_page(s, m->gpa / SS_PAGE_SIZE + p, m->host + p * SS_PAGE_SIZE, incremental);
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

/* ---- Live save ----------------------------------------------------------------------------------------
 * The guest runs while its RAM is written out. At the pause every RAM page is write-protected with userfaultfd;
 * a write to a page not saved yet (by the guest, by KVM or by a device) faults to the saving thread, which copies
 * that page aside and then lifts the protection; the store takes pages in increasing order, so the copy is
 * saved when the sweep reaches it. Pages with no memory behind them at the pause (from /proc/self/pagemap) were
 * zero then and are recorded so without being read or protected, so the guest may fill them freely meanwhile
 * and protecting costs in proportion to the memory in use, not to the RAM size. The snapshot therefore holds
 * RAM exactly as it was at the pause, and the pause lasts as long as the units and the protection take. */

#define LIVE_MAX_REGIONS 16
#define LIVE_BATCH 8192    /* pages copied into the store and unprotected with one call (each call costs TLB
                              shootdowns on every CPU running a vCPU, so not too many) */
#define LIVE_FAULT_EVERY 16 /* pages read (or 1024 passed) between looks at faults */

typedef struct live_region {
    const mem_region *m;
    uint8_t *host;
    uint64_t gpa, pages;
    uint64_t *dirty; /* incremental: pages to save; NULL for a full save */
    uint64_t *done;  /* reached by the sweep: saved (or deliberately skipped) */
    uint64_t *present; /* had memory behind it at the pause (else it was zero, and is not protected) */
    uint8_t **aside; /* pages written by the guest before the sweep reached them: their content at the pause */
} live_region;

typedef struct live_save {
    vm *v;
    ss_save *s;
    int uffd, incremental, failed;

    live_region r[LIVE_MAX_REGIONS];
    unsigned n;
    uint64_t faults, aside_bytes;
    uint8_t *handed[LIVE_BATCH]; /* aside copies given to the store, freed once it has copied them */
    unsigned nhanded;
    char err[256];
} live_save;

static void live_unprotect(live_save *ls, uint8_t *start, uint64_t len)
{
    struct uffdio_writeprotect wp = {.range = {.start = (uint64_t)(uintptr_t)start, .len = len}, .mode = 0};
    if (ioctl(ls->uffd, UFFDIO_WRITEPROTECT, &wp) && !ls->failed) {
        ls->failed = 1;
        snprintf(ls->err, sizeof(ls->err), "lifting write protection: %s", strerror(errno));
    }
}

/* The sweep reached page p of region r: save it (its copy if the guest has written it since the pause).
 * Returns whether that took any work (reading the page), so the caller can look at faults in proportion. */
static int live_save_page(live_save *ls, live_region *r, uint64_t p)
{
    r->done[p / 64] |= 1ull << (p % 64);
    uint8_t *copy = r->aside[p];
    r->aside[p] = NULL;
    if (copy)
        ls->handed[ls->nhanded++] = copy; /* at most one per page of the batch */
    if (ls->failed)
        return 0;
    const uint8_t *page = copy ? copy : r->host + p * SS_PAGE_SIZE;
    /* A page with no memory behind it at the pause was zero then, whatever the guest has written since. */
    int absent = !copy && !(r->present[p / 64] & (1ull << (p % 64)));
    if (ls->incremental && !(r->dirty[p / 64] & (1ull << (p % 64))))
        return 0;
    if (snapshot_put_page(ls->s, r->gpa / SS_PAGE_SIZE + p, absent ? NULL : page, ls->incremental)) {
        ls->failed = 1;
        snprintf(ls->err, sizeof(ls->err), "%s", ss_save_error(ls->s));
    }
    return !absent;
}

/* The store copies what it was handed so far; from then on those pages may change. */
static void live_copy_handed(live_save *ls)
{
    if (!ls->failed && ss_save_copy_pages(ls->s)) {
        ls->failed = 1;
        snprintf(ls->err, sizeof(ls->err), "%s", ss_save_error(ls->s));
    }
    for (unsigned i = 0; i < ls->nhanded; i++)
        free(ls->handed[i]);
    ls->nhanded = 0;
}

/* Does this save read page p at all: it had memory at the pause, and (incremental) was written since the parent. */
static int live_wanted(const live_save *ls, const live_region *r, uint64_t p)
{
    return ((r->present[p / 64] >> (p % 64)) & 1) && (!ls->incremental || ((r->dirty[p / 64] >> (p % 64)) & 1));
}

/* Protect (or release) the wanted pages of [start, end): one call per run of them, or one for the whole range
 * when they are scattered. Each call costs a TLB shootdown on the CPUs running vCPUs. */
static int live_protect(live_save *ls, live_region *r, uint64_t start, uint64_t end, int protect)
{
    enum { MAX_RUNS = 32 };
    uint64_t run_start[MAX_RUNS], run_end[MAX_RUNS];
    unsigned runs = 0;
    for (uint64_t p = start; p < end;) {
        if (!live_wanted(ls, r, p)) {
            p++;
            continue;
        }
        uint64_t q = p + 1;
        while (q < end && live_wanted(ls, r, q))
            q++;
        if (runs == MAX_RUNS) {
            runs = 1;
            run_start[0] = start;
            run_end[0] = end;
            break;
        }
        run_start[runs] = p;
        run_end[runs++] = q;
        p = q;
    }
    for (unsigned i = 0; i < runs; i++) {
        struct uffdio_writeprotect wp = {.range = {.start = (uint64_t)(uintptr_t)(r->host + run_start[i] * SS_PAGE_SIZE),
                                                   .len = (run_end[i] - run_start[i]) * SS_PAGE_SIZE},
                                         .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
        if (ioctl(ls->uffd, UFFDIO_WRITEPROTECT, &wp))
            return -1;
    }
    return 0;
}

/* End of a batch: copied, then the batch's pages are writable again. */
static void live_batch_done(live_save *ls, live_region *r, uint64_t start, uint64_t end)
{
    live_copy_handed(ls);
    if (live_protect(ls, r, start, end, 0) && !ls->failed) {
        ls->failed = 1;
        snprintf(ls->err, sizeof(ls->err), "lifting write protection: %s", strerror(errno));
    }
}

/* A write to page p before the sweep reached it: keep its content at the pause aside. */
static void live_copy_aside(live_save *ls, live_region *r, uint64_t p)
{
    if ((r->done[p / 64] & (1ull << (p % 64))) || r->aside[p] || ls->failed)
        return;
    r->aside[p] = malloc(SS_PAGE_SIZE);
    if (!r->aside[p]) {
        ls->failed = 1;
        snprintf(ls->err, sizeof(ls->err), "out of memory keeping pages the guest wrote during the save");
        return;
    }
    memcpy(r->aside[p], r->host + p * SS_PAGE_SIZE, SS_PAGE_SIZE);
    ls->aside_bytes += SS_PAGE_SIZE;
}

static void live_serve_faults(live_save *ls)
{
    struct uffd_msg msg[16];
    ssize_t n;
    while ((n = read(ls->uffd, msg, sizeof(msg))) > 0) {
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
            if (msg[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            uint64_t addr = msg[i].arg.pagefault.address & ~(uint64_t)(SS_PAGE_SIZE - 1);
            for (unsigned k = 0; k < ls->n; k++) {
                live_region *r = &ls->r[k];
                uint64_t base = (uint64_t)(uintptr_t)r->host;
                if (addr < base || addr - base >= r->pages * SS_PAGE_SIZE)
                    continue;
                ls->faults++;
                uint64_t pg = (addr - base) / SS_PAGE_SIZE;
                if (r->done[pg / 64] & (1ull << (pg % 64)))
                    live_copy_handed(ls); /* handed to the store in this batch, maybe not copied yet */
                else
                    live_copy_aside(ls, r, pg);
                live_unprotect(ls, r->host + (addr - base), SS_PAGE_SIZE);
            }
        }
    }
}

static void live_teardown(live_save *ls)
{
    for (unsigned k = 0; k < ls->n; k++) {
        live_region *r = &ls->r[k];
        struct uffdio_writeprotect wp = {.range = {.start = (uint64_t)(uintptr_t)r->host,
                                                   .len = r->pages * SS_PAGE_SIZE}, .mode = 0};
        ioctl(ls->uffd, UFFDIO_WRITEPROTECT, &wp);
        ioctl(ls->uffd, UFFDIO_UNREGISTER, &wp.range);
        for (uint64_t p = 0; r->aside && p < r->pages; p++)
            free(r->aside[p]);
        free(r->aside);
        free(r->dirty);
        free(r->done);
        free(r->present);
    }
    if (ls->uffd >= 0)
        close(ls->uffd);
    ls->uffd = -1;
    ls->n = 0;
}

/* /proc/self/pagemap opened before the sandbox closes open(2) to the event loop (snapshot_open_host_files). */
static int snapshot_pagemap_fd = -1;

void snapshot_open_host_files(void)
{
    if (snapshot_pagemap_fd < 0)
        snapshot_pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

/* Which pages of a region have memory (or swap) behind them, from /proc/self/pagemap; NULL when unreadable. */
static uint64_t *live_read_present(const uint8_t *host, uint64_t pages)
{
    int fd = snapshot_pagemap_fd >= 0 ? snapshot_pagemap_fd : open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t *bits = calloc(pages / 64 + 1, sizeof(uint64_t));
    uint64_t e[512];
    for (uint64_t at = 0; fd >= 0 && bits && at < pages; at += 512) {
        uint64_t n = pages - at < 512 ? pages - at : 512;
        off_t off = (off_t)((uint64_t)(uintptr_t)(host + at * SS_PAGE_SIZE) / SS_PAGE_SIZE * 8);
        if (pread(fd, e, n * 8, off) != (ssize_t)(n * 8)) {
            free(bits);
            bits = NULL;
            break;
        }
        for (uint64_t i = 0; i < n; i++)
            if (e[i] & (3ull << 62)) /* present, or swapped out */
                bits[(at + i) / 64] |= 1ull << ((at + i) % 64);
    }
    if (fd >= 0 && fd != snapshot_pagemap_fd)
        close(fd);
    return bits;
}

/* With the VM paused: read the dirty logs (incremental) and write-protect all RAM. 0, or -1 with nothing left
 * protected when userfaultfd cannot do it here (the caller then saves with the VM paused). */
static int live_setup(live_save *ls, vm *v, ss_save *s, int incremental)
{
    memset(ls, 0, sizeof(*ls));
    ls->v = v;
    ls->s = s;
    ls->incremental = incremental;
    ls->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP};
    if (ls->uffd < 0 || ioctl(ls->uffd, UFFDIO_API, &api)) {
        log_info("live save unavailable (userfaultfd write-protect: %s): the guest stays paused while saving",
                 strerror(errno));
        if (ls->uffd >= 0)
            close(ls->uffd);
        ls->uffd = -1;
        return -1;
    }
    for (size_t i = 0; i < v->mem.count; i++) {
        const mem_region *m = &v->mem.regions[i];
        if (m->kind != MEM_RAM)
            continue;
        if (ls->n == LIVE_MAX_REGIONS) {
            live_teardown(ls);
            return -1;
        }
        live_region *r = &ls->r[ls->n];
        r->m = m;
        r->host = m->host;
        r->gpa = m->gpa;
        r->pages = m->size / SS_PAGE_SIZE;
        r->done = calloc(r->pages / 64 + 1, sizeof(uint64_t));
        r->aside = calloc(r->pages, sizeof(*r->aside));
        struct uffdio_register reg = {.range = {.start = (uint64_t)(uintptr_t)m->host, .len = m->size},
                                      .mode = UFFDIO_REGISTER_MODE_WP};
        if (!r->done || !r->aside || ioctl(ls->uffd, UFFDIO_REGISTER, &reg)) {
            log_info("live save unavailable (registering '%s': %s): the guest stays paused while saving", m->name,
                     strerror(errno));
            free(r->done);
            free(r->aside);
            live_teardown(ls);
            return -1;
        }
        ls->n++;
        /* Protection covers only pages with memory behind them: which those are must be known. */
        r->present = live_read_present(r->host, r->pages);
        if (!r->present) {
            log_info("live save unavailable (/proc/self/pagemap unreadable): the guest stays paused while saving");
            live_teardown(ls);
            return -1;
        }
    }
    /* Only now consume the dirty logs (a full save too: the next incremental one counts from this one); every
     * fallback above leaves them for the paused save. */
    for (unsigned k = 0; k < ls->n && v->dirty_log; k++)
        if (!(ls->r[k].dirty = snapshot_take_dirty(v, ls->r[k].m, ls->err, sizeof(ls->err)))) {
            ls->failed = 1;
            return 0; /* the caller aborts this save after resuming */
        }
    /* Protect what this save will read. The logs are consumed: a failure now fails the save. */
    for (unsigned k = 0; k < ls->n; k++)
        for (uint64_t start = 0; start < ls->r[k].pages; start += LIVE_BATCH) {
            uint64_t end = start + LIVE_BATCH < ls->r[k].pages ? start + LIVE_BATCH : ls->r[k].pages;
            if (live_protect(ls, &ls->r[k], start, end, 1)) {
                ls->failed = 1;
                snprintf(ls->err, sizeof(ls->err), "write-protecting guest RAM: %s", strerror(errno));
                return 0; /* the caller aborts this save after resuming */
            }
        }
    return 0;
}

/* With the VM running: every page in order, faulted pages first. 0, or -1 with the reason in err. */
static int live_run(live_save *ls, const char *name, char *err, size_t errlen)
{
    uint64_t total = 0;
    for (unsigned k = 0; k < ls->n; k++)
        total += ls->r[k].pages;
    snapshot_progress prog = {.name = name, .total = total ? total : 1, .last_tenth = -1,
                              .show = total >= (256u << 20) / SS_PAGE_SIZE && isatty(STDERR_FILENO)};
    for (unsigned k = 0; k < ls->n && !ls->failed; k++) {
        live_region *r = &ls->r[k];
        for (uint64_t start = 0; start < r->pages && !ls->failed; start += LIVE_BATCH) {
            live_serve_faults(ls);
            uint64_t end = start + LIVE_BATCH < r->pages ? start + LIVE_BATCH : r->pages;
            unsigned work = 0;
            for (uint64_t p = start; p < end; p++) {
                snapshot_progress_step(&prog);
                work += (unsigned)live_save_page(ls, r, p);
                /* A writer waits for us: do not make it wait a whole batch, nor pay a syscall per page. */
                if (work >= LIVE_FAULT_EVERY || (p & 1023) == 1023) {
                    live_serve_faults(ls);
                    work = 0;
                }
            }
            live_batch_done(ls, r, start, end);
        }
    }
    live_serve_faults(ls);
    if (ls->failed) {
        snprintf(err, errlen, "%s", ls->err);
        return -1;
    }
    if (ls->v->stats)
        fprintf(stderr, "vmm: stats: live save: %llu writes during the save waited for a copy of their page "
                "(%llu KiB kept aside)\n", (unsigned long long)ls->faults, (unsigned long long)(ls->aside_bytes >> 10));
    return 0;
}

/* ---- Saving: the pause on the loop thread, the writing on the transaction's thread ------------------------
 * An LMDB write transaction belongs to the thread that began it, so everything that writes the snapshot (begin,
 * units, pages, commit) runs on one thread: the loop thread for a paused save, a worker for a live one. What
 * needs the VM paused (the units, the dirty logs, the write protection) is done by the loop thread. */

struct snapshot_job {
    vm *v;
    ss_store *st;
    ss_meta meta;
    int incremental, live, was_running;
    vmm_ssm *units; /* v->nunits buffers taken at the pause */
    live_save ls;
    ss_save *s;
    uint64_t t0, t1, t2; /* request, resume, durable */
    int rc, committed;
    char err[512];
};

static void snapshot_job_free(snapshot_job *j)
{
    for (unsigned i = 0; j->units && i < j->v->nunits; i++)
        ssm_writer_free(&j->units[i]);
    free(j->units);
    free(j);
}

/* Begin the transaction and write the units and RAM into it (the sweep when live); sealed after, or j->s NULL
 * and the reason in j->err. */
static void snapshot_job_fill(snapshot_job *j)
{
    j->s = ss_save_begin(j->st, &j->meta, j->err, sizeof(j->err));
    if (j->s && snapshot_write_units(j->v, j->units, j->s, j->err, sizeof(j->err))) {
        ss_save_abort(j->s);
        j->s = NULL;
    }
    int rc = 0;
    if (j->live) {
        j->ls.s = j->s;
        if (j->s)
            rc = live_run(&j->ls, j->meta.name, j->err, sizeof(j->err));
        live_teardown(&j->ls); /* also when the transaction could not begin: the guest must not stay protected */
    } else if (j->s) {
        rc = snapshot_save_ram(j->v, j->s, j->incremental, j->meta.name, j->err, sizeof(j->err));
    }
    if (j->s && !rc)
        rc = snapshot_write_unit_pages(j->v, j->units, j->s, j->err, sizeof(j->err));
    if (j->s && (rc || ss_save_seal(j->s, j->err, sizeof(j->err)))) {
        ss_save_abort(j->s);
        j->s = NULL;
    }
}

static void snapshot_job_commit(snapshot_job *j)
{
    j->rc = j->s ? ss_save_commit(j->s, j->err, sizeof(j->err)) : -1;
    j->s = NULL;
    j->committed = j->rc == 0;
    if (j->rc == 0)
        j->rc = ss_sync(j->st, j->err, sizeof(j->err));
    j->t2 = loop_clock_ns();
}

void snapshot_job_sweep(snapshot_job *j)
{
    snapshot_job_fill(j);
    snapshot_job_commit(j);
}

const char *snapshot_job_name(const snapshot_job *j)
{
    return j->meta.name;
}

int snapshot_save_finish(snapshot_job *j, char *err, size_t errlen)
{
    vm *v = j->v;
    int rc = j->rc;
    /* A save that did not commit consumed the dirty log (or may have): the next save cannot be incremental. One
     * that committed but could not sync exists, and is the parent of the next. */
    if (j->committed)
        snprintf(v->last_snapshot, sizeof(v->last_snapshot), "%s", j->meta.name);
    else
        v->last_snapshot[0] = '\0';
    if (rc == 0)
        log_info("saved snapshot '%s'%s%s%s: guest paused %.1f ms, durable after %.1f ms", j->meta.name,
                 j->incremental ? " on top of " : "", j->incremental ? j->meta.parent : "", j->live ? " (live)" : "",
                 (double)(j->t1 - j->t0) / 1e6, (double)(j->t2 - j->t0) / 1e6);
    else
        snprintf(err, errlen, "%s", j->err);
    snapshot_job_free(j);
    return rc;
}

int snapshot_save_start(vm *v, ss_store *st, const char *name, const char *config, snapshot_job **job, char *err,
                        size_t errlen)
{
    *job = NULL;
    /* Here, before the name is copied into the metadata, where a longer one would be cut short. */
    if (ss_name_check(name, err, errlen) || vm_check_saveable(v, err, errlen))
        return -1;
    snapshot_job *j = calloc(1, sizeof(*j));
    if (!j || !(j->units = calloc(v->nunits + 1, sizeof(*j->units)))) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->v = v;
    j->st = st;
    j->ls.uffd = -1;
    ss_meta *meta = &j->meta;
    snprintf(meta->name, sizeof(meta->name), "%s", name);
    meta->created = (uint64_t)time(NULL);
    snprintf(meta->vmm_version, sizeof(meta->vmm_version), "%s", VMM_VERSION_STRING);
    snprintf(meta->arch, sizeof(meta->arch), "%s", vm_arch_desc(v)->name);
    meta->arch_abi = vm_arch_desc(v)->version;
    meta->ram_size = v->ram_size;
    meta->cpus = v->ncpus;
    snprintf(meta->config, sizeof(meta->config), "%s", config ? config : "");
    snprintf(meta->host, sizeof(meta->host), "%s", v->drv ? hostdrv_abi(v->drv) : "none");
    /* Incremental only when every page written since the parent is in the dirty log. */
    j->incremental = snapshot_dirty_logged(v) && v->last_snapshot[0];
    if (j->incremental)
        snprintf(meta->parent, sizeof(meta->parent), "%s", v->last_snapshot);
    /* What the store would refuse (the name taken, the parent gone, a corrupt database) is refused now, before
     * the guest pauses and the dirty log is consumed; the transaction is begun again on the thread that writes. */
    ss_save *probe = ss_save_begin(st, meta, err, errlen);
    if (!probe) {
        snapshot_job_free(j);
        return -1;
    }
    ss_save_abort(probe);

    j->was_running = v->running && !vm_is_paused(v);
    if (j->was_running && vm_pause(v)) {
        snprintf(err, errlen, "the VM is stopping");
        snapshot_job_free(j);
        return -1;
    }
    j->t0 = loop_clock_ns();
    if (snapshot_take_units(v, j->units, j->incremental, err, errlen)) {
        free(j->units);
        j->units = NULL;
        if (j->was_running)
            vm_resume(v);
        snapshot_job_free(j);
        return -1;
    }
    /* Live when the guest was running and userfaultfd can write-protect its RAM; else RAM is copied now. */
    j->live = j->was_running && snapshot_engine_logs_dirty(v) && live_setup(&j->ls, v, NULL, j->incremental) == 0;
    if (!j->live)
        snapshot_job_fill(j); /* the transaction holds its own copy of every page when this returns */
    j->t1 = loop_clock_ns();
    if (j->was_running)
        vm_resume(v);
    if (j->live) {
        *job = j; /* protected pages stand in for the guest's RAM until the sweep has them */
        return 1;
    }
    snapshot_job_commit(j);
    return snapshot_save_finish(j, err, errlen);
}

typedef struct snapshot_loader {
    vm *v;
    ss_store *st;
    const char *name;
    int input_refused; /* a unit refused the user's input (ssm_fail_input) */
    unsigned char *loaded; /* per registered unit */
    char *err;
    size_t errlen;
} snapshot_loader;

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
        r.store = l->st;
        r.snapshot = l->name;
        r.space = ss_space_base(unit, instance);
        vm_instance_lock(u->owner);
        int rc = u->load(u->owner->state, &r, version);
        vm_instance_unlock(u->owner);
        if (rc && !r.failed)
            ssm_fail(&r, "the load callback refused version %u", version);
        ssm_reader_finish(&r);
    }
    if (r.failed && r.input_refused) {
        /* The user's input (a file the unit depends on) is the problem, not the snapshot: the unit's own line. */
        l->input_refused = 1;
        snprintf(l->err, l->errlen, "%s", r.err);
        return -1;
    }
    if (r.failed) {
        snprintf(l->err, l->errlen, "unit '%s' instance %u (saved version %u, this %s reads version %u): %s", unit,
                 instance, version, u->owner->name, u->version, r.err);
        return -1;
    }
    return 0;
}

/* ---- Eager restore --------------------------------------------------------------------------------------
 * Every page with data is copied, its hash checked first, before the guest runs. The work is the kernel zeroing
 * the destination as it is first written (one transparent huge page per 2 MiB), the kernel mapping the source
 * pages of LMDB's file, hashing and copying: 60-80 ms of CPU for 256 MiB on the development machine, more than
 * one CPU can do within the 40 ms a restore may take. So RAM is handed out 2 MiB at a time to the restoring thread
 * and a helper per further CPU (EAGER_MAX_THREADS in all at most): a helper that the host schedules away leaves
 * its share to the others, and each huge page is zeroed and filled on one CPU, while its lines are still cached.
 * Groups without data are never touched. */

#define EAGER_MAX_THREADS 4
#define EAGER_GROUP_PAGES 512u /* 2 MiB: one transparent huge page of guest RAM */
#define EAGER_MAX_REGIONS 16

typedef struct eager_restore {
    ss_reader *reader;
    struct {
        uint8_t *host;
        uint64_t first, pages, groups; /* first guest page number */
    } regions[EAGER_MAX_REGIONS];
    unsigned nregions;
    uint64_t groups, next_group; /* next_group: handed out atomically */
    uint64_t copied;             /* pages, summed atomically */
    int failed;                  /* set once; the others stop at their next group */
    pthread_mutex_t err_lock;
    char err[256];
} eager_restore;

static void eager_copy_groups(eager_restore *e)
{
    char err[256];
    for (;;) {
        if (__atomic_load_n(&e->failed, __ATOMIC_RELAXED))
            return;
        uint64_t g = __atomic_fetch_add(&e->next_group, 1, __ATOMIC_RELAXED);
        if (g >= e->groups)
            return;
        unsigned r = 0;
        while (g >= e->regions[r].groups)
            g -= e->regions[r++].groups;
        uint64_t at = g * EAGER_GROUP_PAGES;
        uint64_t n = e->regions[r].pages - at < EAGER_GROUP_PAGES ? e->regions[r].pages - at : EAGER_GROUP_PAGES;
        int64_t got = ss_reader_copy(e->reader, e->regions[r].first + at, n, e->regions[r].host + at * SS_PAGE_SIZE,
                                     err, sizeof(err));
        if (got < 0) {
            pthread_mutex_lock(&e->err_lock);
            if (!e->failed)
                snprintf(e->err, sizeof(e->err), "%s", err);
            __atomic_store_n(&e->failed, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&e->err_lock);
            return;
        }
        __atomic_fetch_add(&e->copied, (uint64_t)got, __ATOMIC_RELAXED);
    }
}

static void *eager_thread(void *arg)
{
    eager_copy_groups(arg);
    return NULL;
}

/* Copy every page with data into the VM's RAM (which must be fresh, i.e. zero). 0, or -1 with the first corrupt
 * page found in err; the caller then discards the VM, so a failed restore leaves nothing that runs. */
static int eager_restore_ram(vm *v, ss_reader *reader, char *err, size_t errlen)
{
    eager_restore e = {.reader = reader};
    for (size_t i = 0; i < v->mem.count; i++) {
        const mem_region *m = &v->mem.regions[i];
        if (m->kind != MEM_RAM)
            continue;
        if (e.nregions == EAGER_MAX_REGIONS) {
            snprintf(err, errlen, "more than %d RAM regions", EAGER_MAX_REGIONS);
            return -1;
        }
        e.regions[e.nregions].host = m->host;
        e.regions[e.nregions].first = m->gpa / SS_PAGE_SIZE;
        e.regions[e.nregions].pages = m->size / SS_PAGE_SIZE;
        e.regions[e.nregions].groups = (m->size / SS_PAGE_SIZE + EAGER_GROUP_PAGES - 1) / EAGER_GROUP_PAGES;
        e.groups += e.regions[e.nregions].groups;
        e.nregions++;
    }
    /* The copy sees only RAM: a page recorded anywhere else means the snapshot is not of this VM's layout. */
    uint64_t at = 0, stray;
    for (unsigned r = 0; r <= e.nregions; r++) {
        uint64_t end = r < e.nregions ? e.regions[r].first : UINT64_MAX;
        if (end > at && ss_reader_find(reader, at, end - at, &stray)) {
            snprintf(err, errlen, "the snapshot has a page at 0x%" PRIx64 ", outside this VM's RAM",
                     stray * SS_PAGE_SIZE);
            return -1;
        }
        if (r < e.nregions)
            at = e.regions[r].first + e.regions[r].pages;
    }
    pthread_mutex_init(&e.err_lock, NULL);
    /* The CPUs this process may run on (taskset, cgroup cpusets), not all the host has. */
    cpu_set_t set;
    long cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cpus < 1 ? 1 : cpus > EAGER_MAX_THREADS ? EAGER_MAX_THREADS : (unsigned)cpus;
    if (want > e.groups)
        want = e.groups ? (unsigned)e.groups : 1;
    pthread_t helpers[EAGER_MAX_THREADS];
    unsigned started = 0;
    /* A helper that cannot be created only means fewer hands. */
    while (started + 1 < want && pthread_create(&helpers[started], NULL, eager_thread, &e) == 0)
        started++;
    eager_copy_groups(&e);
    for (unsigned i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
    pthread_mutex_destroy(&e.err_lock);
    if (v->stats)
        fprintf(stderr, "vmm: stats: eager restore: %llu pages copied by %u thread%s%s\n",
                (unsigned long long)e.copied, started + 1, started ? "s" : "",
                e.failed ? " (stopped at a corrupt page)" : "");
    if (e.failed) {
        snprintf(err, errlen, "%s", e.err);
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
    /* Made during start-up, so unfiltered until here. Should the filter fail, the VM stops, but faults are
     * still served so that its vCPUs can reach the stop. */
    if (sandbox_enter(SANDBOX_PAGER))
        vm_request_stop(p->v, 1);
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
    if (ss_get_meta(st, name, &meta, err, errlen) || vm_check_saveable(v, err, errlen))
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
    ss_reader *reader = ss_reader_open(st, name, max_index, err, errlen);
    if (!reader)
        return -1;
    /* A lazy restore takes over guest RAM before the units load: loading them can make the host touch guest
     * pages (KVM maps a kvmclock page when its MSR is set), and a page touched while nobody fills it becomes
     * a fresh zero page that the snapshot's content can no longer replace. */
    snapshot_pager *lazy = NULL;
    if (mode != SNAPSHOT_RESTORE_EAGER && pager)
        lazy = pager_start(v, reader, mode == SNAPSHOT_RESTORE_LAZY);
    snapshot_loader l = {.v = v, .st = st, .name = name, .loaded = calloc(v->nunits + 1, 1), .err = err,
                         .errlen = errlen};
    int rc = -1;
    if (!l.loaded)
        snprintf(err, errlen, "out of memory");
    else
        /* Units before any RAM is copied eagerly: they are small and the most likely to be refused. */
        rc = ss_load_units(st, name, snapshot_load_unit, &l, err, errlen);
    for (unsigned i = 0; !rc && i < v->nunits; i++)
        if (!l.loaded[i]) {
            snprintf(err, errlen, "snapshot '%s' has no unit '%s' instance %u, which %s needs", name, v->units[i].name,
                     v->units[i].instance, v->units[i].owner->name);
            rc = -1;
        }
    free(l.loaded);
    if (!rc && !lazy) {
        /* Eager: every page in now, each one's hash checked before the guest runs. */
        rc = eager_restore_ram(v, reader, err, errlen);
    }
    if (rc || !lazy) {
        /* Refused, or eager: the VM never runs on a pager (which owns the reader once started). */
        if (lazy)
            snapshot_pager_finish(lazy);
        else
            ss_reader_close(reader);
        if (rc)
            return l.input_refused ? -2 : -1;
    }
    if (pager)
        *pager = lazy;
    /* Writes from here on are what the next incremental save on top of this snapshot must hold. */
    if (snapshot_dirty_logged(v))
        for (size_t r = 0; r < v->mem.count; r++) {
            const mem_region *m = &v->mem.regions[r];
            if (m->kind != MEM_RAM)
                continue;
            char ignored[64];
            free(snapshot_take_dirty(v, m, ignored, sizeof(ignored)));
        }
    snprintf(v->last_snapshot, sizeof(v->last_snapshot), "%s", name);
    return 0;
}
