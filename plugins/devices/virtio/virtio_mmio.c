/*
 * virtio_mmio: the virtio-mmio transport and split virtqueues shared by the virtio device plugins (see
 * virtio_mmio.h). Compiled into each of them; only <vmm/plugin.h> and system headers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio structures are little-endian and read here as host integers"
#endif

/* Register offsets (§4.2.2). */
enum {
    REG_MAGIC = 0x000,
    REG_VERSION = 0x004,
    REG_DEVICE_ID = 0x008,
    REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010,
    REG_DEVICE_FEATURES_SEL = 0x014,
    REG_DRIVER_FEATURES = 0x020,
    REG_DRIVER_FEATURES_SEL = 0x024,
    REG_QUEUE_SEL = 0x030,
    REG_QUEUE_NUM_MAX = 0x034,
    REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044,
    REG_QUEUE_NOTIFY = 0x050,
    REG_INTERRUPT_STATUS = 0x060,
    REG_INTERRUPT_ACK = 0x064,
    REG_STATUS = 0x070,
    REG_QUEUE_DESC_LOW = 0x080,
    REG_QUEUE_DESC_HIGH = 0x084,
    REG_QUEUE_DRIVER_LOW = 0x090,
    REG_QUEUE_DRIVER_HIGH = 0x094,
    REG_QUEUE_DEVICE_LOW = 0x0a0,
    REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_SHM_SEL = 0x0ac,
    REG_SHM_LEN_LOW = 0x0b0,
    REG_SHM_BASE_HIGH = 0x0bc,
    REG_CONFIG_GENERATION = 0x0fc,
    REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u  /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x00766d6du /* "mmv\0": this vmm */

#define STATUS_ACKNOWLEDGE 1u
#define STATUS_DRIVER 2u
#define STATUS_DRIVER_OK 4u
#define STATUS_FEATURES_OK 8u
#define STATUS_NEEDS_RESET 0x40u
#define STATUS_FAILED 0x80u

#define INT_USED_BUFFER 1u
#define INT_CONFIG_CHANGE 2u

#define DESC_F_NEXT 1u
#define DESC_F_WRITE 2u
#define DESC_F_INDIRECT 4u
#define AVAIL_F_NO_INTERRUPT 1u

#define VIRTIO_MMIO_STATE_VERSION 1

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static void virtio_irq_update(virtio_mmio *t)
{
    int level = t->int_status != 0;
    if (level != t->line) { /* the first call after a load may raise a line already high: idempotent */
        t->line = level;
        t->hlp->irq_set(t->inst, t->irq, level);
    }
}

static void virtio_interrupt(virtio_mmio *t, uint32_t bits)
{
    t->int_status |= bits;
    virtio_irq_update(t);
}

void virtio_mmio_fail(virtio_mmio *t, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    t->failures++;
    if (t->status & STATUS_NEEDS_RESET)
        return; /* one line per reset: the first reason is the one that matters */
    t->hlp->log(t->inst, VMM_LOG_WARN, "DEVICE_NEEDS_RESET: %s", why);
    t->status |= STATUS_NEEDS_RESET;
    /* §2.1.2: a device that enters NEEDS_RESET after DRIVER_OK tells the driver with a configuration change. */
    if (t->status & STATUS_DRIVER_OK)
        virtio_interrupt(t, INT_CONFIG_CHANGE);
}

static void virtio_reset(virtio_mmio *t)
{
    if (t->ops->quiesce)
        t->ops->quiesce(t);
    if (t->ops->reset)
        t->ops->reset(t);
    t->driver_features = 0;
    t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
    t->status = 0;
    t->int_status = 0;
    memset(t->q, 0, sizeof(t->q));
    virtio_irq_update(t);
}

static int range_in_ram(virtio_mmio *t, uint64_t addr, uint64_t len)
{
    if (len == 0)
        return 1;
    if (addr + len - 1 < addr)
        return 0; /* wraps around the address space */
    return t->hlp->mem_ptr(t->inst, addr, (size_t)len, 0) != NULL;
}

/* The three areas of a queue the driver made ready (§2.7): sizes, alignment, and that they lie in RAM. */
static int virtio_queue_check(virtio_mmio *t, unsigned qi, const virtio_queue *q)
{
    if (q->num == 0 || q->num > VIRTIO_QUEUE_NUM_MAX || (q->num & (q->num - 1))) {
        virtio_mmio_fail(t, "queue %u: size %" PRIu32 " (QueueNumMax %u, a power of 2)", qi, q->num,
                         VIRTIO_QUEUE_NUM_MAX);
        return -1;
    }
    struct {
        const char *what;
        uint64_t addr, len, align;
    } area[3] = {
        {"descriptor table", q->desc, 16ull * q->num, 16},
        {"available ring", q->driver, 6 + 2ull * q->num, 2},
        {"used ring", q->device, 6 + 8ull * q->num, 4},
    };
    for (unsigned i = 0; i < 3; i++) {
        if (area[i].addr % area[i].align) {
            virtio_mmio_fail(t, "queue %u: %s at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned", qi, area[i].what,
                             area[i].addr, area[i].align);
            return -1;
        }
        if (!range_in_ram(t, area[i].addr, area[i].len)) {
            virtio_mmio_fail(t, "queue %u: %s at 0x%" PRIx64 " (%" PRIu64 " bytes) is outside guest RAM", qi,
                             area[i].what, area[i].addr, area[i].len);
            return -1;
        }
    }
    return 0;
}

/* Walk the chain that starts at `head` into t->req. The walk visits at most the queue size of descriptors (and at
 * most an indirect table's length inside one), so a chain that loops ends as an error. */
static int virtio_chain(virtio_mmio *t, unsigned qi, uint16_t head)
{
    virtio_queue *q = &t->q[qi];
    virtio_req *r = &t->req;
    uint64_t table = q->desc;
    uint32_t table_len = q->num, visited = 0;
    int indirect = 0, seen_write = 0;
    uint32_t idx = head;

    r->nread = r->nwrite = 0;
    r->read_len = r->write_len = 0;
    for (;;) {
        struct vq_desc d;
        if (idx >= table_len) {
            virtio_mmio_fail(t, "queue %u: descriptor index %" PRIu32 " beyond the %s of %" PRIu32, qi, idx,
                             indirect ? "indirect table" : "queue size", table_len);
            return -1;
        }
        if (++visited > table_len) {
            virtio_mmio_fail(t, "queue %u: descriptor chain from head %u loops (more than %" PRIu32 " descriptors)",
                             qi, head, table_len);
            return -1;
        }
        if (t->hlp->mem_read(t->inst, table + 16ull * idx, &d, sizeof(d))) {
            virtio_mmio_fail(t, "queue %u: descriptor %" PRIu32 " outside guest RAM", qi, idx);
            return -1;
        }
        if (d.flags & DESC_F_INDIRECT) {
            if (!(t->driver_features & VIRTIO_F_RING_INDIRECT_DESC) || indirect || (d.flags & DESC_F_NEXT)) {
                virtio_mmio_fail(t, "queue %u: indirect descriptor %" PRIu32 " %s", qi, idx,
                                 indirect ? "inside an indirect table"
                                 : (d.flags & DESC_F_NEXT) ? "with NEXT set"
                                                           : "without VIRTIO_RING_F_INDIRECT_DESC negotiated");
                return -1;
            }
            if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTIO_REQ_MAX_SEGS) {
                virtio_mmio_fail(t, "queue %u: indirect table of %" PRIu32 " bytes (a multiple of 16, at most %u "
                                 "descriptors)", qi, d.len, VIRTIO_REQ_MAX_SEGS);
                return -1;
            }
            if (d.addr % 16 || !range_in_ram(t, d.addr, d.len)) {
                virtio_mmio_fail(t, "queue %u: indirect table at 0x%" PRIx64 " (%" PRIu32 " bytes) unaligned or "
                                 "outside guest RAM", qi, d.addr, d.len);
                return -1;
            }
            table = d.addr;
            table_len = d.len / 16;
            visited = 0;
            indirect = 1;
            idx = 0;
            continue;
        }
        if (!range_in_ram(t, d.addr, d.len)) {
            virtio_mmio_fail(t, "queue %u: buffer at 0x%" PRIx64 " (%" PRIu32 " bytes) is outside guest RAM", qi,
                             d.addr, d.len);
            return -1;
        }
        if (d.flags & DESC_F_WRITE) {
            seen_write = 1;
            r->write_len += d.len;
        } else {
            if (seen_write) {
                virtio_mmio_fail(t, "queue %u: device-readable descriptor %" PRIu32 " after a writable one", qi, idx);
                return -1;
            }
            r->read_len += d.len;
        }
        if (d.len) {
            if (r->nread + r->nwrite >= VIRTIO_REQ_MAX_SEGS) {
                virtio_mmio_fail(t, "queue %u: more than %u buffers in one request", qi, VIRTIO_REQ_MAX_SEGS);
                return -1;
            }
            r->seg[r->nread + r->nwrite] = (virtio_seg){.addr = d.addr, .len = d.len};
            if (d.flags & DESC_F_WRITE)
                r->nwrite++;
            else
                r->nread++;
        }
        if (!(d.flags & DESC_F_NEXT))
            return 0;
        idx = d.next;
    }
}

static void virtio_queue_notify(virtio_mmio *t, unsigned qi)
{
    virtio_queue *q = &t->q[qi];
    int used = 0;
    uint16_t avail_idx, flags;

    if (t->hlp->mem_read(t->inst, q->driver + 2, &avail_idx, 2)) {
        virtio_mmio_fail(t, "queue %u: available ring outside guest RAM", qi);
        return;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the ring entries and descriptors after the index (§2.7.13) */
    for (;;) {
        uint16_t ahead = (uint16_t)(avail_idx - q->last_avail);
        if (ahead == 0)
            break;
        if (ahead > q->num) {
            virtio_mmio_fail(t, "queue %u: available index %u is %u entries past the device's %u, beyond the queue "
                             "size %" PRIu32, qi, avail_idx, ahead, q->last_avail, q->num);
            return;
        }
        while (q->last_avail != avail_idx) {
            uint16_t head;
            if (t->hlp->mem_read(t->inst, q->driver + 4 + 2ull * (q->last_avail % q->num), &head, 2)) {
                virtio_mmio_fail(t, "queue %u: available ring outside guest RAM", qi);
                return;
            }
            if (head >= q->num) {
                virtio_mmio_fail(t, "queue %u: available ring entry %u names descriptor %u, beyond the queue size %"
                                 PRIu32, qi, q->last_avail % q->num, head, q->num);
                return;
            }
            if (virtio_chain(t, qi, head))
                return;
            t->requests++;
            t->req.head = head;
            int64_t written = t->ops->request(t, qi, &t->req);
            if (written == VIRTIO_REQ_LATER) {
                t->requests--; /* counted when it is served */
                goto done;
            }
            if (written == VIRTIO_REQ_ASYNC) {
                q->last_avail++;
                continue;
            }
            if (written < 0)
                return;
            struct {
                uint32_t id, len;
            } elem = {head, (uint32_t)written};
            q->last_avail++;
            if (t->hlp->mem_write(t->inst, q->device + 4 + 8ull * (q->used_idx % q->num), &elem, sizeof(elem))) {
                virtio_mmio_fail(t, "queue %u: used ring outside guest RAM", qi);
                return;
            }
            q->used_idx++;
            __atomic_thread_fence(__ATOMIC_RELEASE); /* the element before the index */
            if (t->hlp->mem_write(t->inst, q->device + 2, &q->used_idx, 2)) {
                virtio_mmio_fail(t, "queue %u: used ring outside guest RAM", qi);
                return;
            }
            used = 1;
        }
        /* Another vCPU may have added buffers meanwhile. */
        if (t->hlp->mem_read(t->inst, q->driver + 2, &avail_idx, 2))
            break;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    }
done:
    if (used) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (t->hlp->mem_read(t->inst, q->driver, &flags, 2) == 0 && (flags & AVAIL_F_NO_INTERRUPT))
            return;
        virtio_interrupt(t, INT_USED_BUFFER);
    }
}

void virtio_mmio_complete(virtio_mmio *t, unsigned queue, uint16_t head, uint32_t written)
{
    virtio_queue *q = &t->q[queue];
    if (!q->ready || (t->status & STATUS_NEEDS_RESET))
        return;
    struct {
        uint32_t id, len;
    } elem = {head, written};
    if (t->hlp->mem_write(t->inst, q->device + 4 + 8ull * (q->used_idx % q->num), &elem, sizeof(elem))) {
        virtio_mmio_fail(t, "queue %u: used ring outside guest RAM", queue);
        return;
    }
    q->used_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (t->hlp->mem_write(t->inst, q->device + 2, &q->used_idx, 2))
        virtio_mmio_fail(t, "queue %u: used ring outside guest RAM", queue);
}

void virtio_mmio_used_interrupt(virtio_mmio *t, unsigned queue)
{
    uint16_t flags;
    if (!t->q[queue].ready)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (t->hlp->mem_read(t->inst, t->q[queue].driver, &flags, 2) == 0 && (flags & AVAIL_F_NO_INTERRUPT))
        return;
    virtio_interrupt(t, INT_USED_BUFFER);
}

void virtio_mmio_kick(virtio_mmio *t, unsigned queue)
{
    if (queue < t->ops->num_queues && (t->status & (STATUS_DRIVER_OK | STATUS_NEEDS_RESET)) == STATUS_DRIVER_OK &&
        t->q[queue].ready)
        virtio_queue_notify(t, queue);
}

int virtio_req_read(virtio_mmio *t, const virtio_req *req, uint64_t offset, void *buf, uint64_t len)
{
    uint8_t *out = buf;
    if (offset > req->read_len || len > req->read_len - offset)
        return -1;
    for (unsigned i = 0; i < req->nread && len; i++) {
        const virtio_seg *s = &req->seg[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        uint64_t n = s->len - offset < len ? s->len - offset : len;
        if (t->hlp->mem_read(t->inst, s->addr + offset, out, (size_t)n))
            return -1;
        out += n;
        len -= n;
        offset = 0;
    }
    return 0;
}

int virtio_req_write(virtio_mmio *t, const virtio_req *req, uint64_t offset, const void *buf, uint64_t len)
{
    const uint8_t *in = buf;
    if (offset > req->write_len || len > req->write_len - offset)
        return -1;
    for (unsigned i = req->nread; i < req->nread + req->nwrite && len; i++) {
        const virtio_seg *s = &req->seg[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        uint64_t n = s->len - offset < len ? s->len - offset : len;
        if (t->hlp->mem_write(t->inst, s->addr + offset, in, (size_t)n))
            return -1;
        in += n;
        len -= n;
        offset = 0;
    }
    return 0;
}

static uint64_t virtio_mmio_read(void *state, uint64_t offset, unsigned size)
{
    virtio_mmio *t = state;
    if (offset >= REG_CONFIG)
        return t->ops->config_read(t, offset - REG_CONFIG, size);
    if (size != 4 || offset % 4)
        return 0; /* §4.2.2.2: the registers are read 32 bits at a time */
    const virtio_queue *q = t->queue_sel < t->ops->num_queues ? &t->q[t->queue_sel] : NULL;
    switch (offset) {
    case REG_MAGIC:
        return VIRTIO_MMIO_MAGIC;
    case REG_VERSION:
        return 2;
    case REG_DEVICE_ID:
        return t->ops->device_id;
    case REG_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case REG_DEVICE_FEATURES:
        return t->device_features_sel == 0   ? (uint32_t)t->device_features
               : t->device_features_sel == 1 ? (uint32_t)(t->device_features >> 32)
                                             : 0;
    case REG_QUEUE_NUM_MAX:
        return q ? VIRTIO_QUEUE_NUM_MAX : 0;
    case REG_QUEUE_NUM:
        return q ? q->num : 0;
    case REG_QUEUE_READY:
        return q ? q->ready : 0;
    case REG_INTERRUPT_STATUS:
        return t->int_status;
    case REG_STATUS:
        return t->status;
    case REG_QUEUE_DESC_LOW:
        return q ? (uint32_t)q->desc : 0;
    case REG_QUEUE_DESC_HIGH:
        return q ? (uint32_t)(q->desc >> 32) : 0;
    case REG_QUEUE_DRIVER_LOW:
        return q ? (uint32_t)q->driver : 0;
    case REG_QUEUE_DRIVER_HIGH:
        return q ? (uint32_t)(q->driver >> 32) : 0;
    case REG_QUEUE_DEVICE_LOW:
        return q ? (uint32_t)q->device : 0;
    case REG_QUEUE_DEVICE_HIGH:
        return q ? (uint32_t)(q->device >> 32) : 0;
    case REG_CONFIG_GENERATION:
        return t->config_generation;
    default:
        /* SHMLen/SHMBase all ones: no shared memory region (§4.2.2). */
        if (offset >= REG_SHM_LEN_LOW && offset <= REG_SHM_BASE_HIGH)
            return 0xffffffffu;
        return 0;
    }
}

static void set_half(uint64_t *reg, int high, uint64_t val)
{
    if (high)
        *reg = (*reg & 0xffffffffull) | ((val & 0xffffffffull) << 32);
    else
        *reg = (*reg & ~0xffffffffull) | (val & 0xffffffffull);
}

static void virtio_status_write(virtio_mmio *t, uint32_t val)
{
    if (val == 0) {
        virtio_reset(t);
        return;
    }
    uint32_t old = t->status;
    if ((val & STATUS_FEATURES_OK) && !(old & STATUS_FEATURES_OK)) {
        /* §3.1.1: FEATURES_OK stays clear when the device cannot take the driver's choice. */
        if (t->driver_features & ~t->device_features) {
            t->hlp->log(t->inst, VMM_LOG_INFO, "driver features 0x%" PRIx64 " include some not offered (0x%" PRIx64
                        "): FEATURES_OK refused", t->driver_features, t->device_features);
            val &= ~STATUS_FEATURES_OK;
        } else if (!(t->driver_features & VIRTIO_F_VERSION_1)) {
            t->hlp->log(t->inst, VMM_LOG_INFO, "driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not "
                        "supported): FEATURES_OK refused");
            val &= ~STATUS_FEATURES_OK;
        }
    }
    t->status = (val & ~STATUS_NEEDS_RESET) | (old & STATUS_NEEDS_RESET);
}

static void virtio_mmio_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    virtio_mmio *t = state;
    if (offset >= REG_CONFIG)
        return; /* no device here has writable configuration */
    if (size != 4 || offset % 4) {
        t->hlp->log(t->inst, VMM_LOG_DEBUG, "ignored %u-byte write at register 0x%" PRIx64, size, offset);
        return;
    }
    uint32_t v = (uint32_t)val;
    virtio_queue *q = t->queue_sel < t->ops->num_queues ? &t->q[t->queue_sel] : NULL;
    int setup = q && !q->ready && !(t->status & STATUS_NEEDS_RESET);
    switch (offset) {
    case REG_DEVICE_FEATURES_SEL:
        t->device_features_sel = v;
        break;
    case REG_DRIVER_FEATURES:
        if (!(t->status & STATUS_FEATURES_OK) && t->driver_features_sel < 2)
            set_half(&t->driver_features, t->driver_features_sel == 1, v);
        break;
    case REG_DRIVER_FEATURES_SEL:
        t->driver_features_sel = v;
        break;
    case REG_QUEUE_SEL:
        t->queue_sel = v;
        break;
    case REG_QUEUE_NUM:
        if (!setup)
            break;
        if (v == 0 || v > VIRTIO_QUEUE_NUM_MAX || (v & (v - 1))) {
            virtio_mmio_fail(t, "queue %" PRIu32 ": QueueNum %" PRIu32 " (QueueNumMax %u, a power of 2)", t->queue_sel,
                             v, VIRTIO_QUEUE_NUM_MAX);
            break;
        }
        q->num = v;
        break;
    case REG_QUEUE_READY:
        if (!q || (t->status & STATUS_NEEDS_RESET))
            break;
        if ((v & 1) && !q->ready) {
            if (virtio_queue_check(t, t->queue_sel, q))
                break;
            q->last_avail = q->used_idx = 0;
        }
        q->ready = v & 1;
        break;
    case REG_QUEUE_NOTIFY:
        if (v >= t->ops->num_queues) {
            t->hlp->log(t->inst, VMM_LOG_DEBUG, "notify of queue %" PRIu32 ", which does not exist", v);
            break;
        }
        /* §2.7.13: nothing is consumed before DRIVER_OK; a device that needs a reset does nothing more. */
        if ((t->status & (STATUS_DRIVER_OK | STATUS_NEEDS_RESET)) == STATUS_DRIVER_OK && t->q[v].ready)
            virtio_queue_notify(t, v);
        break;
    case REG_INTERRUPT_ACK:
        t->int_status &= ~v;
        virtio_irq_update(t);
        break;
    case REG_STATUS:
        virtio_status_write(t, v);
        break;
    case REG_QUEUE_DESC_LOW:
    case REG_QUEUE_DESC_HIGH:
        if (setup)
            set_half(&q->desc, offset == REG_QUEUE_DESC_HIGH, v);
        break;
    case REG_QUEUE_DRIVER_LOW:
    case REG_QUEUE_DRIVER_HIGH:
        if (setup)
            set_half(&q->driver, offset == REG_QUEUE_DRIVER_HIGH, v);
        break;
    case REG_QUEUE_DEVICE_LOW:
    case REG_QUEUE_DEVICE_HIGH:
        if (setup)
            set_half(&q->device, offset == REG_QUEUE_DEVICE_HIGH, v);
        break;
    case REG_SHM_SEL:
        break;
    default:
        t->hlp->log(t->inst, VMM_LOG_DEBUG, "ignored write of 0x%" PRIx32 " to register 0x%" PRIx64, v, offset);
        break;
    }
}

static int virtio_save(void *state, vmm_ssm *ssm)
{
    virtio_mmio *t = state;
    const vmm_helpers *h = t->hlp;
    if (t->ops->quiesce)
        t->ops->quiesce(t); /* the VM is paused: what is in flight completes into the rings being saved */
    h->ssm_put_u64(ssm, t->base);
    h->ssm_put_u64(ssm, t->irq);
    h->ssm_put_u64(ssm, t->ops->device_id);
    h->ssm_put_u64(ssm, t->device_features);
    h->ssm_put_u64(ssm, t->driver_features);
    h->ssm_put_u64(ssm, t->device_features_sel);
    h->ssm_put_u64(ssm, t->driver_features_sel);
    h->ssm_put_u64(ssm, t->queue_sel);
    h->ssm_put_u64(ssm, t->status);
    h->ssm_put_u64(ssm, t->int_status);
    h->ssm_put_u64(ssm, t->config_generation);
    h->ssm_put_u64(ssm, t->ops->num_queues);
    for (unsigned i = 0; i < t->ops->num_queues; i++) {
        const virtio_queue *q = &t->q[i];
        h->ssm_put_u64(ssm, q->num);
        h->ssm_put_u64(ssm, q->ready);
        h->ssm_put_u64(ssm, q->desc);
        h->ssm_put_u64(ssm, q->driver);
        h->ssm_put_u64(ssm, q->device);
        h->ssm_put_u64(ssm, q->last_avail);
        h->ssm_put_u64(ssm, q->used_idx);
    }
    if (t->ops->save)
        return t->ops->save(t, ssm);
    return h->ssm_put_u64(ssm, 0);
}

static int virtio_load(void *state, vmm_ssm *ssm, uint32_t version)
{
    virtio_mmio *t = state;
    const vmm_helpers *h = t->hlp;
    uint64_t base, irq, id, dev_features, v[8], nq;
    if (version != VIRTIO_MMIO_STATE_VERSION)
        return h->ssm_fail(ssm, "unknown version %" PRIu32 " (this device saves version %u)", version,
                           VIRTIO_MMIO_STATE_VERSION);
    if (h->ssm_get_u64(ssm, &base) || h->ssm_get_u64(ssm, &irq) || h->ssm_get_u64(ssm, &id) ||
        h->ssm_get_u64(ssm, &dev_features))
        return -1;
    if (base != t->base || irq != t->irq || id != t->ops->device_id)
        return h->ssm_fail(ssm, "saved at 0x%" PRIx64 " IRQ %" PRIu64 " device ID %" PRIu64 "; configured at 0x%" PRIx64
                           " IRQ %" PRIu32 " device ID %" PRIu32, base, irq, id, t->base, t->irq, t->ops->device_id);
    if (dev_features != t->device_features)
        return h->ssm_fail(ssm, "saved offering features 0x%" PRIx64 ", configured offering 0x%" PRIx64 " (readonly= "
                           "differs?)", dev_features, t->device_features);
    for (unsigned i = 0; i < 7; i++)
        h->ssm_get_u64(ssm, &v[i]);
    if (h->ssm_get_u64(ssm, &nq))
        return -1;
    if (nq != t->ops->num_queues)
        return h->ssm_fail(ssm, "%" PRIu64 " queues saved, the device has %u", nq, t->ops->num_queues);
    t->driver_features = v[0];
    t->device_features_sel = (uint32_t)v[1];
    t->driver_features_sel = (uint32_t)v[2];
    t->queue_sel = (uint32_t)v[3];
    t->status = (uint32_t)v[4];
    t->int_status = (uint32_t)v[5];
    t->config_generation = (uint32_t)v[6];
    for (unsigned i = 0; i < nq; i++) {
        virtio_queue *q = &t->q[i];
        uint64_t f[7];
        for (unsigned j = 0; j < 7; j++)
            h->ssm_get_u64(ssm, &f[j]);
        if (f[0] > VIRTIO_QUEUE_NUM_MAX || (f[0] & (f[0] - 1)) || f[1] > 1 || f[5] > 0xffff || f[6] > 0xffff)
            return h->ssm_fail(ssm, "queue %u: size %" PRIu64 ", ready %" PRIu64 ", indices %" PRIu64 "/%" PRIu64
                               " out of range", i, f[0], f[1], f[5], f[6]);
        *q = (virtio_queue){.num = (uint32_t)f[0], .ready = (uint32_t)f[1], .desc = f[2], .driver = f[3],
                            .device = f[4], .last_avail = (uint16_t)f[5], .used_idx = (uint16_t)f[6]};
    }
    /* A ready queue's areas are checked again: the snapshot is input like any other. */
    for (unsigned i = 0; i < nq; i++)
        if (t->q[i].ready && !(t->status & STATUS_NEEDS_RESET) && virtio_queue_check(t, i, &t->q[i]))
            return h->ssm_fail(ssm, "queue %u: saved areas outside this VM's RAM", i);
    /* The interrupt controller saved our line's level itself, but it may have been saved before this unit, whose
     * save completed in-flight requests (ops->quiesce) and so may have raised the line after: assert the level
     * again (the architecture's units are registered, saved and loaded before the devices', and a level already
     * high stays as it is). */
    t->line = 0;
    virtio_irq_update(t);
    if (t->ops->load)
        return t->ops->load(t, ssm);
    uint64_t none;
    return h->ssm_get_u64(ssm, &none);
}

int virtio_mmio_init(virtio_mmio *t, vmm_instance *inst, const vmm_helpers *hlp, const virtio_device_ops *ops,
                     uint64_t features)
{
    t->inst = inst;
    t->hlp = hlp;
    t->ops = ops;
    /* What the user left out comes from the architecture's next slot (x86-raw keeps some clear of its board), or
     * from QEMU virt's first slot where the architecture keeps none (riscv64). */
    t->base = VIRTIO_MMIO_DEFAULT_BASE;
    t->irq = VIRTIO_MMIO_DEFAULT_IRQ;
    if ((!hlp->opt_is_set(inst, "base") || !hlp->opt_is_set(inst, "irq")) && VMM_HELPERS_HAVE(hlp, 7)) {
        uint64_t base;
        uint32_t irq;
        int rc = hlp->mmio_slot_claim(inst, VIRTIO_MMIO_SIZE, &base, &irq);
        if (rc == -2)
            return -1; /* all taken: the core said so */
        if (rc == 0) {
            t->base = base;
            t->irq = irq;
        }
    }
    if (hlp->opt_is_set(inst, "base"))
        t->base = hlp->opt_u64(inst, "base");
    if (hlp->opt_is_set(inst, "irq"))
        t->irq = (uint32_t)hlp->opt_u64(inst, "irq");
    t->device_features = features | VIRTIO_F_VERSION_1 | VIRTIO_F_RING_INDIRECT_DESC;
    if (t->base % 0x200) {
        hlp->log(inst, VMM_LOG_ERROR, "base=0x%" PRIx64 ": not 512-byte aligned", t->base);
        return -1;
    }
    if (hlp->mmio_register(inst, t->base, VIRTIO_MMIO_SIZE, virtio_mmio_read, virtio_mmio_write))
        return -1;
    /* In the guest's device tree where the architecture builds one (riscv64): how Linux finds the device. */
    if (VMM_HELPERS_HAVE(hlp, 6) && hlp->fdt_describe(inst, "virtio_mmio", "virtio,mmio", (int)t->irq))
        return -1;
    return hlp->ssm_register(inst, ops->unit, (uint32_t)(t->base >> 9), VIRTIO_MMIO_STATE_VERSION, virtio_save,
                             virtio_load);
}

void virtio_mmio_stats(virtio_mmio *t)
{
    if (t->hlp->stats_enabled(t->inst))
        fprintf(stderr, "%s at 0x%" PRIx64 ": %" PRIu64 " requests, %" PRIu64 " driver errors\n", t->ops->unit,
                t->base, t->requests, t->failures);
}
