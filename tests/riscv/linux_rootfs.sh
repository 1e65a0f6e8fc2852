#!/bin/sh
# linux_rootfs.sh: the riscv64 Linux guest of scripts/get-riscv-guest booted with no initramfs, its root file
# system the ext4 image the script makes (rootfs.ext4, a copy of it here) on virtio-blk, in process (no KVM):
#   - `--device virtio-blk,file=COPY --append "console=ttyS0 root=/dev/vda rw"`: the kernel mounts ext4 from
#     /dev/vda as / (the guest says so from /proc/mounts) and runs the image's /sbin/init, which prints the marker
#     and starts the shell;
#   - the guest writes a file on / and syncs; a live save over the control socket (no pause asked); vmm killed
#     with SIGKILL the moment the save has answered;
#   - `vmm run --restore` in a new process: the file reads back with its contents, a typed command answers (its
#     answer computed by the guest), the guest writes a second file, syncs, remounts / read-only (the journal
#     is checkpointed, so the image needs no recovery), and `poweroff -f` ends vmm with status 0;
#   - on the host the image checks clean (e2fsck -fn, with no journal recovery skipped) and debugfs reads both
#     files from it with the contents the guest wrote.
# usage: linux_rootfs.sh VMM GET_RISCV_GUEST [--cpus N]
# Exits 77 (skipped) only when the guest cannot be built or e2fsprogs is missing.
# shellcheck disable=SC2016 # the commands typed into the guest expand there, not here
set -u
vmm=$1 getguest=$2
shift 2
cpus=1
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    *) echo "linux_rootfs.sh: bad argument $1" >&2; exit 99 ;;
    esac
done
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/linux_lib.sh"
rv_linux_setup "$getguest" e2fsck debugfs
[ -s "$guest/rootfs.ext4" ] || fail "scripts/get-riscv-guest made no root file system ($guest/rootfs.ext4)"

db=$tmp/db sock=$tmp/sock disk=$tmp/root.ext4
cp "$guest/rootfs.ext4" "$disk" || fail "cannot copy $guest/rootfs.ext4"
tok="tok$$"

start=$(now_ms)
"$vmm" run --arch riscv64 --mem 256M --cpus "$cpus" --kernel "$guest/Image" --device "virtio-blk,file=$disk" \
    --append "console=ttyS0 root=/dev/vda rw" --state "$db" --control "$sock" --log info \
    <"$tmp/in" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!


until_out "VMM-INIT-READY" "$tmp/run.out" 600
echo "ok: booted to the shell in $(($(now_ms) - start)) ms"
tr -d '\r' <"$tmp/run.out" | grep -q "^Run /sbin/init as init process" ||
    fail "the kernel did not run /sbin/init from the root file system: $(grep -i 'init\|VFS' "$tmp/run.out")"
type_ 'echo root-is-$(sed -n "s|^/dev/root / \([a-z0-9]*\) \(r[ow]\),.*|\1-\2|p" /proc/mounts)-$((2 + 3))'
until_out "^root-is-" "$tmp/run.out" 60
tr -d '\r' <"$tmp/run.out" | grep -q "^root-is-ext4-rw-5$" ||
    fail "/ is not the ext4 disk mounted read-write: $(tr -d '\r' <"$tmp/run.out" | grep '^root-is-')"
echo "ok: / is ext4 on /dev/vda, read-write, with no initramfs"

type_ "echo $tok-\$((6 * 7)) >/before.txt && sync && echo synced-\$((1 + 1))"
until_out "^synced-2" "$tmp/run.out" 60
echo "ok: the guest wrote /before.txt on its root and synced"

ctl save root
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
live=$(grep "saved snapshot 'root' (live)" "$tmp/run.err" | sed 's/.*: //')
[ -n "$live" ] || fail "the save was not live: $(grep snapshot "$tmp/run.err")"
echo "ok: saved live ($live); vmm killed with SIGKILL"

restart=$(now_ms)
"$vmm" run --restore "$db:root" --log info <"$tmp/in" >"$tmp/after.out" 2>"$tmp/run.err" &
pid=$!
type_ 'cat /before.txt; echo after-restore-$((6 * 7))'
until_out "^after-restore-42" "$tmp/after.out" 60
echo "ok: restored in a new process; the typed command answered $(($(now_ms) - restart)) ms after the restore started"
tr -d '\r' <"$tmp/after.out" | grep -q "^$tok-42$" ||
    fail "/before.txt did not read back after the restore: $(tr -d '\r' <"$tmp/after.out" | tail -n 5)"
echo "ok: /before.txt read back after the restore: $tok-42"

# Both the device and the mount point: busybox's one-argument remount takes the options from /proc/mounts and
# hands `relatime` to ext4 as a file system option, which ext4 refuses.
type_ "echo $tok-after-\$((7 * 8)) >/after.txt && sync && mount -o remount,ro /dev/vda / && echo read-only-\$((3 + 4))"
until_out "^read-only-7" "$tmp/after.out" 60
type_ 'poweroff -f'
wait "$pid"
st=$?
pid=""
[ "$st" -eq 0 ] || fail "poweroff -f ended vmm with status $st"
echo "ok: the guest wrote /after.txt, remounted / read-only; poweroff -f ended vmm with status 0"

e2fsck -fn "$disk" >"$tmp/fsck.out" 2>&1 || fail "e2fsck -fn: the file system is not clean: $(cat "$tmp/fsck.out")"
! grep -qi "journal recovery" "$tmp/fsck.out" || fail "the image still needs journal recovery: $(cat "$tmp/fsck.out")"
for f in "before.txt:$tok-42" "after.txt:$tok-after-56"; do
    got=$(debugfs -R "cat /${f%%:*}" "$disk" 2>/dev/null)
    [ "$got" = "${f#*:}" ] || fail "debugfs reads '$got' from /${f%%:*} in the image, not '${f#*:}'"
done
echo "ok: e2fsck -fn finds the image clean; /before.txt and /after.txt are on it with the guest's contents"
