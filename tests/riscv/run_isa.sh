#!/bin/sh
# Builds one RISC-V test guest from source (with Debian's riscv64-unknown-elf-gcc) and runs it on vmm's riscv64
# machine, checking the exit status and, optionally, the exact serial output.
# Usage: run_isa.sh VMM SOURCE STATUS [STDOUT] [extra gcc flags...]; $RV_ARCH_OPTS is appended to --arch riscv64,
# $RV_CPUS, when set, is the number of harts (--cpus), $RV_TIMEOUT the seconds vmm may run (default 30), and
# $RV_DEVICE, when set, one more --device (a plugin path with its options).
# Exits 77 (meson's "skipped") when the cross compiler is not installed.
set -u
vmm=$1 src=$2 want_status=$3
want_out=${4-}
[ $# -ge 4 ] && shift 4 || shift $#
CC=riscv64-unknown-elf-gcc
case "${RV_ARCH_OPTS-}" in *exec=rc*)
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "SKIP: /dev/kvm not available (exec=rc runs translated code inside a KVM VM)"
        exit 77
    fi
esac
if ! command -v $CC >/dev/null 2>&1; then
    echo "SKIP: $CC not installed (apt-get install gcc-riscv64-unknown-elf, or scripts/install-deps)"
    exit 77
fi
dir=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! $CC -march=rv64imac_zicsr_zifencei -mabi=lp64 -nostdlib -nostartfiles -mno-relax -I"$dir/isa" -T "$dir/link.ld" \
        "$@" -o "$tmp/guest.elf" "$src" 2>"$tmp/cc.err"; then
    cat "$tmp/cc.err"
    echo "FAIL: cannot build $src"
    exit 1
fi
timeout $((${RV_TIMEOUT:-30} * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --mem 64M --kernel "$tmp/guest.elf" \
    --device uart16550,mmio=0x10000000 --device sifive-test ${RV_CPUS:+--cpus $RV_CPUS} ${RV_DEVICE:+--device "$RV_DEVICE"} >"$tmp/out" 2>"$tmp/err" </dev/null
status=$?
cat "$tmp/out"
if [ "$status" != "$want_status" ]; then
    cat "$tmp/err"
    echo "FAIL: $src: exit status $status, expected $want_status (a failing check number is the status)"
    exit 1
fi
if [ -n "$want_out" ] && [ "$(cat "$tmp/out")" != "$(printf "$want_out")" ]; then
    echo "FAIL: $src: output differs from: $want_out"
    exit 1
fi
echo "ok: $src"
