/* log: see log.h. One write(2) per message so lines from vCPU threads and the loop never interleave. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static vmm_log_level log_level = VMM_LOG_WARN;
static void (*log_flush_fn)(void *ctx);
static void *log_flush_ctx;
static const char *const log_names[] = {"error", "warn", "info", "debug", "trace"};

void log_set_flush_hook(void (*fn)(void *ctx), void *ctx)
{
    log_flush_ctx = ctx;
    log_flush_fn = fn;
}

void log_set_level(vmm_log_level level)
{
    log_level = level;
}

vmm_log_level log_get_level(void)
{
    return log_level;
}

int log_enabled(vmm_log_level level)
{
    return level <= log_level;
}

int log_parse_level(const char *text)
{
    for (int i = 0; i < (int)(sizeof(log_names) / sizeof(log_names[0])); i++)
        if (strcmp(text, log_names[i]) == 0)
            return i;
    return -1;
}

void log_vmsg(vmm_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    char line[8192]; /* register dumps arrive as one message */
    int n;
    if (level <= VMM_LOG_WARN)
        n = snprintf(line, sizeof(line), "%s: %s: ", who, level == VMM_LOG_ERROR ? "error" : "warning");
    else
        n = snprintf(line, sizeof(line), "%s: ", who);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (len && line[len - 1] == '\n')
        len--;
    line[len++] = '\n';
    /* Guest output queued before a warning or an error belongs before it on the terminal. */
    if (level <= VMM_LOG_WARN && log_flush_fn)
        log_flush_fn(log_flush_ctx);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(vmm_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, who, fmt, ap);
    va_end(ap);
}
