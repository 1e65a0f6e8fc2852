#!/bin/sh
# linux_boot.sh: boots the riscv64 Linux guest of scripts/get-riscv-guest (Debian's linux-source-6.1 built with
# guests/riscv64/linux.config, a busybox initramfs) on vmm's riscv64 machine under Debian's OpenSBI fw_dynamic
# (--bios default, chosen for a Linux Image); waits for the marker /init prints; types a command through the
# serial console and checks its output, which only the guest can compute (and that nproc says --cpus); then types
# `poweroff -f` and checks that vmm exits with status 0 (SBI SRST through the test device).
# With --qemu the same guest, firmware, command line and checks run on qemu-system-riscv64 -M virt instead: the
# guest's own check, and the peer the vmm run is compared with.
#
# usage: linux_boot.sh VMM GET_RISCV_GUEST [--cpus N] [--timeout SECONDS] [--qemu]
# Exits 77 (meson: skipped) only when the guest cannot be built (missing Debian packages, no deb-src), or with
# --qemu when QEMU or the firmware is missing.
set -u
vmm=$1 getguest=$2
shift 2
cpus=1 limit=1800 qemu=0
while [ $# -gt 0 ]; do
    case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --qemu) qemu=1; shift ;;
    *) echo "linux_boot.sh: bad argument $1" >&2; exit 99 ;;
    esac
done
fw=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf
log=$(mktemp)
dir=$("$getguest" 2>"$log") || { tail -n 20 "$log"; rm -f "$log"
    echo "SKIP: the riscv64 Linux guest could not be built (scripts/get-riscv-guest failed; see above)"; exit 77; }
rm -f "$log"
if [ "$qemu" = 1 ]; then
    command -v qemu-system-riscv64 >/dev/null 2>&1 || { echo "SKIP: qemu-system-riscv64 not installed"; exit 77; }
    [ -f "$fw" ] || { echo "SKIP: $fw missing (apt-get install opensbi)"; exit 77; }
fi

tmp=$(mktemp -d)
pid=''
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/in"

append="console=ttyS0 earlycon=sbi panic=-1"
start=$(date +%s)
if [ "$qemu" = 1 ]; then
    name=QEMU
    qemu-system-riscv64 -M virt -m 256M -smp "$cpus" -display none -monitor none -serial stdio -no-reboot \
        -bios "$fw" -kernel "$dir/Image" -initrd "$dir/initramfs.cpio" -append "$append" \
        <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
else
    name=vmm
    "$vmm" run --arch riscv64 --mem 256M --cpus "$cpus" --kernel "$dir/Image" --initrd "$dir/initramfs.cpio" \
        --append "$append" --stats <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
fi
pid=$!
exec 3>"$tmp/in" # the console's input stays open, as a terminal would

elapsed() { echo $(( $(date +%s) - start )); }
# wait_for REGEX: until the serial output matches, the monitor exits, the time limit passes, or the guest has
# printed nothing for $stall seconds (a guest stuck early, say without paging, fails in minutes, not in an hour).
stall=600
wait_for() {
    size=-1 quiet_since=$(elapsed)
    while ! tr -d '\r' <"$tmp/out" | grep -Eq "$1"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: $name exited after $(elapsed) s before the guest printed /$1/"
            tail -n 30 "$tmp/out"; tail -n 40 "$tmp/err"; exit 1
        fi
        if [ "$(elapsed)" -ge "$limit" ]; then
            echo "FAIL: no /$1/ after $limit s"; tail -n 30 "$tmp/out"; tail -n 20 "$tmp/err"; exit 1
        fi
        now=$(wc -c <"$tmp/out")
        [ "$now" != "$size" ] && size=$now quiet_since=$(elapsed)
        if [ $(( $(elapsed) - quiet_since )) -ge "$stall" ]; then
            echo "FAIL: the guest printed nothing for $stall s (at $(elapsed) s), waiting for /$1/; its last lines:"
            tail -n 30 "$tmp/out"; tail -n 20 "$tmp/err"; exit 1
        fi
        sleep 1
    done
}

wait_for 'VMM-INIT-READY'
echo "marker after $(elapsed) s: $(tr -d '\r' <"$tmp/out" | grep -a -m1 VMM-INIT-READY)"
wait_for '^# |# $'
# Input that arrives while the shell is still setting up its terminal may be discarded: type again after a while.
typed_at=-1000
while ! tr -d '\r' <"$tmp/out" | grep -Eq "typed-42 cpus=[0-9]+"; do
    if [ $(( $(elapsed) - typed_at )) -ge 30 ]; then
        printf 'echo typed-$((6 * 7)) cpus=$(nproc)\n' >&3
        typed_at=$(elapsed)
    fi
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: $name exited before the command's output"; tail -n 30 "$tmp/out"; exit 1; }
    [ "$(elapsed)" -ge "$limit" ] && { echo "FAIL: no command output after $limit s"; tail -n 30 "$tmp/out"; exit 1; }
    sleep 1
done
got=$(tr -d '\r' <"$tmp/out" | grep -a -o 'typed-42 cpus=[0-9]*' | head -n1)
echo "console: $got"
[ "$got" = "typed-42 cpus=$cpus" ] || { echo "FAIL: expected 'typed-42 cpus=$cpus'"; exit 1; }
printf 'poweroff -f\n' >&3
off_at=$(elapsed)
while kill -0 "$pid" 2>/dev/null; do
    if [ "$(elapsed)" -ge "$limit" ] || [ $(( $(elapsed) - off_at )) -ge 120 ]; then
        echo "FAIL: $name did not exit after poweroff -f"; tail -n 20 "$tmp/out"; exit 1
    fi
    sleep 1
done
wait "$pid"
status=$?
pid=''
grep -a 'riscv64:' "$tmp/err"
if [ "$status" -ne 0 ]; then
    echo "FAIL: $name exited with status $status after poweroff -f (expected 0)"; tail -n 20 "$tmp/out"
    tail -n 20 "$tmp/err"; exit 1
fi
echo "ok: $name booted the riscv64 Linux guest, ran a typed command, powered off (status 0) in $(elapsed) s with $cpus hart(s)"
