#!/bin/sh
# virtio-rng and virtio-blk on riscv64 in process (no KVM needed), driven by bare-metal guests built at test time.
#   driver    guests/driver.c over an image this script writes: random bytes, reads, two writes in one notify (one
#             indirect), flush, GET_ID, discard, out-of-range and unknown requests, every completion by PLIC
#             interrupt; then the image's bytes are checked here, on the host
#   driver-thread  the same with io=thread (virtio-blk's worker), which runs under the device I/O sandbox filter
#             (--log info lists it; docs/sandbox.md)
#   readonly  the same guest built with -DREADONLY against readonly=on: RO offered, writes IOERR, the image unchanged
#   hostile   hostile.c breaks the rules one way per case; each must end in DEVICE_NEEDS_RESET with its log line
#   snapshot  writer.c writes the image's sectors one request at a time; paused and saved over the control socket
#             in the middle, vmm killed, restored in a new process: the output before the save + after the restore
#             is an uninterrupted run's (the queue continued: the guest checks every used index), and the image
#             holds every sector's bytes
#   snapshot-heavy, snapshot-live  writer.c -DHEAVY: four writes in flight at a time on virtio-blk's worker (io=thread),
#             passes over the image until a byte comes in on the console (typed into the restored run only, so the
#             guest cannot end before the save however slow the host); saved paused (heavy) or live (the guest
#             running) after pass 3, vmm ended, restored: every completion arrives (the guest checks each used
#             index), the guest reads back the last pass, and the image holds it. Prints how many in-flight requests
#             the save waited for (--stats)
#   snapshot-disk  the image's contents are part of the snapshot: writer.c saved (paused) after sector 20 beside a
#             readonly=on disk and a snapshot=exclude one, and again (s2, incremental) after sector 40; the guest
#             runs to the end, then the host overwrites its image; each restore puts the image back as it was at
#             its save (the guest verifies every sector it reads back). Then the excluded image, changed on the host, makes the restore refuse in one line naming
#             it, status 2, before the guest runs; so does the read-only one (touched); changed=accept restores
#             with a warning. snapshot=bogus is refused
#   snapshot-disk-kill  kill -9 during saves that carry a disk: writer.c saved once (s1, the image's contents with
#             it), then in fresh processes on the same database with a 48 MiB image of random bytes beside it, a
#             save (full: the whole image into the database) killed at 0 to 0.6 s; afterwards s1 restores and its
#             guest verifies every sector, and every snapshot the database lists restores
#   options   file= missing, absent, a directory, of a size not a multiple of 512; console path= missing, not a
#             socket, not creatable; net tap= missing or too long, mac= malformed or multicast: one line each, status 2
#   console   console.c on virtio-console over a Unix socket: con_client.py connects, gets the guest's greeting and
#             checks the echo of each line it sends (split across receive buffers, two in one write, one in two)
#   console-snapshot  the same guest saved (paused, over the control socket) after one echo, vmm killed, restored
#             in a new process: a new client's line is echoed by the restored guest, which counts 3 lines in all (its
#             queues continued where they were)
#   net       net.c on virtio-net over a TAP in a network namespace this script creates (net.sh; root and
#             /dev/net/tun needed, else skipped): a UDP datagram from the guest reaches a host socket, and one from
#             the host reaches the guest, which echoes it
#   dtb       each device is a virtio,mmio node of riscv64's device tree, with its reg and PLIC interrupt (how
#             Linux finds it)
# usage: virtio.sh CASE VMM SRCDIR (SRCDIR: tests/virtio)
set -u
case_=$1 vmm=$2 src=$3 here=$3 # rv_build sets src
blkio=
case $case_ in
*-thread) blkio=",io=thread" case_=${case_%-thread} ;; # the same case on virtio-blk's worker
esac
dir=$src/../riscv
. "$dir/cross.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
scale=${VMM_TEST_TIME_SCALE:-1}
img=$tmp/disk.img
python3 -c '
import sys
open(sys.argv[1], "wb").write(bytes((i * 7 + i // 512) & 0xff for i in range(64 * 512)))' "$img" || exit 99
cp "$img" "$tmp/orig.img"
build() {
    g=$1
    shift
    rv_build "$src/$g" "$tmp/guest.elf" -O2 -ffreestanding -mcmodel=medany -I"$src" -I"$dir/guests" "$@" 2>&1 || fail "cannot build $g"
}
run() {
    timeout $((60 * scale)) "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" ${vmm_extra-} \
        --device uart16550,mmio=0x10000000 --device sifive-test --device virtio-rng \
        --device "virtio-blk,base=0x10002000,irq=2,file=$img$1" ${2:+--device} ${2:+"$2"} </dev/null >"$tmp/out" 2>"$tmp/err"
}

case $case_ in
driver)
    build driver.c
    vmm_extra=${blkio:+--log info}
    run "$blkio" || fail "status $?: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^blk ok" "$tmp/out" || fail "no 'blk ok': $(cat "$tmp/out")"
    if [ -n "$blkio" ]; then
        grep -q "sandbox: device I/O filter installed" "$tmp/err" || fail "the worker has no device I/O filter: $(cat "$tmp/err")"
    fi
    python3 - "$img" <<'PY' || fail "the image's bytes on the host are not what the guest wrote"
import sys
d = open(sys.argv[1], "rb").read()
want = bytearray((i * 7 + i // 512) & 0xff for i in range(64 * 512))
want[4 * 512:8 * 512] = bytes((0xa5 ^ i) & 0xff for i in range(2048))
want[8 * 512:9 * 512] = bytes((0x3c + i) & 0xff for i in range(512))
want[16 * 512:24 * 512] = bytes(8 * 512)
if d != bytes(want):
    bad = next(i for i in range(len(want)) if i >= len(d) or d[i] != want[i])
    sys.exit("first difference at byte %d (sector %d)" % (bad, bad // 512))
PY
    echo "ok: $(tr '\n' ' ' <"$tmp/out")and the image holds the writes and the discard"
    ;;
readonly)
    build driver.c -DREADONLY
    run ",readonly=on" || fail "status $?: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^blk ok" "$tmp/out" || fail "no 'blk ok': $(cat "$tmp/out")"
    cmp -s "$img" "$tmp/orig.img" || fail "a read-only image changed"
    echo "ok: $(tr '\n' ' ' <"$tmp/out")and the image is unchanged"
    ;;
hostile)
    build hostile.c
    run "" "virtio-console,base=0x10003000,irq=3,path=$tmp/con.sock" || fail "status $?: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^hostile ok" "$tmp/out" || fail "no 'hostile ok': $(cat "$tmp/out" "$tmp/err")"
    n=0
    while IFS='|' read -r dev why; do
        grep -F "$dev: warning: DEVICE_NEEDS_RESET: queue " "$tmp/err" | grep -qF "$why" || fail "no log line for $dev: $why: $(cat "$tmp/err")"
        n=$((n + 1))
    done <<'CASES'
virtio-rng|QueueNum 3 (QueueNumMax 256, a power of 2)
virtio-rng|QueueNum 65536 (QueueNumMax 256, a power of 2)
virtio-rng|chain from head 0 loops (more than 8 descriptors)
virtio-rng|buffer at 0x1000000000 (64 bytes) is outside guest RAM
virtio-rng|buffer at 0x83fffff8 (64 bytes) is outside guest RAM
virtio-rng|buffer at 0xfffffffffffffff0 (256 bytes) is outside guest RAM
virtio-rng|descriptor index 9 beyond the queue size of 8
virtio-rng|available ring entry 0 names descriptor 200, beyond the queue size 8
virtio-rng|available index 100 is 100 entries past the device's 0
virtio-rng|descriptor table at 0x1000000000 (128 bytes) is outside guest RAM
virtio-rng|indirect descriptor 0 without VIRTIO_RING_F_INDIRECT_DESC negotiated
virtio-rng|indirect descriptor 0 inside an indirect table
virtio-rng|indirect table of 24 bytes
virtio-blk|request of 8 readable and 1 writable bytes
virtio-console|queue 0: receive buffer with 64 device-readable bytes
virtio-console|queue 1: transmit buffer with 64 device-writable bytes
CASES
    lines=$(grep -c "DEVICE_NEEDS_RESET" "$tmp/err")
    [ "$lines" -eq "$n" ] || fail "$lines DEVICE_NEEDS_RESET lines for $n cases: $(cat "$tmp/err")"
    echo "ok: $n hostile cases each ended in DEVICE_NEEDS_RESET with one line; the device worked again after reset"
    ;;
snapshot)
    build writer.c -DDELAY=6000000
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(64 * 512))' "$img"
    run "" || fail "the uninterrupted run failed: $(cat "$tmp/out" "$tmp/err")"
    cp "$tmp/out" "$tmp/full.out"
    grep -q "^verified" "$tmp/full.out" || fail "the uninterrupted run did not verify: $(cat "$tmp/full.out")"
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(64 * 512))' "$img"
    db=$tmp/db sock=$tmp/sock
    "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" --device uart16550,mmio=0x10000000 \
        --device sifive-test --device "virtio-blk,base=0x10002000,irq=2,file=$img" --state "$db" --control "$sock" \
        </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    i=0
    until grep -q "^wrote 20$" "$tmp/run.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((400 * scale)) ] && fail "the guest never wrote sector 20: $(cat "$tmp/run.out" "$tmp/run.err")"
        sleep 0.02
    done
    "$vmm" ctl "$sock" pause >"$tmp/ctl.out" 2>&1 || fail "pause: $(cat "$tmp/ctl.out")"
    "$vmm" ctl "$sock" save s1 >"$tmp/ctl.out" 2>&1 || fail "save: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err") $(tail -n 3 "$tmp/run.out")"
    sleep 0.3
    cp "$tmp/run.out" "$tmp/before.out"
    grep -q "^verified" "$tmp/before.out" && fail "the guest finished before the save"
    kill -KILL $pid
    wait $pid 2>/dev/null
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/after.out" 2>"$tmp/restore.err" ||
        fail "the restore ended with status $?: $(tail -n 2 "$tmp/after.out") $(cat "$tmp/restore.err")"
    cat "$tmp/before.out" "$tmp/after.out" | cmp -s - "$tmp/full.out" ||
        fail "before the save + after the restore is not an uninterrupted run: $(tail -n 1 "$tmp/before.out") | $(head -n 1 "$tmp/after.out") ... $(tail -n 1 "$tmp/after.out")"
    python3 - "$img" <<'PY' || fail "the image on the host is not every sector's bytes"
import sys
d = open(sys.argv[1], "rb").read()
want = bytes((n * 31 + i) & 0xff for n in range(64) for i in range(512))
sys.exit(0 if d == want else "differs from sector %d" % (next(i for i in range(len(d)) if d[i] != want[i]) // 512))
PY
    echo "ok: saved after '$(tail -n 1 "$tmp/before.out")', restored from '$(head -n 1 "$tmp/after.out")' to '$(tail -n 1 "$tmp/after.out")'; the image holds every sector"
    ;;
snapshot-disk)
    build writer.c -DDELAY=6000000
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(64 * 512))' "$img"
    head -c 65536 /dev/urandom >"$tmp/ro.img"
    head -c 65536 /dev/urandom >"$tmp/ex.img"
    db=$tmp/db sock=$tmp/sock
    disks="uart16550,mmio=0x10000000 sifive-test virtio-blk,base=0x10002000,irq=2,file=$img
virtio-blk,base=0x10003000,irq=3,file=$tmp/ro.img,readonly=on
virtio-blk,base=0x10004000,irq=4,file=$tmp/ex.img,snapshot=exclude"
    # shellcheck disable=SC2046 # one --device per word of $disks (no spaces in the paths: mktemp's)
    "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" $(printf -- '--device %s ' $disks) --state "$db" \
        --control "$sock" --log info </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    i=0
    until grep -q "^wrote 20$" "$tmp/run.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((400 * scale)) ] && fail "the guest never wrote sector 20: $(cat "$tmp/run.out" "$tmp/run.err")"
        sleep 0.02
    done
    "$vmm" ctl "$sock" pause >"$tmp/ctl.out" 2>&1 || fail "pause: $(cat "$tmp/ctl.out")"
    "$vmm" ctl "$sock" save s1 >"$tmp/ctl.out" 2>&1 || fail "save: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err")"
    # Where the paused guest was (on a loaded host it may have gone past sector 20 before the pause landed).
    at=$(sed -n 's/^wrote \([0-9]*\)$/\1/p' "$tmp/run.out" | tail -n 1)
    # The pause may land in the middle of a line ('w' out, 'rote 25' not): the restored run writes the rest.
    partial=""
    [ -n "$(tail -c 1 "$tmp/run.out")" ] && partial=$(tail -n 1 "$tmp/run.out")
    "$vmm" ctl "$sock" resume >"$tmp/ctl.out" 2>&1 || fail "resume: $(cat "$tmp/ctl.out")"
    # s2 on top of s1: only the cluster written since (the image, 32 KiB, is shorter than a cluster).
    until grep -q "^wrote 40$" "$tmp/run.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((800 * scale)) ] && fail "the guest never wrote sector 40: $(cat "$tmp/run.out" "$tmp/run.err")"
        sleep 0.02
    done
    "$vmm" ctl "$sock" save s2 >"$tmp/ctl.out" 2>&1 || fail "save s2: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err")"
    wait $pid || fail "the saved run: status $?: $(tail -n 3 "$tmp/run.out") $(cat "$tmp/run.err")"
    grep -q "^verified" "$tmp/run.out" || fail "the saved run did not verify: $(tail -n 3 "$tmp/run.out")"
    grep -q "saved snapshot 's2' on top of s1" "$tmp/run.err" || fail "s2 was not incremental: $(cat "$tmp/run.err")"
    saved=$(tail -n 1 "$tmp/run.out")
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes([0xee]) * (64 * 512))' "$img"
    timeout $((60 * scale)) "$vmm" run --restore "$db:s2" </dev/null >"$tmp/after.out" 2>"$tmp/restore.err" ||
        fail "the restore of s2 ended with status $?: $(tail -n 2 "$tmp/after.out") $(cat "$tmp/restore.err")"
    grep -q "^verified" "$tmp/after.out" || fail "the restored s2 did not verify the image: $(tail -n 3 "$tmp/after.out")"
    echo "ok: s2, incremental on top of s1 after 'wrote 40', restored onto an overwritten image: the guest verified it"
    # What the guest wrote after the save, and more, is overwritten: the restore must put back the saved sectors.
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes([0xee]) * (64 * 512))' "$img"
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" --stats </dev/null >"$tmp/after.out" 2>"$tmp/restore.err" ||
        fail "the restore ended with status $?: $(tail -n 2 "$tmp/after.out") $(cat "$tmp/restore.err")"
    grep -q "^verified" "$tmp/after.out" || fail "the restored guest did not verify the image: $(tail -n 3 "$tmp/after.out")"
    first=$(printf '%s%s\n' "$partial" "$(head -n 1 "$tmp/after.out")" | sed -n 's/^wrote \([0-9]*\)$/\1/p')
    [ -n "$first" ] && [ "$first" -gt "$at" ] && [ "$first" -le $((at + 2)) ] ||
        fail "the restore did not continue after sector $at, where the save was: $partial$(head -n 1 "$tmp/after.out")"
    written=$(sed -n 's/.*, \([0-9]*\) written back by a restore/\1/p' "$tmp/restore.err")
    [ "${written:-0}" -ge 6 ] || fail "the restore wrote back ${written:-no} pages; sectors 0-20 are 6 pages: $(cat "$tmp/restore.err")"
    echo "ok: saved (paused) after 'wrote 20', ran to '$saved', image overwritten on the host; the restore wrote $written pages back and the guest verified every sector"

    # The excluded image changed behind the snapshot: refused before the guest runs, status 2, one line naming it.
    printf 'changed' | dd of="$tmp/ex.img" bs=1 seek=100 conv=notrunc 2>/dev/null
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/bad.out" 2>"$tmp/bad.err"
    st=$?
    [ "$st" -eq 2 ] || fail "restore with the excluded image changed: status $st, expected 2: $(cat "$tmp/bad.err")"
    [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q "file=$tmp/ex.img changed since the snapshot was saved.*snapshot=exclude.*changed=accept" "$tmp/bad.err" ||
        fail "restore with the excluded image changed: not one line naming it: $(cat "$tmp/bad.err")"
    [ -s "$tmp/bad.out" ] && fail "the guest ran: $(cat "$tmp/bad.out")"
    echo "ok: excluded image changed: $(cat "$tmp/bad.err") (status 2)"
    # The override: changed=accept on that device (the devices given again), with a warning.
    # shellcheck disable=SC2046
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" $(printf -- '--device %s ' $disks | sed 's/snapshot=exclude/snapshot=exclude,changed=accept/') \
        </dev/null >"$tmp/acc.out" 2>"$tmp/acc.err" || fail "restore with changed=accept: status $?: $(cat "$tmp/acc.err")"
    grep -q "^verified" "$tmp/acc.out" || fail "restore with changed=accept did not run to the end: $(tail -n 2 "$tmp/acc.out")"
    grep -q "ex.img changed since the snapshot was saved.*used as it is (changed=accept)" "$tmp/acc.err" ||
        fail "restore with changed=accept: no warning: $(cat "$tmp/acc.err")"
    echo "ok: changed=accept restores it with: $(grep changed=accept "$tmp/acc.err")"

    # The read-only image: only touched, its bytes the same; its identity (mtime) changed all the same.
    touch -d '2001-01-01' "$tmp/ro.img"
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/bad.out" 2>"$tmp/bad.err"
    st=$?
    [ "$st" -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] &&
        grep -q "file=$tmp/ro.img changed since the snapshot was saved.*readonly=on" "$tmp/bad.err" ||
        fail "restore with the read-only image changed: status $st: $(cat "$tmp/bad.err")"
    [ -s "$tmp/bad.out" ] && fail "the guest ran: $(cat "$tmp/bad.out")"
    echo "ok: read-only image changed: refused with status 2"
    "$vmm" run --arch riscv64 --mem 64M --device "virtio-blk,file=$img,snapshot=bogus" </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
    [ "$st" -eq 2 ] && grep -q "snapshot=bogus: include or exclude" "$tmp/err" || fail "snapshot=bogus: status $st: $(cat "$tmp/err")"
    ;;
snapshot-disk-kill)
    build writer.c -DDELAY=6000000
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(64 * 512))' "$img"
    head -c $((48 << 20)) /dev/urandom >"$tmp/big.img"
    db=$tmp/db sock=$tmp/sock
    start_writer() {
        rm -f "$sock"
        "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" --device uart16550,mmio=0x10000000 \
            --device sifive-test --device "virtio-blk,base=0x10002000,irq=2,file=$img" \
            --device "virtio-blk,base=0x10003000,irq=3,file=$tmp/big.img" --state "$db" --control "$sock" \
            </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
        pid=$!
        i=0
        until grep -q "^wrote $1$" "$tmp/run.out" 2>/dev/null; do
            i=$((i + 1))
            [ $i -gt $((400 * scale)) ] && fail "the guest never wrote sector $1: $(cat "$tmp/run.out" "$tmp/run.err")"
            sleep 0.02
        done
    }
    trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    start_writer 20
    "$vmm" ctl "$sock" pause >"$tmp/ctl.out" 2>&1 || fail "pause: $(cat "$tmp/ctl.out")"
    "$vmm" ctl "$sock" save s1 >"$tmp/ctl.out" 2>&1 || fail "save: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err")"
    kill -KILL $pid
    wait $pid 2>/dev/null
    for d in 0 0.05 0.15 0.3 0.6; do
        start_writer 30
        "$vmm" ctl "$sock" save "k$d" >/dev/null 2>&1 &
        sleep "$d"
        kill -KILL $pid
        wait $pid 2>/dev/null
        wait 2>/dev/null
    done
    # s1 must bring back the writer's image as it was at sector 20 (the guest verifies what it reads back).
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes([0xee]) * (64 * 512))' "$img"
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" --restore-mode eager </dev/null >"$tmp/after.out" 2>"$tmp/restore.err" ||
        fail "s1 after the killed saves: status $?: $(cat "$tmp/restore.err")"
    grep -q "^verified" "$tmp/after.out" || fail "s1 after the killed saves did not verify: $(tail -n 3 "$tmp/after.out")"
    "$vmm" snapshot ls "$db" >"$tmp/ls.out" 2>&1 || fail "snapshot ls: $(cat "$tmp/ls.out")"
    names=$(awk 'NR > 1 { print $1 }' "$tmp/ls.out")
    for n in $names; do
        [ "$n" = s1 ] && continue
        python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes([0xee]) * (64 * 512))' "$img"
        timeout $((60 * scale)) "$vmm" run --restore "$db:$n" --restore-mode eager </dev/null >"$tmp/k.out" 2>"$tmp/k.err" ||
            fail "snapshot $n (a save that completed before the kill): status $?: $(cat "$tmp/k.err")"
        grep -q "^verified" "$tmp/k.out" || fail "snapshot $n did not verify: $(tail -n 3 "$tmp/k.out")"
    done
    echo "ok: saves with a 48 MiB disk killed at 0-0.6 s; s1 restores and verifies; the database lists:" $names
    ;;
snapshot-heavy | snapshot-live)
    build writer.c -DHEAVY
    python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(64 * 512))' "$img"
    db=$tmp/db sock=$tmp/sock
    "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" --device uart16550,mmio=0x10000000 \
        --device sifive-test --device "virtio-blk,base=0x10002000,irq=2,file=$img,io=thread" --state "$db" \
        --control "$sock" --stats </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    i=0
    until grep -q "^round 3$" "$tmp/run.out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((400 * scale)) ] && fail "the guest never finished round 3: $(cat "$tmp/run.out" "$tmp/run.err")"
        sleep 0.02
    done
    [ "$case_" = snapshot-heavy ] && { "$vmm" ctl "$sock" pause >"$tmp/ctl.out" 2>&1 || fail "pause: $(cat "$tmp/ctl.out")"; }
    "$vmm" ctl "$sock" save s1 >"$tmp/ctl.out" 2>&1 || fail "save: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err") $(tail -n 3 "$tmp/run.out")"
    [ "$case_" = snapshot-live ] && { grep -q "live" "$tmp/ctl.out" "$tmp/run.err" || fail "the save was not live: $(cat "$tmp/ctl.out" "$tmp/run.err")"; }
    "$vmm" ctl "$sock" quit >/dev/null 2>&1 # --stats: how many requests the save waited for
    wait $pid 2>/dev/null
    drained=$(sed -n 's/.*discards, \([0-9]*\) requests in flight.*/\1/p' "$tmp/run.err")
    # The byte typed ends the passes: the restored guest finishes the one it is in, reads back and verifies.
    printf 'q\n' | timeout $((60 * scale)) "$vmm" run --restore "$db:s1" >"$tmp/after.out" 2>"$tmp/restore.err" ||
        fail "the restore ended with status $?: $(tail -n 2 "$tmp/after.out") $(cat "$tmp/restore.err")"
    last=$(sed -n 's/^verified round \([0-9]*\)$/\1/p' "$tmp/after.out")
    [ -n "$last" ] || fail "the restored guest did not verify: $(tail -n 3 "$tmp/after.out")"
    head -n 1 "$tmp/after.out" | grep -q "^round" || fail "the restored guest wrote no pass: $(head -n 1 "$tmp/after.out")"
    python3 - "$img" "$last" <<'PY' || fail "the image on the host is not the last pass's bytes"
import sys
d = open(sys.argv[1], "rb").read()
want = bytes((n * 31 + i + int(sys.argv[2])) & 0xff for n in range(64) for i in range(512))
sys.exit(0 if d == want else "differs from sector %d" % (next(i for i in range(len(d)) if d[i] != want[i]) // 512))
PY
    echo "ok: saved ($case_) after '$(tail -n 1 "$tmp/run.out")' with ${drained:-?} requests in flight waited for; restored from '$(head -n 1 "$tmp/after.out")' to '$(tail -n 1 "$tmp/after.out")'; the image holds the last pass"
    ;;
options)
    head -c 1000 /dev/zero >"$tmp/odd.img"
    while IFS='|' read -r dev opts want; do
        "$vmm" run --arch riscv64 --mem 64M --device "$dev$opts" </dev/null >"$tmp/out" 2>"$tmp/err"
        st=$?
        [ "$st" -eq 2 ] || fail "$dev$opts: status $st, expected 2: $(cat "$tmp/err")"
        [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "$dev: error: $want" "$tmp/err" ||
            fail "$dev$opts: expected one line '$dev: error: $want', got: $(cat "$tmp/err")"
    done <<CASES
virtio-blk||file= is required
virtio-blk|,file=$tmp/none.img|file=$tmp/none.img: No such file or directory
virtio-blk|,file=$tmp,readonly=on|file=$tmp: not a regular file or a block device
virtio-blk|,file=$tmp/odd.img|file=$tmp/odd.img: 1000 bytes, not a non-zero multiple of 512
virtio-blk|,file=$img,base=0x10001100|base=0x10001100: not 512-byte aligned
virtio-blk|,file=$img,io=uring|io=uring: thread or sync
virtio-console||path= is required
virtio-console|,path=$img|path=$img: the file exists and is not a socket
virtio-console|,path=$tmp/no/such/dir/s|path=$tmp/no/such/dir/s: cannot listen there: No such file or directory
virtio-net||tap= is required
virtio-net|,tap=x,mac=01:00:5e:00:00:01|mac=01:00:5e:00:00:01: not a unicast MAC address
virtio-net|,tap=x,mac=52:54:00:12:34|mac=52:54:00:12:34: not a unicast MAC address
virtio-net|,tap=a-name-far-too-long-for-linux|tap=a-name-far-too-long-for-linux: an interface name has at most 15 characters
CASES
    echo "ok: bad file=, base=, path=, tap= and mac= refused in one line each, status 2"
    ;;
console)
    build console.c
    sock=$tmp/con.sock
    timeout $((60 * scale)) "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" ${vmm_extra-} \
        --device uart16550,mmio=0x10000000 --device sifive-test \
        --device "virtio-console,base=0x10003000,irq=3,path=$sock" </dev/null >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    timeout $((60 * scale)) python3 "$here/con_client.py" "$sock" >"$tmp/client" 2>&1 ||
        { kill $pid 2>/dev/null; fail "the client: $(cat "$tmp/client") | guest: $(cat "$tmp/out" "$tmp/err")"; }
    wait $pid || fail "status $?: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^console ok after 5 lines" "$tmp/out" || fail "no 'console ok after 5 lines': $(cat "$tmp/out" "$tmp/err")"
    [ -e "$sock" ] && fail "the socket $sock is left behind"
    echo "ok: $(tr '\n' ' ' <"$tmp/client")| $(tr '\n' ' ' <"$tmp/out")"
    ;;
console-snapshot)
    build console.c
    sock=$tmp/con.sock db=$tmp/db ctl=$tmp/ctl
    "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" --device uart16550,mmio=0x10000000 \
        --device sifive-test --device "virtio-console,base=0x10003000,irq=3,path=$sock" --state "$db" --control "$ctl" \
        </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
    timeout $((60 * scale)) python3 "$here/con_client.py" "$sock" before >"$tmp/client" 2>&1 ||
        fail "the client before the save: $(cat "$tmp/client") | guest: $(cat "$tmp/run.out" "$tmp/run.err")"
    "$vmm" ctl "$ctl" pause >"$tmp/ctl.out" 2>&1 || fail "pause: $(cat "$tmp/ctl.out")"
    "$vmm" ctl "$ctl" save s1 >"$tmp/ctl.out" 2>&1 || fail "save: $(cat "$tmp/ctl.out") $(cat "$tmp/run.err")"
    kill -KILL $pid
    wait $pid 2>/dev/null
    timeout $((60 * scale)) "$vmm" run --restore "$db:s1" </dev/null >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    timeout $((60 * scale)) python3 "$here/con_client.py" "$sock" after >>"$tmp/client" 2>&1 ||
        fail "the client after the restore: $(cat "$tmp/client") | guest: $(cat "$tmp/out" "$tmp/err")"
    wait $pid || fail "the restored run: status $?: $(cat "$tmp/out" "$tmp/err")"
    grep -q "^console ok after 3 lines" "$tmp/out" || fail "no 'console ok after 3 lines': $(cat "$tmp/out" "$tmp/err")"
    echo "ok: $(tr '\n' ' ' <"$tmp/client")| restored: $(tr '\n' ' ' <"$tmp/out")"
    ;;
net)
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a TAP in a network namespace)"; exit 77; }
    [ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
    command -v unshare >/dev/null && command -v ip >/dev/null || { echo "SKIP: needs unshare and ip"; exit 77; }
    build net.c
    timeout $((90 * scale)) unshare -n sh "$here/net.sh" "$vmm" "$tmp" "$here" >"$tmp/ns.out" 2>&1 ||
        fail "$(cat "$tmp/ns.out")"
    echo "ok: $(tr '\n' ' ' <"$tmp/ns.out")"
    ;;
dtb)
    command -v dtc >/dev/null 2>&1 || fail "dtc is missing (scripts/install-deps installs device-tree-compiler)"
    build driver.c
    "$vmm" run --arch "riscv64,dtb-dump=$tmp/t.dtb" --mem 64M --kernel "$tmp/guest.elf" --device virtio-rng \
        --device "virtio-blk,base=0x10002000,irq=2,file=$img" \
        --device "virtio-console,base=0x10003000,irq=3,path=$tmp/con.sock" </dev/null >"$tmp/out" 2>"$tmp/err" ||
        fail "the run failed: $(cat "$tmp/err")"
    dtc -I dtb -O dts "$tmp/t.dtb" >"$tmp/t.dts" 2>/dev/null || fail "dtc cannot read the dumped tree"
    for n in "10001000|0x01" "10002000|0x02" "10003000|0x03"; do
        at=${n%|*} irq=${n#*|}
        python3 - "$tmp/t.dts" "$at" "$irq" <<'PY' || fail "no virtio,mmio node at 0x$at with interrupt $irq: $(grep -A5 virtio_mmio "$tmp/t.dts")"
import re, sys
dts, at, irq = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
m = re.search(r"virtio_mmio@%s \{(.*?)\};" % at, dts, re.S)
body = m.group(1) if m else ""
sys.exit(0 if 'compatible = "virtio,mmio"' in body and "reg = <0x00 0x%s 0x00 0x200>" % at in body
         and "interrupts = <%s>" % irq in body else 1)
PY
    done
    echo "ok: the three devices are virtio,mmio nodes with their reg and interrupt"
    ;;
*)
    fail "unknown case $case_"
    ;;
esac
