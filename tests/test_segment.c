/*
 * The segment table (tiers/log/segment.h) on its own: which entry holds an LSN, where a
 * released record lives, retiring an entry exactly once, the usage the backlog budget
 * and the stats count, and segment names and paths.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "segment.h"
#include "sluice.h"

static int devnull(void)
{
    int fd = open("/dev/null", O_RDONLY);
    cr_assert_geq(fd, 0);
    return fd;
}

/* Three entries starting at LSN 10, 20 and 30, each holding its records' offsets. */
static void three_segments(struct segment_table *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 3; i++) {
        uint64_t first = 10 + 10 * (uint64_t)i;
        cr_assert_eq(seg_table_add(t, (uint64_t)i + 1, first, 1u << 20, devnull()), i);
        cr_assert_eq(seg_table_reserve_offs(t, (size_t)i, 10), 0);
        for (uint64_t lsn = first; lsn < first + 10; lsn++)
            seg_push_off(seg_at(t, (size_t)i), 4096 + (lsn - first) * 100);
    }
}

static void close_and_free(struct segment_table *t)
{
    struct io *io = NULL;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    seg_table_close_all(t, io);
    for (size_t i = 0; i < t->n; i++)
        cr_expect(seg_at(t, i)->fd == -1 && seg_at(t, i)->dfd == -1);
    io_destroy(io);
    seg_table_free(t);
    cr_expect_null(t->v);
}

Test(segment_table, the_entry_holding_an_lsn_and_its_last_lsn)
{
    struct segment_table t;
    three_segments(&t);
    cr_expect_eq(seg_table_holding(&t, 9), t.n, "before every entry");
    cr_expect_eq(seg_table_holding(&t, 10), 0);
    cr_expect_eq(seg_table_holding(&t, 19), 0);
    cr_expect_eq(seg_table_holding(&t, 20), 1);
    cr_expect_eq(seg_table_holding(&t, 29), 1);
    cr_expect_eq(seg_table_holding(&t, 30), 2);
    cr_expect_eq(seg_table_holding(&t, UINT64_MAX), 2, "the newest holds every later LSN");
    cr_expect_eq(seg_last_lsn(&t, 0), 19);
    cr_expect_eq(seg_last_lsn(&t, 1), 29);
    cr_expect_eq(seg_last_lsn(&t, 2), UINT64_MAX, "the newest is still filling");
    cr_expect_eq(seg_newest(&t)->first_lsn, 30);
    close_and_free(&t);
}

Test(segment_table, locates_released_records_and_nothing_else)
{
    struct segment_table t;
    three_segments(&t);
    int fd = -1;
    uint64_t off = 0;
    cr_assert_eq(seg_table_locate(&t, 25, &fd, &off), 0);
    cr_expect_eq(fd, seg_at(&t, 1)->fd);
    cr_expect_eq(off, 4096 + 5 * 100);
    cr_expect_eq(seg_table_locate(&t, 5, &fd, &off), SLUICE_NOTFOUND, "before the log");
    /* beyond the offsets reserved in the newest entry */
    cr_expect_eq(seg_table_locate(&t, 30 + seg_at(&t, 2)->offs_cap, &fd, &off),
                 SLUICE_NOTFOUND);
    /* a record recovery stepped over (its place is in the cold tier) */
    seg_at(&t, 2)->offs[3] = SEG_NO_OFFSET;
    cr_expect_eq(seg_table_locate(&t, 33, &fd, &off), SLUICE_NOTFOUND);
    close_and_free(&t);
}

Test(segment_table, retiring_hands_back_the_descriptors_once)
{
    struct segment_table t;
    three_segments(&t);
    seg_at(&t, 0)->dfd = devnull();
    int fds[2] = {-1, -1}, buffered = seg_at(&t, 0)->fd, direct = seg_at(&t, 0)->dfd;
    cr_assert_eq(seg_table_retire(&t, 0, fds), 2);
    cr_expect(fds[0] == buffered && fds[1] == direct);
    const struct segment *s = seg_at(&t, 0);
    cr_expect(s->retired && s->fd == -1 && s->dfd == -1 && !s->offs && !s->noffs);
    int fd;
    uint64_t off;
    cr_expect_eq(seg_table_locate(&t, 12, &fd, &off), SLUICE_NOTFOUND, "retired");
    cr_expect_eq(seg_table_retire(&t, 1, fds), 1, "no O_DIRECT descriptor");
    close(buffered);
    close(direct);
    close(fds[0]);
    seg_table_wait_readers(&t); /* no reader: returns at once */
    uint64_t live, bytes, newest, oldest;
    seg_table_usage(&t, &live, &bytes, &newest, &oldest);
    cr_expect_eq(live, 1);
    cr_expect_eq(bytes, 1u << 20);
    cr_expect_eq(newest, 1u << 20);
    cr_expect_eq(oldest, seg_at(&t, 2)->created_ns);
    close_and_free(&t);
}

Test(segment_table, offsets_grow_from_their_first_array)
{
    struct segment_table t = {0};
    cr_assert_eq(seg_table_add(&t, 1, 1, 1u << 20, devnull()), 0);
    cr_assert_eq(seg_table_reserve_offs(&t, 0, 1), 0);
    cr_expect_eq(seg_at(&t, 0)->offs_cap, SEG_OFFS_START);
    cr_assert_eq(seg_table_reserve_offs(&t, 0, SEG_OFFS_START + 1), 0);
    cr_expect_eq(seg_at(&t, 0)->offs_cap, 2 * SEG_OFFS_START);
    cr_assert_eq(seg_table_reserve_offs(&t, 0, 2), 0, "room already there");
    cr_expect_eq(seg_at(&t, 0)->offs_cap, 2 * SEG_OFFS_START);
    uint64_t live, bytes, newest, oldest;
    struct segment_table empty = {0};
    seg_table_usage(&empty, &live, &bytes, &newest, &oldest);
    cr_expect(!live && !bytes && !newest && !oldest);
    close_and_free(&t);
}

Test(segment_files, names_and_paths)
{
    char name[32], path[64];
    seg_filename(name, 0x1234);
    cr_expect_str_eq(name, "0000000000001234.seg");
    uint64_t lsn = 0;
    cr_expect_eq(seg_parse_name(name, &lsn), 1);
    cr_expect_eq(lsn, 0x1234);
    cr_expect_eq(seg_parse_name("0000000000000000.seg", &lsn), 0, "LSN 0 is never a segment");
    cr_expect_eq(seg_parse_name("000000000000123G.seg", &lsn), 0);
    cr_expect_eq(seg_parse_name("0000000000001234.tmp", &lsn), 0);
    cr_expect_eq(seg_parse_name("1234.seg", &lsn), 0);
    cr_expect_eq(seg_path(path, sizeof path, "/d", 0x1234), 0);
    cr_expect_str_eq(path, "/d/0000000000001234.seg");
    cr_expect_eq(seg_path(path, 20, "/d", 0x1234), -ENAMETOOLONG);
}
