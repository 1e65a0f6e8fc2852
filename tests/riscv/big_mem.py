#!/usr/bin/env python3
"""riscv64's start-up does not grow with --mem: the demo guest with 512 GiB of RAM runs to its end with less than
256 MiB of host memory at its peak (the recompiler's code map is 1/256 of RAM, and a flush or the start touched all
of it: 2 GiB here). Usage: big_mem.py VMM GUEST_ELF"""
import resource
import subprocess
import sys

vmm, guest = sys.argv[1:3]
r = subprocess.run([vmm, "run", "--arch", "riscv64", "--mem", "512G", "--kernel", guest, "--device",
                    "uart16550,mmio=0x10000000", "--device", "sifive-test"], capture_output=True, text=True, timeout=120)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(r.stdout, end="")
if r.returncode != 0:
    sys.exit(f"FAIL: exit status {r.returncode}: {r.stderr}")
if peak_kib > 256 * 1024:
    sys.exit(f"FAIL: a 512 GiB guest took {peak_kib // 1024} MiB of host memory at its peak")
print(f"ok: 512 GiB of guest RAM, {peak_kib // 1024} MiB of host memory at the peak")
