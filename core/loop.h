/*
 * loop: the libuv event loop on vmm's main thread. It owns the terminal (console output queue, raw-mode
 * input with the Ctrl-A escape keys), SIGINT/SIGTERM, and the timers offered to plugins. vCPU threads and
 * plugins talk to it only through the thread-safe functions below. Called by core/ only.
 */
#ifndef VMM_CORE_LOOP_H
#define VMM_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

typedef struct loop loop;
typedef struct vm vm;

loop *loop_create(void);
/* Attach the VM whose stop ends the loop; take the terminal (raw mode when stdin is a terminal). */
int loop_attach(loop *lp, vm *v);
/* The libuv loop, for modules that add handles to it (the control socket). */
struct uv_loop_s *loop_uv(loop *lp);
/* The VM's commands, which the console keys (Ctrl-A p, s, x) call. */
struct vmcmd;
void loop_set_commands(loop *lp, struct vmcmd *cmds);
/* Run until the VM stops. */
void loop_run(loop *lp);
/* Restore the terminal and free everything; safe to call twice. */
void loop_destroy(loop *lp);
/* Restore the terminal only (for exit paths that cannot run the loop any more). Async-signal-safe (the sandbox's
 * SIGSYS handler calls it). */
void loop_restore_terminal(void);

/* Thread-safe: wake the loop because the VM is stopping. */
void loop_notify_stop(loop *lp);

/* Console: thread-safe output; one instance claims input. */
void loop_console_write(loop *lp, const void *buf, size_t len);
int loop_console_claim_input(loop *lp, vmm_instance *inst, vmm_console_input_fn fn);

/* Timers (thread-safe). */
vmm_timer *loop_timer_create(loop *lp, vmm_instance *inst, vmm_timer_fn fn);
int loop_timer_arm(vmm_timer *t, uint64_t delay_ns, uint64_t period_ns);
void loop_timer_stop(vmm_timer *t);
uint64_t loop_clock_ns(void);

#endif
