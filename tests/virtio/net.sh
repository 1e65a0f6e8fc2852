#!/bin/sh
# net.sh VMM TMP SRCDIR: the virtio-net case of virtio.sh, run by it inside a new network namespace (unshare -n). A
# TAP vnet0 with 10.0.2.1/24, the guest's address 10.0.2.15 bound to its MAC as a permanent neighbour (the guest
# driver answers no ARP); net_peer.py starts vmm on $TMP/guest.elf (net.c) and exchanges the datagrams;
# then the guest's two broken chains must each have logged DEVICE_NEEDS_RESET.
set -u
vmm=$1 tmp=$2 here=$3
ip link set lo up || exit 1
ip tuntap add dev vnet0 mode tap || exit 1
ip addr add 10.0.2.1/24 dev vnet0 || exit 1
ip link set vnet0 up || exit 1
ip neigh add 10.0.2.15 lladdr 52:54:00:ab:cd:ef dev vnet0 nud permanent || exit 1
python3 "$here/net_peer.py" "$vmm" run --arch riscv64 --mem 64M --kernel "$tmp/guest.elf" \
    --device uart16550,mmio=0x10000000 --device sifive-test \
    --device "virtio-net,base=0x10004000,irq=4,tap=vnet0,mac=52:54:00:ab:cd:ef" --stats >"$tmp/out" 2>"$tmp/err" ||
    { echo "$(cat "$tmp/out" "$tmp/err")"; exit 1; }
grep -q "^net ok" "$tmp/out" || { echo "no 'net ok': $(cat "$tmp/out" "$tmp/err")"; exit 1; }
for why in "queue 1: transmit chain of 8 readable and 0 writable bytes" \
    "queue 0: receive chain of 0 readable and 4 writable bytes"; do
    grep -qF "virtio-net: warning: DEVICE_NEEDS_RESET: $why" "$tmp/err" || { echo "no log line '$why': $(cat "$tmp/err")"; exit 1; }
done
grep "^host got\|^net ok\|^virtio-net:" "$tmp/out" "$tmp/err" | sed 's/^[^:]*://'
