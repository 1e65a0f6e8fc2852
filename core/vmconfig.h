/*
 * vmconfig: one run's configuration (architecture and its options, RAM, vCPUs, engine, devices with their
 * options, images, kernel command line) and its text form, the one a snapshot keeps so that `vmm run --restore`
 * can build the same machine again. main.c fills it from the command line (or from a snapshot's text), vm.c
 * creates the VM from it, vmcmd.c writes its text into every snapshot. Pure: no VM, no plugin, no host.
 */
#ifndef VMM_CORE_VMCONFIG_H
#define VMM_CORE_VMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VM_CONFIG_MAX_DEVICES 64
#define VM_CONFIG_MAX_CPUS 1024

typedef struct vm_device_config {
    const char *name;    /* plugin name, or a path to a .so containing one device plugin */
    const char *options; /* "k=v,k=v" or NULL */
} vm_device_config;

typedef struct vm_image_config {
    const char *path;
    uint64_t load_addr;
    int has_load_addr;
    int role; /* vmm_image_role */
} vm_image_config;

typedef struct vm_config {
    const char *arch;
    const char *arch_options;
    uint64_t ram_size;
    unsigned cpus;
    const vm_image_config *images;
    unsigned nimages;
    const vm_device_config *devices;
    unsigned ndevices;
    const char *cmdline; /* --append, or NULL */
    const char *accel;   /* --accel: an engine name (hostdrv_engine_find), or NULL: the architecture's choice */
    int stats;           /* --stats */
    int dirty_log;       /* log dirty RAM pages, for incremental snapshots */
    int restoring;       /* state comes from a snapshot: images are not loaded */
    int nodefaults;      /* --nodefaults: none of the board's default devices (board.c) */
} vm_config;

/* The text a snapshot keeps, one "key value" per line: arch NAME[,OPTIONS], mem BYTES, cpus N, device
 * NAME[,OPTIONS] (one per device, in order), append TEXT, engine NAME, nodefaults 1. Images are not part of it: a restored
 * guest comes from the snapshot's RAM. 0, or -1 with a one-line reason in err when the text would not read back
 * as cfg (a value with a newline, or more than len - 1 bytes). */
int vm_config_format(const vm_config *cfg, char *out, size_t len, char *err, size_t errlen);

/* A configuration read back from text: cfg's strings and device list point into this object. */
typedef struct vm_config_text {
    vm_config cfg;
    vm_device_config devices[VM_CONFIG_MAX_DEVICES];
    int has_mem, has_cpus; /* whether the text gave them (cfg holds 0 otherwise) */
    char *buf;
} vm_config_text;

/* Parse text written by vm_config_format (by this vmm or an earlier one) of the snapshot named `snapshot`. An
 * empty arch value reads as no architecture (cfg.arch NULL); keys this vmm does not know are skipped, so that a
 * newer vmm may add some. A damaged field is refused: 0, or -1 with one line in err naming the snapshot and the
 * field ("snapshot 'NAME': its configuration's mem ..."); t then holds nothing to free. */
int vm_config_parse(const char *text, const char *snapshot, vm_config_text *t, char *err, size_t errlen);
void vm_config_text_free(vm_config_text *t);

#endif
