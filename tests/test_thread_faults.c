/*
 * Thread creation failure sweep: the test is linked with -Wl,--wrap=pthread_create, so
 * every thread libsluice and the tool start (writer, preparer, compactor, stats publisher,
 * recovery's indexer, the POSIX backend's worker) reaches the wrapper below, which fails
 * the chosen one (transient) or every one from it on (sticky) with EAGAIN, as
 * pthread_create does when the system is out of threads. The workload of
 * fault_workload.h runs once to count the calls, then once per call and kind; every run
 * keeps the rules there (no crash or hang, named codes only, nothing acknowledged hidden
 * or lost). Recovery's indexer is optional (recovery indexes inline without it); the
 * others make their open fail with their error and nothing left running.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "fault_workload.h"
#include "util.h"

static struct {
    long at;    /* the 0-based call that fails; -1: none */
    int sticky; /* every call from `at` on fails */
} fault = {-1, 0};
static _Atomic long calls;
static _Atomic int armed;

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (atomic_load(&armed)) {
        long n = atomic_fetch_add(&calls, 1);
        if (fault.at >= 0 && (n == fault.at || (fault.sticky && n > fault.at)))
            return EAGAIN;
    }
    return __real_pthread_create(t, a, fn, arg);
}

static long counted;
static void arm(void *arg)
{
    (void)arg;
    atomic_store(&calls, 0);
    atomic_store(&armed, 1);
}
static void disarm(void *arg)
{
    (void)arg;
    atomic_store(&armed, 0);
    counted = atomic_load(&calls);
}

Test(thread_faults, every_failed_thread_start_is_named_and_loses_nothing)
{
    struct fw_hooks h = {arm, disarm, NULL};
    cr_assert_eq(fw_run_case(&h, &counted, sizeof counted), RUN_OK, "the fault-free workload");
    long total = counted;
    cr_assert_geq(total, 12, "the workload starts threads (%ld)", total);
    int runs = 0, failures = 0;
    for (long at = 0; at < total; at++)
        for (int sticky = 0; sticky < 2; sticky++) {
            fault.at = at;
            fault.sticky = sticky;
            long ignored;
            int v = fw_run_case(&h, &ignored, sizeof ignored);
            runs++;
            if (v != RUN_OK) {
                failures++;
                cr_log_error("thread start %ld of %ld, %s: verdict %d", at + 1, total,
                             sticky ? "sticky" : "transient", v);
            }
        }
    fault.at = -1;
    cr_log_info("%d runs over %ld thread starts of the workload", runs, total);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
}
