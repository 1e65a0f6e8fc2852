#!/bin/sh
# The seccomp filters of vmm run (docs/sandbox.md): a forbidden call made in a device's MMIO callback (vCPU thread),
# timer (event loop) or own thread (SDK 1.7 thread_start: the device I/O kind) ends vmm with one line naming the
# call, the thread kind and the instance, status 1; with --sandbox off the same call is made and the plugin reports
# its result. Also --log info's list of filters and a
# bad --sandbox value. Usage: sandbox.sh VMM RISCV_TESTS_DIR GUEST_SOURCE PLUGIN
set -u
vmm=$1 dir=$2 src=$3 plugin=$4
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi; }
rv_build "$src" "$tmp/guest.elf" || exit 1
run() {
    opts=$1
    shift
    timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch riscv64 --mem 16M --kernel "$tmp/guest.elf" \
        --device "$plugin,$opts" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
}
show() { echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; }

shift_run() { opts=$1; shift; run "$opts" "$@"; }

# vCPU thread, socket(AF_INET)
run "call=socket,when=mmio" --sandbox on ; st=$?
[ "$st" = 1 ] || show
expect "socket in an MMIO callback: status 1 (got $st)" [ "$st" = 1 ]
expect "socket in an MMIO callback: one line naming socket, the vcpu thread and test-sandbox" \
    grep -qx "vmm: sandbox: forbidden system call socket (41) in the vcpu thread, in a callback of plugin instance 'test-sandbox'; vmm stops (--sandbox off runs without the filters)" "$tmp/err"
expect "socket in an MMIO callback: no bare 'Bad system call'" sh -c "! grep -q 'Bad system call' '$tmp/err'"
expect "socket in an MMIO callback: the call never returned to the plugin" sh -c "! grep -q 'test-sandbox:' '$tmp/out'"

# Event loop, execve
run "call=execve,when=timer" --sandbox on ; st=$?
[ "$st" = 1 ] || show
expect "execve in a timer: status 1 (got $st)" [ "$st" = 1 ]
expect "execve in a timer: one line naming execve, the event-loop thread and test-sandbox" \
    grep -qx "vmm: sandbox: forbidden system call execve (59) in the event-loop thread, in a callback of plugin instance 'test-sandbox'; vmm stops (--sandbox off runs without the filters)" "$tmp/err"

# A device's own thread (thread_start), socket and execve: the device I/O filter, named with the thread and instance
run "call=socket,when=thread" --sandbox on ; st=$?
[ "$st" = 1 ] || show
expect "socket in a device's thread: status 1 (got $st)" [ "$st" = 1 ]
expect "socket in a device's thread: one line naming socket, the device I/O thread and test-sandbox" \
    grep -qx "vmm: sandbox: forbidden system call socket (41) in the device I/O thread 'sandbox-probe' of plugin instance 'test-sandbox'; vmm stops (--sandbox off runs without the filters)" "$tmp/err"
expect "socket in a device's thread: no bare 'Bad system call'" sh -c "! grep -q 'Bad system call' '$tmp/err'"
expect "socket in a device's thread: the call never returned to the plugin" sh -c "! grep -q 'test-sandbox:' '$tmp/out'"
run "call=execve,when=thread" --sandbox on ; st=$?
[ "$st" = 1 ] || show
expect "execve in a device's thread: status 1 (got $st)" [ "$st" = 1 ]
expect "execve in a device's thread: one line naming execve, the device I/O thread and test-sandbox" \
    grep -qx "vmm: sandbox: forbidden system call execve (59) in the device I/O thread 'sandbox-probe' of plugin instance 'test-sandbox'; vmm stops (--sandbox off runs without the filters)" "$tmp/err"

# thread_start once the VM runs: refused with one line, the sandbox on or off
for sb in on off; do
    run "when=late" --sandbox $sb ; st=$?
    [ "$st" = 7 ] || show
    expect "thread_start in an MMIO callback, --sandbox $sb: status 7 (got $st)" [ "$st" = 7 ]
    expect "thread_start in an MMIO callback, --sandbox $sb: refused" grep -q "test-sandbox: thread_start refused" "$tmp/out"
    expect "thread_start in an MMIO callback, --sandbox $sb: one line naming the thread" grep -qx \
        "test-sandbox: error: thread_start 'sandbox-late': only while the instance is set up (construct), not once the VM runs" "$tmp/err"
done

# --sandbox off: the calls are made, their results reach the plugin
args_off="--sandbox off"
run "call=socket,when=mmio" $args_off ; st=$?
[ "$st" = 7 ] || show
expect "--sandbox off: socket made in the vCPU thread, status 7 (got $st)" [ "$st" = 7 ]
expect "--sandbox off: the plugin reports the socket" grep -q "test-sandbox: socket(AF_INET) made" "$tmp/out"
run "call=execve,when=timer" $args_off ; st=$?
[ "$st" = 7 ] || show
expect "--sandbox off: execve made in the event loop, status 7 (got $st)" [ "$st" = 7 ]
expect "--sandbox off: the plugin reports execve's failure" \
    grep -q "test-sandbox: execve made, failed: No such file or directory" "$tmp/out"
run "call=socket,when=thread" $args_off ; st=$?
[ "$st" = 7 ] || show
expect "--sandbox off: socket made in the device's thread, status 7 (got $st)" [ "$st" = 7 ]
expect "--sandbox off: the plugin reports the thread's socket" grep -q "test-sandbox: socket(AF_INET) made" "$tmp/out"
expect "--sandbox off: no error from the thread's join" sh -c "! grep -q 'error' '$tmp/err'"
run "call=execve,when=thread" $args_off ; st=$?
[ "$st" = 7 ] || show
expect "--sandbox off: execve made in the device's thread, status 7 (got $st)" [ "$st" = 7 ]
expect "--sandbox off: the plugin reports the thread's execve failure" \
    grep -q "test-sandbox: execve made, failed: No such file or directory" "$tmp/out"

# --log info says which filters were installed; --sandbox off installs none
run "call=socket,when=timer" --log info --sandbox on ; st=$?
expect "--log info: the vcpu filter is listed" grep -q "sandbox: vcpu filter installed" "$tmp/err"
expect "--log info: the event-loop filter is listed" grep -q "sandbox: event-loop filter installed" "$tmp/err"
expect "--log info: no device I/O filter without a device thread" sh -c "! grep -q 'device I/O filter' '$tmp/err'"
run "call=socket,when=thread" --log info --sandbox on ; st=$?
expect "--log info: the device I/O filter is listed" grep -q "sandbox: device I/O filter installed" "$tmp/err"
run "call=socket,when=timer" --log info --sandbox off ; st=$?
expect "--sandbox off --log info: no filter listed" sh -c "! grep -q 'filter installed' '$tmp/err'"

"$vmm" run --arch riscv64 --sandbox maybe --kernel "$tmp/guest.elf" >"$tmp/out" 2>"$tmp/err"; st=$?
expect "--sandbox maybe: status 2 (got $st)" [ "$st" = 2 ]
expect "--sandbox maybe: named" grep -q "^vmm: --sandbox maybe: use on or off" "$tmp/err"

exit $fail
