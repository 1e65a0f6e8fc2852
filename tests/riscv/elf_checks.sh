#!/bin/sh
# The riscv64 plugin's ELF checks, made before anything runs (vm_check): from a good guest (which runs), copies
# with program headers of another size (e_phentsize), a second PT_LOAD segment overlapping the first, and entry
# points outside RAM and inside RAM but in no loaded segment. Each is refused with exit 2 and one line naming
# --kernel FILE and the reason; the guest never runs. Then images besides the program that cannot be placed.
# Usage: elf_checks.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
limit=$((30 * ${VMM_TEST_TIME_SCALE:-1}))
run() { # run ELF: vmm's status in $st, its output in $tmp/out and $tmp/err
    timeout $limit "$vmm" run --arch riscv64 --mem 64M --kernel "$1" --device uart16550,mmio=0x10000000 \
        --device sifive-test </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
}
rv_build "$dir/isa/alu.S" "$tmp/good.elf" || fail "cannot build the guest"
run "$tmp/good.elf"
[ "$st" -eq 0 ] && grep -q "PASS alu" "$tmp/out" || fail "the good guest: status $st, $(cat "$tmp/out" "$tmp/err")"
echo "ok: the good guest runs"

# craft KIND: a copy of the good guest, made bad in one way, as $tmp/KIND.elf
craft() {
    python3 - "$tmp/good.elf" "$tmp/$1.elf" "$1" <<'PY' || fail "cannot craft $1"
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
kind = sys.argv[3]
phoff, = struct.unpack_from("<Q", d, 32)
phentsize, phnum = struct.unpack_from("<HH", d, 54)
ph = [list(struct.unpack_from("<IIQQQQQQ", d, phoff + i * 56)) for i in range(phnum)]
load = [i for i, p in enumerate(ph) if p[0] == 1][0]
if kind == "phentsize":
    struct.pack_into("<H", d, 54, 64)
elif kind == "overlap":
    # Another header becomes a PT_LOAD 0x100 bytes into the first one's memory.
    other = [i for i in range(phnum) if i != load][0]
    p = list(ph[load])
    p[3] += 0x100; p[4] += 0x100          # vaddr, paddr
    p[5] = 0x10; p[6] = 0x10              # filesz, memsz
    struct.pack_into("<IIQQQQQQ", d, phoff + other * 56, *p)
elif kind == "entry-outside-ram":
    struct.pack_into("<Q", d, 24, 0x1000)
elif kind == "entry-unloaded":
    struct.pack_into("<Q", d, 24, 0x80000000 + (32 << 20))
open(sys.argv[2], "wb").write(d)
PY
}

# refused KIND PATTERN
refused() {
    craft "$1"
    run "$tmp/$1.elf"
    [ "$st" -eq 2 ] || fail "$1: status $st, expected 2; stderr: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$1: not one line on stderr: $(cat "$tmp/err")"
    grep -Fq -- "--kernel $tmp/$1.elf: " "$tmp/err" || fail "$1: the error does not name --kernel FILE: $(cat "$tmp/err")"
    grep -Eq -- "$2" "$tmp/err" || fail "$1: stderr does not match /$2/: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$1: the guest ran: $(cat "$tmp/out")"
    echo "ok: $(cat "$tmp/err")"
}
refused phentsize "program headers of 64 bytes \(e_phentsize\), not the 56 of ELF64"
refused overlap "segments 0 \(0x80000100-0x8000010f\) and 1 \(0x80000000-0x[0-9a-f]+\) overlap"
refused entry-outside-ram "the entry point 0x1000 is in no loaded segment \(nor in RAM\)"
refused entry-unloaded "the entry point 0x82000000 is in no loaded segment$"

# Images besides the program (--image FILE@ADDR, copied to ADDR): one without an address, one over the program,
# one past RAM's end, two over each other, an empty one (and an empty program). Each: exit 2, one line naming --image FILE and the reason.
head -c 4096 /dev/urandom >"$tmp/blob.bin"
image_refused() { # image_refused PATTERN --image ARGS...
    pattern=$1
    shift
    timeout $limit "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/good.elf" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
    [ "$st" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eq -- "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ] ||
        fail "$*: status $st, expected 2 and one line /$pattern/: $(cat "$tmp/out" "$tmp/err")"
    echo "ok: $(cat "$tmp/err")"
}
image_refused "--image $tmp/blob.bin: riscv64 runs one program .*give another image its address" --image "$tmp/blob.bin"
image_refused "--image $tmp/blob.bin@0x80000800 overlaps the program" --image "$tmp/blob.bin@0x80000800"
image_refused "--image $tmp/blob.bin@0x83fff800: 4096 bytes do not fit in RAM" --image "$tmp/blob.bin@0x83fff800"
image_refused "--image $tmp/blob.bin@0x80201000 overlaps --image $tmp/blob.bin@0x80200800" \
    --image "$tmp/blob.bin@0x80200800" --image "$tmp/blob.bin@0x80201000"
: >"$tmp/empty.bin"
image_refused "--image $tmp/empty.bin: the file is empty" --image "$tmp/empty.bin@0x80200000"
timeout $limit "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/empty.bin" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" -eq 2 ] && [ "$(cat "$tmp/err")" = "riscv64: error: --kernel $tmp/empty.bin: the file is empty" ] ||
    fail "an empty --kernel: status $st, $(cat "$tmp/err")"
echo "ok: $(cat "$tmp/err")"
echo PASS
