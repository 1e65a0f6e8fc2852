#!/bin/sh
# smoke.sh: the KVM-less test path itself, on every machine. Boots the nested guest of tests/nested/kvm-guest (with
# the QEMU of scripts/build-test-qemu) and runs three guests there under its KVM: the x86 demo (KVM works in the
# guest), the RISC-V demo with exec=rc (ring-3 port I/O through the TSS bitmap: the patch's first hunk) and the
# simd-run guest (AVX after exits: XCR0 known to KVM, the second hunk). Where /dev/kvm exists the suite runs
# directly, so without this test nothing would show that the nested path still works.
# usage: smoke.sh SRCDIR BUILDDIR
set -u
src=$1 build=$2
q=$("$src/scripts/build-test-qemu" | tail -n 1) || { echo "FAIL: scripts/build-test-qemu failed"; exit 1; }
vmm=$build/core/vmm
# shellcheck disable=SC2016 # expanded inside the guest
script='
fail=0
"$0" run --arch x86-raw --mem 64M --image "$1/tests/guests/x86/long_hello.elf" --device uart16550 --device debug-exit \
    >/tmp/x86.out 2>&1 </dev/null
st=$?; echo "x86 demo: status $st"; cat /tmp/x86.out
[ "$st" = 33 ] && grep -q "long mode ok" /tmp/x86.out || fail=1
"$0" run --arch riscv64,exec=rc --mem 64M --kernel "$1/guests/riscv64/hello.elf" --device uart16550,mmio=0x10000000 \
    --device sifive-test >/tmp/rv.out 2>&1 </dev/null
st=$?; echo "riscv64 exec=rc: status $st"; cat /tmp/rv.out
[ "$st" = 0 ] && grep -q "primes below 100000: 9592" /tmp/rv.out || fail=1
"$0" run --arch x86-raw --mem 64M --image "$1/tests/guests/x86/long_simd_run.elf" --device uart16550 \
    --device debug-exit >/tmp/simd.out 2>&1 </dev/null
st=$?; echo "simd-run guest: status $st"; cat /tmp/simd.out
[ "$st" = 33 ] || fail=1
exit $fail'
"$src/tests/nested/kvm-guest" --qemu "$q" --timeout 600 -C "$build" -- sh -c "$script" "$vmm" "$build"
st=$?
[ "$st" = 77 ] && exit 77
[ "$st" = 0 ] || { echo "FAIL: the nested guest's checks ended with $st"; exit 1; }
echo "ok: x86, riscv64 exec=rc and AVX guests ran under KVM nested in QEMU's TCG"
