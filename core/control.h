/*
 * control: the control socket (`--control PATH`): a Unix stream socket on the event loop speaking JSON lines.
 * Requests: {"cmd":"status"}, {"cmd":"pause"}, {"cmd":"resume"}, {"cmd":"save","name":"NAME"}, {"cmd":"quit"},
 * carried out by vmcmd. Replies: {"ok":true,...} or {"ok":false,"error":"..."}, one line each, in the order of
 * one client's requests (docs/control.md). Also the client, `vmm ctl`.
 * Called by main.c only; the parsing layer below (requests, lines, JSON strings) also by the fuzz harness
 * tests/fuzz/fuzz_control.c, which drives it without a VM or a socket.
 */
#ifndef VMM_CORE_CONTROL_H
#define VMM_CORE_CONTROL_H

#include <stddef.h>

#include "loop.h"
#include "vmcmd.h"

typedef struct control control;

#define CONTROL_LINE_MAX 4096 /* a request's bytes with its newline */

/* A request: its command and, if it has one, its name, decoded from their JSON strings. As long as a line can be,
 * so that a value is never cut short but refused for what it is. */
typedef struct control_request {
    char cmd[CONTROL_LINE_MAX];
    char name[CONTROL_LINE_MAX];
    int has_name;
} control_request;

/* Parse one request line (len bytes, without its newline) into rq. 0, or -1 with a one-line "bad request: ..."
 * reason in err (malformed JSON, not a flat object of string values, no "cmd", a NUL byte). */
int control_request_parse(const char *line, size_t len, control_request *rq, char *err, size_t errlen);
/* Hand each complete non-empty line of buf[0, len) to fn (NUL-terminated in place, without its newline), in order,
 * until fn returns non-zero; the bytes after the last line handed over are moved to the front of buf. Returns
 * their count: the start of a line still to come. */
typedef int (*control_line_fn)(void *ctx, const char *line, size_t len);
size_t control_lines(char *buf, size_t len, control_line_fn fn, void *ctx);
/* Append text to the JSON string being built in out (NUL-terminated), escaped; stops early rather than overflow
 * outlen. */
void control_json_escape(char *out, size_t outlen, const char *text);

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
