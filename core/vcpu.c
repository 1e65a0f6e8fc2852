/* vcpu: see vcpu.h. */
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "log.h"
#include "sandbox.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
    (void)sig; /* only there to interrupt KVM_RUN with EINTR */
}

int vcpu_setup_kick_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vcpu_kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the run ioctl must return */
    if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL)) {
        log_error("cannot install the vCPU kick signal: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void vcpu_kick(vmm_vcpu *vcpu)
{
    if (vcpu->hv)
        hostdrv_vcpu_kick(vcpu->hv);
    if (vcpu->started)
        pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

static const char *vcpu_exit_name(uint32_t reason)
{
    static const char *const names[] = {"none", "port I/O", "MMIO", "halt", "shutdown", "internal error",
                                        "failed entry", "system event", "debug", "interrupted", "unknown",
                                        "model-specific register"};
    _Static_assert(sizeof(names) / sizeof(names[0]) == VCPU_EXIT_REASONS, "a name for every exit reason");
    return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "?";
}

static void vcpu_block_host_signals(void)
{
    /* SIGINT and SIGTERM belong to the event loop; the kick signal must reach this thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int vcpu_run_software(void *arg)
{
    vmm_vcpu *vcpu = arg;
    vm *v = vcpu->vm;
    vmm_exit_action a = v->arch->desc->arch->vcpu_run(v->arch, v->arch->state, vcpu);
    if (a == VMM_ACTION_HOST)
        log_error("vCPU %u: %s asked for another engine in the middle of a run; it runs on --accel inproc",
                  vcpu->index, v->arch->name);
    return a == VMM_ACTION_STOP || a == VMM_ACTION_HOST;
}

void *vcpu_thread(void *arg)
{
    vmm_vcpu *vcpu = arg;
    vm *v = vcpu->vm;
    const vmm_arch_ops *arch = v->arch->desc->arch;
    vmm_exit exit;

    vm_set_current_vcpu(vcpu);
    vcpu_block_host_signals();
    /* Start-up is over for this thread: its engine and the devices are set up. */
    if (sandbox_enter(SANDBOX_VCPU)) {
        vm_request_stop(v, 1);
        return NULL;
    }
    /* An exit to user space can leave the guest's instruction half done (a port or MMIO read whose value the
     * next run stores, an MSR access): the engine finishes it only on the next run. The vCPU therefore
     * parks for a pause (a save reads its state) only after a run that was interrupted; until then each run is
     * asked to finish what is pending and return at once, without executing guest code. */
    int settled = 1;
    for (;;) {
        if (settled ? vm_park_if_paused(v) : vm_is_stopping(v))
            break;
        if (!settled && vm_wants_vcpus_back(v))
            hostdrv_vcpu_kick(vcpu->hv);
        settled = 1;
        if (hostdrv_vcpu_run(vcpu->hv, &exit)) {
            log_error("vCPU %u: the %s engine failed to run the guest: %s", vcpu->index,
                      hostdrv_engine_name(hostdrv_engine_of(v->drv)), strerror(errno));
            if (arch->vcpu_dump)
                arch->vcpu_dump(v->arch, v->arch->state, vcpu);
            vm_request_stop(v, 1);
            break;
        }
        settled = exit.reason == VMM_EXIT_INTERRUPTED;
        if (exit.reason < VCPU_EXIT_REASONS)
            vcpu->exits_by_reason[exit.reason]++;
        switch (exit.reason) {
        case VMM_EXIT_PIO:
            vm_dispatch_pio(v, &exit);
            break;
        case VMM_EXIT_MMIO:
            vm_dispatch_mmio(v, &exit);
            break;
        case VMM_EXIT_INTERRUPTED:
            break;
        case HOSTDRV_EXIT_ENGINE_STOP:
            vm_request_stop(v, 1); /* the first status wins: the architecture's, if it gave one */
            break;
        default:
            /* Everything else, VMM_EXIT_MSR included, is the architecture's: the plugin answers through the exit. */
            if (log_enabled(VMM_LOG_DEBUG))
                log_debug("vCPU %u: %s exit", vcpu->index, vcpu_exit_name(exit.reason));
            if (arch->vcpu_exit(v->arch, v->arch->state, vcpu, &exit) == VMM_ACTION_STOP)
                vm_request_stop(v, 1); /* the first status wins: the plugin's, if it gave one */
            break;
        }
        vcpu->exits++;
    }
    log_debug("vCPU %u: leaves after %llu exits", vcpu->index, (unsigned long long)vcpu->exits);
    return NULL;
}
