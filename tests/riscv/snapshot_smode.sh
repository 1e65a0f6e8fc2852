#!/bin/sh
# riscv64 saved state of a hart in S-mode (in process): the guest (guests/smode_save.S) sets the supervisor,
# delegation and PMP registers, enters S-mode and waits; it is paused and saved over the control socket, vmm is
# killed, and a new vmm restored from the snapshot must find privilege S and every register as set (the guest
# checks them and ends with status 0). usage: snapshot_smode.sh VMM SRCDIR [GUEST [NAME [GCCFLAGS]]]: the same
# with another guest of guests/ that prints "PASS NAME" (NAME defaults to GUEST with - for _): paging_save (the
# hart saved in S-mode with Sv39 on: the restored hart rebuilds its TLB and translations from satp and the page
# tables), fpu_save (the f registers, fcsr and FS).
set -u
vmm=$1 dir=$2 guest=${3-smode_save}
name=${4-$(echo "$guest" | tr _ -)} flags=${5-}
. "$(dirname "$0")/../lib.sh"
. "$dir/cross.sh"
db=$tmp/db sock=$tmp/sock
# shellcheck disable=SC2086
rv_build "$dir/guests/$guest.S" "$tmp/guest.elf" $flags || fail "cannot build the guest"
"$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" --device uart16550,mmio=0x10000000 \
    --device sifive-test --state "$db" --control "$sock" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
wait_for "^r"
ctl pause
ctl save s1
grep -q PASS "$tmp/run.out" && fail "the guest finished before the save: the wait is too short for this host"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/after.out" 2>"$tmp/restore.err"
st=$?
[ "$st" -eq 0 ] || fail "the restored guest ended with status $st (the failed check's number): $(cat "$tmp/restore.err")"
grep -q "PASS $name" "$tmp/after.out" || fail "no PASS after the restore: $(cat "$tmp/after.out")"
echo "ok: $guest restored with its registers"
