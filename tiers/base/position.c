#include "position.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "sluice.h"

void pos_init(struct position *p, uint64_t v)
{
    atomic_store_explicit(&p->value, v, memory_order_relaxed);
    atomic_store_explicit(&p->futex_seq, 0, memory_order_relaxed);
    atomic_store_explicit(&p->sleepers, 0, memory_order_relaxed);
}

int futex_wait_u32(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
        ts.tv_nsec = (long)(deadline_ns % 1000000000u);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so spurious wake-ups
     * never stretch the total wait. */
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                     expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return SLUICE_ETIMEDOUT;
    return 0;
}

void futex_wake_all_u32(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL,
            NULL, 0);
}

void pos_wake_all(struct position *p)
{
    atomic_fetch_add_explicit(&p->futex_seq, 1, memory_order_seq_cst);
    futex_wake_all_u32(&p->futex_seq);
}

void pos_advance(struct position *p, uint64_t v)
{
    /* invariant 1; the advancing thread is the only writer, so a relaxed load suffices */
    SLUICE_ASSERT(v >= atomic_load_explicit(&p->value, memory_order_relaxed));
    atomic_store_explicit(&p->value, v, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed))
        pos_wake_all(p);
}

int pos_wait(struct position *p, uint64_t target, uint64_t deadline_ns, uint64_t spin_ns,
             const _Atomic int *abort_code)
{
    if (pos_load(p) >= target)
        return 0;
    if (spin_ns) {
        uint64_t until = clock_now_ns() + spin_ns;
        do {
            for (int i = 0; i < 32; i++) {
                if (pos_load(p) >= target)
                    return 0;
                cpu_relax();
            }
        } while (clock_now_ns() < until);
    }
    int rc = 0;
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
    for (;;) {
        uint32_t seq = atomic_load_explicit(&p->futex_seq, memory_order_seq_cst);
        if (atomic_load_explicit(&p->value, memory_order_seq_cst) >= target)
            break;
        if (abort_code && (rc = atomic_load_explicit(abort_code, memory_order_acquire)))
            break;
        if (deadline_ns && clock_now_ns() >= deadline_ns) {
            rc = SLUICE_ETIMEDOUT;
            break;
        }
        (void)futex_wait_u32(&p->futex_seq, seq, deadline_ns);
    }
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    return rc;
}
