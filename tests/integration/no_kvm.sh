#!/bin/sh
# no_kvm.sh: what vmm does on a host without /dev/kvm (a cloud VM without nested virtualisation, a container).
# Every bad argument of an x86 run is reported as what it is (exit 2), before any host driver is opened; a good
# x86 run fails in one line naming what needs KVM and what runs without it (exit 1); a RISC-V guest runs in
# process. Where /dev/kvm exists, the checks run under scripts/without-kvm (a mount namespace without it).
#
# usage: no_kvm.sh VMM X86_GUEST_ELF RISCV_DEMO_GUEST_ELF SRCDIR
set -u
vmm=$1 x86=$2 rv=$3 src=$4
if [ -e /dev/kvm ] && [ "${VMM_NO_KVM_INNER:-}" != 1 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1; then
        echo "SKIP: /dev/kvm exists and hiding it needs root and unshare"
        exit 77
    fi
    VMM_NO_KVM_INNER=1 exec "$src/scripts/without-kvm" sh "$0" "$@"
fi
[ -e /dev/kvm ] && { echo "FAIL: /dev/kvm is still there"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# check WANT_STATUS PATTERN ARGS...: vmm run ARGS exits with WANT_STATUS and stderr is one line matching PATTERN
# (a usage error's "Try 'vmm --help'" aside).
check() {
    want=$1 pattern=$2
    shift 2
    timeout 30 "$vmm" run "$@" </dev/null >"$tmp/out" 2>"$tmp/all"
    st=$?
    grep -v "^Try 'vmm --help'.$" "$tmp/all" >"$tmp/err"
    if [ "$st" -ne "$want" ] || ! grep -Eq -- "$pattern" "$tmp/err" || [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        echo "FAIL: vmm run $*: status $st (want $want), stderr (want one line matching /$pattern/):"
        sed 's/^/  | /' "$tmp/err"
        fail=1
    else
        echo "ok ($st): vmm run $*: $(cat "$tmp/err")"
    fi
}
x86run="--arch x86-raw --mem 64M --image $x86"
# shellcheck disable=SC2086 # x86run is a list of words
{
check 1 "x86-raw needs KVM.*/dev/kvm: No such file or directory.*without KVM, vmm runs in process: --arch riscv64" \
    $x86run --device uart16550 --device debug-exit
check 2 "--image /nonexistent: No such file" --arch x86-raw --image /nonexistent
check 2 "--kernel /nonexistent: No such file" --arch x86-raw --kernel /nonexistent
check 2 "--device nosuchdevice: no such device plugin" $x86run --device nosuchdevice
check 2 "uart16550: unknown option 'bogus'" $x86run --device uart16550,bogus=1
check 2 "x86-raw: unknown option 'exec'" $x86run --exec rc
check 2 "state database /proc/nope: cannot be created" $x86run --state /proc/nope
check 2 "--control /no/dir/sock: cannot create a socket" $x86run --control /no/dir/sock
check 2 "overlap" $x86run --device uart16550 --device uart16550
check 2 "--initrd needs --kernel" $x86run --initrd "$x86"
check 2 "unexpected argument 'stray'" $x86run stray
check 2 "--restore-mode applies to --restore" $x86run --restore-mode eager
check 2 "--force applies to 'snapshot rm'" $x86run --force
}
ls /proc/nope >/dev/null 2>&1 && { echo "FAIL: --state created /proc/nope"; fail=1; }

# RISC-V runs in process, without a host driver.
timeout 30 "$vmm" run --arch riscv64 --mem 64M --kernel "$rv" --device uart16550,mmio=0x10000000 --device sifive-test \
    --log info </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
if [ "$st" -ne 0 ] || ! grep -q '^primes below 100000: 9592$' "$tmp/out" || ! grep -q 'engine inproc: in-process engine' "$tmp/err"; then
    echo "FAIL: the riscv64 guest: status $st"; sed 's/^/  | /' "$tmp/out" "$tmp/err"; fail=1
else
    echo "ok: the riscv64 guest ran in process (status 0)"
fi
exit $fail
