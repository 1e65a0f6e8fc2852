#!/bin/sh
# Builds the official riscv-tests ISA tests (the "p" environment: bare machine, HTIF tohost) from a checkout
# and runs each binary unmodified on vmm's riscv64 machine; a test passes when vmm exits with status 0.
# Usage: run_riscv_tests.sh VMM RISCV_TESTS_DIR [SUITES...]   (default suites: rv64ui rv64um rv64ua rv64uc rv64uf rv64ud rv64uzba rv64uzbb rv64uzbs rv64mi)
# RISCV_TESTS_DIR needs its env/ submodule (riscv-test-env). Not part of meson test: the sources are external.
# rv64ui-ma_data runs with misaligned=emulate (it needs misaligned accesses performed); rv64mi-pmpaddr is
# expected to fail (no PMP). $RV_ARCH_OPTS is appended to --arch riscv64 (e.g. ,exec=rc).
set -u
vmm=$1 src=$2
shift 2
suites=${*:-rv64ui rv64um rv64ua rv64uc rv64uf rv64ud rv64uzba rv64uzbb rv64uzbs rv64mi}
CC=riscv64-unknown-elf-gcc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 failed=""
for suite in $suites; do
    for s in "$src"/isa/$suite/*.S; do
        t=$suite-p-$(basename "$s" .S)
        if ! $CC -march=rv64gc_zicsr_zifencei_zba_zbb_zbs -mabi=lp64 -static -mcmodel=medany -nostdlib -nostartfiles \
                -I"$src/env/p" -I"$src/isa/macros/scalar" -T"$src/env/p/link.ld" -o "$tmp/$t" "$s" 2>/dev/null; then
            continue # tests for extensions this toolchain/-march lacks
        fi
        opts="${RV_ARCH_OPTS-}"
        case $t in *ma_data) opts="$opts,misaligned=emulate" ;; esac
        timeout 20 "$vmm" run --arch "riscv64$opts" --mem 64M --kernel "$tmp/$t" >/dev/null 2>"$tmp/err" </dev/null
        st=$?
        if [ $st = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t($st)"; fi
    done
done
echo "riscv-tests: $pass passed, $fail failed${failed:+:$failed}"
[ $fail = 0 ]
