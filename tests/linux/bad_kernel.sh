#!/bin/sh
# bad_kernel.sh: x86-raw's Linux loader against broken input. Builds small bzImages around a test guest ELF (an
# xz payload, like Debian's kernels), then damages them or the initrd one way per case: vmm must exit with status
# 2 and one error line naming the file and the reason, never crash. The 'good' case checks that the undamaged
# bzImage boots (the guest ELF prints and exits 33), so the damaged cases fail for the reason they test; the
# other 'good-' cases boot the ELF as a vmlinux and through a payload bigger than the loader's streaming window.
#
# usage: bad_kernel.sh VMM GUEST_ELF CASE
# The damaged cases need no KVM: vmm checks the kernel before it opens any host driver. The 'good' cases boot the
# guest, so they exit 77 (meson: skipped) without /dev/kvm; all exit 77 without xz.

set -u
vmm=$1 elf=$2 case=$3

case "$case" in good*)
    if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
        echo "SKIP: /dev/kvm not available"
        exit 77
    fi
esac
command -v xz >/dev/null 2>&1 || { echo "SKIP: xz not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

le16() { printf "$(printf '\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
# put FILE OFFSET BYTES...: overwrite bytes in place (BYTES from stdin).
put() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# mkbz OUT PAYLOAD [VERSION]: a bzImage with 4 setup sectors (so the protected-mode part starts at 0xa00) whose
# payload is PAYLOAD; the header fields the loader reads are filled in as the kernel's build would.
mkbz() {
    out=$1 payload=$2 version=${3:-527}
    plen=$(wc -c < "$payload")
    head -c 2560 /dev/zero > "$out"
    cat "$payload" >> "$out"
    printf '\004' | put "$out" $((0x1f1))                    # setup_sects
    le32 $(( (plen + 15) / 16 )) | put "$out" $((0x1f4))      # syssize
    le16 $((0xaa55)) | put "$out" $((0x1fe))                  # boot_flag
    printf '\146' | put "$out" $((0x201))                     # jump: header runs to 0x268
    printf 'HdrS' | put "$out" $((0x202))
    le16 "$version" | put "$out" $((0x206))
    le32 $((0x7fffffff)) | put "$out" $((0x22c))              # initrd_addr_max
    le32 $((0x200000)) | put "$out" $((0x230))                # kernel_alignment
    le32 2047 | put "$out" $((0x238))                         # cmdline_size
    le16 $((0x7f)) | put "$out" $((0x236))                    # xloadflags: XLF_KERNEL_64 and friends
    le32 0 | put "$out" $((0x248))                            # payload_offset
    le32 "$plen" | put "$out" $((0x24c))                      # payload_length
    le32 $((0x400000)) | put "$out" $((0x260))                # init_size
}

# mkpayload OUT ELF [SIZE]: the payload as the kernel's build makes it: xz with a CRC32 check, then the
# decompressed size (SIZE, by default the ELF's), 4 bytes LE.
mkpayload() {
    xz --check=crc32 -c "$2" > "$1"
    le32 "${3:-$(wc -c < "$2")}" >> "$1"
}
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32)); }
# Program header i of an ELF64: offset of its field at byte OFF within the entry.
phdr() { echo $((64 + $1 * 56 + $2)); }

mkpayload "$tmp/payload" "$elf"
mkbz "$tmp/bzImage" "$tmp/payload"
printf 'initrd contents\n' > "$tmp/initrd"

kernel="$tmp/bzImage" initrd="$tmp/initrd" mem=64M expect='' extra=''
case "$case" in
good) ;;
empty-kernel) : > "$tmp/k"; kernel="$tmp/k"; expect='neither a bzImage' ;;
old-protocol) mkbz "$tmp/k" "$tmp/payload" 512; kernel="$tmp/k"; expect='older than 2.12' ;;
truncated-kernel)
    head -c 3000 "$tmp/bzImage" > "$tmp/k"; kernel="$tmp/k"; expect='outside the file|truncated' ;;
truncated-payload)
    # The header still claims the whole payload, but the xz stream inside it is cut short.
    cp "$tmp/payload" "$tmp/p"; head -c 200 "$tmp/payload" > "$tmp/p2"; le32 "$(wc -c < "$elf")" >> "$tmp/p2"
    mkbz "$tmp/k" "$tmp/p2"; kernel="$tmp/k"; expect='truncated|damaged|corrupt' ;;
corrupt-payload)
    cp "$tmp/payload" "$tmp/p"; printf '\377\377\377\377\377\377\377\377' | put "$tmp/p" 100
    mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='corrupt|damaged|decompress' ;;
gzip-payload)
    gzip -c "$elf" > "$tmp/p"; le32 "$(wc -c < "$elf")" >> "$tmp/p"
    mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='gzip' ;;
truncated-vmlinux) head -c 100 "$elf" > "$tmp/k"; kernel="$tmp/k"; expect='program headers|truncated' ;;
good-vmlinux) kernel="$elf" ;;
good-streamed)
    # The guest's code and data pushed past the first 256 KiB of the payload (the loader's decompression window)
    # by incompressible padding, the text straddling that window's end, and a bss after the data: the guest
    # runs only if every piece landed where it belongs.
    pad=$((262144 - 4096 - 64))
    head -c 4096 "$elf" > "$tmp/e"; head -c "$pad" /dev/urandom >> "$tmp/e"; tail -c +4097 "$elf" >> "$tmp/e"
    for i in 1 2; do
        off=$(od -An -tu4 -j "$(phdr $i 8)" -N4 "$elf" | tr -d ' ')
        le64 $((off + pad)) | put "$tmp/e" "$(phdr $i 8)"
    done
    le64 $((0x3000)) | put "$tmp/e" "$(phdr 2 40)"            # p_memsz of the data segment: a bss
    le64 0 | put "$tmp/e" 40                                   # e_shoff: the section headers moved
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k" ;;
overlapping-segments)
    cp "$elf" "$tmp/e"; le64 $((0x1000)) | put "$tmp/e" "$(phdr 2 8)"
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='overlap in the file' ;;
late-phdrs)
    # The program headers copied to 72 KiB into the ELF: a streaming loader has let the segments go by then.
    cp "$elf" "$tmp/e"; truncate -s 73728 "$tmp/e"; dd if="$elf" bs=1 skip=64 count=168 status=none >> "$tmp/e"
    le64 73728 | put "$tmp/e" 32
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='first 64 KiB' ;;
payload-not-elf)
    head -c 100000 /dev/zero | tr '\0' x > "$tmp/e"
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='not an x86-64 ELF' ;;
segment-beyond-ram)
    cp "$elf" "$tmp/e"; le64 $((0x8000000)) | put "$tmp/e" "$(phdr 2 24)"
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='does not fit in guest RAM' ;;
low-segment)
    cp "$elf" "$tmp/e"; le64 $((0x9f000)) | put "$tmp/e" "$(phdr 2 24)"
    mkpayload "$tmp/p" "$tmp/e"; mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"; expect='below 640 KiB' ;;
trailer-short)
    mkpayload "$tmp/p" "$elf" $(($(wc -c < "$elf") - 1)); mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"
    expect='larger than the trailer' ;;
trailer-long)
    mkpayload "$tmp/p" "$elf" $(($(wc -c < "$elf") + 1)); mkbz "$tmp/k" "$tmp/p"; kernel="$tmp/k"
    expect='differs from the trailer' ;;
not-a-kernel) printf 'just some text, long enough to be read as a header by a careless loader\n' > "$tmp/k"
    kernel="$tmp/k"; expect='neither a bzImage' ;;
empty-initrd) : > "$tmp/initrd"; expect='initrd is empty' ;;
huge-initrd) truncate -s 100M "$tmp/initrd"; expect='does not fit' ;;
long-cmdline) extra=$(head -c 3000 /dev/zero | tr '\0' x); expect='command line' ;;
*) echo "bad_kernel.sh: unknown case $case" >&2; exit 99 ;;
esac

set -- run --arch x86-raw --mem "$mem" --kernel "$kernel" --device uart16550 --device debug-exit
case "$case" in empty-initrd|huge-initrd|good*) set -- "$@" --initrd "$initrd" ;; esac
[ -n "$extra" ] && set -- "$@" --append "$extra"
timeout 60 "$vmm" "$@" < /dev/null > "$tmp/out" 2> "$tmp/err"
status=$?

case "$case" in good*)
    if [ "$status" -ne 33 ] || ! grep -q 'Hello from long mode' "$tmp/out"; then
        echo "FAIL: $case: the undamaged kernel did not boot its guest: status $status"; cat "$tmp/out" "$tmp/err"
        exit 1
    fi
    echo "ok: $case: the guest boots"
    exit 0
esac
if [ "$status" -ne 2 ]; then
    echo "FAIL: $case: expected exit status 2, got $status"
    cat "$tmp/err"
    exit 1
fi
if ! grep -Eqi "$expect" "$tmp/err"; then
    echo "FAIL: $case: stderr does not match /$expect/:"
    cat "$tmp/err"
    exit 1
fi
# The message names the file at fault (the kernel's or the initrd's path), or the option for --append.
if ! grep -Fq "$kernel" "$tmp/err" && ! grep -Fq "$initrd" "$tmp/err" && ! grep -q -- '--append' "$tmp/err"; then
    echo "FAIL: $case: the error does not name the file:"
    cat "$tmp/err"
    exit 1
fi
echo "ok: $case: $(head -n1 "$tmp/err")"
exit 0
