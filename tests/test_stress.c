/* Producers, readers and iterators on one handle at once. The workloads live in
 * concurrency.c so the ThreadSanitizer driver runs exactly the same code. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "concurrency.h"

Test(stress, producers_readers_and_iterators_together)
{
    const char *e = getenv("SLUICE_STRESS_RECORDS");
    char err[256] = "";
    cr_assert_eq(conc_db_stress(e ? strtoull(e, NULL, 10) : 200000, err, sizeof err), 0, "%s", err);
}

Test(stress, fail_fast_rejections_are_counted_and_accepted_puts_kept)
{
    char err[256] = "";
    cr_assert_eq(conc_fail_fast(err, sizeof err), 0, "%s", err);
}

Test(stress, many_producers_into_a_bare_ring)
{
    char err[256] = "";
    cr_assert_eq(conc_ring_producers(4, 40000, err, sizeof err), 0, "%s", err);
}
