#!/bin/sh
# virtio-blk throughput: a riscv64 guest (blkbench.c) writes then reads a 64 MiB raw image sequentially with 4, 16
# and 64 KiB requests, one in flight; dd does the same on the host on the same file (writes ending in fdatasync as
# the guest's end in FLUSH; reads from the page cache, as the guest's are). The guest runs twice, with virtio-blk's
# io=sync (requests served on the vCPU thread) and io=thread (on its worker). Prints MB/s for each, and the vmm
# process's CPU seconds (user+system) for each whole run.
# usage: bench/virtio/run.sh [BUILD_DIR]   (default: build)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
dir=$root/tests/riscv
. "$dir/cross.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
rv_build "$root/bench/virtio/blkbench.c" "$tmp/bench.elf" -O2 -ffreestanding -mcmodel=medany -I"$root/tests/virtio" -I"$root/tests/riscv/guests" ||
    exit 1
img=$tmp/bench.img
truncate -s 64M "$img"
for io in sync thread; do
    /usr/bin/time -f "%U %S" -o "$tmp/cpu.$io" "$build/core/vmm" run --arch riscv64 --mem 64M --kernel "$tmp/bench.elf" \
        --device uart16550,mmio=0x10000000 --device sifive-test \
        --device "virtio-blk,base=0x10002000,irq=2,file=$img,io=$io" </dev/null >"$tmp/out.$io" ||
        { echo "the guest failed (io=$io): $(cat "$tmp/out.$io")"; exit 1; }
done
paste -d' ' "$tmp/out.sync" "$tmp/out.thread" >"$tmp/out"
printf '%-6s %-8s %12s %12s %12s\n' op request sync_MB/s thread_MB/s host_dd_MB/s
while read -r op size ticks _ _ ticks2; do
    guest=$(awk "BEGIN { printf \"%.0f\", 64 * 1048576 / ($ticks / 1e7) / 1e6 }")
    guest2=$(awk "BEGIN { printf \"%.0f\", 64 * 1048576 / ($ticks2 / 1e7) / 1e6 }")
    count=$((64 * 1048576 / size))
    t0=$(date +%s.%N)
    if [ "$op" = write ]; then
        dd if=/dev/zero of="$img" bs="$size" count=$count conv=notrunc,fdatasync 2>/dev/null
    else
        dd if="$img" of=/dev/null bs="$size" count=$count 2>/dev/null
    fi
    t1=$(date +%s.%N)
    host=$(awk "BEGIN { printf \"%.0f\", 64 * 1048576 / ($t1 - $t0) / 1e6 }")
    printf '%-6s %-8s %12s %12s %12s\n' "$op" "$size" "$guest" "$guest2" "$host"
done <"$tmp/out"
echo "vmm CPU seconds (user system): io=sync $(cat "$tmp/cpu.sync"), io=thread $(cat "$tmp/cpu.thread")"
