#!/bin/sh
# cli.sh: checks vmm's command-line contract, one case per run: usage and version output, the plugin listing, and
# that each kind of bad argument is refused with status 2 and an error on stderr that names what was wrong.
#
# usage: cli.sh VMM CASE [ARG]
#   CASE is one of: help, version (ARG = expected version), plugins, bogus-option, bad-mem, missing-image,
#   bad-device, bad-arch, other-command-option. The cases that need a valid image take it as ARG, so only the one
#   thing under test is bad.
# None of these cases may need /dev/kvm: arguments are checked before a VM exists.

set -u

if [ $# -lt 2 ]; then
    echo "cli.sh: usage: cli.sh VMM CASE [ARG]" >&2
    exit 99
fi
vmm=$1 case=$2 arg=${3:-}

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

status=0
run() {
    echo "running: $vmm $*"
    timeout 60 "$vmm" "$@" </dev/null >"$tmp/stdout" 2>"$tmp/stderr"
    status=$?
}

fail=0
expect_status() {
    if [ "$status" -ne "$1" ]; then
        echo "FAIL: exit status $status, expected $1"
        fail=1
    fi
}
# expect_in FILE TEXT: TEXT must appear in FILE (fixed string, case-insensitive).
expect_in() {
    if ! grep -Fqi -- "$2" "$tmp/$1"; then
        echo "FAIL: $1 does not mention '$2'"
        fail=1
    fi
}
# A plugin name as a whole word, so that e.g. "x86-raw2" does not count as "x86-raw".
expect_word_in() {
    if ! grep -Eq -- "(^|[^a-z0-9_-])$2([^a-z0-9_-]|\$)" "$tmp/$1"; then
        echo "FAIL: $1 does not list '$2'"
        fail=1
    fi
}
expect_nonempty() {
    if [ ! -s "$tmp/$1" ]; then
        echo "FAIL: nothing on $1"
        fail=1
    fi
}

valid_devices='--device uart16550 --device debug-exit'

case "$case" in
help)
    run --help
    expect_status 0
    expect_in stdout usage ;;
version)
    run --version
    expect_status 0
    expect_in stdout "$arg" ;;
plugins)
    run plugins
    expect_status 0
    expect_word_in stdout x86-raw
    expect_word_in stdout uart16550
    expect_word_in stdout debug-exit ;;
bogus-option)
    run run --bogus
    expect_status 2
    expect_in stderr bogus ;;
bad-mem)
    # shellcheck disable=SC2086 # word splitting of $valid_devices is intended
    run run --arch x86-raw --mem 12Q --image "$arg" $valid_devices
    expect_status 2
    expect_in stderr 12Q ;;
missing-image)
    # shellcheck disable=SC2086
    run run --arch x86-raw --mem 64M --image /nonexistent $valid_devices
    expect_status 2
    expect_in stderr /nonexistent ;;
bad-device)
    # shellcheck disable=SC2086
    run run --arch x86-raw --mem 64M --image "$arg" $valid_devices --device nosuchdevice
    expect_status 2
    expect_in stderr nosuchdevice ;;
other-command-option)
    # An option of another command does nothing here: refused, named, never silently ignored.
    run snapshot ls "$tmp/db" --mem 64M
    expect_status 2
    expect_in stderr "--mem applies to 'vmm run' only"
    run run --arch x86-raw --image "$arg" --check "$arg"
    expect_status 2
    expect_in stderr "--check applies to 'vmm plugins' only"
    run snapshot ls "$tmp/db" --force
    expect_status 2
    expect_in stderr "--force applies to 'snapshot rm' only" ;;
bad-arch)
    # shellcheck disable=SC2086
    run run --arch nosucharch --mem 64M --image "$arg" $valid_devices
    expect_status 2
    expect_nonempty stderr ;;
*)
    echo "cli.sh: unknown case '$case'" >&2
    exit 99 ;;
esac

if [ "$status" -eq 124 ]; then
    echo "FAIL: vmm did not finish within 60 s"
fi
if [ "$fail" -ne 0 ]; then
    echo "--- vmm exit status: $status"
    echo "--- vmm stdout:"; cat "$tmp/stdout"
    echo "--- vmm stderr:"; cat "$tmp/stderr"
    exit 1
fi
echo "PASS"
exit 0
