#!/usr/bin/env python3
"""Run the fuzz harnesses with libFuzzer: `ninja -C build fuzz` (docs/fuzzing.md).

Sets up a clang build with -Dfuzzing=true and ASan+UBSan (FUZZ_BUILD_DIR, default build-fuzz beside the
source) unless it exists, builds the harnesses and the plugins they load, and runs each harness alone for
FUZZ_SECONDS of CPU time (default 300; at most FUZZ_MAX_WALL seconds of wall time, default ten times that) in one
process, one after the other: the machines this runs on are shared. Each
starts from its committed seeds (tests/fuzz/corpus/NAME, only read) and the inputs earlier runs found
(BUILD/fuzz-corpus/NAME, where libFuzzer adds new ones). Crashes go to BUILD/fuzz-findings/NAME/. Prints per
harness the executions, the CPU time, libFuzzer's coverage figures (cov: edges, ft: features) and the
findings, and exits 1 if there was any finding.

FUZZ_HARNESSES=ssm,options limits the run; FUZZ_ARGS adds libFuzzer options (e.g. "-max_len=65536").
"""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time


def log(msg):
    print(msg, flush=True)


def setup(source, build):
    if os.path.exists(os.path.join(build, "build.ninja")):
        return
    env = dict(os.environ, CC=os.environ.get("FUZZ_CC", "clang"))
    # The options of scripts/test's ASan+UBSan build, plus libFuzzer. -Db_lundef=false: plugins leave the
    # sanitizer runtime's symbols to the executable that loads them. -Dwerror=false: the project's warnings are
    # kept clean under gcc; clang adds some of its own (GNU extensions in x86-raw's KVM structures), which are
    # no reason to refuse to fuzz.
    cmd = ["meson", "setup", build, source, "-Dfuzzing=true", "-Dbuildtype=debugoptimized",
           "-Db_sanitize=address,undefined", "-Db_lundef=false", "-Dwerror=false"]
    log("fuzz: " + " ".join(shlex.quote(c) for c in cmd))
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)


def build_targets(build, harnesses):
    """The harness executables and every shared module under plugins/ (fuzz-options reads their tables,
    fuzz-riscv64-elf loads riscv64.so): not the whole project."""
    out = subprocess.run(["meson", "introspect", "--targets", build], check=True, capture_output=True, text=True)
    targets = []
    for t in json.loads(out.stdout):
        rel = [os.path.relpath(f, build) for f in t["filename"]]
        if t["type"] == "shared module" and rel[0].startswith("plugins" + os.sep):
            targets += rel
        elif t["name"] in ["fuzz-" + h for h in harnesses]:
            targets += rel
    return targets


def cpu_of(pid):
    """User + system CPU seconds of a running process, from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_one(source, build, name, seconds, max_wall, extra):
    exe = os.path.join(build, "tests", "fuzz", "fuzz-" + name)
    corpus = os.path.join(build, "fuzz-corpus", name)
    seeds = os.path.join(source, "tests", "fuzz", "corpus", name)
    findings = os.path.join(build, "fuzz-findings", name)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(findings, exist_ok=True)
    logfile = os.path.join(build, "fuzz-findings", name + ".log")
    cmd = [exe, "-max_total_time=%d" % max_wall, "-print_final_stats=1", "-timeout=20",
           "-artifact_prefix=" + findings + os.sep] + extra + [corpus, seeds]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    before = set(os.listdir(findings))
    log("fuzz: %s for %d s of CPU (at most %d s)" % (name, seconds, max_wall))
    t0 = time.time()
    with open(logfile, "w") as lf:
        p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, env=env)
        interrupted = False
        # The budget is CPU time, so a busy shared machine gets the same work done, only later; libFuzzer's own
        # -max_total_time (the wall-clock cap) is the backstop. On SIGINT libFuzzer prints its final stats.
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if cpu_of(p.pid) >= seconds:
                p.send_signal(signal.SIGINT)
                _, status, ru = os.wait4(p.pid, 0)
                interrupted = True
                break
            time.sleep(1)
    wall = time.time() - t0
    text = open(logfile, errors="replace").read()
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    covs = re.findall(r"\bcov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", text)
    new = sorted(set(os.listdir(findings)) - before)
    rc = os.waitstatus_to_exitcode(status)
    if interrupted and rc == 72 and "libFuzzer: run interrupted" in text:
        rc = 0  # libFuzzer's exit status after our SIGINT (its -interrupted_exit_code)
    return {
        "name": name,
        "cpu": ru.ru_utime + ru.ru_stime,
        "wall": wall,
        "execs": int(execs.group(1)) if execs else None,
        "cov": covs[-1] if covs else None,
        "findings": [os.path.join(findings, f) for f in new],
        "rc": rc,
        "log": logfile,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--harnesses", required=True)
    args = ap.parse_args()
    source = os.path.abspath(args.source)
    build = os.path.abspath(os.environ.get("FUZZ_BUILD_DIR", os.path.join(source, "build-fuzz")))
    seconds = int(os.environ.get("FUZZ_SECONDS", "300"))
    max_wall = int(os.environ.get("FUZZ_MAX_WALL", str(10 * seconds)))
    harnesses = os.environ.get("FUZZ_HARNESSES", args.harnesses).split(",")
    extra = shlex.split(os.environ.get("FUZZ_ARGS", ""))
    setup(source, build)
    subprocess.run(["ninja", "-C", build] + build_targets(build, harnesses), check=True)
    results = [run_one(source, build, h, seconds, max_wall, extra) for h in harnesses]
    log("")
    log("%-12s %10s %8s %8s %8s %7s %7s %s" % ("harness", "execs", "cpu s", "wall s", "exec/s", "cov", "ft",
                                                "findings"))
    bad = 0
    for r in results:
        cov, ft = (r["cov"][0], r["cov"][1]) if r["cov"] else ("?", "?")
        rate = "%d" % (r["execs"] / r["cpu"]) if r["execs"] and r["cpu"] else "?"
        log("%-12s %10s %8.0f %8.0f %8s %7s %7s %s" % (r["name"], r["execs"] if r["execs"] is not None else "?",
                                                    r["cpu"], r["wall"], rate, cov, ft, len(r["findings"])))
        for f in r["findings"]:
            log("    finding: %s" % f)
        # libFuzzer exits 0 when the time is up and with an error after a crash, leak or timeout.
        if r["findings"] or r["rc"] != 0:
            bad = 1
            log("    exit status %d; log: %s" % (r["rc"], r["log"]))
    return bad


if __name__ == "__main__":
    sys.exit(main())
