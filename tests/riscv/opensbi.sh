#!/bin/sh
# Debian's OpenSBI on the riscv64 board: it finds the hart, the CLINT, the UART and the test device in the device
# tree vmm generates, prints its banner, and jumps in S-mode to the payload at 0x80200000, which prints through
# SBI ecalls and shuts down through SBI SRST: vmm exits 0. MODE says how the firmware and payload are given:
#   jump     fw_jump.elf as the bare-metal program (--kernel) and the payload as --image FILE@0x80200000;
#   dynamic  fw_dynamic.elf as --bios, started from the boot ROM (which passes its fw_dynamic_info in a2), and
#            the payload as --kernel (a flat binary, placed at 0x80200000);
#   image    the payload with a Linux Image header as --kernel and no --bios: the default firmware
#            (fw_dynamic.elf) runs it.
# In jump mode, then the same on two harts (HSM hart_start and an SBI IPI; in process only).
# $RV_ARCH_OPTS is appended to --arch riscv64 (the -rc variants run it at ring 3 under the RC).
# Usage: opensbi.sh VMM SRCDIR [MODE]
set -u
vmm=$1 dir=$2 mode=${3:-jump}
. "$dir/cross.sh"
fwdir=/usr/lib/riscv64-linux-gnu/opensbi/generic
case "${RV_ARCH_OPTS-}" in *exec=rc*)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available (exec=rc runs translated code inside a KVM VM)"
        exit 77
    fi
esac
case $mode in
jump) fw=$fwdir/fw_jump.elf ;;
dynamic | image) fw=$fwdir/fw_dynamic.elf ;;
*) echo "opensbi.sh: unknown mode $mode"; exit 99 ;;
esac
[ -f "$fw" ] || { echo "SKIP: $fw missing (apt-get install opensbi, or scripts/install-deps)"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
header=""
[ "$mode" = image ] && header=-DLINUX_IMAGE_HEADER
$RV_CC $header -march=rv64imac_zicsr -mabi=lp64 -nostdlib -nostartfiles -mno-relax -Wl,-Ttext=0x80200000 \
    -Wl,--nmagic -Wl,--no-warn-rwx-segments -o "$tmp/payload.elf" "$dir/guests/sbi_payload.S" ||
    fail "cannot build the payload"
riscv64-unknown-elf-objcopy -O binary "$tmp/payload.elf" "$tmp/payload.bin" || fail "objcopy failed"
case $mode in
jump) set -- --kernel "$fw" --image "$tmp/payload.bin@0x80200000" ;;
dynamic) set -- --bios "$fw" --kernel "$tmp/payload.bin" ;;
image) set -- --kernel "$tmp/payload.bin" ;;
esac
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --mem 256M "$@" \
    </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
tr -d '\r' <"$tmp/out" >"$tmp/lf" && mv "$tmp/lf" "$tmp/out" # OpenSBI ends its lines with CR LF
cat "$tmp/out"
[ "$st" -eq 0 ] || fail "exit status $st: $(cat "$tmp/err")"
grep -q "^OpenSBI v" "$tmp/out" || fail "no OpenSBI banner"
grep -Eq "^Platform HART Count +: 1$" "$tmp/out" || fail "OpenSBI did not find one hart"
grep -Eq "^Platform Console Device +: uart8250$" "$tmp/out" || fail "OpenSBI did not find the UART in the device tree"
grep -Eq "^Domain0 Next Mode +: S-mode$" "$tmp/out" || fail "OpenSBI does not start its next stage in S-mode"
if [ "$mode" != jump ]; then
    # fw_dynamic learns its next stage from the boot ROM's fw_dynamic_info (a2), not from a build-time constant.
    grep -Eq "^Firmware Base +: 0x80000000$" "$tmp/out" || fail "the firmware is not at 0x80000000"
    grep -Eq "^Domain0 Next Address +: 0x0*80200000$" "$tmp/out" ||
        fail "fw_dynamic's next stage is not the kernel at 0x80200000"
fi
grep -q "^payload: S-mode, entered from OpenSBI$" "$tmp/out" || fail "the payload did not run"
grep -q "^payload: hart 0, device tree in a1; shutting down through SBI SRST$" "$tmp/out" ||
    fail "the payload's checks failed"
echo "ok: OpenSBI ($mode) booted its S-mode payload, which ended vmm through SBI SRST"

# Two harts (in process; exec=rc runs one): fw_jump's lottery picks the boot hart, the banner counts both, the
# payload (guests/sbi_smp_payload.S) starts the other hart through SBI HSM and wakes it by SBI IPI.
case "${RV_ARCH_OPTS-}" in *exec=rc*) exit 0 ;; esac
[ "$mode" = jump ] || exit 0
$RV_CC -march=rv64imac_zicsr -mabi=lp64 -nostdlib -nostartfiles -mno-relax -Wl,-Ttext=0x80200000 -Wl,--nmagic \
    -Wl,--no-warn-rwx-segments -o "$tmp/smp.elf" "$dir/guests/sbi_smp_payload.S" || fail "cannot build the SMP payload"
riscv64-unknown-elf-objcopy -O binary "$tmp/smp.elf" "$tmp/smp.bin" || fail "objcopy failed"
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --cpus 2 --mem 256M \
    --kernel "$fw" --image "$tmp/smp.bin@0x80200000" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
tr -d '\r' <"$tmp/out" >"$tmp/lf" && mv "$tmp/lf" "$tmp/out"
cat "$tmp/out"
[ "$st" -eq 0 ] || fail "--cpus 2: exit status $st: $(cat "$tmp/err")"
grep -Eq "^Platform HART Count +: 2$" "$tmp/out" || fail "--cpus 2: OpenSBI did not find two harts"
grep -Eq "^Domain0 HARTs +: 0\*,1\*$" "$tmp/out" || fail "--cpus 2: both harts are not in OpenSBI's root domain"
grep -Eq "^Platform IPI Device +: aclint-mswi$" "$tmp/out" || fail "--cpus 2: OpenSBI found no IPI device"
[ "$(grep -c "^payload: S-mode, entered from OpenSBI$" "$tmp/out")" = 1 ] ||
    fail "--cpus 2: the payload was not entered exactly once by the boot hart"
grep -q "^payload: the other hart started through SBI HSM$" "$tmp/out" || fail "--cpus 2: SBI HSM hart_start failed"
grep -q "^payload: the other hart woke from wfi by SBI IPI; shutting down through SBI SRST$" "$tmp/out" ||
    fail "--cpus 2: the SBI IPI did not wake the other hart"
echo "ok: OpenSBI on two harts: the payload started the other hart (SBI HSM) and woke it (SBI IPI)"
