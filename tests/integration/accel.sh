#!/bin/sh
# accel.sh: choosing the execution engine (--accel), one case per run.
#   choose  (no KVM needed) `vmm plugins` lists each architecture's engines; riscv64 runs on inproc by default and
#           with --accel inproc, saying so at --log info; contradictory or impossible choices are refused with
#           exit 2 and a line naming both sides: an unknown engine, x86-raw on inproc, exec=inproc with --accel
#           kvm, exec=rc with --accel inproc, --accel outside `vmm run`.
#   kvm     (needs /dev/kvm) riscv64 --accel kvm runs on the kvm engine (exec=rc); an x86 snapshot records its
#           engine, and restoring it with --accel inproc is refused naming the snapshot's engine.
# usage: accel.sh CASE VMM RISCV_GUEST_ELF X86_COUNTER_ELF
set -u
case_=$1 vmm=$2 rv=$3 x86=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
rvrun="--arch riscv64 --mem 64M --kernel $rv --device uart16550,mmio=0x10000000 --device sifive-test"
t=$((60 * ${VMM_TEST_TIME_SCALE:-1}))

# expect STATUS TEXT ARGS...: vmm ARGS exits STATUS and TEXT is in its stderr (fixed string).
expect() {
    want=$1 text=$2
    shift 2
    timeout "$t" "$vmm" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
    [ "$st" -eq "$want" ] && grep -Fq -- "$text" "$tmp/err" ||
        fail "vmm $*: status $st (expected $want), stderr: $(cat "$tmp/err")"
    echo "ok ($st): vmm $*: $(grep -F -- "$text" "$tmp/err" | head -n1)"
}

case $case_ in
choose)
    "$vmm" plugins >"$tmp/plugins" 2>&1 || fail "vmm plugins: $(cat "$tmp/plugins")"
    grep -A1 '^riscv64 ' "$tmp/plugins" >/dev/null || fail "vmm plugins lists no riscv64"
    awk '/^riscv64 /{p=1;next} /^[^ ]/{p=0} p' "$tmp/plugins" | grep -q 'engines: inproc,kvm' ||
        fail "vmm plugins does not list riscv64's engines: $(cat "$tmp/plugins")"
    awk '/^x86-raw /{p=1;next} /^[^ ]/{p=0} p' "$tmp/plugins" | grep -q 'engines: kvm ' ||
        fail "vmm plugins does not list x86-raw's engines: $(cat "$tmp/plugins")"
    # shellcheck disable=SC2086
    expect 0 "engine inproc: the architecture's choice" run $rvrun --log info
    grep -q '^primes below 100000: 9592$' "$tmp/out" || fail "the default run printed: $(cat "$tmp/out")"
    # shellcheck disable=SC2086
    expect 0 "engine inproc: --accel" run $rvrun --accel inproc --log info
    grep -q '^primes below 100000: 9592$' "$tmp/out" || fail "the --accel inproc run printed: $(cat "$tmp/out")"
    # shellcheck disable=SC2086
    expect 2 "--accel bogus: use kvm or inproc" run $rvrun --accel bogus
    expect 2 "--accel inproc: --arch x86-raw does not run guests on the inproc engine (its engines: kvm)" \
        run --arch x86-raw --image "$x86" --accel inproc
    # shellcheck disable=SC2086
    expect 2 "exec=inproc and --accel kvm disagree" run $rvrun --exec inproc --accel kvm
    # shellcheck disable=SC2086
    expect 2 "exec=rc and --accel inproc disagree" run $rvrun --exec rc --accel inproc
    expect 2 "--accel applies to 'vmm run' only" plugins --accel kvm
    ;;
kvm)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available"
        exit 77
    fi
    # shellcheck disable=SC2086
    expect 0 "engine kvm: --accel" run $rvrun --accel kvm --log info
    grep -q '^primes below 100000: 9592$' "$tmp/out" || fail "the --accel kvm run printed: $(cat "$tmp/out")"
    # An x86 snapshot knows its engine; a restore onto another is refused before anything runs.
    sock=$tmp/ctl.sock db=$tmp/db
    "$vmm" run --arch x86-raw --image "$x86" --device uart16550 --device debug-exit --state "$db" --control "$sock" \
        </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    i=0
    until "$vmm" ctl "$sock" status >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt $((200 * ${VMM_TEST_TIME_SCALE:-1})) ] && { kill -9 $pid; fail "no control socket: $(cat "$tmp/run.err")"; }
        sleep 0.05
    done
    "$vmm" ctl "$sock" pause >/dev/null && "$vmm" ctl "$sock" save s1 >"$tmp/save" 2>&1 ||
        { kill -9 $pid; fail "save: $(cat "$tmp/save")"; }
    kill -9 $pid
    wait $pid 2>/dev/null
    "$vmm" snapshot info "$db" s1 >"$tmp/info" 2>&1 || fail "snapshot info: $(cat "$tmp/info")"
    grep -q 'engine kvm' "$tmp/info" || fail "snapshot info does not show the engine: $(cat "$tmp/info")"
    echo "ok: snapshot info shows: $(grep 'engine kvm' "$tmp/info")"
    expect 2 "snapshot 's1' was saved on the kvm engine, --accel asks for inproc" run --restore "$db:s1" --accel inproc
    ;;
*)
    echo "accel.sh: unknown case $case_" >&2
    exit 99
    ;;
esac
echo "ok"
