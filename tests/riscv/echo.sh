#!/bin/sh
# Console input into a riscv64 guest: typed text reaches the memory-mapped UART's receiver and comes back
# through its transmitter; Ctrl-A p pauses and resumes the VM while the guest is polling the UART (an MMIO
# load interrupted by the stop request must still complete). Usage: echo.sh VMM SRCDIR TEXT1 TEXT2 EXPECTED
# TEXT2 is typed 0.5 s after TEXT1 (printf %b escapes).
set -u
vmm=$1 dir=$2 text1=$3 text2=$4 want=$5
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$CC -march=rv64imac_zicsr_zifencei -mabi=lp64 -nostdlib -nostartfiles -mno-relax -T "$dir/link.ld" \
    -o "$tmp/echo.elf" "$dir/isa/echo.S" || exit 1
mkfifo "$tmp/in" || exit 1
timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64${RV_ARCH_OPTS-}" --mem 64M --kernel "$tmp/echo.elf" --device uart16550,mmio=0x10000000 \
    --device sifive-test <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
sleep 0.5
printf '%b' "$text1" >&3
sleep 0.5
printf '%b' "$text2" >&3
wait $pid
st=$?
exec 3>&-
if [ "$st" != 0 ] || [ "$(cat "$tmp/out")" != "$(printf '%b' "$want")" ]; then
    echo "FAIL: status $st, output:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"
    exit 1
fi
echo "ok: $(printf '%b' "$want" | tr '\n' '|')"
