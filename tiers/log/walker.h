/*
 * The segment walker: reads one segment file record by record through the I/O
 * interface, validating every record. Shared by recovery, the compactor and the CLI, so
 * all judge a file by the same rules.
 *
 * Damage the cold tier already covers. A walker given skip_upto (the cold tier's
 * compacted_lsn) that meets an invalid record whose LSN is at or below it looks for the
 * next valid record at any 8-byte-aligned offset after it (every record is aligned so,
 * and each carries its own CRC and LSN): when that record's LSN shows that every record
 * missed is at or below skip_upto, the walk goes on from it and on_skip reports the
 * stretch. Nothing is lost: the cold tier holds those records. A stretch that would
 * miss a record above skip_upto is not skipped: the walk ends there, as without it.
 */
#ifndef SLUICE_WALKER_H
#define SLUICE_WALKER_H
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "io.h"

/* A damaged stretch stepped over: file offsets [off, end), LSNs [first_lsn, last_lsn]
 * (last_lsn = first_lsn - 1 when only a fill was damaged). */
struct seg_skip {
    uint64_t off, end;
    uint64_t first_lsn, last_lsn;
};

struct seg_walker {
    struct io *io;
    int fd;
    uint64_t file_size;
    struct seg_hdr hdr;
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;
    uint64_t pos;     /* file offset of the next record */
    uint64_t expect_lsn;
    uint64_t fills; /* REC_FILL records skipped */
    /* damage at or below skip_upto is stepped over (0: never); set after open */
    uint64_t skip_upto;
    void (*on_skip)(void *arg, const struct seg_skip *s);
    void *skip_arg;
    uint64_t skips, skipped_lsns; /* stretches stepped over, and the LSNs they held */
};

/* Reads and checks the header. 0, SLUICE_ECORRUPT, SLUICE_EVERSION, SLUICE_ENOMEM, -errno.
 * The walker does not own fd. */
int seg_walker_open(struct seg_walker *w, struct io *io, int fd, uint64_t file_size);
void seg_walker_close(struct seg_walker *w);

/*
 * 1: *rec (valid until the next call) is the record at *off, its LSN the one expected.
 *    Fill records (carrying the expected LSN) are skipped and counted.
 * 0: the valid records end at w->pos (invalid bytes, a wrong LSN, or the end of file;
 *    damage within skip_upto was stepped over, see above).
 * <0: an I/O error.
 */
int seg_walker_next(struct seg_walker *w, const struct rec_hdr **rec, uint64_t *off);

/*
 * After the end: scans [w->pos, file end). *nonzero_end is the end of the last non-zero
 * byte (w->pos if all zero); *stamp the highest durable stamp of a valid fill there (0 if
 * none). A stamp >= w->expect_lsn proves the missing records had been acknowledged:
 * damage, not a torn tail.
 */
int seg_walker_scan_tail(struct seg_walker *w, uint64_t *nonzero_end, uint64_t *stamp);
#endif
