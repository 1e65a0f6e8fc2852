# platform_probe: ELF64 guest for the test-probe device (tests/plugins/probe_device.c). Exercises the core's memory
# map through real KVM exits: an MMIO read and write dispatched to a device, a write to ROM that must be dropped, a
# shadowed ROM that starts with the image and is writable, an MMIO2 page shared with the host, and a core timer
# that ends the VM while the vCPU is halted (so stop requests must kick a vCPU out of the guest).

    .equ PROBE_MMIO, 0xfe000000
    .equ PROBE_ROM, 0xfd000000
    .equ PROBE_SHADOW, 0xfd001000
    .equ PROBE_MMIO2, 0xfd100000
    .equ PROBE_PORT, 0x5e0

    .text
    .globl _start
_start:
    mov $PROBE_MMIO, %rbx
    mov (%rbx), %rax
    mov $0x1234567890abcdef, %rcx
    lea msg_mmio_read(%rip), %rsi
    cmp %rcx, %rax
    jne fail
    call puts
    movl $0xfeedface, 8(%rbx)

    mov $PROBE_ROM, %rbx
    movl $0, (%rbx)
    mov (%rbx), %eax
    lea msg_rom(%rip), %rsi
    cmp $0x214d4f52, %eax          # "ROM!"
    jne fail
    call puts

    mov $PROBE_SHADOW, %rbx
    mov (%rbx), %eax
    lea msg_shadow_init(%rip), %rsi
    cmp $0x57444853, %eax          # "SHDW"
    jne fail
    movl $0x58585858, (%rbx)
    mov (%rbx), %eax
    lea msg_shadow_write(%rip), %rsi
    cmp $0x58585858, %eax
    jne fail
    call puts

    mov $PROBE_MMIO2, %rbx
    mov (%rbx), %eax
    lea msg_mmio2(%rip), %rsi
    cmp $0x324f494d, %eax          # "MIO2", written by the host
    jne fail
    call puts
    movl $0xabad1dea, 8(%rbx)

    mov $PROBE_PORT, %dx
    mov $1, %al                    # ask the device to check what the host side saw
    out %al, %dx
    mov $2, %al                    # arm the device's timer, then halt until it stops the VM
    out %al, %dx
    cli
1:  hlt
    jmp 1b

fail:
    call puts
    lea msg_failed(%rip), %rsi
    call puts
    mov $0x11, %al
    jmp debug_exit

    .include "common64.inc"

    .section .rodata
msg_mmio_read:    .asciz "mmio read ok\n"
msg_rom:          .asciz "rom write dropped\n"
msg_shadow_init:  .asciz "shadow rom: bad initial contents\n"
msg_shadow_write: .asciz "shadow rom writable\n"
msg_mmio2:        .asciz "mmio2 shared\n"
msg_failed:       .asciz "FAILED\n"
