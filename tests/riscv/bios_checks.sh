#!/bin/sh
# --bios and --kernel as the firmware's next stage, checked before anything runs (vm_check): bad firmware files
# (missing, a directory, empty, an x86 ELF, a Linux Image, an ELF outside RAM, larger than RAM, overlapping the
# kernel) and bad Linux Images (cut short, image_size smaller than the file, an unknown header version, big-endian,
# text_offset not page-aligned, larger than RAM, no magic2) are each refused with exit 2 and one line naming the
# option, the file and the reason. The good Image they are made from boots under firmware that checks it was
# placed at 0x80200000 (guests/bootrom_check.S). Usage: bios_checks.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
limit=$((60 * ${VMM_TEST_TIME_SCALE:-1}))
rv_build "$dir/guests/bootrom_check.S" "$tmp/fw.elf" || fail "cannot build the firmware"
$RV_CC -DLINUX_IMAGE_HEADER -march=rv64imac_zicsr -mabi=lp64 -nostdlib -nostartfiles -mno-relax \
    -Wl,-Ttext=0x80200000 -Wl,--nmagic -Wl,--no-warn-rwx-segments -o "$tmp/image.elf" "$dir/guests/sbi_payload.S" &&
    riscv64-unknown-elf-objcopy -O binary "$tmp/image.elf" "$tmp/Image" || fail "cannot build the Image"
printf '\157\000\000\000' >"$tmp/kernel.bin"

# refused WHAT EXPECTED ARGS...: vmm exits 2 with one line on stderr that holds EXPECTED; nothing ran.
refused() {
    what=$1 expected=$2
    shift 2
    timeout $limit "$vmm" run --arch riscv64 --mem 64M "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    st=$?
    [ "$st" -eq 2 ] || fail "$what: exit status $st, not 2: $(cat "$tmp/out" "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: not one line: $(cat "$tmp/err")"
    grep -Fq -- "$expected" "$tmp/err" || fail "$what: the error does not say '$expected': $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$what: the guest ran: $(cat "$tmp/out")"
    echo "ok: $what refused: $(cat "$tmp/err")"
}

# The good Image, as the firmware's next stage: placed at 0x80200000, which fw_dynamic_info says.
timeout $limit "$vmm" run --arch riscv64 --mem 64M --bios "$tmp/fw.elf" --kernel "$tmp/Image" </dev/null \
    >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" -eq 0 ] && grep -qx "bootrom: ok" "$tmp/out" || fail "the good Image: status $st: $(cat "$tmp/out" "$tmp/err")"
echo "ok: the good Image is placed at 0x80200000 and named in fw_dynamic_info"

# Bad firmware.
: >"$tmp/empty"
mkdir "$tmp/dir"
head -c $((2 << 20)) /dev/zero >"$tmp/big.bin"
python3 - "$tmp/fw.elf" "$tmp/low.elf" <<'PY' || fail "cannot craft low.elf"
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
phoff, = struct.unpack_from("<Q", d, 32)
phnum, = struct.unpack_from("<H", d, 56)
for i in range(phnum):
    o = phoff + i * 56
    if struct.unpack_from("<I", d, o)[0] == 1:  # PT_LOAD: moved below RAM, entry with it
        va, pa = struct.unpack_from("<QQ", d, o + 16)
        struct.pack_into("<QQ", d, o + 16, va - 0x7fff0000, pa - 0x7fff0000)
e, = struct.unpack_from("<Q", d, 24)
struct.pack_into("<Q", d, 24, e - 0x7fff0000)
open(sys.argv[2], "wb").write(d)
PY
refused "a missing --bios" "--bios $tmp/none: No such file or directory" --bios "$tmp/none" --kernel "$tmp/kernel.bin"
refused "a directory as --bios" "--bios $tmp/dir: not a regular file" --bios "$tmp/dir" --kernel "$tmp/kernel.bin"
refused "an empty --bios" "--bios $tmp/empty: an empty file" --bios "$tmp/empty" --kernel "$tmp/kernel.bin"
refused "an x86 ELF as --bios" "--bios $vmm: not a little-endian ELF64 RISC-V executable" --bios "$vmm" \
    --kernel "$tmp/kernel.bin"
refused "a Linux Image as --bios" "--bios $tmp/Image: a Linux Image, not firmware" --bios "$tmp/Image" \
    --kernel "$tmp/kernel.bin"
refused "firmware outside RAM" "--bios $tmp/low.elf: segment 1 (0x10000, 4124 bytes) is not inside RAM" --bios "$tmp/low.elf" \
    --kernel "$tmp/kernel.bin"
refused "firmware larger than RAM" "--bios $tmp/big.bin: 2097152 bytes at 0x80000000 do not fit in RAM" \
    --mem 1M --bios "$tmp/big.bin" --kernel "$tmp/kernel.bin"
refused "a kernel over the firmware" "--kernel $tmp/fw.elf (0x80000000-" --bios "$tmp/fw.elf" --kernel "$tmp/fw.elf"

# Bad Images, each a copy of the good one made wrong in one way.
craft() { # craft NAME PYTHON-STATEMENT (d: the Image's bytes)
    python3 - "$tmp/Image" "$tmp/$1" "$2" <<'PY' || fail "cannot craft $1"
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
exec(sys.argv[3])
open(sys.argv[2], "wb").write(d)
PY
}
craft cut 'd = d[:60]'
craft small 'struct.pack_into("<Q", d, 16, len(d) - 1)'
craft version 'struct.pack_into("<I", d, 32, 0x10000)'
craft bigendian 'struct.pack_into("<Q", d, 24, 1)'
craft offset 'struct.pack_into("<Q", d, 8, 0x201000 + 0x10)'
craft huge 'struct.pack_into("<Q", d, 16, 1 << 30)'
craft nomagic2 'struct.pack_into("<I", d, 56, 0)'
for fw in "$tmp/fw.elf" ""; do
    if [ -z "$fw" ]; then
        # Without --bios, an Image gets Debian's fw_dynamic.elf; its checks are the same.
        [ -f /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf ] || break
        set --
    else
        set -- --bios "$fw"
    fi
    refused "an Image cut short" "--kernel $tmp/cut: a Linux Image cut short (60 bytes" "$@" --kernel "$tmp/cut"
    refused "an Image smaller than its file" "--kernel $tmp/small: the Image header's image_size" "$@" \
        --kernel "$tmp/small"
    refused "an Image of header version 1.0" "--kernel $tmp/version: Linux Image header version 1.0" "$@" \
        --kernel "$tmp/version"
    refused "a big-endian Image" "--kernel $tmp/bigendian: a big-endian Linux Image" "$@" --kernel "$tmp/bigendian"
    refused "an Image with text_offset 0x201010" "--kernel $tmp/offset: the Image header's text_offset 0x201010" \
        "$@" --kernel "$tmp/offset"
    refused "an Image larger than RAM" "--kernel $tmp/huge: the Image takes 1073741824 bytes" "$@" --kernel "$tmp/huge"
done
refused "an Image without magic2" "--kernel $tmp/nomagic2: a Linux Image header without its magic2" \
    --bios "$tmp/fw.elf" --kernel "$tmp/nomagic2"
echo "ok: every bad --bios and Linux Image was refused"
