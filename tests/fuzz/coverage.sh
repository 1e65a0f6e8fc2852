#!/bin/sh
# coverage.sh: line coverage of each harness's target files from replaying its corpora (docs/fuzzing.md).
#   tests/fuzz/coverage.sh COV_BUILD FUZZ_BUILD [HARNESS...]
# COV_BUILD is a normal (replay) build made with clang and source-based coverage:
#   CC=clang meson setup build-cov -Dbuildtype=debug -Dwerror=false -Db_lundef=false \
#       -Dc_args="-fprofile-instr-generate -fcoverage-mapping" -Dc_link_args=-fprofile-instr-generate
#   ninja -C build-cov tests/fuzz/fuzz-NAME ... (and the plugins under plugins/)
# Each harness replays its seeds (tests/fuzz/corpus/NAME) and what the fuzzer found (FUZZ_BUILD/fuzz-corpus/NAME);
# every module (the harness and the plugins it loads) writes its own profile (%m), merged by llvm-profdata, and
# llvm-cov reports the target files' lines: "NAME FILE covered/lines percent".
set -u
cov=$1 fuzz=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
llvmcov=$(command -v llvm-cov-14 || command -v llvm-cov)
[ $# -gt 0 ] || set -- ssm options x86-linux riscv64-elf riscv64-dtb store control virtio
out=$(mktemp -d) || exit 99
trap 'rm -rf "$out"' EXIT

targets() {
    case $1 in
    ssm) echo saved-state/ssm.c ;;
    options) echo core/options.c ;;
    x86-linux) echo plugins/x86-raw/linux.c plugins/x86-raw/boot.c ;;
    riscv64-elf) echo plugins/riscv64/loader.c plugins/riscv64/dtb.c ;;
    riscv64-dtb) echo plugins/riscv64/dtb.c core/board.c plugins/riscv64/loader.c ;;
    store) echo saved-state/store.c ;;
    control) echo core/control.c ;;
    virtio) echo plugins/devices/virtio/virtio_mmio.c plugins/devices/virtio/virtio_blk.c \
        plugins/devices/virtio/virtio_rng.c ;;
    esac
}

for h in "$@"; do
    mkdir -p "$out/$h"
    set -- "$src/tests/fuzz/corpus/$h"
    [ -d "$fuzz/fuzz-corpus/$h" ] && set -- "$@" "$fuzz/fuzz-corpus/$h"
    LLVM_PROFILE_FILE="$out/$h/%m-%p.profraw" "$cov/tests/fuzz/fuzz-$h" "$@" >/dev/null 2>&1 ||
        echo "$h: the replay failed (exit $?)" >&2
    "$profdata" merge -sparse -o "$out/$h.profdata" "$out/$h"/*.profraw || continue
    objs=""
    for so in $(find "$cov/plugins" -name '*.so'); do objs="$objs -object $so"; done
    # shellcheck disable=SC2086
    "$llvmcov" report -instr-profile "$out/$h.profdata" "$cov/tests/fuzz/fuzz-$h" $objs >"$out/$h.txt" 2>/dev/null
    for f in $(targets "$h"); do
        # The report names files as the build saw them (../core/board.c): matched by their end.
        awk -v h="$h" -v f="$f" 'substr($1, length($1) - length(f) + 1) == f && $1 ~ /(^|\/)/ {
            printf "%s %s %d/%d %s\n", h, f, $8 - $9, $8, $10; exit }' "$out/$h.txt"
    done
done
