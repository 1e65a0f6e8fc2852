/*
 * virtio_mmio: the virtio-mmio transport (virtio 1.2 §4.2, version 2 registers only) and split virtqueues (§2.7),
 * shared by the virtio device plugins (virtio-rng, virtio-blk, virtio-console, virtio-net), each of which links it. Written against
 * <vmm/plugin.h> alone, like every device plugin. A device embeds a virtio_mmio as the first member of its
 * instance state, calls virtio_mmio_init from construct, and answers requests through virtio_device_ops.
 *
 * Requests are popped on the thread of the QueueNotify write (a vCPU's) or in a callback that kicks the queue. A
 * device answers each at once, leaves it in the ring for later (VIRTIO_REQ_LATER), or takes it to finish on a
 * thread of its own (VIRTIO_REQ_ASYNC) and then drains those in ops->quiesce, which the transport calls before it
 * saves its state and before a reset: so no request is in flight in a snapshot, whose state is the registers and
 * the queues' indices.
 * Every guest-supplied address goes through mem_read/mem_write, or through mem_ptr after the whole range was
 * checked; a driver that breaks the rules (a looping chain, an index beyond the queue, memory outside RAM, ...)
 * puts the device in DEVICE_NEEDS_RESET with one log line naming the reason (virtio_mmio_fail).
 */
#ifndef VIRTIO_MMIO_H
#define VIRTIO_MMIO_H

#include <stdint.h>

#include <vmm/plugin.h>

#define VIRTIO_MMIO_SIZE 0x200     /* one QEMU virt slot */
#define VIRTIO_QUEUE_NUM_MAX 256   /* QueueNumMax of every queue */
#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_REQ_MAX_SEGS 256    /* non-empty buffers in one chain, indirect tables included */

#define VIRTIO_F_VERSION_1 (1ull << 32)
#define VIRTIO_F_RING_INDIRECT_DESC (1ull << 28)

/* Where the architecture keeps no slots for such devices (SDK 1.7 mmio_slot_claim; riscv64): QEMU virt's first. */
#define VIRTIO_MMIO_DEFAULT_BASE 0x10001000u
#define VIRTIO_MMIO_DEFAULT_IRQ 1u

/* The options every virtio device has; a device's own table starts with these. */
#define VIRTIO_MMIO_OPTIONS                                                                                        \
    { .name = "base", .type = VMM_OPT_U64, .default_value = NULL,                                                  \
      .help = "guest-physical address of the 512-byte register window; default: the architecture's next free "    \
              "slot (x86-raw: 0xd0000000 + n * 0x1000), else 0x10001000 (QEMU virt slot 0; slot n: 0x10001000 + "  \
              "n * 0x1000)" },                                                                                      \
    { .name = "irq", .type = VMM_OPT_U64, .default_value = NULL, .min = 1, .max = 1023,                             \
      .help = "interrupt line; default: the slot's (x86-raw: ISA IRQ 5, 6, 7, 9, 10, 11, 14, 15), else 1 "          \
              "(riscv64: PLIC source; QEMU virt slot n uses 1 + n)" }

/* One non-empty guest buffer of a request; the whole range was checked to lie in one RAM region. */
typedef struct virtio_seg {
    uint64_t addr;
    uint32_t len;
} virtio_seg;

/* A descriptor chain: device-readable buffers first (seg[0 .. nread)), then device-writable ones. */
typedef struct virtio_req {
    uint16_t head; /* the chain's first descriptor: what virtio_mmio_complete names */
    unsigned nread, nwrite;
    uint64_t read_len, write_len;
    virtio_seg seg[VIRTIO_REQ_MAX_SEGS];
} virtio_req;

typedef struct virtio_mmio virtio_mmio;

#define VIRTIO_REQ_LATER (-2)
#define VIRTIO_REQ_ASYNC (-3)

typedef struct virtio_device_ops {
    const char *unit;  /* saved-state unit name */
    uint32_t device_id;
    unsigned num_queues;
    /* Device-specific configuration space (offset from 0x100); reads beyond it return 0. */
    uint64_t (*config_read)(virtio_mmio *t, uint64_t offset, unsigned size);
    /* One request popped from queue `queue`: return the bytes written into the writable buffers, or -1 after
     * virtio_mmio_fail (the request is then not returned to the driver), or VIRTIO_REQ_LATER: the device cannot
     * serve it now (no input yet, its backend is full); the chain stays at the head of the available ring and the
     * queue is not processed further until virtio_mmio_kick or the driver's next notify. Or VIRTIO_REQ_ASYNC: the
     * chain is taken and will be returned by virtio_mmio_complete (from a callback of the instance). */
    int64_t (*request)(virtio_mmio *t, unsigned queue, const virtio_req *req);
    /* Optional: the device's own saved fields, appended to the transport's unit (load may refuse with ssm_fail). */
    int (*save)(virtio_mmio *t, vmm_ssm *ssm);
    int (*load)(virtio_mmio *t, vmm_ssm *ssm);
    /* Optional, for devices that answer VIRTIO_REQ_ASYNC: finish every request taken and virtio_mmio_complete it,
     * before the transport saves its state (so a snapshot holds no half-served request) and before a reset. */
    void (*quiesce)(virtio_mmio *t);
    /* Optional: the driver reset the device (after quiesce): forget per-request progress. */
    void (*reset)(virtio_mmio *t);
} virtio_device_ops;

typedef struct virtio_queue {
    uint32_t num, ready;
    uint64_t desc, driver, device; /* descriptor table, available ring, used ring */
    uint16_t last_avail, used_idx;
} virtio_queue;

struct virtio_mmio {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    const virtio_device_ops *ops;
    uint64_t base;
    uint32_t irq;
    int line; /* the level last given to irq_set */
    uint64_t device_features, driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t status, int_status, config_generation;
    virtio_queue q[VIRTIO_MAX_QUEUES];
    uint64_t requests, failures; /* for --stats */
    virtio_req req;              /* scratch: too big for the vCPU thread's stack to take lightly */
};

/* From construct: reads base= and irq=, registers the register window and the saved-state unit. `features` are
 * the device's own; VIRTIO_F_VERSION_1 and VIRTIO_F_RING_INDIRECT_DESC are added. Returns 0 or -1 (logged). */
int virtio_mmio_init(virtio_mmio *t, vmm_instance *inst, const vmm_helpers *hlp, const virtio_device_ops *ops,
                     uint64_t features);
/* The driver broke the rules: DEVICE_NEEDS_RESET, a configuration-change interrupt, one log line with the reason.
 * The device processes nothing more until the driver resets it (Status = 0). */
void virtio_mmio_fail(virtio_mmio *t, const char *fmt, ...) VMM_PRINTF(2, 3);
/* Copy len bytes at `offset` of the request's readable (read) or writable (write) part. 0, or -1 when the part
 * is shorter. */
int virtio_req_read(virtio_mmio *t, const virtio_req *req, uint64_t offset, void *buf, uint64_t len);
int virtio_req_write(virtio_mmio *t, const virtio_req *req, uint64_t offset, const void *buf, uint64_t len);
/* Process the queue's available buffers again, as a notify would (from a callback of the instance: a timer that
 * saw the backend ready). Does nothing before DRIVER_OK, on a queue not ready, or after virtio_mmio_fail. */
void virtio_mmio_kick(virtio_mmio *t, unsigned queue);
/* Return the chain `head` taken with VIRTIO_REQ_ASYNC, `written` bytes written into it; then, after a batch,
 * virtio_mmio_used_interrupt raises the used-buffer interrupt unless the driver asked for none. */
void virtio_mmio_complete(virtio_mmio *t, unsigned queue, uint16_t head, uint32_t written);
void virtio_mmio_used_interrupt(virtio_mmio *t, unsigned queue);
/* Print the request counters when --stats asked for them (from destruct). */
void virtio_mmio_stats(virtio_mmio *t);

/*
 * virtio_poller (virtio_poll.c): how a device with a host backend (a socket, a TAP) learns that the backend can be
 * read or written without the SDK offering descriptor watches. A thread of the device's own waits in poll() for
 * the events it was asked for and then arms a one-shot timer of the instance: all backend I/O and every guest
 * memory access still happen in the instance's callbacks (the timer's, the I/O callbacks'), which the core
 * serialises, so the device needs no lock, and a save (which runs on the loop thread, like timers) never sees a
 * request half-served. The thread is started from construct (virtio_thread_start: the device I/O sandbox kind)
 * and only polls, reads an eventfd and arms the timer.
 */
#include <pthread.h>

/*
 * virtio_thread (virtio_poll.c): a thread of the device's own, started with the SDK 1.7 thread_start helper, so
 * that the core names it and gives it the device I/O sandbox filter; with a core older than 1.7 (which has no such
 * filter for any device thread) a plain pthread. From construct; joined from destruct.
 */
typedef struct virtio_thread {
    vmm_thread *core; /* thread_start's handle, or NULL: `own` is the thread */
    pthread_t own;
    const vmm_helpers *hlp;
} virtio_thread;

/* 0, or -1 after logging why. */
int virtio_thread_start(virtio_thread *th, vmm_instance *inst, const vmm_helpers *hlp, const char *name,
                        void *(*fn)(void *), void *arg);
void virtio_thread_join(virtio_thread *th);

typedef struct virtio_poller {
    pthread_mutex_t lock;
    virtio_thread thread;
    int started;
    int evfd;      /* wakes the thread when the watch changes or it must end */
    int fd;        /* what to watch, -1: nothing */
    short events;  /* POLLIN / POLLOUT still wanted; cleared when they fire */
    int stop;
    vmm_timer *timer;
    const vmm_helpers *hlp;
} virtio_poller;

/* From construct: create the timer (fn runs as a callback of the instance when a watched event fired) and start
 * the thread. 0, or -1 after logging why. */
int virtio_poller_start(virtio_poller *p, vmm_instance *inst, const vmm_helpers *hlp, vmm_timer_fn fn);
/* Add `events` (POLLIN, POLLOUT) on fd to what the thread waits for (replacing the watch if fd changed). From
 * the instance's callbacks. The events are forgotten once they fired: ask again after the timer ran. */
void virtio_poller_watch(virtio_poller *p, int fd, short events);
/* From destruct: end the thread (before the backend's descriptors are closed). */
void virtio_poller_stop(virtio_poller *p);

#endif /* VIRTIO_MMIO_H */
