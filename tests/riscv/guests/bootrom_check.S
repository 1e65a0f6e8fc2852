/* bootrom_check.S: firmware (M-mode, at 0x80000000, given with --bios) that checks what the boot ROM at 0x1000
 * handed it: a0 the hart id (mhartid), a1 a device tree (its magic), a2 OpenSBI's fw_dynamic_info inside the
 * ROM (magic "OSBI", version 2, next_addr 0x80200000 where --kernel was placed, next_mode S, boot_hart 0); then
 * that the ROM reads back its reset code (the first word is auipc t0, 0) and ignores stores. Prints
 * "bootrom: ok" on the UART and passes through the SiFive test device, or prints "bootrom: FAIL <check>" and
 * fails with that code. The same binary runs on QEMU's virt (-bios), whose ROM follows the same convention. */
#define UART 0x10000000
#define TEST 0x100000
    .section .text.init
    .globl _start
_start:
    mv s0, a0
    mv s1, a1
    mv s2, a2
    la t0, trap
    csrw mtvec, t0
    li s3, 1                    /* check 1: a0 is this hart's id, 0 */
    csrr t0, mhartid
    bne s0, t0, fail
    bnez s0, fail
    li s3, 2                    /* check 2: a1 points at a device tree */
    lwu t0, 0(s1)
    li t1, 0xedfe0dd0           /* 0xd00dfeed read little-endian */
    bne t0, t1, fail
    li s3, 3                    /* check 3: a2 is 8-byte aligned inside the ROM [0x1000, 0x10000) */
    li t0, 0x1000
    bltu s2, t0, fail
    li t0, 0x10000
    bgeu s2, t0, fail
    andi t0, s2, 7
    bnez t0, fail
    li s3, 4                    /* check 4: fw_dynamic_info's magic */
    ld t0, 0(s2)
    li t1, 0x4942534f
    bne t0, t1, fail
    li s3, 5                    /* check 5: version 2 */
    ld t0, 8(s2)
    li t1, 2
    bne t0, t1, fail
    li s3, 6                    /* check 6: next_addr, where the kernel is */
    ld t0, 16(s2)
    li t1, 0x80200000
    bne t0, t1, fail
    li s3, 7                    /* check 7: next_mode S (1) */
    ld t0, 24(s2)
    li t1, 1
    bne t0, t1, fail
    li s3, 8                    /* check 8: boot_hart 0 */
    ld t0, 40(s2)
    bnez t0, fail
    li s3, 9                    /* check 9: the ROM's first word is auipc t0, 0 */
    li t2, 0x1000
    lw t0, 0(t2)
    li t1, 0x00000297
    bne t0, t1, fail
    li s3, 10                   /* check 10: a store to the ROM changes nothing */
    sw zero, 0(t2)
    lw t0, 0(t2)
    bne t0, t1, fail
#ifdef WAIT_FOR_SNAPSHOT
    /* snapshot_bootrom.sh saves the machine during these 2 s and restores it in a new vmm, whose ROM must hold
     * the same bytes although a restore loads no images. */
    li a0, 'r'
    call putc
    li a0, '\n'
    call putc
    li t0, 0x200bff8            /* the CLINT's mtime, 10 MHz */
    ld t1, 0(t0)
    li t2, 20000000
    add t1, t1, t2
6:  ld t3, 0(t0)
    bltu t3, t1, 6b
    li s3, 12                   /* check 12: the ROM's first word and fw_dynamic_info, after the restore */
    li t2, 0x1000
    lw t0, 0(t2)
    li t1, 0x00000297
    bne t0, t1, fail
    ld t0, 0(s2)
    li t1, 0x4942534f
    bne t0, t1, fail
    ld t0, 16(s2)
    li t1, 0x80200000
    bne t0, t1, fail
#endif
    la a0, ok
    call puts
    li t0, TEST
    li t1, 0x5555
    sw t1, 0(t0)
1:  j 1b
trap:
    li s3, 11                   /* check 11: no trap on the way */
fail:
    la a0, failed
    call puts
    addi a0, s3, '0'
    call putc
    li a0, '\n'
    call putc
    li t0, TEST
    slli t1, s3, 16
    li t2, 0x3333
    or t1, t1, t2
    sw t1, 0(t0)
2:  j 2b
puts:
    mv t3, ra
    mv t4, a0
3:  lbu a0, 0(t4)
    beqz a0, 4f
    call putc
    addi t4, t4, 1
    j 3b
4:  mv ra, t3
    ret
putc:
    li t5, UART
5:  lbu t6, 5(t5)
    andi t6, t6, 0x20
    beqz t6, 5b
    sb a0, 0(t5)
    ret
    .section .rodata
ok:     .asciz "bootrom: ok\n"
failed: .asciz "bootrom: FAIL "
