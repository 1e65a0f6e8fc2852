/* iothread: see iothread.h. Why the device I/O kind allows what it does: docs/sandbox.md. */
#include "iothread.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox.h"
#include "vm.h"

struct vmm_thread {
    vmm_instance *inst;
    pthread_t tid;
    vmm_thread_fn fn;
    void *arg;
    char name[16]; /* what the kernel keeps of a thread's name (15 characters) */
    sem_t ready;   /* posted once the filter is in place, or has failed */
    int failed;
};

static void *iothread_main(void *p)
{
    vmm_thread *t = p;
    /* Named first: for the calling thread glibc names it with prctl, which the filter does not allow. */
    pthread_setname_np(pthread_self(), t->name);
    sandbox_thread_owner(t->inst->name, t->name);
    t->failed = sandbox_enter(SANDBOX_IO) != 0;
    int failed = t->failed;
    sem_post(&t->ready); /* t->failed is the creator's to read from here on */
    if (failed)
        return NULL;
    return t->fn(t->arg);
}

int iothread_hlp_start(vmm_instance *inst, const char *name, vmm_thread_fn fn, void *arg, vmm_thread **thread)
{
    if (thread)
        *thread = NULL;
    if (!name || !*name || !fn || !thread) {
        log_msg(VMM_LOG_ERROR, inst->name, "thread_start: a name, a function and a place for the handle are needed");
        inst->logged_error = 1;
        return -1;
    }
    /* After start-up the calling thread has a filter of its own, which may not allow it to create threads (a
     * vCPU's): refused the same way with the sandbox on or off. */
    if (inst->vm->running) {
        log_msg(VMM_LOG_ERROR, inst->name, "thread_start '%s': only while the instance is set up (construct), not "
                "once the VM runs", name);
        inst->logged_error = 1;
        return -1;
    }
    vmm_thread *t = calloc(1, sizeof(*t));
    if (!t) {
        log_msg(VMM_LOG_ERROR, inst->name, "thread_start '%s': out of memory", name);
        inst->logged_error = 1;
        return -1;
    }
    t->inst = inst;
    t->fn = fn;
    t->arg = arg;
    strncpy(t->name, name, sizeof(t->name) - 1);
    sem_init(&t->ready, 0, 0);
    int rc = pthread_create(&t->tid, NULL, iothread_main, t);
    if (rc) {
        log_msg(VMM_LOG_ERROR, inst->name, "thread_start '%s': cannot create the thread: %s", name, strerror(rc));
        inst->logged_error = 1;
        sem_destroy(&t->ready);
        free(t);
        return -1;
    }
    while (sem_wait(&t->ready) && errno == EINTR)
        ;
    if (t->failed) { /* sandbox_enter logged why */
        pthread_join(t->tid, NULL);
        sem_destroy(&t->ready);
        free(t);
        inst->logged_error = 1;
        return -1;
    }
    __atomic_add_fetch(&inst->threads, 1, __ATOMIC_RELAXED);
    *thread = t;
    return 0;
}

int iothread_hlp_join(vmm_thread *t, void **result)
{
    if (!t)
        return -1;
    if (pthread_equal(t->tid, pthread_self())) {
        log_msg(VMM_LOG_ERROR, t->inst->name, "thread_join '%s': a thread cannot join itself", t->name);
        return -1;
    }
    void *res = NULL;
    int rc = pthread_join(t->tid, &res);
    if (rc) {
        log_msg(VMM_LOG_ERROR, t->inst->name, "thread_join '%s': %s", t->name, strerror(rc));
        return -1;
    }
    if (result)
        *result = res;
    __atomic_sub_fetch(&t->inst->threads, 1, __ATOMIC_RELAXED);
    sem_destroy(&t->ready);
    free(t);
    return 0;
}
