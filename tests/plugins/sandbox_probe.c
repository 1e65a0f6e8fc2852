/*
 * test-sandbox: a device plugin for tests/sandbox that makes a system call no vmm thread is allowed (socket with
 * AF_INET, or execve) when the guest writes its MMIO register: from the vCPU thread at once (when=mmio), or from
 * the event loop through a timer (when=timer). With the sandbox on, vmm must end naming the call, the thread kind
 * and this instance; with --sandbox off the call is made and this plugin reports what it returned, then stops the
 * VM with status 7.
 */
#include <errno.h>
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
} sandbox_probe;

static void sandbox_probe_call(sandbox_probe *p)
{
    char line[160];
    if (p->execve) {
        /* A path that does not exist: with the sandbox off the call is made and fails, and vmm goes on. */
        char *const argv[] = {"sandbox-probe", NULL};
        execve("/nonexistent/sandbox-probe", argv, argv + 1);
        snprintf(line, sizeof(line), "test-sandbox: execve made, failed: %s\n", strerror(errno));
    } else {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            snprintf(line, sizeof(line), "test-sandbox: socket(AF_INET) made, returned a descriptor\n");
            close(fd);
        } else {
            snprintf(line, sizeof(line), "test-sandbox: socket(AF_INET) made, failed: %s\n", strerror(errno));
        }
    }
    p->hlp->console_write(p->inst, line, strlen(line));
    p->hlp->vm_stop(p->inst, 7);
}

static void sandbox_probe_fired(void *state, vmm_timer *t)
{
    (void)t;
    sandbox_probe_call(state);
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
    if (p->from_timer)
        p->hlp->timer_arm(p->timer, 1000 * 1000, 0);
    else
        sandbox_probe_call(p);
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
    if (strcmp(when, "mmio") && strcmp(when, "timer")) {
        hlp->log(inst, VMM_LOG_ERROR, "when=%s: use mmio or timer", when);
        return -1;
    }
    p->execve = !strcmp(call, "execve");
    p->from_timer = !strcmp(when, "timer");
    hlp->ssm_stateless(inst);
    p->timer = hlp->timer_create(inst, sandbox_probe_fired);
    if (!p->timer)
        return -1;
    return hlp->mmio_register(inst, SANDBOX_PROBE_MMIO, 4096, sandbox_probe_read, sandbox_probe_write);
}

static const vmm_option_desc sandbox_probe_options[] = {
    {.name = "call", .type = VMM_OPT_STRING, .default_value = "socket", .help = "socket (AF_INET) or execve"},
    {.name = "when", .type = VMM_OPT_STRING, .default_value = "mmio",
     .help = "mmio: in the guest's MMIO write (vCPU thread); timer: 1 ms later (event loop)"},
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
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(sandbox_probe_desc)
