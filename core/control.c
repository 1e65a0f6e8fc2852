/* control: see control.h. The parser reads only flat objects of string values, which is all requests are. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"

#define CONTROL_LINE_MAX 4096

struct control {
    uv_pipe_t server;
    vm *vm;
    control_save_fn save;
    void *ctx;
    char path[108];
    int open;
};

typedef struct control_client_conn {
    uv_pipe_t pipe;
    control *ctl;
    char line[CONTROL_LINE_MAX];
    size_t len;
    int overflow;
} control_conn;

/* The string value of "key" in a flat JSON object, unescaped into out; 0 if present. */
static int control_json_get(const char *json, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != ':')
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '"')
        return -1;
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            if (!c)
                return -1;
        }
        if (n + 1 >= outlen)
            return -1;
        out[n++] = c;
    }
    if (*p != '"')
        return -1;
    out[n] = '\0';
    return 0;
}

/* Append text to a JSON string being built, escaped. */
static void control_json_escape(char *out, size_t outlen, const char *text)
{
    size_t n = strlen(out);
    for (; *text && n + 7 < outlen; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

static void control_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

/* A failed write means the client is gone (EPIPE, ECONNRESET) or being closed: drop that client only. */
static void control_write_done(uv_write_t *req, int status)
{
    uv_handle_t *h = (uv_handle_t *)req->handle;
    if (status < 0 && !uv_is_closing(h))
        uv_close(h, control_conn_closed);
    free(req);
}

static void control_reply(control_conn *c, const char *json)
{
    size_t n = strlen(json);
    uv_write_t *req = malloc(sizeof(*req) + n + 1);
    if (!req)
        return;
    char *copy = (char *)(req + 1);
    memcpy(copy, json, n);
    copy[n] = '\n';
    uv_buf_t b = uv_buf_init(copy, (unsigned)n + 1);
    if (uv_write(req, (uv_stream_t *)&c->pipe, &b, 1, control_write_done)) {
        free(req);
        if (!uv_is_closing((uv_handle_t *)&c->pipe))
            uv_close((uv_handle_t *)&c->pipe, control_conn_closed);
    }
}

static void control_reply_error(control_conn *c, const char *msg)
{
    char out[600] = "{\"ok\":false,\"error\":\"";
    control_json_escape(out, sizeof(out) - 3, msg);
    strcat(out, "\"}");
    control_reply(c, out);
}

static void control_handle(control_conn *c, const char *line)
{
    control *ctl = c->ctl;
    char cmd[32], name[128], err[512];
    if (control_json_get(line, "cmd", cmd, sizeof(cmd))) {
        control_reply_error(c, "a request is a JSON object with a \"cmd\" string");
        return;
    }
    if (!strcmp(cmd, "status")) {
        char out[300];
        snprintf(out, sizeof(out), "{\"ok\":true,\"state\":\"%s\",\"vcpus\":%u,\"last_snapshot\":\"",
                 vm_is_stopping(ctl->vm) ? "stopping" : vm_is_paused(ctl->vm) ? "paused" : "running", ctl->vm->ncpus);
        control_json_escape(out, sizeof(out) - 3, ctl->vm->last_snapshot);
        strcat(out, "\"}");
        control_reply(c, out);
    } else if (!strcmp(cmd, "pause")) {
        if (vm_pause(ctl->vm))
            control_reply_error(c, "the VM is stopping");
        else
            control_reply(c, "{\"ok\":true,\"state\":\"paused\"}");
    } else if (!strcmp(cmd, "resume")) {
        vm_resume(ctl->vm);
        control_reply(c, "{\"ok\":true,\"state\":\"running\"}");
    } else if (!strcmp(cmd, "save")) {
        if (control_json_get(line, "name", name, sizeof(name)) || !name[0]) {
            control_reply_error(c, "save needs a \"name\"");
        } else if (!ctl->save) {
            control_reply_error(c, "no state database: start vmm with --state DB");
        } else if (ctl->save(ctl->ctx, name, err, sizeof(err))) {
            control_reply_error(c, err);
        } else {
            char out[300] = "{\"ok\":true,\"saved\":\"";
            control_json_escape(out, sizeof(out) - 3, name);
            strcat(out, "\"}");
            control_reply(c, out);
        }
    } else if (!strcmp(cmd, "quit")) {
        control_reply(c, "{\"ok\":true,\"state\":\"stopping\"}");
        vm_request_stop(ctl->vm, 0);
    } else {
        snprintf(err, sizeof(err), "unknown command '%s' (status, pause, resume, save, quit)", cmd);
        control_reply_error(c, err);
    }
}

static void control_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    control_conn *c = h->data;
    (void)suggested;
    /* Read straight into the line buffer; a line longer than it is refused as a whole. */
    if (c->len >= sizeof(c->line) - 1) {
        c->len = 0;
        c->overflow = 1;
    }
    *buf = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - 1 - c->len));
}

static void control_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    control_conn *c = s->data;
    (void)buf;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, control_conn_closed);
        return;
    }
    c->len += (size_t)n;
    char *nl;
    while (!uv_is_closing((uv_handle_t *)s) && (nl = memchr(c->line, '\n', c->len))) {
        *nl = '\0';
        if (c->overflow)
            control_reply_error(c, "request line too long");
        else if (nl > c->line)
            control_handle(c, c->line);
        c->overflow = 0;
        size_t rest = c->len - (size_t)(nl + 1 - c->line);
        memmove(c->line, nl + 1, rest);
        c->len = rest;
    }
}

static void control_on_connect(uv_stream_t *server, int status)
{
    control *ctl = server->data;
    if (status < 0)
        return;
    control_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->ctl = ctl;
    uv_pipe_init(server->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) || uv_read_start((uv_stream_t *)&c->pipe, control_alloc, control_read))
        uv_close((uv_handle_t *)&c->pipe, control_conn_closed);
}

/* A socket file left by a vmm that died is removed; one another vmm is listening on is not. */
static int control_clear_stale(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "--control %s: the file exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    if (live) {
        snprintf(err, errlen, "--control %s: another vmm is listening there", path);
        return -1;
    }
    unlink(path);
    return 0;
}

/* A path a socket can be bound to: fits sun_path, and no live vmm listens there (a stale socket is removed). */
static int control_path_free(const char *path, char *err, size_t errlen)
{
    if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "--control %s: %s", path, *path ? "the path is too long for a Unix socket" : "empty path");
        return -1;
    }
    return control_clear_stale(path, err, errlen);
}

int control_check_path(const char *path, char *err, size_t errlen)
{
    if (control_path_free(path, err, errlen))
        return -1;
    /* Bind once to learn whether the directory takes a socket (missing, read-only, not a directory...). */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
        return -1;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    int e = errno;
    close(fd);
    if (rc) {
        snprintf(err, errlen, "--control %s: cannot create a socket there: %s", path, strerror(e));
        return -1;
    }
    unlink(path);
    return 0;
}

/* The server handle is the last thing of a control object to close; its callback frees the object. */
static void control_server_closed(uv_handle_t *h)
{
    free(h->data);
}

control *control_start(loop *lp, vm *v, const char *path, control_save_fn save, void *ctx, char *err, size_t errlen)
{
    if (control_path_free(path, err, errlen))
        return NULL;
    control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->vm = v;
    c->save = save;
    c->ctx = ctx;
    snprintf(c->path, sizeof(c->path), "%s", path);
    uv_pipe_init(loop_uv(lp), &c->server, 0);
    c->server.data = c;
    int rc = uv_pipe_bind(&c->server, path);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&c->server, 8, control_on_connect);
    if (rc) {
        snprintf(err, errlen, "--control %s: %s", path, uv_strerror(rc));
        unlink(path);
        uv_close((uv_handle_t *)&c->server, control_server_closed); /* freed when the loop next runs */
        return NULL;
    }
    c->open = 1;
    return c;
}

static void control_close_conn(uv_handle_t *h, void *arg)
{
    control *ctl = arg;
    if (h->type == UV_NAMED_PIPE && h != (uv_handle_t *)&ctl->server && h->data &&
        ((control_conn *)h->data)->ctl == ctl && !uv_is_closing(h))
        uv_close(h, control_conn_closed);
}

void control_stop(control *c)
{
    if (!c || !c->open)
        return;
    c->open = 0;
    uv_walk(c->server.loop, control_close_conn, c);
    unlink(c->path);
    uv_close((uv_handle_t *)&c->server, control_server_closed);
}

int control_client(const char *path, const char *command, const char *name)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path)) {
        fprintf(stderr, "vmm ctl: %s: the path is too long for a Unix socket\n", path);
        return 2;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "vmm ctl: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    char req[512] = "{\"cmd\":\"";
    control_json_escape(req, sizeof(req) - 40, command);
    if (name) {
        strcat(req, "\",\"name\":\"");
        control_json_escape(req, sizeof(req) - 4, name);
    }
    strcat(req, "\"}\n");
    size_t len = strlen(req), off = 0;
    while (off < len) {
        /* A vmm that closes the connection early is reported below, not a SIGPIPE that kills the client. */
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            fprintf(stderr, "vmm ctl: %s: %s\n", path, strerror(errno));
            close(fd);
            return 2;
        }
        off += (size_t)n;
    }
    char reply[4096];
    size_t got = 0;
    while (got < sizeof(reply) - 1) {
        ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(reply, '\n', got))
            break;
    }
    close(fd);
    reply[got] = '\0';
    if (!got) {
        fprintf(stderr, "vmm ctl: %s: no reply\n", path);
        return 2;
    }
    fputs(reply, stdout);
    if (reply[got - 1] != '\n')
        fputc('\n', stdout);
    return strstr(reply, "\"ok\":true") ? 0 : 1;
}
