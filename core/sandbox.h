/*
 * sandbox: the seccomp filters of `vmm run` (least privilege per thread kind, docs/sandbox.md). Each thread
 * installs the filter of its kind itself once start-up is over; a forbidden system call ends vmm with one line
 * naming the call, the thread kind and the plugin instance whose callback was running. Called by main.c
 * (configure, the loop thread's filter), vcpu.c, snapshot.c, vmcmd.c and iothread.c (their threads' filters) and
 * vm.c (which instance a thread is in).
 */
#ifndef VMM_CORE_SANDBOX_H
#define VMM_CORE_SANDBOX_H

typedef enum sandbox_kind {
    SANDBOX_VCPU,  /* runs the guest: KVM_RUN or an in-process engine, I/O callbacks */
    SANDBOX_LOOP,  /* the event loop: console, signals, timers, control socket, saves, shutdown */
    SANDBOX_PAGER, /* lazy restore: userfaultfd faults served from the state database */
    SANDBOX_SAVE,  /* a live save's sweep: the LMDB write transaction */
    SANDBOX_IO,    /* a device's own thread (SDK 1.7 thread_start): reads and writes of its descriptors */
    SANDBOX_KINDS
} sandbox_kind;

/* Turn the filters on (vmm run does so unless --sandbox off) and install the SIGSYS handler. Before any thread
 * that enters the sandbox starts. 0, or -1 after logging why. Without it sandbox_enter does nothing, so that
 * tests linking the core run unfiltered. */
int sandbox_configure(int enabled);
int sandbox_enabled(void);
/* What --sandbox defaults to: on, in sanitizer builds too (their runtimes' calls are allowed there, LeakSanitizer's
 * exit-time check included: docs/sandbox.md). */
int sandbox_default(void);
/* Install the filter of `kind` on the calling thread (filters stack: a thread created later by it keeps this
 * one too). 0, or -1 after logging why. */
int sandbox_enter(sandbox_kind kind);
const char *sandbox_kind_name(sandbox_kind kind);

/* The calling thread is now in / has left a callback of the plugin instance `name` (a string that outlives the
 * call), for the message when that callback makes a forbidden call. Nested calls nest. */
void sandbox_instance_push(const char *name);
void sandbox_instance_pop(void);
/* The calling thread belongs to plugin instance `instance` and is called `thread` (strings that outlive the
 * thread), for the message when it makes a forbidden call outside any callback: a device's I/O thread. */
void sandbox_thread_owner(const char *instance, const char *thread);

#endif
