/* sandbox: see sandbox.h. Why each system call is allowed to each kind: docs/sandbox.md. */
#include "sandbox.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

/* Sanitizer runtimes make calls of their own (docs/sandbox.md): their builds allow those too. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

#define V (1u << SANDBOX_VCPU)
#define L (1u << SANDBOX_LOOP)
#define P (1u << SANDBOX_PAGER)
#define S (1u << SANDBOX_SAVE)
#define I (1u << SANDBOX_IO)
#define ALL (V | L | P | S | I)

typedef struct sandbox_rule {
    const char *name;
    unsigned kinds;
} sandbox_rule;

/* Calls allowed without looking at their arguments. Names, not numbers, so that libseccomp skips what this
 * architecture lacks. */
static const sandbox_rule sandbox_rules[] = {
    /* Every thread: memory, locks, time, signals, its own end, and the SIGSYS handler's write and exit. */
    {"read", ALL},
    {"write", ALL},
    {"readv", ALL},
    {"writev", ALL},
    {"close", ALL},
    {"futex", ALL},
    {"munmap", ALL},
    {"mremap", ALL},
    {"madvise", ALL},
    {"brk", ALL},
    {"exit", ALL},
    {"exit_group", ALL},
    {"rt_sigreturn", ALL},
    {"rt_sigprocmask", ALL},
    {"restart_syscall", ALL},
    {"clock_gettime", ALL},
    {"clock_nanosleep", ALL},
    {"nanosleep", ALL},
    {"gettimeofday", ALL},
    {"sched_yield", ALL},
    {"getpid", ALL},
    {"gettid", ALL},
    {"tgkill", ALL},
    {"newfstatat", ALL},
    {"fstat", ALL},
    {"lseek", ALL},
    /* glibc's qsort asks how much memory the host has. */
    {"sysinfo", ALL},
    /* The event loop: libuv's epoll, its async wake-ups and signal pipe, the control socket's clients, the
     * timers, the terminal, and the saves and shutdown it runs (LMDB, unlinking the control socket). */
    {"epoll_wait", L},
    {"epoll_pwait", L},
    {"epoll_pwait2", L},
    {"epoll_ctl", L},
    {"accept4", L},
    {"accept", L},
    {"shutdown", L},
    {"recvmsg", L},
    {"sendmsg", L},
    {"getsockopt", L},
    {"timerfd_settime", V | L | I}, /* devices arm their timers from I/O callbacks and their own threads too */
    {"timerfd_gettime", V | L},
    {"fcntl", L | P | S},
    {"rt_sigaction", L},
    {"unlink", L},
    {"uname", L},
    /* A live save write-protects guest RAM with a userfaultfd of its own, and its worker lifts the protection. */
    {"userfaultfd", L},
    /* What a thread it creates does first, before it could install a filter of its own. */
    {"rseq", L},
    {"set_robust_list", L},
    {"pread64", V | L | P | S | I},
    {"pwrite64", V | L | S | I},
    {"pwritev", V | L | S | I},
    {"preadv", V | L | P | S | I},
    {"fdatasync", V | L | S | I},
    {"fsync", L | S | I},
    {"msync", L | S},
    {"flock", L | S},
    {"ftruncate", V | L | S},
    /* Device plugins serve requests on the vCPU thread that notified them (virtio-blk's reads, writes, flushes and
     * discards of its image, virtio-rng's random bytes: docs/devices.md). */
    {"getrandom", V},
    {"fallocate", V | I}, /* discards, from a device's I/O thread too */
    /* Code buffers made while the guest runs (x86-raw's relegation, the recompiler): a memfd mapped twice. */
    {"memfd_create", V},
    /* The pager waits for faults and for its stop event; a RISC-V hart in WFI waits for its wake-up eventfd; a
     * device's I/O thread waits for its backend (virtio-console's socket, virtio-net's TAP) and its wake-up. */
    {"poll", V | P | I},
    {"ppoll", V | P | I},
    /* A device's I/O thread may wait on an epoll set made while the device was set up. */
    {"epoll_wait", I},
    {"epoll_pwait", I},
    {"epoll_pwait2", I},
    {"epoll_ctl", I},
    {NULL, 0},
};

/* Calls the sanitizer runtimes make: thread set-up (an alternate signal stack, the stack bounds), and LeakSanitizer
 * at exit, which stops every thread from a helper task it clones and traces them (docs/sandbox.md). That task lists
 * /proc/self/task with the old getdents (x86-64's sanitizer runtime), not getdents64. */
static const char *const sandbox_sanitizer_calls[] = {
    "sigaltstack", "prctl", "getrlimit", "prlimit64", "openat", "open", "getdents", "getdents64", "readlink", "ptrace",
    "wait4", "waitid", "sched_getaffinity", "rt_sigaction", "clone", "pipe2", "dup", "dup2", "kill", "getppid",
    "mlock", "munlock", "personality", "getuid", "geteuid", "faccessat", "access", "statx", "stat", "lstat", NULL,
};

/* ioctl requests the SIGSYS handler and the terminal need. */
#define SANDBOX_IOCTL_TYPE_MASK 0xff00u

static const char *const sandbox_kind_names[SANDBOX_KINDS] = {"vcpu", "event-loop", "snapshot pager",
                                                              "live-save worker", "device I/O"};

static int sandbox_on;
static unsigned sandbox_logged; /* kinds whose installation was logged, one line each */

/* System call names for the SIGSYS handler, resolved before any filter: libseccomp allocates its answer. */
#define SANDBOX_MAX_NR 512
static char sandbox_names[SANDBOX_MAX_NR][24];

#define SANDBOX_DEPTH 8
static _Thread_local int sandbox_thread_kind = -1;
static _Thread_local const char *sandbox_instances[SANDBOX_DEPTH];
static _Thread_local unsigned sandbox_ninstances;
static _Thread_local const char *sandbox_owner_instance, *sandbox_owner_thread;

const char *sandbox_kind_name(sandbox_kind kind)
{
    return kind < SANDBOX_KINDS ? sandbox_kind_names[kind] : "?";
}

int sandbox_default(void)
{
    return 1;
}

int sandbox_enabled(void)
{
    return sandbox_on;
}

void sandbox_instance_push(const char *name)
{
    if (sandbox_ninstances < SANDBOX_DEPTH)
        sandbox_instances[sandbox_ninstances] = name;
    sandbox_ninstances++;
}

void sandbox_instance_pop(void)
{
    if (sandbox_ninstances)
        sandbox_ninstances--;
}

void sandbox_thread_owner(const char *instance, const char *thread)
{
    sandbox_owner_instance = instance;
    sandbox_owner_thread = thread;
}

/* ---- The SIGSYS handler: async-signal-safe calls only, each allowed by every kind's filter ---------------- */

static size_t sandbox_append(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t sandbox_append_uint(char *buf, size_t at, size_t cap, unsigned long v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof(digits));
    while (n && at + 1 < cap)
        buf[at++] = digits[--n];
    return at;
}

static void sandbox_sigsys(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)uctx;
    /* The terminal first, or the shell is left raw: uv_tty_reset_mode is async-signal-safe (libuv documents it)
     * and its TCSETS ioctl is allowed to every kind for this. */
    loop_restore_terminal();
    char line[256];
    size_t n = 0, cap = sizeof(line);
    int nr = info->si_syscall;
    n = sandbox_append(line, n, cap, "vmm: sandbox: forbidden system call ");
    n = sandbox_append(line, n, cap, nr >= 0 && nr < SANDBOX_MAX_NR && sandbox_names[nr][0] ? sandbox_names[nr] : "?");
    n = sandbox_append(line, n, cap, " (");
    n = sandbox_append_uint(line, n, cap, (unsigned long)(unsigned)nr);
    n = sandbox_append(line, n, cap, ") in the ");
    n = sandbox_append(line, n, cap, sandbox_thread_kind >= 0 ? sandbox_kind_names[sandbox_thread_kind] : "?");
    n = sandbox_append(line, n, cap, " thread");
    if (sandbox_owner_instance) {
        n = sandbox_append(line, n, cap, " '");
        n = sandbox_append(line, n, cap, sandbox_owner_thread ? sandbox_owner_thread : "?");
        n = sandbox_append(line, n, cap, "' of plugin instance '");
        n = sandbox_append(line, n, cap, sandbox_owner_instance);
        n = sandbox_append(line, n, cap, "'");
    }
    if (sandbox_ninstances) {
        unsigned top = sandbox_ninstances <= SANDBOX_DEPTH ? sandbox_ninstances - 1 : SANDBOX_DEPTH - 1;
        n = sandbox_append(line, n, cap, ", in a callback of plugin instance '");
        n = sandbox_append(line, n, cap, sandbox_instances[top]);
        n = sandbox_append(line, n, cap, "'");
    }
    n = sandbox_append(line, n, cap, "; vmm stops (--sandbox off runs without the filters)\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    _exit(1);
}

int sandbox_configure(int enabled)
{
    sandbox_on = enabled;
    if (!enabled)
        return 0;
    for (int nr = 0; nr < SANDBOX_MAX_NR; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name) {
            strncpy(sandbox_names[nr], name, sizeof(sandbox_names[nr]) - 1);
            free(name);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = sandbox_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL)) {
        log_error("sandbox: cannot install the SIGSYS handler: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- Filters ------------------------------------------------------------------------------------------- */

static int sandbox_allow(scmp_filter_ctx ctx, const char *name, unsigned *count)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (rc == 0)
        (*count)++;
    return rc == -EEXIST ? 0 : rc;
}

static int sandbox_allow_ioctl_type(scmp_filter_ctx ctx, unsigned type)
{
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                            SCMP_A1(SCMP_CMP_MASKED_EQ, SANDBOX_IOCTL_TYPE_MASK, type << 8));
}

static int sandbox_allow_ioctl(scmp_filter_ctx ctx, unsigned long request)
{
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, request));
}

/* The rules that look at arguments. */
static int sandbox_add_conditional(scmp_filter_ctx ctx, sandbox_kind kind)
{
    int rc = 0;
    /* Every kind: the SIGSYS handler puts the terminal back (TCSETS); isatty (a save's progress meter). */
    rc |= sandbox_allow_ioctl(ctx, TCSETS);
    rc |= sandbox_allow_ioctl(ctx, TCGETS);
    /* No file is opened after start-up, but glibc's malloc opens /proc/sys/vm/overcommit_memory once, in whichever
     * thread first trims a heap, and copes with a failure: opening fails (EACCES) rather than ending vmm. */
    if (!SANDBOX_SANITIZER) {
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
    }
    switch (kind) {
    case SANDBOX_VCPU:
        /* KVM_RUN and the vCPU and VM state the engines read and write; nothing else of any device. */
        rc |= sandbox_allow_ioctl_type(ctx, KVMIO);
        /* The in-process engines' code buffers are mapped, written and made executable while the guest runs. */
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 0);
        break;
    case SANDBOX_LOOP:
        /* Saves read vCPU state (KVM), the terminal is set raw and back, libuv makes descriptors non-blocking. */
        rc |= sandbox_allow_ioctl_type(ctx, KVMIO);
        rc |= sandbox_allow_ioctl_type(ctx, UFFDIO);
        rc |= sandbox_allow_ioctl(ctx, TCSETSW);
        rc |= sandbox_allow_ioctl(ctx, TCSETSF);
        rc |= sandbox_allow_ioctl(ctx, TIOCGWINSZ);
        rc |= sandbox_allow_ioctl(ctx, FIONBIO);
        rc |= sandbox_allow_ioctl(ctx, FIOCLEX);
        /* Threads only (the live save's worker, libuv's pool): no fork. clone3 takes its flags in memory the
         * filter cannot read, so it fails as if the kernel lacked it and glibc falls back to clone. */
        if (!SANDBOX_SANITIZER) /* which allows clone outright, for LeakSanitizer */
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        /* The live save's worker adds its own, narrower filter on top of this one: filters only ever restrict. */
        if (!SANDBOX_SANITIZER) /* which allows prctl outright (LeakSanitizer's PR_SET_PTRACER, PDEATHSIG) */
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                   SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
                               SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
        /* libuv sizes its pool threads' stacks from RLIMIT_STACK: reading a limit, never setting one. */
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_EQ, 0));
        break;
    case SANDBOX_PAGER:
        /* UFFDIO_COPY, _ZEROPAGE, _UNREGISTER, _WAKE. */
        rc |= sandbox_allow_ioctl_type(ctx, UFFDIO);
        break;
    case SANDBOX_SAVE:
        /* The sweep lifts the write protection of the pages it has saved. */
        rc |= sandbox_allow_ioctl_type(ctx, UFFDIO);
        break;
    default:
        break;
    }
    if (kind != SANDBOX_VCPU) {
        /* Memory, never executable: only the vCPU threads' engines generate code. */
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    }
    return rc;
}

int sandbox_enter(sandbox_kind kind)
{
    if (!sandbox_on || kind >= SANDBOX_KINDS)
        return 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) {
        log_error("sandbox: cannot create the %s filter", sandbox_kind_names[kind]);
        return -1;
    }
    unsigned count = 0;
    int rc = 0;
    for (const sandbox_rule *r = sandbox_rules; r->name && rc == 0; r++)
        if (r->kinds & (1u << kind))
            rc = sandbox_allow(ctx, r->name, &count);
    for (const char *const *c = sandbox_sanitizer_calls; SANDBOX_SANITIZER && *c && rc == 0; c++)
        rc = sandbox_allow(ctx, *c, &count);
    if (rc == 0)
        rc = sandbox_add_conditional(ctx, kind);
    sandbox_thread_kind = (int)kind;
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc) {
        sandbox_thread_kind = -1;
        log_error("sandbox: cannot install the %s filter: %s", sandbox_kind_names[kind], strerror(-rc));
        return -1;
    }
    if (!(__atomic_fetch_or(&sandbox_logged, 1u << kind, __ATOMIC_RELAXED) & (1u << kind)))
        log_info("sandbox: %s filter installed (%u system calls allowed outright, some more by argument%s)",
                 sandbox_kind_names[kind], count, SANDBOX_SANITIZER ? "; sanitizer build: its runtime's too" : "");
    return 0;
}
