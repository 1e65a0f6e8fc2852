# lib.sh: what the shell tests that run vmm in the background share. Sourced first thing after a script has read
# its arguments (`. "$(dirname "$0")/../lib.sh"`); it gives:
#   tmp      a fresh directory, removed at exit
#   pid      the vmm a test runs (set it after `&`); pids: more background processes, a space-separated list.
#            Both are killed (SIGKILL) at exit, whatever way the script ends
#   scale    VMM_TEST_TIME_SCALE (default 1): waits are multiplied by it on slow hosts (nested, TCG)
#   fail MESSAGE...   prints "FAIL: MESSAGE" and the end of vmm's stderr when the test keeps it in $tmp/run.err;
#                     exit 1
#   need_kvm          exit 77 (skipped) unless /dev/kvm can be opened
#   params U64...     the x86 test guests' parameter block, $tmp/params.bin
#   wait_for TEXT     until the guest's output, $tmp/run.out, has TEXT
#   settled_output    that output once the console has caught up
# and for tests with a control socket ($vmm and $sock set by the script):
#   vmm_start ARGS... `vmm run --control $sock ARGS...` in the background, once it answers
#   ctl_wait          until vmm answers `status` on $sock
#   ctl REQUEST...    `vmm ctl $sock REQUEST...`, its output in $tmp/ctl.out; fail when it fails
# shellcheck shell=sh

scale=${VMM_TEST_TIME_SCALE:-1}
tmp=$(mktemp -d) || exit 99
pid="" pids=""
test_cleanup() {
    for p in $pids $pid; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap test_cleanup EXIT

fail() {
    echo "FAIL: $*"
    [ -s "$tmp/run.err" ] && echo "vmm's stderr ends: $(tail -n 20 "$tmp/run.err")"
    exit 1
}

need_kvm() {
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available"
        exit 77
    fi
}

# shellcheck disable=SC2154 # $vmm and $sock are the sourcing script's
ctl_wait() {
    ctl_i=0
    until "$vmm" ctl "$sock" status >/dev/null 2>&1; do
        ctl_i=$((ctl_i + 1))
        [ $ctl_i -gt $((100 * scale)) ] && fail "vmm did not open its control socket"
        sleep 0.05
    done
}

# vmm_start ARGS...: `vmm run --control $sock ARGS...` in the background (output in $tmp/run.out and run.err, its
# pid in $pid and added to $pids), once it answers on its control socket.
vmm_start() {
    rm -f "$sock"
    "$vmm" run --control "$sock" "$@" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    pids="$pids $pid"
    ctl_wait
}

ctl() {
    "$vmm" ctl "$sock" "$@" >"$tmp/ctl.out" 2>&1 ||
        fail "vmm ctl $*: $(cat "$tmp/ctl.out"); the run's output ends: $(tail -n 3 "$tmp/run.out" 2>/dev/null)"
}

# params U64...: the guest's parameter block ($tmp/params.bin, little-endian 64-bit values), which the x86 test
# guests read at 0x200000 (--image $tmp/params.bin@0x200000).
params() {
    python3 -c "import struct,sys; v=[int(a, 0) for a in sys.argv[1:]]; sys.stdout.buffer.write(struct.pack('<%dQ' % len(v), *v))" \
        "$@" >"$tmp/params.bin"
}

# wait_for TEXT: until the guest's output ($tmp/run.out) contains TEXT (a grep pattern); fail after 10 s (scaled).
wait_for() {
    wait_i=0
    until grep -q "$1" "$tmp/run.out" 2>/dev/null; do
        wait_i=$((wait_i + 1))
        [ $wait_i -gt $((500 * scale)) ] && fail "the guest never printed '$1'"
        sleep 0.02
    done
}

# settled_output: the guest's output up to this point (the console is flushed shortly after a pause).
settled_output() {
    sleep "$(awk "BEGIN { print 0.3 * $scale }")"
    cat "$tmp/run.out"
}
