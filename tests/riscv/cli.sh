#!/bin/sh
# The riscv64 plugin's command-line contract: trace=in_asm+out_asm+exec output, refused options and hart
# counts, and a guest that cannot fetch its trap vector. Usage: cli.sh VMM SRCDIR
set -u
vmm=$1 dir=$2
. "$dir/cross.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
build() {
    rv_build "$dir/isa/$1" "$tmp/$2.elf" || { echo "FAIL: cannot build $1"; exit 1; }
}
run() { # run ARCH-OPTIONS ELF [extra vmm args]: status in $st, stdout in out, stderr in err
    a=$1 e=$2
    shift 2
    timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch "riscv64$a" --mem 64M --kernel "$tmp/$e.elf" --device uart16550,mmio=0x10000000 \
        --device sifive-test "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
}
expect() { # expect WHAT CONDITION...
    what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; sed 's/^/  | /' "$tmp/err" | head -20; fail=1; fi
}
build alu.S alu
build vector_fault.S vfault
build fence.S fence

run ,trace=in_asm+out_asm+exec alu
expect "trace: guest status 0 with tracing on" [ "$st" = 0 ]
expect "trace in_asm: a guest block, disassembled" grep -q '^IN: 0x0000000080000000$' "$tmp/err"
expect "trace in_asm: RISC-V mnemonics" grep -qE '^0x0000000080000000:  [0-9a-f]{8}  auipc sp, 0x' "$tmp/err"
expect "trace out_asm: host code from Capstone" grep -qE '^0x[0-9a-f]{16}:  sub +r11, ' "$tmp/err"
expect "trace exec: blocks entered" grep -q '^Trace: 0x0000000080000000$' "$tmp/err"
expect "trace: serial output unchanged" grep -q '^PASS alu$' "$tmp/out"

run ,trace=bogus alu
expect "trace=bogus is refused" [ "$st" != 0 ]
expect "trace=bogus: the message names the choices" grep -q 'in_asm, out_asm' "$tmp/err"

run ,exec=bogus alu
expect "exec=bogus is refused as bad input" [ "$st" = 2 ]
expect "exec=bogus: the message names the choices" grep -q "exec=bogus: use inproc .* or rc " "$tmp/err"

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    # exec=rc: the generated code lives in the VM's code region (0xe0000000, ring 3), and ring 3 comes back to
    # vmm through the plugin's port, counted by kind.
    run ,exec=rc,trace=out_asm alu --stats
    expect "exec=rc: guest status 0" [ "$st" = 0 ]
    expect "exec=rc: host code at the VM's code region" grep -qE '^0x00000000e0[0-9a-f]{6}:  sub +r11, ' "$tmp/err"
    expect "exec=rc: exits counted" grep -qE '^riscv64: exec=rc exits to vmm: [1-9][0-9]* dispatch, ' "$tmp/err"
    expect "exec=rc: exits are port exits" grep -qE 'exits: pio=[1-9]' "$tmp/err"
    timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch riscv64,exec=rc --mem 1281M --kernel "$tmp/alu.elf" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
    expect "exec=rc: more RAM than fits below the RC is refused as bad input" [ "$st" = 2 ]
    expect "exec=rc: the RAM limit is named" grep -q 'exec=rc takes at most 1280 MiB of RISC-V RAM' "$tmp/err"
    run ,exec=rc vfault
    expect "exec=rc: unfetchable trap vector: status 1" [ "$st" = 1 ]
    expect "exec=rc: unfetchable trap vector: named" grep -q 'instruction access fault at 0x0, which is also the trap vector' "$tmp/err"
    # The core's generic spellings: --exec MODE and --trace LIST become the plugin's exec= and trace=.
    run "" alu --exec rc --trace in_asm,out_asm
    expect "--exec rc --trace in_asm,out_asm: status 0" [ "$st" = 0 ]
    expect "--trace in_asm: guest blocks" grep -q '^IN: 0x0000000080000000$' "$tmp/err"
    expect "--exec rc: host code in the VM's code region" grep -qE '^0x00000000e0[0-9a-f]{6}:  sub +r11, ' "$tmp/err"
    run ,exec=rc alu --cpus 2
    expect "exec=rc: --cpus 2 is refused (one hart) as bad input" [ "$st" = 2 ]
    expect "exec=rc: --cpus 2 refused by name" grep -q 'exec=rc runs one hart only' "$tmp/err"
else
    # Without KVM, exec=rc is refused in one line naming what needs KVM and what runs without it; input errors
    # are still reported as such.
    run ,exec=rc alu
    expect "exec=rc without KVM: status 1" [ "$st" = 1 ]
    expect "exec=rc without KVM: one line naming exec=rc, KVM and the in-process choice" \
        grep -q "riscv64,exec=rc needs KVM.*without KVM, vmm runs in process: --arch riscv64" "$tmp/err"
    expect "exec=rc without KVM: one line only" [ "$(wc -l <"$tmp/err")" = 1 ]
    timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch riscv64,exec=rc --mem 1281M --kernel "$tmp/alu.elf" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
    expect "exec=rc without KVM: too much RAM is still bad input (status 2)" [ "$st" = 2 ]
fi

run ,trace=out_asm fence
expect "fence: guest status 0" [ "$st" = 0 ]
# fence and fence rw,rw, fence w,r: a store before a load; fence.tso, r,rw, rw,w and i,o need nothing on x86-TSO
expect "fence: mfence for the three fences that order W before R, none for the others" \
    [ "$(grep -c 'mfence' "$tmp/err")" = 3 ]

run "" alu --cpus 9
expect "--cpus 9 is refused (8 harts at most) as bad input" [ "$st" = 2 ]
expect "--cpus 9: the limit is named" grep -q -- '--cpus 9: this board has 1 to 8 harts' "$tmp/err"

run "" vfault
expect "unfetchable trap vector: status 1" [ "$st" = 1 ]
expect "unfetchable trap vector: named in the report" grep -q 'instruction access fault at 0x0, which is also the trap vector' "$tmp/err"
expect "unfetchable trap vector: registers dumped" grep -qE 'mcause 2 ' "$tmp/err"

timeout $((30 * ${VMM_TEST_TIME_SCALE:-1})) "$vmm" run --arch x86-raw --exec rc --kernel "$tmp/alu.elf" >"$tmp/out" 2>"$tmp/err" </dev/null
st=$?
expect "--exec for a plugin without execution modes: refused" [ "$st" = 2 ]
expect "--exec refused: the plugin and the option are named" grep -q "x86-raw: unknown option 'exec'" "$tmp/err"
run "" alu --exec "rc,trace=exec"
expect "--exec with a list is refused" [ "$st" = 2 ]

"$vmm" plugins >"$tmp/out" 2>&1
expect "vmm plugins lists riscv64 as an architecture" grep -qE '^riscv64 +architecture' "$tmp/out"
exit $fail
