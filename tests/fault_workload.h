/*
 * One fixed workload for fault sweeps: three opens of one directory, puts of 850 records
 * (7 keys, 0.6-1.8 KB incompressible values: the cold tier's 1 MiB map must grow once),
 * flushes, manual compactions, point and latest gets, a one-key and an all-key scan, the
 * series catalogue with counts and latest values, an offset, closes; the third open sets
 * retention, so its compaction drops the first open's records. Then the tool's read-only
 * commands and a backup run on the closed directory.
 * A sweep arms its fault, runs it in a forked child (fw_run_case), and the child checks
 * the rules of every faulty run:
 *   - only named error codes, never SLUICE_ECORRUPT (nothing was damaged) nor
 *     SLUICE_EINTERNAL; the tool never reports damage (verify lists no problem, no
 *     command prints "corrupt");
 *   - acknowledged data never reported absent: a get returns the value or an error,
 *     never SLUICE_NOTFOUND; a scan that ends normally returned every record;
 *   - with the fault disarmed, a fresh open reads back every record a completed flush
 *     covered (but those retention may have dropped), byte for byte, and nothing that
 *     was never put.
 * A crash or a hang (60 s alarm) ends the child by a signal.
 */
#ifndef SLUICE_TEST_FAULT_WORKLOAD_H
#define SLUICE_TEST_FAULT_WORKLOAD_H
#include <stddef.h>

enum fw_verdict {
    RUN_OK = 0,
    RUN_DISHONEST_CODE = 2, /* an unnamed code, ECORRUPT or EINTERNAL */
    RUN_DATA_HIDDEN = 3,    /* acknowledged data reported absent, or a short scan */
    RUN_LOST = 4,           /* the fault-free reopen lacks an acknowledged record */
    RUN_WRONG = 5,          /* ... or returns a wrong or invented one */
    RUN_REOPEN = 6,         /* the fault-free reopen failed */
    /* 97-99: the harness failed; 100 + n: the child died of signal n */
};

struct fw_hooks {
    void (*arm)(void *arg);    /* in the child, after its directory exists */
    void (*disarm)(void *arg); /* in the child, before the fault-free check */
    void *arg;
};

/* Runs the workload in a forked child with the hooks; returns its verdict. counts (may be
 * NULL with counts_bytes 0) is copied from the child, as it was after the workload. */
int fw_run_case(const struct fw_hooks *h, void *counts, size_t counts_bytes);
/* The same, in this process: the workload, then the check (SLUICE_*_FAULT debugging). */
void fw_workload(const char *dir);
int fw_verify(const char *dir);
#endif
