#!/bin/sh
# virtio_linux.sh: Debian's stock kernel under x86-raw with virtio-blk, virtio-rng and virtio-console on their
# default slots (docs/devices.md). x86-raw adds virtio_mmio.device= for each to the command line; the busybox
# /init (scripts/get-linux-guest) then loads the kernel's virtio modules. Through the serial console the test
# checks, in one boot:
#   - the command line carries the three virtio_mmio.device= parameters x86-raw added;
#   - virtio-blk: /dev/vda's first bytes are the token the host wrote into the image, and a line the guest writes
#     at 4 KiB (dd conv=fsync) is in the image file after vmm has exited;
#   - virtio-rng: the kernel took virtio_rng as its hwrng and /dev/hwrng gives 32 bytes;
#   - virtio-console: a line echoed to /dev/hvc0 reaches the client of the device's Unix socket;
#   - every device's interrupt line counted interrupts in /proc/interrupts (the drivers wait for them: no polling);
# then `reboot -f` ends vmm with status 0.
#
# usage: virtio_linux.sh VMM GET_LINUX_GUEST [--timeout SECONDS]
# Exits 77 (meson: skipped) without /dev/kvm or when the guest cannot be fetched.

set -u
vmm=$1 getguest=$2
shift 2
limit=2400
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) limit=$2; shift 2 ;;
    *) echo "virtio_linux.sh: bad argument $1" >&2; exit 99 ;;
    esac
done

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
dir=$("$getguest" 2>/tmp/get-linux-guest.$$.log) || { cat /tmp/get-linux-guest.$$.log; rm -f /tmp/get-linux-guest.$$.log
    echo "SKIP: the Linux guest could not be fetched"; exit 77; }
rm -f /tmp/get-linux-guest.$$.log

tmp=$(mktemp -d)
pid='' reader=''
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "$reader" ] && kill "$reader" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/in"

tok=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
# 1 MiB image: the token at 0, zeroes elsewhere (the guest writes at 4 KiB).
head -c 1048576 /dev/zero > "$tmp/disk.img"
printf 'VMM-BLK-%s\n' "$tok" | dd of="$tmp/disk.img" conv=notrunc 2>/dev/null

start=$(date +%s)
# cryptomgr.notests: the crypto self-tests are half of this host's emulated boot (docs/linux-boot.md) and
# nothing here depends on them; linux-boot-smp boots with the stock line.
"$vmm" run --arch x86-raw --mem 256M --kernel "$dir/vmlinuz" --initrd "$dir/initramfs.cpio" \
    --append "console=ttyS0 panic=-1 cryptomgr.notests" --device uart16550 --device i8042 \
    --device virtio-blk,file="$tmp/disk.img" --device virtio-rng --device virtio-console,path="$tmp/hvc.sock" \
    --stats < "$tmp/in" > "$tmp/out" 2> "$tmp/err" &
pid=$!
exec 3> "$tmp/in"

# The console's client: everything the guest writes to hvc0 goes to hvc.out.
python3 - "$tmp/hvc.sock" "$tmp/hvc.out" <<'PY' &
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
for _ in range(600):
    try:
        s.connect(path)
        break
    except OSError:
        time.sleep(0.5)
with open(out, "wb", buffering=0) as f:
    while True:
        b = s.recv(4096)
        if not b:
            break
        f.write(b)
PY
reader=$!

elapsed() { echo $(( $(date +%s) - start )); }
fail() { echo "FAIL: $*"; tail -n 40 "$tmp/out"; tail -n 20 "$tmp/err"; exit 1; }
wait_for() {
    while ! grep -Eaq "$1" "$tmp/out"; do
        kill -0 "$pid" 2>/dev/null || fail "vmm exited after $(elapsed) s before the guest printed /$1/"
        [ "$(elapsed)" -ge "$limit" ] && fail "no /$1/ after $limit s"
        sleep 1
    done
}
# run CMD TAG: type CMD (which prints TAG-done at its end) until the guest has run it; input typed while the shell
# still sets up its terminal may be lost, so it is typed again after a minute.
run() {
    typed_at=-1000
    while ! grep -aq "^$2-done" "$tmp/out"; do
        if [ $(( $(elapsed) - typed_at )) -ge 60 ]; then
            printf '%s; echo %s-done\n' "$1" "$2" >&3
            typed_at=$(elapsed)
        fi
        kill -0 "$pid" 2>/dev/null || fail "vmm exited before '$1' finished"
        [ "$(elapsed)" -ge "$limit" ] && fail "'$1' did not finish in $limit s"
        sleep 1
    done
}

wait_for 'VMM-INIT-READY'
echo "marker after $(elapsed) s: $(grep -a -m1 VMM-INIT-READY "$tmp/out")"
wait_for '^# |# $'
run 'cat /proc/cmdline' cmd
grep -aq 'virtio_mmio.device=0x200@0xd0000000:5 virtio_mmio.device=0x200@0xd0001000:6 virtio_mmio.device=0x200@0xd0002000:7' \
    "$tmp/out" || fail "the command line lacks x86-raw's virtio_mmio.device= parameters"
run 'echo blk=$(head -c 40 /dev/vda)' blk
grep -aq "^blk=VMM-BLK-$tok" "$tmp/out" || fail "/dev/vda does not start with the image's token VMM-BLK-$tok"
run "echo VMM-GUEST-WROTE-$tok | dd of=/dev/vda bs=512 seek=8 conv=sync,fsync && echo dd-ok" blkw
grep -aq '^dd-ok' "$tmp/out" || fail "dd to /dev/vda failed"
run 'echo rng=$(cat /sys/class/misc/hw_random/rng_current) $(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d " \n")' rng
line=$(grep -a '^rng=' "$tmp/out" | tail -n1 | tr -d '\r')
echo "guest: $line"
case "$line" in "rng=virtio_rng."*) ;; *) fail "the guest's hwrng is not virtio_rng: $line" ;; esac
hex=${line##* }
[ ${#hex} -eq 64 ] || fail "/dev/hwrng gave ${#hex} hex digits, not 64"
[ "$hex" != "$(printf '0%.0s' $(seq 64))" ] || fail "/dev/hwrng gave only zeroes"
run "echo VMM-HVC-$tok > /dev/hvc0" hvc
i=0
while ! grep -aq "VMM-HVC-$tok" "$tmp/hvc.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -ge 60 ] && fail "the console's socket client never got VMM-HVC-$tok"
    sleep 1
done
echo "host: hvc0's line reached the socket"
run 'grep virtio /proc/interrupts' irq
tr -d '\r' < "$tmp/out" | grep -a 'IO-APIC.* virtio'
for n in 0 1 2; do
    count=$(tr -d '\r' < "$tmp/out" | grep -a "IO-APIC.* virtio$n\$" | tail -n1 | awk '{print $2}')
    [ -n "$count" ] && [ "$count" -gt 0 ] 2>/dev/null || fail "virtio$n counted no interrupts in /proc/interrupts"
done
printf 'reboot -f\n' >&3
reboot_at=$(elapsed)
while kill -0 "$pid" 2>/dev/null; do
    [ $(( $(elapsed) - reboot_at )) -ge 300 ] && fail "vmm did not exit after reboot -f"
    sleep 1
done
wait "$pid"
status=$?
pid=''
[ "$status" -eq 0 ] || fail "vmm exited with status $status after reboot -f (expected 0)"
grep -a 'requests' "$tmp/err"
got=$(dd if="$tmp/disk.img" bs=512 skip=8 count=1 2>/dev/null | head -n1)
[ "$got" = "VMM-GUEST-WROTE-$tok" ] || fail "the image holds '$got' at 4 KiB, not the guest's VMM-GUEST-WROTE-$tok"
echo "ok: virtio-blk read and write, virtio-rng, virtio-console on x86, by interrupt; rebooted in $(elapsed) s"
