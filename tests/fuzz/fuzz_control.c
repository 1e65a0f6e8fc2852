/*
 * fuzz_control: the control socket's parsing layer (core/control.c): the line framing a connection's reads go
 * through (control_lines), the request parser (control_request_parse, the JSON strings with their escapes) and
 * the escaper every reply and `vmm ctl` use (control_json_escape). No VM and no socket: the commands themselves
 * act on a VM and are not reached.
 *
 * The first byte chooses how the rest, the bytes a client sends, is cut into reads: bits 0-5 a read size (1 to
 * 64 bytes, or with bit 6 set 64 times that), so that lines arrive whole, cut anywhere, or many in one read. Bit 7
 * set: the input ends with the client's end of file, after which a last line without its newline is a request
 * too. Each read is appended to a buffer of a connection's size (CONTROL_LINE_MAX) and framed as control_read
 * does; a full buffer without a newline ends the connection, as there.
 *
 * Checked: the lines handed over are exactly the input's non-empty lines in order (no newline inside, terminated
 * at their length), and none is longer than the buffer; a parsed request holds no NUL byte, its cmd (and name)
 * are no longer than the line; escaping them and parsing the escaped request gives them back (so replies built from
 * them are well formed); a refusal says "bad request:" and is one line.
 */
#include "control.h"
#include "fuzz.h"

typedef struct fuzz_control_conn {
    const uint8_t *data; /* the client's bytes, for the reference framing */
    size_t size;
    size_t next;  /* where the next expected line starts in data */
    size_t lines; /* handed over so far */
} fuzz_control_conn;

static control_request fuzz_control_rq, fuzz_control_rq2;
static char fuzz_control_req[8 * CONTROL_LINE_MAX * 6];

static void fuzz_control_check_request(const char *line, size_t len)
{
    char err[512];
    control_request *rq = &fuzz_control_rq;
    err[0] = '\0';
    if (control_request_parse(line, len, rq, err, sizeof(err))) {
        FUZZ_CHECK(!strncmp(err, "bad request: ", 13));
        FUZZ_CHECK(!strchr(err, '\n'));
        return;
    }
    FUZZ_CHECK(memchr(line, '\0', len) == NULL);
    FUZZ_CHECK(strlen(rq->cmd) < len);
    if (rq->has_name)
        FUZZ_CHECK(strlen(rq->name) < len);
    else
        FUZZ_CHECK(rq->name[0] == '\0');
    /* What a reply or `vmm ctl` would build from the values must parse back to them. */
    char *out = fuzz_control_req;
    size_t cap = sizeof(fuzz_control_req);
    strcpy(out, "{\"cmd\":\"");
    control_json_escape(out, cap, rq->cmd);
    if (rq->has_name) {
        strcat(out, "\",\"name\":\"");
        control_json_escape(out, cap, rq->name);
    }
    strcat(out, "\"}");
    FUZZ_CHECK(strlen(out) < cap - 8); /* the buffer was large enough: nothing was cut */
    control_request *back = &fuzz_control_rq2;
    FUZZ_CHECK(control_request_parse(out, strlen(out), back, err, sizeof(err)) == 0);
    FUZZ_CHECK(!strcmp(back->cmd, rq->cmd));
    FUZZ_CHECK(back->has_name == rq->has_name);
    FUZZ_CHECK(!strcmp(back->name, rq->name));
}

/* The next non-empty line of the client's bytes from c->next, as a reference for what control_lines hands over. */
static int fuzz_control_next_line(fuzz_control_conn *c, size_t *start, size_t *len)
{
    while (c->next < c->size) {
        const uint8_t *nl = memchr(c->data + c->next, '\n', c->size - c->next);
        size_t end = nl ? (size_t)(nl - c->data) : c->size;
        size_t s = c->next;
        c->next = nl ? end + 1 : end;
        if (end > s) {
            *start = s;
            *len = end - s;
            return 1;
        }
    }
    return 0;
}

static int fuzz_control_line(void *ctx, const char *line, size_t len)
{
    fuzz_control_conn *c = ctx;
    size_t start, want;
    FUZZ_CHECK(fuzz_control_next_line(c, &start, &want));
    FUZZ_CHECK(len == want && memcmp(line, c->data + start, len) == 0);
    FUZZ_CHECK(line[len] == '\0');
    FUZZ_CHECK(len < CONTROL_LINE_MAX);
    c->lines++;
    fuzz_control_check_request(line, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor cur = fuzz_cursor_init(data, size);
    uint8_t mode = fuzz_take_u8(&cur);
    size_t chunk = (size_t)(mode & 63) + 1;
    if (mode & 64)
        chunk *= 64;
    int eof = mode >> 7;
    size_t n;
    const uint8_t *bytes = fuzz_take_bytes(&cur, size, &n);
    fuzz_control_conn c = {.data = bytes, .size = n};
    /* A connection's buffer, exactly its size: framing past it is an ASan report. */
    char *buf = malloc(CONTROL_LINE_MAX);
    if (!buf)
        abort();
    size_t len = 0, pos = 0;
    int ended = 0;
    while (pos < n && !ended) {
        /* A read fills at most what is left of the buffer, as control_alloc offers. */
        size_t take = n - pos < chunk ? n - pos : chunk;
        if (take > CONTROL_LINE_MAX - len)
            take = CONTROL_LINE_MAX - len;
        memcpy(buf + len, bytes + pos, take);
        pos += take;
        len = control_lines(buf, len + take, fuzz_control_line, &c);
        FUZZ_CHECK(len <= CONTROL_LINE_MAX);
        FUZZ_CHECK(memchr(buf, '\n', len) == NULL);
        /* What is left is the start of the next line: the client's bytes just before pos. */
        FUZZ_CHECK(memcmp(buf, bytes + pos - len, len) == 0);
        if (len == CONTROL_LINE_MAX)
            ended = 1; /* control_read refuses a longer line and ends the connection */
    }
    if (!ended && eof && len) {
        /* At the client's end of file control_read takes the rest as a last request, terminated in the buffer
         * (never full here). */
        buf[len] = '\0';
        fuzz_control_line(&c, buf, len);
    }
    if (!ended && eof) {
        size_t s, l;
        FUZZ_CHECK(!fuzz_control_next_line(&c, &s, &l)); /* every line was handed over */
    }
    free(buf);
    return 0;
}
