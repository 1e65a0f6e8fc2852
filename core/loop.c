/* loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "vm.h"
#include "vmcmd.h"

#define LOOP_CONSOLE_MAX_QUEUED (1u << 20) /* past this a writer flushes itself: back-pressure, not growth */
#define LOOP_CONSOLE_GATHER_MS 1
#define LOOP_ESCAPE_KEY 0x01               /* Ctrl-A */

struct vmm_timer {
    loop *lp;
    vmm_instance *inst;
    vmm_timer_fn fn;
    int fd;
    uv_poll_t poll;
    vmm_timer *next;
};

struct loop {
    uv_loop_t uv;
    uv_async_t wake;
    uv_signal_t sigint, sigterm;
    vm *vm;

    /* Console output, written by any thread, flushed by the loop. Writers only append under out_lock; a flush
     * swaps the buffer with the spare under it and writes outside it (a vCPU never waits for the terminal), with
     * flush_lock keeping flushes in order. */
    pthread_mutex_t out_lock, flush_lock;
    char *out_buf, *spare_buf;
    size_t out_len, out_cap, spare_cap;
    int out_woken;           /* the loop has been told of queued output and has not flushed it yet */
    uv_timer_t out_timer;    /* the wait that lets a burst of output gather (see loop_wake_cb) */

    /* Console input. */
    int in_kind; /* 0 none, 1 tty, 2 pipe, 3 file */
    uv_tty_t in_tty;
    uv_pipe_t in_pipe;
    uv_fs_t in_req;
    char in_file_buf[4096];
    int in_escape;
    vmm_instance *in_owner;
    vmm_console_input_fn in_fn;

    vmm_timer *timers;
    vmcmd *cmds;
};

static int loop_tty_raw; /* for loop_restore_terminal, which may run from atexit */

/* ---- Console output ----------------------------------------------------------------------------------- */

static void loop_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the terminal went away; the guest's output has nowhere to go */
        buf += n;
        len -= (size_t)n;
    }
}

static void loop_console_flush(loop *lp)
{
    pthread_mutex_lock(&lp->flush_lock);
    pthread_mutex_lock(&lp->out_lock);
    char *buf = lp->out_buf;
    size_t len = lp->out_len, cap = lp->out_cap;
    lp->out_buf = lp->spare_buf;
    lp->out_cap = lp->spare_cap;
    lp->out_len = 0;
    lp->out_woken = 0;
    pthread_mutex_unlock(&lp->out_lock);
    if (len)
        loop_write_all(STDOUT_FILENO, buf, len);
    lp->spare_buf = buf;
    lp->spare_cap = cap;
    pthread_mutex_unlock(&lp->flush_lock);
}

static void loop_console_flush_hook(void *ctx)
{
    loop_console_flush(ctx);
}

void loop_console_write(loop *lp, const void *buf, size_t len)
{
    pthread_mutex_lock(&lp->out_lock);
    if (lp->out_len + len > lp->out_cap) {
        size_t cap = lp->out_cap ? lp->out_cap : 4096;
        while (cap < lp->out_len + len && cap < LOOP_CONSOLE_MAX_QUEUED)
            cap *= 2;
        char *n = cap > lp->out_cap ? realloc(lp->out_buf, cap) : NULL;
        if (n) {
            lp->out_buf = n;
            lp->out_cap = cap;
        }
        if (lp->out_len + len > lp->out_cap) {
            /* Full (or no memory to grow): the writer flushes what is queued and then its own bytes itself. */
            pthread_mutex_unlock(&lp->out_lock);
            loop_console_flush(lp);
            pthread_mutex_lock(&lp->flush_lock);
            loop_write_all(STDOUT_FILENO, buf, len);
            pthread_mutex_unlock(&lp->flush_lock);
            return;
        }
    }
    memcpy(lp->out_buf + lp->out_len, buf, len);
    lp->out_len += len;
    int wake = !lp->out_woken;
    lp->out_woken = 1;
    pthread_mutex_unlock(&lp->out_lock);
    if (wake)
        uv_async_send(&lp->wake);
}

/* ---- Console input ------------------------------------------------------------------------------------ */

int loop_console_claim_input(loop *lp, vmm_instance *inst, vmm_console_input_fn fn)
{
    if (lp->in_owner && lp->in_owner != inst)
        return -1;
    lp->in_owner = inst;
    lp->in_fn = fn;
    return 0;
}

static void loop_deliver(loop *lp, const uint8_t *buf, size_t len)
{
    if (!len || !lp->in_fn)
        return;
    vm_instance_lock(lp->in_owner);
    lp->in_fn(lp->in_owner->state, buf, len);
    vm_instance_unlock(lp->in_owner);
}

static void loop_print_keys(void)
{
    static const char help[] = "\r\nvmm console keys:\r\n"
                               "  Ctrl-A h    this help\r\n"
                               "  Ctrl-A x    stop the VM and exit\r\n"
                               "  Ctrl-A p    pause or resume the VM\r\n"
                               "  Ctrl-A s    save a snapshot (with --state DB)\r\n"
                               "  Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n";
    loop_write_all(STDERR_FILENO, help, sizeof(help) - 1);
}

static void loop_say(const char *fmt, const char *what)
{
    char line[700];
    int n = snprintf(line, sizeof(line), fmt, what);
    loop_write_all(STDERR_FILENO, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void loop_save_done(void *ctx, const char *name, const char *err)
{
    (void)ctx;
    if (err)
        loop_say("\r\nvmm: save failed: %s\r\n", err);
    else
        loop_say("\r\nvmm: saved snapshot '%s'\r\n", name);
}

static void loop_escape_key(loop *lp, uint8_t key)
{
    char err[256];
    switch (key) {
    case 'x':
    case 'X':
        loop_write_all(STDERR_FILENO, "\r\nvmm: stopped with Ctrl-A x\r\n", 30);
        vmcmd_quit(lp->cmds);
        break;
    case 'h':
    case 'H':
    case '?':
        loop_print_keys();
        break;
    case 'p':
    case 'P':
        if (vm_is_paused(lp->vm)) {
            if (vmcmd_resume(lp->cmds, err, sizeof(err)))
                loop_say("\r\nvmm: resume failed: %s\r\n", err);
            else
                loop_say("\r\nvmm: resumed%s\r\n", "");
        } else if (vmcmd_pause(lp->cmds, err, sizeof(err))) {
            loop_say("\r\nvmm: pause failed: %s\r\n", err);
        } else {
            loop_say("\r\nvmm: paused (Ctrl-A p resumes)%s\r\n", "");
        }
        break;
    case 's':
    case 'S':
        vmcmd_save(lp->cmds, NULL, loop_save_done, lp);
        break;
    case LOOP_ESCAPE_KEY:
        loop_deliver(lp, &key, 1);
        break;
    default:
        break; /* unknown escapes are swallowed, as in QEMU */
    }
}

/* Split input at Ctrl-A escapes; everything else goes to the owner in as few calls as possible. */
static void loop_handle_input(loop *lp, const uint8_t *buf, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (lp->in_escape) {
            lp->in_escape = 0;
            loop_escape_key(lp, buf[i]);
            start = i + 1;
        } else if (buf[i] == LOOP_ESCAPE_KEY) {
            loop_deliver(lp, buf + start, i - start);
            lp->in_escape = 1;
            start = i + 1;
        }
    }
    if (start < len)
        loop_deliver(lp, buf + start, len - start);
}

static void loop_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char storage[4096]; /* one loop thread, one read at a time */
    *buf = uv_buf_init(storage, sizeof(storage));
}

static void loop_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    loop *lp = s->data;
    if (n > 0)
        loop_handle_input(lp, (const uint8_t *)buf->base, (size_t)n);
    else if (n < 0)
        uv_read_stop(s); /* EOF: the guest simply gets no more input */
}

static void loop_file_read_cb(uv_fs_t *req);

static void loop_read_file(loop *lp)
{
    uv_buf_t b = uv_buf_init(lp->in_file_buf, sizeof(lp->in_file_buf));
    uv_fs_read(&lp->uv, &lp->in_req, STDIN_FILENO, &b, 1, -1, loop_file_read_cb);
}

static void loop_file_read_cb(uv_fs_t *req)
{
    loop *lp = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n <= 0 || vm_is_stopping(lp->vm))
        return;
    loop_handle_input(lp, (const uint8_t *)lp->in_file_buf, (size_t)n);
    loop_read_file(lp);
}

static void loop_start_input(loop *lp)
{
    switch (uv_guess_handle(STDIN_FILENO)) {
    case UV_TTY:
        if (uv_tty_init(&lp->uv, &lp->in_tty, STDIN_FILENO, 1) == 0) {
            lp->in_kind = 1;
            lp->in_tty.data = lp;
            if (uv_tty_set_mode(&lp->in_tty, UV_TTY_MODE_RAW) == 0)
                loop_tty_raw = 1;
            uv_read_start((uv_stream_t *)&lp->in_tty, loop_alloc_cb, loop_read_cb);
        }
        break;
    case UV_NAMED_PIPE:
    case UV_TCP:
        if (uv_pipe_init(&lp->uv, &lp->in_pipe, 0) == 0) {
            lp->in_kind = 2;
            lp->in_pipe.data = lp;
            if (uv_pipe_open(&lp->in_pipe, STDIN_FILENO) == 0)
                uv_read_start((uv_stream_t *)&lp->in_pipe, loop_alloc_cb, loop_read_cb);
        }
        break;
    case UV_FILE:
        lp->in_kind = 3; /* read from loop_run on */
        lp->in_req.data = lp;
        break;
    default:
        break; /* no usable stdin */
    }
}

void loop_restore_terminal(void)
{
    if (loop_tty_raw) {
        uv_tty_reset_mode();
        loop_tty_raw = 0;
    }
}

/* ---- Timers ------------------------------------------------------------------------------------------- */

static void loop_timer_poll_cb(uv_poll_t *p, int status, int events)
{
    (void)events;
    vmm_timer *t = p->data;
    uint64_t expirations;
    if (status < 0 || read(t->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
        return;
    vm_instance_lock(t->inst);
    t->fn(t->inst->state, t);
    vm_instance_unlock(t->inst);
}

vmm_timer *loop_timer_create(loop *lp, vmm_instance *inst, vmm_timer_fn fn)
{
    if (!fn || lp->vm) {
        /* Polls can only be added on the loop thread; instances create timers while they are set up. */
        log_msg(VMM_LOG_ERROR, inst->name, "timers must be created while the instance is set up");
        return NULL;
    }
    vmm_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0 || uv_poll_init(&lp->uv, &t->poll, t->fd) != 0) {
        log_msg(VMM_LOG_ERROR, inst->name, "cannot create a timer: %s", strerror(errno));
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        return NULL;
    }
    t->lp = lp;
    t->inst = inst;
    t->fn = fn;
    t->poll.data = t;
    uv_poll_start(&t->poll, UV_READABLE, loop_timer_poll_cb);
    t->next = lp->timers;
    lp->timers = t;
    return t;
}

static struct timespec loop_ns_to_timespec(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
}

int loop_timer_arm(vmm_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
    /* A zero it_value disarms a timerfd, so "now" is one nanosecond. */
    struct itimerspec its = {.it_value = loop_ns_to_timespec(delay_ns ? delay_ns : 1),
                             .it_interval = loop_ns_to_timespec(period_ns)};
    return timerfd_settime(t->fd, 0, &its, NULL) ? -1 : 0;
}

void loop_timer_stop(vmm_timer *t)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    timerfd_settime(t->fd, 0, &its, NULL);
}

uint64_t loop_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- The loop ----------------------------------------------------------------------------------------- */

static void loop_out_timer_cb(uv_timer_t *t)
{
    loop_console_flush(t->data);
}

/* Queued output is written LOOP_CONSOLE_GATHER_MS after the first byte of a burst, not at once: a guest writes
 * its UART a byte at a time, and a flush per byte (a wake-up, an eventfd read and a write(2), each a trip to the
 * other core) cost a riscv64 Linux boot 5% of its CPU time. A millisecond is below what a typist notices. */
static void loop_wake_cb(uv_async_t *a)
{
    loop *lp = a->data;
    if (lp->vm && vm_is_stopping(lp->vm)) {
        loop_console_flush(lp);
        uv_stop(&lp->uv);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&lp->out_timer))
        uv_timer_start(&lp->out_timer, loop_out_timer_cb, LOOP_CONSOLE_GATHER_MS, 0);
}

static void loop_signal_cb(uv_signal_t *s, int signum)
{
    loop *lp = s->data;
    log_msg(VMM_LOG_WARN, "vmm", "%s received, stopping the VM", signum == SIGINT ? "SIGINT" : "SIGTERM");
    vm_request_stop(lp->vm, 128 + signum);
}

loop *loop_create(void)
{
    loop *lp = calloc(1, sizeof(*lp));
    if (!lp)
        return NULL;
    if (uv_loop_init(&lp->uv)) {
        free(lp);
        return NULL;
    }
    pthread_mutex_init(&lp->out_lock, NULL);
    pthread_mutex_init(&lp->flush_lock, NULL);
    uv_async_init(&lp->uv, &lp->wake, loop_wake_cb);
    lp->wake.data = lp;
    uv_timer_init(&lp->uv, &lp->out_timer);
    lp->out_timer.data = lp;
    log_set_flush_hook(loop_console_flush_hook, lp);
    return lp;
}

int loop_attach(loop *lp, vm *v)
{
    lp->vm = v;
    /* A peer that goes away (a control client that hangs up before its reply, the reader of a piped console)
     * must cost only its own stream, not the VM. libuv writes with write(2), which cannot take MSG_NOSIGNAL, so
     * the signal is ignored and the EPIPE comes back to the writer, which drops that stream. vmm starts no
     * child processes that would inherit the setting. */
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(&lp->uv, &lp->sigint);
    uv_signal_init(&lp->uv, &lp->sigterm);
    lp->sigint.data = lp->sigterm.data = lp;
    uv_signal_start(&lp->sigint, loop_signal_cb, SIGINT);
    uv_signal_start(&lp->sigterm, loop_signal_cb, SIGTERM);
    loop_start_input(lp);
    atexit(loop_restore_terminal);
    return 0;
}

struct uv_loop_s *loop_uv(loop *lp)
{
    return &lp->uv;
}

void loop_set_commands(loop *lp, vmcmd *cmds)
{
    lp->cmds = cmds;
}

void loop_run(loop *lp)
{
    /* A stop requested before the loop ran (a guest that ended at once) must still end it. */
    if (lp->vm && vm_is_stopping(lp->vm))
        return;
    /* A file on stdin is read by libuv's thread pool, whose threads must be created after this thread's filter,
     * to inherit it (core/sandbox.h): its first read is made here, not in loop_attach. */
    if (lp->in_kind == 3)
        loop_read_file(lp);
    uv_run(&lp->uv, UV_RUN_DEFAULT);
}

void loop_notify_stop(loop *lp)
{
    uv_async_send(&lp->wake);
}

static void loop_close_cb(uv_handle_t *h)
{
    (void)h;
}

static void loop_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, loop_close_cb);
}

void loop_destroy(loop *lp)
{
    if (!lp)
        return;
    log_set_flush_hook(NULL, NULL);
    loop_console_flush(lp);
    loop_restore_terminal();
    if (lp->in_kind == 3)
        uv_cancel((uv_req_t *)&lp->in_req);
    uv_walk(&lp->uv, loop_close_walk, NULL);
    /* Let the close callbacks run; a pending stdin file read may need one more pass. */
    for (int i = 0; i < 100 && uv_run(&lp->uv, UV_RUN_NOWAIT); i++)
        ;
    uv_loop_close(&lp->uv);
    for (vmm_timer *t = lp->timers, *n; t; t = n) {
        n = t->next;
        close(t->fd);
        free(t);
    }
    pthread_mutex_destroy(&lp->out_lock);
    pthread_mutex_destroy(&lp->flush_lock);
    free(lp->out_buf);
    free(lp->spare_buf);
    free(lp);
}
