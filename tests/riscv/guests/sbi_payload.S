/* sbi_payload.S: an S-mode payload for OpenSBI's fw_jump (linked at 0x80200000, where fw_jump jumps): it prints a
 * line through the SBI's legacy console (extension 1) — every character an ecall from S-mode that the firmware
 * handles in M-mode — checks that a0 is the hart id 0 and that a1 points at a device tree (its magic, big-endian
 * 0xd00dfeed), and shuts the machine down through the SBI's system reset extension (SRST), which OpenSBI performs
 * with the board's SiFive test device: vmm exits 0. On a failed check it prints "FAIL" and resets with reason 1. */
    .section .text.init
    .globl _start
_start:
#ifdef LINUX_IMAGE_HEADER
    /* Built with -DLINUX_IMAGE_HEADER, the payload poses as a Linux kernel Image: the 64-byte RISC-V boot image
     * header (text_offset 2 MiB, image_size, flags, version 0.2, both magics), jumped over. */
    j 1f
    .balign 8
    .dword 0x200000             /* text_offset */
    .dword _end - _start        /* image_size */
    .dword 0                    /* flags: little-endian */
    .word 2                     /* version 0.2 */
    .word 0
    .dword 0
    .ascii "RISCV\0\0\0"
    .ascii "RSC\x05"
    .word 0
1:
#endif
    mv s1, a0
    mv s2, a1
    la s0, hello
    call puts
    bnez s1, fail
    lwu t0, 0(s2)
    li t1, 0xedfe0dd0           /* 0xd00dfeed read little-endian */
    bne t0, t1, fail
    csrr t0, sstatus            /* S-mode CSRs are ours */
    la s0, ok
    call puts
    li a7, 0x53525354           /* SRST */
    li a6, 0
    li a0, 0                    /* shutdown */
    li a1, 0                    /* no reason */
    ecall
1:  j 1b
fail:
    la s0, failed
    call puts
    li a7, 0x53525354
    li a6, 0
    li a0, 0
    li a1, 1                    /* system failure */
    ecall
2:  j 2b
puts:
    lbu a0, 0(s0)
    beqz a0, 3f
    li a7, 1                    /* legacy console putchar */
    ecall
    addi s0, s0, 1
    j puts
3:  ret
    .section .rodata
hello:  .asciz "payload: S-mode, entered from OpenSBI\n"
ok:     .asciz "payload: hart 0, device tree in a1; shutting down through SBI SRST\n"
failed: .asciz "payload: FAIL (a0 is not hart 0, or a1 is no device tree)\n"
