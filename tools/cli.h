/* The sluice command-line tool. cli_main does all the work and never calls exit(), so
 * tests and fuzzers can run it in process. Exit codes: 0 success, 1 the thing asked for
 * is absent or damaged, 2 usage or environment error. Output formats: docs/tools.md. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice.h"

int cli_main(int argc, char **argv);

/* ---- the commands, one file per family ---- */
int cli_demo(int argc, char **argv);   /* demo.c */
int cli_info(int argc, char **argv);   /* cli_inspect.c */
int cli_dump(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_get(int argc, char **argv);    /* cli_query.c */
int cli_scan(int argc, char **argv);
int cli_keys(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_compact(int argc, char **argv);
int cli_repair(int argc, char **argv); /* cli_salvage.c */
int cli_backup(int argc, char **argv);
int cli_ingest(int argc, char **argv); /* cli_ingest.c */
int cli_top(int argc, char **argv);    /* cli_top.c */
int cli_tail(int argc, char **argv);   /* cli_tail.c */

/* ---- shared by the commands (cli.c) ---- */
enum { CLI_OK = 0, CLI_ABSENT = 1, CLI_USAGE = 2 };

/* Prints "sluice <cmd>: <message>" on stderr and returns code. */
int cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The exit code for a library error: 1 for damage or absence, 2 otherwise. */
int cli_code(int err);
/* 1 when err says something of the bytes (SLUICE_ECORRUPT, SLUICE_EVERSION); 0 for a
 * read that could not be made (I/O, out of memory), which says nothing of them. */
int cli_is_damage(int err);
/* Opens dir (read_only: without lock, threads or writes); on failure prints the reason
 * and returns the exit code. */
int cli_open(const char *cmd, const char *dir, int read_only, sluice_db **db);

/* Whether a process holds the flock on path (read from /proc/locks, never taken). */
int cli_lock_held(const char *path);

/* Matches argv[*i] as "--name VALUE" or "--name=VALUE"; *val gets VALUE, *i moves past
 * it. -1 when the value is missing (usage error), 1 on a match, 0 otherwise. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Parses a non-negative decimal integer; 0 on success. */
int cli_u64(const char *s, uint64_t *out);
/* A timestamp: integer nanoseconds or RFC 3339 ("2026-11-26T16:35:00.5Z",
 * "...+01:00"). 0 on success. */
int cli_parse_ts(const char *s, uint64_t *ns);
/* Writes ts as integer nanoseconds or, rfc3339, as UTC RFC 3339 with nanoseconds. */
void cli_format_ts(uint64_t ns, int rfc3339, char out[48]);

/* Bytes for people: printable ASCII as is, the rest as \xNN; at most max input bytes,
 * then "...". */
void cli_print_bytes(FILE *f, const void *p, size_t n, size_t max);
/* A key for a table's KEY column (print it with %-24s): cli_print_bytes of its first 24
 * bytes, so a longer or escaped key pushes its row right rather than being cut silently. */
#define CLI_KEY_COLUMN 128
void cli_key_column(char out[CLI_KEY_COLUMN], const void *key, size_t klen);
/*
 * JSON that standard tools (jq, JavaScript, Python) read back exactly (docs/tools.md):
 *  - cli_print_json_bytes writes `"name":"text"` when the bytes are valid UTF-8 (control
 *    characters escaped, NUL as \u0000), else `"name_b64":"<base64>"`;
 *  - cli_print_json_u64 writes `"name":"digits"`: a 64-bit integer as a string, because
 *    JSON numbers above 2^53 are rounded by jq 1.6, JavaScript and most libraries.
 * Each is preceded by a comma when comma is set.
 */
void cli_print_json_bytes(FILE *f, int comma, const char *name, const void *p, size_t n);
void cli_print_json_u64(FILE *f, int comma, const char *name, uint64_t v);
/* A JSON string of valid UTF-8 text, escaped per RFC 8259 (for names the tool makes). */
void cli_print_json_text(FILE *f, const void *p, size_t n);
/* 1 if p[0..n) is valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points
 * above U+10FFFF). */
int cli_utf8_valid(const void *p, size_t n);
/* Base64 (RFC 4648, with padding). cli_b64_decode: 0 and *n on success, -1 for anything
 * that is not canonical base64; out holds at least 3 * (len / 4) bytes. */
void cli_b64_encode(FILE *f, const void *p, size_t n);
int cli_b64_decode(const char *s, size_t len, uint8_t *out, size_t *n);
/* An RFC 4180 CSV field: quoted when it holds a comma, quote, CR or LF. */
void cli_print_csv_field(FILE *f, const void *p, size_t n);

/* Output format of get and scan. */
enum cli_format { CLI_TABLE, CLI_JSON, CLI_CSV };
#endif
