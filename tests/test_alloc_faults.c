/*
 * Allocation failure sweep, as SQLite tests its malloc failures: the test is linked with
 * -Wl,--wrap for malloc, calloc, realloc, posix_memalign and aligned_alloc, so every
 * allocation libsluice makes (LMDB's, lz4's and libc's own are in shared libraries and
 * stay untouched) reaches the wrappers below, which count them and fail the chosen one
 * (transient) or every one from it on (sticky). The workload of fault_workload.h runs
 * once to count the allocations, then once per fault: the first 64 allocations each, and
 * then 48 spread over the rest, transient and sticky; every run keeps the rules there (no
 * crash or hang, named codes only, nothing acknowledged hidden or lost).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "fault_workload.h"
#include "util.h"

static struct {
    long at;    /* the 0-based allocation that fails (of all, or of the site); -1: none */
    int sticky; /* every allocation from then on fails */
    const void *site; /* NULL: count every allocation; else only those made from here */
} fault = {-1, 0, NULL};
static _Atomic long allocs;
static _Atomic int armed; /* allocations are counted only during the workload */
static _Atomic int fired;

/* Allocation sites (the wrapper's return address), found by a discovery run. */
#define MAX_SITES 1024
struct site {
    const void *addr;
    long calls;
};
static struct {
    long total;
    int nsites;
    struct site sites[MAX_SITES];
} seen;
static struct site sites[MAX_SITES];
static int nsites;
static pthread_mutex_t sites_mu = PTHREAD_MUTEX_INITIALIZER;

/* The number of this allocation from its site (0-based), -1 past the table. */
static long site_call(const void *addr)
{
    pthread_mutex_lock(&sites_mu);
    int i = 0;
    while (i < nsites && sites[i].addr != addr)
        i++;
    long k = -1;
    if (i < nsites || nsites < MAX_SITES) {
        if (i == nsites)
            sites[nsites++] = (struct site){addr, 0};
        k = sites[i].calls++;
    }
    pthread_mutex_unlock(&sites_mu);
    return k;
}

static int inject_at(const void *addr)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    long n = atomic_fetch_add(&allocs, 1);
    long k = site_call(addr);
    if (fault.at < 0)
        return 0;
    if (fault.sticky && atomic_load(&fired))
        return 1;
    long at = fault.site ? (addr == fault.site ? k : -1) : n;
    if (at != fault.at)
        return 0;
    atomic_store(&fired, 1);
    return 1;
}
#define inject() inject_at(__builtin_return_address(0))

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n) { return inject() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return inject() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return inject() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return inject() ? NULL : __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return inject() ? ENOMEM : __real_posix_memalign(p, align, n);
}

static void arm(void *arg)
{
    (void)arg;
    atomic_store(&allocs, 0);
    atomic_store(&armed, 1);
}
static void disarm(void *arg)
{
    (void)arg;
    atomic_store(&armed, 0);
    pthread_mutex_lock(&sites_mu);
    seen.total = atomic_load(&allocs);
    seen.nsites = nsites;
    memcpy(seen.sites, sites, sizeof sites);
    pthread_mutex_unlock(&sites_mu);
}

/* SLUICE_ALLOC_FAULT=allocation,sticky runs that one case in this process. */
Test(alloc_faults, one_case_from_the_environment)
{
    const char *spec = getenv("SLUICE_ALLOC_FAULT");
    if (!spec)
        return;
    cr_assert_eq(sscanf(spec, "%ld,%d", &fault.at, &fault.sticky), 2, "%s", spec);
    char *dir = tu_mkdtemp();
    arm(NULL);
    fw_workload(dir);
    disarm(NULL);
    cr_expect_eq(fw_verify(dir), RUN_OK);
    tu_rmdir(dir);
}

Test(alloc_faults, every_failed_allocation_is_named_and_loses_nothing)
{
    struct fw_hooks h = {arm, disarm, NULL};
    cr_assert_eq(fw_run_case(&h, &seen, sizeof seen), RUN_OK, "the fault-free workload");
    long total = seen.total;
    cr_assert_gt(total, 64, "the workload allocates (%ld)", total);
    int quick = getenv("SLUICE_FAULTS_QUICK") != NULL;
    long ats[64 + 48];
    int nats = 0;
    for (long i = 0; i < 64; i++)
        ats[nats++] = i;
    for (int k = 0; k < (quick ? 8 : 48); k++)
        ats[nats++] = 64 + (total - 64) * k / (quick ? 8 : 48);
    int runs = 0, failures = 0;
    for (int i = 0; i < nats; i++)
        for (int sticky = 0; sticky < 2; sticky++) {
            if (quick && sticky && i % 4)
                continue;
            fault.at = ats[i];
            fault.sticky = sticky;
            int v = fw_run_case(&h, &seen, sizeof seen);
            runs++;
            if (v != RUN_OK) {
                failures++;
                cr_log_error("allocation %ld of %ld, %s: verdict %d", ats[i] + 1, total,
                             sticky ? "sticky" : "transient", v);
            }
        }
    fault.at = -1;
    cr_log_info("%d runs over %ld allocations of the workload", runs, total);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
}

/* Every allocation site alone: each place libsluice and the tool allocate, its first
 * allocation failed, transient and sticky (quick: transient only). */
Test(alloc_faults, every_allocation_site_fails_alone)
{
    struct fw_hooks h = {arm, disarm, NULL};
    cr_assert_eq(fw_run_case(&h, &seen, sizeof seen), RUN_OK, "the fault-free workload");
    int n = seen.nsites;
    cr_assert_lt(n, MAX_SITES, "more allocation sites than the table holds");
    cr_assert_gt(n, 20, "the discovery run found the allocation sites (%d)", n);
    struct site found[MAX_SITES];
    memcpy(found, seen.sites, sizeof found);
    int quick = getenv("SLUICE_FAULTS_QUICK") != NULL;
    int runs = 0, failures = 0;
    for (int i = 0; i < n; i++)
        for (int sticky = 0; sticky < (quick ? 1 : 2); sticky++) {
            fault.site = found[i].addr;
            fault.at = 0;
            fault.sticky = sticky;
            int v = fw_run_case(&h, &seen, sizeof seen);
            runs++;
            if (v != RUN_OK) {
                failures++;
                cr_log_error("allocation site %p (%ld allocations there), %s: verdict %d",
                             found[i].addr, found[i].calls, sticky ? "sticky" : "transient", v);
            }
        }
    fault.at = -1;
    fault.site = NULL;
    cr_log_info("%d runs over %d allocation sites", runs, n);
    cr_expect_eq(failures, 0, "%d of %d runs broke a rule (above)", failures, runs);
}

/* One tool command on a sound directory with the chosen allocation failing. A read it
 * could not make says nothing of the bytes: the command may fail (exit 2), but never
 * reports damage or lost records (exit 1 with "problem" or "lost"), never says
 * "corrupt". */
static int tool_run_honest(const char *cmd, const char *dir, const char *dest)
{
    fault.sticky = 0;
    atomic_store(&fired, 0);
    atomic_store(&allocs, 0);
    atomic_store(&armed, 1);
    int code = dest ? tc_run(cmd, dir, dest, NULL) : tc_run(cmd, dir, NULL);
    atomic_store(&armed, 0);
    int dishonest = (code == 1 && (strstr(tc_out, "problem") || strstr(tc_out, "lost"))) ||
                    strcasestr(tc_err, "corrupt") || strcasestr(tc_out, "corrupt");
    if (dishonest)
        cr_log_error("sluice %s with allocation %ld failing exited %d: %.1500s%.1500s", cmd, fault.at + 1,
                     code, tc_out, tc_err);
    return !dishonest;
}

/* `sluice verify` and `sluice repair` with each allocation they make failing in turn (the
 * first 64, then 48 spread over the rest): found when CI's numbered sweep happened to fail
 * verify's read of a segment header, which verify reported as a bad header. */
Test(alloc_faults, verify_and_repair_never_call_an_allocation_failure_damage)
{
    char *dir = tu_mkdtemp();
    fw_workload(dir);
    const char *cmds[] = {"verify", "repair"};
    char dest[4200];
    int runs = 0, failures = 0;
    for (int c = 0; c < 2; c++) {
        int repair = c == 1;
        snprintf(dest, sizeof dest, "%s.copy", dir);
        fault.at = -1; /* counting: nothing fails */
        cr_assert(tool_run_honest(cmds[c], dir, repair ? dest : NULL));
        long total = atomic_load(&allocs);
        tu_rmdir(strdup(dest));
        cr_assert_eq(tc_run(cmds[c], dir, repair ? dest : NULL, NULL), 0, "sound: %s%s", tc_out, tc_err);
        tu_rmdir(strdup(dest));
        cr_assert_gt(total, 4, "sluice %s allocates (%ld)", cmds[c], total);
        for (int k = 0; k < 64 + 48; k++) {
            long at = k < 64 ? k : 64 + (total - 64) * (k - 64) / 48;
            if (at >= total || (k >= 64 && total <= 64))
                break;
            fault.at = at;
            runs++;
            failures += !tool_run_honest(cmds[c], dir, repair ? dest : NULL);
            if (repair)
                tu_rmdir(strdup(dest));
        }
    }
    fault.at = -1;
    cr_log_info("%d runs of the tool with an allocation failing", runs);
    cr_expect_eq(failures, 0, "%d of %d runs called an allocation failure damage (above)", failures, runs);
    tu_rmdir(dir);
}
