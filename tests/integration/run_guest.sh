#!/bin/sh
# run_guest.sh: runs one test guest under vmm and checks what it printed on the serial port (vmm's stdout, exactly)
# and how vmm exited: either a given status (the guest's debug-exit) or a reported fault.
#
# usage: run_guest.sh --vmm VMM --image FILE [--addr ADDR] [--device SPEC]... [--stdin TEXT]
#                     --stdout TEXT (--status N | --fault REGEX)
#   TEXT is expanded with printf %b, so "\n" means a newline.
#   --device: an extra --device for vmm (after uart16550 and debug-exit).
#   --stdin: typed into vmm's stdin through a pipe once the guest has printed the first line of --stdout (it is
#   listening then; a slow host, such as KVM nested in QEMU's TCG, may take seconds to get there); the pipe then
#   stays open until vmm exits, as a terminal would.
#   --skip-status N REASON: a guest that finds the CPU without a feature it tests ends with status N: the test
#   is then skipped with REASON (a feature probe, not a result).
#   --fault: vmm must stop the guest itself: a non-zero status that is none of the guests' own debug-exit values,
#   not a timeout or a signal, with REGEX (extended, case-insensitive) matching its stderr.
# Exits 77 (meson: skipped) when /dev/kvm cannot be opened.

set -u

vmm='' image='' addr='' expect_stdout='' expect_status='' fault_re='' extra_devices='' stdin_text=''
skip_status='' skip_reason=''
while [ $# -gt 0 ]; do
    case "$1" in
    --device) extra_devices="$extra_devices --device $2"; shift 2 ;;
    --stdin) stdin_text=$2; shift 2 ;;
    --skip-status) skip_status=$2; skip_reason=$3; shift 3 ;;
    --vmm) vmm=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --addr) addr=$2; shift 2 ;;
    --stdout) expect_stdout=$2; shift 2 ;;
    --status) expect_status=$2; shift 2 ;;
    --fault) fault_re=$2; shift 2 ;;
    *) echo "run_guest.sh: bad argument: $1" >&2; exit 99 ;;
    esac
done
if [ -z "$vmm" ] || [ -z "$image" ] || { [ -z "$expect_status" ] && [ -z "$fault_re" ]; }; then
    echo "run_guest.sh: need --vmm, --image and --status or --fault" >&2
    exit 99
fi

# vmm needs read-write access. Check it is a device first: <> would create a plain file where none exists.
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

spec=$image
[ -n "$addr" ] && spec="$image@$addr"

# stdin from /dev/null unless the test types something: the UART claims console input, and a test must not read
# the terminal meson runs in.
echo "running: $vmm run --arch x86-raw --mem 64M --image $spec --device uart16550 --device debug-exit$extra_devices"
if [ -n "$stdin_text" ]; then
    # A FIFO held open by this script: vmm sees input arrive late and no end of file, as from a terminal.
    mkfifo "$tmp/stdin" || exit 99
    # shellcheck disable=SC2086 # extra_devices is a list of words
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --mem 64M --image "$spec" --device uart16550 --device debug-exit \
        $extra_devices <"$tmp/stdin" >"$tmp/stdout" 2>"$tmp/stderr" &
    pid=$!
    exec 3>"$tmp/stdin"
    ready=$(printf '%b' "$expect_stdout" | head -n 1)
    tries=0
    while [ -n "$ready" ] && ! grep -Fqx -- "$ready" "$tmp/stdout" 2>/dev/null && kill -0 "$pid" 2>/dev/null &&
        [ "$tries" -lt 600 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    printf '%b' "$stdin_text" >&3
    wait "$pid"
    status=$?
    exec 3>&-
else
    # shellcheck disable=SC2086
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --mem 64M --image "$spec" --device uart16550 --device debug-exit \
        $extra_devices </dev/null >"$tmp/stdout" 2>"$tmp/stderr"
    status=$?
fi

fail=0
show() {
    echo "--- vmm exit status: $status"
    echo "--- vmm stdout:"; cat "$tmp/stdout"
    echo "--- vmm stderr:"; cat "$tmp/stderr"
}

if [ "$status" -eq 124 ]; then
    echo "FAIL: vmm did not finish within 60 s"
    show
    exit 1
fi

if [ -n "$skip_status" ] && [ "$status" -eq "$skip_status" ]; then
    echo "SKIP: $skip_reason"
    exit 77
fi

printf '%b' "$expect_stdout" >"$tmp/expected"
if ! cmp -s "$tmp/expected" "$tmp/stdout"; then
    echo "FAIL: serial output differs (- expected, + got):"
    diff -u "$tmp/expected" "$tmp/stdout" | tail -n +3
    fail=1
fi

if [ -n "$expect_status" ]; then
    if [ "$status" -ne "$expect_status" ]; then
        echo "FAIL: exit status $status, expected $expect_status"
        fail=1
    fi
else
    # 33/35/37 are what the guests write to debug-exit themselves (0x10/0x11/0x12): seeing one means the fault
    # was not caught. >= 125 is timeout's or the shell's own failure, or vmm killed by a signal.
    case "$status" in
    0 | 33 | 35 | 37)
        echo "FAIL: exit status $status, expected vmm to report a fault"
        fail=1 ;;
    *)
        if [ "$status" -ge 125 ]; then
            echo "FAIL: exit status $status: vmm crashed or could not be run"
            fail=1
        fi ;;
    esac
    if ! grep -Eqi -- "$fault_re" "$tmp/stderr"; then
        echo "FAIL: stderr does not match /$fault_re/ (case-insensitive)"
        fail=1
    fi
fi

if [ "$fail" -ne 0 ]; then
    show
    exit 1
fi
echo "PASS"
exit 0
