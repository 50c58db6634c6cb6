/*
 * The segment preparer: a thread that keeps one pre-zeroed spare segment file ready
 * (log/spare.seg.tmp), so that a roll-over installs it in a few syncs instead of
 * stalling the writer for the tens of milliseconds that zeroing takes.
 *
 * Spares have the size the writer asks for (segments grow with the write rate: see
 * roll_segment in writer.c); a spare too small for the record that must go first is
 * left for a later roll. The zeros are spread over the time the writer gives (half the
 * time the last segment took to fill): a 64 MiB burst of writes at device speed stalls
 * the producers' vCPU on these virtual machines, a steady trickle does not.
 *
 * Lifecycle: prep_start in sluice_open after recovery; prep_stop in sluice_close after
 * the writer stopped (it finishes or abandons the spare it is zeroing, is joined, and
 * deletes a spare nobody took: a closed directory keeps no zeroed space it does not
 * use). A spare a crash left behind is an ordinary *.tmp file that recovery deletes.
 */
#ifndef SLUICE_PREPARER_H
#define SLUICE_PREPARER_H
#include <pthread.h>
#include <stdint.h>

#include "io.h"

struct seg_preparer {
    struct io *io;
    uint64_t bytes;       /* the size of the spare being made, or ready */
    uint64_t want_bytes;  /* the size of the next one */
    uint64_t want_pace_ns;/* ... and the time its zeroing may take */
    _Atomic int stopping; /* prep_stop: abandon a paced spare */
    char path[4096];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop, ready, taken;
    int failed; /* the last attempt failed: idle until the next prep_request */
    int last_error;
};

/* Starts the thread, which makes a first spare of `bytes`. */
int prep_start(struct seg_preparer *p, struct io *io, const char *logdir, uint64_t bytes);
/* If a spare of at least min_bytes is ready, hands it over: returns its path (valid
 * until prep_request) and *bytes its size, or NULL. Never blocks on I/O. The caller
 * renames the spare away, then calls prep_request so the next spare never races with
 * that rename. */
const char *prep_take(struct seg_preparer *p, uint64_t min_bytes, uint64_t *bytes);
/* Asks for the next spare, of `bytes` (also after a failed attempt, or with a spare
 * still ready: a ready spare is kept, whatever its size). */
void prep_request(struct seg_preparer *p, uint64_t bytes, uint64_t pace_ns);
void prep_stop(struct seg_preparer *p);
/* Waits until a spare is ready: 0, the error of the attempt that failed, SLUICE_ETIMEDOUT
 * after timeout_ms, or SLUICE_EINVAL when the preparer is not running. For tests and
 * benchmarks that measure a directory in its steady state. */
int prep_wait_ready(struct seg_preparer *p, uint32_t timeout_ms);
#endif
