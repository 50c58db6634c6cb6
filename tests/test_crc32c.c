#include <criterion/criterion.h>
#include <string.h>

#include "crc32c.h"
#include "util.h"

Test(crc32c, known_vectors)
{
    cr_expect_eq(crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    cr_expect_eq(crc32c(zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    cr_expect_eq(crc32c(ones, 32), 0x62A8AB43u);
    cr_expect_eq(crc32c("", 0), 0u);
}

Test(crc32c, extend_equals_one_shot_at_every_split)
{
    uint8_t buf[300];
    tu_fill(buf, sizeof buf, 7);
    uint32_t whole = crc32c(buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut++)
        cr_assert_eq(crc32c_extend(crc32c(buf, cut), buf + cut, sizeof buf - cut), whole,
                     "split at %zu", cut);
}

Test(crc32c, mask_never_leaves_zero_as_zero)
{
    /* The masked CRC of empty input is not 0: an all-zero header cannot carry a valid one. */
    cr_expect_neq(crc32c_mask(crc32c("", 0)), 0u);
}

/* A bit-at-a-time reference, independent of the tables and of the hardware path. */
static uint32_t crc_reference(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    while (len--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

Test(crc32c, long_buffers_match_the_reference_at_every_stream_boundary)
{
    /* lengths around the three-stream thresholds (3 x 256 and 3 x 4096), odd offsets */
    size_t cap = 3 * 4096 * 3 + 64;
    uint8_t *buf = malloc(cap);
    cr_assert(buf);
    tu_fill(buf, cap, 11);
    size_t lens[] = {767, 768, 769, 1535, 1536, 12287, 12288, 12289, 12288 + 768 + 7,
                     24576 + 13, 3 * 4096 * 3};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 3; off++) {
            size_t n = lens[i] + off <= cap ? lens[i] : cap - off;
            cr_assert_eq(crc32c(buf + off, n), crc_reference(buf + off, n), "len %zu off %zu", n, off);
            size_t cut = n / 3 + off;
            cr_assert_eq(crc32c_extend(crc32c(buf + off, cut), buf + off + cut, n - cut),
                         crc_reference(buf + off, n), "len %zu split %zu", n, cut);
        }
    free(buf);
}
