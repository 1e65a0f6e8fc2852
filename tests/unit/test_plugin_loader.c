/*
 * Unit tests for core/plugin.c, the plugin loader: plugin_load_file on each plugin of tests/plugins (the good
 * ones load and are found by plugin_find / plugin_find_kind; each bad one is refused with one line naming the
 * file and the reason, and leaves nothing registered and nothing mapped), one plugin name from two files,
 * the version rules of plugin_check_desc (newer minors load and their reserved slots are ignored; a newer
 * host accepts an older-minor plugin; another major never loads) and plugin_load_dir (loads the good files,
 * reports each bad one exactly once, scans two levels deep, skips what is already loaded), and a relative
 * path without a '/' naming the file in the working directory.
 *
 * usage: test_plugin_loader DIR, DIR being the build directory of tests/plugins.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NOLOAD, mkdtemp */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

static const char *plugin_dir; /* argv[1] */

/* Every file tests/plugins/meson.build builds: what loading it must do. */
struct variant {
    const char *file;
    const char *reason;      /* substring of the refusal; NULL = must load */
    const char *names[2];    /* the plugins it registers (or would register) */
};

static const struct variant variants[] = {
    {"good_device.so", NULL, {"tp-good-device"}},
    {"good_arch.so", NULL, {"tp-good-arch"}},
    {"newer_minor.so", NULL, {"tp-newer-minor"}},
    {"two_descs.so", NULL, {"tp-two-descs", "tp-two-descs-second"}},
    {"bad_magic.so", "magic", {"tp-bad-magic"}},
    {"other_major.so", "major", {"tp-other-major"}},
    {"truncated.so", "truncated", {"tp-truncated"}},
    {"bad_end_marker.so", "end marker", {"tp-bad-end-marker"}},
    {"no_entry.so", "no entry symbol", {"tp-no-entry"}},
    {"reserved_slot.so", "reserved descriptor slot 3 is not NULL", {"tp-reserved-slot"}},
    {"bad_name.so", "name is missing or invalid", {"tp-bad-name"}},
    {"no_construct.so", "no construct callback", {"tp-no-construct"}},
    {"arch_without_ops.so", "no architecture operations", {"tp-arch-without-ops"}},
    {"bad_option_table.so", "option iobase is declared twice", {"tp-bad-option-table"}},
    {"dup_desc.so", "registers plugin 'tp-dup-desc' twice", {"tp-dup-desc"}},
    {"entry_fails.so", "entry point failed", {"tp-entry-fails"}},
    {"no_desc.so", "no descriptor", {"tp-no-desc"}},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static const struct variant *variant(const char *file)
{
    for (size_t i = 0; i < NVARIANTS; i++)
        if (strcmp(variants[i].file, file) == 0)
            return &variants[i];
    fail_msg("no variant %s", file);
    return NULL;
}

static char *plugin_path(const char *file)
{
    static char paths[8][4096];
    static unsigned next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", plugin_dir, file);
    return p;
}

/* Whether the dynamic linker still has the file mapped (a refused or freed plugin must not be). */
static int is_mapped(const char *path)
{
    void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (ferror(in))
        rc = -1;
    fclose(in);
    if (fclose(out))
        rc = -1;
    return rc;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* A scratch directory for the running test and the files created in it, removed (in reverse order) by the
 * teardown, so that a failing test leaves nothing behind either. */
static struct scratch {
    char dir[64];
    char paths[16][4096];
    size_t n;
} scratch;

static const char *scratch_path(const char *rel)
{
    assert_true(scratch.n < 16);
    char dir[sizeof(scratch.dir)]; /* a copy: GCC's -Wrestrict cannot tell scratch.dir from scratch.paths[] */
    memcpy(dir, scratch.dir, sizeof(dir));
    char *p = scratch.paths[scratch.n++];
    snprintf(p, sizeof(scratch.paths[0]), "%s/%s", dir, rel);
    return p;
}

static void scratch_init(void)
{
    memset(&scratch, 0, sizeof(scratch));
    snprintf(scratch.dir, sizeof(scratch.dir), "/tmp/vmm-test-plugin-XXXXXX");
    assert_non_null(mkdtemp(scratch.dir));
}

static const char *scratch_mkdir(const char *rel)
{
    const char *p = scratch_path(rel);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

static const char *scratch_copy(const char *file, const char *rel)
{
    const char *p = scratch_path(rel);
    if (copy_file(plugin_path(file), p))
        fail_msg("cannot copy %s to %s", plugin_path(file), p);
    return p;
}

static void scratch_remove(void)
{
    while (scratch.n) {
        const char *p = scratch.paths[--scratch.n];
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rmdir(p);
        else
            unlink(p);
    }
    if (scratch.dir[0])
        rmdir(scratch.dir);
    scratch.dir[0] = '\0';
}

static int setup_registry(void **state)
{
    static plugin_registry reg;
    plugin_registry_init(&reg, "test-abi");
    *state = &reg;
    return 0;
}

static int teardown_registry(void **state)
{
    plugin_registry_free(*state);
    scratch_remove();
    return 0;
}

static void load_ok(plugin_registry *reg, const char *path)
{
    char err[512] = "";
    if (plugin_load_file(reg, path, err, sizeof(err)) != 0)
        fail_msg("%s was refused: %s", path, err);
}

/* Load a file that must be refused; returns the message (static). The registry must not change. */
static const char *load_refused(plugin_registry *reg, const char *path, const char *reason)
{
    static char err[512];
    size_t count = reg->count, nhandles = reg->nhandles;
    err[0] = '\0';
    if (plugin_load_file(reg, path, err, sizeof(err)) != -1)
        fail_msg("%s was loaded", path);
    /* "FILE: reason", on one line */
    size_t plen = strlen(path);
    if (strncmp(err, path, plen) != 0 || strncmp(err + plen, ": ", 2) != 0)
        fail_msg("message \"%s\" does not start with \"%s: \"", err, path);
    if (!strstr(err + plen, reason))
        fail_msg("message \"%s\" does not give the reason \"%s\"", err, reason);
    assert_null(strchr(err, '\n'));
    assert_int_equal(reg->count, count);
    assert_int_equal(reg->nhandles, nhandles);
    return err;
}

/* ---- good plugins ------------------------------------------------------------------------------------ */

static void test_plugin_registry_init_describes_host(void **state)
{
    plugin_registry *reg = *state;
    assert_int_equal(reg->count, 0);
    assert_int_equal(reg->host_major, VMM_SDK_MAJOR);
    assert_int_equal(reg->host_minor, VMM_SDK_MINOR);
    assert_int_equal(reg->host.version, VMM_HOST_VERSION);
    assert_int_equal(reg->host.size, sizeof(vmm_host_info));
    assert_non_null(reg->host.vmm_version);
    assert_string_equal(reg->host.hostdrv_abi, "test-abi");
    plugin_registry r2;
    plugin_registry_init(&r2, NULL);
    assert_string_equal(r2.host.hostdrv_abi, "none");
    plugin_registry_free(&r2);
}

static void test_plugin_kind_names(void **state)
{
    (void)state;
    assert_string_equal(plugin_kind_name(VMM_KIND_ARCH), "architecture");
    assert_string_equal(plugin_kind_name(2), "unknown"); /* the retired execution kind */
    assert_string_equal(plugin_kind_name(VMM_KIND_DEVICE), "device");
    assert_string_equal(plugin_kind_name(0), "unknown");
    assert_string_equal(plugin_kind_name(99), "unknown");
}

static void test_plugin_loads_good_device(void **state)
{
    plugin_registry *reg = *state;
    const char *path = plugin_path("good_device.so");
    load_ok(reg, path);
    assert_int_equal(reg->count, 1);
    assert_int_equal(reg->nhandles, 1);
    const plugin *p = plugin_find(reg, "tp-good-device");
    assert_non_null(p);
    assert_string_equal(p->path, path);
    assert_non_null(p->handle);
    assert_int_equal(p->desc->kind, VMM_KIND_DEVICE);
    assert_non_null(p->desc->construct);
    assert_null(p->desc->arch);
    assert_non_null(p->desc->options);
    assert_string_equal(p->desc->options[0].name, "iobase");
    assert_ptr_equal(plugin_find_kind(reg, "tp-good-device", VMM_KIND_DEVICE), p);
    assert_null(plugin_find_kind(reg, "tp-good-device", VMM_KIND_ARCH));
    assert_null(plugin_find(reg, "tp-good"));
    assert_null(plugin_find(reg, "tp-good-device-x"));
    assert_null(plugin_find_kind(reg, "nosuch", VMM_KIND_DEVICE));
    assert_true(is_mapped(path));
}

static void test_plugin_loads_good_arch(void **state)
{
    plugin_registry *reg = *state;
    load_ok(reg, plugin_path("good_arch.so"));
    const plugin *p = plugin_find_kind(reg, "tp-good-arch", VMM_KIND_ARCH);
    assert_non_null(p);
    assert_non_null(p->desc->arch);
    assert_int_equal(p->desc->arch->size, sizeof(vmm_arch_ops));
    assert_non_null(p->desc->arch->vcpu_exit);
    assert_null(plugin_find_kind(reg, "tp-good-arch", VMM_KIND_DEVICE));
}

static void test_plugin_loads_newer_minor_ignoring_its_reserved_slots(void **state)
{
    plugin_registry *reg = *state;
    load_ok(reg, plugin_path("newer_minor.so"));
    const plugin *p = plugin_find_kind(reg, "tp-newer-minor", VMM_KIND_DEVICE);
    assert_non_null(p);
    assert_int_equal(VMM_VERSION_MINOR(p->desc->version), VMM_SDK_MINOR + 1);
    assert_non_null(p->desc->reserved[3]); /* the test plugin really did fill a slot */
}

static void test_plugin_refuses_newer_minor_once_host_has_that_minor(void **state)
{
    plugin_registry *reg = *state;
    /* a host of the plugin's own minor checks its reserved slots */
    reg->host_minor = VMM_SDK_MINOR + 1;
    load_refused(reg, plugin_path("newer_minor.so"), "reserved descriptor slot 3 is not NULL");
    assert_null(plugin_find(reg, "tp-newer-minor"));
}

static void test_plugin_loads_every_descriptor_of_a_file(void **state)
{
    plugin_registry *reg = *state;
    const char *path = plugin_path("two_descs.so");
    load_ok(reg, path);
    assert_int_equal(reg->count, 2);
    assert_int_equal(reg->nhandles, 1);
    const plugin *a = plugin_find_kind(reg, "tp-two-descs", VMM_KIND_DEVICE);
    const plugin *b = plugin_find_kind(reg, "tp-two-descs-second", VMM_KIND_DEVICE);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a != b);
    assert_ptr_equal(a->handle, b->handle);
    assert_string_equal(a->path, path);
    assert_string_equal(b->path, path);
}

static void test_plugin_loads_several_files_into_one_registry(void **state)
{
    plugin_registry *reg = *state;
    load_ok(reg, plugin_path("good_device.so"));
    load_ok(reg, plugin_path("good_arch.so"));
    load_ok(reg, plugin_path("two_descs.so"));
    load_ok(reg, plugin_path("newer_minor.so"));
    assert_int_equal(reg->count, 5);
    assert_int_equal(reg->nhandles, 4);
    assert_string_equal(plugin_find(reg, "tp-good-device")->path, plugin_path("good_device.so"));
    assert_string_equal(plugin_find(reg, "tp-good-arch")->path, plugin_path("good_arch.so"));
    assert_string_equal(plugin_find(reg, "tp-two-descs-second")->path, plugin_path("two_descs.so"));
    assert_string_equal(plugin_find(reg, "tp-newer-minor")->path, plugin_path("newer_minor.so"));
}

static void test_plugin_registry_free_unmaps_loaded_files(void **state)
{
    plugin_registry *reg = *state;
    const char *path = plugin_path("good_arch.so");
    load_ok(reg, path);
    assert_true(is_mapped(path));
    plugin_registry_free(reg);
    assert_false(is_mapped(path));
    assert_int_equal(reg->count, 0);
    plugin_registry_init(reg, "test-abi"); /* for the teardown */
}

/* ---- bad plugins: one test each ---------------------------------------------------------------------- */

/* Load a bad variant into a registry that already holds good_device: refused, nothing of it registered,
 * nothing of it left mapped, good_device untouched. */
static void check_refused_variant(plugin_registry *reg, const char *file)
{
    const struct variant *v = variant(file);
    const char *path = plugin_path(file);
    load_ok(reg, plugin_path("good_device.so"));
    const plugin *good = plugin_find(reg, "tp-good-device");
    load_refused(reg, path, v->reason);
    assert_int_equal(reg->count, 1);
    assert_ptr_equal(plugin_find(reg, "tp-good-device"), good);
    for (size_t i = 0; i < 2 && v->names[i]; i++)
        assert_null(plugin_find(reg, v->names[i]));
    assert_false(is_mapped(path));
}

#define REFUSED_TEST(fn, file) \
    static void fn(void **state) { check_refused_variant(*state, file); }

REFUSED_TEST(test_plugin_refuses_bad_magic, "bad_magic.so")
REFUSED_TEST(test_plugin_refuses_other_major, "other_major.so")
REFUSED_TEST(test_plugin_refuses_truncated_descriptor, "truncated.so")
REFUSED_TEST(test_plugin_refuses_mismatched_end_marker, "bad_end_marker.so")
REFUSED_TEST(test_plugin_refuses_file_without_entry_symbol, "no_entry.so")
REFUSED_TEST(test_plugin_refuses_current_minor_with_reserved_slot, "reserved_slot.so")
REFUSED_TEST(test_plugin_refuses_invalid_name, "bad_name.so")
REFUSED_TEST(test_plugin_refuses_missing_construct, "no_construct.so")
REFUSED_TEST(test_plugin_refuses_arch_without_ops, "arch_without_ops.so")
REFUSED_TEST(test_plugin_refuses_bad_option_table, "bad_option_table.so")
REFUSED_TEST(test_plugin_refuses_file_registering_one_name_twice, "dup_desc.so")
REFUSED_TEST(test_plugin_refuses_failing_entry_after_it_registered, "entry_fails.so")
REFUSED_TEST(test_plugin_refuses_entry_registering_nothing, "no_desc.so")

static void test_plugin_refusal_messages_give_the_details(void **state)
{
    plugin_registry *reg = *state;
    const char *err = load_refused(reg, plugin_path("bad_magic.so"), "magic");
    assert_non_null(strstr(err, "0x4242"));
    err = load_refused(reg, plugin_path("other_major.so"), "major");
    assert_non_null(strstr(err, "SDK 2.0"));
    err = load_refused(reg, plugin_path("no_entry.so"), "no entry symbol");
    assert_non_null(strstr(err, "'vmm_plugin_entry'"));
    err = load_refused(reg, plugin_path("entry_fails.so"), "entry point failed");
    assert_non_null(strstr(err, "returned -1"));
    err = load_refused(reg, plugin_path("arch_without_ops.so"), "no architecture operations");
    assert_non_null(strstr(err, "'tp-arch-without-ops'"));
}

/* ---- one name, two loads ----------------------------------------------------------------------------- */

static void test_plugin_refuses_same_file_twice(void **state)
{
    plugin_registry *reg = *state;
    const char *path = plugin_path("good_device.so");
    load_ok(reg, path);
    const char *err = load_refused(reg, path, "already loaded");
    assert_non_null(strstr(err, "'tp-good-device'"));
    assert_int_equal(reg->count, 1);
    assert_int_equal(reg->nhandles, 1);
    /* the refusal dropped its own reference: freeing the registry unmaps the file */
    plugin_registry_free(reg);
    assert_false(is_mapped(path));
    plugin_registry_init(reg, "test-abi");
}

static void test_plugin_refuses_same_name_from_second_file(void **state)
{
    plugin_registry *reg = *state;
    scratch_init();
    const char *copy = scratch_copy("good_device.so", "copy_of_good_device.so");
    const char *path = plugin_path("good_device.so");
    load_ok(reg, path);
    const char *err = load_refused(reg, copy, "already loaded");
    /* the message names the plugin and the file that already provides it */
    assert_non_null(strstr(err, "plugin 'tp-good-device' is already loaded from"));
    assert_non_null(strstr(err + strlen(copy), path));
    assert_int_equal(reg->count, 1);
    assert_string_equal(plugin_find(reg, "tp-good-device")->path, path);
    assert_false(is_mapped(copy));
}

static void test_plugin_refuses_file_sharing_one_of_its_names(void **state)
{
    plugin_registry *reg = *state;
    scratch_init();
    /* the copy registers tp-two-descs and tp-two-descs-second; the second is taken: neither may stay */
    const char *copy = scratch_copy("two_descs.so", "copy.so");
    load_ok(reg, plugin_path("two_descs.so"));
    assert_int_equal(reg->count, 2);
    load_refused(reg, copy, "already loaded");
    assert_int_equal(reg->count, 2);
    assert_string_equal(plugin_find(reg, "tp-two-descs")->path, plugin_path("two_descs.so"));
    assert_string_equal(plugin_find(reg, "tp-two-descs-second")->path, plugin_path("two_descs.so"));
}

/* ---- paths ------------------------------------------------------------------------------------------- */

/* The relative-path test works in a scratch directory holding copies under names found nowhere else (meson
 * runs tests with the plugin directory in LD_LIBRARY_PATH, which would hide a path handed to dlopen as is). */
static char saved_cwd[4096];

static int setup_registry_in_scratch_dir(void **state)
{
    setup_registry(state);
    scratch_init();
    scratch_copy("good_device.so", "relative_device.so");
    scratch_copy("good_arch.so", "relative_arch.so");
    scratch_copy("bad_magic.so", "relative_bad.so");
    if (!getcwd(saved_cwd, sizeof(saved_cwd)) || chdir(scratch.dir) != 0)
        return -1;
    return 0;
}

static int teardown_registry_back_to_cwd(void **state)
{
    int rc = chdir(saved_cwd);
    teardown_registry(state);
    return rc;
}

/*
 * A bare file name is a file in the current directory, as stat() (which plugin_load_file checks first) sees
 * it. dlopen() takes a name without '/' as a library to look up in the search path instead, so the loader
 * must not hand it over unchanged: it would miss the file, or load a different one of that name.
 */
static void test_plugin_loads_relative_path_without_slash(void **state)
{
    plugin_registry *reg = *state;
    load_ok(reg, "relative_device.so");
    const plugin *p = plugin_find_kind(reg, "tp-good-device", VMM_KIND_DEVICE);
    assert_non_null(p);
    assert_string_equal(p->path, "relative_device.so");
    load_ok(reg, "./relative_arch.so");
    assert_non_null(plugin_find_kind(reg, "tp-good-arch", VMM_KIND_ARCH));
    load_refused(reg, "relative_bad.so", "magic");
}

/* ---- files that are not plugins ---------------------------------------------------------------------- */

static void test_plugin_refuses_missing_file(void **state)
{
    plugin_registry *reg = *state;
    load_refused(reg, plugin_path("does_not_exist.so"), "no such plugin file");
    load_refused(reg, plugin_dir, "no such plugin file"); /* a directory */
}

static void test_plugin_refuses_file_that_is_not_a_shared_object(void **state)
{
    plugin_registry *reg = *state;
    scratch_init();
    const char *junk = scratch_path("junk.so");
    assert_int_equal(write_file(junk, "this is not an ELF file\n"), 0);
    load_refused(reg, junk, "cannot load");
}

/* ---- plugin_check_desc ------------------------------------------------------------------------------- */

static int fake_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    (void)inst;
    (void)hlp;
    (void)state;
    return 0;
}

static int fake_vm_load(vmm_instance *inst, void *state, const vmm_image *images, unsigned nimages)
{
    (void)inst;
    (void)state;
    (void)images;
    (void)nimages;
    return 0;
}

static int fake_vcpu_init(vmm_instance *inst, void *state, vmm_vcpu *vcpu)
{
    (void)inst;
    (void)state;
    (void)vcpu;
    return 0;
}

static vmm_exit_action fake_vcpu_exit(vmm_instance *inst, void *state, vmm_vcpu *vcpu, const vmm_exit *exit)
{
    (void)inst;
    (void)state;
    (void)vcpu;
    (void)exit;
    return VMM_ACTION_RESUME;
}

static int slot_target;

static vmm_plugin_desc fake_desc(unsigned minor)
{
    vmm_plugin_desc d;
    memset(&d, 0, sizeof(d));
    d.version = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR, minor);
    d.size = sizeof(d);
    d.kind = VMM_KIND_DEVICE;
    d.name = "fake";
    d.construct = fake_construct;
    d.version_end = d.version;
    return d;
}

static vmm_arch_ops fake_arch_ops(unsigned minor)
{
    vmm_arch_ops a;
    memset(&a, 0, sizeof(a));
    a.version = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR, minor);
    a.size = sizeof(a);
    a.vm_load = fake_vm_load;
    a.vcpu_init = fake_vcpu_init;
    a.vcpu_exit = fake_vcpu_exit;
    return a;
}

static void check_desc_ok(const plugin_registry *reg, const vmm_plugin_desc *d)
{
    char err[256] = "";
    if (plugin_check_desc(reg, d, err, sizeof(err)) != 0)
        fail_msg("descriptor refused: %s", err);
}

static void check_desc_refused(const plugin_registry *reg, const vmm_plugin_desc *d, const char *reason)
{
    char err[256] = "";
    assert_int_equal(plugin_check_desc(reg, d, err, sizeof(err)), -1);
    if (!strstr(err, reason))
        fail_msg("message \"%s\" does not give the reason \"%s\"", err, reason);
    assert_null(strchr(err, '\n'));
}

static void test_plugin_check_desc_newer_host_accepts_older_minor(void **state)
{
    plugin_registry *reg = *state;
    reg->host_minor = VMM_SDK_MINOR + 2; /* simulate a newer host */
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    check_desc_ok(reg, &d);
    d = fake_desc(VMM_SDK_MINOR + 1);
    check_desc_ok(reg, &d);
    d = fake_desc(VMM_SDK_MINOR + 2);
    check_desc_ok(reg, &d);
    /* the older-minor files load too */
    load_ok(reg, plugin_path("good_device.so"));
    load_ok(reg, plugin_path("good_arch.so"));
}

static void test_plugin_check_desc_newer_host_still_checks_reserved_slots_of_older_minor(void **state)
{
    plugin_registry *reg = *state;
    reg->host_minor = VMM_SDK_MINOR + 2;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR + 1);
    d.reserved[7] = &slot_target;
    check_desc_refused(reg, &d, "reserved descriptor slot 7 is not NULL");
    d = fake_desc(VMM_SDK_MINOR + 2);
    d.reserved[0] = &slot_target;
    check_desc_refused(reg, &d, "reserved descriptor slot 0 is not NULL");
    d = fake_desc(VMM_SDK_MINOR + 3); /* newer than the host: ignored */
    d.reserved[0] = &slot_target;
    check_desc_ok(reg, &d);
}

static void test_plugin_check_desc_checks_reserved_end(void **state)
{
    plugin_registry *reg = *state;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    d.reserved_end = 1;
    check_desc_refused(reg, &d, "reserved");
    d = fake_desc(VMM_SDK_MINOR + 1);
    d.reserved_end = 1;
    check_desc_ok(reg, &d);
}

static void test_plugin_check_desc_refuses_other_major_whatever_the_minor(void **state)
{
    plugin_registry *reg = *state;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    d.version = d.version_end = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR + 1, VMM_SDK_MINOR);
    check_desc_refused(reg, &d, "major");
    d.version = d.version_end = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR - 1, 9);
    check_desc_refused(reg, &d, "major");
    /* and a host of another major refuses this SDK's plugins */
    reg->host_major = VMM_SDK_MAJOR + 1;
    d = fake_desc(VMM_SDK_MINOR);
    check_desc_refused(reg, &d, "major");
}

static void test_plugin_check_desc_refuses_malformed_descriptors(void **state)
{
    plugin_registry *reg = *state;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    check_desc_ok(reg, &d);

    check_desc_refused(reg, NULL, "NULL descriptor");

    d = fake_desc(VMM_SDK_MINOR);
    d.size = sizeof(d) + 8; /* descriptors never grow in place */
    check_desc_refused(reg, &d, "bytes");

    d = fake_desc(VMM_SDK_MINOR);
    d.name = NULL;
    check_desc_refused(reg, &d, "name");
    d.name = "";
    check_desc_refused(reg, &d, "name");
    d.name = "abcdefghijklmnopqrstuvwxyz012345"; /* 32 characters */
    check_desc_refused(reg, &d, "name");
    d.name = "abcdefghijklmnopqrstuvwxyz01234"; /* 31 */
    check_desc_ok(reg, &d);

    d = fake_desc(VMM_SDK_MINOR);
    d.kind = 0;
    check_desc_refused(reg, &d, "unknown kind 0");
    d.kind = 4;
    check_desc_refused(reg, &d, "unknown kind 4");
    /* The retired execution kind: refused by name, in one line naming the plugin. */
    d.kind = 2;
    check_desc_refused(reg, &d, "plugin 'fake' declares kind 2 (an execution engine), which vmm does not load");

    d = fake_desc(VMM_SDK_MINOR);
    d.instance_size = 16u << 20;
    check_desc_ok(reg, &d);
    d.instance_size = (16u << 20) + 1;
    check_desc_refused(reg, &d, "instance data");

    d = fake_desc(VMM_SDK_MINOR);
    vmm_arch_ops a = fake_arch_ops(VMM_SDK_MINOR);
    d.arch = &a;
    check_desc_refused(reg, &d, "is a device plugin but has architecture operations");
}

/* The host-driver gate: an architecture declaring a state layout runs only on an engine with that layout. */
static void test_plugin_state_abi_gate(void **state)
{
    (void)state;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    vmm_arch_ops a = fake_arch_ops(VMM_SDK_MINOR);
    d.kind = VMM_KIND_ARCH;
    d.arch = &a;
    char err[256] = "";
    /* No layout declared: no state class used, any engine will do. */
    assert_null(plugin_arch_state_abi(&d));
    assert_int_equal(plugin_check_state_abi(&d, "kvm", "kvm-fake", err, sizeof(err)), 0);

    a.state_abi = "kvm-x86_64";
    assert_string_equal(plugin_arch_state_abi(&d), "kvm-x86_64");
    assert_int_equal(plugin_check_state_abi(&d, "kvm", "kvm-x86_64", err, sizeof(err)), 0);
    assert_int_equal(plugin_check_state_abi(&d, "kvm", "kvm-fake", err, sizeof(err)), -1);
    assert_string_equal(err, "plugin 'fake' keeps vCPU state in the kvm-x86_64 layout, and the kvm engine of this "
                             "vmm has kvm-fake");
    err[0] = '\0';
    assert_int_equal(plugin_check_state_abi(&d, "kvm", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has none"));

    /* Before SDK 1.5 the field was a reserved slot: an older plugin declares no layout whatever the memory holds. */
    d = fake_desc(4);
    d.kind = VMM_KIND_ARCH;
    d.arch = &a;
    assert_null(plugin_arch_state_abi(&d));
    assert_int_equal(plugin_check_state_abi(&d, "kvm", "kvm-fake", err, sizeof(err)), 0);
}

static void test_plugin_check_desc_checks_arch_ops(void **state)
{
    plugin_registry *reg = *state;
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    vmm_arch_ops a = fake_arch_ops(VMM_SDK_MINOR);
    d.kind = VMM_KIND_ARCH;
    d.arch = &a;
    check_desc_ok(reg, &d);

    a.version = VMM_MAKE_VERSION(VMM_HELPERS_MAGIC, VMM_SDK_MAJOR, VMM_SDK_MINOR);
    check_desc_refused(reg, &d, "architecture operations have version");
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.version = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR + 1, 0);
    check_desc_refused(reg, &d, "want major");

    a = fake_arch_ops(VMM_SDK_MINOR);
    a.size = sizeof(a) - sizeof(void *);
    check_desc_refused(reg, &d, "bytes");

    a = fake_arch_ops(VMM_SDK_MINOR);
    a.vcpu_exit = NULL;
    check_desc_refused(reg, &d, "lack");
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.vm_load = NULL;
    check_desc_refused(reg, &d, "lack");
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.vcpu_init = NULL;
    check_desc_refused(reg, &d, "lack");
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.vm_create = NULL; /* optional */
    a.vcpu_dump = NULL; /* optional */
    check_desc_ok(reg, &d);

    /* SDK 1.6 took the last reserved slot for the board: a 1.5 plugin must still leave it NULL. */
    vmm_board board = {.version = VMM_DESC_VERSION, .size = sizeof(board), .buses = VMM_BUS_MMIO};
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.version = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR, 5);
    a.board = (const vmm_board *)&slot_target;
    check_desc_refused(reg, &d, "reserved slot 0");
    a = fake_arch_ops(VMM_SDK_MINOR);
    a.board = &board;
    check_desc_ok(reg, &d);
    board.size = sizeof(board) - 8;
    check_desc_refused(reg, &d, "its board has version");
    board.size = sizeof(board);
    board.reserved[4] = &slot_target;
    check_desc_refused(reg, &d, "its board's reserved slot 4");
    board.reserved[4] = NULL;
    board.buses = 4;
    check_desc_refused(reg, &d, "unknown buses");
    board.version = VMM_MAKE_VERSION(VMM_DESC_MAGIC, VMM_SDK_MAJOR, VMM_SDK_MINOR + 1); /* newer: ignored */
    check_desc_ok(reg, &d);
}

static void test_plugin_check_desc_checks_option_table(void **state)
{
    plugin_registry *reg = *state;
    static const vmm_option_desc bad[] = {{.name = "x", .type = VMM_OPT_U64, .default_value = "nope"}, {.name = NULL}};
    static const vmm_option_desc good[] = {{.name = "x", .type = VMM_OPT_U64, .default_value = "7"}, {.name = NULL}};
    vmm_plugin_desc d = fake_desc(VMM_SDK_MINOR);
    d.options = good;
    check_desc_ok(reg, &d);
    d.options = bad;
    check_desc_refused(reg, &d, "plugin 'fake': option x: bad default value");
}

/* ---- plugin_load_dir --------------------------------------------------------------------------------- */

struct report {
    char path[4096];
    char reason[512];
};

struct reports {
    struct report r[64];
    size_t n;
};

static void collect(void *ctx, const char *path, const char *reason)
{
    struct reports *rs = ctx;
    if (rs->n >= 64)
        fail_msg("more than 64 reports");
    snprintf(rs->r[rs->n].path, sizeof(rs->r[0].path), "%s", path);
    snprintf(rs->r[rs->n].reason, sizeof(rs->r[0].reason), "%s", reason);
    rs->n++;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* How many reports name the file `file` (by its last path component). */
static size_t reports_for(const struct reports *rs, const char *file)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(base_name(rs->r[i].path), file) == 0)
            n++;
    return n;
}

static const struct report *report_for(const struct reports *rs, const char *file)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(base_name(rs->r[i].path), file) == 0)
            return &rs->r[i];
    return NULL;
}

static void test_plugin_load_dir_loads_good_and_reports_each_bad_once(void **state)
{
    plugin_registry *reg = *state;
    static struct reports rs;
    memset(&rs, 0, sizeof(rs));
    size_t nbad = 0, nnames = 0;
    for (size_t i = 0; i < NVARIANTS; i++)
        if (variants[i].reason)
            nbad++;
        else
            nnames += variants[i].names[1] ? 2 : 1;

    int failed = plugin_load_dir(reg, plugin_dir, collect, &rs);
    /* Every failure is reported, each file at most once. Files this test does not know (another test's plugin
     * built into the same directory) may add to the counts; each one of the table is checked below. */
    assert_int_equal(rs.n, (size_t)failed);
    for (size_t i = 0; i < rs.n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(rs.r[i].path, rs.r[j].path) == 0)
                fail_msg("%s was reported twice", rs.r[i].path);
    assert_true((size_t)failed >= nbad);
    assert_true(reg->count >= nnames);
    for (size_t i = 0; i < NVARIANTS; i++) {
        const struct variant *v = &variants[i];
        if (!v->reason) {
            assert_int_equal(reports_for(&rs, v->file), 0);
            for (size_t k = 0; k < 2 && v->names[k]; k++) {
                const plugin *p = plugin_find(reg, v->names[k]);
                if (!p)
                    fail_msg("%s (from %s) was not loaded", v->names[k], v->file);
                assert_string_equal(base_name(p->path), v->file);
            }
            continue;
        }
        if (reports_for(&rs, v->file) != 1)
            fail_msg("%s was reported %zu times", v->file, reports_for(&rs, v->file));
        const struct report *r = report_for(&rs, v->file);
        /* the reason names the file and says what is wrong */
        if (strncmp(r->reason, r->path, strlen(r->path)) != 0 || !strstr(r->reason, v->reason))
            fail_msg("report for %s: \"%s\" lacks the file or \"%s\"", v->file, r->reason, v->reason);
        assert_null(strchr(r->reason, '\n'));
        assert_null(plugin_find(reg, v->names[0]));
    }
    assert_true(plugin_find_kind(reg, "tp-good-arch", VMM_KIND_ARCH) != NULL);
    assert_true(plugin_find_kind(reg, "tp-good-device", VMM_KIND_DEVICE) != NULL);
}

static void test_plugin_load_dir_twice_skips_files_already_loaded(void **state)
{
    plugin_registry *reg = *state;
    static struct reports rs;
    memset(&rs, 0, sizeof(rs));
    int first = plugin_load_dir(reg, plugin_dir, NULL, NULL); /* a NULL callback is allowed */
    size_t count = reg->count, nhandles = reg->nhandles;
    assert_true(first > 0);
    int second = plugin_load_dir(reg, plugin_dir, collect, &rs);
    /* the good files are not loaded again (no "already loaded" refusals); the bad ones fail again */
    assert_int_equal(second, first);
    assert_int_equal(rs.n, (size_t)first);
    for (size_t i = 0; i < rs.n; i++)
        assert_null(strstr(rs.r[i].reason, "already loaded"));
    assert_int_equal(reg->count, count);
    assert_int_equal(reg->nhandles, nhandles);
}

static void test_plugin_load_dir_ignores_missing_directory(void **state)
{
    plugin_registry *reg = *state;
    struct reports rs;
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(plugin_load_dir(reg, "/nonexistent/vmm-test-plugins", collect, &rs), 0);
    assert_int_equal(rs.n, 0);
    assert_int_equal(reg->count, 0);
}

static void test_plugin_load_dir_scans_two_levels_deep(void **state)
{
    plugin_registry *reg = *state;
    static struct reports rs;
    memset(&rs, 0, sizeof(rs));
    scratch_init();
    scratch_copy("good_device.so", "top.so");               /* depth 0: loaded */
    scratch_mkdir("a");
    scratch_copy("good_arch.so", "a/arch.so");              /* depth 1: loaded */
    scratch_mkdir("a/b");
    scratch_copy("two_descs.so", "a/b/two.so");             /* depth 2: loaded */
    scratch_mkdir("a/b/c");
    scratch_copy("newer_minor.so", "a/b/c/too_deep.so");    /* depth 3: not looked at */
    scratch_copy("bad_magic.so", "a/b/c/too_deep_bad.so");  /* not looked at, so not reported */
    scratch_copy("bad_magic.so", ".hidden.so");             /* hidden: skipped */
    scratch_copy("bad_magic.so", "a/bad.so.disabled");      /* not *.so: skipped */
    const char *junk = scratch_path("a/b/junk.so");
    assert_int_equal(write_file(junk, "not an ELF file\n"), 0);

    int failed = plugin_load_dir(reg, scratch.dir, collect, &rs);
    assert_int_equal(failed, 1);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.r[0].path, junk);
    assert_non_null(strstr(rs.r[0].reason, "cannot load"));
    assert_non_null(plugin_find_kind(reg, "tp-good-device", VMM_KIND_DEVICE));
    assert_non_null(plugin_find_kind(reg, "tp-good-arch", VMM_KIND_ARCH));
    assert_non_null(plugin_find(reg, "tp-two-descs"));
    assert_non_null(plugin_find(reg, "tp-two-descs-second"));
    assert_null(plugin_find(reg, "tp-newer-minor"));
    assert_int_equal(reg->count, 4);
}

#define R(fn) cmocka_unit_test_setup_teardown(fn, setup_registry, teardown_registry)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST-PLUGIN-DIR\n", argv[0]);
        return 2;
    }
    static char dir[4096];
    if (!realpath(argv[1], dir)) { /* absolute: one test changes the working directory */
        fprintf(stderr, "%s: %s: no such directory\n", argv[0], argv[1]);
        return 1;
    }
    plugin_dir = dir;
    for (size_t i = 0; i < NVARIANTS; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", plugin_dir, variants[i].file);
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "%s: test plugin %s is missing (build tests/plugins first)\n", argv[0], path);
            return 1;
        }
    }
    const struct CMUnitTest tests[] = {
        R(test_plugin_registry_init_describes_host),
        R(test_plugin_kind_names),
        R(test_plugin_loads_good_device),
        R(test_plugin_loads_good_arch),
        R(test_plugin_loads_newer_minor_ignoring_its_reserved_slots),
        R(test_plugin_refuses_newer_minor_once_host_has_that_minor),
        R(test_plugin_loads_every_descriptor_of_a_file),
        R(test_plugin_loads_several_files_into_one_registry),
        R(test_plugin_registry_free_unmaps_loaded_files),
        R(test_plugin_refuses_bad_magic),
        R(test_plugin_refuses_other_major),
        R(test_plugin_refuses_truncated_descriptor),
        R(test_plugin_refuses_mismatched_end_marker),
        R(test_plugin_refuses_file_without_entry_symbol),
        R(test_plugin_refuses_current_minor_with_reserved_slot),
        R(test_plugin_refuses_invalid_name),
        R(test_plugin_refuses_missing_construct),
        R(test_plugin_refuses_arch_without_ops),
        R(test_plugin_refuses_bad_option_table),
        R(test_plugin_refuses_file_registering_one_name_twice),
        R(test_plugin_refuses_failing_entry_after_it_registered),
        R(test_plugin_refuses_entry_registering_nothing),
        R(test_plugin_refusal_messages_give_the_details),
        R(test_plugin_refuses_same_file_twice),
        R(test_plugin_refuses_same_name_from_second_file),
        R(test_plugin_refuses_file_sharing_one_of_its_names),
        cmocka_unit_test_setup_teardown(test_plugin_loads_relative_path_without_slash, setup_registry_in_scratch_dir,
                                        teardown_registry_back_to_cwd),
        R(test_plugin_refuses_missing_file),
        R(test_plugin_refuses_file_that_is_not_a_shared_object),
        R(test_plugin_check_desc_newer_host_accepts_older_minor),
        R(test_plugin_check_desc_newer_host_still_checks_reserved_slots_of_older_minor),
        R(test_plugin_check_desc_checks_reserved_end),
        R(test_plugin_check_desc_refuses_other_major_whatever_the_minor),
        R(test_plugin_check_desc_refuses_malformed_descriptors),
        R(test_plugin_check_desc_checks_arch_ops),
        R(test_plugin_state_abi_gate),
        R(test_plugin_check_desc_checks_option_table),
        R(test_plugin_load_dir_loads_good_and_reports_each_bad_once),
        R(test_plugin_load_dir_twice_skips_files_already_loaded),
        R(test_plugin_load_dir_ignores_missing_directory),
        R(test_plugin_load_dir_scans_two_levels_deep),
    };
    return cmocka_run_group_tests_name("plugin_loader", tests, NULL, NULL);
}
