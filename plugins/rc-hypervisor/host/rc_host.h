/*
 * The host end of the RC hypervisor, a static library linked into every architecture plugin that runs its
 * target under the RC (rc-selftest, and riscv64 with exec=rc): rc_image.c (checks an RC image and maps each
 * module as ROM plus shadowed data), rc_boot.c (page tables, GDT/IDT/TSS, boot info: the RC's start state),
 * rc_hcall.c (the hypercall port, log-ring drain, fault and trap reports with Capstone), rc_vcpu.c (start
 * registers and the exits an RC VM can take). The plugin fills in the layout fields of rc_host (target RAM,
 * extra user regions, ring-3 ports, target entry) between rc_image_map() and rc_boot_build(); what its own RC
 * module is told beyond that it keeps in its own state and writes into the boot info (rc_boot_info_of).
 */
#ifndef RC_HOST_H
#define RC_HOST_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/plugin.h>

#include "../rc_abi.h"
#include "x86kvm.h"


typedef struct rc_module_rt {
    rc_image_module m;          /* checked copy of the image's entry */
    const uint8_t *ro;          /* ro_size bytes in the image */
    const uint8_t *rw;          /* rw_filesz bytes in the image */
    const rc_image_sym *syms;   /* nsyms, sorted by address (copied out: the image may be unaligned) */
    const char *strs;           /* str_size bytes, NUL-terminated */
    uint64_t ro_gpa, rw_gpa;
    const rc_module_header *hdr;
} rc_module_rt;

enum { RC_MARKS = 12, RC_MAX_USER_REGIONS = 4 };

/* A region of the lower half that ring 3 may use besides target RAM (VA == GPA is not required). */
typedef struct rc_user_region {
    uint64_t va, gpa, size; /* 4 KiB aligned */
    int writable, executable;
    const char *what;       /* for reports: "translated code" */
} rc_user_region;

typedef struct rc_host {
    vmm_instance *inst;
    const vmm_helpers *hlp;
    uint8_t *image_file; /* image=PATH contents (owned) */
    const uint8_t *image;
    size_t image_size;
    unsigned nmodules;
    rc_module_rt mods[RC_MAX_MODULES];
    rc_image_sym *sym_copies[RC_MAX_MODULES];
    uint64_t entry, trap_stubs;
    uint8_t *sys, *state, *log, *mailbox; /* MMIO2, shared with the RC */
    const unsigned char *builtin_image; /* the image built with the plugin (rc-pack --c-source) */
    size_t builtin_image_size;
    uint64_t pt_next;
    uint64_t ram, ram_gpa;      /* target RAM: [ram_gpa, ram_gpa + ram), VA == GPA, user pages */
    int ram_executable;         /* may ring 3 execute target RAM (rc-selftest copies code there) */
    rc_user_region uregions[RC_MAX_USER_REGIONS];
    unsigned nuregions;
    uint16_t r3_port, r3_port_count; /* ports ring 3 may access (TSS I/O bitmap); count 0: none */
    uint32_t tss_limit;
    uint64_t target_entry, target_stack;
    uint64_t mark_ns[RC_MARKS];
    uint64_t hc_counts[RC_HC_COUNT], hc_unknown, hc_bad, log_lines, log_dropped_seen;
    int faulted;
} rc_host;

/* rc_image.c */
/* The RC's MMIO2 regions (rc-system, rc-state, rc-log, rc-mailbox) at their fixed guest-physical addresses. */
int rc_map_regions(rc_host *h);
/* The image at path, or the built-in one when path is NULL; every offset and size checked. */
int rc_image_load(rc_host *h, const char *path);
void rc_image_free(rc_host *h);
int rc_image_map(rc_host *h);
/* "module:symbol+0xoff" for a VA inside a module, or "" */
void rc_symbolize(const rc_host *h, uint64_t va, char *buf, size_t len);
/* The module and part ("ROM"/"data") a VA falls in, or the RC region name; NULL if none. */
const char *rc_describe_va(const rc_host *h, uint64_t va, char *buf, size_t len);
/* Up to len bytes of the image's ROM at va (for disassembly without touching the guest); returns the count. */
size_t rc_image_code(const rc_host *h, uint64_t va, uint8_t *buf, size_t len);

/* rc_boot.c */
/* The RC's start state from the layout fields. The boot info's module-specific fields (rc-selftest's test,
 * stop_status, iterations) are left zero for the plugin to fill in through rc_boot_info_of before vCPU 0 runs. */
int rc_boot_build(rc_host *h);
rc_boot_info *rc_boot_info_of(rc_host *h);
void rc_boot_sregs(const rc_host *h, struct kvm_sregs *s);

/* rc_vcpu.c: vCPU 0's start registers (long mode at the core's entry); the exits of an RC VM (halt, shutdown,
 * internal error, failed entry), each reported with registers and disassembly. */
int rc_vcpu_start(rc_host *h, vmm_vcpu *vcpu);
vmm_exit_action rc_vcpu_exit(rc_host *h, vmm_vcpu *vcpu, const vmm_exit *exit);

/* rc_hcall.c */
void rc_hc_port_write(void *state, uint64_t offset, unsigned size, uint64_t val);
void rc_log_drain(rc_host *h);
void rc_dump(rc_host *h, vmm_vcpu *vcpu, const char *headline);

#endif
