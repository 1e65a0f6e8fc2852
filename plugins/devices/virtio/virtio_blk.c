/*
 * virtio-blk: the virtio block device (device ID 2, virtio 1.2 §5.2) on the virtio-mmio transport, over a raw image
 * (file=, a regular file or a block device whose size is a multiple of 512). With io=sync (the default) requests are
 * served on the thread of the QueueNotify write with preadv/pwritev straight into guest RAM; with io=thread reads,
 * writes and flushes go to a worker thread (in order, one at a time), the notify returns at once and an SDK timer
 * returns the finished chains and raises the interrupt; a save or a reset first waits for them (quiesce).
 * FLUSH is fdatasync, DISCARD punches a hole.
 * Offered: SEG_MAX, BLK_SIZE, FLUSH, DISCARD (read-write) or RO (readonly=on).
 * Snapshots (SDK 1.7 page data): the image's contents are part of the unit, as pages in the state database. Every
 * write and discard marks its 64 KiB clusters in a bitmap of the device's own, so an incremental save reads only
 * those; a full save reads the image's data (holes skipped). A restore writes back the pages that differ from the
 * file, zeroes what the snapshot holds as zero, and syncs, before the guest runs. readonly=on and snapshot=exclude
 * images are recorded by identity only (size, mtime, inode) and a restore refuses them changed (changed=accept
 * overrides). docs/saved-state.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, preadv */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

#define BLK_F_SEG_MAX (1ull << 2)
#define BLK_F_RO (1ull << 5)
#define BLK_F_BLK_SIZE (1ull << 6)
#define BLK_F_FLUSH (1ull << 9)
#define BLK_F_DISCARD (1ull << 13)

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_T_DISCARD 11

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define BLK_ID_BYTES 20
#define BLK_SEG_MAX (VIRTIO_REQ_MAX_SEGS - 2) /* the header and the status take one buffer each */
#define BLK_MAX_DISCARD_SEG 16
#define BLK_MAX_DISCARD_SECTORS (1u << 22)    /* 2 GiB per range */

#define BLK_SLOTS 32 /* requests in flight on the worker; more wait in the ring */

#define BLK_CLUSTER (64u * 1024) /* what the dirty bitmap tracks: one bit per 64 KiB of image */
#define BLK_CLUSTER_PAGES (BLK_CLUSTER / VMM_SSM_PAGE_SIZE)

/* What the unit's "disk" section records about the image. */
enum { BLK_SNAP_CONTENTS = 1, BLK_SNAP_IDENTITY = 2 };

/* One request handed to the worker (io=thread): its data buffers as iovecs into guest RAM, taken when it was
 * popped; the status byte's address. */
typedef struct blk_slot {
    uint16_t head;
    uint8_t type, status;
    int niov;
    uint64_t sector, len, status_gpa;
    uint32_t written;
    struct iovec iov[VIRTIO_REQ_MAX_SEGS];
} blk_slot;

typedef struct virtio_blk {
    virtio_mmio t; /* first: the transport's callbacks receive the instance state */
    int fd;        /* 0 = not open (the state is zeroed); the descriptor is stored + 1 */
    int readonly;
    uint64_t sectors;
    char id[BLK_ID_BYTES];
    struct iovec iov[VIRTIO_REQ_MAX_SEGS];
    uint64_t bytes_read, bytes_written, flushes, discards;
    uint64_t drained; /* requests a save or reset found in flight and waited for */
    /* Snapshots: the image's path (for messages), whether its contents are saved, the clusters written since the
     * last save or restore (set from any thread that serves requests; taken with the VM paused), and whether the
     * snapshot that last save or restore was holds the contents, so that the next save may be incremental. */
    char path[512];
    int snap_exclude, accept_changed, base_ok, warned;
    uint64_t nclusters;
    uint64_t *dirty;
    uint64_t snap_pages_read, snap_pages_written;
    /* io=thread: the worker, and what it shares with the instance's callbacks under `lock` */
    int threaded, started, stop, busy, waiting; /* waiting: a chain was left in the ring for want of a slot */
    virtio_thread worker;
    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    vmm_timer *timer;
    uint32_t free_mask;               /* bit i: slot i is free */
    uint8_t pending[BLK_SLOTS], done[BLK_SLOTS];
    unsigned npending, ndone;
    blk_slot slot[BLK_SLOTS];
} virtio_blk;

static uint64_t blk_config_read(virtio_mmio *t, uint64_t offset, unsigned size)
{
    virtio_blk *b = (virtio_blk *)t;
    uint8_t cfg[0x48] = {0};
    uint32_t seg_max = BLK_SEG_MAX, blk_size = 512, max_discard = BLK_MAX_DISCARD_SECTORS,
             discard_seg = BLK_MAX_DISCARD_SEG, discard_align = 1;
    memcpy(cfg + 0x00, &b->sectors, 8);
    memcpy(cfg + 0x0c, &seg_max, 4);
    memcpy(cfg + 0x14, &blk_size, 4);
    if (!b->readonly) {
        memcpy(cfg + 0x24, &max_discard, 4);
        memcpy(cfg + 0x28, &discard_seg, 4);
        memcpy(cfg + 0x2c, &discard_align, 4);
    }
    uint64_t v = 0;
    if (offset < sizeof(cfg) && size <= sizeof(cfg) - offset)
        memcpy(&v, cfg + offset, size);
    return v;
}

/* The request's data buffers as iovecs: the readable part after the 16-byte header (OUT), or the writable part
 * before the status byte (IN), straight into guest RAM (each buffer was checked to lie in one RAM region). */
static int blk_iov(virtio_blk *b, const virtio_req *req, int to_guest, uint64_t len, struct iovec *iovs)
{
    virtio_mmio *t = &b->t;
    unsigned first = to_guest ? req->nread : 0, end = to_guest ? req->nread + req->nwrite : req->nread, n = 0;
    uint64_t skip = to_guest ? 0 : 16;
    for (unsigned i = first; i < end && len; i++) {
        const virtio_seg *s = &req->seg[i];
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint64_t l = s->len - skip < len ? s->len - skip : len;
        void *p = t->hlp->mem_ptr(t->inst, s->addr + skip, (size_t)l, to_guest);
        if (!p)
            return -1;
        iovs[n++] = (struct iovec){.iov_base = p, .iov_len = (size_t)l};
        len -= l;
        skip = 0;
    }
    return len ? -1 : (int)n;
}

/* The transfer itself, on whichever thread serves the request; iov is consumed. */
/* Mark the clusters of [off, off + len) written: before the write, so that a save never misses one. */
static void blk_mark_dirty(virtio_blk *b, uint64_t off, uint64_t len)
{
    if (!len || !b->dirty)
        return;
    for (uint64_t c = off / BLK_CLUSTER, last = (off + len - 1) / BLK_CLUSTER; c <= last && c < b->nclusters; c++)
        __atomic_fetch_or(&b->dirty[c / 64], 1ull << (c % 64), __ATOMIC_RELAXED);
}

static uint8_t blk_transfer(virtio_blk *b, struct iovec *iov, int n, int to_guest, uint64_t sector, uint64_t len)
{
    off_t off = (off_t)(sector * 512);
    if (!to_guest)
        blk_mark_dirty(b, sector * 512, len);
    while (len) {
        ssize_t r = to_guest ? preadv(b->fd - 1, iov, n, off) : pwritev(b->fd - 1, iov, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            b->t.hlp->log(b->t.inst, VMM_LOG_WARN, "%s at sector %" PRIu64 ": %s", to_guest ? "read" : "write",
                          sector, r < 0 ? strerror(errno) : "the image ended early");
            return BLK_S_IOERR;
        }
        len -= (uint64_t)r;
        off += r;
        while (n && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    if (to_guest)
        b->bytes_read += (uint64_t)(off - (off_t)(sector * 512));
    else
        b->bytes_written += (uint64_t)(off - (off_t)(sector * 512));
    return BLK_S_OK;
}

static int blk_range_ok(const virtio_blk *b, uint64_t sector, uint64_t len)
{
    return len % 512 == 0 && sector <= b->sectors && len / 512 <= b->sectors - sector;
}

static uint8_t blk_rw(virtio_blk *b, const virtio_req *req, int to_guest, uint64_t sector, uint64_t len)
{
    if (!blk_range_ok(b, sector, len))
        return BLK_S_IOERR;
    int n = blk_iov(b, req, to_guest, len, b->iov);
    if (n < 0)
        return BLK_S_IOERR;
    return blk_transfer(b, b->iov, n, to_guest, sector, len);
}

static uint8_t blk_flush(virtio_blk *b)
{
    uint8_t status = BLK_S_OK;
    if (!b->readonly && fdatasync(b->fd - 1) != 0) {
        b->t.hlp->log(b->t.inst, VMM_LOG_WARN, "flush: %s", strerror(errno));
        status = BLK_S_IOERR;
    }
    b->flushes++;
    return status;
}

/* ---- io=thread: reads, writes and flushes on a worker; completions from the instance's timer ---- */

static void *blk_worker(void *arg)
{
    virtio_blk *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->npending && !b->stop)
            pthread_cond_wait(&b->work, &b->lock);
        if (!b->npending)
            break;
        blk_slot *s = &b->slot[b->pending[0]];
        unsigned idx = b->pending[0];
        memmove(b->pending, b->pending + 1, --b->npending);
        b->busy = 1;
        pthread_mutex_unlock(&b->lock);
        /* In order, one at a time: a FLUSH covers every write completed before it was taken. */
        if (s->type == BLK_T_FLUSH)
            s->status = blk_flush(b);
        else
            s->status = blk_transfer(b, s->iov, s->niov, s->type == BLK_T_IN, s->sector, s->len);
        s->written = (s->type == BLK_T_IN && s->status == BLK_S_OK ? (uint32_t)s->len : 0) + 1;
        pthread_mutex_lock(&b->lock);
        b->done[b->ndone++] = (uint8_t)idx;
        b->busy = 0;
        if (!b->npending)
            pthread_cond_broadcast(&b->idle);
        b->t.hlp->timer_arm(b->timer, 0, 0);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Return the finished requests to the driver (a callback of the instance: the timer, a save, a reset). Only the
 * timer takes more from the ring: a save or a reset must leave nothing in flight. */
static void blk_complete_done(virtio_blk *b, int take_more)
{
    uint8_t done[BLK_SLOTS];
    pthread_mutex_lock(&b->lock);
    unsigned n = b->ndone;
    memcpy(done, b->done, n);
    b->ndone = 0;
    pthread_mutex_unlock(&b->lock);
    for (unsigned i = 0; i < n; i++) {
        blk_slot *s = &b->slot[done[i]];
        b->t.hlp->mem_write(b->t.inst, s->status_gpa, &s->status, 1); /* checked in RAM when the chain was walked */
        virtio_mmio_complete(&b->t, 0, s->head, s->written);
        pthread_mutex_lock(&b->lock);
        b->free_mask |= 1u << done[i];
        pthread_mutex_unlock(&b->lock);
    }
    if (n)
        virtio_mmio_used_interrupt(&b->t, 0);
    if (n && b->waiting && take_more) {
        b->waiting = 0;
        virtio_mmio_kick(&b->t, 0);
    }
}

static void blk_timer(void *state, vmm_timer *timer)
{
    (void)timer;
    blk_complete_done(state, 1);
}

static void blk_quiesce(virtio_mmio *t)
{
    virtio_blk *b = (virtio_blk *)t;
    if (!b->started)
        return;
    pthread_mutex_lock(&b->lock);
    b->drained += b->npending + (unsigned)b->busy + b->ndone;
    while (b->npending || b->busy)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    blk_complete_done(b, 0);
}

/* Hand IN, OUT or FLUSH to the worker: VIRTIO_REQ_ASYNC, VIRTIO_REQ_LATER when every slot is taken, or -2 - status
 * when the request is answered at once (out of range). */
static int64_t blk_submit(virtio_blk *b, const virtio_req *req, uint32_t type, uint64_t sector, uint64_t len)
{
    if (type != BLK_T_FLUSH && !blk_range_ok(b, sector, len))
        return -10 - BLK_S_IOERR;
    pthread_mutex_lock(&b->lock);
    uint32_t mask = b->free_mask;
    pthread_mutex_unlock(&b->lock);
    if (!mask) {
        b->waiting = 1;
        return VIRTIO_REQ_LATER;
    }
    unsigned idx = (unsigned)__builtin_ctz(mask);
    blk_slot *s = &b->slot[idx];
    s->niov = 0;
    if (type != BLK_T_FLUSH) {
        s->niov = blk_iov(b, req, type == BLK_T_IN, len, s->iov);
        if (s->niov < 0)
            return -10 - BLK_S_IOERR;
    }
    /* The status byte: the last writable byte of the chain (its segment lies in RAM). */
    const virtio_seg *last = &req->seg[req->nread + req->nwrite - 1];
    s->status_gpa = last->addr + last->len - 1;
    s->head = req->head;
    s->type = (uint8_t)type;
    s->sector = sector;
    s->len = len;
    pthread_mutex_lock(&b->lock);
    b->free_mask &= ~(1u << idx);
    b->pending[b->npending++] = (uint8_t)idx;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    return VIRTIO_REQ_ASYNC;
}

static uint8_t blk_discard(virtio_blk *b, const virtio_req *req, uint64_t len)
{
    if (len == 0 || len % 16 || len / 16 > BLK_MAX_DISCARD_SEG)
        return BLK_S_IOERR;
    for (uint64_t off = 0; off < len; off += 16) {
        struct {
            uint64_t sector;
            uint32_t num_sectors, flags;
        } range;
        if (virtio_req_read(&b->t, req, 16 + off, &range, sizeof(range)))
            return BLK_S_IOERR;
        if (range.flags)
            return BLK_S_UNSUPP; /* §5.2.6.2: the unmap flag is for WRITE_ZEROES, which is not offered */
        if (range.num_sectors > BLK_MAX_DISCARD_SECTORS || range.sector > b->sectors ||
            range.num_sectors > b->sectors - range.sector)
            return BLK_S_IOERR;
    }
    for (uint64_t off = 0; off < len; off += 16) {
        struct {
            uint64_t sector;
            uint32_t num_sectors, flags;
        } range;
        virtio_req_read(&b->t, req, 16 + off, &range, sizeof(range));
        if (range.num_sectors == 0)
            continue;
        blk_mark_dirty(b, range.sector * 512, (uint64_t)range.num_sectors * 512);
        /* A discarded range reads back as zeros in a file; a filesystem or device that cannot punch holes only
         * loses the hint (§5.2.6: discarded data need not read as zeros). */
        if (fallocate(b->fd - 1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(range.sector * 512),
                      (off_t)range.num_sectors * 512) != 0 &&
            errno != EOPNOTSUPP) {
            b->t.hlp->log(b->t.inst, VMM_LOG_WARN, "discard at sector %" PRIu64 ": %s", range.sector, strerror(errno));
            return BLK_S_IOERR;
        }
    }
    b->discards++;
    return BLK_S_OK;
}

static int64_t blk_request(virtio_mmio *t, unsigned queue, const virtio_req *req)
{
    virtio_blk *b = (virtio_blk *)t;
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } hdr;
    if (req->read_len < sizeof(hdr) || req->write_len < 1) {
        virtio_mmio_fail(t, "queue %u: request of %" PRIu64 " readable and %" PRIu64 " writable bytes: a block request has a "
                         "16-byte header and a status byte", queue, req->read_len,
                         req->write_len);
        return -1;
    }
    virtio_req_read(t, req, 0, &hdr, sizeof(hdr));
    uint64_t in_len = req->write_len - 1, out_len = req->read_len - sizeof(hdr), written = 0;
    uint8_t status;
    if (b->threaded && (hdr.type == BLK_T_IN || (hdr.type == BLK_T_OUT && !b->readonly) ||
                        (hdr.type == BLK_T_FLUSH && !b->readonly))) {
        int64_t r = blk_submit(b, req, hdr.type, hdr.sector, hdr.type == BLK_T_IN ? in_len : out_len);
        if (r == VIRTIO_REQ_ASYNC || r == VIRTIO_REQ_LATER)
            return r;
        status = (uint8_t)(-10 - r);
        virtio_req_write(t, req, req->write_len - 1, &status, 1);
        return 1;
    }
    switch (hdr.type) {
    case BLK_T_IN:
        status = blk_rw(b, req, 1, hdr.sector, in_len);
        written = status == BLK_S_OK ? in_len : 0;
        break;
    case BLK_T_OUT:
        /* §5.2.6.2: with VIRTIO_BLK_F_RO offered, a write is refused with IOERR and no data written. */
        status = b->readonly ? BLK_S_IOERR : blk_rw(b, req, 0, hdr.sector, out_len);
        break;
    case BLK_T_FLUSH:
        status = blk_flush(b);
        break;
    case BLK_T_GET_ID:
        written = in_len < BLK_ID_BYTES ? in_len : BLK_ID_BYTES;
        virtio_req_write(t, req, 0, b->id, written);
        status = BLK_S_OK;
        break;
    case BLK_T_DISCARD:
        status = b->readonly ? BLK_S_UNSUPP : blk_discard(b, req, out_len);
        break;
    default:
        status = BLK_S_UNSUPP;
        break;
    }
    virtio_req_write(t, req, req->write_len - 1, &status, 1);
    return (int64_t)(written + 1);
}

/* ---- Snapshots ---- */

static int blk_snap_pages(const virtio_mmio *t)
{
    return VMM_HELPERS_HAVE(t->hlp, 7);
}

/* Read cluster c into buf (BLK_CLUSTER bytes; past the image's end zero). 0, or -1 after failing the unit. */
static int blk_read_cluster(virtio_blk *b, vmm_ssm *ssm, uint64_t c, uint8_t *buf)
{
    uint64_t size = b->sectors * 512, off = c * BLK_CLUSTER;
    size_t want = (size_t)(size - off < BLK_CLUSTER ? size - off : BLK_CLUSTER), got = 0;
    memset(buf + want, 0, BLK_CLUSTER - want);
    while (got < want) {
        ssize_t r = pread(b->fd - 1, buf + got, want - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return b->t.hlp->ssm_fail(ssm, "file=%s: reading it for the snapshot at byte %" PRIu64 ": %s", b->path,
                                      off + got, r < 0 ? strerror(errno) : "the image ended early");
        got += (size_t)r;
    }
    b->snap_pages_read += BLK_CLUSTER_PAGES;
    return 0;
}

/* The image's contents into the snapshot: every cluster with data (full), or those written since the save or
 * restore this one builds on (incremental). The VM is paused and requests quiesced: nothing writes meanwhile. */
static int blk_save_contents(virtio_blk *b, vmm_ssm *ssm)
{
    const vmm_helpers *h = b->t.hlp;
    int incremental = h->ssm_pages_incremental(ssm) && b->base_ok;
    uint8_t *buf = malloc(BLK_CLUSTER);
    if (!buf)
        return h->ssm_fail(ssm, "out of memory");
    int fd = b->fd - 1, rc = 0;
    uint64_t size = b->sectors * 512, saved = 0, pages = (size + VMM_SSM_PAGE_SIZE - 1) / VMM_SSM_PAGE_SIZE;
    /* A full save of the disk inside a snapshot the core records as incremental (the snapshot this process
     * restored held no contents of this disk): pages it leaves out would show its ancestors' through, so holes
     * are recorded as zero. */
    int explicit_zero = !incremental && h->ssm_pages_incremental(ssm);
    uint64_t zero_from = 0; /* explicit_zero: pages before this are recorded */
    for (uint64_t c = 0; c < b->nclusters && !rc; c++) {
        uint64_t bit = 1ull << (c % 64);
        int dirty = (b->dirty[c / 64] & bit) != 0;
        if (dirty)
            __atomic_fetch_and(&b->dirty[c / 64], ~bit, __ATOMIC_RELAXED);
        if (incremental && !dirty)
            continue;
        if (!incremental) {
            /* A full save skips holes: they read as zero, which a full snapshot need not record. */
            off_t data = lseek(fd, (off_t)(c * BLK_CLUSTER), SEEK_DATA);
            if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= size))
                break; /* no data from here to the end */
            if (data >= 0 && (uint64_t)data >= (c + 1) * BLK_CLUSTER) {
                c = (uint64_t)data / BLK_CLUSTER - 1;
                continue;
            }
        }
        if ((rc = blk_read_cluster(b, ssm, c, buf)))
            break;
        uint64_t first = c * BLK_CLUSTER_PAGES;
        uint64_t n = pages - first < BLK_CLUSTER_PAGES ? pages - first : BLK_CLUSTER_PAGES;
        if (explicit_zero && zero_from < first)
            rc = h->ssm_put_pages(ssm, zero_from, NULL, first - zero_from);
        if (!rc)
            rc = h->ssm_put_pages(ssm, first, buf, n); /* the image's pages only: the last cluster may be short */
        zero_from = first + n;
        saved++;
    }
    if (!rc && explicit_zero && zero_from < pages)
        rc = h->ssm_put_pages(ssm, zero_from, NULL, pages - zero_from);
    free(buf);
    if (!rc) {
        /* Clusters after the last data of a full save: their bits are stale too. */
        memset(b->dirty, 0, (b->nclusters / 64 + 1) * sizeof(uint64_t));
        b->base_ok = 1;
    }
    h->ssm_put_u64(ssm, incremental);
    h->ssm_put_u64(ssm, saved);
    return rc ? -1 : 0;
}

static int blk_save(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_blk *b = (virtio_blk *)t;
    const vmm_helpers *h = t->hlp;
    h->ssm_put_u64(ssm, b->sectors);
    /* Optional for older readers, which restore without it (and with the disk as they find it). */
    h->ssm_put_optional(ssm, "disk");
    int contents = !b->readonly && !b->snap_exclude && blk_snap_pages(t);
    struct stat st;
    if (fstat(b->fd - 1, &st) != 0)
        return h->ssm_fail(ssm, "file=%s: %s", b->path, strerror(errno));
    h->ssm_put_u64(ssm, contents ? BLK_SNAP_CONTENTS : BLK_SNAP_IDENTITY);
    h->ssm_put_str(ssm, b->path);
    h->ssm_put_u64(ssm, (uint64_t)st.st_ino);
    h->ssm_put_u64(ssm, (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec);
    if (contents) {
        h->ssm_put_u64(ssm, BLK_CLUSTER);
        blk_save_contents(b, ssm);
    }
    return h->ssm_end_optional(ssm);
}

/* Restore: the image's page i as the snapshot holds it (page NULL: zero), written only where the file differs. */
typedef struct blk_restore {
    virtio_blk *b;
    vmm_ssm *ssm;
    uint64_t *got; /* pages the snapshot records */
    uint8_t cur[VMM_SSM_PAGE_SIZE];
} blk_restore;

static int blk_restore_page(blk_restore *r, uint64_t index, const uint8_t *page)
{
    virtio_blk *b = r->b;
    uint64_t size = b->sectors * 512, off = index * VMM_SSM_PAGE_SIZE;
    if (off >= size)
        return b->t.hlp->ssm_fail(r->ssm, "file=%s: the snapshot holds page %" PRIu64 " past the image's end", b->path,
                                  index);
    size_t n = (size_t)(size - off < VMM_SSM_PAGE_SIZE ? size - off : VMM_SSM_PAGE_SIZE);
    static const uint8_t zero[VMM_SSM_PAGE_SIZE];
    const uint8_t *want = page ? page : zero;
    ssize_t got = pread(b->fd - 1, r->cur, n, (off_t)off);
    if (got == (ssize_t)n && memcmp(r->cur, want, n) == 0)
        return 0;
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(b->fd - 1, want + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return b->t.hlp->ssm_fail(r->ssm, "file=%s: writing the snapshot's contents at byte %" PRIu64 ": %s",
                                      b->path, off + done, w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    b->snap_pages_written++;
    return 0;
}

static int blk_restore_fn(void *ctx, uint64_t index, const void *page)
{
    blk_restore *r = ctx;
    r->got[index / 64] |= 1ull << (index % 64);
    return blk_restore_page(r, index, page) ? -1 : 0;
}

/* Put the image back into the snapshot's state: every page the snapshot records, then zero wherever it records
 * nothing (a full save leaves holes and zero pages out) and the file has data; then make it durable. */
static int blk_load_contents(virtio_blk *b, vmm_ssm *ssm)
{
    const vmm_helpers *h = b->t.hlp;
    uint64_t pages = (b->sectors * 512 + VMM_SSM_PAGE_SIZE - 1) / VMM_SSM_PAGE_SIZE;
    blk_restore *r = calloc(1, sizeof(*r));
    if (!r || !(r->got = calloc(pages / 64 + 1, sizeof(uint64_t)))) {
        free(r);
        return h->ssm_fail(ssm, "out of memory");
    }
    r->b = b;
    r->ssm = ssm;
    int rc = h->ssm_get_pages(ssm, 0, pages, blk_restore_fn, r) < 0 ? -1 : 0;
    int fd = b->fd - 1;
    for (uint64_t i = 0; !rc && i < pages; i++) {
        if (r->got[i / 64] & (1ull << (i % 64)))
            continue;
        off_t data = lseek(fd, (off_t)(i * VMM_SSM_PAGE_SIZE), SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only holes from here on: zero already */
        if (data > (off_t)(i * VMM_SSM_PAGE_SIZE)) {
            i = (uint64_t)data / VMM_SSM_PAGE_SIZE - 1;
            continue;
        }
        rc = blk_restore_page(r, i, NULL);
    }
    if (!rc && b->snap_pages_written && fdatasync(fd) != 0)
        rc = h->ssm_fail(ssm, "file=%s: syncing the restored contents: %s", b->path, strerror(errno));
    free(r->got);
    free(r);
    if (!rc) {
        memset(b->dirty, 0, (b->nclusters / 64 + 1) * sizeof(uint64_t));
        b->base_ok = 1;
    }
    return rc;
}

static int blk_load(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_blk *b = (virtio_blk *)t;
    const vmm_helpers *h = t->hlp;
    uint64_t sectors;
    if (h->ssm_get_u64(ssm, &sectors))
        return -1;
    if (sectors != b->sectors && blk_snap_pages(t))
        return h->ssm_fail_input(ssm, "virtio-blk file=%s: the snapshot was saved with an image of %" PRIu64
                                 " sectors, it has %" PRIu64 " now", b->path, sectors, b->sectors);
    if (sectors != b->sectors)
        return h->ssm_fail(ssm, "saved with an image of %" PRIu64 " sectors, file= has %" PRIu64, sectors,
                                b->sectors);
    b->base_ok = 0;
    int have = h->ssm_get_optional(ssm, "disk");
    if (have < 0)
        return -1;
    if (have == 0) {
        if (!b->warned++)
            h->log(t->inst, VMM_LOG_WARN, "file=%s: this snapshot does not hold the disk's contents (saved by a vmm "
                   "before disks were saved): the guest finds the image as it is now", b->path);
        return 0;
    }
    uint64_t mode, ino, mtime;
    char path[512];
    if (h->ssm_get_u64(ssm, &mode) || h->ssm_get_str(ssm, path, sizeof(path)) || h->ssm_get_u64(ssm, &ino) ||
        h->ssm_get_u64(ssm, &mtime))
        return -1;
    if (mode == BLK_SNAP_IDENTITY) {
        struct stat st;
        if (fstat(b->fd - 1, &st) != 0)
            return h->ssm_fail(ssm, "file=%s: %s", b->path, strerror(errno));
        uint64_t now = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        if (now != mtime || (uint64_t)st.st_ino != ino) {
            char what[160];
            if ((uint64_t)st.st_ino != ino)
                snprintf(what, sizeof(what), "it is another file (inode %" PRIu64 ", saved %" PRIu64 ")",
                         (uint64_t)st.st_ino, ino);
            else
                snprintf(what, sizeof(what), "its modification time moved by %+.3f s",
                         ((double)now - (double)mtime) / 1e9);
            if (!b->accept_changed)
                return h->ssm_fail_input(ssm, "virtio-blk file=%s changed since the snapshot was saved (%s); the "
                                         "snapshot does not hold it (%s): restore with changed=accept to use it as it "
                                         "is", b->path, what, b->readonly ? "readonly=on" : "snapshot=exclude");
            h->log(t->inst, VMM_LOG_WARN, "file=%s changed since the snapshot was saved (%s): used as it is "
                   "(changed=accept)", b->path, what);
        }
        return h->ssm_end_optional(ssm);
    }
    if (mode != BLK_SNAP_CONTENTS)
        return h->ssm_fail(ssm, "file=%s: the snapshot records the disk in an unknown way (%" PRIu64 ")", b->path,
                           mode);
    uint64_t cluster, incremental, saved;
    if (h->ssm_get_u64(ssm, &cluster) || h->ssm_get_u64(ssm, &incremental) || h->ssm_get_u64(ssm, &saved))
        return -1;
    (void)cluster;
    (void)incremental;
    (void)saved;
    if (b->readonly)
        return h->ssm_fail(ssm, "file=%s: the snapshot holds this disk's contents, but readonly=on cannot write them "
                           "back", b->path);
    if (!blk_snap_pages(t))
        return h->ssm_fail(ssm, "file=%s: the snapshot holds the disk's contents, which this vmm cannot read", b->path);
    if (blk_load_contents(b, ssm))
        return -1;
    return h->ssm_end_optional(ssm);
}

static const virtio_device_ops blk_ops = {
    .unit = "virtio-blk",
    .device_id = 2,
    .num_queues = 1,
    .config_read = blk_config_read,
    .request = blk_request,
    .save = blk_save,
    .load = blk_load,
    .quiesce = blk_quiesce,
};

static int blk_open(virtio_blk *b, vmm_instance *inst, const vmm_helpers *hlp, const char *path)
{
    struct stat st;
    uint64_t size;
    int fd = open(path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        hlp->log(inst, VMM_LOG_ERROR, "file=%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        hlp->log(inst, VMM_LOG_ERROR, "file=%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        size = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
            hlp->log(inst, VMM_LOG_ERROR, "file=%s: cannot read the block device's size: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    } else {
        hlp->log(inst, VMM_LOG_ERROR, "file=%s: not a regular file or a block device", path);
        close(fd);
        return -1;
    }
    if (size % 512 || size == 0) {
        hlp->log(inst, VMM_LOG_ERROR, "file=%s: %" PRIu64 " bytes, not a non-zero multiple of 512", path, size);
        close(fd);
        return -1;
    }
    b->fd = fd + 1;
    b->sectors = size / 512;
    /* GET_ID: the image's name, as much as fits (no NUL when it is 20 bytes or longer, §5.2.6). */
    const char *base = strrchr(path, '/');
    const char *name = base ? base + 1 : path;
    memcpy(b->id, name, strnlen(name, sizeof(b->id)));
    return 0;
}

static int blk_setup(vmm_instance *inst, const vmm_helpers *hlp, void *state);

/* The core does not call destruct after a construct that failed: what setup allocated is freed here. */
static int blk_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    virtio_blk *b = state;
    if (blk_setup(inst, hlp, state) == 0)
        return 0;
    free(b->dirty);
    b->dirty = NULL;
    return -1;
}

static int blk_setup(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    virtio_blk *b = state;
    const char *path = hlp->opt_string(inst, "file");
    if (!path || !*path) {
        hlp->log(inst, VMM_LOG_ERROR, "file= is required (the raw image to serve)");
        return -1;
    }
    b->readonly = hlp->opt_bool(inst, "readonly");
    if (blk_open(b, inst, hlp, path))
        return -1;
    snprintf(b->path, sizeof(b->path), "%s", path);
    const char *snap = hlp->opt_string(inst, "snapshot"), *changed = hlp->opt_string(inst, "changed");
    if (snap && strcmp(snap, "include") && strcmp(snap, "exclude")) {
        hlp->log(inst, VMM_LOG_ERROR, "snapshot=%s: include or exclude", snap);
        return -1;
    }
    if (changed && strcmp(changed, "refuse") && strcmp(changed, "accept")) {
        hlp->log(inst, VMM_LOG_ERROR, "changed=%s: refuse or accept", changed);
        return -1;
    }
    b->snap_exclude = snap && !strcmp(snap, "exclude");
    b->accept_changed = changed && !strcmp(changed, "accept");

    const char *io = hlp->opt_string(inst, "io");
    if (!io)
        io = "sync"; /* the core gives the default; a host that knows no io= (tests/fuzz) gets it too */
    if (strcmp(io, "thread") && strcmp(io, "sync")) {
        hlp->log(inst, VMM_LOG_ERROR, "io=%s: thread or sync", io);
        return -1;
    }
    uint64_t features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH | (b->readonly ? BLK_F_RO : BLK_F_DISCARD);
    if (virtio_mmio_init(&b->t, inst, hlp, &blk_ops, features))
        return -1;
    b->nclusters = (b->sectors * 512 + BLK_CLUSTER - 1) / BLK_CLUSTER;
    if (!(b->dirty = calloc(b->nclusters / 64 + 1, sizeof(uint64_t)))) {
        hlp->log(inst, VMM_LOG_ERROR, "out of memory for the map of %" PRIu64 " clusters", b->nclusters);
        return -1;
    }
    if (strcmp(io, "thread"))
        return 0;
    b->timer = hlp->timer_create(inst, blk_timer);
    if (!b->timer)
        return -1;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->idle, NULL);
    b->free_mask = (uint32_t)((1ull << BLK_SLOTS) - 1);
    if (virtio_thread_start(&b->worker, inst, hlp, "virtio-blk-io", blk_worker, b))
        return -1;
    b->threaded = b->started = 1;
    return 0;
}

static void blk_destruct(vmm_instance *inst, void *state)
{
    virtio_blk *b = state;
    (void)inst;
    if (b->started) {
        pthread_mutex_lock(&b->lock);
        b->stop = 1; /* the worker finishes what it was given first */
        pthread_cond_signal(&b->work);
        pthread_mutex_unlock(&b->lock);
        virtio_thread_join(&b->worker);
        b->started = 0;
    }
    if (b->t.hlp) {
        virtio_mmio_stats(&b->t);
        if (b->t.hlp->stats_enabled(b->t.inst))
            fprintf(stderr, "virtio-blk: %" PRIu64 " bytes read, %" PRIu64 " written, %" PRIu64 " flushes, %" PRIu64
                    " discards, %" PRIu64 " requests in flight waited for by saves and resets\n", b->bytes_read,
                    b->bytes_written, b->flushes, b->discards, b->drained);
    }
    if (b->t.hlp && b->t.hlp->stats_enabled(b->t.inst) && (b->snap_pages_read || b->snap_pages_written))
        fprintf(stderr, "virtio-blk: snapshots: %" PRIu64 " pages of the image read by saves, %" PRIu64 " written "
                "back by a restore\n", b->snap_pages_read, b->snap_pages_written);
    free(b->dirty);
    if (b->fd > 0)
        close(b->fd - 1);
}

static const vmm_option_desc blk_options[] = {
    VIRTIO_MMIO_OPTIONS,
    { .name = "file", .type = VMM_OPT_STRING, .default_value = NULL,
      .help = "raw image: a regular file or a block device, its size a multiple of 512 (required)" },
    { .name = "readonly", .type = VMM_OPT_BOOL, .default_value = "off",
      .help = "offer VIRTIO_BLK_F_RO and refuse writes (the image is opened read-only)" },
    { .name = "snapshot", .type = VMM_OPT_STRING, .default_value = "include",
      .help = "include: snapshots hold the image's contents and a restore puts them back; exclude: the image is "
              "external, snapshots record its identity and a restore refuses it changed (readonly=on: always so)" },
    { .name = "changed", .type = VMM_OPT_STRING, .default_value = "refuse",
      .help = "restoring with an excluded or read-only image that changed since the save: refuse (exit 2) or "
              "accept (use it as it is)" },
    { .name = "io", .type = VMM_OPT_STRING, .default_value = "sync",
      .help = "where reads, writes and flushes run: sync (on the vCPU thread that notified: the faster with one "
              "request in flight, docs/devices.md) or thread (a worker; the notify returns at once)" },
    { .name = NULL },
};

static const vmm_plugin_desc blk_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(virtio_blk),
    .name = "virtio-blk",
    .description = "virtio block device (virtio-mmio v2) over a raw image: file=PATH[,readonly=on]",
    .options = blk_options,
    .construct = blk_construct,
    .destruct = blk_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(blk_desc)
