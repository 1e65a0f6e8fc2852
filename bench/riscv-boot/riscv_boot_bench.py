#!/usr/bin/env python3
"""bench/riscv-boot: the riscv64 Linux guest (scripts/get-riscv-guest) booted to its shell prompt by vmm and by
qemu-system-riscv64 -M virt (TCG) side by side in one run: the same firmware (Debian's OpenSBI fw_dynamic.elf),
kernel Image, initramfs, command line, RAM and harts.

Per run: process start -> the marker /init prints, start -> the shell's first prompt (host wall clock), the
guest's uptime in the marker, then `poweroff -f` is typed and the monitor's user and system CPU time are taken
at its exit (wait4). Medians over the runs, and the ratios vmm / QEMU of wall time to the prompt and of CPU time.
A monitor that does not reach the prompt is reported with the reason and its last output; no ratio is made up.

usage: riscv_boot_bench.py --vmm VMM --get-guest SCRIPT [--runs N] [--cpus N] [--mem MiB] [--timeout S]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from guest_session import GuestSession  # noqa: E402

MARKER = b"VMM-INIT-READY"
CMDLINE = "console=ttyS0 earlycon=sbi panic=-1"
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf"


def boot_step(s):
    """Start -> the marker /init prints -> the shell's first prompt -> `poweroff -f`, typed until the monitor exits."""
    if s.state == "marker" and MARKER in s.text:
        s.res["marker_s"] = s.elapsed()
        m = re.search(rb"VMM-INIT-READY uptime=([0-9.]+)", s.text)
        s.res["uptime_s"] = float(m.group(1)) if m else float("nan")
        s.state = "prompt"
    if s.state == "prompt" and re.search(rb"VMM-INIT-READY[^\n]*\n(.|\n)*# ", s.text):
        s.res["prompt_s"] = s.elapsed()
        s.state = "poweroff"
    if s.state == "poweroff":
        s.retype(b"poweroff -f\n")


def run_once(argv, timeout, stall):
    """Boot once to the prompt, power off; a dict of measurements, with 'error' when it fell short."""
    res = GuestSession(argv).run(boot_step, "marker", timeout, stall)
    if "prompt_s" not in res and "error" not in res:
        res["error"] = f"exited with status {res['status']} before the prompt"
    return res


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--get-guest", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--stall", type=float, default=300, help="give up after this long without guest output")
    ap.add_argument("--append", default=CMDLINE)
    args = ap.parse_args()

    d = subprocess.run([args.get_guest], check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    kernel, initrd = os.path.join(d, "Image"), os.path.join(d, "initramfs.cpio")
    common = f"{args.mem}M"
    monitors = {
        "vmm": [args.vmm, "run", "--arch", "riscv64", "--mem", common, "--cpus", str(args.cpus), "--bios", FIRMWARE,
                "--kernel", kernel, "--initrd", initrd, "--append", args.append],
        "qemu": ["qemu-system-riscv64", "-M", "virt", "-m", common, "-smp", str(args.cpus), "-display", "none",
                 "-monitor", "none", "-serial", "stdio", "-no-reboot", "-bios", FIRMWARE, "-kernel", kernel,
                 "-initrd", initrd, "-append", args.append],
    }
    print(f"kernel {kernel} ({os.path.getsize(kernel)} bytes), initramfs {initrd} ({os.path.getsize(initrd)} bytes), "
          f"firmware {FIRMWARE}, {args.cpus} hart(s), {args.mem} MiB, cmdline '{args.append}'")
    for name, argv in monitors.items():
        print(f"{name}: {' '.join(argv)}")
    results = {name: [] for name in monitors}
    # Interleaved, so that a change in the machine's load hits both monitors alike.
    for i in range(args.runs):
        for name, argv in monitors.items():
            r = run_once(argv, args.timeout, args.stall)
            results[name].append(r)
            print(f"{name} run {i + 1}: " + (f"prompt {r['prompt_s']:.2f} s" if "prompt_s" in r else r["error"]) +
                  f", status {r['status']}, CPU {r['user_s'] + r['sys_s']:.2f} s", flush=True)

    print(f"\n{'':28s} {'vmm':>10s} {'qemu':>10s} {'vmm/qemu':>9s}")
    ok = {name: [r for r in runs if "error" not in r] for name, runs in results.items()}
    rows = [("start -> marker (s)", "marker_s"), ("start -> prompt (s)", "prompt_s"),
            ("guest uptime at marker (s)", "uptime_s"), ("start -> exit (s)", "exit_s"),
            ("CPU user (s)", "user_s"), ("CPU system (s)", "sys_s")]
    for label, key in rows:
        v, q = med(ok["vmm"], key), med(ok["qemu"], key)
        ratio = f"{v / q:9.2f}" if v == v and q == q and q > 0 else f"{'-':>9s}"
        print(f"{label:28s} {v:10.2f} {q:10.2f} {ratio}")
    v = med(ok["vmm"], "user_s") + med(ok["vmm"], "sys_s")
    q = med(ok["qemu"], "user_s") + med(ok["qemu"], "sys_s")
    print(f"{'CPU user+system (s)':28s} {v:10.2f} {q:10.2f} " + (f"{v / q:9.2f}" if v == v and q == q else f"{'-':>9s}"))
    for name, runs in results.items():
        bad = [r for r in runs if "error" in r]
        print(f"{name}: {len(runs) - len(bad)}/{len(runs)} runs reached the prompt and powered off")
        for r in bad[:1]:
            print(f"  failed: {r['error']} (status {r['status']}); last output:\n    " +
                  "\n    ".join(r["tail"].replace("\r", "").splitlines()[-8:]))
            print("  stderr: " + " | ".join(l for l in r["stderr"].splitlines() if l.strip())[:400])
    return 0 if all(len(ok[n]) == len(results[n]) for n in results) else 1


if __name__ == "__main__":
    sys.exit(main())
