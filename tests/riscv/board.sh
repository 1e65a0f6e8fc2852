#!/bin/sh
# riscv64's board (SDK 1.6 vmm_board, dtb.c): the UART and the test finisher are there by default; the guest gets
# a device tree in a1 and finds the UART, the RAM and --append in it (guests/fdtwalk.c); the tree itself, dumped
# with dtb-dump= and decompiled by dtc, has QEMU virt's nodes, the initrd and the SDK example's own node;
# --nodefaults leaves the guest without a console (and without its finisher: a timeout ends it); a device on the
# port bus, which riscv64 does not have, is refused naming the device. Usage: board.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
rv_build "$dir/guests/fdtwalk.c" "$tmp/fdtwalk.elf" -O2 -ffreestanding -mcmodel=medany ||
    { echo "FAIL: cannot build the fdtwalk guest"; exit 1; }
limit=$((20 * ${VMM_TEST_TIME_SCALE:-1}))
run() { # run [vmm run args...]: status in $st, stdout in out, stderr in err; $limit seconds at most
    timeout $limit "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/fdtwalk.elf" "$@" >"$tmp/out" 2>"$tmp/err" \
        </dev/null
    st=$?
}
expect() { # expect WHAT CONDITION...
    what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; sed 's/^/  | /' "$tmp/out" "$tmp/err" | head -20; fail=1; fi
}

run --append "console=ttyS0 root=/dev/vda"
expect "defaults: the guest ends through the test finisher it found in the tree" [ "$st" = 0 ]
expect "a1 holds a device tree near the top of RAM (2 MiB-aligned, as QEMU)" grep -qx 'fdt 0x83e00000' "$tmp/out"
expect "the tree's UART is the default one, on PLIC line 10" grep -qx 'uart 0x10000000 irq 0xa' "$tmp/out"
expect "the tree's memory is --mem at 0x80000000" grep -qx 'memory 0x80000000 0x4000000' "$tmp/out"
expect "/chosen has --append's text" grep -qx 'bootargs console=ttyS0 root=/dev/vda' "$tmp/out"
expect "one hart: one cpu node, 2 PLIC contexts, 1 CLINT hart" grep -qx 'cpus 0x1 plic-contexts 0x2 clint-harts 0x1' "$tmp/out"

run --cpus 3
expect "--cpus 3: the guest ends as with one hart" [ "$st" = 0 ]
expect "--cpus 3: three cpu nodes, 6 PLIC contexts (M and S per hart), 3 CLINT harts" \
    grep -qx 'cpus 0x3 plic-contexts 0x6 clint-harts 0x3' "$tmp/out"

run --mem 128M
expect "--mem 128M: the guest sees 128 MiB" grep -qx 'memory 0x80000000 0x8000000' "$tmp/out"

run --device uart16550,mmio=0x10000000
expect "a --device of a default's plugin replaces it (irq back to the plugin's default, 4)" \
    grep -qx 'uart 0x10000000 irq 0x4' "$tmp/out"
expect "... and is not refused as a second UART at the same address" [ "$st" = 0 ]

limit=$((4 * ${VMM_TEST_TIME_SCALE:-1})) # the guest cannot end these itself
run --nodefaults
expect "--nodefaults: no UART in the tree, so no output; no finisher, so only the timeout ends it" \
    [ "$st" = 124 ] && [ ! -s "$tmp/out" ]

run --nodefaults --device uart16550,mmio=0x10000000,irq=10
expect "--nodefaults with a UART given: output, but no finisher to end the guest" \
    [ "$st" = 124 ] && grep -qx 'no finisher' "$tmp/out"

limit=$((20 * ${VMM_TEST_TIME_SCALE:-1}))
run --nodefaults --device uart16550,mmio=0x10000000,irq=10 --device sifive-test
expect "--nodefaults plus both devices: as the defaults" [ "$st" = 0 ] && grep -qx 'uart 0x10000000 irq 0xa' "$tmp/out"

run --device uart16550
expect "a UART on the port bus is refused (exit 2)" [ "$st" = 2 ]
expect "... in one line naming the device and the missing bus" \
    grep -qx 'uart16550: error: ports 0x3f8-0x3ff: riscv64 has no port I/O bus, .*vmm plugins --help uart16550)' \
    "$tmp/err"

run --device uart16550,mmio=0x10000000,irq=96
expect "a device line the PLIC lacks is refused before the guest runs" \
    [ "$st" = 2 ] && grep -q 'uart16550: interrupt line 96: the PLIC has sources 1 to 95' "$tmp/err"

# The tree itself, and a device plugin's own node: the SDK example, built here against sdk/include.
if ${CC:-cc} -std=c11 -shared -fPIC -I"$dir/../../sdk/include" -o "$tmp/dma-checksum.so" \
    "$dir/../../sdk/examples/dma-checksum/dma_checksum.c"; then
    printf 'initrd contents\n' >"$tmp/initrd"
    run --arch riscv64,dtb-dump="$tmp/t.dtb" --initrd "$tmp/initrd" --device "$tmp/dma-checksum.so,base=0x10008000,irq=7"
    expect "the guest finds the example device by its compatible string" grep -qx 'dma 0x10008000' "$tmp/out"
    if command -v dtc >/dev/null 2>&1; then
        dtc -I dtb -O dts -o "$tmp/t.dts" "$tmp/t.dtb" 2>"$tmp/dtc.err"
        expect "dtc decompiles the dumped tree" [ -s "$tmp/t.dts" ]
        expect "one hart: no cpu-map" sh -c "! grep -q cpu-map '$tmp/t.dts'"
        for node in 'memory@80000000 {' 'cpu@0 {' 'serial@10000000 {' 'test@100000 {' 'clint@2000000 {' \
            'plic@c000000 {' 'dma@10008000 {' 'poweroff {' 'reboot {' \
            'riscv,isa = "rv64imafdc_zicsr_zifencei_zba_zbb_zbs";' 'compatible = "sifive,plic-1.0.0\0riscv,plic0";' \
            'compatible = "sifive,test1\0sifive,test0\0syscon";' 'stdout-path = "/soc/serial@10000000";' \
            'linux,initrd-start = <0x00 0x82000000>;' 'linux,initrd-end = <0x00 0x82000010>;' \
            'compatible = "vmm,dma-checksum";' 'model = "vmm example";' 'interrupts = <0x07>;'; do
            expect "the tree has: $node" grep -qF "$node" "$tmp/t.dts"
        done
    else
        echo "note: dtc not installed (apt-get install device-tree-compiler): the dumped tree is not decompiled"
    fi
else
    echo "FAIL: cannot build the SDK example"
    fail=1
fi
if command -v dtc >/dev/null 2>&1; then
    run --cpus 2 --arch riscv64,dtb-dump="$tmp/t2.dtb"
    dtc -I dtb -O dts -o "$tmp/t2.dts" "$tmp/t2.dtb" 2>"$tmp/dtc.err"
    for node in 'cpu@0 {' 'cpu@1 {' 'reg = <0x01>;' 'cpu-map {' 'core1 {' \
        'interrupts-extended = <0x01 0x03 0x01 0x07 0x101 0x03 0x101 0x07>;' \
        'interrupts-extended = <0x01 0x0b 0x01 0x09 0x101 0x0b 0x101 0x09>;'; do
        expect "--cpus 2: the tree has: $node" grep -qF "$node" "$tmp/t2.dts"
    done
fi
exit $fail
