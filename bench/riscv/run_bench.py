#!/usr/bin/env python3
"""bench/riscv: the same rvbench ELF on vmm (riscv64 recompiler, in-process and, where /dev/kvm exists, at ring 3
of a KVM VM under the RC hypervisor) and on qemu-system-riscv64
(-M virt -bios none, TCG), and rvbench compiled natively for x86-64 as the physical limit, interleaved in one
run. Reports the best wall-clock time of each (and CPU time, which a loaded host distorts less), the ratios
and guest MIPS (instruction count from vmm --stats). Checksums must agree or the run fails."""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = p.stdout.decode(errors="replace")
    m = re.search(r"checksum (0x[0-9a-f]+)", out)
    if p.returncode != 0 or not m:
        sys.exit("bench-riscv: %s failed (status %d):\n%s%s" % (cmd[0], p.returncode, out,
                                                               p.stderr.decode(errors="replace")))
    return wall, cpu, m.group(1), p.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--qemu", default="qemu-system-riscv64")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-rc", action="store_true",
                    help="leave out exec=rc (fpbench: every F/D instruction is an interpreter exit there)")
    a = ap.parse_args()
    have_qemu = shutil.which(a.qemu) is not None
    cmds = {
        "native x86-64": [a.native],
        "vmm riscv64 (inproc)": [a.vmm, "run", "--stats", "--arch", "riscv64", "--mem", "64M", "--kernel", a.elf,
                                 "--device", "uart16550,mmio=0x10000000", "--device", "sifive-test"],
    }
    have_rc = os.access("/dev/kvm", os.R_OK | os.W_OK) and not a.no_rc
    if have_rc:
        cmds["vmm riscv64 (exec=rc)"] = [a.vmm, "run", "--stats", "--arch", "riscv64,exec=rc", "--mem", "64M",
                                         "--kernel", a.elf, "--device", "uart16550,mmio=0x10000000",
                                         "--device", "sifive-test"]
    if have_qemu:
        cmds["qemu-system-riscv64"] = [a.qemu, "-M", "virt", "-bios", "none", "-nographic", "-monitor", "none",
                                       "-serial", "stdio", "-kernel", a.elf]
    best = {k: [float("inf"), float("inf")] for k in cmds}
    sums, insns, exits = set(), None, None
    for _ in range(a.runs):
        for name, cmd in cmds.items():
            wall, cpu, csum, err = timed(cmd)
            sums.add(csum)
            best[name][0] = min(best[name][0], wall)
            best[name][1] = min(best[name][1], cpu)
            m = re.search(r"riscv64: (\d+) guest instructions", err)
            if m:
                insns = int(m.group(1))
            m = re.search(r"exec=rc exits to vmm: (\d+) dispatch, (\d+) load, (\d+) store, (\d+) interpreter", err)
            if m:
                exits = [int(x) for x in m.groups()]
    if len(sums) != 1:
        sys.exit("bench-riscv: checksums differ: %s" % ", ".join(sorted(sums)))
    print("%s, best of %d runs, checksum %s, %s guest instructions" % (os.path.basename(a.elf).split(".")[0], a.runs, sums.pop(),
                                                                          insns if insns else "?"))
    print("%-24s %9s %9s %10s" % ("", "wall s", "cpu s", "guest MIPS"))
    for name, (wall, cpu) in best.items():
        mips = "%.0f" % (insns / wall / 1e6) if insns and name != "native x86-64" else "-"
        print("%-24s %9.3f %9.3f %10s" % (name, wall, cpu, mips))
    n, v = best["native x86-64"], best["vmm riscv64 (inproc)"]
    print("vmm / native:  %.2fx wall, %.2fx cpu   (goal <= 2x)" % (v[0] / n[0], v[1] / n[1]))
    if have_qemu:
        q = best["qemu-system-riscv64"]
        print("qemu / vmm:    %.2fx wall, %.2fx cpu   (goal >= 3x)" % (q[0] / v[0], q[1] / v[1]))
        print("qemu / native: %.2fx wall, %.2fx cpu" % (q[0] / n[0], q[1] / n[1]))
    else:
        print("qemu-system-riscv64 not installed: no QEMU comparison")
    if have_rc:
        r = best["vmm riscv64 (exec=rc)"]
        print("exec=rc / native: %.2fx wall, %.2fx cpu;  exec=rc / inproc: %.2fx wall, %.2fx cpu" %
              (r[0] / n[0], r[1] / n[1], r[0] / v[0], r[1] / v[1]))
        if have_qemu:
            print("qemu / exec=rc: %.2fx wall, %.2fx cpu" % (q[0] / r[0], q[1] / r[1]))
        if exits:
            print("exec=rc exits to vmm: %d dispatch, %d load, %d store, %d interpreter (%.0f per second)" %
                  (exits[0], exits[1], exits[2], exits[3], sum(exits) / r[0]))
    else:
        print("exec=rc not run (--no-rc)" if a.no_rc else "/dev/kvm not available: no exec=rc run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
