/* Runs the sluice tool in process (cli_main) with stdout and stderr captured, for the
 * CLI test suites. */
#ifndef SLUICE_TEST_CLI_RUN_H
#define SLUICE_TEST_CLI_RUN_H
#include <stddef.h>

/* What the last run printed, NUL-terminated (truncated past the buffers' sizes). */
extern char tc_out[1 << 22], tc_err[1 << 16];

/* Runs `sluice first ...` (a NULL-terminated list); returns its exit code. */
int tc_run(const char *first, ...);
/* The same with an argument vector (argv[0] is the first argument after "sluice"). */
int tc_runv(int argc, char **argv);
/* The same with standard input read from the n bytes at in. */
int tc_run_stdin(const void *in, size_t n, const char *first, ...);
/* Lines in s. */
int tc_lines(const char *s);
/* Writes text to dir/name; returns the path (caller frees). */
char *tc_write_file(const char *dir, const char *name, const void *text, size_t n);
#endif
