#!/bin/sh
# virtio_x86.sh: virtio-mmio devices on x86-raw without a Linux boot. The 'cmdline' cases boot a test guest ELF as
# a vmlinux (--kernel) and check, in --log debug, the command line x86-raw hands the kernel: one
# virtio_mmio.device=SIZE@BASE:IRQ per virtio device on the board's slots (0xd0000000 + n * 0x1000, IRQ 5, 6, 7,
# ...), or none where the user wrote such parameters himself. The other cases put a device where the board cannot
# have it: vmm must exit 2 with one error line naming the device and the reason, before any host driver is opened.
#
# usage: virtio_x86.sh VMM GUEST_ELF CASE
# The 'cmdline' cases run the guest, so they exit 77 (meson: skipped) without /dev/kvm.

set -u
vmm=$1 elf=$2 case=$3

case "$case" in cmdline*)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available"
        exit 77
    fi
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 65536 /dev/zero > "$tmp/disk.img"

set -- run --arch x86-raw --mem 512M --kernel "$elf" --device uart16550 --device debug-exit
expect='' want=''
case "$case" in
cmdline)
    set -- "$@" --device virtio-blk,file="$tmp/disk.img" --device virtio-rng --device virtio-console,path="$tmp/s" \
        --device virtio-rng,irq=11 --append 'console=ttyS0' --log debug
    want='kernel command line: console=ttyS0 virtio_mmio.device=0x200@0xd0000000:5 virtio_mmio.device=0x200@0xd0001000:6 virtio_mmio.device=0x200@0xd0002000:7 virtio_mmio.device=0x200@0xd0003000:11$' ;;
cmdline-user)
    set -- "$@" --device virtio-rng --append 'virtio_mmio.device=512@0xd0000000:5' --log debug
    want='kernel command line: virtio_mmio.device=512@0xd0000000:5$' ;;
over-ram) set -- "$@" --device virtio-rng,base=0x10001000; expect='virtio-rng at 0x10001000-0x100011ff overlaps guest RAM' ;;
over-ioapic) set -- "$@" --device virtio-rng,base=0xfec00000; expect="virtio-rng at 0xfec00000-0xfec001ff overlaps the platform's IOAPIC" ;;
over-device) set -- "$@" --device virtio-rng,base=0xd0000000 --device virtio-blk,file="$tmp/disk.img",base=0xd0000000
    expect="virtio-blk.*overlaps.*virtio-rng" ;;
irq-board) set -- "$@" --device virtio-rng,irq=4; expect='virtio-rng: IRQ 4 belongs to COM1' ;;
irqchip-off) set -- "$@" --device virtio-rng; set -- "$@" --arch x86-raw,irqchip=off
    expect='virtio-rng: a virtio device completes requests by interrupt, and irqchip=off' ;;
irq-high) set -- "$@" --device virtio-rng,irq=20; expect='virtio-rng: IRQ 20: x86-raw routes ISA IRQs 0-15 only' ;;
irq-shared) set -- "$@" --device virtio-rng --device virtio-blk,file="$tmp/disk.img",irq=5
    expect='virtio-rng and virtio-blk both use IRQ 5' ;;
no-slot-left)
    for i in 1 2 3 4 5 6 7 8 9; do set -- "$@" --device virtio-rng; done
    expect='no free slot left for another MMIO device \(8 taken\)' ;;
*) echo "virtio_x86.sh: unknown case $case" >&2; exit 99 ;;
esac
timeout 60 "$vmm" "$@" < /dev/null > "$tmp/out" 2> "$tmp/err"
status=$?

if [ -n "$want" ]; then
    if [ "$status" -ne 33 ] || ! grep -q 'Hello from long mode' "$tmp/out"; then
        echo "FAIL: $case: the guest did not run: status $status"; cat "$tmp/out" "$tmp/err"; exit 1
    fi
    if ! grep -Eq "$want" "$tmp/err"; then
        echo "FAIL: $case: no /$want/ in:"; grep 'command line' "$tmp/err"; exit 1
    fi
    echo "ok: $case: $(grep 'kernel command line' "$tmp/err")"
    exit 0
fi
if [ "$status" -ne 2 ]; then
    echo "FAIL: $case: expected exit status 2, got $status"; cat "$tmp/err"; exit 1
fi
# The first line says why (a device refused in its set-up gets the core's "could not be set up" after it).
if ! head -n1 "$tmp/err" | grep -Eq "$expect" || grep -v 'could not be set up' "$tmp/err" | sed 1d | grep -q .; then
    echo "FAIL: $case: expected one line matching /$expect/, got:"; cat "$tmp/err"; exit 1
fi
echo "ok: $case: $(head -n1 "$tmp/err")"
