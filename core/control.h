/*
 * control: the control socket (`--control PATH`): a Unix stream socket on the event loop speaking JSON lines.
 * Requests: {"cmd":"status"}, {"cmd":"pause"}, {"cmd":"resume"}, {"cmd":"save","name":"NAME"}, {"cmd":"quit"}.
 * Replies: {"ok":true,...} or {"ok":false,"error":"..."}, one line each (docs/control.md). Also the client,
 * `vmm ctl`.
 * Called by main.c only.
 */
#ifndef VMM_CORE_CONTROL_H
#define VMM_CORE_CONTROL_H

#include <stddef.h>

#include "loop.h"
#include "vm.h"

typedef struct control control;

/* What the socket's save request calls (main knows the store and the configuration). */
typedef int (*control_save_fn)(void *ctx, const char *name, char *err, size_t errlen);

/* Check --control PATH before anything is opened: its length, no live vmm there, and that a socket can be
 * created in its directory. 0, or -1 with a one-line reason in err. */
int control_check_path(const char *path, char *err, size_t errlen);
control *control_start(loop *lp, vm *v, const char *path, control_save_fn save, void *ctx, char *err, size_t errlen);
/* Close the socket, remove its file, and free c once the loop runs again (loop_destroy runs it). */
void control_stop(control *c);

/* `vmm ctl PATH COMMAND [NAME]`: send one request, print the reply; 0 when it says ok, 1 otherwise, 2 when the
 * socket cannot be reached. */
int control_client(const char *path, const char *command, const char *name);

#endif
