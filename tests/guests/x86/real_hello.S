# real_hello: 16-bit real-mode guest for x86-raw's flat-binary boot path. Loaded with --image FILE@0x10000, so it
# starts at CS = 0x1000, IP = 0 with DS = ES = SS = CS; it is linked at 0 so its offsets are segment-relative.
# Prints a greeting on COM1 and exits through debug-exit with 0x10 (vmm status 33).

    .code16
    .equ COM1, 0x3f8
    .equ COM1_LSR, 0x3fd
    .equ LSR_THRE, 0x20
    .equ DEBUG_EXIT, 0x501

    .text
    .globl _start
_start:
    cld
    mov $msg, %si
1:  lodsb
    test %al, %al
    jz 2f
    call putc
    jmp 1b
2:  mov $0x10, %al
    mov $DEBUG_EXIT, %dx
    outb %al, %dx
    # Only reached if debug-exit did not stop the VM.
3:  hlt
    jmp 3b

# putc: AL to COM1, after waiting for THRE like a real driver would.
putc:
    mov %al, %ah
    mov $COM1_LSR, %dx
4:  inb %dx, %al
    test $LSR_THRE, %al
    jz 4b
    mov %ah, %al
    mov $COM1, %dx
    outb %al, %dx
    ret

msg:
    .asciz "Hello from real mode\n"
