/*
 * The contract between the RC hypervisor (the freestanding ring-0 image inside the VM) and its host plugin:
 * address-space layout, the image container, module headers and export tables, the boot-info block, the
 * shared MMIO2 regions (log ring, mailbox, target state) and the hypercall ABI. Included by both sides, so it
 * uses fixed-width types only and no pointers (the two sides disagree on what an address means).
 * docs/rc-hypervisor.md describes the same things for people.
 */
#ifndef RC_ABI_H
#define RC_ABI_H

#include <stdint.h>

#define RC_ABI_VERSION 2u

/* ---- Virtual layout: the RC owns the top 2 GiB (-mcmodel=kernel), the target the lower half ----------- */
#define RC_VA_MODULES 0xffffffff80000000ull   /* module images, each linked at a fixed 2 MiB-aligned base */
#define RC_MODULE_STRIDE 0x200000ull          /* one 2 MiB slot per module (RO then RW, contiguous) */
#define RC_VA_SYSTEM 0xffffffffc0000000ull    /* boot info, GDT, IDT, TSS, page tables, stacks */
#define RC_VA_STATE 0xffffffffc0200000ull     /* target register files and the VM state page */
#define RC_VA_LOG 0xffffffffc0400000ull       /* log ring */
#define RC_VA_MAILBOX 0xffffffffc0600000ull   /* hypercall mailbox, one slot per vCPU */
#define RC_VA_ROM_ALIAS 0xffffffffc0800000ull /* writable alias of the core module's first ROM page (ROM test) */
#define RC_VA_UNMAPPED 0xffffffffc0a00000ull  /* never mapped: the fault test touches it */

/* ---- Guest-physical layout: target RAM below RC_TARGET_RAM_MAX, the RC's regions in the hole below 4 GiB -- */
#define RC_TARGET_RAM_MAX 0xc0000000ull /* rc-selftest's target RAM starts at 0; other targets place their own */
#define RC_GPA_SYSTEM 0xd0000000ull
#define RC_GPA_STATE 0xd0100000ull
#define RC_GPA_LOG 0xd0200000ull
#define RC_GPA_MAILBOX 0xd0300000ull
#define RC_GPA_MODULES 0xd1000000ull /* ROM and shadowed RAM of each module, in image order */
#define RC_GPA_MODULES_END 0xe0000000ull
#define RC_GPA_TARGET_REGIONS 0xe0000000ull /* from here to 4 GiB: regions a target's host plugin adds */
#define RC_GPA_TARGET_REGIONS_END 0xfec00000ull

/* rc-system region (MMIO2), offsets. Guard pages stay unmapped so a stack overflow faults. */
#define RC_SYS_SIZE 0x40000ull
#define RC_SYS_BOOTINFO 0x0000ull
#define RC_SYS_GDT 0x1000ull
#define RC_SYS_IDT 0x2000ull
#define RC_SYS_TSS 0x3000ull
#define RC_SYS_PT_POOL 0x4000ull
#define RC_SYS_PT_POOL_END 0x34000ull
#define RC_SYS_STACK 0x35000ull /* RC stack, 16 KiB; 0x34000 is its guard */
#define RC_SYS_STACK_TOP 0x39000ull
#define RC_SYS_TRAP_STACK 0x3a000ull /* TSS.RSP0: traps from ring 3; 0x39000 is its guard */
#define RC_SYS_TRAP_STACK_TOP 0x3c000ull
#define RC_SYS_IST_STACK 0x3d000ull /* IST1: #DF and NMI, so a blown RC stack is still reported */
#define RC_SYS_IST_STACK_TOP 0x3e000ull

#define RC_STATE_SIZE 0x4000ull
#define RC_STATE_VM 0x0000ull   /* struct rc_vm_state */
#define RC_STATE_CTX 0x1000ull  /* struct rc_ctx per vCPU, RC_STATE_CTX_STRIDE apart */
#define RC_STATE_CTX_STRIDE 0x400ull
#define RC_LOG_SIZE 0x4000ull
#define RC_MAILBOX_SIZE 0x1000ull
#define RC_MAILBOX_SLOT 0x400ull /* per vCPU: struct rc_hcall, then struct rc_fault_record */
#define RC_MAX_VCPUS 2u

/* Selectors of the GDT the host builds. */
#define RC_SEL_CODE0 0x08
#define RC_SEL_DATA0 0x10
#define RC_SEL_DATA3 0x1b
#define RC_SEL_CODE3 0x23
#define RC_SEL_TSS 0x28

/* ---- Hypercalls: the RC fills its mailbox slot, then `out %eax, %dx` with eax = slot (vCPU index) ----- */
#define RC_HC_PORT 0x5e0
#define RC_HC_NOP 0u           /* nothing; the benchmark's unit */
#define RC_HC_LOG_FLUSH 1u     /* drain the log ring into vmm's log */
#define RC_HC_STOP 2u          /* a0 = exit status of vmm */
#define RC_HC_DEV_IO 3u        /* a0 = RC_DEV_PIO/RC_DEV_MMIO, a1 = address, a2 = size, a3 = is_write, a4 = value;
                                  ret0 = value read */
#define RC_HC_STATE_CHANGED 4u /* a0 = vCPU whose target register file / the VM state page changed */
#define RC_HC_TEST 5u          /* a0..a2 -> ret0 = a0 + a1, ret1 = a0 ^ a2: argument/result round trip */
#define RC_HC_FAULT 6u         /* the RC faulted; the record is in the slot; the host stops the VM */
#define RC_HC_MARK 7u          /* a0 = mark id: the host timestamps it (benchmarks) */
#define RC_HC_TARGET_TRAP 8u   /* a0 = vCPU: target code trapped where it must not (isolation report) */
#define RC_HC_COUNT 9u

#define RC_HC_OK 0
#define RC_HC_ENOSYS (-38) /* unknown call number */
#define RC_HC_EINVAL (-22) /* bad argument */
#define RC_HC_EFAULT (-14) /* guest-supplied address outside what the call may touch */
#define RC_HC_ENODEV (-19) /* no device at that address */

#define RC_DEV_PIO 0u
#define RC_DEV_MMIO 1u

typedef struct rc_hcall {
    uint64_t nr;
    uint64_t args[6];
    int64_t status;
    uint64_t ret[2];
} rc_hcall;

/* Filled by the RC's trap handler for a fault at ring 0 before RC_HC_FAULT. */
typedef struct rc_fault_record {
    uint64_t vector, error, rip, cs, rflags, rsp, ss, cr2;
    uint64_t gprs[15]; /* rax rbx rcx rdx rsi rdi rbp r8..r15 */
} rc_fault_record;
#define RC_MAILBOX_FAULT_OFFSET 0x100u

/* ---- Target execution context (the target register file, in rc-state) -------------------------------- */
typedef struct rc_ctx {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15; /* 0x00 - 0x70 */
    uint64_t rip;    /* 0x78 */
    uint64_t rsp;    /* 0x80 */
    uint64_t rflags; /* 0x88 */
    uint64_t vector; /* 0x90: last trap out of ring 3 */
    uint64_t error;  /* 0x98 */
    uint64_t cr2;    /* 0xa0 */
    uint64_t traps;  /* 0xa8: traps out of ring 3 so far */
} rc_ctx;
#define RC_CTX_RIP 0x78
#define RC_CTX_RSP 0x80
#define RC_CTX_RFLAGS 0x88
#define RC_CTX_VECTOR 0x90
#define RC_CTX_ERROR 0x98
#define RC_CTX_CR2 0xa0
#define RC_CTX_TRAPS 0xa8

#define RC_VM_STATE_MAGIC 0x52435653u /* 'RCVS' */
typedef struct rc_vm_state {
    uint32_t magic;
    uint32_t generation;   /* bumped by the RC on every change it reports */
    uint64_t host_cookie;  /* written by the host before start; the RC checks it (host -> RC direction) */
    uint64_t rc_cookie;    /* written by the RC; the host checks it (RC -> host direction) */
    uint64_t target_runs;  /* entries into ring 3 */
    uint64_t isolation_traps;
} rc_vm_state;
#define RC_HOST_COOKIE 0x484f53542d434f4full /* "HOST-COO" */
#define RC_RC_COOKIE 0x52432d434f4f4b49ull   /* "RC-COOKI" */

/* ---- Log ring (rc-log): the RC appends "<level digit>text\n" lines; the host drains them ------------- */
#define RC_LOG_MAGIC 0x52434c47u /* 'RCLG' */
#define RC_LOG_DATA 64u
#define RC_LOG_RING_BYTES 8192u /* data bytes, a power of two, after RC_LOG_DATA */
typedef struct rc_log_ring {
    uint32_t magic;
    uint32_t size;    /* bytes of data after RC_LOG_DATA, a power of two */
    uint64_t head;    /* written by the RC: bytes ever produced */
    uint64_t tail;    /* written by the host: bytes ever consumed */
    uint64_t dropped; /* lines the RC could not fit */
} rc_log_ring;

/* ---- Modules and their export tables ------------------------------------------------------------------ */
#define RC_MODULE_MAGIC 0x444d4352u /* 'RCMD' */
#define RC_NAME_MAX 16
/* At offset 0 of each module's read-only part (section .rc_module_header). */
typedef struct rc_module_header {
    uint32_t magic;
    uint32_t abi;
    char name[RC_NAME_MAX];
    uint64_t init;          /* core: the entry point; other modules: init(boot_info, core_header) */
    uint64_t exports_start; /* struct rc_export[], in the read-only part */
    uint64_t exports_end;
} rc_module_header;

typedef struct rc_export {
    uint64_t name; /* VA of a NUL-terminated name in the read-only part */
    uint64_t addr;
} rc_export;

/* ---- Boot info (at RC_VA_SYSTEM + RC_SYS_BOOTINFO), written by the host ----------------------------- */
#define RC_BOOT_MAGIC 0x54424352u /* 'RCBT' */
#define RC_MAX_MODULES 8u

typedef struct rc_boot_module {
    char name[RC_NAME_MAX];
    uint64_t ro_va, ro_size, ro_gpa; /* ROM */
    uint64_t rw_va, rw_size, rw_gpa; /* shadowed */
} rc_boot_module;

/* What the selftest module should do (option test= of rc-selftest). */
enum rc_test {
    RC_TEST_ALL = 0,   /* every non-fatal check, then stop with status 0 */
    RC_TEST_FAULT = 1, /* page fault inside the RC: reported and fatal */
    RC_TEST_STOP = 2,  /* stop through the hypercall with stop_status */
    RC_TEST_BENCH = 3, /* timed loops: hypercalls, ring-3 round trips, ring-3 native loop */
};

typedef struct rc_boot_info {
    uint32_t magic, abi;
    uint32_t nmodules, vcpus;
    uint32_t hc_port, test;
    uint64_t target_ram; /* bytes of target RAM: lower half, VA == GPA over [target_ram_base, + target_ram) */
    uint64_t target_ram_base;
    uint64_t system_va, state_va, log_va, mailbox_va;
    uint64_t rom_alias_va, unmapped_va;
    uint64_t stop_status, iterations;
    uint64_t target_entry, target_stack; /* where a target runner module enters ring 3 (0: no target) */
    rc_boot_module modules[RC_MAX_MODULES];
} rc_boot_info;

/* ---- The image container (host side reads it; the packer writes it) -------------------------------- */
/*
 * "RCIMG\0v1" header, then at the next 16-byte boundary nmodules entries, then the blobs (each 16-byte
 * aligned). Offsets are from the start of the file; every (offset, size) pair is checked against the file size
 * before use.
 */
#define RC_IMAGE_MAGIC "RCIMG\0v1"
typedef struct rc_image_header {
    char magic[8];
    uint32_t abi;
    uint32_t nmodules;
    uint64_t size; /* whole file */
} rc_image_header;

typedef struct rc_image_module {
    char name[RC_NAME_MAX];
    uint64_t ro_va, ro_off, ro_size;               /* file bytes of text + rodata */
    uint64_t rw_va, rw_off, rw_filesz, rw_memsz;   /* data, then zeroed bss */
    uint64_t sym_off, nsyms, str_off, str_size;    /* rc_image_sym[], then their names */
} rc_image_module;

typedef struct rc_image_sym {
    uint64_t addr, size;
    uint32_t name; /* offset into the module's string table */
    uint32_t is_func;
} rc_image_sym;

#endif
