#!/usr/bin/env python3
"""Profile a guest kernel that the host's KVM emulates (kvm_pvm: guest rings 0-2 run in KVM's instruction emulator).

The host's `kvm:kvm_emulate_insn` tracepoint fires once per emulated instruction with its RIP, so a short trace
window is an exact sample of what the guest kernel executes. Every PERIOD seconds this traces WINDOW seconds of a
running vmm (its threads only), symbolises the RIPs with a System.map and prints the window's emulated
instructions per second and top functions; at the end (vmm exited, or Ctrl-C) the totals over all windows.

    sudo python3 bench/boot/guest_profile.py --pid $(pgrep -f 'vmm run') --system-map System.map-6.1.0-56-amd64

Debian's linux-image package ships a stub System.map; the real one is in the matching -dbg package
(usr/lib/debug/boot/System.map-*; `dpkg-deb --fsys-tarfile PKG | tar -x --occurrence ./usr/lib/debug/boot/...`).
Needs root and tracefs (mounted at /sys/kernel/tracing if it is not). Where the kernel is not emulated (hardware
KVM) the tracepoint stays silent: use perf kvm there.
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys
import time

TRACEFS = "/sys/kernel/tracing/"
EVENT = "events/kvm/kvm_emulate_insn/enable"
RIP_RE = re.compile(r"kvm_emulate_insn: [0-9a-f]+:([0-9a-f]+):")


def load_symbols(path):
    syms = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in ("t", "T", "w", "W"):
                syms.append((int(parts[0], 16), parts[2]))
    if not syms:
        sys.exit(f"guest_profile: {path}: no text symbols (Debian's image package ships a stub; use the -dbg one)")
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def write(name, value):
    with open(TRACEFS + name, "w") as f:
        f.write(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pid", type=int, required=True, help="the vmm process")
    ap.add_argument("--system-map", required=True)
    ap.add_argument("--period", type=float, default=15.0, help="seconds between windows")
    ap.add_argument("--window", type=float, default=0.3, help="seconds traced per window")
    ap.add_argument("--top", type=int, default=6, help="functions per window line")
    ap.add_argument("--total-top", type=int, default=40, help="functions in the final totals")
    args = ap.parse_args()
    addrs, names = load_symbols(args.system_map)

    if not os.path.exists(TRACEFS + EVENT):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS.rstrip("/")], check=False)
    if not os.path.exists(TRACEFS + EVENT):
        sys.exit("guest_profile: no kvm:kvm_emulate_insn tracepoint (tracefs not mounted, or no KVM module)")

    def symbol(rip):
        i = bisect.bisect_right(addrs, rip) - 1
        return names[i] if i >= 0 else "?"

    total = collections.Counter()
    t0 = time.time()
    write("tracing_on", "0")
    write("buffer_size_kb", "65536")
    write(EVENT, "1")
    try:
        while os.path.exists(f"/proc/{args.pid}"):
            write("set_event_pid", " ".join(os.listdir(f"/proc/{args.pid}/task")))
            write("trace", "")
            write("tracing_on", "1")
            time.sleep(args.window)
            write("tracing_on", "0")
            counts = collections.Counter()
            with open(TRACEFS + "trace") as f:
                for line in f:
                    m = RIP_RE.search(line)
                    if m:
                        counts[symbol(int(m.group(1), 16))] += 1
            n = sum(counts.values())
            total.update(counts)
            top = ", ".join(f"{s} {100 * k / n:.0f}%" for s, k in counts.most_common(args.top)) if n else "-"
            print(f"[{time.time() - t0:7.0f} s] {n / args.window / 1e6:.2f} M emulated insn/s: {top}", flush=True)
            time.sleep(args.period)
    except KeyboardInterrupt:
        pass
    finally:
        write("tracing_on", "0")
        write(EVENT, "0")
        write("set_event_pid", "")
        write("trace", "")
    n = sum(total.values())
    print(f"total over the windows: {n} emulated instructions")
    for s, k in total.most_common(args.total_top):
        print(f"{100 * k / max(n, 1):6.2f}% {s}")


if __name__ == "__main__":
    main()
