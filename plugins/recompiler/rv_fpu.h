/*
 * rv_fpu: the F and D extensions (and Zba/Zbb/Zbs, which are executed the same way) for the runtime's
 * one-instruction interpreter: each instruction runs in C on the host's SSE unit with the guest's rounding mode
 * in MXCSR, the host's exception flags are read back into fflags, and the RISC-V rules x86 does not follow
 * (canonical NaN, NaN boxing, saturating conversions, fmin/fmax, round-to-nearest-max-magnitude) are applied
 * on top. Also the FP CSRs (fflags, frm, fcsr) and mstatus.FS. Called by rv_runtime on the hart's thread; the
 * state lives in rv_cpu (f[], fcsr, mstatus.FS).
 */
#ifndef RV_FPU_H
#define RV_FPU_H

#include <stdint.h>

#include "rv_cpu.h"
#include "rv_decode.h"

/* One data access for an FP load or store, through the same checks as the integer ones: 0 or an exception
 * cause. */
typedef int (*rv_ext_mem_fn)(void *opaque, uint64_t addr, unsigned size, int is_write, uint64_t *val);

/* Executes in (an F, D or Zb* instruction). Returns -1 when in is none of these, 0 when done (the caller
 * advances pc), or an exception cause with *tval set (illegal instruction: FS is Off or the rounding mode is
 * reserved; a load or store fault). */
int rv_ext_exec(rv_cpu *c, const rv_insn *in, rv_ext_mem_fn mem, void *opaque, uint64_t *tval);

/* fflags (0x001), frm (0x002), fcsr (0x003): 0, or -1 when the access is illegal (FS Off). Writes make FS
 * Dirty. */
int rv_fpu_csr_read(const rv_cpu *c, unsigned csr, uint64_t *v);
int rv_fpu_csr_write(rv_cpu *c, unsigned csr, uint64_t v);
/* Generated code ORs the raw x86 exception flags of inline operations (MXCSR bits 5:0) into fcsr bits 13:8:
 * turns them into fflags. Called before C code reads or writes fcsr (the interpreter helper, after a block). */
void rv_fpu_fold_flags(rv_cpu *c);
/* MXCSR to the host's default 0x1f80 with the flags clear: before generated code runs and when a helper returns
 * to it (in process), which keeps inline operations' flags their own (see rv_translate.c). */
static inline void rv_fpu_host_reset(void)
{
    unsigned mx = 0x1f80;
    __asm__ volatile("ldmxcsr %0" : : "m"(mx));
}
/* mstatus/sstatus as read: SD (bit 63) set when FS is Dirty. */
uint64_t rv_fpu_status_sd(uint64_t mstatus);

#define RV_MSTATUS_FS (3ull << 13)
#define RV_MSTATUS_SD (1ull << 63)

#endif
