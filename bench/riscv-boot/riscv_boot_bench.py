#!/usr/bin/env python3
"""bench/riscv-boot: the riscv64 Linux guest (scripts/get-riscv-guest) booted to its shell prompt by vmm and by
qemu-system-riscv64 -M virt (TCG) side by side in one run: the same firmware (Debian's OpenSBI fw_dynamic.elf),
kernel Image, initramfs, command line, RAM and harts. With --root ext4 the root is instead a fresh copy, each run,
of the ext4 image get-riscv-guest makes (rootfs.ext4) on virtio-blk (vmm: --device virtio-blk; QEMU:
virtio-blk-device on the board's virtio-mmio), no initramfs, `root=/dev/vda rw` added to the command line; with
--root both the four (vmm and QEMU, initramfs and ext4 root) run interleaved.

Per run: process start -> the marker /init prints, start -> the shell's first prompt (host wall clock), the
guest's uptime in the marker, then `poweroff -f` is typed and the monitor's user and system CPU time are taken
at its exit (wait4). Medians over the runs, and the ratios vmm / QEMU of wall time to the prompt and of CPU time.
A monitor that does not reach the prompt is reported with the reason and its last output; no ratio is made up.

usage: riscv_boot_bench.py --vmm VMM --get-guest SCRIPT [--runs N] [--cpus N] [--mem MiB] [--timeout S]
                           [--root initramfs|ext4|both]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from guest_session import GuestSession  # noqa: E402

MARKER = b"VMM-INIT-READY"
CMDLINE = "console=ttyS0 earlycon=sbi panic=-1"
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf"


def boot_step(s):
    """Start -> the marker /init prints -> the shell's first prompt -> `poweroff -f`, typed until the monitor exits."""
    if s.state == "marker" and MARKER in s.text:
        s.res["marker_s"] = s.elapsed()
        s.state = "prompt"
    # The marker's line can come in pieces (QEMU writes the console a character at a time): its end is awaited.
    m = "uptime_s" not in s.res and re.search(rb"VMM-INIT-READY uptime=([0-9.]+)\n", s.text)
    if m:
        s.res["uptime_s"] = float(m.group(1))
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
    ap.add_argument("--root", choices=["initramfs", "ext4", "both"], default="initramfs")
    ap.add_argument("--vmm-before", help="a second vmm (an earlier build) run in the same interleaving, for "
                    "before/after figures of a change")
    args = ap.parse_args()

    d = subprocess.run([args.get_guest], check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    kernel, initrd = os.path.join(d, "Image"), os.path.join(d, "initramfs.cpio")
    rootfs = os.path.join(d, "rootfs.ext4")
    tmp = tempfile.mkdtemp(prefix="riscv-boot-bench.")
    disk = os.path.join(tmp, "root.ext4")
    common = f"{args.mem}M"
    vmm = [args.vmm, "run", "--arch", "riscv64", "--mem", common, "--cpus", str(args.cpus), "--bios", FIRMWARE,
           "--kernel", kernel]
    qemu = ["qemu-system-riscv64", "-M", "virt", "-m", common, "-smp", str(args.cpus), "-display", "none",
            "-monitor", "none", "-serial", "stdio", "-no-reboot", "-bios", FIRMWARE, "-kernel", kernel]
    ext4 = args.append + " root=/dev/vda rw"
    monitors, pairs = {}, []
    if args.root in ("initramfs", "both"):
        monitors["vmm"] = vmm + ["--initrd", initrd, "--append", args.append]
        monitors["qemu"] = qemu + ["-initrd", initrd, "-append", args.append]
        pairs.append(("vmm", "qemu"))
    if args.root in ("ext4", "both"):
        monitors["vmm-ext4"] = vmm + ["--device", f"virtio-blk,file={disk}", "--append", ext4]
        monitors["qemu-ext4"] = qemu + ["-drive", f"file={disk},format=raw,if=none,id=root",
                                        "-device", "virtio-blk-device,drive=root", "-append", ext4]
        pairs.append(("vmm-ext4", "qemu-ext4"))
    if args.vmm_before:
        if args.root == "ext4":
            sys.exit("--vmm-before compares the initramfs boot: use --root initramfs or both")
        monitors["vmm-before"] = [args.vmm_before] + monitors["vmm"][1:]
        pairs.append(("vmm", "vmm-before"))
    print(f"kernel {kernel} ({os.path.getsize(kernel)} bytes), initramfs {initrd} ({os.path.getsize(initrd)} bytes), "
          f"firmware {FIRMWARE}, {args.cpus} hart(s), {args.mem} MiB, cmdline '{args.append}'")
    for name, argv in monitors.items():
        print(f"{name}: {' '.join(argv)}")
    results = {name: [] for name in monitors}
    # Interleaved, so that a change in the machine's load hits every monitor alike.
    for i in range(args.runs):
        for name, argv in monitors.items():
            if name.endswith("-ext4"):
                shutil.copyfile(rootfs, disk)  # each boot finds the image as get-riscv-guest made it
            r = run_once(argv, args.timeout, args.stall)
            results[name].append(r)
            print(f"{name} run {i + 1}: " + (f"prompt {r['prompt_s']:.3f} s" if "prompt_s" in r else r["error"]) +
                  f", status {r['status']}, CPU {r['user_s'] + r['sys_s']:.3f} s", flush=True)

    shutil.rmtree(tmp, ignore_errors=True)

    ok = {name: [r for r in runs if "error" not in r] for name, runs in results.items()}
    for r in ok.values():
        for x in r:
            x["cpu_s"] = x["user_s"] + x["sys_s"]
    rows = [("start -> marker (s)", "marker_s"), ("start -> prompt (s)", "prompt_s"),
            ("guest uptime at marker (s)", "uptime_s"), ("start -> exit (s)", "exit_s"),
            ("CPU user (s)", "user_s"), ("CPU system (s)", "sys_s"), ("CPU user+system (s)", "cpu_s")]
    print(f"\n{'':28s}" + "".join(f" {n:>10s}" for n in monitors) + "".join(f" {v + '/' + q:>18s}" for v, q in pairs))
    for label, key in rows:
        line = f"{label:28s}" + "".join(f" {med(ok[n], key):10.3f}" for n in monitors)
        for v, q in pairs:
            a, b = med(ok[v], key), med(ok[q], key)
            line += f" {a / b:18.3f}" if a == a and b == b and b > 0 else f" {'-':>18s}"
        print(line)
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
