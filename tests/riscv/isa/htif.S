/* Spike's HTIF: with tohost/fromhost symbols in the ELF, a console character through device 1, then
 * tohost = (code << 1) | 1 ends vmm with `code` (0 = pass). Built twice: -DCODE=0 and -DCODE=5. */
    .section .text.init
    .globl _start
_start:
    li t0, (1 << 56) | (1 << 48) | 'h'
    la t1, tohost
    sd t0, 0(t1)
    li t0, (1 << 56) | (1 << 48) | '\n'
    sd t0, 0(t1)
    li t0, (CODE << 1) | 1
    sd t0, 0(t1)
1:  j 1b
    .section .tohost, "aw", @progbits
    .balign 64
    .globl tohost
tohost: .dword 0
    .balign 64
    .globl fromhost
fromhost: .dword 0
