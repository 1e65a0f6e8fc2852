# guest.S: an x86-64 guest for the dma-checksum example (vmm --arch x86-raw). It asks the device for the CRC-32 of
# "123456789" (the standard check value is 0xcbf43926), waits for the completion interrupt (IRQ 5 through the PIC,
# vector 0x25), then points the device at memory far outside guest RAM and expects an error status.
# Output on COM1; exit through debug-exit: 0x10 all good (vmm exits 33), 0x11 a check failed.

    .equ DEV, 0xfe100000
    .equ BUF, 0x300000
    .equ IDT, 0x200000

    .text
    .globl _start
_start:
    # IDT with one gate, vector 0x25 (IRQ 5 once the PIC is remapped to 0x20).
    mov $IDT, %rdi
    xor %eax, %eax
    mov $(0x30 * 2), %ecx
    rep stosq
    lea irq5(%rip), %rax
    mov $(IDT + 0x25 * 16), %rdi
    mov %ax, (%rdi)
    movw $0x08, 2(%rdi)
    movw $0x8e00, 4(%rdi)
    shr $16, %rax
    mov %ax, 6(%rdi)
    lidt idtr(%rip)
    # PIC: master at 0x20, slave at 0x28, only IRQ 5 unmasked.
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $4, %al
    out %al, $0x21
    mov $2, %al
    out %al, $0xa1
    mov $1, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xdf, %al
    out %al, $0x21
    mov $0xff, %al
    out %al, $0xa1

    # The buffer, then start the device and halt until its interrupt.
    lea text(%rip), %rsi
    mov $BUF, %rdi
    mov $9, %ecx
    rep movsb
    mov $DEV, %rbx
    movq $BUF, (%rbx)
    movl $9, 8(%rbx)
    movl $0, done(%rip)
    sti
    movl $1, 0xc(%rbx)
1:  cmpl $0, done(%rip)
    jne 2f
    hlt
    jmp 1b
2:  cli
    lea msg_bad_status(%rip), %rsi
    cmpl $1, 0x10(%rbx)
    jne fail
    lea msg_bad_crc(%rip), %rsi
    cmpl $0xcbf43926, 0x14(%rbx)
    jne fail
    lea msg_crc_ok(%rip), %rsi
    call puts

    # A buffer at 1 TiB: outside any guest RAM, so the device must refuse it.
    movabs $0x10000000000, %rax
    mov %rax, (%rbx)
    movl $16, 8(%rbx)
    movl $1, 0xc(%rbx)
    movl $2, 0xc(%rbx)
    lea msg_not_refused(%rip), %rsi
    cmpl $2, 0x10(%rbx)
    jne fail
    lea msg_refused(%rip), %rsi
    call puts
    mov $0x501, %dx
    mov $0x10, %al
    out %al, %dx
    jmp .

fail:
    call puts
    mov $0x501, %dx
    mov $0x11, %al
    out %al, %dx
    jmp .

irq5:
    push %rax
    push %rbx
    movl $1, done(%rip)
    mov $DEV, %rbx
    movl $2, 0xc(%rbx)             # acknowledge: the device lowers its line
    mov $0x20, %al                 # end of interrupt at the PIC
    out %al, $0x20
    pop %rbx
    pop %rax
    iretq

# puts: the NUL-terminated string at RSI to COM1, waiting for the transmitter each time.
puts:
    push %rax
    push %rdx
3:  lodsb
    test %al, %al
    jz 5f
    mov %al, %ah
    mov $0x3fd, %dx
4:  in %dx, %al
    test $0x20, %al
    jz 4b
    mov $0x3f8, %dx
    mov %ah, %al
    out %al, %dx
    jmp 3b
5:  pop %rdx
    pop %rax
    ret

    .data
done: .long 0
idtr: .word 0x30 * 16 - 1
      .quad IDT
text: .ascii "123456789"
msg_crc_ok:      .asciz "crc32 ok\n"
msg_refused:     .asciz "dma outside RAM refused\n"
msg_bad_status:  .asciz "bad status after DMA\n"
msg_bad_crc:     .asciz "bad crc32\n"
msg_not_refused: .asciz "DMA outside RAM was not refused\n"
