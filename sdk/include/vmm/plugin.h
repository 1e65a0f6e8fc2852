/*
 * vmm plugin ABI: the descriptor a plugin hands to the monitor, and the helper table the monitor hands back.
 * This is the only interface between a plugin and the core. Plugins include <vmm/plugin.h> (and nothing from
 * the monitor's source tree); the core includes it to load them.
 *
 * Compatibility (docs/sdk.md has the full rules):
 *  - Every versioned structure starts with a version word (magic in the high 16 bits, major in bits 8..15,
 *    minor in bits 0..7) and, for the descriptor and the helper table, ends with the same word, so a truncated
 *    or mismatched structure is caught before anything in it is used.
 *  - Major = incompatible: a plugin built for another major is refused. Minor = additive: new helpers are
 *    appended, new optional callbacks take reserved slots. A plugin built against major N loads in every
 *    release with major N, older or newer minor: a core ignores reserved slots a newer plugin filled, and a
 *    plugin checks VMM_HELPERS_HAVE(hlp, minor) before calling a helper added after minor 0.
 *  - Reserved slots must be NULL/zero (the core checks this for plugins of its own minor or older).
 *    Structures are never grown in place; they grow only by taking reserved slots or by a new structure.
 *  - Plugins keep no globals: the core allocates `instance_size` zeroed bytes per instance and passes them to
 *    every callback.
 *  - The core serialises the I/O, timer and console-input callbacks of one instance: a device needs no locks
 *    of its own unless it starts threads. Architecture operations (vmm_arch_ops) run on each vCPU's thread
 *    concurrently and are not serialised.
 */
#ifndef VMM_PLUGIN_H
#define VMM_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_MAKE_VERSION(magic16, major, minor) \
    ((uint32_t)(((uint32_t)(magic16) << 16) | (((uint32_t)(major) & 0xffu) << 8) | ((uint32_t)(minor) & 0xffu)))
#define VMM_VERSION_MAGIC(v) ((uint32_t)(v) >> 16)
#define VMM_VERSION_MAJOR(v) (((uint32_t)(v) >> 8) & 0xffu)
#define VMM_VERSION_MINOR(v) ((uint32_t)(v) & 0xffu)

/* The SDK release this header describes. */
#define VMM_SDK_MAJOR 1
#define VMM_SDK_MINOR 8

#define VMM_DESC_MAGIC    0x5044u /* 'PD': plugin descriptor */
#define VMM_HELPERS_MAGIC 0x4854u /* 'HT': helper table */
#define VMM_HOST_MAGIC    0x4849u /* 'HI': host information */

#define VMM_DESC_VERSION    VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR, VMM_SDK_MINOR)
#define VMM_HELPERS_VERSION VMM_MAKE_VERSION(VMM_HELPERS_MAGIC, VMM_SDK_MAJOR, VMM_SDK_MINOR)
#define VMM_HOST_VERSION    VMM_MAKE_VERSION(VMM_HOST_MAGIC, VMM_SDK_MAJOR, VMM_SDK_MINOR)

/* The one symbol a plugin exports. */
#define VMM_PLUGIN_ENTRY_SYMBOL "vmm_plugin_entry"

#if defined(__GNUC__)
#define VMM_EXPORT __attribute__((visibility("default")))
#define VMM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VMM_EXPORT
#define VMM_PRINTF(a, b)
#endif

/* Opaque handles owned by the core. */
typedef struct vmm_instance vmm_instance; /* one instance of a plugin in one VM */
typedef struct vmm_vcpu vmm_vcpu;         /* one virtual CPU */
typedef struct vmm_timer vmm_timer;       /* a timer on the core's event loop */
typedef struct vmm_thread vmm_thread;     /* SDK 1.7: a device's own thread (thread_start) */

typedef enum vmm_plugin_kind {
    VMM_KIND_ARCH = 1,   /* a guest architecture: sets up and runs vCPUs (x86-raw, riscv64, ...) */
    /* 2 is reserved: it was VMM_KIND_EXEC ("an execution engine another plugin runs on") until SDK 1.5, which
     * removed it because no vmm ever loaded such a plugin; engines are the core's (docs/architecture.md). The
     * loader refuses a plugin that declares 2. */
    VMM_KIND_DEVICE = 3, /* a device model */
} vmm_plugin_kind;

typedef enum vmm_log_level {
    VMM_LOG_ERROR = 0,
    VMM_LOG_WARN = 1,
    VMM_LOG_INFO = 2,
    VMM_LOG_DEBUG = 3,
    VMM_LOG_TRACE = 4,
} vmm_log_level;

/* ---- Options: declared by the plugin, parsed and checked by the core ---------------------------------- */

typedef enum vmm_option_type {
    VMM_OPT_STRING = 1,
    VMM_OPT_U64 = 2,  /* decimal or 0x hex; K/M/G suffixes accepted */
    VMM_OPT_BOOL = 3, /* on/off, yes/no, true/false, 1/0 */
} vmm_option_type;

typedef struct vmm_option_desc {
    const char *name;          /* NULL ends the table */
    vmm_option_type type;
    const char *default_value; /* text form; NULL = no default (the option is then unset) */
    const char *help;
    uint64_t min, max;         /* VMM_OPT_U64 range, inclusive; both 0 = any value */
    void *reserved[2];         /* must be NULL */
} vmm_option_desc;

/* ---- Guest exits, as the host driver reports them, for the architecture plugin ------------------------ */

typedef enum vmm_exit_reason {
    VMM_EXIT_NONE = 0,
    VMM_EXIT_PIO = 1,            /* handled by the core (port I/O dispatch) before the arch plugin sees it */
    VMM_EXIT_MMIO = 2,           /* handled by the core (MMIO dispatch) */
    VMM_EXIT_HALT = 3,           /* the vCPU halted and the host driver does not wait for interrupts */
    VMM_EXIT_SHUTDOWN = 4,       /* the CPU shut down (x86: triple fault) */
    VMM_EXIT_INTERNAL_ERROR = 5, /* the host driver could not run the instruction (see internal.suberror) */
    VMM_EXIT_FAIL_ENTRY = 6,     /* the host refused to enter the guest with this state */
    VMM_EXIT_SYSTEM_EVENT = 7,   /* reset / shutdown / crash requested through the host driver */
    VMM_EXIT_DEBUG = 8,
    VMM_EXIT_INTERRUPTED = 9,    /* a signal or a stop request kicked the vCPU out; the core handles it */
    VMM_EXIT_UNKNOWN = 10,
    VMM_EXIT_MSR = 11,           /* SDK 1.1: a model-specific-register access the plugin asked for (see msr) */
} vmm_exit_reason;

#define VMM_INTERNAL_EMULATION 1 /* internal.suberror: the host's instruction emulator failed */

typedef struct vmm_exit {
    uint32_t reason; /* vmm_exit_reason */
    uint32_t reserved0;
    union {
        struct {
            uint16_t port;
            uint8_t size; /* 1, 2 or 4 */
            uint8_t is_write;
            uint32_t count; /* string I/O repeats */
            uint8_t *data;  /* count * size bytes */
        } pio;
        struct {
            uint64_t gpa;
            uint32_t len;
            uint8_t is_write;
            uint8_t pad[3];
            uint8_t *data;
        } mmio;
        struct {
            uint32_t suberror;
            uint32_t ndata;
            uint64_t data[16];
            uint8_t insn_bytes[16]; /* valid when insn_len > 0 */
            uint32_t insn_len;
        } internal;
        struct {
            uint64_t hw_reason;
        } fail_entry;
        struct {
            uint32_t type; /* host-driver specific */
        } system_event;
        struct {
            uint32_t code; /* host-driver exit code */
        } unknown;
        /* SDK 1.1, VMM_EXIT_MSR: the guest read or wrote a register requested with VMM_FEATURE_MSR_EXIT, and
         * the host did not perform the access. The vCPU's instruction pointer is still at the instruction.
         * Answer through the pointers (valid until the vCPU runs again): a read returns *result; a nonzero
         * *error makes the access fault in the guest instead (x86: #GP). A write is not performed by anyone
         * unless the plugin does it. Both are 0 when the exit is reported. */
        struct {
            uint32_t index;   /* the register's number (x86: ECX) */
            uint8_t is_write;
            uint8_t pad[3];
            uint64_t data;    /* the value written */
            uint64_t *result; /* read: the value the guest gets */
            uint8_t *error;
        } msr;
        uint8_t pad[256];
    } u;
} vmm_exit;

/* What the architecture plugin tells the core to do after an exit. */
typedef enum vmm_exit_action {
    VMM_ACTION_RESUME = 0, /* run the vCPU again */
    VMM_ACTION_STOP = 1,   /* stop the VM; the plugin has called vm_stop() with the status */
    VMM_ACTION_HOST = 2,   /* SDK <= 1.3 only; since 1.4 the engine is chosen before the first run and this is
                            * an error (the inproc engine stops the VM with a message) */
} vmm_exit_action;

/*
 * vCPU and VM state classes passed through to the host driver. The buffer layout of each class is the host
 * driver's own, named by vmm_host_info.hostdrv_abi (e.g. "kvm-x86_64": struct kvm_regs, struct kvm_sregs, ...).
 * An architecture plugin checks that string before it uses these classes. The core only forwards them.
 */
typedef enum vmm_state_class {
    VMM_STATE_GPRS = 1,        /* general registers, instruction pointer, flags */
    VMM_STATE_SYSREGS = 2,     /* segment, descriptor-table and control registers */
    VMM_STATE_FPU = 3,
    VMM_STATE_EVENTS = 4,      /* pending exceptions, interrupts, NMIs */
    VMM_STATE_CPU_MODEL = 5,   /* identification the guest sees (x86: CPUID table); set only */
    VMM_STATE_MSRS = 6,        /* model-specific registers named in the buffer */
    VMM_STATE_LAPIC = 7,
    VMM_STATE_XSAVE = 8,
    VMM_STATE_XCRS = 9,
    VMM_STATE_MP_STATE = 10,
    VMM_STATE_DEBUGREGS = 11,
    VMM_STATE_TSC_KHZ = 12, /* SDK 1.2: get only, a uint32_t: the vCPU's time-stamp counter rate in kHz */
} vmm_state_class;

typedef enum vmm_vm_state_class {
    VMM_VM_STATE_SUPPORTED_CPU_MODEL = 1, /* what the host can offer (x86: KVM_GET_SUPPORTED_CPUID); get only */
    VMM_VM_STATE_IRQCHIP = 2,             /* in-kernel interrupt controller; the buffer names the chip */
    VMM_VM_STATE_PIT = 3,
    VMM_VM_STATE_CLOCK = 4,
    VMM_VM_STATE_MSR_INDEX_LIST = 5,      /* the MSRs the host driver saves and restores; get only */
    VMM_VM_STATE_HOST_LIMITS = 6,         /* SDK 1.1: get only, a uint64_t of VMM_HOST_LIMIT_* bits */
} vmm_vm_state_class;

/* SDK 1.1, VMM_VM_STATE_HOST_LIMITS: architectural behaviour this host driver gets wrong, found by a probe the
 * host driver runs in a scratch VM; each bit is meaningful for the host-driver ABI it names. */
#define VMM_HOST_LIMIT_X86_SYSCALL_CPL3 (1ull << 0) /* kvm-x86_64: a ring-3 syscall reaches LSTAR still at CPL 3 */
/* SDK 1.2: guest code outside user mode is not run by the CPU but by the host's instruction emulator (no
 * hardware virtualisation underneath): it runs orders of magnitude slower than user mode, so guest work that
 * the VMM can spare the guest's kernel (timer interrupts, for one) is worth sparing. */
#define VMM_HOST_LIMIT_KERNEL_EMULATED (1ull << 1)

/* Host features an architecture plugin can ask the host driver to create (the plugin's ring-0 part). */
typedef enum vmm_vm_feature {
    VMM_FEATURE_IRQCHIP = 1,      /* in-kernel interrupt controllers; irq_set() then drives their lines */
    VMM_FEATURE_PIT = 2,          /* in-kernel interval timer */
    VMM_FEATURE_PRIVATE_AREA = 3, /* arg = guest-physical address of a 3-page area the host driver may use */
    VMM_FEATURE_IDENTITY_MAP = 4, /* arg = guest-physical address of a 1-page area the host driver may use */
    /* SDK 1.1: arg = a model-specific register's number; the guest's reads and writes of it (x86: rdmsr, wrmsr)
     * are no longer performed by the host but reported as VMM_EXIT_MSR. Call once per register. */
    VMM_FEATURE_MSR_EXIT = 5,
} vmm_vm_feature;

/* ---- Callbacks a plugin registers ------------------------------------------------------------------- */

/* Port and MMIO access. `size` is 1, 2, 4 or 8; values are little-endian in `val`. */
/*
 * Saved state (units, in the spirit of VirtualBox's SSM and QEMU's vmstate). A plugin registers units by name
 * and instance number with a version and two callbacks. save writes typed fields with the ssm_put_* helpers;
 * load reads them back in the same order with ssm_get_* and receives the version that was saved, which it may
 * refuse (ssm_fail). The core frames each unit with a terminator and a checksum and checks that load consumed
 * exactly what save wrote. Fields added later go in optional sections (ssm_put_optional ... ssm_end_optional),
 * which older readers skip and newer readers probe with ssm_get_optional. ROM and MMIO2 contents are never
 * saved: their owner re-creates them and saves only what it needs.
 */
typedef struct vmm_ssm vmm_ssm;
typedef int (*vmm_ssm_save_fn)(void *state, vmm_ssm *ssm);
typedef int (*vmm_ssm_load_fn)(void *state, vmm_ssm *ssm, uint32_t version);
/* SDK 1.7: one page (4096 bytes; NULL: a zero page) of a unit's page data, index counted from the range's first
 * page. Non-zero stops the walk and fails the unit. */
typedef int (*vmm_ssm_page_fn)(void *ctx, uint64_t index, const void *page);
#define VMM_SSM_PAGE_SIZE 4096u

typedef uint64_t (*vmm_io_read_fn)(void *state, uint64_t offset, unsigned size);
typedef void (*vmm_io_write_fn)(void *state, uint64_t offset, unsigned size, uint64_t val);
typedef void (*vmm_timer_fn)(void *state, vmm_timer *timer);
typedef void (*vmm_console_input_fn)(void *state, const uint8_t *buf, size_t len);
/* SDK 1.7: the function a device's own thread runs (thread_start); what it returns is thread_join's result. */
typedef void *(*vmm_thread_fn)(void *arg);

/* SDK 1.6: a device as it described itself with fdt_describe/fdt_prop, for the architecture that builds the
 * guest's device tree (fdt_device). The core keeps the strings and values; the architecture only reads them. */
#define VMM_FDT_MAX_PROPS 8
#define VMM_FDT_MAX_PROP_LEN 256
typedef struct vmm_fdt_prop {
    const char *name;
    const void *value;
    uint32_t len;
    uint32_t reserved0; /* zero */
} vmm_fdt_prop;

typedef struct vmm_fdt_device {
    const char *instance;   /* the instance's name, for messages ("uart16550", "uart16550.1") */
    const char *node_name;  /* "serial" */
    const char *compatible; /* space-separated, most specific first */
    uint64_t base, size;    /* the instance's first MMIO range; size 0: it registered none */
    int32_t irq;            /* the line it drives, or -1 */
    uint32_t nprops;
    const vmm_fdt_prop *props;
    void *reserved[4];      /* NULL */
} vmm_fdt_device;

/* ---- The helper table: everything a plugin may ask of the core --------------------------------------- */

typedef struct vmm_helpers {
    uint32_t version; /* VMM_HELPERS_VERSION of the core */
    uint32_t size;    /* sizeof(vmm_helpers) in the core */

    /* Logging, prefixed with the instance name; suppressed below the level chosen with --log. */
    void (*log)(vmm_instance *inst, vmm_log_level level, const char *fmt, ...) VMM_PRINTF(3, 4);
    int (*log_enabled)(vmm_instance *inst, vmm_log_level level);

    /* Options declared in the descriptor, after the core has parsed and checked them. */
    const char *(*opt_string)(vmm_instance *inst, const char *name); /* NULL if unset */
    uint64_t (*opt_u64)(vmm_instance *inst, const char *name);
    int (*opt_bool)(vmm_instance *inst, const char *name);
    int (*opt_is_set)(vmm_instance *inst, const char *name);

    /* I/O ranges. Return 0, or -1 after logging why (overlap, out of range). `state` is handed to the
     * callbacks; offsets are relative to `base`. A NULL read returns all ones; a NULL write is ignored. */
    int (*pio_register)(vmm_instance *inst, uint16_t base, uint32_t count, vmm_io_read_fn rd, vmm_io_write_fn wr);
    int (*mmio_register)(vmm_instance *inst, uint64_t base, uint64_t size, vmm_io_read_fn rd, vmm_io_write_fn wr);

    /* Interrupt line of the platform's interrupt controller (architecture-defined numbering). */
    int (*irq_set)(vmm_instance *inst, uint32_t line, int level);

    /* Guest-physical memory, bounds-checked: the whole range must lie in guest RAM (or a shadowed ROM or MMIO2
     * region for reads). Return 0, or -1 without touching anything when it does not. */
    int (*mem_read)(vmm_instance *inst, uint64_t gpa, void *buf, size_t len);
    int (*mem_write)(vmm_instance *inst, uint64_t gpa, const void *buf, size_t len);
    /* A host pointer to len bytes of guest RAM at gpa, or NULL if the range is not wholly inside one RAM-backed
     * region. Valid until the VM is destroyed. For bulk loads and atomic operations on guest memory. A writable
     * pointer counts as a write to the range when it is taken (for incremental snapshots): write through it
     * within the same callback, and take it again next time rather than keeping it. */
    void *(*mem_ptr)(vmm_instance *inst, uint64_t gpa, size_t len, int writable);
    /* The guest RAM size given with --mem. */
    uint64_t (*mem_ram_size)(vmm_instance *inst);

    /* Guest RAM, for architecture plugins (they know where their platform puts it): len bytes of zeroed
     * memory at gpa. The sizes of all RAM regions add up to what --mem asked for. */
    int (*mem_map_ram)(vmm_instance *inst, uint64_t gpa, uint64_t len, const char *name);
    /* Map regions. ROM: `data` (len bytes, copied) is read-only to the guest; with shadowed != 0 the guest gets
     * a writable RAM copy initialised from `data` instead (data sections of an image). MMIO2: host memory
     * owned by this instance, mapped into the guest at gpa, shared both ways; *host_ptr receives its address. */
    int (*mem_map_rom)(vmm_instance *inst, uint64_t gpa, const void *data, size_t len, int shadowed, const char *name);
    int (*mem_map_mmio2)(vmm_instance *inst, uint64_t gpa, size_t len, const char *name, void **host_ptr);

    /* Timers run on the core's event loop. Times in nanoseconds of the monotonic clock. */
    vmm_timer *(*timer_create)(vmm_instance *inst, vmm_timer_fn fn);
    int (*timer_arm)(vmm_timer *timer, uint64_t delay_ns, uint64_t period_ns); /* period 0 = one-shot */
    void (*timer_stop)(vmm_timer *timer);
    uint64_t (*clock_ns)(vmm_instance *inst);

    /* The console (the terminal vmm runs in). Output is queued and written by the event loop; one instance at
     * a time owns console input. */
    void (*console_write)(vmm_instance *inst, const void *buf, size_t len);
    int (*console_claim_input)(vmm_instance *inst, vmm_console_input_fn fn);

    /* Stop the VM with the exit status vmm should return. Safe from any callback. */
    void (*vm_stop)(vmm_instance *inst, int status);

    /* ---- For architecture plugins ---- */
    int (*vm_enable_feature)(vmm_instance *inst, vmm_vm_feature feature, uint64_t arg);
    int (*vm_get_state)(vmm_instance *inst, vmm_vm_state_class cls, void *buf, size_t len);
    int (*vm_set_state)(vmm_instance *inst, vmm_vm_state_class cls, const void *buf, size_t len);
    int (*vcpu_get_state)(vmm_vcpu *vcpu, vmm_state_class cls, void *buf, size_t len);
    int (*vcpu_set_state)(vmm_vcpu *vcpu, vmm_state_class cls, const void *buf, size_t len);
    /* Translate a guest-virtual address with the vCPU's current paging; 0 on success. */
    int (*vcpu_translate)(vmm_vcpu *vcpu, uint64_t gva, uint64_t *gpa);
    unsigned (*vcpu_index)(vmm_vcpu *vcpu);
    /* The vCPU whose exit the calling thread is handling (inside an I/O callback), or NULL. */
    vmm_vcpu *(*vcpu_current)(vmm_instance *inst);
    /* True once the core wants vcpu_run to return (stop or pause requested); one atomic load. */
    int (*vcpu_should_return)(vmm_vcpu *vcpu);
    /* The kernel command line given with --append ("" when none). */
    const char *(*vm_cmdline)(vmm_instance *inst);
    /* Dispatch a guest access to the port or MMIO device registered there, as the core does for host-driver
     * exits; for plugins that execute the guest themselves (vcpu_run). data holds size bytes, little-endian.
     * Returns 0, or -1 when nothing is registered there (reads then return all ones). */
    int (*io_dispatch)(vmm_vcpu *vcpu, int is_mmio, uint64_t addr, unsigned size, int is_write, uint8_t *data);
    /* True when the user asked for statistics (--stats): print yours to stderr when the instance is destroyed. */
    int (*stats_enabled)(vmm_instance *inst);

    /* Saved state: see vmm_ssm above. Units are registered while the instance is set up. Every get/put returns
     * 0, or -1 once the unit has failed (wrong type, short data, ...); after the first failure the rest are
     * no-ops returning -1, so a callback may check only at its end. */
    int (*ssm_register)(vmm_instance *inst, const char *unit, uint32_t instance, uint32_t version,
                        vmm_ssm_save_fn save, vmm_ssm_load_fn load);
    int (*ssm_put_u64)(vmm_ssm *ssm, uint64_t val);
    int (*ssm_put_bytes)(vmm_ssm *ssm, const void *buf, size_t len);
    int (*ssm_put_str)(vmm_ssm *ssm, const char *str);
    int (*ssm_get_u64)(vmm_ssm *ssm, uint64_t *val);
    /* The saved length must be exactly len. */
    int (*ssm_get_bytes)(vmm_ssm *ssm, void *buf, size_t len);
    /* Fails if the saved string (with its NUL) does not fit in size. */
    int (*ssm_get_str)(vmm_ssm *ssm, char *buf, size_t size);
    int (*ssm_put_optional)(vmm_ssm *ssm, const char *section);
    /* Save: closes the section. Load: skips what is left of the section (fields a newer writer added). */
    int (*ssm_end_optional)(vmm_ssm *ssm);
    /* 1: the section is next and has been entered; 0: it was not saved; -1: the unit has failed. */
    int (*ssm_get_optional)(vmm_ssm *ssm, const char *section);
    /* Refuse the unit with a message (e.g. "saved with IRQ 4, configured with IRQ 3"); returns -1. */
    int (*ssm_fail)(vmm_ssm *ssm, const char *fmt, ...) VMM_PRINTF(2, 3);
    unsigned (*vcpu_count)(vmm_instance *inst);
    vmm_vcpu *(*vcpu_get)(vmm_instance *inst, unsigned index);
    /* Bytes of a length not known in advance: fails if more than max were saved; *len gets the length. */
    int (*ssm_get_var_bytes)(vmm_ssm *ssm, void *buf, size_t max, size_t *len);

    /* SDK 1.2, for architecture plugins with an in-kernel interrupt controller: deliver a message-signalled
     * interrupt (x86: address 0xfee00000 | destination APIC ID << 12, data = vector). Safe from any thread,
     * timer callbacks included; returns 0, or -1 when the host driver refused it. */
    int (*msi_send)(vmm_instance *inst, uint64_t addr, uint32_t data);

    /* SDK 1.3: this instance has no state a snapshot must keep (an exit device, say). The core refuses to save a
     * VM with an instance of SDK 1.3 or later that neither registered a saved-state unit nor said this, and a
     * VM whose architecture registered no unit: such a snapshot could not be restored. Call from construct. */
    void (*ssm_stateless)(vmm_instance *inst);

    /* SDK 1.4: the engine --accel asked for ("kvm", "inproc"), or NULL when the user left the choice to the
     * architecture. For construct and vm_check, to pick a default that agrees with it or refuse one that does
     * not (riscv64: --accel kvm means exec=rc). */
    const char *(*vm_accel)(vmm_instance *inst);

    /* SDK 1.6, for devices, from construct: describe this instance to the guest's firmware tables (a device tree
     * on riscv64; architectures without one ignore it). The node is named node_name@BASE after the first MMIO
     * range the instance registered (register it first); compatible is a space-separated list, most specific
     * first ("sifive,test1 sifive,test0 syscon"); irq is the interrupt line the device drives, or -1. Call once.
     * Returns 0, or -1 after logging why (called twice, names too long). */
    int (*fdt_describe)(vmm_instance *inst, const char *node_name, const char *compatible, int irq);
    /* SDK 1.6, for devices, after fdt_describe: one more property of its node, copied (value in the tree's byte
     * order: big-endian 32-bit cells, or a NUL-terminated string with its NUL in len). At most VMM_FDT_MAX_PROPS
     * properties of at most VMM_FDT_MAX_PROP_LEN bytes; names of the node's own (reg, compatible, interrupts,
     * interrupt-parent, phandle) are refused. Returns 0, or -1 after logging why. */
    int (*fdt_prop)(vmm_instance *inst, const char *name, const void *value, size_t len);
    /* SDK 1.6, for architecture plugins (vm_load): the index-th described device, in the order the devices were
     * created (the board's defaults first). Fills *out (valid until the VM is destroyed) and returns 0, or -1 past
     * the last one. */
    int (*fdt_device)(vmm_instance *inst, unsigned index, vmm_fdt_device *out);

    /* SDK 1.7, for devices, from construct: start a thread of the instance's own (an I/O worker, a backend
     * poller) running fn(arg). The core names it `name` (15 characters are kept) and, unless --sandbox off,
     * installs the device I/O filter in it before fn runs (docs/sandbox.md: reads and writes of descriptors the
     * device opened while it was set up, pread/pwrite and their vector forms, fdatasync, fsync, fallocate, poll,
     * epoll, futex, clocks; no file opened, no socket, no process). A forbidden call ends vmm with a line naming
     * the call, the thread and the instance. Returns 0 with *thread set once the thread runs under its filter, or
     * -1 after logging why (out of memory, no thread, called once the VM runs). Use it instead of pthread_create:
     * a thread a device creates itself has no filter of its own. */
    int (*thread_start)(vmm_instance *inst, const char *name, vmm_thread_fn fn, void *arg, vmm_thread **thread);
    /* SDK 1.7: wait for a thread of thread_start to return (tell it to first), store what fn returned in *result
     * (NULL: not wanted) and free the handle. Call it in destruct at the latest (a construct that fails after
     * thread_start gets no destruct: start threads last). Returns 0, or -1 after logging
     * why (the thread itself called it). */
    int (*thread_join)(vmm_thread *thread, void **result);

    /* SDK 1.7: page data of a saved-state unit (a disk image's contents, say): 4096-byte pages numbered from 0 to
     * 2^40 - 1 in a space of the unit's own, kept by the state database like guest RAM (each content stored once
     * per database, zero pages not at all; a snapshot records the pages put, and an incremental one inherits the
     * rest from its parent). In a save callback: 1 when this save is incremental, i.e. recorded on top of this
     * process's previous save or restore, so that pages not put keep what that snapshot holds (put only what
     * changed since then); 0 when it is full (put every non-zero page; pages not put read back as zero). A save
     * that fails makes the next one full. */
    int (*ssm_pages_incremental)(vmm_ssm *ssm);
    /* SDK 1.7, in a save callback: record count pages from page index (buf holds count * 4096 bytes, or is NULL
     * for zero pages), copied before the call returns; calls in rising page order. 0 or -1 (the unit failed). */
    int (*ssm_put_pages)(vmm_ssm *ssm, uint64_t index, const void *buf, uint64_t count);
    /* SDK 1.7, in a load callback: fn for every page of [first, first + count) the snapshot records (with the
     * snapshots it builds on; the newest wins), in no particular order, each page's hash checked first. Returns
     * how many pages it recorded there (capped at INT32_MAX), or -1 (the unit failed: corrupt, or fn refused). */
    int (*ssm_get_pages)(vmm_ssm *ssm, uint64_t first, uint64_t count, vmm_ssm_page_fn fn, void *ctx);
    /* SDK 1.7, in a load callback: refuse the unit because of the user's input rather than the snapshot (a file
     * the unit depends on changed since the save): like ssm_fail, but vmm exits with status 2. Returns -1. */
    int (*ssm_fail_input)(vmm_ssm *ssm, const char *fmt, ...) VMM_PRINTF(2, 3);

    /* SDK 1.7, for devices, from construct: claim the architecture's next slot for a small MMIO device with one
     * interrupt line (a virtio-mmio transport), for a device whose user gave no address or line: *base (a window
     * of at least size bytes that overlaps nothing of the board's) and *irq. Slots go in the order devices are
     * created. Returns 0; -1 when the architecture keeps no such slots (its board has no mmio_slot: the device
     * then uses its own defaults); -2 when all are taken (logged: the device should fail). */
    int (*mmio_slot_claim)(vmm_instance *inst, uint64_t size, uint64_t *base, uint32_t *irq);

    /* SDK 1.8, for architectures whose engine keeps what it derived from guest RAM (translated code): a count
     * that grows with every mem_write (once the bytes are in place), every writable mem_ptr taken, and every
     * irq_set and msi_send, of any instance. While it stays the same, no plugin wrote guest RAM. A device's
     * writes through a pointer count when it takes the pointer; it must finish them before it tells the guest
     * (an interrupt, or a write the guest polls for through mem_write or a newly taken pointer), which counts
     * again. The engine's own stores and the core's restore of a snapshot into RAM are not counted. */
    uint64_t (*mem_write_count)(vmm_instance *inst);

    void *reserved[1]; /* must be NULL; later minors append helpers here */
    uint32_t version_end; /* == version */
} vmm_helpers;

/* True when the core's helper table has everything of SDK minor `minor` of this major. */
#define VMM_HELPERS_HAVE(hlp, minor) \
    (VMM_VERSION_MAJOR((hlp)->version) == VMM_SDK_MAJOR && VMM_VERSION_MINOR((hlp)->version) >= (minor))

/* ---- Per-kind operations ----------------------------------------------------------------------------- */

typedef enum vmm_image_role {
    VMM_IMAGE_GENERIC = 0, /* --image FILE[@ADDR] */
    VMM_IMAGE_KERNEL = 1,  /* --kernel FILE */
    VMM_IMAGE_INITRD = 2,  /* --initrd FILE */
} vmm_image_role;

/* An image named with --image, --kernel or --initrd, read by the core; the arch plugin interprets it. */
typedef struct vmm_image {
    const char *path;
    const uint8_t *data;
    size_t size;
    uint64_t load_addr; /* valid when has_load_addr */
    int has_load_addr;
    int role; /* vmm_image_role */
} vmm_image;

struct vmm_board; /* SDK 1.6, below */

typedef struct vmm_arch_ops {
    uint32_t version; /* VMM_DESC_VERSION */
    uint32_t size;    /* sizeof(vmm_arch_ops) */
    /* After every instance was constructed and the host driver's VM exists (if one is needed): map RAM, ask for
     * host features (vm_enable_feature). */
    int (*vm_create)(vmm_instance *inst, void *state);
    /* After RAM and devices are mapped: load the images, build boot structures. The images' data is valid
     * during this call only (the core frees it afterwards): copy what is needed later. */
    int (*vm_load)(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages);
    /* Once per vCPU, before it first runs. */
    int (*vcpu_init)(vmm_instance *inst, void *state, vmm_vcpu *vcpu);
    /* Every exit the core does not handle itself (everything but PIO, MMIO and INTERRUPTED). */
    vmm_exit_action (*vcpu_exit)(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit);
    /* Print the vCPU's registers and the code at its instruction pointer (errors, --log debug). */
    void (*vcpu_dump)(vmm_instance *inst, void *state, vmm_vcpu *vcpu);
    /* Optional: the plugin executes the guest itself (an in-process recompiler) instead of the host driver.
     * Called on the vCPU's thread again and again; run guest code and return at the latest soon after
     * vcpu_should_return() turns true (stop or pause requested). Called by the inproc engine only (SDK 1.4:
     * see engines below); there the state-class helpers fail. */
    vmm_exit_action (*vcpu_run)(vmm_instance *inst, void *state, vmm_vcpu *vcpu);
    /* SDK 1.3, optional: check the images against the configuration (RAM size, options) before any host
     * resource exists, so that bad input is reported the same way on a host with no host driver. Called after
     * every instance was constructed. It may map guest RAM (mem_map_ram: plain memory until the host driver's VM
     * takes it over) and load the images into it, leaving to vm_load what depends on the host; or only parse
     * them. Returns 0 when this configuration runs without a host driver (the plugin executes the guest with
     * vcpu_run), 1 when it needs one, or -1 after logging why the input is refused (vmm exits 2).
     * images is NULL (nimages 0) when a snapshot is being restored: then only say whether a host driver is
     * needed. Without vm_check the core assumes a host driver is needed unless vcpu_run is set. */
    int (*vm_check)(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages);
    /* SDK 1.4, optional: the execution engines this architecture runs guests on, comma-separated, preferred
     * first ("kvm": the host kernel runs the guest; "inproc": vcpu_run does, in this process), e.g. "inproc,kvm".
     * Shown by `vmm plugins`; --accel outside this list is refused before anything is set up. Without it the
     * core takes "inproc" when vcpu_run is set, else "kvm". Which one a given configuration uses is vm_check's
     * answer (0: inproc, 1: kvm); the vm_accel helper tells it what the user asked for. */
    const char *engines;
    /* SDK 1.5, optional: the layout of the state classes (vmm_host_info.hostdrv_abi, e.g. "kvm-x86_64") this
     * architecture's kvm configurations use. The core refuses, in one line naming the plugin, a run on the kvm
     * engine whose layout differs, so the plugin need not check it itself. NULL: the plugin uses no state class. */
    const char *state_abi;
    /* SDK 1.5, optional: the architecture's own interrupt controller, for engines that have none (inproc). The
     * core routes irq_set (a device's line: level 1 raised, 0 lowered) to irq_line and msi_send to msi. Called
     * from any thread (vCPU threads in I/O callbacks, the event loop in timers, a device's own threads): the
     * plugin locks what it shares and wakes the hart it interrupts. Return 0, or -1 for a line or message the
     * controller does not have (the caller's helper then returns -1). */
    int (*irq_line)(vmm_instance *inst, void *state, uint32_t line, int level);
    int (*msi)(vmm_instance *inst, void *state, uint64_t addr, uint32_t data);
    /* SDK 1.5, optional: dirty-page tracking by the architecture's software engine (inproc), which the core asks
     * for incremental and live snapshots. bitmap NULL: start tracking writes to guest RAM [gpa, gpa + len)
     * (forgetting earlier ones). Otherwise OR into bitmap (bit i = 4 KiB page i of the range) every page the
     * engine wrote since the last call, and clear them. The core calls it only while no vCPU runs (the VM is
     * paused, or not started yet), so a write is never caught half-way. Writes through the core's helpers
     * (mem_write, mem_ptr) are the core's to track. Return 0, or -1 (the core then fails the save). */
    int (*dirty_log)(vmm_instance *inst, void *state, uint64_t gpa, uint64_t len, uint64_t *bitmap);
    /* SDK 1.6, optional: the board around the CPUs (vmm_board below). This was the last reserved slot: vmm_arch_ops
     * grows no further, later additions go to vmm_board's reserved slots. */
    const struct vmm_board *board;
} vmm_arch_ops;

/* SDK 1.6: what a machine has besides its CPUs and RAM, for the core to set up before the user's devices. */
#define VMM_BUS_PORT 1u /* a port I/O space the guest reaches (x86's in/out); without it pio_register from a device
                         * fails with a line naming the device, since the guest could never reach those ports */
#define VMM_BUS_MMIO 2u

typedef struct vmm_board {
    uint32_t version; /* VMM_DESC_VERSION */
    uint32_t size;    /* sizeof(vmm_board) */
    /* The devices the board has unless the user gives --nodefaults: --device values ("uart16550,mmio=0x10000000,
     * irq=10"), NULL-terminated, created before the user's devices. A --device of the same plugin replaces the
     * board's (all of that plugin's defaults): one way to move or reconfigure a default device. */
    const char *const *default_devices;
    uint32_t buses;   /* VMM_BUS_* the guest reaches; 0 = VMM_BUS_PORT | VMM_BUS_MMIO */
    uint32_t reserved0;
    /* SDK 1.7, optional: slot `index` (0, 1, ...) for small MMIO devices with one interrupt line (mmio_slot_claim):
     * fill *base and *irq for a window of size bytes and return 0, or -1 when there is no such slot. Pure: the
     * core calls it from devices' construct, counting the slots itself. NULL: the board keeps no slots. */
    int (*mmio_slot)(unsigned index, uint64_t size, uint64_t *base, uint32_t *irq);
    void *reserved[5]; /* must be NULL */
} vmm_board;

/* ---- The descriptor --------------------------------------------------------------------------------- */

typedef struct vmm_plugin_desc {
    uint32_t version;       /* VMM_DESC_VERSION the plugin was built with */
    uint32_t size;          /* sizeof(vmm_plugin_desc) as the plugin was built */
    uint32_t kind;          /* vmm_plugin_kind */
    uint32_t instance_size; /* bytes of zeroed per-instance state the core allocates */
    const char *name;       /* [a-z0-9_-]+, unique among loaded plugins */
    const char *description;
    const vmm_option_desc *options; /* NULL or a table ended by a NULL name */

    /* Called once per instance; `state` is instance_size zeroed bytes; keep `hlp` and `inst` in it. Return 0,
     * or -1 after logging why (the VM is then not started). Since SDK 1.3 every instance is constructed before
     * any host resource exists (the host driver's VM comes after, then vm_create): check option values and
     * register I/O, timers and saved-state units here; a refusal is the configuration's (vmm exits 2). Memory
     * mapped here reaches the host driver's VM when it is created. */
    int (*construct)(vmm_instance *inst, const vmm_helpers *hlp, void *state);
    void (*destruct)(vmm_instance *inst, void *state);
    void (*reset)(vmm_instance *inst, void *state);

    const vmm_arch_ops *arch; /* kind == VMM_KIND_ARCH: required; otherwise NULL */

    void *reserved[8];    /* must be NULL; later minors add optional callbacks here */
    uint32_t version_end; /* == version */
    uint32_t reserved_end;
} vmm_plugin_desc;

/* What the core tells a plugin about itself when it calls the entry point. */
typedef struct vmm_host_info {
    uint32_t version;          /* VMM_HOST_VERSION of the core */
    uint32_t size;
    const char *vmm_version;   /* "0.1.0" */
    const char *hostdrv_abi;   /* layout of the state classes, e.g. "kvm-x86_64"; "none" without a driver */
    void *reserved[4];
} vmm_host_info;

typedef int (*vmm_register_fn)(void *ctx, const vmm_plugin_desc *desc);

/*
 * The entry point every plugin exports under the name VMM_PLUGIN_ENTRY_SYMBOL: register each descriptor with
 * `reg(ctx, &desc)` and return 0. Use VMM_PLUGIN_DEFINE for the common one-descriptor case.
 */
typedef int (*vmm_plugin_entry_fn)(const vmm_host_info *host, vmm_register_fn reg, void *ctx);

#define VMM_PLUGIN_DEFINE(desc_var)                                                                           \
    VMM_EXPORT int vmm_plugin_entry(const vmm_host_info *host, vmm_register_fn reg, void *ctx);               \
    VMM_EXPORT int vmm_plugin_entry(const vmm_host_info *host, vmm_register_fn reg, void *ctx)                \
    {                                                                                                         \
        (void)host;                                                                                           \
        return reg(ctx, &(desc_var));                                                                         \
    }

#ifdef __cplusplus
}
#endif
#endif /* VMM_PLUGIN_H */
