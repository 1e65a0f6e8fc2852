/*
 * virtio-blk: the virtio block device (device ID 2, virtio 1.2 §5.2) on the virtio-mmio transport, over a raw image
 * (file=, a regular file or a block device whose size is a multiple of 512). With io=sync (the default) requests are
 * served on the thread of the QueueNotify write with preadv/pwritev straight into guest RAM; with io=thread reads,
 * writes and flushes go to a worker thread (in order, one at a time), the notify returns at once and an SDK timer
 * returns the finished chains and raises the interrupt; a save or a reset first waits for them (quiesce).
 * FLUSH is fdatasync, DISCARD punches a hole.
 * Offered: SEG_MAX, BLK_SIZE, FLUSH, DISCARD (read-write) or RO (readonly=on).
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
static uint8_t blk_transfer(virtio_blk *b, struct iovec *iov, int n, int to_guest, uint64_t sector, uint64_t len)
{
    off_t off = (off_t)(sector * 512);
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

static int blk_save(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_blk *b = (virtio_blk *)t;
    return t->hlp->ssm_put_u64(ssm, b->sectors);
}

static int blk_load(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_blk *b = (virtio_blk *)t;
    uint64_t sectors;
    if (t->hlp->ssm_get_u64(ssm, &sectors))
        return -1;
    if (sectors != b->sectors)
        return t->hlp->ssm_fail(ssm, "saved with an image of %" PRIu64 " sectors, file= has %" PRIu64, sectors,
                                b->sectors);
    return 0;
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

static int blk_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
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
    if (b->fd > 0)
        close(b->fd - 1);
}

static const vmm_option_desc blk_options[] = {
    VIRTIO_MMIO_OPTIONS,
    { .name = "file", .type = VMM_OPT_STRING, .default_value = NULL,
      .help = "raw image: a regular file or a block device, its size a multiple of 512 (required)" },
    { .name = "readonly", .type = VMM_OPT_BOOL, .default_value = "off",
      .help = "offer VIRTIO_BLK_F_RO and refuse writes (the image is opened read-only)" },
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
