/*
 * Unit test of the recompiler's codecs: rv_decode/rv_disas against encodings produced by GNU as (32-bit and
 * compressed), and x64_emit against the bytes GNU as produces for the same x86-64 instructions, including the
 * awkward ModRM cases (rbp/r13 bases, rsp/r12 SIBs, SIL/DIL byte registers).
 */
#include <stdio.h>
#include <string.h>

#include "rv_decode.h"
#include "x64_emit.h"

static int failures;

static void check_rv(uint32_t raw, uint64_t pc, const char *want)
{
    rv_insn in;
    char text[96];
    rv_decode(raw, &in);
    rv_disas(&in, pc, text, sizeof(text));
    if (strcmp(text, want)) {
        printf("FAIL: decode 0x%08x: got \"%s\", want \"%s\"\n", raw, text, want);
        failures++;
    }
}

static void check_x64(const char *what, const uint8_t *got, size_t n, const uint8_t *want, size_t wn)
{
    if (n != wn || memcmp(got, want, n)) {
        printf("FAIL: x64 %s:", what);
        for (size_t i = 0; i < n; i++)
            printf(" %02x", got[i]);
        printf("  want");
        for (size_t i = 0; i < wn; i++)
            printf(" %02x", want[i]);
        printf("\n");
        failures++;
    }
}

#define X64(what, stmt, ...)                                          \
    do {                                                              \
        uint8_t mem[32];                                              \
        x64_buf bb = { mem, mem + sizeof(mem), 0 }, *b = &bb;         \
        static const uint8_t want[] = { __VA_ARGS__ };                \
        stmt;                                                         \
        check_x64(what, mem, (size_t)(bb.p - mem), want, sizeof(want)); \
    } while (0)

int main(void)
{
    /* 32-bit encodings (riscv64-unknown-elf-as output) */
    check_rv(0x00b50533, 0, "add a0, a0, a1");
    check_rv(0x40b50533, 0, "sub a0, a0, a1");
    check_rv(0xfff50513, 0, "addi a0, a0, -1");
    check_rv(0x0005051b, 0, "addiw a0, a0, 0");
    check_rv(0x43f55513, 0, "srai a0, a0, 63");
    check_rv(0x02b54533, 0, "div a0, a0, a1");
    check_rv(0x02b5053b, 0, "mulw a0, a0, a1");
    check_rv(0x00853503, 0, "ld a0, 8(a0)");
    check_rv(0xfea53c23, 0, "sd a0, -8(a0)");
    check_rv(0x00b50463, 0x1000, "beq a0, a1, 0x1008");
    check_rv(0xffdff0ef, 0x1000, "jal ra, 0xffc");
    check_rv(0x000080e7, 0, "jalr ra, 0(ra)");
    check_rv(0x800002b7, 0, "lui t0, 0x80000");
    check_rv(0x30529073, 0, "csrrw zero, 0x305, t0");
    check_rv(0x3402d073, 0, "csrrwi zero, 0x340, 5");
    check_rv(0x00b5352f, 0, "amoadd.d a0, a1, (a0)");
    check_rv(0x1005252f, 0, "lr.w a0, (a0)");
    check_rv(0x30200073, 0, "mret");
    check_rv(0x10200073, 0, "sret");
    check_rv(0x0000100f, 0, "fence.i");
    check_rv(0x0000000b, 0, "illegal 0x0000000b");
    /* compressed */
    check_rv(0x4505, 0, "addi a0, zero, 1");      /* c.li a0, 1 */
    check_rv(0x8082, 0, "jalr zero, 0(ra)");      /* c.jr ra (ret) */
    check_rv(0x852e, 0, "add a0, zero, a1");      /* c.mv a0, a1 */
    check_rv(0x6108, 0, "ld a0, 0(a0)");          /* c.ld a0, 0(a0) */
    check_rv(0xe42e, 0, "sd a1, 8(sp)");          /* c.sdsp a1, 8(sp) */
    check_rv(0x1141, 0, "addi sp, sp, -16");      /* c.addi sp, -16 */
    check_rv(0x7179, 0, "addi sp, sp, -48");      /* c.addi16sp sp, -48 */
    /* F, D (c.fld and friends expand to fld/fsd), Zba, Zbb, Zbs; a reserved static rounding mode still decodes
     * (execution makes it illegal, as it does a reserved frm under dyn); half precision is not implemented */
    check_rv(0x02c59553, 0, "fadd.d fa0, fa1, fa2, rtz");
    check_rv(0x0020f053, 0, "fadd.s ft0, ft1, ft2");
    check_rv(0x6ac5c543, 0, "fmadd.d fa0, fa1, fa2, fa3, rmm");
    check_rv(0x9924f44b, 0, "fnmsub.s fs0, fs1, fs2, fs3");
    check_rv(0x5a0f3fd3, 0, "fsqrt.d ft11, ft10, rup");
    check_rv(0x22b5a553, 0, "fsgnjx.d fa0, fa1, fa1");
    check_rv(0x28c58553, 0, "fmin.s fa0, fa1, fa2");
    check_rv(0xa2b50553, 0, "fle.d a0, fa0, fa1");
    check_rv(0xa01022d3, 0, "feq.s t0, ft0, ft1");
    check_rv(0xe20797d3, 0, "fclass.d a5, fa5");
    check_rv(0xc0351553, 0, "fcvt.lu.s a0, fa0, rtz");
    check_rv(0xd2150553, 0, "fcvt.d.wu fa0, a0, rne");
    check_rv(0xd025a553, 0, "fcvt.s.l fa0, a1, rdn");
    check_rv(0x4015f553, 0, "fcvt.s.d fa0, fa1");
    check_rv(0x42058553, 0, "fcvt.d.s fa0, fa1, rne");
    check_rv(0xe0050553, 0, "fmv.x.w a0, fa0");
    check_rv(0xf2050553, 0, "fmv.d.x fa0, a0");
    check_rv(0xffc12507, 0, "flw fa0, -4(sp)");
    check_rv(0x7fb53c27, 0, "fsd fs11, 2040(a0)");
    check_rv(0x2588, 0, "fld fa0, 8(a1)");
    check_rv(0xa90c, 0, "fsd fa1, 16(a0)");
    check_rv(0x2462, 0, "fld fs0, 24(sp)");
    check_rv(0xbffe, 0, "fsd ft11, 504(sp)");
    check_rv(0x20c5c53b, 0, "sh2add.uw a0, a1, a2");
    check_rv(0x0835951b, 0, "slli.uw a0, a1, 3");
    check_rv(0x40c5f533, 0, "andn a0, a1, a2");
    check_rv(0x6005951b, 0, "clzw a0, a1");
    check_rv(0x6b85d513, 0, "rev8 a0, a1");
    check_rv(0x2875d513, 0, "orc.b a0, a1");
    check_rv(0x63f5d513, 0, "rori a0, a1, 63");
    check_rv(0x6055d51b, 0, "roriw a0, a1, 5");
    check_rv(0x0805c53b, 0, "zext.h a0, a1");
    check_rv(0x0ac5f533, 0, "maxu a0, a1, a2");
    check_rv(0x4a85d513, 0, "bexti a0, a1, 40");
    check_rv(0x68c59533, 0, "binv a0, a1, a2");
    check_rv(0x0220d0d3, 0, "fadd.d ft1, ft1, ft2, rm5");
    check_rv(0x04c59553, 0, "illegal 0x04c59553");
    check_rv(0x8d0d, 0, "sub a0, a0, a1");        /* c.sub */
    check_rv(0x9d2d, 0, "addw a0, a0, a1");       /* c.addw */
    check_rv(0xa001, 0x100, "jal zero, 0x100");   /* c.j . */
    check_rv(0xc111, 0x100, "beq a0, zero, 0x104"); /* c.beqz a0, .+4 */
    check_rv(0x9002, 0, "ebreak");                /* c.ebreak */
    check_rv(0x0000, 0, "illegal 0x0000");

    /* x86-64 encodings (GNU as output) */
    X64("mov rax, [rbp+0x10]", x64_emit_mov_r_rm(b, 8, X64_RAX, x64_mem(X64_RBP, 0x10)), 0x48, 0x8b, 0x45, 0x10);
    X64("mov [r13+0], r12", x64_emit_mov_rm_r(b, 8, x64_mem(X64_R13, 0), X64_R12), 0x4d, 0x89, 0x65, 0x00);
    X64("mov rax, [r12]", x64_emit_mov_r_rm(b, 8, X64_RAX, x64_mem(X64_R12, 0)), 0x49, 0x8b, 0x04, 0x24);
    X64("mov [r15+rcx], sil", x64_emit_mov_rm_r(b, 1, x64_mem_idx(X64_R15, X64_RCX, 1, 0), X64_RSI),
        0x41, 0x88, 0x34, 0x0f);
    X64("movsxd rax, [r15+rcx]", x64_emit_movsxd(b, X64_RAX, x64_mem_idx(X64_R15, X64_RCX, 1, 0)),
        0x49, 0x63, 0x04, 0x0f);
    X64("movzx eax, byte [r15+rcx]", x64_emit_movzx(b, 1, X64_RAX, x64_mem_idx(X64_R15, X64_RCX, 1, 0)),
        0x41, 0x0f, 0xb6, 0x04, 0x0f);
    X64("lea rcx, [rdx-0x80000000]", x64_emit_lea(b, X64_RCX, x64_mem(X64_RDX, INT32_MIN)),
        0x48, 0x8d, 0x8a, 0x00, 0x00, 0x00, 0x80);
    X64("add r9, 0x1000", x64_emit_alu_rm_imm(b, 8, X64_ADD, x64_reg(X64_R9), 0x1000),
        0x49, 0x81, 0xc1, 0x00, 0x10, 0x00, 0x00);
    X64("sub qword [rbp+0x108], 5", x64_emit_alu_rm_imm(b, 8, X64_SUB, x64_mem(X64_RBP, 0x108), 5),
        0x48, 0x83, 0xad, 0x08, 0x01, 0x00, 0x00, 0x05);
    X64("shl r8d, cl", x64_emit_shift_cl(b, 4, X64_SHL, x64_reg(X64_R8)), 0x41, 0xd3, 0xe0);
    X64("imul rax, r13", x64_emit_imul_r_rm(b, 8, X64_RAX, x64_reg(X64_R13)), 0x49, 0x0f, 0xaf, 0xc5);
    X64("setl al", x64_emit_setcc(b, X64_CC_L, X64_RAX), 0x0f, 0x9c, 0xc0);
    X64("mov eax, 0x80000000", x64_emit_mov_imm(b, X64_RAX, 0x80000000u), 0xb8, 0x00, 0x00, 0x00, 0x80);
    X64("mov r11, -1", x64_emit_mov_imm(b, X64_R11, ~0ull), 0x49, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff);
    X64("jmp [rbp+rcx+0x138]", x64_emit_jmp_rm(b, x64_mem_idx(X64_RBP, X64_RCX, 1, 0x138)),
        0xff, 0xa4, 0x0d, 0x38, 0x01, 0x00, 0x00);
    X64("push r15", x64_emit_push(b, X64_R15), 0x41, 0x57);
    X64("cmp byte [r14+rax], 0", x64_emit_alu_rm_imm(b, 1, X64_CMP, x64_mem_idx(X64_R14, X64_RAX, 1, 0), 0),
        0x41, 0x80, 0x3c, 0x06, 0x00);

    /* division, negation and sign extension into rdx (the inline RISC-V division family) */
    X64("div rcx", x64_emit_div1(b, 8, 0, x64_reg(X64_RCX)), 0x48, 0xf7, 0xf1);
    X64("idiv rsi", x64_emit_div1(b, 8, 1, x64_reg(X64_RSI)), 0x48, 0xf7, 0xfe);
    X64("idiv r13d", x64_emit_div1(b, 4, 1, x64_reg(X64_R13)), 0x41, 0xf7, 0xfd);
    X64("div ecx", x64_emit_div1(b, 4, 0, x64_reg(X64_RCX)), 0xf7, 0xf1);
    X64("div r9", x64_emit_div1(b, 8, 0, x64_reg(X64_R9)), 0x49, 0xf7, 0xf1);
    X64("div qword [rbp+0x98]", x64_emit_div1(b, 8, 0, x64_mem(X64_RBP, 0x98)),
        0x48, 0xf7, 0xb5, 0x98, 0x00, 0x00, 0x00);
    X64("idiv dword [r12+0x10]", x64_emit_div1(b, 4, 1, x64_mem(X64_R12, 0x10)), 0x41, 0xf7, 0x7c, 0x24, 0x10);
    X64("neg rdx", x64_emit_neg(b, 8, x64_reg(X64_RDX)), 0x48, 0xf7, 0xda);
    X64("neg edx", x64_emit_neg(b, 4, x64_reg(X64_RDX)), 0xf7, 0xda);
    X64("neg r10d", x64_emit_neg(b, 4, x64_reg(X64_R10)), 0x41, 0xf7, 0xda);
    X64("neg qword [r13+0]", x64_emit_neg(b, 8, x64_mem(X64_R13, 0)), 0x49, 0xf7, 0x5d, 0x00);
    X64("cqo", x64_emit_cqo(b), 0x48, 0x99);
    X64("cdq", x64_emit_cdq(b), 0x99);
    /* short jumps: forward over a cqo, backward onto a cdq, and to the next instruction */
    X64("ja 1f; cqo; 1:", { uint8_t *f = x64_emit_jcc8(b, X64_CC_A); x64_emit_cqo(b); x64_patch_rel8(f, b->p); },
        0x77, 0x02, 0x48, 0x99);
    X64("1: cdq; jmp 1b", { uint8_t *t = b->p; x64_emit_cdq(b); x64_patch_rel8(x64_emit_jmp8(b), t); },
        0x99, 0xeb, 0xfd);
    X64("jne 1f; jmp 1f; 1:", {
            uint8_t *f1 = x64_emit_jcc8(b, X64_CC_NE);
            uint8_t *f2 = x64_emit_jmp8(b);
            x64_patch_rel8(f1, b->p);
            x64_patch_rel8(f2, b->p);
        }, 0x75, 0x02, 0xeb, 0x00);
    {
        /* reach: -128..127 from the end of the jump; beyond that refused with the field left alone */
        uint8_t mem[400] = { 0 };
        x64_buf bb = { mem + 200, mem + sizeof(mem), 0 };
        uint8_t *f = x64_emit_jmp8(&bb), *next = f + 1;
        int ok = x64_patch_rel8(f, next + 128) == -1 && *f == 0 && x64_patch_rel8(f, next - 129) == -1 && *f == 0;
        ok = ok && x64_patch_rel8(f, next + 127) == 0 && *f == 0x7f;
        ok = ok && x64_patch_rel8(f, next - 128) == 0 && *f == 0x80;
        if (!ok) {
            printf("FAIL: x64_patch_rel8 range\n");
            failures++;
        }
    }

    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
