#!/bin/sh
# signals.sh: SIGINT/SIGTERM stop a running VM cleanly (exit status 128 + signal, the guest's output flushed, a
# message on stderr), and on a terminal vmm puts the terminal in raw mode and restores it on the way out.
#
# usage: signals.sh VMM GUEST (TERM | INT | tty)
#   GUEST is echo_irq.elf: it prints "echo ready" and halts waiting for interrupts, so the signal has to kick a
#   vCPU that sits halted inside KVM.
# Exits 77 (meson: skipped) when /dev/kvm cannot be opened.
set -u
vmm=$1 guest=$2 mode=$3

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

# Wait up to 20 s for the guest's greeting in FILE.
wait_ready() {
    i=0
    while ! grep -q "echo ready" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt $((200 * ${VMM_TEST_TIME_SCALE:-1})) ] && return 1
        sleep 0.1
    done
}

if [ "$mode" = tty ]; then
    if ! command -v script >/dev/null; then
        echo "SKIP: script(1) not installed"
        exit 77
    fi
    cat >"$tmp/inner.sh" <<INNER
before=\$(stty -g </dev/tty)
"$vmm" run --arch x86-raw --image "$guest" --device uart16550 </dev/tty >"$tmp/out" 2>"$tmp/err" &
pid=\$!
i=0
while ! grep -q "echo ready" "$tmp/out" 2>/dev/null && [ \$i -lt 200 ]; do i=\$((i + 1)); sleep 0.1; done
sleep 0.2
during=\$(stty -g </dev/tty)
kill -TERM \$pid
wait \$pid
echo \$? >"$tmp/status"
after=\$(stty -g </dev/tty)
[ "\$before" = "\$after" ] && echo same >"$tmp/restored" || echo "before \$before after \$after" >"$tmp/restored"
[ "\$before" != "\$during" ] && echo raw >"$tmp/raw" || echo cooked >"$tmp/raw"
INNER
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) script -qec "sh $tmp/inner.sh" /dev/null >/dev/null 2>&1
    status=$(cat "$tmp/status" 2>/dev/null)
    fail=0
    [ "$status" = 143 ] || { echo "FAIL: exit status '$status', expected 143"; fail=1; }
    [ "$(cat "$tmp/raw" 2>/dev/null)" = raw ] || { echo "FAIL: the terminal was not in raw mode while vmm ran"; fail=1; }
    [ "$(cat "$tmp/restored" 2>/dev/null)" = same ] || {
        echo "FAIL: terminal settings not restored: $(cat "$tmp/restored" 2>/dev/null)"; fail=1; }
    [ $fail -eq 0 ] || { echo "--- stderr:"; cat "$tmp/err" 2>/dev/null; exit 1; }
    echo PASS
    exit 0
fi

mkfifo "$tmp/stdin" || exit 99
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --image "$guest" --device uart16550 \
    <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/stdin"
if ! wait_ready "$tmp/out"; then
    echo "FAIL: the guest never printed its greeting"
    kill -KILL $pid 2>/dev/null
    exit 1
fi
# timeout(1) forwards the signal to vmm.
kill "-$mode" $pid
wait $pid
status=$?
exec 3>&-
case $mode in TERM) want=143 ;; INT) want=130 ;; *) echo "bad mode $mode"; exit 99 ;; esac
fail=0
[ "$status" -eq "$want" ] || { echo "FAIL: exit status $status, expected $want"; fail=1; }
grep -q "SIG$mode received" "$tmp/err" || { echo "FAIL: stderr does not say SIG$mode was received"; fail=1; }
[ "$(cat "$tmp/out")" = "echo ready" ] || { echo "FAIL: stdout is not exactly the greeting"; fail=1; }
[ $fail -eq 0 ] || { echo "--- stdout:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"; exit 1; }
echo PASS
