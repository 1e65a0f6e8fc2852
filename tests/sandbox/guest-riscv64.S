/* For tests/sandbox: one write to test-sandbox's register at 0x10010000, then a wait for the host to stop the
 * VM (the plugin stops it after its call, or the sandbox ends vmm). */
    .section .text.init
    .globl _start
_start:
    li t0, 0x10010000
    li t1, 1
    sw t1, 0(t0)
1:  j 1b
