#!/bin/sh
# riscv64 saved state, in process (no KVM needed), with real LMDB files. The counter guest (guests/counter.c)
# prints lines whose sums depend on every page it wrote and checks mtime never goes back. One case per run:
#   continue  paused and saved over the control socket, vmm killed with SIGKILL, restored in a new process lazily,
#             on demand and eagerly: the output before the save + after the restore is an uninterrupted run's
#   chain     three snapshots of one run, the 2nd and 3rd incremental (from the recompiler's dirty-page log):
#             each restores to exactly its own point (a page the log missed changes the sums)
#   live      two live saves while the guest runs (no pause asked), vmm killed: each restores, lazily and eagerly,
#             into a run whose output is the rest of an uninterrupted one
# With RV_CPUS=2 the guest is built for two harts (-DSMP: hart 1 woken by IPI for every line, see counter.c) and
# runs with --cpus 2: pauses stop both, and both harts' units and the CLINT's per-hart state are restored.
# usage: snapshot.sh CASE VMM SRCDIR
set -u
case_=$1 vmm=$2 dir=$3
. "$(dirname "$0")/../lib.sh"
. "$dir/cross.sh"
db=$tmp/db sock=$tmp/sock
cpus=${RV_CPUS:-1}
smp=""
[ "$cpus" -gt 1 ] && smp=-DSMP
# shellcheck disable=SC2086
rv_build "$dir/guests/counter.c" "$tmp/counter.elf" -O2 -ffreestanding -mcmodel=medany -DLIMIT=150 -DDELAY=6000000 $smp ||
    fail "cannot build the counter guest"
machine="--arch riscv64 --mem 64M --kernel $tmp/counter.elf --device uart16550,mmio=0x10000000 --device sifive-test --cpus $cpus"

# shellcheck disable=SC2086
timeout $((60 * scale)) "$vmm" run $machine </dev/null >"$tmp/full.out" 2>"$tmp/full.err" ||
    fail "the uninterrupted run failed: $(cat "$tmp/full.err")"
grep -q "count 150 " "$tmp/full.out" || fail "the uninterrupted run did not count to 150"

start() {
    # shellcheck disable=SC2086
    "$vmm" run $machine --state "$db" --control "$sock" --log info --stats </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    wait_for "count 5 "
}
kill_run() {
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    pid=""
}
# restore NAME OUT [ARGS]: a new vmm from the snapshot, to the guest's end (status 0).
restore() {
    name=$1 out=$2
    shift 2
    timeout $((60 * scale)) "$vmm" run --restore "$db:$name" "$@" </dev/null >"$out" 2>"$tmp/restore.err"
    st=$?
    [ "$st" -eq 0 ] || fail "restoring $name ($*) ended with status $st: $(tail -n 2 "$out") $(cat "$tmp/restore.err")"
}

case $case_ in
continue)
    start
    ctl pause
    ctl save s1
    settled_output >"$tmp/before.out"
    kill_run
    for mode in lazy ondemand eager; do
        restore s1 "$tmp/after.out" --restore-mode $mode
        cat "$tmp/before.out" "$tmp/after.out" | cmp -s - "$tmp/full.out" ||
            fail "$mode: the output before the save and after the restore is not an uninterrupted run's: $(tail -c 60 "$tmp/before.out") | $(head -c 60 "$tmp/after.out")"
        echo "ok: $mode restore continued exactly ($(head -n 1 "$tmp/after.out"))"
    done
    ;;
chain)
    start
    for n in 1 2 3; do
        ctl pause
        ctl save "s$n"
        settled_output >"$tmp/before$n.out"
        ctl resume
        sleep "$(awk "BEGIN { print 0.3 * $scale }")"
    done
    kill_run
    "$vmm" snapshot info "$db" s2 | grep -q "parent: *s1" || fail "s2 is not incremental on top of s1"
    "$vmm" snapshot info "$db" s3 | grep -q "parent: *s2" || fail "s3 is not incremental on top of s2"
    grep -q "dirty-page log" "$tmp/run.err" || fail "the engine did not report a dirty-page log: $(cat "$tmp/run.err")"
    for n in 1 2 3; do
        restore "s$n" "$tmp/after$n.out"
        cat "$tmp/before$n.out" "$tmp/after$n.out" | cmp -s - "$tmp/full.out" ||
            fail "restoring s$n does not continue exactly where it was saved: $(head -n 1 "$tmp/after$n.out")"
        echo "ok: s$n ($("$vmm" snapshot info "$db" "s$n" | grep "pages mapped"))"
    done
    ;;
live)
    start
    ctl save live1
    sleep "$(awk "BEGIN { print 0.2 * $scale }")"
    ctl save live2
    kill_run
    grep -q "saved snapshot 'live1' (live)" "$tmp/run.err" || fail "live1 was not saved live: $(cat "$tmp/run.err")"
    grep -q "saved snapshot 'live2' on top of live1 (live)" "$tmp/run.err" ||
        fail "live2 was not saved live on top of live1: $(cat "$tmp/run.err")"
    for s in live1 live2; do
        for mode in lazy eager; do
            restore "$s" "$tmp/after.out" --restore-mode $mode
            [ -s "$tmp/after.out" ] || fail "$s ($mode): the restored guest printed nothing"
            python3 - "$tmp/full.out" "$tmp/after.out" <<'PY' || fail "$s ($mode): the restored run's output is not the rest of an uninterrupted run"
import sys
full, after = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if full.endswith(after) else 1)
PY
            echo "ok: $s restored $mode from '$(head -n 1 "$tmp/after.out")'"
        done
    done
    ;;
*)
    fail "unknown case $case_"
    ;;
esac
