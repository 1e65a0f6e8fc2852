#!/bin/sh
# boot_linux.sh: boots Debian's stock kernel with the busybox initramfs (scripts/get-linux-guest) under vmm, with
# no workaround options on the command line; waits for the marker /init prints; types a command through the
# serial console and checks its output (and, with --cpus N, that the guest counts N CPUs); then types
# `reboot -f` and checks that vmm exits with status 0 (the i8042 reset line).
#
# With --save-restore the running guest is then saved at its prompt through the control socket, vmm is killed
# with SIGKILL, and a new vmm restored from the snapshot must run another typed command (the issue's "save at
# the shell prompt, restore, run a command, get its output") before `reboot -f` ends it with status 0.
#
# usage: boot_linux.sh VMM GET_LINUX_GUEST [--cpus N] [--timeout SECONDS] [--syscall-probe GUEST_ELF]
#                      [--save-restore]
# Exits 77 (meson: skipped) without /dev/kvm, when the guest cannot be fetched (no network, no apt), or when the
# probe guest shows that this host's KVM leaves a ring-3 `syscall` at CPL 3 and x86-raw cannot relegate it.

set -u
vmm=$1 getguest=$2
shift 2
cpus=1 limit=1500 probe='' saverestore=0
while [ $# -gt 0 ]; do
    case "$1" in
    --syscall-probe) probe=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --save-restore) saverestore=1; shift ;;
    *) echo "boot_linux.sh: bad argument $1" >&2; exit 99 ;;
    esac
done

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
if [ -n "$probe" ]; then
    # Where a ring-3 syscall stays at CPL 3 (kvm_pvm), Linux user space needs x86-raw's syscall relegation; the
    # probe guest (0.1 s) shows whether it works here before a boot of many minutes is started.
    msg=$(timeout 30 "$vmm" run --arch x86-raw --image "$probe" --device uart16550 --device debug-exit \
        < /dev/null 2>&1)
    st=$?
    if [ "$st" -ne 33 ] && echo "$msg" | grep -q 'syscall entered CPL 3'; then
        echo "SKIP: this host's KVM leaves a ring-3 syscall at CPL 3 and x86-raw cannot relegate it here: $msg"
        exit 77
    fi
    if [ "$st" -ne 33 ]; then
        echo "FAIL: the syscall probe guest failed (status $st): $msg"
        exit 1
    fi
fi
dir=$("$getguest" 2>/tmp/get-linux-guest.$$.log) || { cat /tmp/get-linux-guest.$$.log; rm -f /tmp/get-linux-guest.$$.log
    echo "SKIP: the Linux guest could not be fetched"; exit 77; }
rm -f /tmp/get-linux-guest.$$.log

tmp=$(mktemp -d)
pid=''
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkfifo "$tmp/in"

start=$(date +%s)
"$vmm" run --arch x86-raw --mem 256M --cpus "$cpus" --kernel "$dir/vmlinuz" --initrd "$dir/initramfs.cpio" \
    --append "console=ttyS0 panic=-1" --device uart16550 --device i8042 --stats \
    --state "$tmp/db" --control "$tmp/ctl.sock" < "$tmp/in" > "$tmp/out" 2> "$tmp/err" &
pid=$!
exec 3> "$tmp/in" # the console's input stays open, as a terminal would

elapsed() { echo $(( $(date +%s) - start )); }
# wait_for REGEX: until the serial output matches, vmm exits, or the time limit passes.
wait_for() {
    while ! grep -Eq "$1" "$tmp/out"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: vmm exited after $(elapsed) s before the guest printed /$1/"
            tail -n 30 "$tmp/out"; tail -n 40 "$tmp/err"; exit 1
        fi
        if [ "$(elapsed)" -ge "$limit" ]; then
            echo "FAIL: no /$1/ after $limit s"; tail -n 30 "$tmp/out"; tail -n 20 "$tmp/err"; exit 1
        fi
        sleep 1
    done
}

wait_for 'VMM-INIT-READY'
echo "marker after $(elapsed) s: $(grep -a -m1 VMM-INIT-READY "$tmp/out")"
wait_for '^# |# $'
# Typed through the UART: the shell must run it and print the result, which only the guest can compute. Input
# that arrives while the shell is still setting up its terminal may be discarded, so type again after a while.
typed_at=-1000
while ! grep -Eq "typed-42 cpus=[0-9]+" "$tmp/out"; do
    if [ $(( $(elapsed) - typed_at )) -ge 60 ]; then
        printf 'echo typed-$((6 * 7)) cpus=$(nproc)\n' >&3
        typed_at=$(elapsed)
    fi
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: vmm exited before the command's output"; tail -n 30 "$tmp/out"; exit 1; }
    [ "$(elapsed)" -ge "$limit" ] && { echo "FAIL: no command output after $limit s"; tail -n 30 "$tmp/out"; exit 1; }
    sleep 1
done
got=$(grep -a -o 'typed-42 cpus=[0-9]*' "$tmp/out" | head -n1)
echo "console: $got"
if [ "$got" != "typed-42 cpus=$cpus" ]; then
    echo "FAIL: expected 'typed-42 cpus=$cpus'"; exit 1
fi
if [ "$saverestore" = 1 ]; then
    # The shell is idle at its prompt: save it (a live save), then kill vmm outright.
    "$vmm" ctl "$tmp/ctl.sock" save prompt > "$tmp/ctl.out" 2>&1 || { echo "FAIL: save: $(cat "$tmp/ctl.out")"; exit 1; }
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    echo "saved at the prompt after $(elapsed) s: $(cat "$tmp/ctl.out")"
    exec 3>&-
    rm -f "$tmp/in"
    mkfifo "$tmp/in"
    : > "$tmp/out"
    restored_at=$(elapsed)
    "$vmm" run --restore "$tmp/db:prompt" --stats < "$tmp/in" > "$tmp/out" 2> "$tmp/err" &
    pid=$!
    exec 3> "$tmp/in"
    typed_at=-1000
    while ! grep -Eq "restored-42" "$tmp/out"; do
        if [ $(( $(elapsed) - typed_at )) -ge 30 ]; then
            printf 'echo restored-$((6 * 7))\n' >&3
            typed_at=$(elapsed)
        fi
        kill -0 "$pid" 2>/dev/null || { echo "FAIL: the restored vmm exited"; tail -n 20 "$tmp/out"; tail -n 20 "$tmp/err"; exit 1; }
        [ $(( $(elapsed) - restored_at )) -ge 600 ] && { echo "FAIL: no output from the restored guest in 600 s"; tail -n 20 "$tmp/out"; exit 1; }
        sleep 1
    done
    echo "restored in a new process; the guest ran 'echo restored-\$((6 * 7))' $(( $(elapsed) - restored_at )) s after the restore started"
fi
printf 'reboot -f\n' >&3
reboot_at=$(elapsed)
while kill -0 "$pid" 2>/dev/null; do
    if [ "$(elapsed)" -ge "$limit" ] || [ $(( $(elapsed) - reboot_at )) -ge 300 ]; then
        echo "FAIL: vmm did not exit after reboot -f"; tail -n 20 "$tmp/out"; exit 1
    fi
    sleep 1
done
wait "$pid"
status=$?
pid=''
grep -a 'stats' "$tmp/err"
if [ "$status" -ne 0 ]; then
    echo "FAIL: vmm exited with status $status after reboot -f (expected 0)"; tail -n 20 "$tmp/out"; tail -n 20 "$tmp/err"
    exit 1
fi
echo "ok: booted, typed,$([ "$saverestore" = 1 ] && echo " saved, killed, restored, typed again,") rebooted in $(elapsed) s with $cpus vCPU(s)"
