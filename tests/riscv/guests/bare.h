/*
 * bare.h: what the bare-metal RISC-V guests of the tests and benches share (QEMU virt layout, M-mode, no OS): the
 * UART's output, decimal and hex numbers, and the start stub that sets the stack (tests/riscv/link.ld's
 * __stack_top) and calls the guest's main. Header-only; included by tests/riscv/guests, tests/virtio and
 * bench/ guests built with riscv64-unknown-elf-gcc -ffreestanding.
 */
#ifndef RV_BARE_H
#define RV_BARE_H

#include <stdint.h>

#define UART ((volatile unsigned char *)0x10000000)
#define FINISHER ((volatile uint32_t *)0x100000)
#define MTIME (*(volatile unsigned long *)0x200bff8)

static inline void put_str(const char *s)
{
    while (*s)
        *UART = (unsigned char)*s++;
}

static inline void put_dec(unsigned long v)
{
    char b[24];
    int i = 23;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_str(b + i);
}

static inline void put_hex(uint64_t v)
{
    char b[19];
    b[0] = '0';
    b[1] = 'x';
    for (int i = 0; i < 16; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    b[18] = 0;
    put_str(b);
}

/* _start: the stack, then fn (which never returns; if it does, the hart spins). */
#define BARE_START(fn)                         \
    __asm__(".section .text.init\n"            \
            ".globl _start\n"                  \
            "_start:\n"                        \
            "    la sp, __stack_top\n"         \
            "    call " #fn "\n"               \
            "1:  j 1b\n"                       \
            ".text\n")

#endif
