/*
 * Segments: the files of the log tier, and the table that names them.
 *
 * Files. A segment is <first LSN in 16 hex digits>.seg under DIR/log, born complete
 * (header written and synced under a *.seg.tmp name, renamed, directory synced), so a
 * *.seg file always has a valid header. The preparer zero-fills spares ahead of time.
 *
 * The table. One entry per segment this process has opened, in LSN order; an entry
 * stays when its segment is compacted and deleted (retired), so table indexes never
 * shift under the writer. Each entry's life:
 *
 *     added (seg_table_add: fd open, no offsets)
 *       -> filling (the writer, or recovery, appends record offsets)
 *       -> sealed (a later entry exists; its records are fixed)
 *       -> retired (seg_table_retire: fds handed back to be closed, offsets freed)
 *
 * Exactly once to retired, and only from live; a reader never reads an offset from a
 * retired entry. Who may do what:
 *   - recovery adds and fills entries before any reader exists;
 *   - the writer thread adds (a roll), fills the newest entry, and retires an entry a
 *     roll replaced (a segment without records that was renamed over);
 *   - the compactor retires sealed entries it compacted;
 *   - readers locate a released record (seg_table_locate) and then read its file
 *     outside the lock, between seg_reader_enter and seg_reader_leave, so the compactor
 *     closes retired descriptors only once no reader is between the two.
 *
 * Locking: the table is part of the hot index and guarded by its rwlock (hot_index.h):
 * entries are added and retired under the write lock; seg_table_locate and the walks
 * below need at least the read lock; offsets are appended without the lock by their
 * only writer, room for them reserved under the write lock (seg_table_reserve_offs).
 */
#ifndef SLUICE_SEGMENT_H
#define SLUICE_SEGMENT_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "io.h"

struct segment {
    uint64_t seq;
    uint64_t first_lsn;
    int fd;         /* buffered: reads, recovery, the header; -1 once retired */
    int dfd;        /* O_DIRECT for the writer in direct mode, else -1 */
    int retired;    /* compacted and deleted: the entry stays so indexes never shift */
    uint64_t end;   /* bytes laid out so far (header included) */
    uint64_t size;  /* the file's size, from its header (options may change across opens) */
    uint32_t *offs; /* offs[lsn - first_lsn]: file offset of each record (segments < 4 GiB) */
    size_t noffs, offs_cap;
    uint64_t created_ns; /* monotonic: when this process added it (backlog age, put-to-cold) */
};

struct segment_table {
    struct segment *v;
    size_t n, cap;
    /* readers between seg_table_locate (under the lock) and their read (outside) */
    _Atomic int file_readers;
};

/* The offset of a record recovery stepped over (damaged, and in the cold tier). */
#define SEG_NO_OFFSET UINT32_MAX
/* An entry's first offset array: 1,024 records, doubled as it fills. */
#define SEG_OFFS_START 1024u

/* --- the table ------------------------------------------------------------------- */

/* Frees the entries; closes no descriptor (seg_table_close_all does). */
void seg_table_free(struct segment_table *t);
/* Write lock. Appends an entry for an open segment; its table index or SLUICE_ENOMEM. */
int seg_table_add(struct segment_table *t, uint64_t seq, uint64_t first_lsn, uint64_t size,
                  int fd);

static inline struct segment *seg_at(const struct segment_table *t, size_t idx)
{
    SLUICE_ALWAYS(idx < t->n);
    return &t->v[idx];
}
static inline struct segment *seg_newest(const struct segment_table *t)
{
    return seg_at(t, t->n - 1);
}
/* The last LSN entry idx can hold: the next entry's first LSN - 1, UINT64_MAX for the
 * newest (still filling). */
static inline uint64_t seg_last_lsn(const struct segment_table *t, size_t idx)
{
    return idx + 1 < t->n ? seg_at(t, idx + 1)->first_lsn - 1 : UINT64_MAX;
}
/* The entry whose LSN range holds lsn (the last with first_lsn <= lsn), or t->n if lsn
 * is before every entry. */
size_t seg_table_holding(const struct segment_table *t, uint64_t lsn);

/* Write lock. Room for n more offsets in entry idx (the one being filled). */
int seg_table_reserve_offs(struct segment_table *t, size_t idx, size_t n);
/* The entry's only writer, without the lock, into room reserved above. */
static inline void seg_push_off(struct segment *s, uint64_t off)
{
    SLUICE_ALWAYS(s->noffs < s->offs_cap && off <= UINT32_MAX);
    s->offs[s->noffs++] = (uint32_t)off;
}

/* Read lock; the record is released from the ring (its offset was stored before its
 * write was submitted). Its file and offset: 0, or SLUICE_NOTFOUND (retired, or a record
 * recovery stepped over). */
int seg_table_locate(const struct segment_table *t, uint64_t lsn, int *fd, uint64_t *off);
static inline void seg_reader_enter(struct segment_table *t)
{
    atomic_fetch_add(&t->file_readers, 1);
}
static inline void seg_reader_leave(struct segment_table *t)
{
    atomic_fetch_sub(&t->file_readers, 1);
}
/* Without the lock, after retiring: returns once no reader is reading a file. */
void seg_table_wait_readers(struct segment_table *t);

/* Write lock. Retires live entry idx: its descriptors go to fds[] (up to 2, to close
 * once seg_table_wait_readers returned), its offsets are freed. Returns how many fds. */
int seg_table_retire(struct segment_table *t, size_t idx, int fds[2]);

/* Read lock. The live entries: how many, their file bytes (what the backlog budget
 * counts), the newest one's size, the oldest one's creation time (0 if none). */
void seg_table_usage(const struct segment_table *t, uint64_t *live, uint64_t *bytes,
                     uint64_t *newest_bytes, uint64_t *oldest_created_ns);
/* No other thread left: closes every descriptor the table still holds. */
void seg_table_close_all(struct segment_table *t, struct io *io);

/* --- the files ------------------------------------------------------------------- */

/* Zero-fills a spare segment file of `bytes` at spare_path and syncs it, spreading the
 * writes over about pace_ns (0: as fast as it can; see preparer.h). A non-zero *stop
 * abandons it (SLUICE_EBUSY, the file removed). */
int seg_prepare_spare(struct io *io, const char *spare_path, uint64_t bytes, uint64_t pace_ns,
                      const _Atomic int *stop);
/* Creates segment <first_lsn>.seg from the spare (or, if spare_path is NULL, a fresh
 * preallocated file): header, sync, rename into place, directory sync. Returns the
 * open (buffered) fd or -errno. */
int seg_install(struct io *io, const char *logdir, const char *spare_path, const uint8_t uuid[16],
                uint64_t seq, uint64_t first_lsn, uint64_t bytes);
void seg_filename(char out[32], uint64_t first_lsn);
/* dir/<first_lsn>.seg into out; -ENAMETOOLONG if it does not fit. */
int seg_path(char *out, size_t cap, const char *logdir, uint64_t first_lsn);
/* 1 if name is a segment file name ("<16 hex digits>.seg"), with its first LSN. */
int seg_parse_name(const char *name, uint64_t *first_lsn);
/* The first LSNs of the segments in logdir, sorted (caller frees *out); on_tmp (may be
 * NULL) is called for each unfinished "*.seg.tmp". 0, -errno, SLUICE_ENOMEM. */
int seg_list(const char *logdir, uint64_t **out, size_t *n, void (*on_tmp)(void *, const char *),
             void *arg);
#endif
