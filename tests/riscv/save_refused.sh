#!/bin/sh
# A VM whose architecture cannot save its state refuses every save with one line naming the plugin, over the
# control socket and through Ctrl-A s, and no snapshot is written: a snapshot that restores to a hart with zero
# registers would be silent data loss. The guest keeps running. The case: riscv64 with exec=rc, which registers no
# saved-state units (ring 3 keeps guest registers in host registers between exits; in process it saves, see
# snapshot.sh).
# Usage: save_refused.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0
expect() { what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi; }
rv_build "$dir/isa/echo.S" "$tmp/echo.elf" || exit 1
mkfifo "$tmp/in" || exit 1
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch riscv64,exec=rc --mem 64M --kernel "$tmp/echo.elf" --device uart16550,mmio=0x10000000 \
    --device sifive-test --state "$tmp/db" --control "$tmp/sock" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
i=0
until grep -q "echo ready" "$tmp/out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt $((300 * ${VMM_TEST_TIME_SCALE:-1})) ] && { echo "FAIL: the guest never got ready"; cat "$tmp/err"; exit 1; }; sleep 0.1
done

"$vmm" ctl "$tmp/sock" save s1 >"$tmp/ctl.out" 2>&1
st=$?
expect "vmm ctl save: refused (status $st)" [ "$st" -ne 0 ]
expect "vmm ctl save: the reason names riscv64" grep -q "riscv64 cannot save its state" "$tmp/ctl.out"
expect "vmm ctl save: never ok" sh -c "! grep -q '\"ok\":true' '$tmp/ctl.out'"

printf '\001s' >&3
i=0
until grep -q "save failed" "$tmp/err" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt $((100 * ${VMM_TEST_TIME_SCALE:-1})) ] && break; sleep 0.1
done
expect "Ctrl-A s: refused, naming riscv64" grep -q "save failed: riscv64 cannot save its state" "$tmp/err"

"$vmm" snapshot ls "$tmp/db" >"$tmp/ls.out" 2>&1
expect "no snapshot was written" sh -c "! grep -Eq '^(s1|console-)' '$tmp/ls.out'"

printf 'hi q' >&3
wait "$pid"
st=$?
pid=""
exec 3>&-
expect "the guest kept running and ended normally (status $st)" [ "$st" -eq 0 ]
expect "the guest echoed the input typed after the refusals" grep -q "^hi $" "$tmp/out"
exit $fail
