#!/bin/sh
# The boot ROM in saved state (in process): firmware (guests/bootrom_check.S built with -DWAIT_FOR_SNAPSHOT,
# given with --bios) checks what the ROM handed it, prints "r" and waits 2 s of guest time; it is paused and saved
# over the control socket, vmm is killed, and a new vmm restored from the snapshot (which loads no images) must
# read the same ROM: its first word and fw_dynamic_info. Status 0 and "bootrom: ok", else the failed check's
# number. usage: snapshot_bootrom.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d) || exit 99
pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
scale=${VMM_TEST_TIME_SCALE:-1}
db=$tmp/db sock=$tmp/sock
rv_build "$dir/guests/bootrom_check.S" "$tmp/fw.elf" -DWAIT_FOR_SNAPSHOT || fail "cannot build the firmware"
printf '\157\000\000\000' >"$tmp/kernel.bin"
"$vmm" run --arch riscv64 --mem 64M --bios "$tmp/fw.elf" --kernel "$tmp/kernel.bin" --state "$db" \
    --control "$sock" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
i=0
until grep -q "^r" "$tmp/run.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $((500 * scale)) ] && fail "the firmware never printed 'r': $(cat "$tmp/run.out" "$tmp/run.err")"
    sleep 0.02
done
for req in pause "save s1"; do
    # shellcheck disable=SC2086
    "$vmm" ctl "$sock" $req >"$tmp/ctl.out" 2>&1 || fail "vmm ctl $req: $(cat "$tmp/ctl.out")"
done
grep -q "bootrom: ok" "$tmp/run.out" && fail "the firmware finished before the save: the wait is too short for this host"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
rm -f "$tmp/fw.elf" "$tmp/kernel.bin" # a restore needs neither
timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/after.out" 2>"$tmp/restore.err"
st=$?
[ "$st" -eq 0 ] || fail "the restored firmware ended with status $st: $(cat "$tmp/after.out" "$tmp/restore.err")"
grep -q "bootrom: ok" "$tmp/after.out" || fail "no 'bootrom: ok' after the restore: $(cat "$tmp/after.out")"
echo "ok: the restored machine's boot ROM holds the same reset code and fw_dynamic_info"
