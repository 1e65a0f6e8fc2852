/*
 * control: the control socket (`--control PATH`): a Unix stream socket on the event loop speaking JSON lines.
 * Requests: {"cmd":"status"}, {"cmd":"pause"}, {"cmd":"resume"}, {"cmd":"save","name":"NAME"}, {"cmd":"quit"},
 * carried out by vmcmd. Replies: {"ok":true,...} or {"ok":false,"error":"..."}, one line each, in the order of
 * one client's requests (docs/control.md). Also the client, `vmm ctl`.
 * Called by main.c only.
 */
#ifndef VMM_CORE_CONTROL_H
#define VMM_CORE_CONTROL_H

#include <stddef.h>

#include "loop.h"
#include "vmcmd.h"

typedef struct control control;

/* Check --control PATH before anything is opened: its length, no live vmm there, and that a socket can be
 * created in its directory. 0, or -1 with a one-line reason in err. */
int control_check_path(const char *path, char *err, size_t errlen);
/* Listen on path; requests go to cmds (vmcmd.h), which must outlive the loop. */
control *control_start(loop *lp, vmcmd *cmds, const char *path, char *err, size_t errlen);
/* Close the socket, remove its file, and free c once the loop runs again (loop_destroy runs it). */
void control_stop(control *c);

/* `vmm ctl PATH COMMAND [NAME]`: send one request, print the reply; 0 when it says ok, 1 otherwise, 2 when the
 * socket cannot be reached. */
int control_client(const char *path, const char *command, const char *name);

#endif
