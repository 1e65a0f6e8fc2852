/*
 * exit-latency guest: performs N port writes to a null port, then ends the VM through debug-exit.
 * Run by both `vmm run --arch x86-raw` and bench/exit-latency/rawkvm, so the two see byte-identical guest work.
 *
 * Parameters, 16 bytes at guest-physical 0x200000 (passed as a raw image `params.bin@0x200000`):
 *   u64 N     number of writes to the null port
 *   u64 ring  0: loop at CPL 0; 3: drop to CPL 3 with RFLAGS.IOPL = 3 first
 * Assumes the x86-raw long-mode start state (docs/x86-raw.md): identity map with user pages, GDT selectors
 * 0x1b/0x23 for ring 3, a usable stack at RSP, and a TSS whose I/O bitmap allows every port. The bitmap is what
 * grants ring-3 port access on kvm_pvm (the software KVM of the dev machine), which drops RFLAGS.IOPL at CPL 3;
 * IOPL 3 is still requested so the guest is also right where only IOPL counts.
 *
 * Assembled with plain `as` (no preprocessor), hence .equ rather than #define.
 */
        .equ PARAMS_ADDR,     0x200000
        .equ NULL_PORT,       0x5e0        /* registered by nobody: every write is a bare exit */
        .equ DEBUG_EXIT_PORT, 0x501
        .equ USER_CS,         0x1b
        .equ USER_SS,         0x23
        .equ USER_STACK,      0x300000
        .equ RFLAGS_IOPL3,    0x3002       /* IOPL = 3, reserved bit 1, IF = 0 */

        .text
        .code64
        .globl _start
_start:
        movabs  PARAMS_ADDR, %rax
        mov     %rax, %rcx                 /* N; kept in rcx across the ring switch */
        movabs  PARAMS_ADDR + 8, %rax
        cmp     $3, %rax
        jne     bench_loop

        /* iretq rather than sysret: it sets CS, SS, RSP and RFLAGS (IOPL) in one go without MSR setup. */
        pushq   $USER_SS
        pushq   $USER_STACK
        pushq   $RFLAGS_IOPL3
        pushq   $USER_CS
        lea     bench_loop(%rip), %rax
        pushq   %rax
        iretq

        /* The same bytes run at CPL 0 and CPL 3, so the two rings measure only the exit path. */
bench_loop:
        mov     $NULL_PORT, %edx
        xor     %eax, %eax
        test    %rcx, %rcx
        jz      bench_done
1:
        out     %al, (%dx)
        dec     %rcx
        jnz     1b
bench_done:
        mov     $DEBUG_EXIT_PORT, %edx
        mov     $0x10, %eax
        out     %al, (%dx)                 /* debug-exit(0x10): vmm exits with status 33, unlike any fault */
        /* Not reached when the monitor honours debug-exit; fault loudly rather than spin. */
        ud2

