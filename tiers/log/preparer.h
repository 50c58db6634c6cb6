/*
 * The segment preparer: a thread that keeps one pre-zeroed spare segment file ready
 * (log/spare.seg.tmp), so that a roll-over installs it in a few syncs instead of
 * stalling the writer for the tens of milliseconds that zeroing takes.
 *
 * Lifecycle: prep_start in sluice_open after recovery; prep_stop in sluice_close after
 * the writer stopped (it finishes or abandons the spare it is zeroing, then is joined).
 * A spare left behind is an ordinary *.tmp file that recovery deletes.
 */
#ifndef SLUICE_PREPARER_H
#define SLUICE_PREPARER_H
#include <pthread.h>
#include <stdint.h>

#include "io.h"

struct seg_preparer {
    struct io *io;
    uint64_t bytes;
    char path[4096];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop, ready, taken;
    int failed; /* the last attempt failed: idle until the next prep_request */
    int last_error;
};

int prep_start(struct seg_preparer *p, struct io *io, const char *logdir, uint64_t bytes);
/* If a spare is ready, hands it over: returns its path (valid until prep_request) or
 * NULL. Never blocks on I/O. The caller renames the spare away, then calls
 * prep_request so the next spare never races with that rename. */
const char *prep_take(struct seg_preparer *p);
void prep_request(struct seg_preparer *p);
void prep_stop(struct seg_preparer *p);
#endif
