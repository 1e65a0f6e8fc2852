/*
 * fuzz_x86_linux: x86-raw's image loaders (plugins/x86-raw/boot.c and linux.c, linked from the plugin's own
 * objects), which parse files the user names: the Linux boot protocol (bzImage setup header, the xz payload
 * decompressed and streamed into RAM, the ELF inside it), an uncompressed vmlinux ELF, initrd placement, the
 * zero page, e820 and MP tables; and --image ELF64 and flat binaries. Guest RAM is fuzz_ram (exact-size,
 * poisoned until handed out), so ASan sees any byte read outside the input or touched outside what the
 * loader asked the helpers for.
 *
 * Input: a flags byte (bit 0-4: RAM (1 + n) MiB; bit 5: syscall relegation, which changes the e820 map;
 * bit 6-7: 0/1 --kernel alone or with --initrd, 2 one --image, 3 two --image), a vCPU-count byte (1 + n), the
 * command line up to a NUL, a u32 length of the first part (the initrd, or the first image), per --image a
 * flags byte (bit 0: an @ADDR follows as u64), then the parts; the kernel (or last image) is the rest.
 *
 * After a successful Linux load the harness checks what the kernel will rely on: the zero page's command line
 * pointer names the given command line, the entry point is in guest RAM, the initrd is whole, page aligned and
 * inside RAM the e820 map declares usable. (Kernel segments may lie in 640 KiB-1 MiB, which is guest RAM but not
 * e820 RAM: linkers put ELF header segments just below 1 MiB, as in tests/guests/x86.)
 */
#include <asm/bootparam.h>

#include "fuzz.h"
#include "fuzz_ram.h"
#include "x86raw.h"

static vmm_helpers fuzz_x86_hlp;
static const char *fuzz_x86_cmdline;
static unsigned fuzz_x86_ncpus;

static const char *fuzz_x86_vm_cmdline(vmm_instance *inst)
{
    (void)inst;
    return fuzz_x86_cmdline;
}

static unsigned fuzz_x86_vcpu_count(vmm_instance *inst)
{
    (void)inst;
    return fuzz_x86_ncpus;
}

/* Whether [addr, addr + len) lies inside one usable (type 1) entry of the zero page's e820 map. */
static int fuzz_x86_in_e820_ram(const struct boot_params *bp, uint64_t addr, uint64_t len)
{
    for (unsigned i = 0; i < bp->e820_entries && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
        const struct boot_e820_entry *e = &bp->e820_table[i];
        if (e->type == 1 && addr >= e->addr && addr - e->addr < e->size && len <= e->size - (addr - e->addr))
            return 1;
    }
    return 0;
}

/* What the loader promised the kernel, read back from guest RAM. */
static void fuzz_x86_check_linux(const x86raw *x, const vmm_image *initrd)
{
    FUZZ_CHECK(x->boot_mode == X86_BOOT_LONG && x->linux_zero_page != 0);
    FUZZ_CHECK(fuzz_ram_peek(&fuzz_ram_current, x->entry, 1) != NULL);
    const struct boot_params *bp = (const void *)fuzz_ram_peek(&fuzz_ram_current, x->linux_zero_page, sizeof(*bp));
    FUZZ_CHECK(bp != NULL);
    size_t cmdlen = strlen(fuzz_x86_cmdline);
    const uint8_t *cmd = fuzz_ram_peek(&fuzz_ram_current, bp->hdr.cmd_line_ptr, cmdlen + 1);
    FUZZ_CHECK(cmd && memcmp(cmd, fuzz_x86_cmdline, cmdlen + 1) == 0);
    FUZZ_CHECK(bp->e820_entries >= 2 && bp->e820_entries <= E820_MAX_ENTRIES_ZEROPAGE);
    if (initrd) {
        uint64_t at = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;
        FUZZ_CHECK(bp->hdr.ramdisk_size == initrd->size && (at & 0xfff) == 0);
        /* The kernel frees and reuses what the e820 map calls RAM only: an initrd elsewhere is lost. */
        FUZZ_CHECK(fuzz_x86_in_e820_ram(bp, at, initrd->size));
        const uint8_t *p = fuzz_ram_peek(&fuzz_ram_current, at, initrd->size);
        FUZZ_CHECK(p && memcmp(p, initrd->data, initrd->size) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cursor c = fuzz_cursor_init(data, size);
    uint8_t flags = fuzz_take_u8(&c);
    fuzz_x86_ncpus = 1u + fuzz_take_u8(&c);
    char *cmdline = fuzz_take_str(&c);
    fuzz_x86_cmdline = cmdline;
    size_t first_len = fuzz_take_u32(&c);
    unsigned shape = flags >> 6;
    vmm_image images[2];
    unsigned nimages = shape == 0 || shape == 2 ? 1 : 2;
    memset(images, 0, sizeof(images));
    for (unsigned i = 0; i < nimages && shape >= 2; i++) {
        images[i].role = VMM_IMAGE_GENERIC;
        if (fuzz_take_u8(&c) & 1) {
            images[i].has_load_addr = 1;
            images[i].load_addr = fuzz_take_u64(&c);
        }
    }
    /* Each part in its own exact-size heap block, as the core reads each file. */
    uint8_t *parts[2] = {NULL, NULL};
    for (unsigned i = 0; i < nimages; i++) {
        size_t len;
        const uint8_t *p = fuzz_take_bytes(&c, i + 1 < nimages ? first_len : size, &len);
        parts[i] = malloc(len ? len : 1);
        if (!parts[i])
            abort();
        memcpy(parts[i], p, len);
        images[i].data = parts[i];
        images[i].size = len;
        images[i].path = i ? "image1" : "image0";
    }
    const vmm_image *initrd = NULL;
    if (shape == 0) {
        images[0].role = VMM_IMAGE_KERNEL;
    } else if (shape == 1) {
        /* The core passes images in command-line order; --initrd first exercises the loader's search. */
        images[0].role = VMM_IMAGE_INITRD;
        images[1].role = VMM_IMAGE_KERNEL;
        initrd = &images[0];
    }

    fuzz_ram_set_helpers(&fuzz_x86_hlp);
    fuzz_x86_hlp.vm_cmdline = fuzz_x86_vm_cmdline;
    fuzz_x86_hlp.vcpu_count = fuzz_x86_vcpu_count;
    /* x86-raw's layout (x86raw.c): RAM from 0 up to X86_LOW_RAM_MAX; these sizes never reach the high part. */
    fuzz_ram_add(&fuzz_ram_current, 0, (1ull + (flags & 31)) << 20);
    x86raw *x = calloc(1, sizeof(*x));
    if (!x)
        abort();
    x->inst = (vmm_instance *)x; /* opaque to the loader; only handed back to the helpers */
    x->hlp = &fuzz_x86_hlp;
    x->syscall_relegation = (flags >> 5) & 1;

    int rc = x86_load_images(x, images, nimages);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_x86_linux: %s, entry 0x%llx\n", rc ? "refused" : "loaded", (unsigned long long)x->entry);
    if (rc == 0) {
        if (shape <= 1) {
            fuzz_x86_check_linux(x, initrd);
            /* vm_create's second pass over the zero page, once the host's limits are known. */
            FUZZ_CHECK(x86_boot_linux_finish(x) == 0);
        } else {
            FUZZ_CHECK(x->boot_mode == X86_BOOT_LONG || x->boot_mode == X86_BOOT_REAL);
        }
    }
    free(x);
    fuzz_ram_free(&fuzz_ram_current);
    free(parts[0]);
    free(parts[1]);
    free(cmdline);
    return 0;
}
