#!/usr/bin/env python3
"""Differential testing of vmm's riscv64 recompiler against qemu-system-riscv64 (-M virt -bios none).

Generates random but valid RV64IMAC programs (ALU, W forms, M, loads/stores of every width into a scratch area,
AMOs and LR/SC there, forward branches and jumps; the assembler compresses what it can), runs each ELF on both,
and compares what the guest prints at the end: every register and the whole scratch area, in hex, over the virt
UART. With --ext fd the programs also use F and D (every operation, static and dynamic rounding modes, registers
holding non-boxed singles, NaNs, infinities, subnormals; FP loads and stores) and the dump adds f0-f31 and fcsr;
with --ext zb they use Zba, Zbb and Zbs (QEMU runs with zba/zbb/zbs enabled). Exit status 0 = all equal, 1 = a
mismatch (the program is kept), 77 = a tool is missing.

With --paging the program runs in S-mode under Sv39: code and devices identity-mapped by gigapages, the scratch
area through a 4 KiB page at 0x40000000 whose PTE starts without A and D (the walk sets them), so every load,
store, AMO and LR/SC goes through the MMU (in vmm: the inline software TLB and the page-table walk). It ends
with an ecall to M, which prints the registers, the scratch area and the final PTE.
"""
import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

CC = "riscv64-unknown-elf-gcc"
QEMU = "qemu-system-riscv64"
SCRATCH = 4096
# gp (x3) points into the middle of the scratch area, tp (x4) is the AMO address register: never random targets.
REGS = [r for r in range(1, 32) if r not in (3, 4)]
SPECIAL = [0, 1, -1, 2**63, 2**63 - 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, -2**31]

R_OPS = ["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and", "addw", "subw", "sllw", "srlw",
         "sraw", "mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu", "mulw", "divw", "divuw", "remw",
         "remuw"]
I_OPS = ["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"]
SH_OPS = [("slli", 63), ("srli", 63), ("srai", 63), ("slliw", 31), ("srliw", 31), ("sraiw", 31)]
LOADS = [("lb", 1), ("lh", 2), ("lw", 4), ("ld", 8), ("lbu", 1), ("lhu", 2), ("lwu", 4)]
STORES = [("sb", 1), ("sh", 2), ("sw", 4), ("sd", 8)]
AMOS = ["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu"]
BRANCHES = ["beq", "bne", "blt", "bge", "bltu", "bgeu"]
ZB_R = ["add.uw", "sh1add", "sh2add", "sh3add", "sh1add.uw", "sh2add.uw", "sh3add.uw", "andn", "orn", "xnor", "max",
        "maxu", "min", "minu", "rol", "ror", "rolw", "rorw", "bclr", "bset", "binv", "bext"]
# ctzw is left out: QEMU 7.2 counts into the upper word when the low word is zero (0x100000000000 gives 44; the
# ISA manual says 32), a difference that is QEMU's; tests/riscv/isa/zb.S checks that case.
ZB_1 = ["clz", "ctz", "cpop", "clzw", "cpopw", "sext.b", "sext.h", "zext.h", "orc.b", "rev8"]
ZB_I = [("slli.uw", 63), ("rori", 63), ("roriw", 31), ("bclri", 63), ("bseti", 63), ("binvi", 63), ("bexti", 63)]
RMS = ["rne", "rtz", "rdn", "rup", "rmm", "dyn"]
# Doubles and singles worth meeting: zeros, ones, halves (ties when converted), extremes, subnormals, NaNs.
SPECIAL_D = [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x3FE0000000000000, 0x4004000000000000,
             0xC00C000000000000, 0x7FEFFFFFFFFFFFFF, 0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x7FF0000000000000,
             0xFFF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001, 0x43E0000000000000, 0xC3E0000000000000,
             0x41E0000000000000, 0x41EFFFFFFFE00000, 0x3CA0000000000000, 0x3FF0000010000000, 0x3690000000000000]
SPECIAL_S = [0, 0x80000000, 0x3F800000, 0xBF800000, 0x3F000000, 0x40200000, 0x7F7FFFFF, 0x00000001, 0x807FFFFF,
             0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x4F000000, 0xCF000000, 0x5F000000, 0x33800000]


def x(r):
    return "x%d" % r


def gen_fp(rng, reg):
    """One random F/D instruction (integer operands and results through reg())."""
    def f():
        return "f%d" % rng.randrange(32)
    p = rng.choice(["s", "d"])
    rm = rng.choice(RMS)
    k = rng.random()
    if k < 0.25:
        return "    f%s.%s %s, %s, %s, %s" % (rng.choice(["add", "sub", "mul", "div"]), p, f(), f(), f(), rm)
    if k < 0.35:
        return "    f%s.%s %s, %s, %s, %s, %s" % (rng.choice(["madd", "msub", "nmsub", "nmadd"]), p, f(), f(), f(),
                                                f(), rm)
    if k < 0.38:
        return "    fsqrt.%s %s, %s, %s" % (p, f(), f(), rm)
    if k < 0.48:
        return "    f%s.%s %s, %s, %s" % (rng.choice(["sgnj", "sgnjn", "sgnjx", "min", "max"]), p, f(), f(), f())
    if k < 0.55:
        return "    f%s.%s %s, %s, %s" % (rng.choice(["eq", "lt", "le"]), p, reg(), f(), f())
    if k < 0.58:
        return "    fclass.%s %s, %s" % (p, reg(), f())
    if k < 0.68:
        return "    fcvt.%s.%s %s, %s, %s" % (rng.choice(["w", "wu", "l", "lu"]), p, reg(), f(), rm)
    if k < 0.76:
        src = rng.choice(["w", "wu", "l", "lu"])
        if p == "d" and src in ("w", "wu"):
            return "    fcvt.d.%s %s, %s" % (src, f(), reg())
        return "    fcvt.%s.%s %s, %s, %s" % (p, src, f(), reg(), rm)
    if k < 0.80:
        return "    fcvt.s.d %s, %s, %s" % (f(), f(), rm) if rng.random() < 0.5 else "    fcvt.d.s %s, %s" % (f(), f())
    if k < 0.86:
        w = "w" if p == "s" else "d"
        if rng.random() < 0.5:
            return "    fmv.x.%s %s, %s" % (w, reg(), f())
        return "    fmv.%s.x %s, %s" % (w, f(), reg())
    if k < 0.88:
        return "    csrwi frm, %d" % rng.randrange(5)
    if k < 0.90:
        return "    csrrw %s, fflags, %s" % (reg(), "x0" if rng.random() < 0.5 else reg())
    size = 4 if p == "s" else 8
    off = rng.randrange(-SCRATCH // 2, SCRATCH // 2, size)
    if k < 0.95:
        return "    fl%s %s, %d(gp)" % ("w" if p == "s" else "d", f(), off)
    return "    fs%s %s, %d(gp)" % ("w" if p == "s" else "d", f(), off)


def gen_program(rng, n, ext=""):
    out = []
    label = [0]

    def reg():
        return x(rng.choice(REGS))

    def one(depth):
        k = rng.random()
        if "fd" in ext and rng.random() < 0.4:
            out.append(gen_fp(rng, reg))
            return
        if "zb" in ext and rng.random() < 0.3:
            z = rng.random()
            if z < 0.5:
                out.append("    %s %s, %s, %s" % (rng.choice(ZB_R), reg(), reg(), reg()))
            elif z < 0.75:
                out.append("    %s %s, %s" % (rng.choice(ZB_1), reg(), reg()))
            else:
                op, mx = rng.choice(ZB_I)
                out.append("    %s %s, %s, %d" % (op, reg(), reg(), rng.randint(0, mx)))
            return
        if k < 0.30:
            out.append("    %s %s, %s, %s" % (rng.choice(R_OPS), reg(), reg(), reg()))
        elif k < 0.45:
            out.append("    %s %s, %s, %d" % (rng.choice(I_OPS), reg(), reg(), rng.randint(-2048, 2047)))
        elif k < 0.52:
            op, mx = rng.choice(SH_OPS)
            out.append("    %s %s, %s, %d" % (op, reg(), reg(), rng.randint(0, mx)))
        elif k < 0.55:
            out.append("    lui %s, %d" % (reg(), rng.randint(0, 0xFFFFF)))
        elif k < 0.57:
            if rng.random() < 0.5:
                out.append("    auipc %s, %d" % (reg(), rng.randint(0, 0xFFFFF)))
            else:
                # zero/sign extension idioms, which the recompiler fuses into one x86 instruction
                rd, n = reg(), rng.choice([32, 48, 56, 40])
                out.append("    slli %s, %s, %d" % (rd, reg(), n))
                out.append("    %s %s, %s, %d" % (rng.choice(["srli", "srai"]), rd, rd, n))
        elif k < 0.70:
            op, size = rng.choice(LOADS)
            out.append("    %s %s, %d(gp)" % (op, reg(), rng.randrange(-SCRATCH // 2, SCRATCH // 2, size)))
        elif k < 0.82:
            op, size = rng.choice(STORES)
            out.append("    %s %s, %d(gp)" % (op, reg(), rng.randrange(-SCRATCH // 2, SCRATCH // 2, size)))
        elif k < 0.86:
            size = rng.choice([4, 8])
            off = rng.randrange(-SCRATCH // 2, SCRATCH // 2, size)
            out.append("    addi tp, gp, %d" % off)
            if rng.random() < 0.3:
                sfx = ".w" if size == 4 else ".d"
                out.append("    lr%s %s, (tp)" % (sfx, reg()))
                out.append("    sc%s %s, %s, (tp)" % (sfx, reg(), reg()))
            else:
                out.append("    %s.%s %s, %s, (tp)" % (rng.choice(AMOS), "w" if size == 4 else "d", reg(), reg()))
        elif k < 0.90:
            # A short forward branch over ALU instructions that all write one register: the recompiler turns
            # these into a cmov (if-conversion), so both outcomes are exercised.
            label[0] += 1
            lab = "L%d" % label[0]
            rd = reg()
            out.append("    %s %s, %s, %s" % (rng.choice(BRANCHES), reg(), rng.choice([reg(), rd, "x0"]), lab))
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.2:
                    n = rng.choice([32, 48, 56])
                    out.append("    slli %s, %s, %d" % (rd, rng.choice([rd, reg()]), n))
                    out.append("    %s %s, %s, %d" % (rng.choice(["srli", "srai"]), rd, rd, n))
                elif rng.random() < 0.6:
                    out.append("    %s %s, %s, %s" % (rng.choice(R_OPS[:14] + ["mul", "mulw"]), rd,
                                                      rng.choice([rd, reg()]), rng.choice([rd, reg()])))
                else:
                    op, mx = rng.choice(SH_OPS)
                    out.append("    %s %s, %s, %d" % (op, rd, rng.choice([rd, reg()]), rng.randint(0, mx)))
            out.append("%s:" % lab)
        elif k < 0.97 and depth < 2:
            label[0] += 1
            lab = "L%d" % label[0]
            if rng.random() < 0.8:
                out.append("    %s %s, %s, %s" % (rng.choice(BRANCHES), reg(), reg(), lab))
            else:
                out.append("    jal %s, %s" % (reg(), lab))
            for _ in range(rng.randint(1, 4)):
                one(depth + 1)
            out.append("%s:" % lab)
        else:
            out.append("    mv %s, %s" % (reg(), reg()))

    def avoid(regs, fn):
        # Run fn with REGS temporarily excluding regs, so random code cannot clobber a loop counter or link.
        saved = REGS[:]
        for r in regs:
            if r in REGS:
                REGS.remove(r)
        try:
            fn()
        finally:
            REGS[:] = saved

    def structured():
        k = rng.random()
        if k < 0.4:
            # A counted loop: backward branch, a block chained to itself, the budget check.
            label[0] += 1
            c = rng.choice(REGS)
            out.append("    li %s, %d" % (x(c), rng.randint(1, 20)))
            out.append("LOOP%d:" % label[0])
            lab = label[0]
            avoid([c], lambda: [one(1) for _ in range(rng.randint(1, 8))])
            out.append("    addi %s, %s, -1" % (x(c), x(c)))
            out.append("    bnez %s, LOOP%d" % (x(c), lab))
        elif k < 0.7:
            # A call through jalr and a return through the link register: the indirect-jump cache.
            label[0] += 1
            link, tgt = rng.sample(REGS, 2)
            lab = label[0]
            out.append("    la %s, SUB%d" % (x(tgt), lab))
            out.append("    jalr %s, 0(%s)" % (x(link), x(tgt)))
            out.append("    j RET%d" % lab)
            out.append("SUB%d:" % lab)
            avoid([link], lambda: [one(1) for _ in range(rng.randint(1, 6))])
            out.append("    jalr x0, 0(%s)" % x(link))
            out.append("RET%d:" % lab)
        else:
            # Another base register than gp, with a negative or positive offset on either side.
            base = rng.choice(REGS)
            op, size = rng.choice(LOADS + STORES)
            shift = rng.randrange(-1024, 1024, 8)
            off = rng.randrange(-SCRATCH // 2 - shift, SCRATCH // 2 - shift, size)
            off = max(-2048, min(2047 - 7, off)) // size * size
            if not (-SCRATCH // 2 <= shift + off < SCRATCH // 2 - size + 1):
                off = -shift
            out.append("    addi %s, gp, %d" % (x(base), shift))
            out.append("    %s %s, %d(%s)" % (op, reg() if op[0] == "l" else x(rng.choice(REGS)), off, x(base)))

    for _ in range(n):
        if rng.random() < 0.06:
            structured()
        else:
            one(0)
    return out


DUMP = r"""
    /* Print x1..x31 and the scratch area in hex, then pass through the SiFive test device. */
    csrw mscratch, x1
    la x1, regsave
    .irp r, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd x\r, (\r*8)(x1)
    .endr
    csrr x2, mscratch
    sd x2, 8(x1)
%s
    la s0, regsave + 8
    li s1, 31
    call dump_words
    la s0, scratch
    li s1, %d
    call dump_words
%s
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
1:  j 1b

/* s1 doublewords from s0, one per line, 16 hex digits. */
dump_words:
    li t0, 0x10000000
2:  ld t1, 0(s0)
    li t2, 60
3:  srl t3, t1, t2
    andi t3, t3, 15
    li t4, 10
    blt t3, t4, 4f
    addi t3, t3, 'a' - 10 - '0'
4:  addi t3, t3, '0'
    sb t3, 0(t0)
    addi t2, t2, -4
    bgez t2, 3b
    li t3, '\n'
    sb t3, 0(t0)
    addi s0, s0, 8
    addi s1, s1, -1
    bnez s1, 2b
    ret
"""

PAGING_PRELUDE = r"""
    la t0, DUMP_ENTRY
    csrw mtvec, t0
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    la t1, root
    li t0, 0xc7                                  /* devices: V R W A D, identity gigapage */
    sd t0, 0(t1)
    li t0, (0x80000000 >> 12) << 10 | 0xcf       /* RAM: V R W X A D, identity gigapage */
    sd t0, 16(t1)
    la t0, l1
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, 1
    sd t0, 8(t1)
    la t1, l1
    la t0, l0
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, 1
    sd t0, 0(t1)
    la t1, l0
    la t0, scratch
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, 7                                /* V R W: A and D set by the walk */
    sd t0, 0(t1)
    la t0, root
    srli t0, t0, 12
    li t1, (8 << 60) | (1 << 44)
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, 1 << 11
    csrs mstatus, t0
    la t0, s_start
    csrw mepc, t0
    mret
s_start:
"""


# With F and D: f0-f31 and fcsr saved before anything else runs, printed after the scratch area.
FP_SAVE = r"""
    la t0, fregsave
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\r, (\r*8)(t0)
    .endr
    frcsr t1
    sd t1, 256(t0)"""
FP_DUMP = r"""
    la s0, fregsave
    li s1, 33
    call dump_words"""



def gen_source(rng, n, paging=False, ext=""):
    lines = [".section .text.init", ".globl _start", "_start:"]
    if paging:
        lines += [PAGING_PRELUDE.replace("DUMP_ENTRY", "dump_entry"), "    li gp, 0x40000000 + %d" % (SCRATCH // 2)]
    else:
        lines += ["    la t0, trap", "    csrw mtvec, t0", "    la gp, scratch + %d" % (SCRATCH // 2)]
    if "fd" in ext:
        # FS = Dirty, then every f register: random bits (mostly non-boxed singles), special and plain doubles,
        # boxed singles. (In S-mode under --paging, sstatus.FS is the same field.)
        lines += ["    li t0, 3 << 13", "    csrs sstatus, t0" if paging else "    csrs mstatus, t0"]
        for r in range(32):
            k = rng.random()
            if k < 0.2:
                v = rng.getrandbits(64)
            elif k < 0.45:
                v = rng.choice(SPECIAL_D)
            elif k < 0.6:
                v = struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e10, 1e10)))[0]
            elif k < 0.8:
                v = 0xFFFFFFFF00000000 | rng.choice(SPECIAL_S)
            else:
                v = 0xFFFFFFFF00000000 | struct.unpack("<I", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
            lines += ["    li t0, %d" % v, "    fmv.d.x f%d, t0" % r]
        lines.append("    csrwi frm, %d" % rng.randrange(5))
    for r in REGS:
        v = rng.choice(SPECIAL) if rng.random() < 0.3 else rng.getrandbits(64)
        lines.append("    li %s, %d" % (x(r), v & (2**64 - 1) if v >= 0 else v))
    lines += gen_program(rng, n, ext)
    fp = "fd" in ext
    if paging:
        lines += ["    ecall", "    .balign 4", "dump_entry:"]
        lines.append(DUMP % ("    csrr t0, mcause; li t1, 9; bne t0, t1, trap" + (FP_SAVE if fp else ""), SCRATCH // 8,
                             "    la s0, l0; li s1, 1; call dump_words" + (FP_DUMP if fp else "")))
    else:
        lines.append(DUMP % (FP_SAVE if fp else "", SCRATCH // 8, FP_DUMP if fp else ""))
    lines += ["trap:", "    li t0, 0x100000", "    li t1, 0x3333 | (99 << 16)", "    sw t1, 0(t0)", "5:  j 5b",
              ".data", ".balign 16", "regsave: .zero 256", "fregsave: .zero 272"]
    if paging:
        lines += [".balign 4096", "root: .zero 4096", "l1: .zero 4096", "l0: .zero 4096"]
    lines += ["scratch:"]
    for _ in range(SCRATCH // 8):
        lines.append("    .dword 0x%016x" % rng.getrandbits(64))
    return "\n".join(lines) + "\n"


def run(cmd, timeout=60):
    # VMM_TEST_TIME_SCALE: a slow host (KVM nested in QEMU's TCG) gives every limit that factor.
    timeout *= int(os.environ.get("VMM_TEST_TIME_SCALE", "1"))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--programs", type=int, default=8)
    ap.add_argument("--insns", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", default=None, help="directory for failing programs")
    ap.add_argument("--exec", default="inproc", choices=["inproc", "rc"],
                    help="vmm's execution mode (rc: at ring 3 of a KVM VM under the RC hypervisor)")
    ap.add_argument("--paging", action="store_true", help="run the programs in S-mode under Sv39 (see above)")
    ap.add_argument("--ext", default="", choices=["", "fd", "zb", "fdzb"],
                    help="also generate F/D (fd) and/or Zba/Zbb/Zbs (zb) instructions")
    a = ap.parse_args()
    if a.exec == "rc" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm not available (exec=rc runs translated code inside a KVM VM)")
        return 77
    for tool in (CC, QEMU):
        if not shutil.which(tool):
            print("SKIP: %s not installed (scripts/install-deps installs it)" % tool)
            return 77
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="rv-diff-")
    failures = 0
    try:
        for i in range(a.programs):
            seed = a.seed * 1000 + i
            rng = random.Random(seed if not a.ext else "%s-%d" % (a.ext, seed))
            src = os.path.join(tmp, "p%d.S" % seed)
            elf = os.path.join(tmp, "p%d.elf" % seed)
            with open(src, "w") as f:
                f.write(gen_source(rng, a.insns, a.paging, a.ext))
            march = ("rv64imafdc" if "fd" in a.ext else "rv64imac") + "_zicsr_zifencei" + \
                ("_zba_zbb_zbs" if "zb" in a.ext else "")
            rc, o, e = run([CC, "-march=" + march, "-mabi=lp64", "-nostdlib", "-nostartfiles",
                            "-mno-relax", "-T", os.path.join(here, "link.ld"), "-o", elf, src])
            if rc:
                print("FAIL: seed %d does not assemble:\n%s" % (seed, e))
                return 1
            cpu = ["-cpu", "rv64,zba=true,zbb=true,zbs=true"] if "zb" in a.ext else []
            rq, oq, eq = run([QEMU, "-M", "virt"] + cpu + ["-bios", "none", "-nographic", "-monitor", "none",
                              "-serial", "stdio", "-kernel", elf])
            rv, ov, ev = run([a.vmm, "run", "--arch", "riscv64,exec=" + a.exec, "--mem", "64M", "--kernel", elf,
                              "--device", "uart16550,mmio=0x10000000", "--device", "sifive-test"])
            if rq != 0 or rv != 0 or oq != ov:
                failures += 1
                ql, vl = oq.splitlines(), ov.splitlines()
                where = next((j for j in range(max(len(ql), len(vl)))
                              if j >= len(ql) or j >= len(vl) or ql[j] != vl[j]), None)
                nscr = SCRATCH // 8
                what = "x%d" % (where + 1) if where is not None and where < 31 else \
                       "scratch dword %d" % (where - 31) if where is not None and where < 31 + nscr else \
                       ("f%d" % (where - 31 - nscr) if where - 31 - nscr < 32 else "fcsr") if where is not None \
                       else "-"
                print("FAIL: seed %d: qemu status %d, vmm status %d, first difference at %s" % (seed, rq, rv, what))
                if where is not None:
                    print("  qemu: %s\n  vmm:  %s" % (ql[where] if where < len(ql) else "<none>",
                                                      vl[where] if where < len(vl) else "<none>"))
                if ev:
                    print(ev)
                if a.keep:
                    os.makedirs(a.keep, exist_ok=True)
                    shutil.copy(src, a.keep)
            else:
                print("ok: seed %d (%d lines compared)" % (seed, len(ov.splitlines())))
    finally:
        shutil.rmtree(tmp)
    print("%d of %d programs differ" % (failures, a.programs))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
