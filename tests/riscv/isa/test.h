/*
 * Macros for the project's RISC-V ISA tests (GNU as, preprocessed). Each test loads operands, runs one
 * instruction and compares the result with the architecturally required value, numbering the checks in gp;
 * the first mismatch ends the guest through the SiFive test device with the check number as the status, and
 * a full pass ends it with status 0 after printing "PASS <name>" on the virt UART. The same ELF runs on vmm
 * and on qemu-system-riscv64 -M virt -bios none, which is how the expected values are cross-checked.
 */
#define UART 0x10000000
#define FINISHER 0x100000

#define TEST_BEGIN(name)              \
    .section .text.init;              \
    .globl _start;                    \
_start:                               \
    la sp, __stack_top;               \
    la t0, trap_unexpected;           \
    csrw mtvec, t0;                   \
    li gp, 0;                         \
    j test_body;                      \
test_name: .asciz name;               \
    .balign 4;                        \
trap_unexpected:                      \
    li t0, 0x3333 | (250 << 16);      \
    li t1, FINISHER;                  \
    sw t0, 0(t1);                     \
1:  j 1b;                             \
test_body:

#define TEST_END                      \
    li t0, UART;                      \
    la t1, pass_msg;                  \
1:  lbu t2, 0(t1);                    \
    beqz t2, 2f;                      \
    sb t2, 0(t0);                     \
    addi t1, t1, 1;                   \
    j 1b;                             \
2:  la t1, test_name;                 \
3:  lbu t2, 0(t1);                    \
    beqz t2, 4f;                      \
    sb t2, 0(t0);                     \
    addi t1, t1, 1;                   \
    j 3b;                             \
4:  li t2, '\n';                      \
    sb t2, 0(t0);                     \
    li t0, 0x5555;                    \
    li t1, FINISHER;                  \
    sw t0, 0(t1);                     \
5:  j 5b;                             \
fail:                                 \
    li t0, 0x3333;                    \
    slli t1, gp, 16;                  \
    or t0, t0, t1;                    \
    li t1, FINISHER;                  \
    sw t0, 0(t1);                     \
6:  j 6b;                             \
    .section .rodata;                 \
pass_msg: .asciz "PASS ";             \
    .text

/* Checks: result register a4 (x14) against an expected constant. */
#define CHECK(n, reg, expect) \
    li gp, n;                 \
    li t6, expect;            \
    bne reg, t6, fail

#define TEST_RR(n, inst, expect, a, b) \
    li a1, a;                          \
    li a2, b;                          \
    inst a4, a1, a2;                   \
    CHECK(n, a4, expect)

#define TEST_RI(n, inst, expect, a, imm) \
    li a1, a;                            \
    inst a4, a1, imm;                    \
    CHECK(n, a4, expect)

/* Same, with source and destination in registers the recompiler keeps in memory (s2..s4, t3). */
#define TEST_RR_MEM(n, inst, expect, a, b) \
    li s2, a;                              \
    li s3, b;                              \
    inst s4, s2, s3;                       \
    CHECK(n, s4, expect)

#define TEST_RR_SAME(n, inst, expect, a) \
    li a1, a;                            \
    inst a1, a1, a1;                     \
    CHECK(n, a1, expect)
