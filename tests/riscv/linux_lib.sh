# linux_lib.sh: what the riscv64 Linux guest tests share (linux_snapshot.sh, linux_rootfs.sh,
# linux_disk_snapshot.sh), sourced after tests/lib.sh: the e2fsprogs check, the cached guest, the console's input
# as a FIFO on descriptor 3 (open across every vmm process of a test, as a terminal would be), waiting for the
# guest's output and typing into it. The caller sets $pid to the vmm it waits on.

# rv_linux_setup GET_RISCV_GUEST TOOL...: skip (77) when a TOOL of e2fsprogs is missing or the guest cannot be
# built; sets guest to the guest's directory and opens $tmp/in on descriptor 3.
rv_linux_setup() {
    getguest_=$1
    shift
    PATH=$PATH:/usr/sbin:/sbin
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not installed (apt-get install e2fsprogs)"; exit 77; }
    done
    guest=$("$getguest_" 2>"$tmp/get.err") || { tail -n 20 "$tmp/get.err"
        echo "SKIP: the riscv64 Linux guest could not be built (scripts/get-riscv-guest failed; see above)"; exit 77; }
    mkfifo "$tmp/in" || fail "cannot make the console's FIFO"
    exec 3<>"$tmp/in"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# complete_lines OUT: OUT's lines that have ended (a guest's UART line comes in pieces, one per FIFO's worth, so
# the last line may still be growing).
complete_lines() {
    if [ -n "$(tail -c 1 "$1")" ]; then sed '$d' "$1"; else cat "$1"; fi | tr -d '\r'
}

# until_out TEXT OUT SECONDS: until TEXT (an extended regex) is on a complete line of OUT; fail after SECONDS
# (scaled) or if vmm ($pid) has gone.
until_out() {
    text=$1 out=$2 secs=$3 i=0
    until complete_lines "$out" | grep -Eq "$text"; do
        # vmm may have printed it and exited (poweroff) since the grep: look once more before failing.
        kill -0 "$pid" 2>/dev/null || tr -d '\r' <"$out" | grep -Eq "$text" ||
            fail "vmm exited before the guest printed /$text/: $(tail -n 5 "$out")"
        i=$((i + 1))
        [ $i -gt $((secs * 50 * scale)) ] && fail "the guest never printed /$text/: $(tail -n 5 "$out")"
        sleep 0.02
    done
}

# type_ WORDS...: one line on the guest's console.
type_() { printf '%s\n' "$*" >&3; }
