#!/bin/sh
# sdk_example.sh: the third-party path end to end. Installs vmm (binary, plugins, SDK header, vmm-sdk.pc) into a
# temporary root, copies sdk/examples/dma-checksum out of the source tree, builds it there with its Makefile and
# with meson using nothing but pkg-config, and runs its guest on the installed vmm with the freshly built device:
# the CRC-32 must arrive by interrupt, and a DMA request outside guest RAM must be refused. Twice: a RISC-V guest
# (--arch riscv64, in process, on every machine), whose completions come through the PLIC as machine external
# interrupts, and an x86 guest (--arch x86-raw, KVM), whose come through the PIC.
#
# usage: sdk_example.sh BUILD_DIR SOURCE_DIR PREFIX LIBDIR
# Exits 77 (meson: skipped) when /dev/kvm cannot be opened, after the build steps and the RISC-V guest passed.
set -u
build=$1 src=$2 prefix=$3 libdir=$4

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
fail() { echo "FAIL: $*"; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$root" --quiet >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install into a temporary root failed"; }
pcdir=$root$prefix/$libdir/pkgconfig
[ -f "$pcdir/vmm-sdk.pc" ] || fail "vmm-sdk.pc not installed in $pcdir"
[ -f "$root$prefix/include/vmm/plugin.h" ] || fail "SDK header not installed"
installed_plugins=$root$prefix/$libdir/vmm/plugins
for p in x86-raw riscv64 uart16550 debug-exit sifive-test; do
    [ -f "$installed_plugins/$p.so" ] || fail "plugin $p.so not installed in $installed_plugins"
done

# pkg-config alone must lead the example to the installed SDK.
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root"
cflags=$(pkg-config --cflags vmm-sdk) || fail "pkg-config does not find vmm-sdk"
# shellcheck disable=SC2086 # word splitting drops the space pkg-config pads with
cflags=$(echo $cflags)
[ "$cflags" = "-I$root$prefix/include" ] || fail "unexpected SDK cflags '$cflags'"
[ "$(pkg-config --variable=plugindir vmm-sdk)" = "$root$prefix/$libdir/vmm/plugins" ] ||
    fail "unexpected plugindir '$(pkg-config --variable=plugindir vmm-sdk)'"

cp -r "$src/sdk/examples/dma-checksum" "$tmp/example"
make -C "$tmp/example" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make of the example failed"; }
grep -q -- "-I$root$prefix/include" "$tmp/make.log" || fail "make did not compile against the installed SDK"
grep -q -- "$src" "$tmp/make.log" && fail "the example's build reached into the source tree"
meson setup "$tmp/example-build" "$tmp/example" >"$tmp/meson.log" 2>&1 &&
    ninja -C "$tmp/example-build" >>"$tmp/meson.log" 2>&1 || { cat "$tmp/meson.log"; fail "meson build of the example failed"; }
[ -f "$tmp/example-build/dma-checksum.so" ] || fail "meson build produced no dma-checksum.so"

vmm=$root$prefix/bin/vmm
"$vmm" plugins --check "$tmp/example/dma-checksum.so" || fail "vmm plugins --check refuses the example"
"$vmm" plugins --check "$tmp/example-build/dma-checksum.so" || fail "vmm plugins --check refuses the meson-built example"

printf 'crc32 ok\ndma outside RAM refused\n' >"$tmp/expected"
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 ||
    fail "riscv64-unknown-elf-gcc is missing (scripts/install-deps installs gcc-riscv64-unknown-elf)"
make -C "$tmp/example" riscv64 >"$tmp/make-rv.log" 2>&1 || { cat "$tmp/make-rv.log"; fail "make riscv64 of the example failed"; }
# run_guest WHAT STATUS DEVICE_OPTS VMM_ARGS...: the guest with each build of the device (make's and meson's) must
# print both results, end with STATUS and have the refused DMA reported on stderr.
run_guest() {
    what=$1 want=$2 devopts=$3
    shift 3
    for so in "$tmp/example/dma-checksum.so" "$tmp/example-build/dma-checksum.so"; do
        timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --plugin-path "$installed_plugins" "$@" \
            --device "$so,$devopts" </dev/null >"$tmp/out" 2>"$tmp/err"
        status=$?
        if [ "$status" -ne "$want" ] || ! cmp -s "$tmp/expected" "$tmp/out"; then
            echo "--- status $status; stdout:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"
            fail "the example's $what guest did not run to completion with $so"
        fi
        grep -q "refused: outside guest RAM" "$tmp/err" || fail "the refused DMA was not reported on stderr ($what)"
    done
}
run_guest RISC-V 0 base=0x10010000,irq=12 --arch riscv64 --mem 64M --kernel "$tmp/example/guest-riscv64.elf" \
    --device uart16550,mmio=0x10000000 --device sifive-test
echo "riscv64: both completions arrived through the PLIC"

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
run_guest x86 33 irq=5 --arch x86-raw --image "$tmp/example/guest.elf" --device uart16550 --device debug-exit
echo PASS
