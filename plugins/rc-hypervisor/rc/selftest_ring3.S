/*
 * Target code for the selftest, run at ring 3 in the lower half. It lives in the selftest module's rodata
 * (so in ROM) and is copied into target RAM by the RC, which is how a loader would place target code.
 * Position-independent; each snippet ends in `ud2` with eax = 1 ("done"), the ring-3 -> RC service trap
 * (int n arrives as #UD on this host anyway, so #UD is the portable choice).
 */
    .section .rodata.ring3, "a"
    .globl r3_start, r3_end, r3_loop, r3_svc, r3_read, r3_write, r3_out
r3_start:
/* rcx iterations of the tightest loop there is. */
r3_loop:
    dec %rcx
    jnz r3_loop
    mov $1, %eax
    ud2
/* rcx round trips to the RC (eax = 0: "service, then resume after the ud2"). */
r3_svc:
    xor %eax, %eax
    ud2
    dec %rcx
    jnz r3_svc
    mov $1, %eax
    ud2
/* Read [rsi]: rbx tells whether the load completed (0x2222) or trapped (0x1111). */
r3_read:
    mov $0x1111, %ebx
    mov (%rsi), %rax
    mov $0x2222, %ebx
    mov $1, %eax
    ud2
/* Write rdx to [rsi]. */
r3_write:
    mov $0x1111, %ebx
    mov %rdx, (%rsi)
    mov $0x2222, %ebx
    mov $1, %eax
    ud2
/* A hypercall attempt straight from ring 3: the TSS has no I/O bitmap, so this must #GP. */
r3_out:
    mov $0x1111, %ebx
    mov $0x5e0, %edx
    xor %eax, %eax
    out %eax, %dx
    mov $0x2222, %ebx
    mov $1, %eax
    ud2
r3_end:

    .section .note.GNU-stack, "", @progbits
