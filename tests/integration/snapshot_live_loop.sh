#!/bin/sh
# snapshot_live_loop.sh: a live save's RAM sweep leaves the event loop free. The scribble guest keeps 512 MiB of
# RAM in use; while `vmm ctl save big` runs, `vmm ctl status` requests issued after it must be answered with the
# save still in progress ("saving":"big"), i.e. before the save's own reply - with the sweep on the loop thread
# every request waits for the save to end and no reply can say so. Then a quit during a second live save: vmm
# ends the save before it exits (the snapshot exists, its client gets its ok) and exits 0.
# usage: snapshot_live_loop.sh VMM SCRIBBLE_ELF
set -u
vmm=$1 guest=$2

. "$(dirname "$0")/../lib.sh"
need_kvm
savepid=""
db=$tmp/db
sock=$tmp/ctl.sock
# 512 MiB swept round after round, for as many rounds as the test needs.
params 512 $((1 << 40))

"$vmm" run --arch x86-raw --mem 640M --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 \
    --device debug-exit --state "$db" --control "$sock" --log info </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
# Ready when the guest has touched its whole area (vmm's resident memory), so that the save has 512 MiB to write.
i=0
while :; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$rss" ] || fail "vmm exited early: $(cat "$tmp/run.err")"
    [ "$rss" -ge $((512 * 1024)) ] && break
    i=$((i + 1))
    [ $i -gt $((1200 * scale)) ] && fail "the guest never touched its 512 MiB (resident: $rss KiB)"
    sleep 0.05
done

# save_while NAME: start `vmm ctl save NAME` and ask for the status until a reply says the save is in progress,
# or the save has ended. Sets answered=1 and keeps that reply in $tmp/status.out.
save_while() {
    "$vmm" ctl "$sock" save "$1" >"$tmp/save.out" 2>&1 &
    savepid=$!
    pids="$pids $savepid"
    answered=0
    while kill -0 "$savepid" 2>/dev/null; do
        "$vmm" ctl "$sock" status >"$tmp/status.out" 2>&1 || fail "vmm ctl status: $(cat "$tmp/status.out")"
        if grep -q "\"saving\":\"$1\"" "$tmp/status.out"; then
            answered=1
            break
        fi
        sleep 0.02
    done
}

save_while big
[ "$answered" -eq 1 ] || fail "no status request was answered while the live save ran (the last reply, after it: $(cat "$tmp/status.out"))"
echo "ok: answered during the save: $(cat "$tmp/status.out")"
grep -q '"state":"running"' "$tmp/status.out" || fail "the guest was not running during the live save"
wait "$savepid"
st=$?
savepid=""
[ "$st" -eq 0 ] && grep -q '"saved":"big"' "$tmp/save.out" || fail "vmm ctl save big (status $st): $(cat "$tmp/save.out")"
grep -q "saved snapshot 'big' (live)" "$tmp/run.err" || fail "big was not saved live: $(cat "$tmp/run.err")"
"$vmm" ctl "$sock" status >"$tmp/status.out" 2>&1
grep -q '"last_snapshot":"big"}' "$tmp/status.out" || fail "after the save, status says: $(cat "$tmp/status.out")"
echo "ok: the save's reply came after; status then: $(cat "$tmp/status.out")"

# A quit while a live save sweeps: the save ends first, then vmm.
save_while big2
[ "$answered" -eq 1 ] || fail "the second live save was over before a status request was answered"
"$vmm" ctl "$sock" quit >"$tmp/quit.out" 2>&1 || fail "vmm ctl quit: $(cat "$tmp/quit.out")"
wait "$pid"
st=$?
pid=""
[ "$st" -eq 0 ] || fail "vmm quit during a live save with status $st"
wait "$savepid"
sst=$?
savepid=""
[ "$sst" -eq 0 ] && grep -q '"saved":"big2"' "$tmp/save.out" ||
    fail "the save interrupted by quit was not answered ok (status $sst): $(cat "$tmp/save.out")"
"$vmm" snapshot info "$db" big2 >"$tmp/info.out" 2>&1 || fail "snapshot big2 is missing: $(cat "$tmp/info.out")"
grep -q "^parent: *big$" "$tmp/info.out" || fail "big2 is not incremental on top of big: $(cat "$tmp/info.out")"
echo "ok: quit during a live save: the save ended first, vmm exited 0"
exit 0
