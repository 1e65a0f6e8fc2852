#!/bin/sh
# inproc_engine.sh: where /dev/kvm works, an in-process guest (riscv64) still opens no KVM file: the core opens
# the engine the architecture needs (inproc) and nothing else. Every open of the run and its threads is traced.
# usage: inproc_engine.sh VMM RISCV_GUEST_ELF
set -u
vmm=$1 guest=$2
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
if ! command -v strace >/dev/null 2>&1; then
    echo "SKIP: strace is not installed (scripts/install-deps installs it)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# LeakSanitizer cannot run under ptrace; every other test checks for leaks.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) strace -f -qq -e trace=open,openat,openat2 -o "$tmp/trace" \
    "$vmm" run --arch riscv64 --mem 64M --kernel "$guest" --device uart16550,mmio=0x10000000 --device sifive-test \
    --log info </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
if [ "$st" -ne 0 ] || ! grep -q 'engine inproc:' "$tmp/err"; then
    echo "FAIL: the riscv64 guest: status $st"; sed 's/^/  | /' "$tmp/out" "$tmp/err"; exit 1
fi
if grep -q '/dev/kvm' "$tmp/trace"; then
    echo "FAIL: an in-process run opened /dev/kvm:"; grep '/dev/kvm' "$tmp/trace"; exit 1
fi
# The trace must have seen the run's own opens, or its silence proves nothing.
grep -q "$(basename "$guest")" "$tmp/trace" || { echo "FAIL: the trace did not see the guest file opened"; exit 1; }
echo "ok: riscv64 ran on the inproc engine; $(grep -c . "$tmp/trace") opens traced, none of /dev/kvm"
