#!/bin/sh
# snapshot_crash.sh: power cuts during saves. SAVES times (default 50): start vmm (a fresh boot, or a restore of
# the newest snapshot), let one save complete, start another and kill -9 vmm at a random moment of it. The saves
# are full and incremental (the second of a process, or the first after a restore), paused and live. Afterwards
# every snapshot the database lists - each completed save, and each killed one that got as far as its commit -
# restores eagerly (every page checked against its hash before the guest runs) and the scribble guest then finds
# every page from the right round. A killed save is either all there or not there at all.
# With ARCH riscv64 the guest is tests/riscv/guests/scribble.c's, run in process (no KVM needed).
# usage: snapshot_crash.sh VMM SCRIBBLE [SAVES] [ARCH]   (SCRIBBLE: the x86 ELF, or the riscv64 source)
set -u
vmm=$1 guest=$2 saves=${3:-50} arch=${4:-x86-raw}
# Nested in TCG (time scale > 1) every step is ~10x slower: fewer cuts there, the same checks.
[ "${VMM_TEST_TIME_SCALE:-1}" -gt 1 ] && [ $# -lt 3 ] && saves=10

. "$(dirname "$0")/../lib.sh"
[ "$arch" = x86-raw ] && need_kvm
db=$tmp/db
sock=$tmp/ctl.sock
# 16 MiB swept forever: a restored run is checked for a while and then quit.
if [ "$arch" = riscv64 ]; then
    dir=$(dirname "$guest")/..
    . "$dir/cross.sh"
    rv_build "$guest" "$tmp/scribble.elf" -O2 -ffreestanding -mcmodel=medany || fail "cannot build $guest"
    machine="--arch riscv64 --mem 64M --kernel $tmp/scribble.elf --device uart16550,mmio=0x10000000 --device sifive-test"
else
    params 16 $((1 << 40))
    machine="--arch x86-raw --mem 64M --image $guest --image $tmp/params.bin@0x200000 --device uart16550 --device debug-exit"
fi
seed=${VMM_TEST_SEED:-$(date +%s)}
echo "seed $seed (VMM_TEST_SEED=$seed repeats this run's kill points)"
# Kill delays in milliseconds, one per save, from the seed.
python3 -c "import random; random.seed($seed); print(' '.join(str(random.randint(0, 150)) for _ in range($saves)))" \
    >"$tmp/delays"

wait_control() { # wait_control PID: until the run answers on its control socket
    i=0
    until "$vmm" ctl "$sock" status >/dev/null 2>&1; do
        i=$((i + 1))
        kill -0 "$1" 2>/dev/null || return 1
        [ $i -gt $((400 * scale)) ] && return 1
        sleep 0.05
    done
}

latest=""
ok_names=""
n=0
for delay in $(cat "$tmp/delays"); do
    n=$((n + 1))
    rm -f "$sock"
    if [ -n "$latest" ] && [ $((n % 2)) -eq 0 ]; then
        "$vmm" run --restore "$db:$latest" --control "$sock" --state "$db" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    else
        # shellcheck disable=SC2086
        "$vmm" run $machine --state "$db" --control "$sock" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    fi
    pid=$!
    wait_control "$pid" || fail "save $n: vmm did not come up: $(tail -n 5 "$tmp/run.err")"
    [ $((n % 3)) -eq 0 ] && { "$vmm" ctl "$sock" pause >/dev/null 2>&1 || fail "save $n: pause failed"; }
    "$vmm" ctl "$sock" save "a$n" >"$tmp/ctl.out" 2>&1 || fail "save a$n: $(cat "$tmp/ctl.out"); $(tail -n 5 "$tmp/run.err")"
    ok_names="$ok_names a$n"
    latest="a$n"
    "$vmm" ctl "$sock" save "b$n" >"$tmp/ctl-b.out" 2>&1 &
    cpid=$!
    sleep "$(awk "BEGIN { print $delay / 1000 * $scale }")"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    pid=""
    wait "$cpid" 2>/dev/null
    # A save the client heard succeed must have been committed.
    grep -q '"ok":true' "$tmp/ctl-b.out" && ok_names="$ok_names b$n"
    grep -q "mismatch" "$tmp/run.out" && fail "save $n: the saving run found a page from another round"
done
echo "ok: $saves saves cut at random points ($(echo "$ok_names" | wc -w) answered ok)"

"$vmm" snapshot ls "$db" >"$tmp/ls" 2>&1 || fail "snapshot ls after the power cuts: $(cat "$tmp/ls")"
for s in $ok_names; do
    grep -q "^$s " "$tmp/ls" || grep -q "^$s\$" "$tmp/ls" || fail "snapshot $s was saved (ok) but is not listed: $(cat "$tmp/ls")"
done
listed=$(awk 'NR > 1 { print $1 }' "$tmp/ls")
count=0
for s in $listed; do
    rm -f "$sock"
    "$vmm" run --restore "$db:$s" --restore-mode eager --control "$sock" </dev/null >"$tmp/r.out" 2>"$tmp/r.err" &
    pid=$!
    wait_control "$pid" || fail "snapshot $s does not restore: $(tail -n 5 "$tmp/r.err")"
    sleep "$(awk "BEGIN { print 0.2 * $scale }")" # a few sweeps of the area
    "$vmm" ctl "$sock" quit >/dev/null 2>&1
    wait "$pid"
    st=$?
    pid=""
    grep -q "mismatch" "$tmp/r.out" && fail "snapshot $s: the restored guest found a page from another round"
    [ "$st" -eq 0 ] || fail "snapshot $s: the restored run ended with status $st: $(tail -n 5 "$tmp/r.err")"
    count=$((count + 1))
done
echo "ok: every one of the $count listed snapshots restored eagerly (page hashes checked) and held the right rounds"
