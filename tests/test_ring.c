#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "ring.h"
#include "sluice.h"
#include "util.h"

static struct ring r;
static int bell;

static void setup(void)
{
    bell = eventfd(0, EFD_NONBLOCK);
    cr_assert_eq(ring_init(&r, 65536, 1, bell), 0);
}
static void teardown(void)
{
    ring_destroy(&r);
    close(bell);
}

static int put(uint64_t tag, size_t vlen, int block, uint32_t timeout_ms, struct ring_slot *slot)
{
    char key[24], val[20000];
    int kl = snprintf(key, sizeof key, "k%llu", (unsigned long long)tag);
    tu_fill(val, vlen, tag);
    uint64_t waited;
    int rc = ring_reserve(&r, rec_size((size_t)kl, vlen), block, timeout_ms, NULL, slot, &waited);
    if (rc)
        return rc;
    rec_fill(slot->rec, REC_PUT, slot->lsn, tag, key, (size_t)kl, val, vlen);
    ring_publish(&r, slot);
    return 0;
}

static void check_record(const struct rec_hdr *h, uint64_t lsn)
{
    size_t size;
    cr_assert_eq(h->lsn, lsn);
    cr_assert_eq(rec_check(h, rec_size(h->klen, h->vlen), &size), REC_VALID, "lsn %llu",
                 (unsigned long long)lsn);
    char val[20000];
    tu_fill(val, h->vlen, h->ts);
    cr_assert_eq(memcmp(rec_val(h), val, h->vlen), 0);
}

Test(ring, wrap_and_both_kinds_of_padding, .init = setup, .fini = teardown)
{
    uint64_t cursor = 0, lsn = 1, end = 0;
    int explicit_pads = 0, implicit_pads = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        struct ring_slot slot;
        size_t vlen = (i * 37) % 3000;
        cr_assert_eq(put(i, vlen, 0, 0, &slot), 0);
        if (slot.pos != end) {
            size_t pad = slot.pos - end;
            if (pad >= REC_HDR_BYTES)
                explicit_pads++;
            else
                implicit_pads++;
            cr_assert_eq(slot.pos % r.size, 0, "a pad always ends at the buffer end");
        }
        end = slot.pos + rec_size(strlen("k") + (size_t)snprintf(NULL, 0, "%llu", (unsigned long long)i), vlen);
        uint64_t pos;
        const struct rec_hdr *h = ring_next(&r, &cursor, lsn, &pos);
        cr_assert_not_null(h);
        cr_assert_eq(pos, slot.pos);
        check_record(h, lsn++);
        ring_release(&r, cursor);
    }
    cr_expect_gt(explicit_pads, 0);
    cr_expect_gt(implicit_pads, 0);
    cr_expect_eq(ring_claimed_lsn(&r), 20000);
}

Test(ring, unpublished_record_is_not_consumed, .init = setup, .fini = teardown)
{
    struct ring_slot slot;
    uint64_t waited, cursor = 0, pos;
    cr_assert_eq(ring_reserve(&r, 64, 0, 0, NULL, &slot, &waited), 0);
    cr_expect_null(ring_next(&r, &cursor, 1, &pos));
    rec_fill(slot.rec, REC_PUT, slot.lsn, 1, "k", 1, "v", 1);
    cr_expect_null(ring_next(&r, &cursor, 1, &pos), "filled but not published");
    ring_publish(&r, &slot);
    cr_expect_not_null(ring_next(&r, &cursor, 1, &pos));
}

Test(ring, full_policy_fail_returns_ebusy_and_takes_no_lsn, .init = setup, .fini = teardown)
{
    struct ring_slot slot;
    int n = 0, rc;
    while ((rc = put((uint64_t)n, 1000, 0, 0, &slot)) == 0)
        n++;
    cr_assert_eq(rc, SLUICE_EBUSY);
    cr_assert_gt(n, 50);
    cr_expect_eq(ring_claimed_lsn(&r), (uint64_t)n, "a refused put claims no LSN");
    uint64_t cursor = 0, pos;
    cr_assert_not_null(ring_next(&r, &cursor, 1, &pos));
    ring_release(&r, cursor);
    cr_expect_eq(put(999, 900, 0, 0, &slot), 0, "space freed by the consumer is reused");
}

Test(ring, full_policy_block_times_out, .init = setup, .fini = teardown)
{
    struct ring_slot slot;
    while (put(1, 1000, 0, 0, &slot) == 0)
        ;
    uint64_t before = ring_claimed_lsn(&r);
    cr_expect_eq(put(2, 1000, 1, 30, &slot), SLUICE_ETIMEDOUT);
    cr_expect_eq(ring_claimed_lsn(&r), before);
}

static void *blocked_producer(void *arg)
{
    struct ring_slot slot;
    *(int *)arg = put(7, 1000, 1, 60000, &slot);
    return NULL;
}

Test(ring, full_policy_block_wakes_when_space_frees, .init = setup, .fini = teardown)
{
    struct ring_slot slot;
    while (put(1, 1000, 0, 0, &slot) == 0)
        ;
    int rc = -1;
    pthread_t t;
    pthread_create(&t, NULL, blocked_producer, &rc);
    /* wait until the producer actually sleeps on the released position */
    while (atomic_load(&r.released.sleepers) == 0)
        sched_yield();
    uint64_t cursor = 0, pos, lsn = 1;
    while (ring_next(&r, &cursor, lsn, &pos))
        lsn++;
    ring_release(&r, cursor);
    pthread_join(t, NULL);
    cr_expect_eq(rc, 0);
}

/* A ring in a shared file: every page allocated before a producer stores into it (a
 * store into a page a full /dev/shm never gave is SIGBUS). */
Test(ring, a_ring_file_is_allocated_not_sparse)
{
    char *dir = tu_mkdtemp();
    char path[4200];
    snprintf(path, sizeof path, "%s/ring", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    struct ring shared;
    cr_assert_eq(ring_init_file(&shared, 1u << 20, 1, -1, fd, 4096), 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    cr_expect_eq(st.st_size, (1 << 20) + 4096);
    cr_expect_geq((long long)st.st_blocks * 512, (long long)st.st_size);
    ring_destroy(&shared);
    close(fd);
    tu_rmdir(dir);
}
