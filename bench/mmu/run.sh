#!/bin/sh
# bench/mmu: software TLB against Bare accesses in generated code (vmm and QEMU, same ELFs), and the host-MMU
# primitives (hostmmu.c). usage: bench/mmu/run.sh VMM [ITER]   (needs riscv64-unknown-elf-gcc, cc; QEMU optional)
set -eu
vmm=$1 iter=${2:-20000000}
dir=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in bare paged; do
    flag=; [ $v = paged ] && flag=-DPAGED
    riscv64-unknown-elf-gcc -march=rv64imac_zicsr_zifencei -mabi=lp64 -nostdlib -nostartfiles -mno-relax $flag \
        -DITER=$iter -T "$dir/../../tests/riscv/link.ld" -o "$tmp/$v.elf" "$dir/memloop.S"
done
cc -O2 -o "$tmp/hostmmu" "$dir/hostmmu.c"
t() { # prints user+sys CPU seconds of the command
    /usr/bin/time -f "%U %S" -o "$tmp/t" "$@" >/dev/null 2>&1 </dev/null || { echo "failed: $*" >&2; exit 1; }
    awk '{ printf "%.3f", $1 + $2 }' "$tmp/t"
}
accesses=$((iter * 16))
for run in 1 2 3; do
    for v in bare paged; do
        s=$(t "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/$v.elf")
        echo "vmm  $v: $s s CPU, $(echo "$s $accesses" | awk '{ printf "%.2f", $1 * 1e9 / $2 }') ns per access (loop included)"
        if command -v qemu-system-riscv64 >/dev/null; then
            s=$(t timeout 300 qemu-system-riscv64 -M virt -bios none -display none -m 64M -kernel "$tmp/$v.elf")
            echo "qemu $v: $s s CPU, $(echo "$s $accesses" | awk '{ printf "%.2f", $1 * 1e9 / $2 }') ns per access (loop included)"
        fi
    done
done
"$tmp/hostmmu" 16384
