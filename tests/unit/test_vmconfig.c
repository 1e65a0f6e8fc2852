/*
 * Unit tests for core/vmconfig.c: a configuration written by vm_config_format reads back the same through
 * vm_config_parse (arch options, devices in order with their options, the command line, the engine); text in the
 * form the tree wrote before vmconfig existed still reads; what the format cannot keep is refused when written;
 * a damaged field is refused with one line naming the snapshot and the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "vmconfig.h"

static void round_trip(void **state)
{
    (void)state;
    static const vm_device_config devs[] = {{"uart16550", "irq=4,base=0x3f8"}, {"debug-exit", NULL},
                                            {"/tmp/my dev.so", "x=1"}};
    vm_config cfg = {.arch = "x86-raw", .arch_options = "exec=rc,trace=in_asm+exec", .ram_size = 256ull << 20,
                     .cpus = 4, .devices = devs, .ndevices = 3, .cmdline = "console=ttyS0 quiet", .accel = "kvm",
                     .nodefaults = 1};
    char text[1024], err[256];
    assert_int_equal(vm_config_format(&cfg, text, sizeof(text), err, sizeof(err)), 0);
    vm_config_text t;
    assert_int_equal(vm_config_parse(text, "s1", &t, err, sizeof(err)), 0);
    assert_string_equal(t.cfg.arch, "x86-raw");
    assert_string_equal(t.cfg.arch_options, "exec=rc,trace=in_asm+exec");
    assert_true(t.has_mem && t.has_cpus);
    assert_int_equal(t.cfg.ram_size, 256ull << 20);
    assert_int_equal(t.cfg.cpus, 4);
    assert_int_equal(t.cfg.ndevices, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_string_equal(t.cfg.devices[i].name, devs[i].name);
        if (devs[i].options)
            assert_string_equal(t.cfg.devices[i].options, devs[i].options);
        else
            assert_null(t.cfg.devices[i].options);
    }
    assert_string_equal(t.cfg.cmdline, "console=ttyS0 quiet");
    assert_string_equal(t.cfg.accel, "kvm");
    assert_true(t.cfg.nodefaults); /* --nodefaults: a restore must not add the board's devices */
    /* And once more through the format: the same text. */
    char again[1024];
    assert_int_equal(vm_config_format(&t.cfg, again, sizeof(again), err, sizeof(err)), 0);
    assert_string_equal(again, text);
    vm_config_text_free(&t);
}

static void minimal_round_trip(void **state)
{
    (void)state;
    vm_config cfg = {.arch = "riscv64", .ram_size = 1u << 20, .cpus = 1};
    char text[256], err[256];
    assert_int_equal(vm_config_format(&cfg, text, sizeof(text), err, sizeof(err)), 0);
    assert_string_equal(text, "arch riscv64\nmem 1048576\ncpus 1\n");
    vm_config_text t;
    assert_int_equal(vm_config_parse(text, "s", &t, err, sizeof(err)), 0);
    assert_string_equal(t.cfg.arch, "riscv64");
    assert_null(t.cfg.arch_options);
    assert_int_equal(t.cfg.ndevices, 0);
    assert_null(t.cfg.cmdline);
    assert_null(t.cfg.accel);
    assert_false(t.cfg.nodefaults);
    vm_config_text_free(&t);
}

/* The text main.c wrote before vmconfig: snapshots saved by it must still restore. */
static void reads_the_old_text(void **state)
{
    (void)state;
    const char *old = "arch x86-raw\nmem 268435456\ncpus 1\ndevice uart16550\ndevice debug-exit\n"
                      "append console=ttyS0\nengine kvm\n";
    vm_config_text t;
    char err[256];
    assert_int_equal(vm_config_parse(old, "old", &t, err, sizeof(err)), 0);
    assert_string_equal(t.cfg.arch, "x86-raw");
    assert_int_equal(t.cfg.ram_size, 268435456);
    assert_int_equal(t.cfg.ndevices, 2);
    assert_string_equal(t.cfg.devices[1].name, "debug-exit");
    assert_string_equal(t.cfg.cmdline, "console=ttyS0");
    assert_string_equal(t.cfg.accel, "kvm");
    vm_config_text_free(&t);
    /* A key a newer vmm added is skipped; an empty arch is no arch (the caller says so). */
    assert_int_equal(vm_config_parse("arch \nfuture-key something\n", "new", &t, err, sizeof(err)), 0);
    assert_null(t.cfg.arch);
    vm_config_text_free(&t);
}

static void format_refuses_what_it_cannot_keep(void **state)
{
    (void)state;
    char text[64], err[256];
    vm_config cfg = {.arch = "x86-raw", .ram_size = 1u << 20, .cpus = 1, .cmdline = "a\nmem 1"};
    assert_int_equal(vm_config_format(&cfg, text, sizeof(text), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "append has a newline"));
    cfg.cmdline = "console=ttyS0 and a command line much longer than sixty-four bytes";
    assert_int_equal(vm_config_format(&cfg, text, sizeof(text), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than the 63 bytes"));
}

static void refused(const char *text, const char *field_words)
{
    vm_config_text t;
    char err[256] = "";
    if (vm_config_parse(text, "snap-7", &t, err, sizeof(err)) != -1)
        fail_msg("accepted a damaged configuration: %s", text);
    if (!strstr(err, "snapshot 'snap-7'") || !strstr(err, field_words))
        fail_msg("for '%s' the message does not name the snapshot and '%s': %s", text, field_words, err);
    assert_null(strchr(err, '\n'));
    assert_null(t.buf); /* nothing left to free */
}

static void damaged_fields_are_refused(void **state)
{
    (void)state;
    refused("arch x86-raw\nmem 64M\n", "configuration's mem '64M'");
    refused("arch x86-raw\nmem 4097\n", "configuration's mem '4097'");
    refused("arch x86-raw\nmem 18446744073709551616\n", "configuration's mem");
    refused("arch x86-raw\nmem \n", "configuration's mem ''");
    refused("arch x86-raw\ncpus 0\n", "configuration's cpus '0'");
    refused("arch x86-raw\ncpus 1025\n", "configuration's cpus '1025'");
    refused("arch x86-raw\ncpus -1\n", "configuration's cpus '-1'");
    refused("arch x86-raw\ndevice ,irq=3\n", "a device without a name ('device ,irq=3')");
    refused("arch x86-raw\nengine \n", "configuration's engine ''");
    refused("arch x86-raw\narch riscv64\n", "names the architecture twice");
    refused("arch x86-raw\ngarbage\n", "a line without a value ('garbage')");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(minimal_round_trip),
        cmocka_unit_test(reads_the_old_text),
        cmocka_unit_test(format_refuses_what_it_cannot_keep),
        cmocka_unit_test(damaged_fields_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
