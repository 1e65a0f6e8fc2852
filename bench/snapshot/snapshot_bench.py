#!/usr/bin/env python3
"""bench/snapshot: how long saving and restoring a VM takes, next to what this machine can do at all.

A guest with 1 GiB of RAM fills 256 MiB with distinct pages and then counts slowly: x86-raw under KVM
(tests/guests/x86/counter.elf), or riscv64 in process (--arch riscv64, bench/snapshot/fill_count_riscv64.c,
built here with riscv64-unknown-elf-gcc; no KVM needed). vmm saves it through its
control socket (a full snapshot, then an incremental one), and new vmm processes restore it in each mode.
Reported: guest pause and time until durable for each save, database size, restore time inside vmm and from
process start to the guest's first line of output, each the median (min-max) of several runs. Alongside, in the
same run: this machine's rate for writing 256 MiB into the page cache of the database's file system, with and
without fsync, and for memcpy of 256 MiB; a save copies every touched page at least once, so these are its limit.
"""
import argparse
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20


def median_range(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def limit_rates(directory, size):
    """Page-cache write rate with and without fsync, and memcpy rate, in MB/s."""
    buf = os.urandom(MiB)
    path = os.path.join(directory, "limit.bin")
    out = {}
    for sync in (False, True):
        t0 = time.perf_counter()
        with open(path, "wb", buffering=0) as f:
            for _ in range(size // MiB):
                f.write(buf)
            if sync:
                os.fsync(f.fileno())
        out["write+fsync" if sync else "write"] = size / MiB / (time.perf_counter() - t0)
        os.unlink(path)
    src = bytearray(size)
    t0 = time.perf_counter()
    dst = bytes(src)  # one copy of `size` bytes
    out["memcpy"] = size / MiB / (time.perf_counter() - t0)
    del dst
    return out


class Guest:
    def __init__(self, vmm, guest, workdir, fill_mib):
        self.vmm, self.guest, self.workdir = vmm, guest, workdir
        self.params = os.path.join(workdir, "params.bin")
        with open(self.params, "wb") as f:
            f.write(struct.pack("<QQQ", 10**9, 20_000_000, fill_mib))
        self.sock = os.path.join(workdir, "ctl.sock")
        self.db = os.path.join(workdir, "db")

    def ctl(self, *args):
        r = subprocess.run([self.vmm, "ctl", self.sock, *args], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.exit(f"snapshot-bench: vmm ctl {' '.join(args)} failed: {r.stdout}{r.stderr}")

    def start(self, args, out_path, err_path):
        self.out = open(out_path, "wb")
        self.err = open(err_path, "wb")
        self.proc = subprocess.Popen([self.vmm, "run", "--log", "info", "--stats", "--control", self.sock, *args],
                                     stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err)

    def wait_output(self, out_path, text, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(out_path, "rb") as f:
                if text in f.read():
                    return time.perf_counter()
            if self.proc.poll() is not None:
                break
            time.sleep(0.001)
        sys.exit(f"snapshot-bench: the guest never printed {text!r}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.out.close()
        self.err.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--guest", required=True,
                    help="tests/guests/x86/counter.elf, or with --arch riscv64 fill_count_riscv64.c")
    ap.add_argument("--arch", default="x86-raw", choices=["x86-raw", "riscv64"])
    ap.add_argument("--rv-linker-script", help="with --arch riscv64: tests/riscv/link.ld")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--touch-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", help="where the database goes (default: a temporary directory)")
    a = ap.parse_args()
    if a.arch == "x86-raw" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("snapshot-bench: /dev/kvm is not available (--arch riscv64 runs in process)")
    work = tempfile.mkdtemp(prefix="vmm-snapshot-bench-", dir=a.dir)
    try:
        g = Guest(a.vmm, a.guest, work, a.touch_mib)
        if a.arch == "riscv64":
            elf = os.path.join(work, "guest.elf")
            cc = ["riscv64-unknown-elf-gcc", "-march=rv64imac_zicsr", "-mabi=lp64", "-mcmodel=medany", "-O2",
                  "-ffreestanding", "-nostdlib", "-nostartfiles", "-mno-relax", f"-DFILL_MIB={a.touch_mib}",
                  "-I", os.path.join(os.path.dirname(a.rv_linker_script), "guests"),
                  "-T", a.rv_linker_script, "-o", elf, a.guest]
            r = subprocess.run(cc, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"snapshot-bench: cannot build the RISC-V guest: {r.stderr}")
            machine = ["--arch", "riscv64", "--mem", a.mem, "--kernel", elf, "--device", "uart16550,mmio=0x10000000",
                       "--device", "sifive-test"]
        else:
            machine = ["--arch", "x86-raw", "--mem", a.mem, "--image", a.guest, "--image", g.params + "@0x200000",
                       "--device", "uart16550", "--device", "debug-exit"]
        limits = limit_rates(work, a.touch_mib * MiB)
        out, err = os.path.join(work, "run.out"), os.path.join(work, "run.err")
        g.start(machine + ["--state", g.db], out, err)
        g.wait_output(out, b"count 1")
        saves = []
        for name in ("full", "incremental"):
            g.ctl("pause")
            t0 = time.perf_counter()
            g.ctl("save", name)
            saves.append((name, (time.perf_counter() - t0) * 1000))
            g.ctl("resume")
            time.sleep(0.5)
        g.stop()
        log = open(err).read()
        paused = [float(x) for x in re.findall(r"guest paused ([0-9.]+) ms", log)]
        durable = [float(x) for x in re.findall(r"durable after ([0-9.]+) ms", log)]
        if len(paused) != 2:
            sys.exit(f"snapshot-bench: vmm did not report both saves:\n{log}")
        # The same saves without a pause request: vmm saves live (RAM write-protected, the guest runs on).
        live_db = os.path.join(work, "live-db")
        lout, lerr = os.path.join(work, "live.out"), os.path.join(work, "live.err")
        g.start(machine + ["--state", live_db], lout, lerr)
        g.wait_output(lout, b"count 1")
        for name in ("live-full", "live-incremental"):
            g.ctl("save", name)
            time.sleep(0.5)
        g.stop()
        llog = open(lerr).read()
        live = re.findall(r"saved snapshot '(live-[a-z]+)'.*\(live\): guest paused ([0-9.]+) ms, durable after ([0-9.]+) ms",
                          llog)
        if len(live) != 2:
            sys.exit(f"snapshot-bench: vmm did not save live:\n{llog}")
        db_bytes = os.path.getsize(os.path.join(g.db, "data.mdb"))
        info = subprocess.run([a.vmm, "snapshot", "info", g.db, "incremental"], capture_output=True, text=True).stdout
        inc_pages = re.search(r"pages mapped: *([0-9]+)", info).group(1)

        restores = {}
        for mode in ("eager", "lazy", "ondemand"):
            inside, first_line = [], []
            for _ in range(a.runs):
                rout, rerr = os.path.join(work, "r.out"), os.path.join(work, "r.err")
                t0 = time.perf_counter()
                g.start(["--restore", f"{g.db}:full", "--restore-mode", mode], rout, rerr)
                t1 = g.wait_output(rout, b"count")
                g.stop()
                m = re.search(r"restored snapshot 'full' in ([0-9.]+) ms", open(rerr).read())
                if not m:
                    sys.exit(f"snapshot-bench: no restore time in:\n{open(rerr).read()}")
                inside.append(float(m.group(1)))
                first_line.append((t1 - t0) * 1000)
            restores[mode] = (inside, first_line)

        touched = a.touch_mib
        print(f"snapshot bench: {a.arch}, guest RAM {a.mem}, {touched} MiB touched (distinct pages), {a.runs} restores "
              "per mode")
        print(f"machine limits, same run: page-cache write {limits['write']:.0f} MB/s, with fsync "
              f"{limits['write+fsync']:.0f} MB/s, memcpy {limits['memcpy']:.0f} MB/s")
        print(f"{'save':<12} {'guest paused ms':>16} {'durable ms':>11} {'MB/s (paused)':>14} {'vs page cache':>14}")
        for (name, _), p, d in zip(saves, paused, durable):
            rate = touched / (p / 1000) if name == "full" else float("nan")
            ratio = f"{rate / limits['write']:.2f}x" if name == "full" else "-"
            print(f"{name:<12} {p:>16.1f} {d:>11.1f} {rate:>14.0f} {ratio:>14}")
        for name, p, d in live:
            p, d = float(p), float(d)
            if name == "live-full":
                print(f"{name:<12} {p:>16.1f} {d:>11.1f} {touched / (p / 1000):>14.0f} {'-':>14}   "
                      f"(durable: {touched / (d / 1000):.0f} MB/s)")
            else:
                print(f"{name:<12} {p:>16.1f} {d:>11.1f} {'nan':>14} {'-':>14}")
        print(f"incremental snapshot: {inc_pages} pages; database: {db_bytes / MiB:.0f} MiB for {touched} MiB touched")
        print(f"{'restore':<10} {'inside vmm ms':>22} {'start to first output ms':>26}")
        for mode, (inside, first_line) in restores.items():
            print(f"{mode:<10} {median_range(inside):>22} {median_range(first_line):>26}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
