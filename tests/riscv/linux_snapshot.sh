#!/bin/sh
# linux_snapshot.sh: the riscv64 Linux guest of scripts/get-riscv-guest, saved at its shell prompt and restored in
# another process, in process (no KVM needed), with an ext4 file system on virtio-blk:
#   - a raw ext4 image is made here without root (mkfs.ext4 -d, with a seed file) and attached with
#     --device virtio-blk; the guest mounts it (the device-tree node comes from the plugin), reads the seed file,
#     writes a file of its own and syncs;
#   - a paused save (pause, save, resume), then a loop of dd writes, each followed by sync, starts in the guest, and while it runs
#     a live save (no pause asked: the guest keeps running while its RAM is written) on top of the paused one;
#     vmm is killed with SIGKILL the moment the save has answered;
#   - `vmm run --restore` in a new process, a command typed at once: its answer (computed by the guest) is waited
#     for and the time from the restore's start to it printed (no timed assertion: see docs/saved-state.md); the
#     guest's uptime after the restore is not below the one it printed just before the save;
#   - the guest stops its dd loop, checks the file it wrote before the save, takes the checksums of the dd files,
#     unmounts and `poweroff -f`: vmm exits with status 0; then on the host the file system checks clean
#     (e2fsck -fn) and the dd files hold what the guest's checksums say.
# The disk image is part of the snapshot (docs/saved-state.md): the restore puts it back as it was at the live
# save, so the dd writes between the save and the kill are undone before the restored guest runs.
# usage: linux_snapshot.sh VMM GET_RISCV_GUEST [--cpus N]
# Exits 77 (skipped) only when the guest cannot be built or e2fsprogs is missing.
# shellcheck disable=SC2016 # the commands typed into the guest expand there, not here
set -u
vmm=$1 getguest=$2
shift 2
cpus=1
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    *) echo "linux_snapshot.sh: bad argument $1" >&2; exit 99 ;;
    esac
done
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/linux_lib.sh"
rv_linux_setup "$getguest" mkfs.ext4 e2fsck debugfs

db=$tmp/db sock=$tmp/sock disk=$tmp/disk.img
mkdir "$tmp/root"
echo "seed-$$" >"$tmp/root/seed.txt"
mkfs.ext4 -q -F -d "$tmp/root" "$disk" 32M >"$tmp/mkfs.out" 2>&1 || fail "mkfs.ext4: $(cat "$tmp/mkfs.out")"

# The Image as --kernel (the boot ROM and the default firmware, OpenSBI's fw_dynamic, start it); virtio-blk in a
# slot of its own (base=0x10002000, PLIC source 2; the UART is on source 10).
machine="--arch riscv64 --mem 256M --cpus $cpus --kernel $guest/Image --initrd $guest/initramfs.cpio
 --append console=ttyS0
 --device virtio-blk,base=0x10002000,irq=2,file=$disk"
start=$(now_ms)
# shellcheck disable=SC2086
"$vmm" run $machine --state "$db" --control "$sock" --log info <"$tmp/in" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!


until_out "VMM-INIT-READY" "$tmp/run.out" 600
echo "ok: booted to the shell in $(($(now_ms) - start)) ms"
type_ 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo mounted-$((2 + 3)) $(cat /mnt/seed.txt)'
until_out "mounted-5 seed-$$" "$tmp/run.out" 60
type_ 'echo precious-$((6 * 7)) >/mnt/keep.txt && sync && echo synced-$((1 + 1))'
until_out "synced-2" "$tmp/run.out" 60
echo "ok: the guest mounted the ext4 image from virtio-blk, read its seed file, wrote a file and synced"

ctl pause
ctl save paused
ctl resume
paused=$(grep "saved snapshot 'paused'" "$tmp/run.err" | sed 's/.*: //')
[ -n "$paused" ] || fail "no log line for the paused save"

type_ '(i=0; while :; do dd if=/bin/busybox of=/mnt/f$((i % 4)) bs=4k count=16 skip=$((i % 64)) 2>/dev/null; sync; i=$((i + 1)); echo $i >/mnt/count.new; mv /mnt/count.new /mnt/count; done) &'
# the save comes once a round of the loop has reached the disk
type_ 'until [ -s /mnt/count ]; do sleep 1; done; read up idle </proc/uptime; echo before-save up=$up'
until_out "^before-save up=[0-9]" "$tmp/run.out" 60
ctl save shell
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
live=$(grep "saved snapshot 'shell' on top of paused (live)" "$tmp/run.err" | sed 's/.*: //')
[ -n "$live" ] || fail "the save at the prompt was not live on top of 'paused': $(grep snapshot "$tmp/run.err")"
up_before=$(tr -d '\r' <"$tmp/run.out" | sed -n 's/^before-save up=\([0-9.]*\).*/\1/p' | tail -n 1)
echo "ok: saved paused ($paused), then live during dd and sync ($live); vmm killed with SIGKILL"

restart=$(now_ms)
"$vmm" run --restore "$db:shell" --log info <"$tmp/in" >"$tmp/after.out" 2>"$tmp/run.err" &
pid=$!
type_ 'read up idle </proc/uptime; echo after-restore-$((6 * 7)) up=$up'
until_out "^after-restore-42 up=[0-9]" "$tmp/after.out" 60
answer=$(($(now_ms) - restart))
up_after=$(tr -d '\r' <"$tmp/after.out" | sed -n 's/^after-restore-42 up=\([0-9.]*\).*/\1/p' | tail -n 1)
echo "ok: restored in a new process; the typed command answered $answer ms after the restore started"
awk "BEGIN { exit !($up_after >= $up_before) }" ||
    fail "the guest's clock went backwards: uptime $up_before before the save, $up_after after the restore"
echo "ok: the guest's uptime went on: $up_before s before the save, $up_after s after the restore"

type_ 'kill %1; wait; cat /mnt/keep.txt; md5sum /mnt/f*; echo count=$(cat /mnt/count)-rounds'
until_out "^count=[0-9]+-rounds" "$tmp/after.out" 120
tr -d '\r' <"$tmp/after.out" | grep -q "^precious-42$" || fail "the file written before the save is not there after the restore"
type_ 'umount /mnt && echo unmounted-$((3 + 4))'
until_out "unmounted-7" "$tmp/after.out" 60
type_ 'poweroff -f'
wait "$pid"
st=$?
pid=""
[ "$st" -eq 0 ] || fail "poweroff -f ended vmm with status $st"
echo "ok: the file written before the save was read back after the restore; poweroff -f ended vmm with status 0 (dd and sync rounds: $(tr -d '\r' <"$tmp/after.out" | sed -n 's/^count=\([0-9]*\)-rounds/\1/p'))"

e2fsck -fn "$disk" >"$tmp/fsck.out" 2>&1 || fail "e2fsck -fn: the file system is not clean: $(cat "$tmp/fsck.out")"
sums=$(tr -d '\r' <"$tmp/after.out" | grep -E '^[0-9a-f]{32}  /mnt/f[0-3]$')
[ -n "$sums" ] || fail "the guest printed no checksum of its dd files: $(tail -n 12 "$tmp/after.out")"
echo "$sums" | while read -r want f; do
    f=${f#/mnt/}
    debugfs -R "dump /$f $tmp/$f" "$disk" >/dev/null 2>&1 || fail "debugfs cannot read /$f from the image"
    got=$(md5sum <"$tmp/$f" | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "$f on the host ($got) is not what the guest read ($want)"
done || exit 1
echo "ok: e2fsck -fn finds the file system clean and the dd files on the host match the guest's checksums"
