#!/bin/sh
# snapshot_db.sh: vmm against state databases it did not write, one case per run; no VM starts, so no KVM needed.
#   readonly  `snapshot ls` and `snapshot info` only read: a good database is listed and left as it was; a missing
#             database, a directory without data.mdb, an empty (0-byte) data.mdb and a file that is not LMDB's are
#             each one line naming the database and what is wrong, exit 2, and data.mdb keeps its size, contents
#             and mtime (nothing created where there was nothing). `snapshot rm` and `run --restore` refuse an empty
#             data.mdb the same way rather than making a new database in it.
#   config    a snapshot whose stored configuration is not one vmm would write (RAM size, vCPU count, no
#             architecture, an empty device name): restoring it is refused, naming the snapshot and its stored
#             value, never an option the user did not type
# usage: snapshot_db.sh CASE VMM SS_CRAFT
set -u
case_=$1 vmm=$2 craft=$3
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
limit=$((30 * ${VMM_TEST_TIME_SCALE:-1}))

# expect STATUS PATTERN ARGS...: vmm exits with STATUS, stderr is one line matching PATTERN (ERE).
expect() {
    want=$1 pattern=$2
    shift 2
    timeout $limit "$vmm" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
    [ "$st" -eq "$want" ] || fail "vmm $*: exit $st, expected $want; stderr: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "vmm $*: not one line on stderr: $(cat "$tmp/err")"
    grep -Eq -- "$pattern" "$tmp/err" || fail "vmm $*: stderr does not match /$pattern/: $(cat "$tmp/err")"
    echo "ok ($st): $(cat "$tmp/err")"
}

# fingerprint FILE: size, mtime (ns) and contents, or "absent".
fingerprint() {
    if [ -e "$1" ]; then
        echo "$(stat -c '%s %y' "$1") $(sha256sum <"$1")"
    else
        echo absent
    fi
}

# unchanged DIR ARGS...: run `expect ARGS...` and check that DIR/data.mdb and DIR itself gained nothing.
unchanged() {
    d=$1
    shift
    before=$(fingerprint "$d/data.mdb")
    sleep 0.01 # an mtime rewritten in the same tick would look unchanged
    expect "$@"
    after=$(fingerprint "$d/data.mdb")
    [ "$before" = "$after" ] || fail "vmm $*: data.mdb changed: $before -> $after"
}

case $case_ in
readonly)
    db=$tmp/good
    "$craft" "$db" one || fail "ss_craft could not write a snapshot"
    before=$(fingerprint "$db/data.mdb")
    sleep 0.01
    timeout $limit "$vmm" snapshot ls "$db" >"$tmp/out" 2>"$tmp/err" || fail "snapshot ls of a good database: $(cat "$tmp/err")"
    grep -q '^one ' "$tmp/out" || fail "snapshot ls does not list 'one': $(cat "$tmp/out")"
    timeout $limit "$vmm" snapshot info "$db" one >"$tmp/out" 2>"$tmp/err" || fail "snapshot info: $(cat "$tmp/err")"
    grep -q '^name: *one$' "$tmp/out" || fail "snapshot info does not show 'one': $(cat "$tmp/out")"
    [ "$(fingerprint "$db/data.mdb")" = "$before" ] || fail "ls/info changed a good data.mdb"
    echo "ok: a good database is listed and left as it was"

    unchanged "$tmp/nodb" 2 "state database $tmp/nodb: No such file" snapshot ls "$tmp/nodb"
    [ ! -e "$tmp/nodb" ] || fail "snapshot ls created $tmp/nodb"
    mkdir "$tmp/nodata"
    unchanged "$tmp/nodata" 2 "state database $tmp/nodata: .*data.mdb is missing" snapshot ls "$tmp/nodata"
    unchanged "$tmp/nodata" 2 "state database $tmp/nodata: .*data.mdb is missing" snapshot info "$tmp/nodata" one
    [ -z "$(ls "$tmp/nodata")" ] || fail "snapshot ls/info created files in an empty directory: $(ls "$tmp/nodata")"

    mkdir "$tmp/empty"
    : >"$tmp/empty/data.mdb"
    for cmd in "snapshot ls $tmp/empty" "snapshot info $tmp/empty one" "snapshot rm $tmp/empty one"; do
        # shellcheck disable=SC2086
        unchanged "$tmp/empty" 2 "state database $tmp/empty: data.mdb is empty \(0 bytes\)" $cmd
    done
    unchanged "$tmp/empty" 2 "state database $tmp/empty: data.mdb is empty \(0 bytes\)" run --restore "$tmp/empty:one"

    mkdir "$tmp/text"
    python3 -c "import sys; sys.stdout.write('not a database\n' * 1000)" >"$tmp/text/data.mdb"
    unchanged "$tmp/text" 2 "state database $tmp/text: data.mdb is not an LMDB database" snapshot ls "$tmp/text"
    unchanged "$tmp/text" 2 "state database $tmp/text: data.mdb is not an LMDB database" snapshot info "$tmp/text" one
    ;;
config)
    db=$tmp/db
    good="arch x86-raw|mem 67108864|cpus 1|device uart16550"
    "$craft" "$db" ram4097 ram=4097 "config=$good" || fail "ss_craft"
    "$craft" "$db" ram0 ram=0 "config=$good" || fail "ss_craft"
    "$craft" "$db" cpus0 cpus=0 "config=$good" || fail "ss_craft"
    "$craft" "$db" cpus2000 cpus=2000 "config=$good" || fail "ss_craft"
    "$craft" "$db" noarch "config=mem 67108864|cpus 1|device uart16550" || fail "ss_craft"
    "$craft" "$db" emptyarch "config=arch |device uart16550" || fail "ss_craft"
    "$craft" "$db" emptydev "config=arch x86-raw|device ,irq=3" || fail "ss_craft"
    "$craft" "$db" nosucharch "config=arch tp-nonexistent|device uart16550" || fail "ss_craft"
    expect 2 "snapshot 'ram4097': its RAM size 4097 is not" run --restore "$db:ram4097"
    expect 2 "snapshot 'ram0': its RAM size 0 is not" run --restore "$db:ram0"
    expect 2 "snapshot 'cpus0': its vCPU count 0 is not" run --restore "$db:cpus0"
    expect 2 "snapshot 'cpus2000': its vCPU count 2000 is not" run --restore "$db:cpus2000"
    expect 2 "snapshot 'noarch': its configuration names no architecture" run --restore "$db:noarch"
    expect 2 "snapshot 'emptyarch': its configuration names no architecture" run --restore "$db:emptyarch"
    expect 2 "snapshot 'emptydev': its configuration has a device without a name" run --restore "$db:emptydev"
    expect 2 "snapshot 'nosucharch': its architecture 'tp-nonexistent' has no plugin" run --restore "$db:nosucharch"
    # None of them names an option of the command line.
    for n in ram4097 ram0 cpus0 cpus2000 noarch emptyarch emptydev nosucharch; do
        timeout $limit "$vmm" run --restore "$db:$n" </dev/null >/dev/null 2>"$tmp/err"
        ! grep -Eq -- "--(mem|arch|cpus|device)\b" "$tmp/err" || fail "restoring $n names an option: $(cat "$tmp/err")"
    done
    echo "ok: no message names an option the user did not type"
    ;;
*)
    echo "unknown case $case_"
    exit 99
    ;;
esac
echo PASS
