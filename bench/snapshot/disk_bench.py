#!/usr/bin/env python3
"""disk_bench.py: what the disk's contents cost a snapshot (docs/saved-state.md, "The disk in a snapshot").

The riscv64 Linux guest of scripts/get-riscv-guest (in process, no KVM needed) with a virtio-blk image of
--size MiB filled with random bytes (nothing for the store to share: the worst case) saves, over the control
socket, at its shell prompt:
  full         the first save of the process: the whole image goes into the database
  unchanged    incremental, the disk not written since (the device's dirty map is empty: no disk read)
  after-1MiB   incremental after the guest wrote 1 MiB with O_DIRECT (16 clusters of 64 KiB)
then vmm is killed, and the snapshot is restored in new processes:
  restore-same   the image as the last save left it (every page compared, none written)
  restore-1MiB   'unchanged' restored: the 1 MiB written after it is put back
Beside them, in the same run, what a user did before this: copying the image (cp + fsync), and reading it once.
Times are vmm's own log lines (guest paused / durable, restored in); CPU time is vmm's user + system time across
the save (the guest idles at its prompt) or the restoring process's (start to the log line, start-up included).
usage: disk_bench.py --vmm VMM --get-guest scripts/get-riscv-guest [--size MiB] [--runs N]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def cpu_s(pid):
    """user + system seconds of a running process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(path, pattern, proc, secs):
    end = time.time() + secs
    while time.time() < end:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        if proc.poll() is not None:
            sys.exit("vmm exited before /%s/ appeared in %s" % (pattern, path))
        time.sleep(0.01)
    sys.exit("timed out waiting for /%s/ in %s" % (pattern, path))


def one_run(a, guest, tmp):
    img, db, sock = os.path.join(tmp, "disk.img"), os.path.join(tmp, "db"), os.path.join(tmp, "sock")
    for p in (db, sock):
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.unlink(p))
    with open(img, "wb") as f:
        for _ in range(a.size):
            f.write(os.urandom(1 << 20))
        os.fsync(f.fileno())
    res = {}
    # The baseline: a copy of the image, made durable, and one read of it.
    t0, c0 = time.time(), os.times()
    subprocess.run(["cp", img, img + ".copy"], check=True)
    with open(img + ".copy", "rb") as f:
        os.fsync(f.fileno())
    c1 = os.times()
    res["cp+fsync"] = ((time.time() - t0) * 1e3, (c1.children_user + c1.children_system - c0.children_user -
                                                  c0.children_system) * 1e3)
    os.unlink(img + ".copy")
    t0 = time.time()
    with open(img, "rb") as f:
        while f.read(1 << 20):
            pass
    res["read image"] = ((time.time() - t0) * 1e3, None)

    fifo = os.path.join(tmp, "in")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    cin = os.open(fifo, os.O_RDWR)
    out, err = os.path.join(tmp, "run.out"), os.path.join(tmp, "run.err")
    args = [a.vmm, "run", "--arch", "riscv64", "--mem", "256M", "--kernel", guest + "/Image", "--initrd",
            guest + "/initramfs.cpio", "--append", "console=ttyS0",
            "--device", "virtio-blk,base=0x10002000,irq=2,file=" + img, "--state", db, "--control", sock,
            "--log", "info"]
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen(args, stdin=cin, stdout=fo, stderr=fe)
    wait_for(out, "VMM-INIT-READY", p, 600)

    def save(name):
        c = cpu_s(p.pid)
        subprocess.run([a.vmm, "ctl", sock, "save", name], check=True, stdout=subprocess.DEVNULL)
        m = wait_for(err, r"saved snapshot '%s'.*guest paused ([0-9.]+) ms, durable after ([0-9.]+) ms" % name, p, 60)
        res[name] = (float(m.group(2)), (cpu_s(p.pid) - c) * 1e3, float(m.group(1)))

    save("full")
    save("unchanged")
    os.write(cin, b"dd if=/dev/urandom of=/dev/vda bs=64k count=16 seek=100 oflag=direct 2>/dev/null; echo dd-$((1+1))\n")
    wait_for(out, r"dd-2", p, 60)
    save("after-1MiB")
    p.kill()
    p.wait()

    def restore(label, name):
        rout, rerr = os.path.join(tmp, "r.out"), os.path.join(tmp, "r.err")
        with open(rout, "w") as fo, open(rerr, "w") as fe:
            r = subprocess.Popen([a.vmm, "run", "--restore", db + ":" + name, "--log", "info"], stdin=cin,
                                 stdout=fo, stderr=fe)
        m = wait_for(rerr, r"restored snapshot '%s' in ([0-9.]+) ms" % name, r, 60)
        c = cpu_s(r.pid)
        r.kill()
        r.wait()
        res[label] = (float(m.group(1)), c * 1e3)

    restore("restore-same", "after-1MiB")
    restore("restore-1MiB", "unchanged")
    os.close(cin)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--get-guest", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    guest = subprocess.run([a.get_guest], check=True, capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="disk-bench-")
    try:
        runs = [one_run(a, guest, tmp) for _ in range(a.runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = lambda k, i: statistics.median(r[k][i] for r in runs if r[k][i] is not None) \
        if any(r[k][i] is not None for r in runs) else float("nan")
    print("disk bench: riscv64 Linux, %d MiB image of random bytes, %d runs, medians" % (a.size, a.runs))
    print("%-14s %10s %10s %12s %8s" % ("", "wall ms", "CPU ms", "paused ms", "vs full"))
    full = med("full", 0)
    for k in ("full", "unchanged", "after-1MiB", "restore-same", "restore-1MiB", "cp+fsync", "read image"):
        paused = med(k, 2) if k in ("full", "unchanged", "after-1MiB") else float("nan")
        print("%-14s %10.1f %10.1f %12.1f %7.3fx" % (k, med(k, 0), med(k, 1), paused, med(k, 0) / full))
    print("saves: wall = until durable; paused = the guest stopped (the image's changed clusters are read then)")


if __name__ == "__main__":
    main()
