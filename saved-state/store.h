/*
 * store: snapshots of VMs in one LMDB environment (a directory the user names). Per snapshot: metadata, one
 * record per saved-state unit, and a page map from guest page numbers to page contents. Page contents are kept
 * once per database (keyed by a 128-bit hash, verified byte for byte before sharing, counted by reference);
 * zero pages are not stored. An incremental snapshot names its parent and maps only the pages that changed.
 * A snapshot is written in one write transaction: it appears whole or not at all. Called by core/ only; it knows
 * nothing of VMs, only of blobs and pages.
 */
#ifndef VMM_STORE_H
#define VMM_STORE_H

#include <stddef.h>
#include <stdint.h>

#define SS_NAME_MAX 64
#define SS_PAGE_SIZE 4096u

typedef struct ss_store ss_store;
typedef struct ss_save ss_save;

typedef struct ss_meta {
    char name[SS_NAME_MAX];
    uint64_t created; /* seconds since the epoch */
    char vmm_version[32];
    char arch[32];
    uint32_t arch_abi; /* the arch plugin's descriptor version word */
    uint64_t ram_size;
    uint32_t cpus;
    char parent[SS_NAME_MAX]; /* "" for a full snapshot */
    char config[1024];        /* the VM's configuration, as vmm writes it (arch options, devices) */
    char host[128];           /* host driver and CPU features that matter for restoring */
    /* filled in by the store at commit */
    uint64_t pages_mapped; /* page map entries of this snapshot (zero pages of an incremental included) */
    uint64_t pages_new;    /* page contents this snapshot added to the database */
    uint64_t units;
} ss_meta;

/* How ss_open opens a database: an existing one for reading and writing, one made if missing, or an existing one
 * for reading only (LMDB's MDB_RDONLY: the database file is never written, nor created). */
enum { SS_OPEN_EXISTING = 0, SS_OPEN_CREATE = 1, SS_OPEN_READONLY = 2 };
/* Open. NULL with a one-line reason in err: a missing directory or database, an empty or truncated data.mdb, a
 * file that is not LMDB's, an LMDB database that is not vmm's. */
ss_store *ss_open(const char *dir, int mode, char *err, size_t errlen);
/* Check that dir can be a state database (an existing directory vmm may write, or one it can create), without
 * opening or creating anything. 0, or -1 with a one-line reason in err. */
int ss_check_path(const char *dir, char *err, size_t errlen);
void ss_close(ss_store *st);

/* Whether name can name a snapshot: 1 to SS_NAME_MAX - 1 bytes, without '/', ':' (--restore DB:NAME splits at
 * the last one) or control characters. 0, or -1 with a one-line reason naming it in err. Every place that takes
 * a name from a user checks it here, so that a name refused at one is refused at all of them. */
int ss_name_check(const char *name, char *err, size_t errlen);
ss_save *ss_save_begin(ss_store *st, const ss_meta *meta, char *err, size_t errlen);
int ss_save_unit(ss_save *s, const char *unit, uint32_t instance, uint32_t version, const void *blob, size_t len);
/* page == NULL records a zero page (needed in incremental snapshots, where the parent may have data there).
 * The page's bytes are read until ss_save_copy_pages or ss_save_seal: keep them unchanged until then. */
int ss_save_page(ss_save *s, uint64_t index, const uint8_t *page);
/* Copy the pages handed over so far into the transaction, so that their memory may change (a live save lifts
 * the guest's write protection after this). 0, or -1 with the reason in ss_save_error. */
int ss_save_copy_pages(ss_save *s);
/* Everything handed to the save so far is copied into the transaction: the memory it came from may change
 * from here on (vmm resumes the guest before committing). -1 with a reason in err. */
int ss_save_seal(ss_save *s, char *err, size_t errlen);
/* Commit (the snapshot becomes visible) or abort; both free s. Commit returns -1 with a reason in err. */
int ss_save_commit(ss_save *s, char *err, size_t errlen);
void ss_save_abort(ss_save *s);
const char *ss_save_error(const ss_save *s);

int ss_get_meta(ss_store *st, const char *name, ss_meta *meta, char *err, size_t errlen);
typedef int (*ss_unit_fn)(void *ctx, const char *unit, uint32_t instance, uint32_t version, const uint8_t *blob,
                          size_t len);
/* Each unit of the snapshot, in key order. Stops at the first non-zero return of fn and returns it. */
int ss_load_units(ss_store *st, const char *name, ss_unit_fn fn, void *ctx, char *err, size_t errlen);
typedef int (*ss_page_fn)(void *ctx, uint64_t index, const uint8_t *page /* NULL: zero */);
/* Every page recorded by the snapshot or its ancestors, newest first wins, each page's hash verified. Pages
 * at or above max_index are refused as corrupt. */
int ss_load_pages(ss_store *st, const char *name, uint64_t max_index, ss_page_fn fn, void *ctx, char *err,
                  size_t errlen);

/* A snapshot's pages resolved once (the parent chain walked, every page located in the database's mapping), for
 * reading them in any order — eagerly, or on demand as a guest touches them. Holds a read transaction: the
 * pointers stay valid until ss_reader_close. */
typedef struct ss_reader ss_reader;
ss_reader *ss_reader_open(ss_store *st, const char *name, uint64_t max_index, char *err, size_t errlen);
/* 1: *page points to the page's bytes (hash verified); 0: the page is zero (or never recorded); -1: corrupt,
 * with the reason in err. Safe from several threads. */
int ss_reader_page(ss_reader *r, uint64_t index, const uint8_t **page, char *err, size_t errlen);
/* 1 and the first page of [first, first + count) the snapshot records (zero or not) in *index, or 0. */
int ss_reader_find(ss_reader *r, uint64_t first, uint64_t count, uint64_t *index);
/* Copy the pages [first, first + count) that hold data to dst (page first at dst[0]), each hash checked before
 * it is copied. Pages the snapshot records as zero, or does not record, are not written: fresh guest memory is
 * zero already, and leaving it alone keeps it from being faulted in. The number of pages copied, or -1 at the
 * first corrupt page with the reason in err (pages before it may have been copied). Safe from several threads on
 * disjoint ranges. */
int64_t ss_reader_copy(ss_reader *r, uint64_t first, uint64_t count, uint8_t *dst, char *err, size_t errlen);
/* fn for every page the snapshot records, in guest order (page NULL: zero), each hash checked first; stops at
 * the first corrupt page (-1, reason in err) or the first non-zero return of fn (returned). */
int ss_reader_each(ss_reader *r, ss_page_fn fn, void *ctx, char *err, size_t errlen);
void ss_reader_close(ss_reader *r);

/* Page spaces: bulk data of a saved-state unit (a disk image) kept in the page map beside guest RAM, above every
 * guest page number, so it shares the store's dedup, reference counts, incremental chains, folding on remove and
 * atomic commit. Each (unit, instance) has its own space of SS_SPACE_PAGES pages starting at ss_space_base();
 * guest RAM readers (ss_reader_open) stop below SS_SPACE_BASE. A save hands a space's pages to ss_save_page after
 * every RAM page (page numbers must rise). */
#define SS_SPACE_BASE (1ull << 62)
#define SS_SPACE_BITS 40
#define SS_SPACE_PAGES (1ull << SS_SPACE_BITS)
uint64_t ss_space_base(const char *unit, uint32_t instance);
/* fn(ctx, index - first, page) for every page of [first, first + count) that snapshot name or its ancestors
 * record, newest first wins (page NULL: zero), each hash checked before fn sees it; in no particular order.
 * 0, -1 with the reason in err, or the first non-zero return of fn. *recorded (if not NULL) gets how many pages
 * the chain records in the range. */
int ss_space_each(ss_store *st, const char *name, uint64_t first, uint64_t count, ss_page_fn fn, void *ctx,
                  uint64_t *recorded, char *err, size_t errlen);

/* Make committed snapshots durable (fsync). Commits do not wait for the disk, so a save pauses the guest only
 * for the copy; vmm calls this after resuming it. A killed process loses nothing committed; a power cut before
 * this returns may lose the newest snapshot. */
int ss_sync(ss_store *st, char *err, size_t errlen);
typedef void (*ss_list_fn)(void *ctx, const ss_meta *meta);
int ss_list(ss_store *st, ss_list_fn fn, void *ctx, char *err, size_t errlen);
/* Remove a snapshot. A parent of others is refused unless force, which first folds its pages into each child
 * (so the children stay complete). */
int ss_remove(ss_store *st, const char *name, int force, char *err, size_t errlen);
/* Totals for `snapshot info`: distinct page contents stored and the database file size. */
int ss_stats(ss_store *st, uint64_t *pages, uint64_t *file_bytes);

#endif
