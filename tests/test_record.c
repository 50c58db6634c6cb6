#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "sluice.h"
#include "util.h"

static size_t make(uint8_t *buf, int type, uint64_t lsn, size_t klen, size_t vlen)
{
    uint8_t key[SLUICE_KEY_MAX], val[4096];
    tu_fill(key, klen, lsn);
    tu_fill(val, vlen, lsn + 1);
    size_t n = rec_fill(buf, type, lsn, 42, key, klen, val, vlen);
    ((struct rec_hdr *)buf)->lsn = lsn; /* rec_fill leaves the publication mark to the caller */
    return n;
}

Test(record, round_trip_and_alignment)
{
    uint8_t buf[8192];
    for (size_t klen = 1; klen < 40; klen += 3)
        for (size_t vlen = 0; vlen < 300; vlen += 7) {
            size_t n = make(buf, REC_PUT, 9, klen, vlen), size;
            cr_assert_eq(n % 8, 0);
            cr_assert_eq(n, rec_size(klen, vlen));
            cr_assert_eq(rec_check(buf, n, &size), REC_VALID, "klen %zu vlen %zu", klen, vlen);
            cr_assert_eq(size, n);
            const struct rec_hdr *h = (const void *)buf;
            cr_assert_eq(h->klen, klen);
            cr_assert_eq(h->vlen, vlen);
            cr_assert_eq(h->ts, 42);
        }
}

Test(record, all_zero_header_is_invalid)
{
    uint8_t zeros[256] = {0};
    size_t size;
    cr_expect_eq(rec_check(zeros, sizeof zeros, &size), REC_INVALID);
}

Test(record, every_truncation_is_never_valid)
{
    uint8_t buf[1024];
    size_t n = make(buf, REC_PUT, 3, 12, 100), size;
    for (size_t cut = 0; cut < n; cut++)
        cr_assert_neq(rec_check(buf, cut, &size), REC_VALID, "cut at %zu", cut);
    /* a tail torn to zeros is invalid too, at every offset */
    for (size_t cut = REC_HDR_BYTES; cut < n; cut++) {
        uint8_t copy[1024];
        memcpy(copy, buf, n);
        memset(copy + cut, 0, n - cut);
        enum rec_check_result r = rec_check(copy, n, &size);
        if (cut >= 32 + 12 + 100) /* only alignment bytes zeroed: they were zero already */
            cr_assert_eq(r, REC_VALID);
        else
            cr_assert_eq(r, REC_INVALID, "zeroed from %zu", cut);
    }
}

Test(record, every_single_bit_flip_is_detected)
{
    uint8_t buf[512];
    size_t n = make(buf, REC_DELETE, 77, 20, 0), size;
    for (size_t bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(rec_check(buf, n, &size), REC_VALID, "bit %zu", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(rec_check(buf, n, &size), REC_VALID);
}

Test(record, hostile_lengths_are_rejected_before_use)
{
    uint8_t buf[64];
    size_t n = make(buf, REC_PUT, 5, 4, 4), size;
    struct rec_hdr *h = (void *)buf;
    h->vlen = UINT32_MAX;
    cr_expect_neq(rec_check(buf, n, &size), REC_VALID);
    h->vlen = 4;
    h->klen = 0;
    cr_expect_neq(rec_check(buf, n, &size), REC_VALID);
    h->klen = 600;
    cr_expect_neq(rec_check(buf, n, &size), REC_VALID);
}

Test(record, segment_header_checks)
{
    uint8_t block[SEG_HEADER_BYTES] = {0}, uuid[16] = {1, 2, 3};
    struct seg_hdr h, out;
    seg_hdr_fill(&h, uuid, 1, 100, 1 << 20);
    memcpy(block, &h, sizeof h);
    h.crc = seg_hdr_crc(block);
    memcpy(block, &h, sizeof h);
    cr_assert_eq(seg_hdr_check(block, &out), 0);
    cr_assert_eq(out.first_lsn, 100);
    block[3000] ^= 1; /* padding is covered by the header CRC too */
    cr_expect_eq(seg_hdr_check(block, &out), SLUICE_ECORRUPT);
    block[3000] ^= 1;
    ((struct seg_hdr *)block)->version = 99;
    cr_expect_eq(seg_hdr_check(block, &out), SLUICE_EVERSION);
    memset(block, 0, sizeof block);
    cr_expect_eq(seg_hdr_check(block, &out), SLUICE_ECORRUPT);
}

/* A header whose checksum holds but whose fields cannot be: damage all the same (or a
 * writer's bug), never a segment to read. */
static int check_with(void (*edit)(struct seg_hdr *))
{
    uint8_t block[SEG_HEADER_BYTES] = {0}, uuid[16] = {7};
    struct seg_hdr h, out;
    seg_hdr_fill(&h, uuid, 3, 500, 1 << 20);
    edit(&h);
    memcpy(block, &h, sizeof h);
    h.crc = seg_hdr_crc(block);
    memcpy(block, &h, sizeof h);
    return seg_hdr_check(block, &out);
}
static void keep(struct seg_hdr *h) { (void)h; }
static void old_version(struct seg_hdr *h) { h->version = SEG_FORMAT_VERSION_MIN - 1; }
static void header_size(struct seg_hdr *h) { h->header_bytes = 512; }
static void tiny_segment(struct seg_hdr *h) { h->segment_bytes = SEG_MIN_BYTES - 4096; }
static void lsn_zero(struct seg_hdr *h) { h->first_lsn = 0; }
static void seq_zero(struct seg_hdr *h) { h->segment_seq = 0; }

Test(record, segment_header_fields_out_of_range_under_a_valid_checksum)
{
    cr_assert_eq(check_with(keep), 0);
    cr_expect_eq(check_with(old_version), SLUICE_EVERSION);
    cr_expect_eq(check_with(header_size), SLUICE_ECORRUPT);
    cr_expect_eq(check_with(tiny_segment), SLUICE_ECORRUPT);
    cr_expect_eq(check_with(lsn_zero), SLUICE_ECORRUPT);
    cr_expect_eq(check_with(seq_zero), SLUICE_ECORRUPT);
}

Test(record, fill_records_reach_the_next_block_and_validate)
{
    static uint8_t buf[REC_FILL_MAX];
    for (uint64_t end = 4096; end < 3 * 4096; end += 8) {
        size_t fill = rec_fill_size(end);
        cr_assert_eq((end + fill) % LOG_BLOCK, 0, "end %llu", (unsigned long long)end);
        if (!fill)
            continue;
        cr_assert_geq(fill, REC_HDR_BYTES);
        cr_assert_leq(fill, REC_FILL_MAX);
        rec_fill_encode(buf, fill, 77, 76);
        size_t size;
        cr_assert_eq(rec_check(buf, fill, &size), REC_VALID);
        cr_assert_eq(size, fill);
        buf[fill - 1] ^= 1; /* the fill's zeros are covered by its CRC */
        cr_assert_eq(rec_check(buf, fill, &size), REC_INVALID);
    }
}
