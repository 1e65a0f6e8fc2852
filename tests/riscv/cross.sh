# Sourced by the riscv64 test scripts that build their guests at test time: Debian's bare-metal cross compiler
# (RV_CC), or exit 77 (meson: skipped) naming the package; rv_build SOURCE OUTPUT [gcc flags...] links one guest
# at 0x80000000 with tests/riscv/link.ld. Needs $dir (tests/riscv).
RV_CC=riscv64-unknown-elf-gcc
if ! command -v $RV_CC >/dev/null 2>&1; then
    echo "SKIP: $RV_CC not installed (apt-get install gcc-riscv64-unknown-elf, or scripts/install-deps)"
    exit 77
fi
rv_build() {
    src=$1 out=$2
    shift 2
    $RV_CC -march=rv64imac_zicsr_zifencei -mabi=lp64 -nostdlib -nostartfiles -mno-relax -I"$dir/isa" \
        -T "$dir/link.ld" "$@" -o "$out" "$src"
}
