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
