/* vmcmd: see vmcmd.h. */
#include "vmcmd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "log.h"
#include "loop.h"
#include "sandbox.h"
#include "snapshot.h"

struct vmcmd {
    vm *v;
    ss_store *st;
    char config[sizeof(((ss_meta *)0)->config)];
    char config_err[256]; /* why the configuration cannot go into a snapshot; "" when it can */

    /* The live save in progress: one at a time, its sweep on `worker`. */
    uv_async_t swept; /* the worker's "done", to the loop thread */
    snapshot_job *job;
    pthread_t worker;
    int sweeping;       /* job is running on worker */
    char saving[SS_NAME_MAX];
    vmcmd_save_done_fn done;
    void *done_ctx;
};

static void vmcmd_swept(uv_async_t *a);

vmcmd *vmcmd_create(vm *v, loop *lp, ss_store *st, const vm_config *cfg)
{
    vmcmd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->v = v;
    c->st = st;
    if (vm_config_format(cfg, c->config, sizeof(c->config), c->config_err, sizeof(c->config_err)) == 0)
        c->config_err[0] = '\0';
    uv_async_init(loop_uv(lp), &c->swept, vmcmd_swept);
    c->swept.data = c;
    return c;
}

void vmcmd_get_status(vmcmd *c, vmcmd_status *out)
{
    out->state = vm_is_stopping(c->v) ? "stopping" : vm_is_paused(c->v) ? "paused" : "running";
    out->vcpus = c->v->ncpus;
    out->last_snapshot = c->v->last_snapshot;
    out->saving = c->job ? c->saving : "";
}

int vmcmd_pause(vmcmd *c, char *err, size_t errlen)
{
    if (vm_pause(c->v)) {
        snprintf(err, errlen, "the VM is stopping");
        return -1;
    }
    return 0;
}

int vmcmd_resume(vmcmd *c, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    vm_resume(c->v);
    return 0;
}

void vmcmd_quit(vmcmd *c)
{
    vm_request_stop(c->v, 0);
}

/* The live save's end, on the loop thread (or in vmcmd_finish once the loop has ended). */
static void vmcmd_save_end(vmcmd *c)
{
    if (!c->job)
        return;
    if (c->sweeping) {
        pthread_join(c->worker, NULL);
        c->sweeping = 0;
    }
    char err[512], name[SS_NAME_MAX];
    snprintf(name, sizeof(name), "%s", c->saving);
    int rc = snapshot_save_finish(c->job, err, sizeof(err));
    c->job = NULL;
    c->saving[0] = '\0';
    vmcmd_save_done_fn done = c->done;
    c->done = NULL;
    if (done)
        done(c->done_ctx, name, rc ? err : NULL);
}

static void vmcmd_swept(uv_async_t *a)
{
    vmcmd *c = a->data;
    /* The worker signals only once its sweep is over; the join below waits for its last instructions. */
    if (c->job && __atomic_load_n(&c->sweeping, __ATOMIC_ACQUIRE) == 2)
        vmcmd_save_end(c);
}

static void *vmcmd_sweep_thread(void *arg)
{
    vmcmd *c = arg;
    /* Narrower than the event loop's filter, which it inherits: should this one fail, that one still holds. */
    if (sandbox_enter(SANDBOX_SAVE))
        log_warn("saving %s: the worker keeps the event loop's filter", c->saving);
    snapshot_job_sweep(c->job);
    __atomic_store_n(&c->sweeping, 2, __ATOMIC_RELEASE);
    uv_async_send(&c->swept);
    return NULL;
}

void vmcmd_save(vmcmd *c, const vmcmd_save_opts *opts, vmcmd_save_done_fn done, void *ctx)
{
    char name[SS_NAME_MAX + 64], err[512];
    if (opts && opts->name) {
        snprintf(name, sizeof(name), "%s", opts->name);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(name, sizeof(name), "console-%Y%m%d-%H%M%S", &tm);
    }
    if (!c->st) {
        done(ctx, name, "no state database: start vmm with --state DB");
        return;
    }
    if (c->job) {
        snprintf(err, sizeof(err), "snapshot '%s' is being saved; try again when it is done", c->saving);
        done(ctx, name, err);
        return;
    }
    if (c->config_err[0]) {
        snprintf(err, sizeof(err), "%s", c->config_err);
        done(ctx, name, err);
        return;
    }
    snapshot_job *job;
    int rc = snapshot_save_start(c->v, c->st, opts && opts->name ? opts->name : name, c->config, &job, err,
                                 sizeof(err));
    if (rc <= 0) {
        done(ctx, name, rc ? err : NULL);
        return;
    }
    c->job = job;
    snprintf(c->saving, sizeof(c->saving), "%s", snapshot_job_name(job));
    c->done = done;
    c->done_ctx = ctx;
    c->sweeping = 1;
    if (pthread_create(&c->worker, NULL, vmcmd_sweep_thread, c)) {
        /* No thread to spare: the sweep runs here, as it did before it had one. */
        log_warn("saving %s: no worker thread; the console waits for the save", c->saving);
        c->sweeping = 0;
        snapshot_job_sweep(job);
        vmcmd_save_end(c);
        return;
    }
    log_info("saving snapshot '%s' live: the guest runs while its RAM is written", c->saving);
}

void vmcmd_save_forget(vmcmd *c, void *ctx)
{
    if (c && c->done && c->done_ctx == ctx)
        c->done = NULL;
}

void vmcmd_finish(vmcmd *c)
{
    if (c)
        vmcmd_save_end(c);
}

void vmcmd_destroy(vmcmd *c)
{
    if (!c)
        return;
    vmcmd_save_end(c); /* if nobody finished it: the worker must not outlive the VM it reads */
    free(c);
}
