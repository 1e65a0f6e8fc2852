#!/bin/sh
# snapshot_live.sh: live saves. The scribble guest rewrites a 64 MiB area page by page, round after round, and
# checks every page still holds the previous round's value before writing the next. Two snapshots (a full one
# and an incremental one) are saved over the control socket while it runs - no pause requested - so the guest
# writes pages the save has not reached yet; vmm is killed, and each snapshot restored in a new process must
# finish the rounds without finding a page from another round, restored lazily and eagerly. The saves must have
# been live (the log says so, and --stats counts the writes that waited for a copy of their page).
# usage: snapshot_live.sh VMM SCRIBBLE_ELF
set -u
vmm=$1 guest=$2

. "$(dirname "$0")/../lib.sh"
need_kvm
db=$tmp/db
sock=$tmp/ctl.sock
params 64 16384

"$vmm" run --arch x86-raw --mem 256M --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 \
    --device debug-exit --state "$db" --control "$sock" --log info --stats </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
i=0
until grep -q "tick 1" "$tmp/run.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $((600 * ${VMM_TEST_TIME_SCALE:-1})) ] && fail "the guest never printed 'tick 1': $(cat "$tmp/run.err")"
    sleep 0.05
done
for s in live1 live2; do
    "$vmm" ctl "$sock" save "$s" >"$tmp/ctl.out" 2>&1 || fail "vmm ctl save $s: $(cat "$tmp/ctl.out")"
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
grep -q "mismatch" "$tmp/run.out" && fail "the saving run itself found a page from another round"
grep -q "saved snapshot 'live1' (live): guest paused" "$tmp/run.err" || fail "live1 was not saved live: $(cat "$tmp/run.err")"
grep -q "saved snapshot 'live2' on top of live1 (live): guest paused" "$tmp/run.err" ||
    fail "live2 was not saved live on top of live1: $(cat "$tmp/run.err")"
grep -q "vmm: stats: live save: [0-9]* writes during the save waited" "$tmp/run.err" || fail "no live-save statistics"
echo "ok: two live saves while the guest wrote memory"
grep "saved snapshot\|live save" "$tmp/run.err"

# Lazily (the default) and eagerly (RAM copied by several threads, 2 MiB each, before the guest runs).
for mode in lazy eager; do
    for s in live1 live2; do
        timeout $((120 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --restore "$db:$s" --restore-mode $mode </dev/null >"$tmp/$s.out" 2>"$tmp/$s.err"
        st=$?
        grep -q "mismatch" "$tmp/$s.out" &&
            fail "restoring $s ($mode): the guest found a page saved from another round"
        [ "$st" -eq 33 ] || fail "restoring $s ($mode) ended with status $st: $(cat "$tmp/$s.err")"
        tail -n 1 "$tmp/$s.out" | grep -q "^scribble ok$" || fail "restoring $s ($mode): the guest did not finish"
        echo "ok: $s restored $mode and every page held the value of its round"
    done
done
exit 0
