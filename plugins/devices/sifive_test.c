/*
 * sifive_test: the SiFive test finisher of QEMU's riscv virt board (0x100000 by default), which lets a guest end
 * vmm with a status: a 16- or 32-bit write to offset 0 of 0x5555 ends with status 0 ("pass"), of
 * 0x3333 | code << 16 with status `code` ("fail"), as QEMU's hw/misc/sifive_test.c does. 0x7777 asks for a
 * reset, which vmm does not have: it is logged and ignored. Reads return 0; other writes are logged.
 */
#include <inttypes.h>
#include <stdint.h>

#include <vmm/plugin.h>

#define SIFIVE_TEST_SIZE 0x1000
#define SIFIVE_TEST_FAIL 0x3333
#define SIFIVE_TEST_PASS 0x5555
#define SIFIVE_TEST_RESET 0x7777

struct sifive_test {
    vmm_instance *inst;
    const vmm_helpers *hlp;
};

static uint64_t sifive_test_read(void *state, uint64_t offset, unsigned size)
{
    (void)state;
    (void)offset;
    (void)size;
    return 0;
}

static void sifive_test_write(void *state, uint64_t offset, unsigned size, uint64_t val)
{
    struct sifive_test *t = state;
    if (offset == 0 && (size == 2 || size == 4)) {
        unsigned status = (unsigned)(val & 0xffff), code = (unsigned)((val >> 16) & 0xffff);
        switch (status) {
        case SIFIVE_TEST_FAIL:
            /* A process status holds 8 bits; QEMU's exit(code) truncates the same way. */
            t->hlp->vm_stop(t->inst, (int)(code & 0xff));
            return;
        case SIFIVE_TEST_PASS:
            t->hlp->vm_stop(t->inst, 0);
            return;
        case SIFIVE_TEST_RESET:
            t->hlp->log(t->inst, VMM_LOG_WARN, "reset requested; vmm has no reset, ignored");
            return;
        default:
            break;
        }
    }
    t->hlp->log(t->inst, VMM_LOG_DEBUG, "ignored write of 0x%" PRIx64 " (%u bytes) at offset 0x%" PRIx64, val, size,
                offset);
}

static int sifive_test_construct(vmm_instance *inst, const vmm_helpers *hlp, void *state)
{
    struct sifive_test *t = state;
    t->inst = inst;
    t->hlp = hlp;
    if (VMM_HELPERS_HAVE(hlp, 3))
        hlp->ssm_stateless(inst); /* writes end the VM; nothing is kept between them */
    if (hlp->mmio_register(inst, hlp->opt_u64(inst, "base"), SIFIVE_TEST_SIZE, sifive_test_read, sifive_test_write))
        return -1;
    /* QEMU's compatible list: the architecture adds /poweroff and /reboot nodes that point at this syscon. */
    return VMM_HELPERS_HAVE(hlp, 6) ? hlp->fdt_describe(inst, "test", "sifive,test1 sifive,test0 syscon", -1) : 0;
}

static const vmm_option_desc sifive_test_options[] = {
    { .name = "base", .type = VMM_OPT_U64, .default_value = "0x100000",
      .help = "guest-physical address of the 4 KiB register page (QEMU virt: 0x100000)" },
    { .name = NULL },
};

static const vmm_plugin_desc sifive_test_desc = {
    .version = VMM_DESC_VERSION,
    .size = sizeof(vmm_plugin_desc),
    .kind = VMM_KIND_DEVICE,
    .instance_size = sizeof(struct sifive_test),
    .name = "sifive-test",
    .description = "SiFive test finisher (QEMU riscv virt): guest writes 0x5555 to pass, 0x3333|code<<16 to fail",
    .options = sifive_test_options,
    .construct = sifive_test_construct,
    .destruct = NULL,
    .reset = NULL,
    .arch = NULL,
    .version_end = VMM_DESC_VERSION,
};

VMM_PLUGIN_DEFINE(sifive_test_desc)
