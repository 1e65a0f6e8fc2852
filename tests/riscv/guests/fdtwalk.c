/*
 * fdtwalk.c: the riscv64 board tests' guest (bare metal). It takes the device tree from a1 as QEMU's reset vector
 * hands it over, checks its magic, and walks the structure block for the UART (compatible "ns16550a"), the test
 * finisher ("sifive,test0"), the memory node and /chosen's bootargs, then prints through the UART it found:
 *     fdt 0xADDR
 *     uart 0x10000000 irq 10
 *     memory 0x80000000 0x4000000
 *     bootargs TEXT            (when there are some)
 *     dma 0xBASE               (when a "vmm,dma-checksum" node is there)
 *     cpus N plic-contexts M clint-harts K  (cpu nodes; entries of the PLIC's and the CLINT's interrupts-extended)
 * and ends through the finisher it found (0x5555). No UART in the tree: it ends with status 3 at once; no
 * finisher: it spins (the test gives it a timeout). A bad magic or a1 outside RAM: status 2 through 0x100000.
 * Harts other than hart 0 (--cpus N) wait in wfi.
 */
#define FALLBACK_FINISHER ((volatile unsigned int *)0x100000)
typedef unsigned long u64;
typedef unsigned int u32;

static volatile unsigned char *uart;

static u32 be32(const void *p)
{
    const unsigned char *b = p;
    return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static u64 be64(const void *p)
{
    return (u64)be32(p) << 32 | be32((const unsigned char *)p + 4);
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Whether a compatible property (NUL-separated strings, len bytes) lists s. */
static int has_compat(const char *list, u32 len, const char *s)
{
    for (u32 i = 0; i < len;) {
        if (streq(list + i, s))
            return 1;
        while (i < len && list[i])
            i++;
        i++;
    }
    return 0;
}

static void put_str(const char *s)
{
    while (*s) {
        while (!(uart[5] & 0x20))
            ;
        uart[0] = (unsigned char)*s++;
    }
}

static void put_hex(u64 v)
{
    char b[19];
    int i = 18;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    put_str(b + i);
}

struct node {
    const char *name;
    const char *compat;
    u32 compat_len;
    u64 reg_base, reg_size;
    int has_reg;
    u32 irq;
    u32 irqs_ext_len;
};

void fdtwalk_main(u64 hartid, const unsigned char *fdt)
{
    (void)hartid;
    if ((u64)fdt < 0x80000000ul || be32(fdt) != 0xd00dfeed) {
        *FALLBACK_FINISHER = (2u << 16) | 0x3333;
        for (;;)
            ;
    }
    const unsigned char *p = fdt + be32(fdt + 8);      /* off_dt_struct */
    const char *strings = (const char *)fdt + be32(fdt + 12);
    struct node stack[8], *n = 0;
    int depth = -1;
    u64 uart_base = 0, mem_base = 0, mem_size = 0, dma = 0;
    u32 uart_irq = 0;
    volatile unsigned int *finisher = 0;
    const char *bootargs = 0;
    u32 cpus = 0, plic_contexts = 0, clint_harts = 0;
    for (;;) {
        u32 tok = be32(p);
        p += 4;
        if (tok == 1) { /* FDT_BEGIN_NODE */
            if (++depth >= 8)
                break;
            n = &stack[depth];
            *n = (struct node){ .name = (const char *)p };
            while (*p)
                p++;
            p = (const unsigned char *)(((u64)p + 4) & ~3ul);
        } else if (tok == 3) { /* FDT_PROP */
            u32 len = be32(p), nameoff = be32(p + 4);
            const unsigned char *val = p + 8;
            const char *pname = strings + nameoff;
            if (streq(pname, "compatible")) {
                n->compat = (const char *)val;
                n->compat_len = len;
            } else if (streq(pname, "reg") && len >= 16) {
                n->reg_base = be64(val);
                n->reg_size = be64(val + 8);
                n->has_reg = 1;
            } else if (streq(pname, "interrupts") && len == 4) {
                n->irq = be32(val);
            } else if (streq(pname, "interrupts-extended")) {
                n->irqs_ext_len = len;
            } else if (streq(pname, "device_type") && streq((const char *)val, "cpu")) {
                cpus++;
            } else if (streq(pname, "device_type") && streq((const char *)val, "memory")) {
                n->compat = "memory";
                n->compat_len = 7;
            } else if (streq(pname, "bootargs") && depth == 1 && streq(n->name, "chosen")) {
                bootargs = (const char *)val;
            }
            p = (const unsigned char *)(((u64)val + len + 3) & ~3ul);
        } else if (tok == 2) { /* FDT_END_NODE */
            if (n && n->has_reg && n->compat) {
                if (!uart_base && has_compat(n->compat, n->compat_len, "ns16550a")) {
                    uart_base = n->reg_base;
                    uart_irq = n->irq;
                } else if (has_compat(n->compat, n->compat_len, "sifive,test0")) {
                    finisher = (volatile unsigned int *)n->reg_base;
                } else if (has_compat(n->compat, n->compat_len, "memory")) {
                    mem_base = n->reg_base;
                    mem_size = n->reg_size;
                } else if (has_compat(n->compat, n->compat_len, "vmm,dma-checksum")) {
                    dma = n->reg_base;
                } else if (has_compat(n->compat, n->compat_len, "sifive,plic-1.0.0")) {
                    plic_contexts = n->irqs_ext_len / 8; /* <phandle irq> per context */
                } else if (has_compat(n->compat, n->compat_len, "sifive,clint0")) {
                    clint_harts = n->irqs_ext_len / 16;  /* software and timer per hart */
                }
            }
            if (--depth < 0)
                break;
            n = &stack[depth];
        } else if (tok != 4) { /* FDT_END, or damage */
            break;
        }
    }
    if (!uart_base) {
        if (finisher)
            *finisher = (3u << 16) | 0x3333;
        for (;;)
            ;
    }
    uart = (volatile unsigned char *)uart_base;
    put_str("fdt ");
    put_hex((u64)fdt);
    put_str("\nuart ");
    put_hex(uart_base);
    put_str(" irq ");
    put_hex(uart_irq);
    put_str("\nmemory ");
    put_hex(mem_base);
    put_str(" ");
    put_hex(mem_size);
    put_str("\n");
    if (bootargs) {
        put_str("bootargs ");
        put_str(bootargs);
        put_str("\n");
    }
    if (dma) {
        put_str("dma ");
        put_hex(dma);
        put_str("\n");
    }
    put_str("cpus ");
    put_hex(cpus);
    put_str(" plic-contexts ");
    put_hex(plic_contexts);
    put_str(" clint-harts ");
    put_hex(clint_harts);
    put_str("\n");
    if (finisher)
        *finisher = 0x5555;
    put_str("no finisher\n");
    for (;;)
        ;
}

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "    csrr t0, mhartid\n"
        "    bnez t0, 2f\n"
        "    la sp, __stack_top\n"
        "    call fdtwalk_main\n" /* a0 (hart id) and a1 (the tree) are its arguments as they are */
        "1:  j 1b\n"
        "2:  wfi\n"
        "    j 2b\n"
        ".text\n");
