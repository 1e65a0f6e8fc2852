/*
 * Freestanding helpers linked into every RC module: the mem/str functions the compiler may call on its own,
 * a small formatter for log lines, and export-table lookup. Every instruction here runs emulated at ring 0 on
 * software KVM, so the loops are kept plain and short (rep movsb/stosb are one emulated instruction each).
 */
#include "rc.h"

void *memset(void *d, int c, size_t n)
{
    void *ret = d;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return ret;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *ret = d;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static size_t rc_put(char *buf, size_t len, size_t at, char c)
{
    if (at + 1 < len)
        buf[at] = c;
    return at + 1;
}

static size_t rc_put_num(char *buf, size_t len, size_t at, uint64_t v, unsigned base, int neg)
{
    char tmp[24];
    unsigned n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        at = rc_put(buf, len, at, '-');
    while (n)
        at = rc_put(buf, len, at, tmp[--n]);
    return at;
}

size_t rc_vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
    size_t at = 0;
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            at = rc_put(buf, len, at, *fmt);
            continue;
        }
        fmt++;
        int longs = 0;
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s; s++)
                at = rc_put(buf, len, at, *s);
            break;
        }
        case 'c':
            at = rc_put(buf, len, at, (char)va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            at = rc_put_num(buf, len, at, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, 10, v < 0);
            break;
        }
        case 'u':
            at = rc_put_num(buf, len, at, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0);
            break;
        case 'x':
            at = rc_put_num(buf, len, at, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0);
            break;
        case 'p':
            at = rc_put(buf, len, at, '0');
            at = rc_put(buf, len, at, 'x');
            at = rc_put_num(buf, len, at, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0);
            break;
        case '%':
            at = rc_put(buf, len, at, '%');
            break;
        case '\0':
            fmt--;
            break;
        default:
            at = rc_put(buf, len, at, '?');
            break;
        }
    }
    if (len)
        buf[at < len ? at : len - 1] = '\0';
    return at < len ? at : len - 1;
}

const void *rc_import(const rc_module_header *mod, const char *name)
{
    if (!mod || mod->magic != RC_MODULE_MAGIC)
        return NULL;
    for (const rc_export *e = (const rc_export *)(uintptr_t)mod->exports_start;
         e < (const rc_export *)(uintptr_t)mod->exports_end; e++)
        if (strcmp((const char *)(uintptr_t)e->name, name) == 0)
            return (const void *)(uintptr_t)e->addr;
    return NULL;
}
