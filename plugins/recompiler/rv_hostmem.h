/*
 * rv_hostmem: host memory the recompiler maps for itself (rv_runtime.c's block table, rv_codesnap.c's page
 * copies): anonymous, zero, untouched until used, 2 MiB-aligned and advised into transparent huge pages. On a
 * nested host a 4 KiB page fault costs ~1.7 us where zeroing a 2 MiB page costs ~0.1 ms, and tables that a boot
 * fills densely would otherwise take one fault per page.
 */
#ifndef RV_HOSTMEM_H
#define RV_HOSTMEM_H

#include <stddef.h>

/* len bytes, or NULL; release with rv_hostmem_unmap(p, len). */
void *rv_hostmem_map(size_t len);
void rv_hostmem_unmap(void *p, size_t len);

#endif
