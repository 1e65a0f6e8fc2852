#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into tests/fuzz/corpus/NAME (docs/fuzzing.md).

    python3 tests/fuzz/make_seeds.py BUILD_DIR

Seeds are small valid inputs (and a few typical invalid ones) in each harness's input format, so the fuzzer
starts inside the parsers rather than at their first check: units from the real writer (BUILD_DIR's
fuzz-seed-ssm), option strings good and bad, a vmlinux ELF and a bzImage whose xz payload holds it (with and
without an initrd), --image ELF and flat binaries, a RISC-V ELF with tohost/fromhost symbols, virtio driver
sessions (an entropy request, block reads, writes, flushes, an indirect chain). Regression inputs
of past findings live beside them under names starting with "crash-" and are left alone.
"""
import lzma
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def elf64(machine, entry, segments, etype=2, symbols=None):
    """An ELF64 executable: segments are (paddr, vaddr, data, memsz); symbols {name: value} add .symtab."""
    phoff, ehsize, phsize = 64, 64, 56
    offset = phoff + phsize * len(segments)
    phdrs, body = b"", b""
    for paddr, vaddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, offset + len(body), vaddr, paddr, len(data), memsz, 0x1000)
        body += data
    shoff, shnum, shdata = 0, 0, b""
    if symbols:
        strtab = b"\0" + b"".join(n.encode() + b"\0" for n in symbols)
        syms = b"\0" * 24
        pos = 1
        for n, v in symbols.items():
            syms += struct.pack("<IBBHQQ", pos, 0x10, 0, 1, v, 8)
            pos += len(n) + 1
        base = offset + len(body)
        shdata = syms + strtab
        shoff = base + len(shdata)
        # null section, .symtab (link 2), .strtab
        shdata += b"\0" * 64
        shdata += struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, base, len(syms), 2, 1, 8, 24)
        shdata += struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, base + len(syms), len(strtab), 0, 0, 1, 0)
        shnum = 3
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    eh = ident + struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, entry, phoff, shoff, 0, ehsize, phsize,
                             len(segments), 64, shnum, 0)
    return eh + phdrs + body + shdata


def bzimage(payload, init_size=0x200000, version=0x20f, xloadflags=1):
    """A bzImage: one setup sector after the boot sector, the 2.15 setup header, then the payload."""
    setup = bytearray(1024)
    setup[0x1f1] = 1                                    # setup_sects
    struct.pack_into("<I", setup, 0x1f4, (len(payload) + 15) // 16)  # syssize
    struct.pack_into("<H", setup, 0x1fe, 0xaa55)        # boot_flag
    setup[0x200], setup[0x201] = 0xeb, 0x6a             # jump: the header ends at 0x202 + 0x6a
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<I", setup, 0x22c, 0x7fffffff)    # initrd_addr_max
    struct.pack_into("<H", setup, 0x236, xloadflags)    # XLF_KERNEL_64
    struct.pack_into("<I", setup, 0x238, 2047)          # cmdline_size
    struct.pack_into("<I", setup, 0x248, 0)             # payload_offset
    struct.pack_into("<I", setup, 0x24c, len(payload))  # payload_length
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + payload


def x86_input(kernel, ram_mib=4, initrd=None, cmdline=b"console=ttyS0", ncpus=1, syscall=False):
    flags = (ram_mib - 1) | (0x20 if syscall else 0) | (0x40 if initrd is not None else 0)
    head = bytes([flags, ncpus - 1]) + cmdline + b"\0"
    if initrd is None:
        return head + struct.pack("<I", 0) + kernel
    return head + struct.pack("<I", len(initrd)) + initrd + kernel


def x86_images(images, ram_mib=2):
    """--image inputs: images is a list of (data, addr or None), one or two."""
    flags = (ram_mib - 1) | (0x80 if len(images) == 1 else 0xc0)
    out = bytes([flags, 0]) + b"\0" + struct.pack("<I", len(images[0][0]))
    for data, addr in images:
        out += bytes([0]) if addr is None else bytes([1]) + struct.pack("<Q", addr)
    return out + b"".join(d for d, _ in images)


def seeds_x86():
    code = b"\xf4\xeb\xfd" + b"\x90" * 13             # hlt; jmp back
    vmlinux = elf64(62, 0x100000, [(0x100000, 0xffffffff81000000, code, 0x2000)])
    put("x86-linux", "vmlinux", x86_input(vmlinux))
    put("x86-linux", "vmlinux-initrd", x86_input(vmlinux, initrd=b"070701" + b"\0" * 100, ncpus=4))
    xz = lzma.compress(vmlinux, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    payload = xz + struct.pack("<I", len(vmlinux))
    put("x86-linux", "bzimage", x86_input(bzimage(payload)))
    put("x86-linux", "bzimage-initrd", x86_input(bzimage(payload), ram_mib=8, initrd=b"\x1f\x8b" + b"\0" * 60,
                                                 syscall=True))
    # 300 KiB of segment: the decompressed ELF streams through more than one 256 KiB window (x86_boot_xz_fill),
    # yet compresses to a few hundred bytes.
    big = elf64(62, 0x100000, [(0x100000, 0xffffffff81000000, code + bytes(300 * 1024), 0x60000)])
    bigxz = lzma.compress(big, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32) + struct.pack("<I", len(big))
    put("x86-linux", "bzimage-two-windows", x86_input(bzimage(bigxz), ram_mib=4))
    gz = b"\x1f\x8b\x08\0" + b"\0" * 20 + struct.pack("<I", len(vmlinux))
    put("x86-linux", "bzimage-gzip", x86_input(bzimage(gz)))
    put("x86-linux", "bzimage-old", x86_input(bzimage(payload, version=0x20a)))
    # two segments, the second with bss, in separate pages of the file
    two = elf64(62, 0x200000, [(0x200000, 0x200000, code, 0x1000), (0x300000, 0x300000, b"\1" * 32, 0x4000)])
    put("x86-linux", "vmlinux-two-segments", x86_input(two))
    elf = elf64(62, 0x100000, [(0x100000, 0x100000, code, 0x1000)])
    put("x86-linux", "image-elf", x86_images([(elf, None)]))
    put("x86-linux", "image-flat-real", x86_images([(code, 0x10000)]))
    put("x86-linux", "image-elf-and-flat", x86_images([(elf, None), (b"data" * 8, 0x180000)]))


def seeds_riscv():
    code = struct.pack("<IIII", 0x00000297, 0x0002a023, 0x0000006f, 0)  # auipc; sw; j .
    elf = elf64(243, 0x80000000, [(0x80000000, 0x80000000, code, 0x1000)],
                symbols={"tohost": 0x80001000, "fromhost": 0x80001008})
    opts = b"\0\0\0\0"  # trace, misaligned, exec, command line: all defaults, empty
    put("riscv64-elf", "elf-htif", bytes([1]) + opts + elf)
    put("riscv64-elf", "elf-options", bytes([1]) + b"in_asm+exec\0emulate\0inproc\0\0" + elf)
    put("riscv64-elf", "elf-bad-trace", bytes([1]) + b"in_asm:bogus\0\0\0\0" + elf)
    put("riscv64-elf", "elf-exec-rc", bytes([1]) + b"\0\0rc\0\0" + elf)
    put("riscv64-elf", "flat", bytes([0x20]) + opts + code)
    put("riscv64-elf", "flat-at", bytes([0x61]) + opts + struct.pack("<Q", 0x80100000) + code)  # in the second MiB
    def payloads(*pl):  # the payload byte and each --image FILE@ADDR's address and size
        return bytes([len(pl)]) + b"".join(struct.pack("<QH", a, n) for a, n in pl)
    put("riscv64-elf", "flat-payloads", bytes([0xa1]) + opts + payloads((0x80100000, 4096), (0x80180000, 100)) + code)
    put("riscv64-elf", "elf-payload", bytes([0x81]) + opts + payloads((0x80100000, 64)) + elf)
    put("riscv64-elf", "payloads-overlap", bytes([0xa1]) + opts + payloads((0x80100000, 4096), (0x80100ff0, 16)) +
        code)
    put("riscv64-elf", "payload-over-flat", bytes([0xe1]) + opts + struct.pack("<Q", 0x80100000) +
        payloads((0x80100008, 0x20)) + code)
    put("riscv64-elf", "payload-over-elf", bytes([0x81]) + opts + payloads((0x80000800, 16)) + elf)
    put("riscv64-elf", "payload-outside-ram", bytes([0x81]) + opts + payloads((0x7ffffff0, 32)) + elf)
    put("riscv64-elf", "two-cpus", bytes([0x81]) + opts + bytes([0x80]) + elf)
    put("riscv64-elf", "elf-outside-ram", bytes([0]) + opts +
        elf64(243, 0x80200000, [(0x80200000, 0x80200000, code, 0x1000)]))


def rv_dtb_input(flags, units, program, prog_addr=None, payloads=(), initrd=0, devices=(), append=b""):
    """fuzz-riscv64-dtb's input (its file says the format): devices are (kind, options) for the shipped ones
    (0 uart16550, 1 sifive-test, 2 virtio-rng) or (3, spec) with spec a dict for fuzz-fdt."""
    out = bytes([flags | (len(payloads) << 6)]) + struct.pack("<H", units)
    if prog_addr is not None:
        out += struct.pack("<Q", prog_addr)
    for addr, size in payloads:
        out += struct.pack("<QH", addr, size)
    out += struct.pack("<IB", initrd, len(devices))
    for kind, spec in devices:
        out += bytes([kind])
        if kind != 3:
            out += spec + b"\0"
            continue
        out += struct.pack("<QHB", spec["base"], spec["size"], spec.get("flags", 1))
        out += spec["node"] + b"\0" + spec["compatible"] + b"\0" + struct.pack("<iB", spec["irq"], len(spec["props"]))
        for name, value in spec["props"]:
            out += name + b"\0" + struct.pack("<H", len(value)) + value
    return out + append + b"\0" + program


def seeds_riscv_dtb():
    code = struct.pack("<IIII", 0x00000297, 0x0002a023, 0x0000006f, 0)  # auipc; sw; j .
    elf = elf64(243, 0x80000000, [(0x80000000, 0x80000000, code, 0x1000)])
    mib, nodef, app, initrd, at, image = 1, 2, 4, 8, 16, 32
    put("riscv64-dtb", "board-default", rv_dtb_input(mib | app, 63, code, append=b"console=ttyS0 earlycon=sbi"))
    put("riscv64-dtb", "initrd", rv_dtb_input(mib | app | initrd, 63, code, initrd=4096, append=b"root=/dev/ram"))
    put("riscv64-dtb", "elf-initrd", rv_dtb_input(mib | initrd, 15, elf, initrd=100000))
    put("riscv64-dtb", "devices-nodefaults", rv_dtb_input(
        mib | nodef, 31, code, devices=[(0, b"mmio=0x10000000,irq=10"), (1, b"base=0x100000"),
                                        (2, b"base=0x10001000,irq=1"), (2, b"base=0x10002000,irq=2")]))
    put("riscv64-dtb", "uart-irq0", rv_dtb_input(mib | nodef, 31, code, devices=[(0, b"mmio=0x10000000,irq=0")]))
    put("riscv64-dtb", "uart-high-mmio", rv_dtb_input(mib | nodef, 31, code,
                                                      devices=[(0, b"mmio=0xfffffffffffff000,irq=3")]))
    put("riscv64-dtb", "fuzz-fdt", rv_dtb_input(mib, 31, code, devices=[(3, {
        "base": 0x20000000, "size": 0x1000, "node": b"dma", "compatible": b"vmm,dma-checksum vmm,dma", "irq": 5,
        "props": [(b"model", b"fuzz\0"), (b"clock-frequency", struct.pack(">I", 1000000)), (b"empty", b"")]})]))
    put("riscv64-dtb", "fuzz-fdt-refused", rv_dtb_input(mib, 31, code, devices=[(3, {
        "base": 0x20000000, "size": 0x1000, "flags": 7, "node": b"bad/name", "compatible": b"x", "irq": -1,
        "props": [(b"reg", b"\0" * 16)]})]))
    put("riscv64-dtb", "small-ram", rv_dtb_input(0, 15, code))  # 64 KiB: the tree 4 KiB-aligned below its end
    put("riscv64-dtb", "tiny-ram", rv_dtb_input(0, 0, code))  # 4 KiB: no room for the tree
    put("riscv64-dtb", "payloads", rv_dtb_input(mib | image | app, 63, code, payloads=[(0x80200000, 4096),
                                                (0x80400000, 300)], initrd=8192, append=b"console=hvc0"))
    put("riscv64-dtb", "payloads-overlap", rv_dtb_input(mib | image, 63, code, payloads=[(0x80200000, 4096),
                                                        (0x80200800, 4096)]))
    put("riscv64-dtb", "payload-over-program", rv_dtb_input(mib | image | at, 63, code, prog_addr=0x80200000,
                                                            payloads=[(0x80200008, 16)]))
    put("riscv64-dtb", "big-ram", rv_dtb_input(mib | app, 2047, code, append=b"x" * 300))  # 2 GiB: below 3 GiB
    put("riscv64-dtb", "long-append", rv_dtb_input(mib | app, 63, code, append=b"a=b " * 2000))


def seeds_options():
    def opt(mode, text, pick=None):
        return bytes([mode]) + (bytes([pick]) if pick is not None else b"") + text
    cases = {
        "size-64M": opt(0, b"64M"), "size-1G": opt(0, b"1G"), "size-hex": opt(0, b"0x100000"),
        "size-KiB": opt(0, b"4096KiB"), "size-plain": opt(0, b"512"), "size-bytes": opt(6, b"4096"),
        "size-neg": opt(0, b"-1"), "size-space": opt(0, b" 1"), "size-hexM": opt(0, b"0x10M"),
        "size-huge": opt(0, b"18446744073709551615T"), "u64-hex": opt(1, b"0x3f8"), "u64-bad": opt(1, b"12Q"),
        "bool-on": opt(2, b"on"), "bool-TRUE": opt(2, b"TRUE"), "bool-bad": opt(2, b"maybe"),
        "slack-20ms": opt(5, b"20ms"), "slack-auto": opt(5, b"auto"), "slack-off": opt(5, b"off"),
        "slack-big": opt(5, b"1001ms"), "slack-us": opt(5, b"250us"),
        "table-bad-default": opt(4, bytes([2, 0x02 | 0x04 | 0x08]) + b"size\0" + b"9\0" + bytes([1]) +
                                 struct.pack("<I", 8) + bytes([0x03]) + b"flag\0" + b"size=3,flag=on"),
        "table-good": opt(4, bytes([2, 0x02 | 0x04]) + b"iobase\0" + b"0x3f8\0" + bytes([0x01]) + b"name\0" +
                          b"iobase=0x2f8,name=x"),
        "table-dup": opt(4, bytes([2, 0x01]) + b"a\0" + bytes([0x01]) + b"a\0"),
    }
    values = [b"iobase=0x2f8,irq=3", b"mmio=0x10000000", b"iobase=0x10000", b"bogus=1", b"irq", b"irq=3,irq=4",
              b"", b"iosize=5", b"on=off,flag=yes", b"timer-slack=20ms,irqchip=off", b"trace=in_asm+exec",
              b"base=0x100000", b",,,", b"=", b"iobase=1,,irq=2"]
    for pick in range(8):
        for i, v in enumerate(values):
            if pick == 0 or i % 3 == pick % 3:
                cases["values-%d-%02d" % (pick, i)] = opt(3, v, pick)
    for k, v in cases.items():
        put("options", k, v)


def seeds_ssm(build):
    d = os.path.join(HERE, "corpus", "ssm")
    os.makedirs(d, exist_ok=True)
    subprocess.run([os.path.join(build, "tests", "fuzz", "fuzz-seed-ssm"), d], check=True)
    # Round mode: the writer script (op % 5: u64, bytes of op / 5, string, optional, end) and its data.
    put("ssm", "round-mixed", bytes([2, 9, 0, 1 + 5 * 4, 2, 3, 0, 3 + 5, 1 + 5 * 2, 4, 4]) +
        struct.pack("<Q", 0x3f8) + b"abcd" + b"uart\0" + struct.pack("<Q", 7) + b"xy")
    put("ssm", "load-garbage", bytes([0, 3, 0, 4, 5]) + b"\x04\x03abc\x05\0\0\0\x01" + b"\0" * 8)


def store_save(op, name, parent, pairs):
    """One save operation of fuzz_store: op 0 full, 1 incremental, 6 save-and-abort; pairs are (slot, seed)."""
    out = bytes([op, name, parent, len(pairs)])
    for slot, seed in pairs:
        out += bytes([slot, seed])
    return out


def seeds_store():
    full = store_save(0, 2, 0, [(0, 1), (1, 2), (5, 1), (6, 3), (20, 4), (47, 5)])
    inc = store_save(1, 3, 2, [(1, 9), (5, 0), (30, 2)])
    inc2 = store_save(1, 4, 3, [(0, 0), (6, 7), (47, 0)])
    put("store", "save-full", bytes([0]) + full)
    put("store", "save-chain", bytes([0]) + full + inc + inc2)
    put("store", "save-rm", bytes([0]) + full + inc + bytes([2, 2]) + bytes([2, 3]) + bytes([2, 2]))
    put("store", "save-rm-force", bytes([0]) + full + inc + inc2 + bytes([3, 3, 5]) + bytes([3, 2, 5]))
    put("store", "save-reopen-dup", bytes([0]) + full + bytes([4]) + full + store_save(1, 0, 7, [(2, 2)]) +
        bytes([5, 7]))
    put("store", "save-abort", bytes([0]) + full + store_save(6, 0, 0, [(3, 3)]) + store_save(14, 1, 2, [(4, 4)]))
    chain = full + inc + inc2
    nbuild = 3
    # raw: build, then edits (op: low 3 bits the kind, the rest the table), then removals
    put("store", "raw-none", bytes([1, nbuild]) + chain + bytes([0]) + bytes([2 << 2 | 1]))
    put("store", "raw-flip-pagemap", bytes([1, nbuild]) + chain + bytes([1, 2 | 2 << 3, 1, 0x01, 0x40, 0, 0]))
    put("store", "raw-flip-chunk", bytes([1, nbuild]) + chain + bytes([1, 2 | 4 << 3, 0, 0x01, 0x10, 0, 0]))
    put("store", "raw-del-pages", bytes([1, nbuild]) + chain + bytes([2, 1 | 3 << 3, 0, 0, 0, 0, 0,
                                                                        1 | 5 << 3, 0, 0, 0, 0, 0]))
    put("store", "raw-cut-meta", bytes([1, nbuild]) + chain + bytes([1, 3 | 0 << 3, 1, 0x00, 0x10, 0, 0]) +
        bytes([3 << 2 | 1]))
    put("store", "raw-rekey-units", bytes([1, nbuild]) + chain + bytes([1, 4 | 1 << 3, 0, 1, 0, 0, 0]))
    put("store", "raw-meta-loop", bytes([1, 0, 2]) + bytes([5 | 8, ord("p"), 0, ord("q"), 0]) + b"\0" * 10 +
        bytes([5 | 8, ord("q"), 0, ord("p"), 0]) + b"\0" * 10 + bytes([3, ord("p")]))
    put("store", "raw-put-chunk", bytes([1, 1]) + full + bytes([1, 0 | 4 << 3, 8]) + b"\0" * 7 + b"\x09" +
        struct.pack("<I", 100) + b"A" * 100)


def seeds_control():
    lines = [
        b'{"cmd":"status"}',
        b'{"cmd":"save","name":"snap-1"}',
        b' { "name" : "x" , "cmd" : "save" } ',
        b'{"cmd":"sa\\u0076e","name":"\\u00e9t\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t"}',
        b'{}',
        b'[]',
        b'{"cmd":1}',
        b'{"cmd":"a\u0000b"}',
        b'{"cmd":"\ud800"}',
        b'{"cmd":"\udc00x"}',
        b'{"cmd":"bad \\x escape"}',
        b'{"cmd":"status"} trailing',
        b'{"cmd":"status",}',
        b'{"cmd" "status"}',
        b'{"cmd":"unterminated',
        b'{"cmd":"\u12"}',
        b'{"cmd":"tab\there"}',
        b'{"cmd":"quit","cmd":"status"}',
    ]
    for i, line in enumerate(lines):
        put("control", "line-%02d" % i, bytes([0x80 | 63]) + line + b"\n")
    put("control", "many-one-read", bytes([0x40 | 63]) + b"\n".join(lines) + b"\n\n\r\n")
    put("control", "byte-by-byte", bytes([0x80]) + b"\n".join(lines[:4]))
    put("control", "eof-no-newline", bytes([0x80 | 7]) + b'{"cmd":"status"}\n{"cmd":"quit"}')
    put("control", "binary", bytes([0x80 | 15]) + bytes(range(256)) + b"\n" + b'{"cmd":"\xff\xfe\x80"}\n')
    put("control", "too-long", bytes([0x40 | 63]) + b'{"cmd":"' + b"a" * 5000 + b'"}\n{"cmd":"status"}\n')
    put("control", "long-fits", bytes([0x80 | 0x40 | 3]) + b'{"cmd":"' + b"\\u00e9" * 675 + b'"}\n')


def seeds_virtio():
    """Sessions of fuzz_virtio: register accesses and guest-RAM writes, as a driver makes them (virtio 1.2 §3.1)."""
    ram = 0x80000000
    desc, avail, used = 0x0000, 0x0100, 0x0200  # RAM offsets of queue 0's areas; buffers from 0x1000

    def w(off, val, size=4):
        return bytes([0 | {1: 0, 2: 1, 4: 2, 8: 3}[size] << 2]) + struct.pack("<H", off) + \
            struct.pack("<Q" if size == 8 else "<I", val)

    def r(off, size=4):
        return bytes([1 | {1: 0, 2: 1, 4: 2, 8: 3}[size] << 2]) + struct.pack("<H", off)

    def mem(off, data):
        return bytes([2]) + struct.pack("<HH", off, len(data)) + data

    def u16(off, val):
        return bytes([3]) + struct.pack("<HH", off, val)

    def d(addr_off, length, flags=0, nxt=0):
        return struct.pack("<QIHH", ram + addr_off, length, flags, nxt)

    def setup(indirect=False, num=8):
        s = w(0x70, 0) + r(0x000) + r(0x004) + r(0x008) + w(0x70, 1) + w(0x70, 3)
        s += w(0x14, 0) + r(0x10) + w(0x14, 1) + r(0x10)
        s += w(0x24, 0) + w(0x20, 1 << 28 if indirect else 0) + w(0x24, 1) + w(0x20, 1)
        s += w(0x70, 0xb) + r(0x70) + w(0x30, 0) + r(0x34) + w(0x38, num)
        for reg, off in ((0x80, desc), (0x90, avail), (0xa0, used)):
            s += w(reg, ram + off) + w(reg + 4, 0)
        return s + w(0x44, 1) + r(0x44) + w(0x70, 0xf)

    def submit(heads, start=0):
        s = b""
        for i, h in enumerate(heads):
            s += u16(avail + 4 + 2 * ((start + i) % 8), h)
        return s + u16(avail + 2, start + len(heads)) + w(0x50, 0) + r(0x60) + w(0x64, 1) + \
            r(0x60)

    def blk_hdr(at, typ, sector=0):
        return mem(at, struct.pack("<IIQ", typ, 0, sector))

    # virtio-rng: one buffer, then two chained buffers and a second notify.
    rng = setup() + mem(desc, d(0x1000, 64, 2)) + submit([0])
    put("virtio", "rng-one", bytes([0]) + rng)
    put("virtio", "rng-chain", bytes([0]) + rng + mem(desc + 16, d(0x1100, 16, 3, 2) + d(0x1200, 300, 2)) +
        submit([1], 1))
    # virtio-blk: config space, then IN (read 2 sectors), OUT, FLUSH, GET_ID, DISCARD, each a 3-descriptor chain.
    cfg = b"".join(r(0x100 + o, 8) for o in (0, 0x0c, 0x14, 0x24)) + r(0x100, 1) + r(0x1fc, 4)
    def chain(typ, data_len, writable, sector=0, payload=b""):
        s = blk_hdr(0x1000, typ, sector) + (mem(0x2000, payload) if payload else b"")
        if data_len:
            s += mem(desc, d(0x1000, 16, 1, 1) + d(0x2000, data_len, 1 | (2 if writable else 0), 2) +
                     d(0x3000, 1, 2))
        else:
            s += mem(desc, d(0x1000, 16, 1, 2) + b"\0" * 16 + d(0x3000, 1, 2))
        return s
    blk = setup() + cfg
    put("virtio", "blk-read", bytes([1]) + blk + chain(0, 1024, True, 3) + submit([0]))
    put("virtio", "blk-write-read", bytes([1]) + blk + chain(1, 512, False, 5, b"\xa5" * 512) + submit([0]) +
        chain(0, 512, True, 5) + submit([0], 1))
    put("virtio", "blk-flush-getid", bytes([1]) + blk + chain(4, 0, False) + submit([0]) +
        chain(8, 20, True) + submit([0], 1))
    put("virtio", "blk-discard", bytes([1]) + blk + chain(11, 16, False, 0, struct.pack("<QII", 2, 4, 0)) +
        submit([0]))
    put("virtio", "blk-readonly-write", bytes([2]) + setup() + cfg + chain(1, 512, False, 0, b"\x5a" * 512) +
        submit([0]) + chain(4, 0, False) + submit([0], 1) + chain(11, 16, False, 0, struct.pack("<QII", 0, 1, 0)) +
        submit([0], 2))
    # An indirect chain: one descriptor in the ring naming a table of header, data and status.
    table = d(0x1000, 16, 1, 1) + d(0x2000, 512, 3, 2) + d(0x3000, 1, 2)
    put("virtio", "blk-indirect", bytes([1]) + setup(indirect=True) + blk_hdr(0x1000, 0, 7) + mem(0x4000, table) +
        mem(desc, d(0x4000, len(table), 4)) + submit([0]))
    # A chain that loops: DEVICE_NEEDS_RESET, notifies that must do nothing, then a reset and a good request.
    put("virtio", "blk-loop-reset", bytes([1]) + blk + blk_hdr(0x1000, 0) +
        mem(desc, d(0x1000, 16, 1, 1) + d(0x2000, 512, 3, 0)) + submit([0]) + r(0x70) + w(0x50, 0) +
        submit([0], 1) + setup() + chain(0, 512, True) + submit([0]))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    seeds_ssm(sys.argv[1])
    seeds_options()
    seeds_x86()
    seeds_riscv()
    seeds_riscv_dtb()
    seeds_store()
    seeds_control()
    seeds_virtio()
    return 0


if __name__ == "__main__":
    sys.exit(main())
