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

/* Replies queued past this for one client mean that it does not read them: it is dropped rather than queued for. */
#define CONTROL_QUEUE_MAX (64u << 10)
/* More clients than this at once are refused, so that clients that connect and hang cannot use up vmm's file
 * descriptors (a live save needs one, for instance). */
#define CONTROL_CLIENTS_MAX 256

struct control {
    uv_pipe_t server;
    vmcmd *cmds;
    char path[108];
    int open;
    unsigned nclients;
};

typedef struct control_client_conn {
    uv_pipe_t pipe;
    uv_shutdown_t shutdown;
    control *ctl; /* NULL once the server is stopping (it may be freed before this client) */
    vmcmd *cmds;  /* outlives every client */
    char line[CONTROL_LINE_MAX];
    size_t len;
    int ending;
    int waiting; /* for the end of its save: its later requests wait, so that replies stay in order */
    int eof;     /* the client has finished sending */
    int reading;
    int handling; /* inside control_process: a save that ends at once must not start another pass */
} control_conn;

static int control_json_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Decode the JSON string whose opening quote *pp points at into out as UTF-8 (RFC 8259: \" \\ \/ \b \f \n \r \t
 * and \uXXXX, surrogate pairs joined); *pp ends past the closing quote. \u0000 is refused: the value goes on as a
 * C string. 0, or -1 with the reason in why. */
static int control_json_string(const char **pp, char *out, size_t outlen, const char **why)
{
    const char *p = *pp + 1;
    size_t n = 0;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        unsigned cp;
        if (c == '"')
            break;
        if (!c) {
            *why = "a string has no closing quote";
            return -1;
        }
        if (c < 0x20) {
            *why = "a control character in a string must be escaped";
            return -1;
        }
        if (c != '\\') {
            cp = c; /* bytes from 0x80 up pass through: they are already UTF-8 */
            p++;
        } else {
            char e = p[1];
            p += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (control_json_hex4(p, &cp)) {
                    *why = "\\u needs four hex digits";
                    return -1;
                }
                p += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    *why = "a \\u escape is a low surrogate without a high one before it";
                    return -1;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (p[0] != '\\' || p[1] != 'u' || control_json_hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                        *why = "a \\u escape is a high surrogate without a low one after it";
                        return -1;
                    }
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (!cp) {
                    *why = "\\u0000 is not allowed in a string";
                    return -1;
                }
                break;
            default:
                *why = "a string has an invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
                return -1;
            }
        }
        /* UTF-8: a raw byte, or the code point of an escape in 1 to 4 bytes */
        size_t len = c != '\\' || cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (n + len >= outlen) {
            *why = "a string is too long";
            return -1;
        }
        if (len == 1) {
            out[n++] = (char)cp;
        } else {
            static const unsigned char lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
            for (size_t i = len - 1; i > 0; i--, cp >>= 6)
                out[n + i] = (char)(0x80 | (cp & 0x3f));
            out[n] = (char)(lead[len] | cp);
            n += len;
        }
    }
    out[n] = '\0';
    *pp = p + 1;
    return 0;
}

static const char *control_json_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* The string value of key in json, a flat object of string values (all a request is), decoded into out: 0 found,
 * 1 absent, -1 malformed with the reason in why. */
static int control_json_get(const char *json, const char *key, char *out, size_t outlen, const char **why)
{
    char k[CONTROL_LINE_MAX];
    int found = 0;
    const char *p = control_json_space(json);
    if (*p != '{') {
        *why = "a request is a JSON object";
        return -1;
    }
    p = control_json_space(p + 1);
    if (*p == '}')
        p++;
    else
        for (;;) {
            if (*p != '"') {
                *why = "a member of the request has no quoted name";
                return -1;
            }
            if (control_json_string(&p, k, sizeof(k), why))
                return -1;
            p = control_json_space(p);
            if (*p != ':') {
                *why = "a member name is not followed by ':'";
                return -1;
            }
            p = control_json_space(p + 1);
            if (*p != '"') {
                *why = "every value in a request is a string";
                return -1;
            }
            int match = !strcmp(k, key);
            if (control_json_string(&p, match ? out : k, match ? outlen : sizeof(k), why))
                return -1;
            found |= match;
            p = control_json_space(p);
            if (*p == '}') {
                p++;
                break;
            }
            if (*p != ',') {
                *why = "members of the request are separated by ','";
                return -1;
            }
            p = control_json_space(p + 1);
        }
    if (*control_json_space(p)) {
        *why = "the request has text after its closing '}'";
        return -1;
    }
    return found ? 0 : 1;
}

int control_request_parse(const char *line, size_t len, control_request *rq, char *err, size_t errlen)
{
    const char *why = "";
    rq->name[0] = '\0';
    rq->has_name = 0;
    /* The parser stops at a NUL: bytes after one would go unread, and a request is accepted whole or not at all. */
    if (memchr(line, '\0', len)) {
        snprintf(err, errlen, "bad request: a request contains a NUL byte");
        return -1;
    }
    int rc = control_json_get(line, "cmd", rq->cmd, sizeof(rq->cmd), &why);
    /* The same object again: well formed now, so only present or absent. */
    if (!rc)
        rq->has_name = control_json_get(line, "name", rq->name, sizeof(rq->name), &why) == 0;
    if (rc)
        snprintf(err, errlen, "bad request: %s", rc < 0 ? why : "a request is a JSON object with a \"cmd\" string");
    return rc ? -1 : 0;
}

size_t control_lines(char *buf, size_t len, control_line_fn fn, void *ctx)
{
    char *nl;
    while ((nl = memchr(buf, '\n', len))) {
        *nl = '\0';
        int stop = nl > buf && fn(ctx, buf, (size_t)(nl - buf));
        size_t rest = len - (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, rest);
        len = rest;
        if (stop)
            break;
    }
    return len;
}

/* Append text to a JSON string being built, escaped. */
void control_json_escape(char *out, size_t outlen, const char *text)
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
    control_conn *c = h->data;
    vmcmd_save_forget(c->cmds, c);
    if (c->ctl)
        c->ctl->nclients--;
    free(c);
}

static void control_conn_close(control_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->pipe))
        uv_close((uv_handle_t *)&c->pipe, control_conn_closed);
}

static void control_conn_shut(uv_shutdown_t *req, int status)
{
    (void)status;
    control_conn_close(req->data);
}

/* Read no more from the client, and close it once the replies queued so far are written. */
static void control_conn_end(control_conn *c)
{
    if (c->ending || uv_is_closing((uv_handle_t *)&c->pipe))
        return;
    c->ending = 1;
    uv_read_stop((uv_stream_t *)&c->pipe);
    c->reading = 0;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, control_conn_shut))
        control_conn_close(c);
}

/* A failed write means the client is gone (EPIPE, ECONNRESET) or being closed: drop that client only. */
static void control_write_done(uv_write_t *req, int status)
{
    if (status < 0)
        control_conn_close(req->handle->data);
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
        control_conn_close(c);
    } else if (c->pipe.write_queue_size > CONTROL_QUEUE_MAX) {
        control_conn_close(c);
    }
}

static void control_reply_error(control_conn *c, const char *msg)
{
    char out[600] = "{\"ok\":false,\"error\":\"";
    control_json_escape(out, sizeof(out) - 3, msg);
    strcat(out, "\"}");
    control_reply(c, out);
}

static void control_process(control_conn *c);

static void control_save_done(void *ctx, const char *name, const char *err)
{
    control_conn *c = ctx;
    c->waiting = 0;
    if (uv_is_closing((uv_handle_t *)&c->pipe))
        return;
    if (err) {
        control_reply_error(c, err);
    } else {
        char out[300] = "{\"ok\":true,\"saved\":\"";
        control_json_escape(out, sizeof(out) - 3, name);
        strcat(out, "\"}");
        control_reply(c, out);
    }
    if (!c->handling)
        control_process(c); /* the requests that came after the save */
}

static void control_handle(control_conn *c, const char *line, size_t len)
{
    vmcmd *cmds = c->cmds;
    control_request rq;
    const char *cmd = rq.cmd, *name = rq.name;
    char err[512];
    if (control_request_parse(line, len, &rq, err, sizeof(err))) {
        control_reply_error(c, err);
        return;
    }
    if (!strcmp(cmd, "status")) {
        vmcmd_status st;
        vmcmd_get_status(cmds, &st);
        char out[400];
        snprintf(out, sizeof(out), "{\"ok\":true,\"state\":\"%s\",\"vcpus\":%u,\"last_snapshot\":\"", st.state,
                 st.vcpus);
        control_json_escape(out, sizeof(out) - 20, st.last_snapshot);
        if (st.saving[0]) {
            strcat(out, "\",\"saving\":\"");
            control_json_escape(out, sizeof(out) - 3, st.saving);
        }
        strcat(out, "\"}");
        control_reply(c, out);
    } else if (!strcmp(cmd, "pause")) {
        if (vmcmd_pause(cmds, err, sizeof(err)))
            control_reply_error(c, err);
        else
            control_reply(c, "{\"ok\":true,\"state\":\"paused\"}");
    } else if (!strcmp(cmd, "resume")) {
        if (vmcmd_resume(cmds, err, sizeof(err)))
            control_reply_error(c, err);
        else
            control_reply(c, "{\"ok\":true,\"state\":\"running\"}");
    } else if (!strcmp(cmd, "save")) {
        if (!rq.has_name) {
            control_reply_error(c, "save needs a \"name\"");
            control_reply_error(c, err);
        } else {
            c->waiting = 1; /* control_save_done clears it, maybe before vmcmd_save returns */
            vmcmd_save(cmds, &(vmcmd_save_opts){.name = name}, control_save_done, c);
        }
    } else if (!strcmp(cmd, "quit")) {
        control_reply(c, "{\"ok\":true,\"state\":\"stopping\"}");
        vmcmd_quit(cmds);
    } else {
        snprintf(err, sizeof(err), "unknown command '%.64s' (status, pause, resume, save, quit)", cmd);
        control_reply_error(c, err);
    }
}

/* One line of a connection's input; non-zero once the connection is closing (a quit, a client that does not read
 * its replies), which ends the reading of its lines. */
static int control_conn_line(void *ctx, const char *line, size_t len)
{
    control_conn *c = ctx;
    c->handling = 1;
    control_handle(c, line, len);
    c->handling = 0;
    /* A save that has not ended holds the lines after it back: one client's replies stay in order. */
    return c->waiting || uv_is_closing((uv_handle_t *)&c->pipe);
}

static void control_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    control_conn *c = h->data;
    (void)suggested;
    /* Straight into the line buffer, which control_process never leaves full while reading. */
    *buf = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - c->len));
}

static void control_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Handle the complete lines received, up to a save that has not ended yet: reading stops until it has (the
 * client's next requests stay in its socket), and resumes here from control_save_done. */
static void control_process(control_conn *c)
{
    uv_stream_t *s = (uv_stream_t *)&c->pipe;
    if (!c->waiting && !uv_is_closing((uv_handle_t *)s))
        c->len = control_lines(c->line, c->len, control_conn_line, c);
    if (c->waiting || uv_is_closing((uv_handle_t *)s) || c->ending) {
        if (c->waiting && c->reading) {
            uv_read_stop(s);
            c->reading = 0;
        }
        return;
    }
    if (c->eof) {
        /* The client has finished sending: a last line without its newline is still a request, and what is
         * queued for it is written before the close. */
        c->line[c->len] = '\0';
        size_t had = c->len;
        c->len = 0;
        if (had) {
            c->handling = 1;
            control_handle(c, c->line, had);
            c->handling = 0;
        }
        if (!c->waiting)
            control_conn_end(c);
        return;
    }
    /* Waiting for the end of a longer line would mean buffering without limit. */
    if (c->len == sizeof(c->line)) {
        char err[128];
        snprintf(err, sizeof(err), "bad request: a request line is longer than %zu bytes; closing the connection",
                 sizeof(c->line) - 1);
        control_reply_error(c, err);
        control_conn_end(c);
        return;
    }
    if (!c->reading && uv_read_start(s, control_alloc, control_read) == 0)
        c->reading = 1;
}

static void control_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    control_conn *c = s->data;
    (void)buf;
    if (n == UV_EOF) {
        c->eof = 1;
        uv_read_stop(s);
        c->reading = 0;
        control_process(c);
        return;
    }
    if (n < 0) {
        control_conn_close(c);
        return;
    }
    c->len += (size_t)n;
    control_process(c);
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
    c->cmds = ctl->cmds;
    ctl->nclients++;
    uv_pipe_init(server->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
        control_conn_close(c);
    } else if (ctl->nclients > CONTROL_CLIENTS_MAX) {
        char err[128];
        snprintf(err, sizeof(err), "too many control clients (%d connected); try again later", CONTROL_CLIENTS_MAX);
        control_reply_error(c, err);
        control_conn_end(c);
    } else if (uv_read_start((uv_stream_t *)&c->pipe, control_alloc, control_read)) {
        control_conn_close(c);
    } else {
        c->reading = 1;
    }
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

control *control_start(loop *lp, vmcmd *cmds, const char *path, char *err, size_t errlen)
{
    if (control_path_free(path, err, errlen))
        return NULL;
    control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cmds = cmds;
    snprintf(c->path, sizeof(c->path), "%s", path);
    uv_pipe_init(loop_uv(lp), &c->server, 0);
    c->server.data = c;
    int rc = uv_pipe_bind(&c->server, path);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&c->server, SOMAXCONN, control_on_connect);
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
        ((control_conn *)h->data)->ctl == ctl) {
        ((control_conn *)h->data)->ctl = NULL;
        control_conn_close(h->data);
    }
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
    /* Escaped, each may take six bytes per byte; the request must not be cut short. */
    if (strlen(command) > 64 || (name && strlen(name) > 64)) {
        fprintf(stderr, "vmm ctl: the %s is too long (at most 64 bytes)\n", strlen(command) > 64 ? "command" : "name");
        return 2;
    }
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
    char req[1024] = "{\"cmd\":\"";
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
