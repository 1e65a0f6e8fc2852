#!/bin/sh
# The boot ROM at 0x1000: guests/bootrom_check.S runs as firmware (--bios, M-mode at 0x80000000, entered from the
# ROM's reset code) with a flat --kernel, and checks a0 (hart id), a1 (device tree), a2 (fw_dynamic_info in the
# ROM: magic, version 2, next_addr 0x80200000, next_mode S, boot_hart 0), the ROM's first word (auipc t0, 0) and
# that a store to the ROM is dropped. Then the same firmware and kernel on qemu-system-riscv64 -M virt, whose
# boot ROM is the convention's reference (that part skips, saying so, without QEMU). $RV_ARCH_OPTS is appended
# to --arch riscv64. Usage: bootrom.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
case "${RV_ARCH_OPTS-}" in *exec=rc*)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available (exec=rc runs translated code inside a KVM VM)"
        exit 77
    fi
esac
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
limit=$((60 * ${VMM_TEST_TIME_SCALE:-1}))
rv_build "$dir/guests/bootrom_check.S" "$tmp/fw.elf" || fail "cannot build the firmware"
# The kernel is never entered: any flat binary, placed at 0x80200000 (the first 2 MiB boundary past the firmware).
printf '\157\000\000\000' >"$tmp/kernel.bin" # j . (0x0000006f)
timeout $limit "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --mem 128M --bios "$tmp/fw.elf" --kernel "$tmp/kernel.bin" \
    </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
cat "$tmp/out"
[ "$st" -eq 0 ] && grep -qx "bootrom: ok" "$tmp/out" || fail "vmm: status $st: $(cat "$tmp/out" "$tmp/err")"
echo "ok: vmm's boot ROM passes a0, a1 and fw_dynamic_info in a2, and reads back as ROM"
case "${RV_ARCH_OPTS-}" in *exec=rc*) exit 0 ;; esac # QEMU's side is the same in both modes
if ! command -v qemu-system-riscv64 >/dev/null 2>&1; then
    echo "note: qemu-system-riscv64 not installed; the same firmware was not run on QEMU"
    exit 0
fi
timeout $limit qemu-system-riscv64 -M virt -m 128M -nographic -bios "$tmp/fw.elf" -kernel "$tmp/kernel.bin" \
    </dev/null >"$tmp/qout" 2>"$tmp/qerr"
st=$?
tr -d '\r' <"$tmp/qout" | grep -qx "bootrom: ok" ||
    fail "QEMU's virt: status $st: $(cat "$tmp/qout" "$tmp/qerr") (the check itself is wrong?)"
echo "ok: the same firmware passes on QEMU's virt"
