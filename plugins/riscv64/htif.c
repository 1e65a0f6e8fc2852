/* htif: the tohost/fromhost mailbox (see htif.h). */
#include "htif.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HTIF_SYS_WRITE 64
#define HTIF_SYS_EXIT 93

/* An 8-byte-aligned guest address range inside RAM, as an offset into it; -1 if outside. */
static int htif_ram_off(const htif *h, uint64_t addr, uint64_t len, uint64_t *off)
{
    uint64_t o = addr - h->ram_base;
    if (o >= h->ram_size || len > h->ram_size - o)
        return -1;
    *off = o;
    return 0;
}

int htif_tohost_written(htif *h)
{
    uint64_t v, to_off, off;
    if (htif_ram_off(h, h->tohost, 8, &to_off))
        return 0;
    memcpy(&v, h->ram + to_off, 8);
    if (!v)
        return 0;
    unsigned dev = (unsigned)(v >> 56), cmd = (unsigned)(v >> 48) & 0xff;
    uint64_t zero = 0, one = 1;
    if (dev == 0 && (v & 1)) {
        uint64_t code = (v << 8 >> 8) >> 1;
        char why[64];
        snprintf(why, sizeof(why), "HTIF: %s %" PRIu64, code ? "fail, test" : "pass", code);
        h->ops.exit(h->ops.opaque, code ? (int)(code > 255 ? 255 : code) : 0, code ? why : NULL);
        return 1;
    }
    int ended = 0;
    if (dev == 1 && cmd == 1) {
        char ch = (char)(v & 0xff);
        h->ops.console(h->ops.opaque, &ch, 1);
    } else if (dev == 0) {
        /* A syscall block (riscv-tests' benchmark runtime): which, arg0, arg1, arg2 */
        uint64_t m[4];
        if (!htif_ram_off(h, v, sizeof(m), &off)) {
            memcpy(m, h->ram + off, sizeof(m));
            uint64_t buf;
            if (m[0] == HTIF_SYS_WRITE && !htif_ram_off(h, m[2], m[3], &buf))
                h->ops.console(h->ops.opaque, h->ram + buf, (size_t)m[3]);
            else if (m[0] == HTIF_SYS_EXIT) {
                h->ops.exit(h->ops.opaque, (int)(m[1] & 0xff), NULL);
                ended = 1;
            }
            if (m[0] == HTIF_SYS_WRITE) {
                memcpy(h->ram + off, &m[3], 8); /* write() returns the length */
                h->ops.wrote(h->ops.opaque, h->ram_base + off, 8);
            }
        }
    }
    memcpy(h->ram + to_off, &zero, 8);
    h->ops.wrote(h->ops.opaque, h->tohost, 8);
    if (h->fromhost && !htif_ram_off(h, h->fromhost, 8, &off)) {
        memcpy(h->ram + off, &one, 8);
        h->ops.wrote(h->ops.opaque, h->fromhost, 8);
    }
    return ended;
}
