/*
 * rc-selftest host plugin internals, shared by its files only: rc_image.c (checks the RC image and maps each
 * module as ROM plus shadowed data), rc_boot.c (page tables, GDT/IDT/TSS, boot info: the RC's start state),
 * rc_hcall.c (the hypercall port, log-ring drain, fault and trap reports with Capstone), rc_plugin.c (the
 * plugin descriptor and the architecture operations).
 */
#ifndef RC_HOST_H
#define RC_HOST_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#include "../rc_abi.h"

/* The image built with this plugin (rc-pack --c-source), unless image=PATH names another. */
extern const unsigned char rc_image_blob[];
extern const size_t rc_image_blob_size;

typedef struct rc_module_rt {
    rc_image_module m;          /* checked copy of the image's entry */
    const uint8_t *ro;          /* ro_size bytes in the image */
    const uint8_t *rw;          /* rw_filesz bytes in the image */
    const rc_image_sym *syms;   /* nsyms, sorted by address (copied out: the image may be unaligned) */
    const char *strs;           /* str_size bytes, NUL-terminated */
    uint64_t ro_gpa, rw_gpa;
    const rc_module_header *hdr;
} rc_module_rt;

enum { RC_MARKS = 12 };

typedef struct rc_host {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint64_t test, stop_status, iterations;
    uint8_t *image_file; /* image=PATH contents (owned) */
    const uint8_t *image;
    size_t image_size;
    unsigned nmodules;
    rc_module_rt mods[RC_MAX_MODULES];
    rc_image_sym *sym_copies[RC_MAX_MODULES];
    uint64_t entry, trap_stubs;
    uint8_t *sys, *state, *log, *mailbox; /* MMIO2, shared with the RC */
    uint64_t pt_next;
    uint64_t ram;
    uint64_t mark_ns[RC_MARKS];
    uint64_t hc_counts[RC_HC_COUNT], hc_unknown, hc_bad, log_lines, log_dropped_seen;
    int faulted;
} rc_host;

/* rc_image.c */
int rc_image_load(rc_host *h);
void rc_image_free(rc_host *h);
int rc_image_map(rc_host *h);
/* "module:symbol+0xoff" for a VA inside a module, or "" */
void rc_symbolize(const rc_host *h, uint64_t va, char *buf, size_t len);
/* The module and part ("ROM"/"data") a VA falls in, or the RC region name; NULL if none. */
const char *rc_describe_va(const rc_host *h, uint64_t va, char *buf, size_t len);
/* Up to len bytes of the image's ROM at va (for disassembly without touching the guest); returns the count. */
size_t rc_image_code(const rc_host *h, uint64_t va, uint8_t *buf, size_t len);

/* rc_boot.c */
int rc_boot_build(rc_host *h);
void rc_boot_sregs(struct kvm_sregs *s);

/* rc_hcall.c */
void rc_hc_port_write(void *state, uint64_t offset, unsigned size, uint64_t val);
void rc_log_drain(rc_host *h);
void rc_dump(rc_host *h, vmm_vcpu *vcpu, const char *headline);

#endif
