/*
 * virtio-blk: the virtio block device (device ID 2, virtio 1.2 §5.2) on the virtio-mmio transport, over a raw image
 * (file=, a regular file or a block device whose size is a multiple of 512). Requests are served on the thread of
 * the QueueNotify write with pread/pwrite straight into guest RAM; FLUSH is fdatasync, DISCARD punches a hole.
 * Offered: SEG_MAX, BLK_SIZE, FLUSH, DISCARD (read-write) or RO (readonly=on).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, preadv */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
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

typedef struct virtio_blk {
    virtio_mmio t; /* first: the transport's callbacks receive the instance state */
    int fd;        /* 0 = not open (the state is zeroed); the descriptor is stored + 1 */
    int readonly;
    uint64_t sectors;
    char id[BLK_ID_BYTES];
    struct iovec iov[VIRTIO_REQ_MAX_SEGS];
    uint64_t bytes_read, bytes_written, flushes, discards;
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
static int blk_iov(virtio_blk *b, const virtio_req *req, int to_guest, uint64_t len)
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
        b->iov[n++] = (struct iovec){.iov_base = p, .iov_len = (size_t)l};
        len -= l;
        skip = 0;
    }
    return len ? -1 : (int)n;
}

static uint8_t blk_rw(virtio_blk *b, const virtio_req *req, int to_guest, uint64_t sector, uint64_t len)
{
    if (len % 512 || sector > b->sectors || len / 512 > b->sectors - sector)
        return BLK_S_IOERR;
    int n = blk_iov(b, req, to_guest, len);
    if (n < 0)
        return BLK_S_IOERR;
    off_t off = (off_t)(sector * 512);
    struct iovec *iov = b->iov;
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
        status = BLK_S_OK;
        if (!b->readonly && fdatasync(b->fd - 1) != 0) {
            t->hlp->log(t->inst, VMM_LOG_WARN, "flush: %s", strerror(errno));
            status = BLK_S_IOERR;
        }
        b->flushes++;
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
    uint64_t features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH | (b->readonly ? BLK_F_RO : BLK_F_DISCARD);
    return virtio_mmio_init(&b->t, inst, hlp, &blk_ops, features);
}

static void blk_destruct(vmm_instance *inst, void *state)
{
    virtio_blk *b = state;
    (void)inst;
    if (b->t.hlp) {
        virtio_mmio_stats(&b->t);
        if (b->t.hlp->stats_enabled(b->t.inst))
            fprintf(stderr, "virtio-blk: %" PRIu64 " bytes read, %" PRIu64 " written, %" PRIu64 " flushes, %" PRIu64
                    " discards\n", b->bytes_read, b->bytes_written, b->flushes, b->discards);
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
