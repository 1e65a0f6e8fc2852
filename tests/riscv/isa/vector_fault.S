/* A guest whose trap vector cannot be fetched (mtvec = 0, nothing there): its first trap must stop vmm with
 * status 1 and a report naming the fault, not loop forever. */
    .section .text.init
    .globl _start
_start:
    csrw mtvec, zero
    .word 0x0000000b        /* illegal: traps to 0 */
1:  j 1b
