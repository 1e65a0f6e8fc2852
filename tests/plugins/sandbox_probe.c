/*
 * test-sandbox: a device plugin for tests/sandbox that makes a system call no vmm thread is allowed (socket with
 * AF_INET, or execve) when the guest writes its MMIO register: from the vCPU thread at once (when=mmio), from
 * the event loop through a timer (when=timer), or from a thread of its own started with the SDK 1.7 thread_start
 * helper in construct (when=thread: the device I/O kind), which waits for the write. when=late calls thread_start
 * in the MMIO write instead, once the VM runs, which the core refuses (reported, status 7). With the sandbox on, vmm must
 * end naming the call, the thread kind and this instance; with --sandbox off the call is made and this plugin
 * reports what it returned (from its timer, for the thread), then stops the VM with status 7.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmm/plugin.h>

#define SANDBOX_PROBE_MMIO 0x10010000ull

typedef struct sandbox_probe {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    vmm_timer *timer;
    int execve; /* call=execve, else socket */
    int from_timer;
    /* when=thread: the thread, and what it shares with the callbacks under `lock` */
    int from_thread, late, go, stop, made;
    vmm_thread *thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char line[160];
} sandbox_probe;

/* Make the call; what it returned goes in line. */
static void sandbox_probe_make(sandbox_probe *p, char *line, size_t size)
{
    if (p->execve) {
        /* A path that does not exist: with the sandbox off the call is made and fails, and vmm goes on. */
        char *const argv[] = {"sandbox-probe", NULL};
        execve("/nonexistent/sandbox-probe", argv, argv + 1);
        snprintf(line, size, "test-sandbox: execve made, failed: %s\n", strerror(errno));
    } else {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            snprintf(line, size, "test-sandbox: socket(AF_INET) made, returned a descriptor\n");
            close(fd);
        } else {
            snprintf(line, size, "test-sandbox: socket(AF_INET) made, failed: %s\n", strerror(errno));
        }
    }
}

static void sandbox_probe_report(sandbox_probe *p, const char *line)
{
    p->hlp->console_write(p->inst, line, strlen(line));
    p->hlp->vm_stop(p->inst, 7);
}

static void sandbox_probe_call(sandbox_probe *p)
{
    char line[160];
    sandbox_probe_make(p, line, sizeof(line));
    sandbox_probe_report(p, line);
}

/* when=thread: waits for the guest's write, makes the call, and leaves the report to the timer (a callback). */
static void *sandbox_probe_thread(void *arg)
{
    sandbox_probe *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->go && !p->stop)
        pthread_cond_wait(&p->cond, &p->lock);
    int go = p->go && !p->stop;
    pthread_mutex_unlock(&p->lock);
    if (!go)
        return NULL;
    char line[160];
    sandbox_probe_make(p, line, sizeof(line));
    pthread_mutex_lock(&p->lock);
    memcpy(p->line, line, sizeof(line));
    p->made = 1;
    pthread_mutex_unlock(&p->lock);
    p->hlp->timer_arm(p->timer, 0, 0);
    return p; /* what thread_join hands back: checked in destruct */
}

static void sandbox_probe_fired(void *state, vmm_timer *t)
{
    sandbox_probe *p = state;
    (void)t;
    if (!p->from_thread) {
        sandbox_probe_call(p);
        return;
    }
    char line[160];
    pthread_mutex_lock(&p->lock);
    int made = p->made;
    memcpy(line, p->line, sizeof(line));
    pthread_mutex_unlock(&p->lock);
    if (made)
        sandbox_probe_report(p, line);
}

static uint64_t sandbox_probe_read(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)offset;
    (void)size;
    return 0;
}

static void sandbox_probe_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    sandbox_probe *p = state;
    (void)offset;
    (void)size;
    (void)val;
    if (p->late) {
        /* thread_start once the VM runs: refused with a line, with the sandbox on or off alike. */
        vmm_thread *t = NULL;
        int rc = p->hlp->thread_start(p->inst, "sandbox-late", sandbox_probe_thread, p, &t);
        const char *line = rc == -1 && !t ? "test-sandbox: thread_start refused\n" : "test-sandbox: thread_start ran\n";
        if (t) { /* not expected: end it before the instance goes away */
            pthread_mutex_lock(&p->lock);
            p->stop = 1;
            pthread_cond_signal(&p->cond);
            pthread_mutex_unlock(&p->lock);
            p->hlp->thread_join(t, NULL);
        }
        sandbox_probe_report(p, line);
    } else if (p->from_thread) {
        pthread_mutex_lock(&p->lock);
        p->go = 1;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
    } else if (p->from_timer) {
        p->hlp->timer_arm(p->timer, 1000 * 1000, 0);
    } else {
        sandbox_probe_call(p);
    }
}

static int sandbox_probe_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    sandbox_probe *p = state;
    p->inst = inst;
    p->hlp = hlp;
    const char *call = hlp->opt_string(inst, "call");
    const char *when = hlp->opt_string(inst, "when");
    if (strcmp(call, "socket") && strcmp(call, "execve")) {
        hlp->log(inst, VMM_LOG_ERROR, "call=%s: use socket or execve", call);
        return -1;
    }
    if (strcmp(when, "mmio") && strcmp(when, "timer") && strcmp(when, "thread") && strcmp(when, "late")) {
        hlp->log(inst, VMM_LOG_ERROR, "when=%s: use mmio, timer, thread or late", when);
        return -1;
    }
    p->execve = !strcmp(call, "execve");
    p->from_timer = !strcmp(when, "timer");
    p->from_thread = !strcmp(when, "thread");
    p->late = !strcmp(when, "late");
    hlp->ssm_stateless(inst);
    p->timer = hlp->timer_create(inst, sandbox_probe_fired);
    if (!p->timer)
        return -1;
    if (p->from_thread || p->late) {
        if (!VMM_HELPERS_HAVE(hlp, 7)) {
            hlp->log(inst, VMM_LOG_ERROR, "when=%s: this vmm has no thread_start (SDK 1.7)", when);
            return -1;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
    }
    if (hlp->mmio_register(inst, SANDBOX_PROBE_MMIO, 4096, sandbox_probe_read, sandbox_probe_write))
        return -1;
    /* Last: a construct that fails gets no destruct, which would have joined the thread. */
    return p->from_thread ? hlp->thread_start(inst, "sandbox-probe", sandbox_probe_thread, p, &p->thread) : 0;
}

static void sandbox_probe_destruct(vmm_instance *inst, void *state)
{
    sandbox_probe *p = state;
    if (!p->thread)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    void *ret = NULL;
    if (p->hlp->thread_join(p->thread, &ret) == 0 && p->made && ret != p)
        p->hlp->log(inst, VMM_LOG_ERROR, "thread_join did not hand back what the thread returned");
}

static const vmm_option_desc sandbox_probe_options[] = {
    {.name = "call", .type = VMM_OPT_STRING, .default_value = "socket", .help = "socket (AF_INET) or execve"},
    {.name = "when", .type = VMM_OPT_STRING, .default_value = "mmio",
     .help = "mmio: in the guest's MMIO write (vCPU thread); timer: 1 ms later (event loop); thread: in a thread "
             "of the device's own (thread_start), woken by the write; late: thread_start in the write (refused)"},
    {0},
};

static const vmm_plugin_desc sandbox_probe_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(sandbox_probe),
    .name = "test-sandbox",
    .description = "test device: a forbidden system call when the guest writes 0x10010000",
    .options = sandbox_probe_options,
    .construct = sandbox_probe_construct,
    .destruct = sandbox_probe_destruct,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(sandbox_probe_desc)
