#!/bin/sh
# control.sh: the control socket (--control) facing clients that misbehave, against a running x86 guest under KVM.
# One case per run:
#   hangup  clients that send a request and close without reading the reply, and `vmm ctl` killed by timeout(1):
#           vmm neither dies of SIGPIPE nor stops answering the next client
#   names   snapshot names: 63 bytes is the limit, longer ones are refused (JSON error on the socket, one line and
#           exit 2 from ctl save, snapshot info/rm and --restore) and nothing is stored; JSON string escapes are
#           decoded (\uXXXX and surrogate pairs to UTF-8), malformed ones refused; control characters are refused
#           on both ends
#   flood   100 `vmm ctl status` at once while a save runs, beside clients that hang (nothing sent, half a line),
#           send binary garbage, a line longer than the limit, or close early: every status client gets one
#           well-formed reply, the over-long line gets an error and is closed, the guest keeps running and the
#           snapshot restores
# usage: control.sh CASE VMM COUNTER_ELF
set -u
case_=$1 vmm=$2 guest=$3

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
scale=${VMM_TEST_TIME_SCALE:-1}
tmp=$(mktemp -d) || exit 99
pids=""
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$tmp/run.err" ] && echo "vmm's stderr: $(tail -n 5 "$tmp/run.err")"
    exit 1
}
db=$tmp/db
sock=$tmp/ctl.sock

# params LIMIT DELAY FILL_MIB: the counter guest's parameter block.
params() {
    python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<QQQ', $1, $2, $3))" >"$tmp/params.bin"
}

# start ARGS...: the counter guest in the background with a control socket and a state database; waits until the
# socket answers.
start() {
    rm -f "$sock"
    "$vmm" run --arch x86-raw --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 \
        --device debug-exit --state "$db" --control "$sock" "$@" </dev/null >"$tmp/run.out" 2>"$tmp/run.err" &
    pid=$!
    pids="$pids $pid"
    i=0
    until "$vmm" ctl "$sock" status >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt $((100 * scale)) ] && fail "vmm did not open its control socket"
        sleep 0.05
    done
}

# alive: vmm still runs and answers status.
alive() {
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; fail "vmm is gone (exit status $?) $1"; }
    "$vmm" ctl "$sock" status >"$tmp/status.out" 2>&1 || fail "vmm does not answer status $1: $(cat "$tmp/status.out")"
    grep -q '"state":"running"' "$tmp/status.out" || fail "the guest is not running $1: $(cat "$tmp/status.out")"
}

# The number in the guest's last complete "count N" line.
last_count() {
    grep -o '^count [0-9]*' "$tmp/run.out" | tail -n1 | cut -d' ' -f2
}

# rawctl LINE...: send each LINE (JSON, as given) on one connection; print each reply line.
rawctl() {
    python3 - "$sock" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rb")
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
    sys.stdout.write(f.readline().decode())
PY
}

case $case_ in
hangup)
    params 100000000 20000000 0
    start
    # Each client is gone before vmm writes its reply, so the write meets a closed socket. A vmm killed by it
    # refuses the next connections: alive below reports its exit status.
    python3 - "$sock" 2>/dev/null <<'PY'
import socket, sys
for i in range(50):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"status"}\n' * 3)
    s.close()
PY
    sleep 0.2
    alive "after 50 clients hung up before their replies"
    for i in 1 2 3 4 5; do
        timeout 0.01 "$vmm" ctl "$sock" status >/dev/null 2>&1
    done
    sleep 0.2
    alive "after vmm ctl was killed by timeout(1)"
    echo "ok: vmm survived 50 clients that hung up and 5 killed vmm ctl, and answers"
    ;;
*)
    echo "unknown case $case_"
    exit 99
    ;;
esac
echo PASS
