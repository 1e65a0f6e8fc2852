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
import select
import statistics
import subprocess
import sys
import time

MARKER = b"VMM-INIT-READY"
CMDLINE = "console=ttyS0 earlycon=sbi panic=-1"
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf"


def run_once(argv, timeout, stall):
    """Boot once to the prompt, power off; a dict of measurements, with 'error' when it fell short."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err, res = b"", b"", {}
    state, typed, last_out = "marker", 0.0, t0
    fds = [p.stdout, p.stderr]
    while fds:
        now = time.monotonic()
        if state != "exit" and (now - t0 > timeout or now - last_out > stall):
            res["error"] = (f"no {state} after {timeout:.0f} s" if now - t0 > timeout
                            else f"no output for {stall:.0f} s while waiting for the {state}")
            p.terminate()
            state = "exit"
            typed = now
        if state == "exit" and now - typed > 60:
            p.kill()
        r, _, _ = select.select(fds, [], [], 0.2)
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                fds.remove(f)
            elif f is p.stdout:
                out += chunk
                last_out = time.monotonic()
            else:
                err += chunk
        text = out.replace(b"\r", b"")
        if state == "marker" and MARKER in text:
            res["marker_s"] = time.monotonic() - t0
            m = re.search(rb"VMM-INIT-READY uptime=([0-9.]+)", text)
            res["uptime_s"] = float(m.group(1)) if m else float("nan")
            state = "prompt"
        if state == "prompt" and re.search(rb"VMM-INIT-READY[^\n]*\n(.|\n)*# ", text):
            res["prompt_s"] = time.monotonic() - t0
            state = "poweroff"
        # Input typed before the shell has set up its terminal can be discarded: retype until the monitor exits.
        if state == "poweroff" and time.monotonic() - typed > 10:
            try:
                p.stdin.write(b"poweroff -f\n")
                p.stdin.flush()
            except BrokenPipeError:
                pass
            typed = time.monotonic()
    _, status, ru = os.wait4(p.pid, 0)
    res["exit_s"] = time.monotonic() - t0
    res["status"] = os.waitstatus_to_exitcode(status)
    res["user_s"], res["sys_s"] = ru.ru_utime, ru.ru_stime
    res["tail"] = out[-400:].decode(errors="replace")
    res["stderr"] = err.decode(errors="replace")
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
    ap.add_argument("--vmm-before", help="a second vmm (an earlier build) run in the same interleaving, for "
                    "before/after figures of a change")
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
    if args.vmm_before:
        monitors["vmm-before"] = [args.vmm_before] + monitors["vmm"][1:]
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
    if args.vmm_before:
        b = med(ok["vmm-before"], "user_s") + med(ok["vmm-before"], "sys_s")
        print(f"{'vmm-before CPU (s)':28s} {b:10.2f} {'':10s} {b / q:9.2f}   (vmm/vmm-before {v / b:.2f}; "
              f"prompt {med(ok['vmm-before'], 'prompt_s'):.2f} s)")
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
