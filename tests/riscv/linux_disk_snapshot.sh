#!/bin/sh
# linux_disk_snapshot.sh: a snapshot holds the disk's contents. The riscv64 Linux guest of scripts/get-riscv-guest
# with an ext4 file system on virtio-blk, in process (no KVM needed):
#   - the guest mounts the image, writes file A and syncs; a live save S1 (full: the image's data go into the
#     database); the guest writes file B (1 MiB of dd, sync); a live save S2 on top of S1 (incremental: only the
#     clusters written since S1); vmm killed with SIGKILL;
#   - restore S1 in a new process: the guest drops its caches and looks at the disk: A is there with its text, B
#     is not; it unmounts, `poweroff -f`; on the host e2fsck -fn is clean and debugfs finds A and no B;
#   - restore S2 (the image now holds what the S1 run left): A and B are there, B's checksum is the one the guest
#     printed before S2; poweroff, e2fsck clean, debugfs finds both.
# Without the disk in the snapshot, S1's guest would find B on the disk (and an ext4 whose page cache and journal
# do not match it).
# usage: linux_disk_snapshot.sh VMM GET_RISCV_GUEST
# Exits 77 (skipped) only when the guest cannot be built or e2fsprogs is missing.
# shellcheck disable=SC2016 # the commands typed into the guest expand there, not here
set -u
vmm=$1 getguest=$2
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/linux_lib.sh"
rv_linux_setup "$getguest" mkfs.ext4 e2fsck debugfs

db=$tmp/db sock=$tmp/sock disk=$tmp/disk.img
mkdir "$tmp/root"
echo "seed-$$" >"$tmp/root/seed.txt"
mkfs.ext4 -q -F -d "$tmp/root" "$disk" 32M >"$tmp/mkfs.out" 2>&1 || fail "mkfs.ext4: $(cat "$tmp/mkfs.out")"


"$vmm" run --arch riscv64 --mem 256M --kernel "$guest/Image" --initrd "$guest/initramfs.cpio" \
    --append console=ttyS0 --device "virtio-blk,base=0x10002000,irq=2,file=$disk" \
    --state "$db" --control "$sock" --log info <"$tmp/in" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
until_out "VMM-INIT-READY" "$tmp/run.out" 600
type_ 'mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo file-A-$((6 * 7)) >/mnt/a.txt && sync && echo wrote-A'
until_out "^wrote-A" "$tmp/run.out" 60
ctl save s1
type_ 'dd if=/dev/urandom of=/mnt/b.bin bs=64k count=16 2>/dev/null && sync && md5sum /mnt/b.bin && echo wrote-B'
until_out "^wrote-B" "$tmp/run.out" 60
ctl save s2
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=""
grep -q "saved snapshot 's2' on top of s1" "$tmp/run.err" ||
    fail "S2 was not saved on top of S1: $(grep snapshot "$tmp/run.err")"
sum_b=$(tr -d '\r' <"$tmp/run.out" | sed -n 's|^\([0-9a-f]\{32\}\)  /mnt/b.bin$|\1|p' | tail -n 1)
[ -n "$sum_b" ] || fail "the guest printed no checksum of B"
echo "ok: A written, S1 saved ($(grep "saved snapshot 's1'" "$tmp/run.err" | sed 's/.*: //')), B written, S2 saved" \
    "($(grep "saved snapshot 's2'" "$tmp/run.err" | sed 's/.*: //')), vmm killed with SIGKILL"

# restore NAME: in a new process; the guest drops its caches, lists what the disk holds, unmounts and powers off.
restore() {
    name=$1
    : >"$tmp/after.out"
    "$vmm" run --restore "$db:$name" --log info <"$tmp/in" >"$tmp/after.out" 2>"$tmp/run.err" &
    pid=$!
    type_ 'sync; echo 3 >/proc/sys/vm/drop_caches; cat /mnt/a.txt; ls /mnt/b.bin >/dev/null 2>&1 && md5sum /mnt/b.bin || echo no-B; echo listed-$((2 + 2))'
    until_out "^listed-4" "$tmp/after.out" 120
    type_ 'umount /mnt && echo unmounted-$((3 + 4)) && poweroff -f'
    until_out "unmounted-7" "$tmp/after.out" 60
    wait "$pid"
    st=$?
    pid=""
    [ "$st" -eq 0 ] || fail "restore of $name: poweroff -f ended vmm with status $st: $(tail -n 3 "$tmp/run.err")"
    tr -d '\r' <"$tmp/after.out" | grep -q "^file-A-42$" || fail "restore of $name: A is not there: $(tail -n 6 "$tmp/after.out")"
    e2fsck -fn "$disk" >"$tmp/fsck.out" 2>&1 || fail "restore of $name: e2fsck -fn: $(cat "$tmp/fsck.out")"
    debugfs -R "ls -l /" "$disk" >"$tmp/ls.out" 2>&1 || fail "debugfs cannot list the image"
    grep -q "a.txt" "$tmp/ls.out" || fail "restore of $name: the image on the host has no a.txt: $(cat "$tmp/ls.out")"
}

restore s1
tr -d '\r' <"$tmp/after.out" | grep -q "^no-B$" ||
    fail "restore of s1: the guest finds B, written after S1, on its disk: $(tail -n 6 "$tmp/after.out")"
! grep -q "b.bin" "$tmp/ls.out" || fail "restore of s1: the image on the host holds b.bin, written after S1"
echo "ok: S1 restored in a new process: A there, B not (in the guest, after dropping its caches, and on the host);" \
    "e2fsck -fn clean after poweroff -f ($(grep "restored snapshot" "$tmp/run.err" | sed 's/.*: //'))"

restore s2
tr -d '\r' <"$tmp/after.out" | grep -q "^$sum_b  /mnt/b.bin$" ||
    fail "restore of s2: B is not there as written: $(tail -n 6 "$tmp/after.out")"
debugfs -R "dump /b.bin $tmp/b.bin" "$disk" >/dev/null 2>&1 || fail "debugfs cannot read b.bin from the image"
[ "$(md5sum <"$tmp/b.bin" | cut -d' ' -f1)" = "$sum_b" ] || fail "restore of s2: b.bin on the host differs"
echo "ok: S2 restored after S1's run changed the image: A and B there (B's checksum as written); e2fsck -fn clean"
