/*
 * virtio-rng: the virtio entropy device (device ID 4, virtio 1.2 §5.4) on the virtio-mmio transport. Its one queue
 * takes device-writable buffers and returns them filled from the host's getrandom(), up to 64 KiB per request.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

#define RNG_MAX_PER_REQUEST 65536

typedef struct virtio_rng {
    virtio_mmio t; /* first: the transport's callbacks receive the instance state */
} virtio_rng;

static uint64_t rng_config_read(virtio_mmio *t, uint64_t offset, unsigned size)
{
    (void)t;
    (void)offset;
    (void)size;
    return 0; /* no configuration space */
}

static int64_t rng_request(virtio_mmio *t, unsigned queue, const virtio_req *req)
{
    uint8_t buf[4096];
    uint64_t want = req->write_len < RNG_MAX_PER_REQUEST ? req->write_len : RNG_MAX_PER_REQUEST, done = 0;
    (void)queue;
    while (done < want) {
        size_t n = want - done < sizeof(buf) ? (size_t)(want - done) : sizeof(buf);
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            t->hlp->log(t->inst, VMM_LOG_WARN, "getrandom: errno %d; request answered with %llu bytes", errno,
                        (unsigned long long)done);
            break;
        }
        if (virtio_req_write(t, req, done, buf, (uint64_t)got))
            break; /* cannot happen: the part's length was checked */
        done += (uint64_t)got;
    }
    return (int64_t)done;
}

static const virtio_device_ops rng_ops = {
    .unit = "virtio-rng",
    .device_id = 4,
    .num_queues = 1,
    .config_read = rng_config_read,
    .request = rng_request,
};

static int rng_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    virtio_rng *r = state;
    return virtio_mmio_init(&r->t, inst, hlp, &rng_ops, 0);
}

static void rng_destruct(vmm_instance *inst, void *state)
{
    virtio_rng *r = state;
    (void)inst;
    if (r->t.hlp)
        virtio_mmio_stats(&r->t);
}

static const vmm_option_desc rng_options[] = {
    VIRTIO_MMIO_OPTIONS,
    { .name = NULL },
};

static const vmm_plugin_desc rng_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(virtio_rng),
    .name = "virtio-rng",
    .description = "virtio entropy device (virtio-mmio v2): buffers filled from the host's getrandom()",
    .options = rng_options,
    .construct = rng_construct,
    .destruct = rng_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(rng_desc)
