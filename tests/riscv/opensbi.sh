#!/bin/sh
# Debian's OpenSBI (fw_jump.elf, run as the program, in M-mode) on the riscv64 board: it finds the hart, the
# CLINT, the UART and the test device in the device tree vmm generates, prints its banner, and jumps in S-mode to
# the payload at 0x80200000 (--image FILE@ADDR), which prints through SBI ecalls and shuts down through SBI SRST:
# vmm exits 0; then the same on two harts (HSM hart_start and an SBI IPI). $RV_ARCH_OPTS is appended to --arch riscv64 (the -rc variant runs it at ring 3 under the RC).
# Usage: opensbi.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf
case "${RV_ARCH_OPTS-}" in *exec=rc*)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available (exec=rc runs translated code inside a KVM VM)"
        exit 77
    fi
esac
[ -f "$fw" ] || { echo "SKIP: $fw missing (apt-get install opensbi, or scripts/install-deps)"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
$RV_CC -march=rv64imac_zicsr -mabi=lp64 -nostdlib -nostartfiles -mno-relax -Wl,-Ttext=0x80200000 -Wl,--nmagic \
    -Wl,--no-warn-rwx-segments -o "$tmp/payload.elf" "$dir/guests/sbi_payload.S" || fail "cannot build the payload"
riscv64-unknown-elf-objcopy -O binary "$tmp/payload.elf" "$tmp/payload.bin" || fail "objcopy failed"
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --mem 256M --kernel "$fw" \
    --image "$tmp/payload.bin@0x80200000" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
tr -d '\r' <"$tmp/out" >"$tmp/lf" && mv "$tmp/lf" "$tmp/out" # OpenSBI ends its lines with CR LF
cat "$tmp/out"
[ "$st" -eq 0 ] || fail "exit status $st: $(cat "$tmp/err")"
grep -q "^OpenSBI v" "$tmp/out" || fail "no OpenSBI banner"
grep -Eq "^Platform HART Count +: 1$" "$tmp/out" || fail "OpenSBI did not find one hart"
grep -Eq "^Platform Console Device +: uart8250$" "$tmp/out" || fail "OpenSBI did not find the UART in the device tree"
grep -Eq "^Domain0 Next Mode +: S-mode$" "$tmp/out" || fail "OpenSBI does not start its next stage in S-mode"
grep -q "^payload: S-mode, entered from OpenSBI$" "$tmp/out" || fail "the payload did not run"
grep -q "^payload: hart 0, device tree in a1; shutting down through SBI SRST$" "$tmp/out" ||
    fail "the payload's checks failed"
echo "ok: OpenSBI booted its S-mode payload, which ended vmm through SBI SRST"

# Two harts (in process; exec=rc runs one): fw_jump's lottery picks the boot hart, the banner counts both, the
# payload (guests/sbi_smp_payload.S) starts the other hart through SBI HSM and wakes it by SBI IPI.
case "${RV_ARCH_OPTS-}" in *exec=rc*) exit 0 ;; esac
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
