#!/usr/bin/env python3
"""bench/riscv-linux: rvbench (bench/riscv/bench.c) as a static riscv64 Linux user program, run inside the booted
riscv64 Linux guest (OpenSBI -> Linux 6.1 -> busybox, Sv39 paging on) by vmm and by qemu-system-riscv64 -M virt
(TCG) side by side in one run, with the same firmware, kernel, command line, RAM and hart count.

The program goes into a copy of the cached initramfs (the cached archive with a second newc archive holding
/bin/rvbench appended, written next to the ELF; the cached one is not touched). Per run: boot to the shell prompt,
type /bin/rvbench, read its checksum and the guest's own timing of the bench (CLOCK_MONOTONIC and the process CPU
clock, boot excluded), type `poweroff -f`, and take the monitor's host CPU time (user + system, wait4) and wall
time of the whole run. Checksums must agree across monitors and runs. Reports the best (minimum) and the median
of the runs of each figure, and the ratios QEMU / vmm (above 1: vmm faster).

usage: run_linux_bench.py --vmm VMM --elf RVBENCH_LINUX [--get-guest SCRIPT | --guest-dir DIR] [--runs N]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from guest_session import GuestSession  # noqa: E402

CMDLINE = "console=ttyS0 panic=-1"
FW_DIR = "/usr/lib/riscv64-linux-gnu/opensbi/generic"


def cpio_newc(entries):
    """A newc archive of (name, mode, data) entries, then the trailer."""
    out = bytearray()
    ino = 0x52560000
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        ino += 1
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1 if mode & 0o40000 == 0 else 2, 0, len(data), 0, 0, 0, 0, len(nb), 0]
        out += b"070701" + b"".join(b"%08x" % f for f in fields) + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def make_initrd(base, elf, dest):
    with open(base, "rb") as f:
        data = f.read()
    data += b"\0" * (-len(data) % 512)
    with open(elf, "rb") as f:
        prog = f.read()
    data += cpio_newc([("bin/rvbench", 0o100755, prog)])
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)


def bench_step(s):
    """The shell's prompt -> /bin/rvbench typed (again if it did not echo) -> its checksum and timing ->
    `poweroff -f`, typed until the monitor exits."""
    if s.state == "prompt" and re.search(rb"VMM-INIT-READY[^\n]*\n(.|\n)*# ", s.text):
        s.res["prompt_s"] = s.elapsed()
        s.prompt_at = len(s.text)
        s.type_line(b"/bin/rvbench\n")
        s.state = "bench"
    if s.state == "bench":
        after = s.text[s.prompt_at:]
        if b"/bin/rvbench" not in after:
            s.retype(b"/bin/rvbench\n")
        m = re.search(rb"rvbench checksum (0x[0-9a-f]+)\nRVBENCH-LINUX wall=([0-9.]+) cpu=([0-9.]+)\n", after)
        if m:
            s.res["checksum"] = m.group(1).decode()
            s.res["guest_wall_s"], s.res["guest_cpu_s"] = float(m.group(2)), float(m.group(3))
            s.res["bench_host_s"] = s.elapsed() - s.res["prompt_s"]
            s.state, s.typed = "poweroff", 0.0
    if s.state == "poweroff":
        s.retype(b"poweroff -f\n")


def run_once(argv, timeout, stall):
    """Boot, run the bench, power off; a dict of measurements, with 'error' when it fell short."""
    res = GuestSession(argv).run(bench_step, "prompt", timeout, stall)
    if "checksum" not in res and "error" not in res:
        res["error"] = f"exited with status {res['status']} before the bench finished"
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--elf", required=True, help="the static riscv64 Linux rvbench")
    ap.add_argument("--get-guest", help="scripts/get-riscv-guest: prints the directory with Image, initramfs.cpio")
    ap.add_argument("--guest-dir", default=os.path.expanduser("~/.cache/vmm/riscv64"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--stall", type=float, default=300, help="give up after this long without guest output")
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--vmm-only", action="store_true", help="leave QEMU out (profiling)")
    ap.add_argument("--vmm-extra", default="", help="extra vmm run options, space-separated (e.g. --stats)")
    args = ap.parse_args()

    d = args.guest_dir
    if args.get_guest and os.path.exists(args.get_guest):
        d = subprocess.run([args.get_guest], check=True, stdout=subprocess.PIPE,
                           text=True).stdout.strip().splitlines()[-1]
    kernel, base = os.path.join(d, "Image"), os.path.join(d, "initramfs.cpio")
    for f in (kernel, base):
        if not os.path.exists(f):
            sys.exit(f"bench-riscv-linux: {f}: no such file (scripts/get-riscv-guest builds the guest)")
    initrd = os.path.join(os.path.dirname(os.path.abspath(args.elf)), "initramfs-rvbench.cpio")
    make_initrd(base, args.elf, initrd)

    mem = f"{args.mem}M"
    helptext = subprocess.run([args.vmm, "run", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout
    if "--bios" in helptext:
        fw = os.path.join(FW_DIR, "fw_dynamic.elf")
        vmm_boot = ["--bios", fw, "--kernel", kernel]
    else:  # before the boot ROM: fw_jump with the kernel placed where it jumps
        fw = os.path.join(FW_DIR, "fw_jump.elf")
        vmm_boot = ["--kernel", fw, "--image", kernel + "@0x80200000"]
    monitors = {"vmm": [args.vmm, "run", "--arch", "riscv64", "--mem", mem, "--cpus", str(args.cpus)] +
                args.vmm_extra.split() + vmm_boot + ["--initrd", initrd, "--append", CMDLINE]}
    if not args.vmm_only:
        monitors["qemu"] = [args.qemu, "-M", "virt", "-m", mem, "-smp", str(args.cpus), "-display", "none",
                            "-monitor", "none", "-serial", "stdio", "-no-reboot", "-bios", fw, "-kernel", kernel,
                            "-initrd", initrd, "-append", CMDLINE]
    print(f"kernel {kernel}, initramfs {initrd} (+ /bin/rvbench, {os.path.getsize(args.elf)} bytes), firmware {fw}, "
          f"{args.cpus} hart(s), {args.mem} MiB, cmdline '{CMDLINE}'")
    for name, argv in monitors.items():
        print(f"{name}: {' '.join(argv)}")
    results = {name: [] for name in monitors}
    # Interleaved, so that a change in the machine's load hits both monitors alike.
    for i in range(args.runs):
        for name, argv in monitors.items():
            r = run_once(argv, args.timeout, args.stall)
            results[name].append(r)
            if "error" in r:
                print(f"{name} run {i + 1}: FAILED: {r['error']} (status {r['status']}); last output:\n    " +
                      "\n    ".join(r["tail"].replace("\r", "").splitlines()[-8:]) +
                      "\n  stderr: " + " | ".join(l for l in r["stderr"].splitlines() if l.strip())[:400])
            else:
                print(f"{name} run {i + 1}: checksum {r['checksum']}, in guest {r['guest_wall_s']:.3f} s wall "
                      f"{r['guest_cpu_s']:.3f} s cpu; whole run {r['exit_s']:.2f} s wall {r['cpu_s']:.2f} s host cpu"
                      f" (prompt at {r['prompt_s']:.2f} s)", flush=True)
            if args.vmm_extra and name == "vmm":
                print("  vmm stderr: " + r["stderr"].strip().replace("\n", "\n  vmm stderr: "))
    failed = [n for n, runs in results.items() if any("error" in r for r in runs)]
    if failed:
        sys.exit(f"bench-riscv-linux: {', '.join(failed)}: a run did not complete")
    sums = {r["checksum"] for runs in results.values() for r in runs}
    if len(sums) != 1:
        sys.exit("bench-riscv-linux: checksums differ: " + ", ".join(sorted(sums)))
    print(f"\nrvbench in the Linux guest, checksum {sums.pop()}, {args.runs} runs each: best (minimum) / median")
    rows = [("in guest: bench wall (s)", "guest_wall_s"), ("in guest: bench cpu (s)", "guest_cpu_s"),
            ("host: whole run wall (s)", "exit_s"), ("host: whole run cpu (s)", "cpu_s"),
            ("host: start -> prompt (s)", "prompt_s"), ("host: prompt -> bench output (s)", "bench_host_s")]
    names = list(monitors)
    print(f"{'':28s}" + "".join(f"{n + ' best':>12s}{n + ' med':>12s}" for n in names) +
          ("   qemu/vmm best  median" if "qemu" in names else ""))
    for label, key in rows:
        line = f"{label:28s}"
        stats = {}
        for n in names:
            vals = [r[key] for r in results[n]]
            stats[n] = (min(vals), statistics.median(vals))
            line += f"{stats[n][0]:12.3f}{stats[n][1]:12.3f}"
        if "qemu" in names:
            line += f"   {stats['qemu'][0] / stats['vmm'][0]:10.2f}x {stats['qemu'][1] / stats['vmm'][1]:6.2f}x"
        print(line)
    if "qemu" in names:
        print("(qemu/vmm above 1: vmm faster; goal: in-guest bench >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
