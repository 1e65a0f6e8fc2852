#!/bin/sh
# Translated blocks serve every address space: guests/paging_asid.S switches satp 2,000 times (a new ASID each
# time, two roots mapping one virtual page to two RAM pages) and must compute the right sum, and vmm --stats must
# show that the blocks were not translated again for each satp value (they were keyed by satp before; a Linux
# boot translated its kernel again in every process). usage: paging_asid.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rv_build "$dir/guests/paging_asid.S" "$tmp/guest.elf" || { echo "FAIL: cannot build paging_asid.S"; exit 1; }
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --stats --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" \
    --device uart16550,mmio=0x10000000 --device sifive-test >"$tmp/out" 2>"$tmp/err" </dev/null
status=$?
cat "$tmp/out"
if [ "$status" != 0 ] || [ "$(cat "$tmp/out")" != "PASS paging-asid" ]; then
    cat "$tmp/err"
    echo "FAIL: paging_asid.S: exit status $status (a failing check number is the status)"
    exit 1
fi
# 2,000 address spaces: translated per satp value, the loop's blocks alone would be ~10,000.
blocks=$(sed -n 's/.*instructions, \([0-9]*\) blocks translated.*/\1/p' "$tmp/err")
if [ -z "$blocks" ] || [ "$blocks" -gt 500 ]; then
    cat "$tmp/err"
    echo "FAIL: ${blocks:-no} blocks translated (--stats); at most 500 expected: blocks must serve every address space"
    exit 1
fi
echo "ok: $blocks blocks translated"
