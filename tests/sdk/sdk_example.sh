#!/bin/sh
# sdk_example.sh: the third-party path end to end. Installs vmm (binary, plugins, SDK header, vmm-sdk.pc) into a
# temporary root, copies sdk/examples/dma-checksum out of the source tree, builds it there with its Makefile and
# with meson using nothing but pkg-config, and runs its guest on the installed vmm with the freshly built device:
# the CRC-32 must arrive by interrupt, and a DMA request outside guest RAM must be refused.
#
# usage: sdk_example.sh BUILD_DIR SOURCE_DIR PREFIX LIBDIR
# Exits 77 (meson: skipped) when /dev/kvm cannot be opened (the build steps still run first).
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
for p in x86-raw uart16550 debug-exit; do
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

if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "SKIP: /dev/kvm not available"
    exit 77
fi
for so in "$tmp/example/dma-checksum.so" "$tmp/example-build/dma-checksum.so"; do
    timeout $((60 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --plugin-path "$installed_plugins" --arch x86-raw --image "$tmp/example/guest.elf" \
        --device uart16550 --device debug-exit --device "$so,irq=5" </dev/null >"$tmp/out" 2>"$tmp/err"
    status=$?
    printf 'crc32 ok\ndma outside RAM refused\n' >"$tmp/expected"
    if [ "$status" -ne 33 ] || ! cmp -s "$tmp/expected" "$tmp/out"; then
        echo "--- status $status; stdout:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"
        fail "the example guest did not run to completion with $so"
    fi
    grep -q "refused: outside guest RAM" "$tmp/err" || fail "the refused DMA was not reported on stderr"
done
echo PASS
