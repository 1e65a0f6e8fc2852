#!/bin/sh
# timer_slack.sh: the TSC-deadline guest (tests/guests/x86/long_tsc_deadline.S) under each timer keeper.
#  - timer-slack=20ms: x86-raw keeps the timer; the guest's SDM checks pass, --stats counts its 20 interrupts and
#    at least 19 held back (1 where the guest is slower than the slack), and the run takes at least 19 x 20 ms
#    (the interrupts cannot come closer than the slack);
#  - timer-slack=off: KVM keeps it; the same checks pass where KVM's own timer fires for this guest (not on
#    kvm_pvm, nor KVM nested in QEMU's TCG: there the run only shows nothing is intercepted);
#  - the default (auto) passes whichever keeper this host gets (skipped, with the reason, where it leaves the timer
#    to a KVM whose timer does not fire);
#  - a bad value is refused before the VM exists, naming the option and what it takes.
# usage: timer_slack.sh VMM GUEST_ELF
set -u
vmm=$1 guest=$2
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # run OPTS: sets out, err, status, ms
    t0=$(date +%s%N)
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "x86-raw$1" --image "$guest" --device uart16550 --device debug-exit --stats \
        < /dev/null > "$tmp/out" 2> "$tmp/err"
    status=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    out=$(cat "$tmp/out")
}
expect_ok() {
    if [ "$status" -ne 33 ] || [ "$out" != "tsc-deadline ok" ]; then
        echo "FAIL ($1): status $status, output: $out"; cat "$tmp/err"; exit 1
    fi
}

run ",timer-slack=20ms"
expect_ok "timer-slack=20ms"
line=$(grep 'TSC-deadline timer interrupts' "$tmp/err")
delivered=$(echo "$line" | sed -n 's/.*interrupts: \([0-9]*\) (\([0-9]*\) held back.*/\1/p')
held=$(echo "$line" | sed -n 's/.*interrupts: \([0-9]*\) (\([0-9]*\) held back.*/\2/p')
# Each deadline is 0.3 ms ahead, so every interrupt after the first is held back -- unless the guest itself takes
# longer than the slack to arm the next one, as it may nested in TCG (time scale > 1): there, at least one.
min_held=19
[ "${VMM_TEST_TIME_SCALE:-1}" -gt 1 ] && min_held=1
if [ "$delivered" != 20 ] || [ -z "$held" ] || [ "$held" -lt "$min_held" ]; then
    echo "FAIL: expected 20 interrupts delivered, >= $min_held held back: '$line'"; cat "$tmp/err"; exit 1
fi
if [ "$ms" -lt 380 ]; then
    echo "FAIL: 20 timer interrupts 20 ms apart came within $ms ms"; exit 1
fi
echo "timer-slack=20ms: $line; run took $ms ms"

for bad in 5s 0ms 2000ms -1ms fast; do
    run ",timer-slack=$bad"
    if [ "$status" -eq 0 ] || [ "$status" -eq 33 ] || [ "$status" -eq 124 ] ||
        ! grep -q "x86-raw: error: timer-slack '$bad': expected auto, off, or a time" "$tmp/err"; then
        echo "FAIL: timer-slack=$bad: status $status, stderr:"; cat "$tmp/err"; exit 1
    fi
done
echo "bad values refused: $(head -n1 "$tmp/err")"

# KVM keeping the timer (off). Its own TSC-deadline timer has been seen never to fire for this guest on two hosts,
# kvm_pvm and KVM nested in QEMU's TCG (docs/x86-raw.md); where it does not, the run can only show that nothing is
# intercepted, and the default (auto) passes only if it keeps the timer in x86-raw there.
timeout $((5 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw,timer-slack=off --image "$guest" \
    --device uart16550 --device debug-exit --stats </dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
out=$(cat "$tmp/out")
grep -q 'TSC-deadline timer: kept by the host driver' "$tmp/err" ||
    { echo "FAIL: off did not leave the timer to KVM"; cat "$tmp/err"; exit 1; }
kvm_fires=1
if [ "$status" -eq 124 ] && [ -z "$out" ]; then
    kvm_fires=0
    echo "timer-slack=off: left to KVM, whose timer does not fire for this guest on this host"
else
    expect_ok "timer-slack=off"
    echo "timer-slack=off: ok"
fi

# Where KVM's timer does not fire, a run left to it would only end at its time limit: the same bound as above.
if [ "$kvm_fires" = 0 ]; then
    timeout $((5 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --image "$guest" --device uart16550 \
        --device debug-exit --stats </dev/null >"$tmp/out" 2>"$tmp/err"
    status=$?
    out=$(cat "$tmp/out")
else
    run ""
fi
auto=$(grep 'TSC-deadline timer' "$tmp/err")
case "$auto" in
*"held back"*) ;;
*)
    if [ "$kvm_fires" = 0 ]; then
        echo "SKIP: timer-slack=auto leaves the timer to KVM on this host, and KVM's own TSC-deadline timer does not" \
            "fire here (x86-raw's keeper and the option's checks passed)"
        exit 77
    fi ;;
esac
expect_ok "timer-slack=auto"
echo "timer-slack=auto: $auto"
echo "ok"
