/*
 * On-disk format of the log tier: the segment header that frames records (whose layout
 * is tiers/base/record.h), shared by the writer, recovery, the walker and the tools.
 * docs/format.md gives the grammar.
 */
#ifndef SLUICE_LOG_FORMAT_H
#define SLUICE_LOG_FORMAT_H
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SEG_MAGIC "SLUICSEG"
/* Version 2 added the record flag REC_F_LATE (record.h); version 1 segments are read as
 * they are (no record of theirs has a flag). A reader that knows only version 1 refuses
 * version 2 (SLUICE_EVERSION) rather than calling a flagged record damage. */
#define SEG_FORMAT_VERSION 2u
#define SEG_FORMAT_VERSION_MIN 1u
#define SEG_HEADER_BYTES 4096u
#define SEG_MIN_BYTES (256u * 1024u)

struct seg_hdr {
    char magic[8];          /* "SLUICSEG" */
    uint32_t version;       /* SEG_FORMAT_VERSION */
    uint32_t header_bytes;  /* SEG_HEADER_BYTES */
    uint8_t uuid[16];       /* database identity: every segment of a directory agrees */
    uint64_t segment_seq;   /* 1, 2, 3, ... in LSN order */
    uint64_t first_lsn;     /* LSN of the first record; the file is log/<first_lsn %016x>.seg */
    uint64_t segment_bytes; /* preallocated file size */
    uint32_t reserved;      /* 0 */
    uint32_t crc;           /* masked CRC32C of the whole 4 KiB header block, this field as 0 */
};
_Static_assert(sizeof(struct seg_hdr) == 64, "segment header fields are 64 bytes");
_Static_assert(offsetof(struct seg_hdr, crc) == 60, "header crc at 60");

/* Largest record the log accepts for a given segment size. */
static inline size_t rec_max_value(size_t segment_bytes, size_t ring_bytes)
{
    size_t v = 1u << 20;
    if (ring_bytes / 4 < v)
        v = ring_bytes / 4;
    if ((segment_bytes - SEG_HEADER_BYTES) / 2 < v)
        v = (segment_bytes - SEG_HEADER_BYTES) / 2;
    return v;
}

void seg_hdr_fill(struct seg_hdr *h, const uint8_t uuid[16], uint64_t seq, uint64_t first_lsn,
                  uint64_t segment_bytes);
/* crc over a SEG_HEADER_BYTES block whose first 64 bytes are the header. */
uint32_t seg_hdr_crc(const uint8_t *block);
/* Checks a 4 KiB header block: 0, SLUICE_ECORRUPT (magic, crc, sizes) or SLUICE_EVERSION. */
int seg_hdr_check(const uint8_t *block, struct seg_hdr *out);
#endif
