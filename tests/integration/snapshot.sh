#!/bin/sh
# snapshot.sh: saved state end to end, on real KVM and real LMDB files. One case per run:
#   continue  a counting guest is paused and saved through the control socket, vmm is killed with SIGKILL, and a
#             new vmm restored from the snapshot prints exactly the rest of an uninterrupted run's output
#   chain     three snapshots of one run (a full one, then two incremental ones from the dirty-page log):
#             restoring each continues exactly from its own point
#   pio       (COUNTER_ELF is pio_sequence.elf) three snapshots of a guest that does nothing but read a port
#             whose device counts the reads: each restores without repeating or losing the read it was paused at
#   kvmclock  (COUNTER_ELF is kvmclock_page.elf) saved with kvmclock on: the rest of the clock's page survives
#             every restore mode
#   dedup     two runs save full snapshots into one database: the second adds few new pages
#   kill      vmm is killed with SIGKILL in the middle of saving a large snapshot: the earlier snapshot stays
#             listed and restorable, the interrupted one is absent
#   syscall   (COUNTER_ELF is long_syscall_entry.elf) saved after the guest kernel set LSTAR and before its
#             ring-3 syscalls: the restored run's syscalls reach the kernel's handler (on kvm_pvm that needs the
#             guest's LSTAR, kept by x86-raw, in the snapshot)
#   timer     (COUNTER_ELF is long_tsc_deadline.elf) saved while the guest waits in hlt for its TSC deadline:
#             the restored guest's timer fires and it ticks on (x86-raw re-arms the deadline it keeps with
#             timer-slack, or KVM restores its own)
#   badinput  missing database, unknown snapshot, other RAM size, other architecture, a device missing or added,
#             a device configured differently, a newer unit version, a truncated and a corrupted database:
#             each is one clear line on stderr, a non-zero exit, and no guest output
# usage: snapshot.sh CASE VMM COUNTER_ELF PROBE_SO TEST_PLUGIN_DIR
set -u
case_=$1 vmm=$2 guest=$3 probe=$4 tplugins=$5

. "$(dirname "$0")/../lib.sh"
need_kvm
db=$tmp/db
sock=$tmp/ctl.sock

# params LIMIT DELAY FILL_MIB (lib.sh): the counter guest's parameter block.

# start ARGS...: vmm in the background with a control socket, ready (lib.sh's vmm_start).
start() {
    vmm_start --arch x86-raw "$@"
}

# restore NAME OUT [ARGS]: restore in a new process, to the end of the guest's output.
restore() {
    name=$1 out=$2
    shift 2
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --restore "$db:$name" "$@" </dev/null >"$out" 2>"$tmp/restore.err"
    status=$?
    [ "$status" -eq 33 ] || fail "restoring $name ended with status $status: $(tail -n1 "$out") $(cat "$tmp/restore.err")"
}

full_run() {
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 \
        --device debug-exit </dev/null >"$tmp/full.out" 2>/dev/null
    [ $? -eq 33 ] || fail "the uninterrupted run did not finish"
}

guest_args() {
    echo "--image $guest --image $tmp/params.bin@0x200000 --device uart16550 --device debug-exit --state $db"
}

case $case_ in
syscall)
    params 10000000000 0 0 # about 6 s here: time to pause and save after "ring 3 waits"
    start --image "$guest" --image "$tmp/params.bin@0x200000" --device uart16550 --device debug-exit --state "$db"
    wait_for "ring 3 waits"
    ctl pause
    ctl save s1
    settled_output >"$tmp/before.out"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    grep -q "syscall 1" "$tmp/before.out" && fail "the guest made its syscalls before the save; wait longer"
    restore s1 "$tmp/after.out"
    printf 'syscall 1 returned with sysretq\nsyscall 2 returned with iretq\nsyscall 3 returned with sysretq\nsyscall 4 returned with iretq\njumping to the syscall trap address\n#PF 0x14 at the trap address\n' >"$tmp/expected.out"
    cmp -s "$tmp/after.out" "$tmp/expected.out" || fail "the restored guest printed: $(cat "$tmp/after.out")"
    echo "ok: syscalls after the restore reached the kernel's handler"
    ;;
timer)
    # 200 more deadlines after the guest's own checks: ~4 s with timer-slack=20ms, "tick N" every 10; scaled
    # where everything is slower (nested), so the guest is still ticking when the pause comes.
    ticks=$((200 * ${VMM_TEST_TIME_SCALE:-1}))
    python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<Q', $ticks))" >"$tmp/ticks.bin"
    # x86-raw keeps the timer (timer-slack) on every host: KVM's own does not fire for this guest on some
    # (timer_slack.sh), and this case is about the deadline x86-raw saves and re-arms.
    start --arch x86-raw,timer-slack=20ms --image "$guest" --image "$tmp/ticks.bin@0x300000" --device uart16550 \
        --device debug-exit --state "$db"
    wait_for "tick 3"
    ctl pause
    ctl save s1
    settled_output >"$tmp/before.out"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    last=$(grep -c '^tick' "$tmp/before.out")
    # Halted in hlt, the guest only goes on if its armed deadline fires in the new process. The pause may come
    # in the middle of a line: the two runs' output joined must be every tick once, in order.
    restore s1 "$tmp/after.out"
    cat "$tmp/before.out" "$tmp/after.out" | grep '^tick' >"$tmp/joined.out"
    seq 1 $((ticks / 10)) | sed 's/^/tick /' >"$tmp/expected.out"
    cmp -s "$tmp/joined.out" "$tmp/expected.out" ||
        fail "after 'tick $last' the restored guest printed: $(head -n3 "$tmp/after.out")"
    tail -n1 "$tmp/after.out" | grep -q "^tick $((ticks / 10))\$" ||
        fail "the restored guest stopped at: $(tail -n1 "$tmp/after.out")"
    echo "ok: saved after tick $last; the restored guest ticked on from tick $((last + 1)) to $((ticks / 10))"
    ;;
continue)
    params 120 20000000 0
    full_run
    # shellcheck disable=SC2046
    start $(guest_args)
    wait_for "count 20"
    ctl pause
    ctl save s1
    settled_output >"$tmp/before.out"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    # Every restore mode: lazy (the default), on demand only, eager.
    for mode in lazy ondemand eager; do
        restore s1 "$tmp/after.out" --restore-mode "$mode" --stats
        cat "$tmp/before.out" "$tmp/after.out" >"$tmp/joined.out"
        cmp -s "$tmp/joined.out" "$tmp/full.out" || {
            echo "--- before the save (tail):"; tail -c 80 "$tmp/before.out"
            echo "--- after the restore (head):"; head -c 80 "$tmp/after.out"
            fail "$mode restore: output before the save + after the restore differs from an uninterrupted run"
        }
        if [ "$mode" = ondemand ]; then
            # The guest's own touches must have brought its pages in.
            grep -Eq "lazy restore: [1-9][0-9]* guest faults" "$tmp/restore.err" ||
                fail "on-demand restore served no guest faults: $(grep stats "$tmp/restore.err")"
        fi
        echo "$mode: $(grep -h "lazy restore" "$tmp/restore.err")"
    done
    ;;
chain)
    params 150 20000000 0
    full_run
    # shellcheck disable=SC2046
    start $(guest_args)
    n=0
    for at in 20 60 100; do
        n=$((n + 1))
        wait_for "count $at"
        ctl pause
        ctl save "s$n"
        settled_output >"$tmp/before$n.out"
        ctl resume
    done
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    "$vmm" snapshot info "$db" s2 | grep -q "parent: *s1" || fail "s2 is not incremental on top of s1"
    "$vmm" snapshot info "$db" s3 | grep -q "parent: *s2" || fail "s3 is not incremental on top of s2"
    for n in 1 2 3; do
        restore "s$n" "$tmp/after$n.out"
        cat "$tmp/before$n.out" "$tmp/after$n.out" | cmp -s - "$tmp/full.out" ||
            fail "restoring s$n does not continue exactly where it was saved"
    done
    ;;
pio)
    # (COUNTER_ELF is pio_sequence.elf) The guest does nothing but read test-probe's sequence port, so it is
    # almost always in a port exit when a pause comes. A save must hold the vCPU with that read finished (the
    # host driver stores the value only on its next run): otherwise the restored guest reads again and finds
    # the device one further on, a gap it reports as a mismatch. Once at CPL 3 and once at CPL 0 (where
    # software KVM's emulator performs the read).
    for cpl0 in 0 1; do
        python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<QQ', 40000, $cpl0))" >"$tmp/reads.bin"
        rm -rf "$db"
        start --image "$guest" --image "$tmp/reads.bin@0x200000" --device uart16550 --device debug-exit \
            --device "$probe" --state "$db"
        n=0
        for at in 4096 12288 20480; do
            n=$((n + 1))
            wait_for "read $at"
            ctl pause
            ctl save "s$n"
            ctl resume
        done
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        grep -q mismatch "$tmp/run.out" && fail "the saving run itself saw a gap: $(grep mismatch "$tmp/run.out")"
        for n in 1 2 3; do
            restore "s$n" "$tmp/after$n.out"
            grep -q mismatch "$tmp/after$n.out" && fail "restored s$n: $(grep mismatch "$tmp/after$n.out")"
            tail -n1 "$tmp/after$n.out" | grep -q '^sequence ok$' ||
                fail "restored s$n did not finish: $(tail -n2 "$tmp/after$n.out")"
            echo "ok: s$n (CPL $((cpl0 ? 0 : 3))) restored without losing or repeating a port read"
        done
    done
    ;;
kvmclock)
    # (COUNTER_ELF is kvmclock_page.elf) The guest's kvmclock structure sits inside a page of its own data. Setting
    # the MSR on restore makes the host map that page; it must get the saved page, in every restore mode.
    start --image "$guest" --device uart16550 --device debug-exit --state "$db"
    wait_for "tick 5"
    ctl pause
    ctl save s1
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    for mode in lazy ondemand eager; do
        restore s1 "$tmp/after.out" --restore-mode "$mode"
        tail -n1 "$tmp/after.out" | grep -q '^kvmclock ok$' || fail "$mode restore: $(tail -n1 "$tmp/after.out")"
        echo "ok: $mode restore kept the data around the kvmclock structure"
    done
    ;;
dedup)
    params 1000 20000000 0
    for n in 1 2; do
        # shellcheck disable=SC2046
        start $(guest_args)
        wait_for "count $((n * 10))"
        ctl save "s$n"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
    done
    mapped=$("$vmm" snapshot info "$db" s2 | sed -n 's/^pages mapped: *\([0-9]*\).*/\1/p')
    added=$("$vmm" snapshot info "$db" s2 | sed -n 's/^pages added: *\([0-9]*\).*/\1/p')
    [ -n "$mapped" ] && [ -n "$added" ] || fail "snapshot info does not show the page counts"
    echo "second full snapshot: $mapped pages mapped, $added new"
    [ "$mapped" -gt 0 ] && [ $((added * 2)) -lt "$mapped" ] || fail "the second snapshot shared too few pages"
    ;;
kill)
    params 100000 20000000 64
    # shellcheck disable=SC2046
    start --mem 256M $(guest_args)
    wait_for "count 2"
    ctl pause
    ctl save before
    settled_output >"$tmp/before.out"
    ctl resume
    # Kill during saves of growing age: each run's interrupted save must leave no trace.
    for delay in 0.05 0.15 0.3; do
        "$vmm" ctl "$sock" save "interrupted" >/dev/null 2>&1 &
        sleep "$delay"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        if "$vmm" snapshot info "$db" interrupted >/dev/null 2>&1; then
            # The save finished before the kill: remove it and kill sooner next time.
            "$vmm" snapshot rm "$db" interrupted >/dev/null || fail "cannot remove a finished save"
        fi
        "$vmm" snapshot ls "$db" >"$tmp/ls.out" 2>&1 || fail "the database does not open after a kill: $(cat "$tmp/ls.out")"
        grep -q "^before " "$tmp/ls.out" || fail "the earlier snapshot is gone after a kill during a save"
        # shellcheck disable=SC2046
        start --mem 256M $(guest_args)
        wait_for "count 1"
    done
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    # No timeout(1) here: it cannot pass SIGKILL on, and this vmm is killed below (the trap kills it on failure).
    "$vmm" run --restore "$db:before" --control "$sock" </dev/null >"$tmp/after.out" 2>"$tmp/restore.err" &
    rpid=$!
    pids="$pids $rpid"
    i=0
    until grep -q "^count [0-9]" "$tmp/after.out"; do  # the whole "count N", not a line cut short by the kill
        i=$((i + 1))
        [ $i -gt $((300 * ${VMM_TEST_TIME_SCALE:-1})) ] && fail "the earlier snapshot does not run after restore: $(cat "$tmp/restore.err")"
        sleep 0.02
    done
    kill -KILL "$rpid"
    wait "$rpid" 2>/dev/null
    first=$(sed -n 's/^\(count [0-9]*\).*/\1/p' "$tmp/after.out" | head -1)
    last_before=$(grep -o "count [0-9]*" "$tmp/before.out" | tail -1)
    [ -n "$first" ] || fail "no output after restore"
    echo "saved after '$last_before', restored run starts with '$first'"
    ;;
badinput)
    params 100000 20000000 0
    # shellcheck disable=SC2046
    start $(guest_args)
    ctl pause
    ctl save good
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    # expect_error STATUS PATTERN ARGS...: vmm exits non-zero (STATUS if given), one stderr line matches PATTERN,
    # and the guest printed nothing.
    expect_error() {
        want=$1 pattern=$2
        shift 2
        timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" "$@" </dev/null >"$tmp/bad.out" 2>"$tmp/bad.err"
        st=$?
        if [ "$st" -eq 0 ] || [ "$st" -ge 124 ] || { [ -n "$want" ] && [ "$st" -ne "$want" ]; }; then
            fail "vmm $* exited with $st; stderr: $(cat "$tmp/bad.err")"
        fi
        grep -Eq "$pattern" "$tmp/bad.err" || fail "vmm $*: stderr does not match /$pattern/: $(cat "$tmp/bad.err")"
        [ "$(wc -l <"$tmp/bad.err")" -le 2 ] || fail "vmm $*: more than a line or two of error: $(cat "$tmp/bad.err")"
        [ ! -s "$tmp/bad.out" ] || fail "vmm $*: the guest ran: $(cat "$tmp/bad.out")"
        echo "ok ($st): $(head -1 "$tmp/bad.err")"
    }
    expect_error 2 "$tmp/nodb.*No such file" run --restore "$tmp/nodb:good"
    expect_error 2 "no snapshot 'nosuch'" run --restore "$db:nosuch"
    expect_error 2 "saved with 64 MiB of RAM, --mem asks for 32 MiB" run --restore "$db:good" --mem 32M
    expect_error 2 "x86-raw VM, --arch asks for tp-good-arch" run --restore "$db:good" --arch tp-good-arch \
        --plugin-path "$tplugins"
    expect_error 1 "unit 'uart16550'.*no plugin of this VM registered" run --restore "$db:good" --device debug-exit
    expect_error 1 "no unit 'uart16550' instance 760" run --restore "$db:good" --device uart16550 \
        --device debug-exit --device uart16550,iobase=0x2f8,irq=3
    expect_error 1 "saved at port 0x3f8.*IRQ 4.*configured at port 0x3f8.*IRQ 3" run --restore "$db:good" \
        --device uart16550,irq=3 --device debug-exit
    expect_error 2 "drop --image" run --restore "$db:good" --image "$guest"

    # A unit saved by a newer version of a plugin than the one loading it.
    # shellcheck disable=SC2046
    start $(guest_args) --device "$probe,state_version=2"
    ctl pause
    ctl save newer
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    expect_error 1 "unit 'test-probe'.*saved version 2.*newer" run --restore "$db:newer" --device uart16550 \
        --device debug-exit --device "$probe"

    # A corrupted page: flip a byte of the guest's code as stored in the database.
    cp -r "$db" "$tmp/flipped"
    python3 - "$guest" "$tmp/flipped/data.mdb" <<'PY' || fail "could not find the guest's code in the database"
import sys
elf = open(sys.argv[1], "rb").read()
code = elf[0x1000:0x1040]          # the first bytes of .text, as linked at 0x100000
data = bytearray(open(sys.argv[2], "rb").read())
at = data.find(code)
if at < 0:
    sys.exit(1)
data[at + 5] ^= 0x40
open(sys.argv[2], "wb").write(data)
PY
    expect_error 1 "corrupt" run --restore "$tmp/flipped:good" --restore-mode eager
    # Lazily, the corrupt page is found while the guest runs: the VM stops with the error and status 1.
    timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --restore "$tmp/flipped:good" </dev/null >/dev/null 2>"$tmp/lazy.err"
    st=$?
    [ "$st" -eq 1 ] && grep -q "corrupt" "$tmp/lazy.err" ||
        fail "lazy restore of a corrupt snapshot: status $st, stderr: $(cat "$tmp/lazy.err")"
    # A truncated database file.
    cp -r "$db" "$tmp/truncated"
    size=$(stat -c %s "$tmp/truncated/data.mdb")
    truncate -s $((size / 3)) "$tmp/truncated/data.mdb"
    expect_error 2 "truncated|corrupt|MDB_" run --restore "$tmp/truncated:good"
    expect_error 2 "truncated|corrupt|MDB_" snapshot ls "$tmp/truncated"
    ;;
*)
    echo "unknown case $case_"
    exit 99
    ;;
esac
echo PASS
