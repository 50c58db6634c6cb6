/*
 * Executable invariants, in the spirit of SQLite's assert()/ALWAYS() and TigerBeetle's
 * asserts:
 *
 *   SLUICE_ASSERT(c)  an invariant the code states and relies on. Checked where
 *                     SLUICE_CHECKS is defined: Debug and sanitizer builds (CMake sets
 *                     it; `-DSLUICE_CHECKS=ON` forces it), so the whole test suite runs
 *                     with them in CI. Compiled out otherwise: the expression is not
 *                     evaluated.
 *   SLUICE_ALWAYS(c)  a cheap one guarding memory safety (one compare on a path that
 *                     already touches the data): checked in every build.
 *
 * A broken invariant means memory or logic is already wrong, and going on could write
 * wrong bytes to disk or acknowledge what is not durable. So a failed check stops the
 * process with the condition, file and line on stderr: the one place the library ever
 * prints. Never put a check on something input can cause — input gets an error code.
 */
#ifndef SLUICE_CHECK_H
#define SLUICE_CHECK_H

_Noreturn void sluice_check_failed(const char *cond, const char *file, int line);

#define SLUICE_ALWAYS(c) \
    (__builtin_expect(!!(c), 1) ? (void)0 : sluice_check_failed(#c, __FILE__, __LINE__))

#ifdef SLUICE_CHECKS
#define SLUICE_ASSERT(c) SLUICE_ALWAYS(c)
#else
#define SLUICE_ASSERT(c) ((void)sizeof(!(c)))
#endif
#endif
