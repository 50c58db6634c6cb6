/* Cold blocks: round trips, and damage that must be SLUICE_ECORRUPT (or EVERSION) —
 * never a success with wrong data, never an out-of-bounds access (ASan runs this too). */
#include <criterion/criterion.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "crc32c.h"
#include "sluice.h"
#include "util.h"

static uint8_t raw[BLOCK_RAW_MAX], scratch[BLOCK_RAW_MAX];
static struct block_rec out[4096];

static size_t make(int compressible, size_t n, uint8_t *blk, size_t cap, struct block_rec *recs,
                   uint8_t *vals)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *v = vals + i * 100;
        if (compressible)
            memset(v, 'a' + (int)(i % 3), 100);
        else
            tu_fill(v, 100, i);
        recs[i] = (struct block_rec){.ts = 1000 + i * 7, .lsn = 50 + i, .val = v, .vlen = 100};
    }
    recs[n / 2].vlen = 0; /* an empty value too */
    size_t len;
    cr_assert_eq(block_encode(9, recs, n, 1, scratch, blk, cap, &len), 0);
    return len;
}

Test(block, round_trips_compressed_and_raw)
{
    static uint8_t blk[64 << 10], vals[200 * 100];
    struct block_rec recs[200];
    for (int comp = 0; comp < 2; comp++) {
        size_t len = make(comp, 200, blk, sizeof blk, recs, vals);
        struct block_hdr h;
        cr_assert_eq(block_decode(blk, len, raw, out, 4096, &h), 0);
        if (comp)
            cr_expect_lt(len, block_raw_size(recs, 200) / 4, "compressible payload shrinks");
        cr_assert_eq(h.count, 200);
        cr_expect_eq(h.series, 9);
        cr_expect_eq(h.ts_min, 1000);
        cr_expect_eq(h.ts_max, 1000 + 199 * 7);
        for (int i = 0; i < 200; i++) {
            cr_assert_eq(out[i].ts, recs[i].ts);
            cr_assert_eq(out[i].lsn, recs[i].lsn);
            cr_assert_eq(out[i].vlen, recs[i].vlen);
            cr_assert_eq(memcmp(out[i].val, recs[i].val, recs[i].vlen), 0);
        }
    }
}

Test(block, incompressible_body_is_stored_raw)
{
    static uint8_t blk[4096], val[200];
    tu_fill(val, sizeof val, 3);
    struct block_rec rec = {.ts = 1, .lsn = 1, .val = val, .vlen = sizeof val};
    size_t len;
    cr_assert_eq(block_encode(2, &rec, 1, 1, scratch, blk, sizeof blk, &len), 0);
    struct block_hdr h;
    cr_assert_eq(block_decode(blk, len, raw, out, 4096, &h), 0);
    cr_expect_eq(h.codec, BLOCK_CODEC_NONE);
    cr_expect_eq(memcmp(out[0].val, val, sizeof val), 0);
}

Test(block, every_single_bit_flip_is_detected)
{
    static uint8_t blk[16 << 10], vals[40 * 100];
    struct block_rec recs[40];
    for (int comp = 0; comp < 2; comp++) {
        size_t len = make(comp, 40, blk, sizeof blk, recs, vals);
        for (size_t bit = 0; bit < len * 8; bit++) {
            blk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            struct block_hdr h;
            int r = block_decode(blk, len, raw, out, 4096, &h);
            cr_assert_eq(r, SLUICE_ECORRUPT, "codec %d bit %zu: %s", comp, bit, sluice_errname(r));
            blk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
}

Test(block, every_truncation_is_ecorrupt)
{
    static uint8_t blk[16 << 10], vals[40 * 100];
    struct block_rec recs[40];
    size_t len = make(1, 40, blk, sizeof blk, recs, vals);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(copy, blk, cut);
        struct block_hdr h;
        cr_assert_eq(block_decode(copy, cut, raw, out, 4096, &h), SLUICE_ECORRUPT, "cut %zu", cut);
        free(copy);
    }
}

Test(block, hostile_headers_are_rejected_before_use)
{
    static uint8_t blk[16 << 10], vals[40 * 100];
    struct block_rec recs[40];
    size_t len = make(1, 40, blk, sizeof blk, recs, vals);
    struct block_hdr h, bad, got;
    memcpy(&h, blk, sizeof h);
    uint32_t big[] = {0, BLOCK_RAW_MAX + 1, UINT32_MAX};
    for (int i = 0; i < 3; i++) {
        bad = h;
        bad.raw_bytes = big[i];
        memcpy(blk, &bad, sizeof bad);
        cr_expect_eq(block_decode(blk, len, raw, out, 4096, &got), SLUICE_ECORRUPT);
        bad = h;
        bad.count = big[i];
        memcpy(blk, &bad, sizeof bad);
        cr_expect_neq(block_decode(blk, len, raw, out, 4096, &got), 0);
    }
    bad = h;
    bad.version = 2;
    memcpy(blk, &bad, sizeof bad);
    cr_expect_eq(block_decode(blk, len, raw, out, 4096, &got), SLUICE_ECORRUPT);
    memcpy(blk, &h, sizeof h);
    cr_expect_eq(block_decode(blk, len, raw, out, 10, &got), SLUICE_ERANGE);
    cr_expect_eq(block_decode(blk, len, raw, out, 4096, &got), 0, "restored header decodes");
}

Test(block, encode_refuses_unsorted_or_duplicate_timestamps)
{
    static uint8_t blk[4096];
    struct block_rec recs[2] = {{.ts = 5, .lsn = 1}, {.ts = 5, .lsn = 2}};
    size_t len;
    cr_expect_eq(block_encode(1, recs, 2, 1, scratch, blk, sizeof blk, &len), SLUICE_EINVAL);
    recs[1].ts = 4;
    cr_expect_eq(block_encode(1, recs, 2, 1, scratch, blk, sizeof blk, &len), SLUICE_EINVAL);
    cr_expect_eq(block_encode(1, recs, 0, 1, scratch, blk, sizeof blk, &len), SLUICE_EINVAL);
}

/* The point-read path against a full decode: every ts below, between, on and after the
 * entries, for both codecs. */
Test(block, find_le_agrees_with_a_full_decode)
{
    static uint8_t blk[64 << 10], vals[40 * 100], part[BLOCK_RAW_MAX];
    struct block_rec recs[40], rec;
    for (int comp = 0; comp < 2; comp++) {
        size_t len = make(comp, 40, blk, sizeof blk, recs, vals);
        struct block_hdr h;
        cr_assert_eq(block_find_le(blk, len, 999, part, &rec, &h), SLUICE_NOTFOUND);
        for (uint64_t at = 1000; at < 1000 + 40 * 7 + 20; at++) {
            size_t want = (at - 1000) / 7 < 40 ? (at - 1000) / 7 : 39;
            cr_assert_eq(block_find_le(blk, len, at, part, &rec, &h), 0, "at %llu", (unsigned long long)at);
            cr_assert_eq(rec.ts, recs[want].ts);
            cr_assert_eq(rec.lsn, recs[want].lsn);
            cr_assert_eq(rec.vlen, recs[want].vlen);
            cr_assert_eq(memcmp(rec.val, recs[want].val, rec.vlen), 0);
        }
    }
}

/* It skips the raw-body CRC of lz4 blocks, so the cross-checks must stand in for it:
 * one flipped bit anywhere gives an error or the true record, never another. */
Test(block, find_le_never_returns_wrong_data_after_a_bit_flip)
{
    static uint8_t blk[64 << 10], vals[40 * 100], part[BLOCK_RAW_MAX];
    struct block_rec recs[40], rec;
    for (int comp = 0; comp < 2; comp++) {
        size_t len = make(comp, 40, blk, sizeof blk, recs, vals);
        for (size_t bit = 0; bit < len * 8; bit++) {
            blk[bit / 8] ^= (uint8_t)(1u << bit % 8);
            for (size_t k = 0; k < 40; k += 13) {
                struct block_hdr h;
                int r = block_find_le(blk, len, recs[k].ts, part, &rec, &h);
                if (r == 0 && h.series != 9)
                    continue; /* the caller compares it with the block key's series */
                cr_assert(r != 0 || (rec.ts == recs[k].ts && rec.lsn == recs[k].lsn &&
                                     rec.vlen == recs[k].vlen &&
                                     memcmp(rec.val, recs[k].val, rec.vlen) == 0),
                          "codec %d bit %zu: wrong record for ts %llu", comp, bit,
                          (unsigned long long)recs[k].ts);
            }
            blk[bit / 8] ^= (uint8_t)(1u << bit % 8);
        }
    }
}

/* Damage under valid checksums: a block whose entry table contradicts itself or its
 * header, resealed as a writer with a bug would write it (docs/format.md gives the
 * checksums). Both readers refuse it: ECORRUPT, never a record. */
struct test_entry {
    uint64_t ts, lsn;
    uint32_t voff, vlen;
};
_Static_assert(sizeof(struct test_entry) == BLOCK_ENTRY_BYTES, "the format's entry");

static void reseal(uint8_t *blk)
{
    struct block_hdr h;
    memcpy(&h, blk, sizeof h);
    const uint8_t *body = blk + BLOCK_HDR_BYTES; /* uncompressed: stored is raw */
    h.stored_crc = crc32c_mask(crc32c(body, h.stored_bytes));
    h.crc = 0;
    h.crc = crc32c_mask(crc32c_extend(crc32c_extend(0, &h, sizeof h), body, h.raw_bytes));
    memcpy(blk, &h, sizeof h);
}

static struct test_entry *entry_at(uint8_t *blk, size_t i)
{
    return (struct test_entry *)(void *)(blk + BLOCK_HDR_BYTES + i * BLOCK_ENTRY_BYTES);
}

Test(block, contradictions_under_valid_checksums_are_ecorrupt)
{
    enum { N = 20 };
    static uint8_t blk[16 << 10], orig[16 << 10], vals[N * 100];
    struct block_rec recs[N];
    size_t len = make(0, N, orig, sizeof orig, recs, vals);
    struct block_hdr h;
    memcpy(&h, orig, sizeof h);
    cr_assert_eq(h.codec, BLOCK_CODEC_NONE, "incompressible values: an uncompressed body");
    for (int kind = 0; kind < 9; kind++) {
        memcpy(blk, orig, len);
        struct block_hdr *bh = (struct block_hdr *)(void *)blk;
        switch (kind) {
        case 0: entry_at(blk, 3)->voff += 1; break;                 /* values not packed */
        case 1: entry_at(blk, N - 1)->vlen += 1000; break;          /* past the body */
        case 2: entry_at(blk, 5)->ts = entry_at(blk, 4)->ts; break; /* ts not increasing */
        case 3: entry_at(blk, 7)->lsn = 0; break;                   /* no LSN */
        case 4: entry_at(blk, N - 1)->vlen -= 1; break;             /* body longer than the values */
        case 5: bh->ts_min -= 1; break;                             /* header and table disagree */
        case 6: bh->ts_max += 1; break;
        case 7: entry_at(blk, 0)->ts += 1; break;                   /* the first ts is not ts_min */
        case 8: entry_at(blk, N - 1)->ts -= 1; break;               /* the last is not ts_max */
        }
        reseal(blk);
        struct block_hdr got;
        struct block_rec one;
        cr_expect_eq(block_decode(blk, len, raw, out, 4096, &got), SLUICE_ECORRUPT, "decode, damage %d", kind);
        for (size_t i = 0; i < N; i++) {
            int r = block_find_le(blk, len, recs[i].ts, raw, &one, &got);
            cr_expect_eq(r, SLUICE_ECORRUPT, "find_le at record %zu, damage %d: %s", i, kind,
                         sluice_errname(r));
        }
    }
    memcpy(blk, orig, len);
    reseal(blk);
    cr_expect_eq(block_decode(blk, len, raw, out, 4096, &h), 0, "resealing alone changes nothing");
}
