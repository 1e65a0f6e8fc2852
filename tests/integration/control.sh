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
#           send binary garbage, a line longer than the limit, requests without reading replies, or close early:
#           every status client gets one well-formed reply, the over-long line gets an error and is closed, the
#           deaf client is dropped, the guest keeps running and the snapshot restores; then 300 clients at once:
#           those past 256 are told so
# usage: control.sh CASE VMM COUNTER_ELF
set -u
case_=$1 vmm=$2 guest=$3

. "$(dirname "$0")/../lib.sh"
need_kvm
db=$tmp/db
sock=$tmp/ctl.sock

# params LIMIT DELAY FILL_MIB (lib.sh): the counter guest's parameter block.

# start ARGS...: the counter guest in the background with a control socket and a state database; waits until the
# socket answers.
start() {
    vmm_start --arch x86-raw --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 \
        --device debug-exit --state "$db" "$@"
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
    # Not scaled by VMM_TEST_TIME_SCALE: the point is to kill the client before it reads its reply.
    for i in 1 2 3 4 5; do
        timeout 0.01 "$vmm" ctl "$sock" status >/dev/null 2>&1
    done
    sleep 0.2
    alive "after vmm ctl was killed by timeout(1)"
    echo "ok: vmm survived 50 clients that hung up and 5 killed vmm ctl, and answers"
    ;;
names)
    params 100000000 20000000 0
    start
    long=$(printf 'n%.0s' $(seq 64))
    max=$(printf 'm%.0s' $(seq 63))
    # expect_reply REQUEST PATTERN: the socket's one-line reply to REQUEST (raw JSON) matches PATTERN.
    expect_reply() {
        reply=$(rawctl "$1") || fail "no reply to $1"
        printf '%s\n' "$reply" | grep -Eq "$2" || fail "$1: the reply does not match /$2/: $reply"
        printf 'ok: %s -> %s\n' "$(printf '%s' "$1" | cut -c1-60)" "$(printf '%s' "$reply" | cut -c1-140)"
    }
    expect_reply "{\"cmd\":\"save\",\"name\":\"$long\"}" \
        "^\{\"ok\":false,\"error\":\"snapshot name '$long' is too long: 64 bytes, at most 63\"\}\$"
    expect_reply "{\"cmd\":\"save\",\"name\":\"$long$long$long\"}" "too long: 192 bytes, at most 63"
    expect_reply "{\"cmd\":\"save\",\"name\":\"$max\"}" "^\{\"ok\":true,\"saved\":\"$max\"\}\$"
    # JSON escapes are decoded: UTF-8 from \u, a surrogate pair, the short escapes.
    expect_reply '{"cmd":"save","name":"\u00e9t\u00e9"}' '^\{"ok":true,"saved":"été"\}$'
    expect_reply '{ "cmd" : "save" , "name" : "smile\ud83d\ude00" }' '^\{"ok":true,"saved":"smile😀"\}$'
    expect_reply '{"cmd":"save","name":"q\"\\x"}' '^\{"ok":true,"saved":"q\\"\\\\x"\}$'
    # A control character is refused however it is written (what vmm ctl once turned into "tabu0009x").
    expect_reply '{"cmd":"save","name":"tab\tx"}' "snapshot name 'tab..x09x' has a control character"
    expect_reply '{"cmd":"save","name":"tab\u0009x"}' "snapshot name 'tab..x09x' has a control character"
    expect_reply "$(printf '{"cmd":"save","name":"raw\ttab"}')" '"bad request: a control character in a string must be escaped"'
    for bad in 'x\u0000y' 'x\q' 'x\u12' 'x\udc00' 'x\ud800y' 'x\ud800\u0041'; do
        expect_reply "{\"cmd\":\"save\",\"name\":\"$bad\"}" '^\{"ok":false,"error":"bad request: [^"]'
    done
    expect_reply '{"cmd":"save","name":""}' '"error":"a snapshot name cannot be empty"'
    expect_reply '{"cmd":"save","name":5}' '"error":"bad request: every value in a request is a string"'
    "$vmm" snapshot ls "$db" >"$tmp/ls.out" 2>&1 || fail "snapshot ls: $(cat "$tmp/ls.out")"
    [ "$(grep -c . "$tmp/ls.out")" -eq 5 ] || fail "snapshot ls shows other than the 4 names saved: $(cat "$tmp/ls.out")"
    for n in "$max" été "smile😀" 'q"\x'; do
        "$vmm" snapshot info "$db" "$n" >/dev/null 2>&1 || fail "snapshot '$n' cannot be found: $(cat "$tmp/ls.out")"
    done
    grep -q "tab" "$tmp/ls.out" && fail "a name with a control character was stored: $(cat "$tmp/ls.out")"

    # The command line refuses the same names, before doing anything: one line, exit 2.
    # expect_cli PATTERN ARGS...
    expect_cli() {
        pattern=$1
        shift
        timeout $((30 * scale)) "$vmm" "$@" </dev/null >"$tmp/cli.out" 2>"$tmp/cli.err"
        st=$?
        [ "$st" -eq 2 ] || fail "vmm $*: exit status $st, not 2; stderr: $(cat "$tmp/cli.err")"
        [ "$(wc -l <"$tmp/cli.err")" -eq 1 ] || fail "vmm $*: not one line of error: $(cat "$tmp/cli.err")"
        grep -Eq "$pattern" "$tmp/cli.err" || fail "vmm $*: stderr does not match /$pattern/: $(cat "$tmp/cli.err")"
        [ ! -s "$tmp/cli.out" ] || fail "vmm $*: printed $(cat "$tmp/cli.out")"
        printf 'ok: vmm %s... -> %s\n' "$(printf '%s' "$*" | cut -c1-50)" "$(cat "$tmp/cli.err")"
    }
    toolong="snapshot name '$long' is too long: 64 bytes, at most 63"
    expect_cli "^vmm ctl: save: $toolong\$" ctl "$sock" save "$long"
    expect_cli "^vmm: snapshot info: $toolong\$" snapshot info "$db" "$long"
    expect_cli "^vmm: snapshot rm: $toolong\$" snapshot rm "$db" "$long"
    expect_cli "^vmm: --restore: $toolong\$" run --restore "$db:$long"
    expect_cli "snapshot name 'tab.x09x' has a control character \(0x09\)" ctl "$sock" save "$(printf 'tab\tx')"
    expect_cli "snapshot name 'a.x0ab' has a control character \(0x0a\)" snapshot rm "$db" "$(printf 'a\nb')"
    expect_cli "snapshot name 'a/b' has '/'" snapshot info "$db" a/b
    # A request the client cannot send whole is refused, not cut short.
    expect_cli "^vmm ctl: the command is too long \(at most 64 bytes\)\$" ctl "$sock" "$long$long"
    "$vmm" snapshot ls "$db" | cmp -s - "$tmp/ls.out" || fail "the refused names changed the database"
    alive "after the bad names"
    "$vmm" ctl "$sock" quit >/dev/null
    wait "$pid"
    "$vmm" run --restore "$db:$max" --control "$sock" </dev/null >"$tmp/restore.out" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    until grep -q "^count [0-9]" "$tmp/restore.out"; do
        i=$((i + 1))
        [ $i -gt $((300 * scale)) ] && fail "the snapshot with a 63-byte name does not restore: $(cat "$tmp/restore.out")"
        sleep 0.02
    done
    echo "ok: the snapshot with a 63-byte name restores"
    ;;
flood)
    params 100000000 20000000 64
    start --mem 256M --log info
    i=0
    until [ -n "$(last_count)" ]; do
        i=$((i + 1))
        [ $i -gt $((300 * scale)) ] && fail "the guest never counted"
        sleep 0.02
    done
    # Clients that misbehave, held open through the flood below; results in $tmp/hostile.out.
    python3 - "$sock" "$tmp" <<'PY' >"$tmp/hostile.out" 2>&1 &
import os, random, socket, sys, time
path, tmp = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s
held = [conn() for _ in range(5)]                # connect and send nothing
for _ in range(5):                               # half a line, then nothing
    s = conn()
    s.sendall(b'{"cmd":"sta')
    held.append(s)
rng = random.Random(16)
for _ in range(3):                               # binary garbage, NUL bytes and newlines included
    s = conn()
    s.sendall(bytes(rng.randrange(256) for _ in range(3000)) + b"\n\0\n")
    held.append(s)
for _ in range(10):                              # a request, then gone before the reply
    s = conn()
    s.sendall(b'{"cmd":"status"}\n')
    s.close()
deaf = conn()                                    # requests without ever reading a reply
deaf.settimeout(5)
try:
    for _ in range(20000):
        deaf.sendall(b'{"cmd":"status"}\n')
except OSError:
    pass                                         # vmm dropped it: that is the point
deaf.settimeout(30)
got = b""
try:
    while True:
        chunk = deaf.recv(65536)
        if not chunk:
            break
        got += chunk
except ConnectionResetError:
    pass
except socket.timeout:
    got = None
print("deaf client dropped:", got is not None and got.count(b"\n") < 20000,
      "after", "no" if got is None else got.count(b"\n"), "replies")
longline = conn()                                # a line longer than the limit, never ended
longline.settimeout(30)
longline.sendall(b"x" * 5000)
open(os.path.join(tmp, "hostile.ready"), "w").close()
reply = longline.makefile("rb").readline()
try:
    eof = longline.recv(1) == b""
except ConnectionResetError:
    eof = True                                   # closed with the rest of the line unread
print("long line reply:", reply.decode(errors="replace").strip())
print("long line closed:", eof)
while not os.path.exists(os.path.join(tmp, "hostile.done")):
    time.sleep(0.05)
for s in held:
    s.close()
print("hostile done")
PY
    hostile=$!
    pids="$pids $hostile"
    i=0
    until [ -f "$tmp/hostile.ready" ]; do
        i=$((i + 1))
        [ $i -gt $((200 * scale)) ] && fail "the misbehaving clients did not get going: $(cat "$tmp/hostile.out")"
        sleep 0.05
    done
    before=$(last_count)
    timeout $((120 * scale)) "$vmm" ctl "$sock" save flood >"$tmp/save.out" 2>&1 &
    saver=$!
    clients=""
    n=0
    while [ $n -lt 100 ]; do
        n=$((n + 1))
        timeout $((120 * scale)) "$vmm" ctl "$sock" status >"$tmp/status.$n" 2>&1 &
        clients="$clients $!"
    done
    wait "$saver" || fail "the save failed: $(cat "$tmp/save.out")"
    grep -qx '{"ok":true,"saved":"flood"}' "$tmp/save.out" || fail "the save answered: $(cat "$tmp/save.out")"
    bad=0
    for c in $clients; do
        wait "$c" || bad=$((bad + 1))
    done
    # Every status reply is exactly one JSON object saying ok, with the VM's state.
    python3 - "$tmp" <<'PY' || fail "not every status client got a well-formed reply"
import json, os, sys
bad = []
for n in range(1, 101):
    text = open(os.path.join(sys.argv[1], f"status.{n}"), "rb").read().decode(errors="replace")
    try:
        lines = text.splitlines()
        r = json.loads(lines[0]) if len(lines) == 1 else None
        ok = r is not None and r.get("ok") is True and r.get("state") in ("running", "paused") and r.get("vcpus") == 1
    except ValueError:
        ok = False
    if not ok:
        bad.append(f"client {n}: {text!r}")
print("\n".join(bad[:5]) if bad else "ok: 100 status clients each got one well-formed reply")
sys.exit(1 if bad else 0)
PY
    [ $bad -eq 0 ] || fail "$bad status clients exited non-zero"
    grep -i "saved snapshot" "$tmp/run.err" | tail -n1
    alive "after the flood"
    touch "$tmp/hostile.done"
    wait "$hostile"
    grep -q "^long line reply: .*\"bad request: a request line is longer than 4095 bytes; closing the connection\"" \
        "$tmp/hostile.out" || fail "the over-long line got no error: $(cat "$tmp/hostile.out")"
    grep -q "^long line closed: True" "$tmp/hostile.out" || fail "the over-long line's client was not closed: $(cat "$tmp/hostile.out")"
    grep -q "^deaf client dropped: True" "$tmp/hostile.out" ||
        fail "a client that reads no replies was not dropped: $(cat "$tmp/hostile.out")"
    grep -q "^hostile done" "$tmp/hostile.out" || fail "the misbehaving clients failed: $(cat "$tmp/hostile.out")"
    echo "ok: $(grep "^long line reply" "$tmp/hostile.out")"
    echo "ok: $(grep "^deaf" "$tmp/hostile.out")"
    # The guest ran on through all of it.
    i=0
    until [ "$(last_count)" -gt "$((before + 2))" ]; do
        i=$((i + 1))
        [ $i -gt $((300 * scale)) ] && fail "the guest stopped counting at $(last_count) (it was at $before before the flood)"
        sleep 0.02
    done
    echo "ok: the guest counted from $before to $(last_count) through the flood"

    # Past the limit of clients at once, more are told so and closed; once they go, the socket answers again.
    python3 - "$sock" <<'PY' || fail "the limit of clients at once does not hold"
import socket, sys
socks, refused = [], 0
for _ in range(300):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
for s in socks[256:]:
    s.settimeout(10)
    line = s.makefile("rb").readline().decode()
    if line == '{"ok":false,"error":"too many control clients (256 connected); try again later"}\n':
        refused += 1
for s in socks:
    s.close()
print(f"ok: {refused} of the last 44 of 300 clients at once were refused")
sys.exit(0 if refused > 0 else 1)
PY
    sleep 0.2
    alive "after 300 clients at once"

    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    "$vmm" run --restore "$db:flood" </dev/null >"$tmp/restore.out" 2>"$tmp/restore.err" &
    pid=$!
    pids="$pids $pid"
    i=0
    until [ "$(grep -c '^count [0-9]' "$tmp/restore.out")" -ge 2 ]; do
        i=$((i + 1))
        [ $i -gt $((300 * scale)) ] && fail "the snapshot saved during the flood does not run: $(cat "$tmp/restore.err")"
        sleep 0.02
    done
    echo "ok: the snapshot saved during the flood restores: $(grep '^count' "$tmp/restore.out" | head -n1)"
    ;;
*)
    echo "unknown case $case_"
    exit 99
    ;;
esac
echo PASS
