/*
 * virtio-net: the virtio network device (device ID 1, virtio 1.2 §5.1) on the virtio-mmio transport, over a TAP
 * interface of the host (tap=NAME: opened, or created when it does not exist and vmm may, with IFF_NO_PI). One
 * receive and one transmit queue; offered: MAC only (no checksum or segmentation offloads, no mergeable receive
 * buffers, no control queue), so every frame travels whole with a zeroed 12-byte virtio_net_hdr in front.
 *
 * Receive: a request is one empty chain of the guest's; a frame is read from the TAP without blocking straight
 * into it. Nothing to read leaves the chain in the ring (VIRTIO_REQ_LATER) and the poller watches the TAP; a frame
 * longer than the chain is dropped (counted), as a NIC drops what does not fit. Transmit: the chain's frame is
 * gathered and written to the TAP; a frame the TAP refuses (full, too short) is dropped and counted: a network
 * loses frames, a disk may not.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

#define NET_F_MAC (1ull << 5)

#define NET_QUEUE_RX 0
#define NET_QUEUE_TX 1
#define NET_HDR_LEN 12         /* virtio_net_hdr with num_buffers: always, with VIRTIO_F_VERSION_1 (§5.1.6) */
#define NET_FRAME_MIN 14       /* an Ethernet header */
#define NET_FRAME_MAX 65550    /* the most a TAP takes or gives (64 KiB plus a header) */

typedef struct virtio_net {
    virtio_mmio t; /* first: the transport's callbacks receive the instance state */
    virtio_poller poll;
    int fd;        /* the TAP, stored + 1: 0 = not open (the state starts zeroed) */
    uint8_t mac[6];
    char ifname[IFNAMSIZ];
    uint8_t frame[NET_FRAME_MAX];
    uint64_t rx_frames, tx_frames, rx_dropped, tx_dropped;
} virtio_net;

static uint64_t net_config_read(virtio_mmio *t, uint64_t offset, unsigned size)
{
    virtio_net *n = (virtio_net *)t;
    uint8_t cfg[8] = {0}; /* mac[6], status (VIRTIO_NET_F_STATUS is not offered) */
    memcpy(cfg, n->mac, 6);
    uint64_t v = 0;
    if (offset < sizeof(cfg) && size <= sizeof(cfg) - offset)
        memcpy(&v, cfg + offset, size);
    return v;
}

static int64_t net_receive(virtio_net *n, const virtio_req *req)
{
    virtio_mmio *t = &n->t;
    if (req->nread || req->write_len < NET_HDR_LEN) {
        virtio_mmio_fail(t, "queue 0: receive chain of %" PRIu64 " readable and %" PRIu64 " writable bytes (a "
                         "receive buffer is writable only and holds at least the %u-byte header)", req->read_len,
                         req->write_len, NET_HDR_LEN);
        return -1;
    }
    for (;;) {
        ssize_t r = read(n->fd - 1, n->frame, sizeof(n->frame));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errno != EAGAIN)
                t->hlp->log(t->inst, VMM_LOG_WARN, "tap=%s: read: %s", n->ifname, strerror(errno));
            virtio_poller_watch(&n->poll, n->fd - 1, POLLIN);
            return VIRTIO_REQ_LATER;
        }
        if ((uint64_t)r > req->write_len - NET_HDR_LEN) {
            n->rx_dropped++; /* does not fit the guest's buffer; the next frame may */
            continue;
        }
        uint8_t hdr[NET_HDR_LEN] = {0};
        hdr[10] = 1; /* num_buffers */
        if (virtio_req_write(t, req, 0, hdr, sizeof(hdr)) ||
            virtio_req_write(t, req, NET_HDR_LEN, n->frame, (uint64_t)r))
            return -1; /* cannot happen: the lengths were checked */
        n->rx_frames++;
        return NET_HDR_LEN + r;
    }
}

static int64_t net_transmit(virtio_net *n, const virtio_req *req)
{
    virtio_mmio *t = &n->t;
    if (req->nwrite || req->read_len < NET_HDR_LEN) {
        virtio_mmio_fail(t, "queue 1: transmit chain of %" PRIu64 " readable and %" PRIu64 " writable bytes (a "
                         "frame is readable only, after the %u-byte header)", req->read_len, req->write_len,
                         NET_HDR_LEN);
        return -1;
    }
    uint64_t len = req->read_len - NET_HDR_LEN;
    if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) {
        n->tx_dropped++;
        t->hlp->log(t->inst, VMM_LOG_DEBUG, "transmitted frame of %" PRIu64 " bytes dropped", len);
        return 0;
    }
    if (virtio_req_read(t, req, NET_HDR_LEN, n->frame, len))
        return -1;
    ssize_t w;
    do
        w = write(n->fd - 1, n->frame, (size_t)len);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) {
        n->tx_dropped++;
        t->hlp->log(t->inst, VMM_LOG_DEBUG, "tap=%s: frame of %" PRIu64 " bytes dropped: %s", n->ifname, len,
                    w < 0 ? strerror(errno) : "short write");
    } else {
        n->tx_frames++;
    }
    return 0;
}

static int64_t net_request(virtio_mmio *t, unsigned queue, const virtio_req *req)
{
    virtio_net *n = (virtio_net *)t;
    return queue == NET_QUEUE_RX ? net_receive(n, req) : net_transmit(n, req);
}

/* The poller saw a frame waiting on the TAP. */
static void net_timer(void *state, vmm_timer *timer)
{
    virtio_net *n = state;
    (void)timer;
    virtio_mmio_kick(&n->t, NET_QUEUE_RX);
}

static int net_save(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_net *n = (virtio_net *)t;
    return t->hlp->ssm_put_bytes(ssm, n->mac, sizeof(n->mac));
}

static int net_load(virtio_mmio *t, vmm_ssm *ssm)
{
    virtio_net *n = (virtio_net *)t;
    uint8_t mac[6];
    if (t->hlp->ssm_get_bytes(ssm, mac, sizeof(mac)))
        return -1;
    if (memcmp(mac, n->mac, sizeof(mac)))
        return t->hlp->ssm_fail(ssm, "saved with MAC %02x:%02x:%02x:%02x:%02x:%02x, configured with "
                                "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
                                n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
    return 0;
}

static const virtio_device_ops net_ops = {
    .unit = "virtio-net",
    .device_id = 1,
    .num_queues = 2,
    .config_read = net_config_read,
    .request = net_request,
    .save = net_save,
    .load = net_load,
};

static int net_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6 ||
        strlen(s) != 17)
        return -1;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return (mac[0] & 1) ? -1 : 0; /* a station address, not a group one */
}

static int net_open_tap(virtio_net *n, vmm_instance *inst, const vmm_helpers *hlp, const char *name)
{
    if (strlen(name) >= IFNAMSIZ) {
        hlp->log(inst, VMM_LOG_ERROR, "tap=%s: an interface name has at most %d characters", name, IFNAMSIZ - 1);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        hlp->log(inst, VMM_LOG_ERROR, "tap=%s: /dev/net/tun: %s", name, strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        hlp->log(inst, VMM_LOG_ERROR, "tap=%s: cannot attach to the interface: %s%s", name, strerror(errno),
                 errno == EPERM ? " (create it for this user: ip tuntap add NAME mode tap user USER)" : "");
        close(fd);
        return -1;
    }
    n->fd = fd + 1;
    memcpy(n->ifname, ifr.ifr_name, IFNAMSIZ - 1);
    return 0;
}

static int net_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    virtio_net *n = state;
    const char *tap = hlp->opt_string(inst, "tap");
    const char *mac = hlp->opt_string(inst, "mac");
    if (!tap || !*tap) {
        hlp->log(inst, VMM_LOG_ERROR, "tap= is required (the host's TAP interface)");
        return -1;
    }
    if (net_parse_mac(mac ? mac : "", n->mac)) {
        hlp->log(inst, VMM_LOG_ERROR, "mac=%s: not a unicast MAC address (xx:xx:xx:xx:xx:xx, first byte even)",
                 mac ? mac : "");
        return -1;
    }
    if (net_open_tap(n, inst, hlp, tap))
        return -1;
    if (virtio_mmio_init(&n->t, inst, hlp, &net_ops, NET_F_MAC))
        return -1;
    if (virtio_poller_start(&n->poll, inst, hlp, net_timer))
        return -1;
    virtio_poller_watch(&n->poll, n->fd - 1, POLLIN);
    return 0;
}

static void net_destruct(vmm_instance *inst, void *state)
{
    virtio_net *n = state;
    (void)inst;
    virtio_poller_stop(&n->poll);
    if (n->t.hlp) {
        virtio_mmio_stats(&n->t);
        if (n->t.hlp->stats_enabled(n->t.inst))
            fprintf(stderr, "virtio-net: %" PRIu64 " frames received, %" PRIu64 " sent, %" PRIu64 " received and %"
                    PRIu64 " sent dropped\n", n->rx_frames, n->tx_frames, n->rx_dropped, n->tx_dropped);
    }
    if (n->fd)
        close(n->fd - 1);
}

static const vmm_option_desc net_options[] = {
    VIRTIO_MMIO_OPTIONS,
    { .name = "tap", .type = VMM_OPT_STRING, .default_value = NULL,
      .help = "host TAP interface to attach to (created if missing and vmm may) (required)" },
    { .name = "mac", .type = VMM_OPT_STRING, .default_value = "52:54:00:12:34:56",
      .help = "the guest's MAC address" },
    { .name = NULL },
};

static const vmm_plugin_desc net_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(virtio_net),
    .name = "virtio-net",
    .description = "virtio network device (virtio-mmio v2) on a host TAP interface: tap=NAME[,mac=MAC]",
    .options = net_options,
    .construct = net_construct,
    .destruct = net_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(net_desc)
