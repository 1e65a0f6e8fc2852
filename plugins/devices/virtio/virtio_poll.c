/*
 * virtio_poll: the backend watcher of the virtio devices that talk to a host descriptor (virtio-console's socket,
 * virtio-net's TAP): see virtio_poller in virtio_mmio.h; and the devices' own threads (virtio_thread), the
 * watcher's and virtio-blk's io=thread worker. Compiled into the transport's library.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vmm/plugin.h>

#include "virtio_mmio.h"

int virtio_thread_start(virtio_thread *th, vmm_instance *inst, const vmm_helpers *hlp, const char *name,
                        void *(*fn)(void *), void *arg)
{
    th->hlp = hlp;
    th->core = NULL;
    if (VMM_HELPERS_HAVE(hlp, 7))
        return hlp->thread_start(inst, name, fn, arg, &th->core);
    int rc = pthread_create(&th->own, NULL, fn, arg);
    if (rc)
        hlp->log(inst, VMM_LOG_ERROR, "cannot start the %s thread: %s", name, strerror(rc));
    return rc ? -1 : 0;
}

void virtio_thread_join(virtio_thread *th)
{
    if (th->core)
        th->hlp->thread_join(th->core, NULL);
    else
        pthread_join(th->own, NULL);
    th->core = NULL;
}

static void poller_wake(virtio_poller *p)
{
    uint64_t one = 1;
    ssize_t w = write(p->evfd, &one, sizeof(one));
    (void)w; /* a full counter still wakes the thread */
}

static void *poller_main(void *arg)
{
    virtio_poller *p = arg;
    for (;;) {
        struct pollfd fds[2] = {{.fd = p->evfd, .events = POLLIN}, {.fd = -1}};
        pthread_mutex_lock(&p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        if (p->fd >= 0 && p->events)
            fds[1] = (struct pollfd){.fd = p->fd, .events = p->events};
        pthread_mutex_unlock(&p->lock);
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (fds[0].revents) {
            uint64_t v;
            ssize_t r = read(p->evfd, &v, sizeof(v));
            (void)r;
        }
        if (fds[1].fd >= 0 && fds[1].revents) {
            int fire = 0;
            pthread_mutex_lock(&p->lock);
            /* Only if the watch is still the one polled: the instance may have moved on meanwhile. */
            if (p->fd == fds[1].fd && p->events) {
                p->events = 0;
                fire = 1;
            }
            pthread_mutex_unlock(&p->lock);
            if (fire)
                p->hlp->timer_arm(p->timer, 0, 0);
        }
    }
}

int virtio_poller_start(virtio_poller *p, vmm_instance *inst, const vmm_helpers *hlp, vmm_timer_fn fn)
{
    p->hlp = hlp;
    p->fd = -1;
    p->evfd = -1;
    pthread_mutex_init(&p->lock, NULL);
    p->timer = hlp->timer_create(inst, fn);
    if (!p->timer)
        return -1;
    p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->evfd < 0) {
        hlp->log(inst, VMM_LOG_ERROR, "cannot create an eventfd: %s", strerror(errno));
        return -1;
    }
    if (virtio_thread_start(&p->thread, inst, hlp, "virtio-poll", poller_main, p))
        return -1;
    p->started = 1;
    return 0;
}

void virtio_poller_watch(virtio_poller *p, int fd, short events)
{
    if (!p->started)
        return;
    pthread_mutex_lock(&p->lock);
    int change = p->fd != fd || (p->events | events) != p->events;
    if (p->fd != fd) {
        p->fd = fd;
        p->events = 0;
    }
    p->events |= events;
    pthread_mutex_unlock(&p->lock);
    if (change)
        poller_wake(p);
}

void virtio_poller_stop(virtio_poller *p)
{
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_mutex_unlock(&p->lock);
        poller_wake(p);
        virtio_thread_join(&p->thread);
        p->started = 0;
    }
    if (p->hlp && p->evfd >= 0) /* p->hlp: virtio_poller_start ran (the state starts zeroed) */
        close(p->evfd);
    p->evfd = -1;
    if (p->timer)
        p->hlp->timer_stop(p->timer);
}
