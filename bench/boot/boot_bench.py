#!/usr/bin/env python3
"""bench/boot: Linux boot time and memory of vmm against QEMU on the same kernel, initramfs and command line.

Per run: process start -> the marker /init prints (host wall clock), the guest's own uptime in the marker, and
process exit after `reboot -f` typed at the shell; peak RSS of the monitor (getrusage) and the guest RAM it
touched (Rss of the guest-RAM mapping in /proc/PID/smaps at the marker): VMM overhead = peak RSS - RAM touched.
Median, min and max over the runs. QEMU runs `-M microvm` with TCG; `-accel kvm` is tried once and reported as
it ends (on software KVM it dies at the kernel's first int3). vmm's --stats give the relegation counts; its user
and system CPU time show how much of the boot is the host kernel (KVM's ring-0 emulator) rather than vmm.

usage: boot_bench.py --vmm VMM --get-guest SCRIPT [--runs N] [--qemu-runs N] [--mem MiB] [--timeout S]
                     [--append CMDLINE]   (default: the stock "console=ttyS0 panic=-1"; both monitors get it)
"""
import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import time

MARKER = b"VMM-INIT-READY"
CMDLINE = "console=ttyS0 panic=-1"


def ram_rss_kib(pid, mem_bytes):
    """Rss of the largest anonymous mapping at least as big as the guest RAM (its backing), in KiB."""
    best = 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            size = 0
            for line in f:
                m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
                if m:
                    size = int(m.group(2), 16) - int(m.group(1), 16)
                    continue
                if line.startswith("Rss:") and size >= mem_bytes:
                    best = max(best, int(line.split()[1]))
    except OSError:
        pass
    return best


def run_once(argv, mem_bytes, timeout, after_init=300, save=None):
    """Boot once; returns a dict of measurements, or one with 'error'."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    err = b""
    res = {}
    state = "marker"
    typed = 0.0
    deadline = t0 + timeout
    open_fds = [p.stdout, p.stderr]
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            p.terminate()
            res["error"] = f"timeout after {timeout} s waiting for {state}"
            break
        r, _, _ = select.select(open_fds, [], [], min(left, 1.0))
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                open_fds.remove(f)  # EOF: the monitor has exited (wait4 below reaps it, with its rusage)
            elif f is p.stdout:
                out += chunk
            else:
                err += chunk
        if "handoff_s" not in res and b"Run /init as init process" in out:
            res["handoff_s"] = time.monotonic() - t0
            m = re.search(rb"\[ *([0-9.]+)\] Run /init as init process", out)
            res["handoff_uptime_s"] = float(m.group(1)) if m else float("nan")
        # Where user space cannot run (see docs/linux-boot.md), init dies: stop instead of waiting out the timeout.
        if state == "marker" and (b"Attempted to kill init" in out or
                                  ("handoff_s" in res and time.monotonic() - t0 - res["handoff_s"] > after_init)):
            p.terminate()  # SIGTERM: vmm stops cleanly and still prints its --stats
            res["error"] = ("init died (kernel panic)" if b"Attempted to kill init" in out
                            else f"no marker {after_init:.0f} s after the kernel ran /init")
            state = "dead"
        if state == "marker" and MARKER in out:
            res["marker_s"] = time.monotonic() - t0
            m = re.search(rb"VMM-INIT-READY uptime=([0-9.]+)", out)
            res["uptime_s"] = float(m.group(1)) if m else float("nan")
            res["ram_kib"] = ram_rss_kib(p.pid, mem_bytes)
            state = "prompt"
        # Input typed before the shell has set up its terminal can be discarded, so retype until vmm exits.
        if (state == "prompt" and re.search(rb"VMM-INIT-READY[^\n]*\n(.|\n)*# ", out)) or \
                (state == "exit" and time.monotonic() - typed > 10):
            try:
                p.stdin.write(b"reboot -f\n")
                p.stdin.flush()
            except BrokenPipeError:
                pass
            typed = time.monotonic()
            state = "exit"
    _, status, ru = os.wait4(p.pid, 0)
    res["exit_s"] = time.monotonic() - t0
    res["status"] = os.waitstatus_to_exitcode(status)
    res["rss_kib"] = ru.ru_maxrss
    res["user_s"] = ru.ru_utime
    res["sys_s"] = ru.ru_stime
    res["stderr"] = err.decode(errors="replace")
    res["stdout_tail"] = out[-600:].decode(errors="replace")
    if save:
        with open(save, "wb") as f:
            f.write(out)
    if "marker_s" not in res and "error" not in res:
        res["error"] = f"exited with status {res['status']} before the marker"
    return res


def summary(vals):
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    return f"{statistics.median(vals):8.2f} {min(vals):8.2f} {max(vals):8.2f}"


def report(name, runs, mem_mib):
    ok = [r for r in runs if "error" not in r]
    print(f"\n== {name}: {len(ok)}/{len(runs)} runs reached the marker")
    for r in runs:
        if "error" in r:
            last = [l for l in r["stderr"].splitlines() if l.strip()][:3]
            print(f"   failed: {r['error']}; stderr: {' | '.join(last)[:300]}")
            print("   last output: " + r["stdout_tail"][-300:].replace("\n", " | "))
            if "handoff_s" in r:
                print(f"   reached 'Run /init as init process' {r['handoff_s']:.1f} s after start "
                      f"(guest uptime {r['handoff_uptime_s']:.1f} s); exit {r['exit_s']:.1f} s, peak RSS "
                      f"{r['rss_kib'] / 1024:.1f} MiB, CPU user {r['user_s']:.1f} s, system {r['sys_s']:.1f} s")
    if not ok:
        return
    print(f"   {'':34s} {'median':>8s} {'min':>8s} {'max':>8s}")
    print(f"   {'start -> kernel runs /init (s)':34s} {summary([r.get('handoff_s', float('nan')) for r in ok])}")
    print(f"   {'guest uptime at that point (s)':34s} {summary([r.get('handoff_uptime_s', float('nan')) for r in ok])}")
    print(f"   {'start -> /init marker (s)':34s} {summary([r['marker_s'] for r in ok])}")
    print(f"   {'guest uptime at marker (s)':34s} {summary([r['uptime_s'] for r in ok])}")
    print(f"   {'start -> exit after reboot -f (s)':34s} {summary([r['exit_s'] for r in ok])}")
    print(f"   {'peak RSS (MiB)':34s} {summary([r['rss_kib'] / 1024 for r in ok])}")
    print(f"   {'guest RAM touched (MiB)':34s} {summary([r['ram_kib'] / 1024 for r in ok])}")
    print(f"   {'overhead = RSS - RAM touched (MiB)':34s} {summary([(r['rss_kib'] - r['ram_kib']) / 1024 for r in ok])}")
    print(f"   {'CPU user (s)':34s} {summary([r['user_s'] for r in ok])}")
    print(f"   {'CPU system, host kernel (s)':34s} {summary([r['sys_s'] for r in ok])}")
    print(f"   exit statuses: {sorted(set(r['status'] for r in ok))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--get-guest", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--qemu-runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--kvm-timeout", type=float, default=240)
    ap.add_argument("--skip-vmm", action="store_true")
    ap.add_argument("--append", default=CMDLINE, help="kernel command line for both monitors")
    ap.add_argument("--save-output", help="directory for each run's serial output")
    args = ap.parse_args()

    d = subprocess.run([args.get_guest], check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    kernel, initrd = os.path.join(d, "vmlinuz"), os.path.join(d, "initramfs.cpio")
    pkg = open(os.path.join(d, "kernel-package")).read().strip() if os.path.exists(os.path.join(d, "kernel-package")) else "?"
    mem_bytes = args.mem << 20
    print(f"kernel {kernel} ({pkg}), initramfs {initrd}, --mem {args.mem}M, cmdline '{args.append}'")
    print(f"host: {os.uname().release}, /dev/kvm module: "
          f"{'kvm_pvm (software KVM)' if os.path.exists('/sys/module/kvm_pvm') else 'hardware KVM'}")

    vmm_argv = [args.vmm, "run", "--arch", "x86-raw", "--mem", f"{args.mem}M", "--kernel", kernel, "--initrd", initrd,
                "--append", args.append, "--device", "uart16550", "--device", "i8042", "--stats"]
    qemu = ["qemu-system-x86_64", "-M", "microvm,acpi=off,pit=on,pic=on,rtc=on", "-m", f"{args.mem}M", "-kernel", kernel,
            "-initrd", initrd, "-append", args.append, "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot"]
    print("vmm:  " + " ".join(vmm_argv))
    print("qemu: " + " ".join(qemu + ["-accel", "tcg|kvm"]))

    results = {}
    if not args.skip_vmm:
        vruns = []
        for i in range(args.runs):
            save = os.path.join(args.save_output, f"vmm-{i + 1}.out") if args.save_output else None
            r = run_once(vmm_argv, mem_bytes, args.timeout, save=save)
            vruns.append(r)
            print(f"vmm run {i + 1}: marker {r.get('marker_s', float('nan')):.2f} s, status {r['status']}", flush=True)
        results["vmm x86-raw"] = vruns
    qruns = []
    for i in range(args.qemu_runs):
        r = run_once(qemu + ["-accel", "tcg"], mem_bytes, 300)
        qruns.append(r)
        print(f"qemu tcg run {i + 1}: marker {r.get('marker_s', float('nan')):.2f} s, status {r['status']}", flush=True)
    results["qemu microvm -accel tcg"] = qruns
    if args.kvm_timeout > 0:
        save = os.path.join(args.save_output, "qemu-kvm.out") if args.save_output else None
        results["qemu microvm -accel kvm"] = [run_once(qemu + ["-accel", "kvm"], mem_bytes, args.kvm_timeout, save=save)]

    for name, runs in results.items():
        report(name, runs, args.mem)
    if "vmm x86-raw" in results and results["vmm x86-raw"]:
        print("\nvmm --stats of the first run:")
        print("\n".join(l for l in results["vmm x86-raw"][0]["stderr"].splitlines() if "stats" in l))
    return 0


if __name__ == "__main__":
    sys.exit(main())
