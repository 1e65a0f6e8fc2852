/*
 * virtio-console: the virtio console device (device ID 3, virtio 1.2 §5.3) on the virtio-mmio transport, port 0
 * only (no MULTIPORT, no SIZE, no EMERG_WRITE): Linux's hvc0. Its backend is a Unix stream socket the device
 * listens on (path=), one client at a time (socat, nc -U, a script): what the guest writes goes to the client,
 * what the client sends is the guest's input. Output waits while no client is connected (like a serial line with
 * flow control; the guest's buffers stay in the queue), input exists only while one is.
 *
 * Queue 0 (receiveq) holds the guest's empty buffers: a request reads from the client without blocking, and is left
 * in the ring (VIRTIO_REQ_LATER) when nothing is there, the poller then watching the socket. Queue 1 (transmitq)
 * writes without blocking too; a chain the socket could only partly take stays in the ring with the bytes already
 * sent remembered (tx_done, saved with the device).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

#define CON_QUEUE_RX 0
#define CON_QUEUE_TX 1

typedef struct virtio_console {
    virtio_mmio t; /* first: the transport's callbacks receive the instance state */
    virtio_poller poll;
    int listen_fd, conn_fd; /* stored + 1: 0 = none (the state starts zeroed) */
    uint64_t tx_done;       /* bytes of the transmit chain at the ring's head the client already has */
    char path[108];
    struct iovec iov[VIRTIO_REQ_MAX_SEGS];
    uint64_t bytes_in, bytes_out, clients;
} virtio_console;

static uint64_t con_config_read(virtio_mmio *t, uint64_t offset, unsigned size)
{
    (void)t;
    (void)offset;
    (void)size;
    return 0; /* cols, rows, max_nr_ports, emerg_wr: none of their features is offered */
}

static void con_disconnect(virtio_console *c, const char *why)
{
    c->t.hlp->log(c->t.inst, VMM_LOG_INFO, "client of %s left (%s)", c->path, why);
    close(c->conn_fd - 1);
    c->conn_fd = 0;
    virtio_poller_watch(&c->poll, c->listen_fd - 1, POLLIN);
}

/* The part of the chain after `skip` bytes, as iovecs into guest RAM (each buffer was checked to lie in RAM). */
static int con_iov(virtio_console *c, const virtio_req *req, int writable, uint64_t skip)
{
    unsigned first = writable ? req->nread : 0, end = writable ? req->nread + req->nwrite : req->nread, n = 0;
    for (unsigned i = first; i < end; i++) {
        const virtio_seg *s = &req->seg[i];
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        void *p = c->t.hlp->mem_ptr(c->t.inst, s->addr + skip, s->len - skip, writable);
        if (!p)
            return -1;
        c->iov[n++] = (struct iovec){.iov_base = p, .iov_len = s->len - skip};
        skip = 0;
    }
    return (int)n;
}

static int64_t con_receive(virtio_console *c, const virtio_req *req)
{
    if (req->nread) {
        virtio_mmio_fail(&c->t, "queue 0: receive buffer with %" PRIu64 " device-readable bytes", req->read_len);
        return -1;
    }
    if (!c->conn_fd)
        return VIRTIO_REQ_LATER; /* the poller watches the listening socket */
    int n = con_iov(c, req, 1, 0);
    if (n <= 0)
        return n < 0 ? -1 : 0;
    ssize_t r = readv(c->conn_fd - 1, c->iov, n);
    if (r > 0) {
        c->bytes_in += (uint64_t)r;
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        virtio_poller_watch(&c->poll, c->conn_fd - 1, POLLIN);
        return VIRTIO_REQ_LATER;
    }
    con_disconnect(c, r == 0 ? "end of file" : strerror(errno));
    return VIRTIO_REQ_LATER;
}

static int64_t con_transmit(virtio_console *c, const virtio_req *req)
{
    if (req->nwrite) {
        virtio_mmio_fail(&c->t, "queue 1: transmit buffer with %" PRIu64 " device-writable bytes", req->write_len);
        return -1;
    }
    if (c->tx_done > req->read_len)
        c->tx_done = 0; /* cannot happen (a reset clears it, a load checks it against nothing better): be safe */
    while (c->tx_done < req->read_len) {
        if (!c->conn_fd)
            return VIRTIO_REQ_LATER; /* kept until a client connects */
        int n = con_iov(c, req, 0, c->tx_done);
        if (n < 0)
            return -1;
        ssize_t w = writev(c->conn_fd - 1, c->iov, n);
        if (w > 0) {
            c->tx_done += (uint64_t)w;
            c->bytes_out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            virtio_poller_watch(&c->poll, c->conn_fd - 1, POLLOUT);
            return VIRTIO_REQ_LATER;
        }
        con_disconnect(c, w == 0 ? "nothing written" : strerror(errno));
    }
    c->tx_done = 0;
    return 0;
}

static int64_t con_request(virtio_mmio *t, unsigned queue, const virtio_req *req)
{
    virtio_console *c = (virtio_console *)t;
    return queue == CON_QUEUE_RX ? con_receive(c, req) : con_transmit(c, req);
}

/* The poller saw the socket ready: a client to accept, input, or room for output. */
static void con_timer(void *state, vmm_timer *timer)
{
    virtio_console *c = state;
    (void)timer;
    if (!c->conn_fd) {
        int fd = accept4(c->listen_fd - 1, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            virtio_poller_watch(&c->poll, c->listen_fd - 1, POLLIN);
            return;
        }
        c->conn_fd = fd + 1;
        c->clients++;
        c->t.hlp->log(c->t.inst, VMM_LOG_INFO, "client connected to %s", c->path);
        virtio_poller_watch(&c->poll, fd, POLLIN);
    }
    virtio_mmio_kick(&c->t, CON_QUEUE_TX);
    virtio_mmio_kick(&c->t, CON_QUEUE_RX);
}

static void con_reset(virtio_mmio *t)
{
    ((virtio_console *)t)->tx_done = 0; /* the chain it counted is gone with the queue */
}

static int con_save(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_console *c = (virtio_console *)t;
    return t->hlp->ssm_put_u64(ssm, c->tx_done);
}

static int con_load(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_console *c = (virtio_console *)t;
    uint64_t done;
    if (t->hlp->ssm_get_u64(ssm, &done))
        return -1;
    if (done > 0xffffffffull * VIRTIO_REQ_MAX_SEGS)
        return t->hlp->ssm_fail(ssm, "%" PRIu64 " bytes of a transmit chain sent: more than a chain holds", done);
    c->tx_done = done;
    return 0;
}

static const virtio_device_ops con_ops = {
    .unit = "virtio-console",
    .device_id = 3,
    .num_queues = 2,
    .config_read = con_config_read,
    .request = con_request,
    .save = con_save,
    .load = con_load,
    .reset = con_reset,
};

static int con_listen(virtio_console *c, vmm_instance *inst, const vmm_helpers *hlp, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(path) >= sizeof(a.sun_path)) {
        hlp->log(inst, VMM_LOG_ERROR, "path=%s: too long for a Unix socket (at most %zu bytes)", path,
                 sizeof(a.sun_path) - 1);
        return -1;
    }
    if (lstat(path, &st) == 0) {
        /* A socket left by an earlier run is replaced; anything else is the user's file. */
        if (!S_ISSOCK(st.st_mode)) {
            hlp->log(inst, VMM_LOG_ERROR, "path=%s: the file exists and is not a socket", path);
            return -1;
        }
        unlink(path);
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0) {
        hlp->log(inst, VMM_LOG_ERROR, "path=%s: cannot listen there: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    c->listen_fd = fd + 1;
    snprintf(c->path, sizeof(c->path), "%s", path);
    return 0;
}

static int con_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    virtio_console *c = state;
    const char *path = hlp->opt_string(inst, "path");
    if (!path || !*path) {
        hlp->log(inst, VMM_LOG_ERROR, "path= is required (the Unix socket to listen on)");
        return -1;
    }
    if (con_listen(c, inst, hlp, path))
        return -1;
    if (virtio_mmio_init(&c->t, inst, hlp, &con_ops, 0))
        return -1;
    if (virtio_poller_start(&c->poll, inst, hlp, con_timer))
        return -1;
    virtio_poller_watch(&c->poll, c->listen_fd - 1, POLLIN);
    return 0;
}

static void con_destruct(vmm_instance *inst, void *state)
{
    virtio_console *c = state;
    (void)inst;
    virtio_poller_stop(&c->poll);
    if (c->t.hlp) {
        virtio_mmio_stats(&c->t);
        if (c->t.hlp->stats_enabled(c->t.inst))
            fprintf(stderr, "virtio-console: %" PRIu64 " bytes in, %" PRIu64 " out, %" PRIu64 " clients\n",
                    c->bytes_in, c->bytes_out, c->clients);
    }
    if (c->conn_fd)
        close(c->conn_fd - 1);
    if (c->listen_fd) {
        close(c->listen_fd - 1);
        unlink(c->path);
    }
}

static const vmm_option_desc con_options[] = {
    VIRTIO_MMIO_OPTIONS,
    { .name = "path", .type = VMM_OPT_STRING, .default_value = NULL,
      .help = "Unix socket the device listens on, one client at a time (socat - UNIX-CONNECT:PATH) (required)" },
    { .name = NULL },
};

static const vmm_plugin_desc con_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(virtio_console),
    .name = "virtio-console",
    .description = "virtio console (virtio-mmio v2, port 0: Linux's hvc0) on a Unix socket: path=SOCKET",
    .options = con_options,
    .construct = con_construct,
    .destruct = con_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(con_desc)
