#!/bin/sh
# The profile that picks the pinned host registers reads the sampled code through the MMU when fetches are
# translated: guests/paging_pin.S runs its hot loop in S-mode under Sv39 with s8-s11 and t3-t6, and vmm --stats
# must report those pinned (before, every sample at a virtual pc was dropped, so a Linux guest's kernel and
# programs ran with registers picked from the firmware). usage: paging_pin.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rv_build "$dir/guests/paging_pin.S" "$tmp/guest.elf" || { echo "FAIL: cannot build paging_pin.S"; exit 1; }
timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --stats --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" \
    --device uart16550,mmio=0x10000000 --device sifive-test >"$tmp/out" 2>"$tmp/err" </dev/null
status=$?
cat "$tmp/out"
if [ "$status" != 0 ] || [ "$(cat "$tmp/out")" != "PASS paging-pin" ]; then
    cat "$tmp/err"
    echo "FAIL: paging_pin.S: exit status $status (a failing check number is the status)"
    exit 1
fi
pinned=$(sed -n 's/.*pinned \([a-z0-9,]*\).*/\1/p' "$tmp/err")
for r in s8 s9 s10 s11 t3 t4 t5 t6; do
    case ",$pinned," in *",$r,"*) ;; *)
        cat "$tmp/err"
        echo "FAIL: $r, used by the S-mode loop, is not pinned (pinned: $pinned)"
        exit 1
    esac
done
echo "ok: pinned $pinned"
