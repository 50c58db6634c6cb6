/*
 * A position is a monotonic uint64 that one thread advances and any number of threads
 * wait on (claimed/indexed/written/durable LSNs, the ring's released byte count).
 *
 * Invariants:
 *  1. value never decreases.
 *  2. An advance costs one release store and one load while nobody sleeps; the futex
 *     wake (one wake-all per advance, never one per waiter) happens only when a waiter
 *     announced itself in `sleepers`.
 *  3. A waiter never sleeps past an advance that satisfies it: it registers in
 *     `sleepers` before re-reading the futex word and the value (Dekker ordering with
 *     the seq_cst fence in pos_advance).
 */
#ifndef SLUICE_POSITION_H
#define SLUICE_POSITION_H
#include <stdatomic.h>
#include <stdint.h>

/* The pause of a busy wait (a spin-wait hint to the core and its sibling). */
#if defined(__x86_64__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

struct position {
    _Alignas(64) _Atomic uint64_t value;
    _Atomic uint32_t futex_seq;
    _Atomic uint32_t sleepers;
};

void pos_init(struct position *p, uint64_t v);

static inline uint64_t pos_load(const struct position *p)
{
    return atomic_load_explicit(&p->value, memory_order_acquire);
}

/* Single advancing thread: stores v (>= current) and wakes sleepers if there are any. */
void pos_advance(struct position *p, uint64_t v);

/* Wakes every sleeper so it re-checks (used when the database is poisoned or closes). */
void pos_wake_all(struct position *p);

/*
 * Waits until value >= target. deadline_ns is CLOCK_MONOTONIC, 0 = no deadline.
 * spin_ns bounds a busy wait before sleeping. *abort_code (may be NULL) is checked on
 * every wake: when non-zero the wait returns it.
 * Returns 0, SLUICE_ETIMEDOUT, or *abort_code.
 */
int pos_wait(struct position *p, uint64_t target, uint64_t deadline_ns, uint64_t spin_ns,
             const _Atomic int *abort_code);

/* Futex helpers shared with the ring's space waiting. */
int futex_wait_u32(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns);
void futex_wake_all_u32(_Atomic uint32_t *word);
#endif
