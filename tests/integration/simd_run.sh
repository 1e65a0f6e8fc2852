#!/bin/sh
# simd_run.sh: the AVX loop guest (tests/guests/x86/long_simd_run.S) must print the results recorded with the
# instruction-by-instruction relegation path, and where the host relegates at all (kvm_pvm: its emulator knows
# no AVX) x86-raw must have run the loop's straight stretches natively, several instructions per exit.
# usage: simd_run.sh VMM GUEST_ELF
set -u
vmm=$1 guest=$2
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
out=$(timeout $((120 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --image "$guest" --device uart16550 --device debug-exit --stats \
    < /dev/null 2>"$err")
status=$?
want="3188841105798007319 4287636029 2654435769 2654435769 50530527 16"
[ "$status" -eq 33 ] && [ "$out" = "$want" ] || { echo "FAIL: status $status, '$out' (want '$want')"; cat "$err"; exit 1; }
exits=$(sed -n 's/.*relegated simd\/fp (run natively): \([0-9]*\)$/\1/p' "$err")
insns=$(sed -n 's/.*instructions run natively in those exits: \([0-9]*\)$/\1/p' "$err")
echo "results as recorded; relegation exits $exits, instructions run natively $insns"
if [ "${exits:-0}" -gt 0 ] && [ "$insns" -lt $((exits * 8)) ]; then
    echo "FAIL: fewer than 8 instructions per relegation exit"; exit 1
fi
echo ok
