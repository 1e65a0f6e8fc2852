/*
 * log: levelled messages from the core and from plugins (through the helper table) to stderr.
 * Anyone in core/ may call it; the level is set once from --log before vCPUs start.
 */
#ifndef VMM_CORE_LOG_H
#define VMM_CORE_LOG_H

#include <stdarg.h>

#include <vmm/plugin.h>

void log_set_level(vmm_log_level level);
/* Called before each warning or error is written (the loop flushes queued guest output); NULL to remove. */
void log_set_flush_hook(void (*fn)(void *ctx), void *ctx);
vmm_log_level log_get_level(void);
int log_enabled(vmm_log_level level);
/* Parse "error", "warn", "info", "debug" or "trace"; -1 if none of them. */
int log_parse_level(const char *text);
void log_msg(vmm_log_level level, const char *who, const char *fmt, ...) VMM_PRINTF(3, 4);
void log_vmsg(vmm_log_level level, const char *who, const char *fmt, va_list ap);

#define log_error(...) log_msg(VMM_LOG_ERROR, "vmm", __VA_ARGS__)
#define log_warn(...) log_msg(VMM_LOG_WARN, "vmm", __VA_ARGS__)
#define log_info(...) log_msg(VMM_LOG_INFO, "vmm", __VA_ARGS__)
#define log_debug(...) log_msg(VMM_LOG_DEBUG, "vmm", __VA_ARGS__)

#endif
