/*
 * sluice: dispatch, help, and what every command shares — opening a directory, options,
 * timestamps, and printing bytes for people, JSON and CSV. The commands live in
 * cli_inspect.c (info, dump, verify), cli_query.c (get, scan, keys, stats, compact),
 * cli_ingest.c and demo.c.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage; /* first line: the synopsis */
};

static const struct command commands[] = {
    {"demo", cli_demo,
     "demo [DIR] [--seconds N] [--producers N] [--sensors N]\n"
     "    Simulates a real-time sensor stream into DIR (default: a fresh directory under\n"
     "    $TMPDIR) at DURABLE level while the compactor runs, with a live progress line,\n"
     "    then reports throughput, ack latency, compaction lag, bytes per record and\n"
     "    example queries."},
    {"info", cli_info,
     "info DIR [--json]\n"
     "    Every tier at a glance: positions, log segments (LSN and time ranges, sizes),\n"
     "    the cold tier (records, blocks, bytes, series), source offsets, format\n"
     "    versions, and whether a writer holds the directory. Read-only."},
    {"dump", cli_dump,
     "dump log DIR|SEGMENT [--from-lsn N] [--limit N] [--json] [--time-format ns|rfc3339]\n"
     "dump cold DIR [--key K] [--from T] [--to T] [--records] [--json]\n"
     "    One line per log record (LSN, type, ts, key, value length, preview, CRC), or\n"
     "    per cold block (series, time range, records, stored/raw bytes, CRC) and with\n"
     "    --records its records. Read-only."},
    {"get", cli_get,
     "get DIR KEY [TS] [--json|--csv] [--time-format ns|rfc3339]\n"
     "    The value of KEY at TS, or its newest, through the public API. Read-only."},
    {"scan", cli_scan,
     "scan DIR [DIR...] [--key K] --from T --to T [--limit N] [--json|--csv] [--time-format ns|rfc3339]\n"
     "scan DIR --latest [--prefix P] [--limit N] [--json|--csv] [--time-format ns|rfc3339]\n"
     "    Records in [from, to): one key in ts order, or all keys in (ts, key) order.\n"
     "    Several directories (a Kafka consumer group's machines) merge into one, each\n"
     "    (key, ts) once. --latest: the newest record of every key (starting with P), in\n"
     "    key order. Read-only."},
    {"keys", cli_keys,
     "keys DIR [--prefix P] [--json|--csv] [--time-format ns|rfc3339]\n"
     "    The catalogue of keys with at least one record, in key order: each one's\n"
     "    records and first and last ts, from block headers and the log's index (no\n"
     "    block is decompressed unless late data or deletes await compaction). Read-only."},
    {"tail", cli_tail,
     "tail DIR [--from-lsn N | --from-cursor NAME | --from-end] [--follow] [--max N]\n"
     "     [--ack memory|written|durable] [--json|--csv] [--time-format ns|rfc3339]\n"
     "    Records in commit (LSN) order from the oldest retained (or N, the record after\n"
     "    a named cursor, or the end), deletes and late records marked; --follow keeps\n"
     "    printing what another process writes, as tail -f. Read-only: never takes the\n"
     "    writer's lock."},
    {"ingest", cli_ingest,
     "ingest DIR [--format csv|jsonl] [--ack memory|written|durable] [--max-errors N] [FILE|-]\n"
     "    Bulk-loads records: CSV with a header naming key,ts,value (RFC 4180), or JSON\n"
     "    lines with key (or key_b64), ts (ns, as a number or a string, or RFC 3339) and\n"
     "    value (or value_b64), as scan --json writes them. Bad lines are reported with\n"
     "    their line numbers; everything loaded is durable when it exits 0 or 1."},
    {"verify", cli_verify,
     "verify DIR [--json]\n"
     "    Checks every log record and cold block checksum, LSN continuity, and that the\n"
     "    cold tier agrees with its meta. Exit 0 clean, 1 damage found, 2 usage or I/O."},
    {"stats", cli_stats,
     "stats DIR [--json|--prometheus]\n"
     "    Every counter, gauge and histogram: a live writer's latest snapshot\n"
     "    (DIR/stats.live) when a process is writing DIR, else a read-only open's."},
    {"top", cli_top,
     "top DIR [--interval MS] [--count N]\n"
     "    A live view of a directory another process is writing: rates, latency\n"
     "    percentiles per stage, ring fill, log backlog, freshness per tier, LMDB use.\n"
     "    Reads the writer's DIR/stats.live; refreshes every second (--interval)."},
    {"compact", cli_compact,
     "compact DIR\n"
     "    Compacts everything into the cold tier; DIR must not be open elsewhere."},
    {"repair", cli_repair,
     "repair DIR DEST\n"
     "    Copies every record that can still be read, from the cold tier and every intact\n"
     "    stretch of every segment, into the new directory DEST, and lists what was lost\n"
     "    (LSN ranges, cold blocks by key). Never writes DIR. Exit 0 nothing lost, 1 lost."},
    {"backup", cli_backup,
     "backup DIR DEST\n"
     "    A consistent copy of DIR, also while a writer runs: the log's segments, then the\n"
     "    cold tier in one LMDB transaction. DEST opens with every record that was durable\n"
     "    when the backup began."},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Every line two spaces in: synopsis lines at 2, their descriptions (which start with
 * four spaces) at 6. */
static void print_indented(FILE *f, const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "  %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* "usage: sluice <synopsis>", one more "       sluice <synopsis>" per further synopsis
 * line, then the description as it is. */
static void print_synopsis(FILE *f, const char *text)
{
    int first = 1;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (!strncmp(p, "    ", 4))
            fprintf(f, "%.*s\n", (int)n, p);
        else
            fprintf(f, "%s%.*s\n", first ? "usage: sluice " : "       sluice ", (int)n, p);
        first = 0;
        p += n + (p[n] == '\n');
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice <command> [options]   (sluice <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        print_indented(f, commands[i].usage);
    fprintf(f, "  help | version\n\n"
               "Exit codes: 0 success, 1 absent or damaged, 2 usage or environment error.\n");
}

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("sluice %s\n", sluice_version(NULL, NULL, NULL));
        return CLI_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(cmd, commands[i].name))
            continue;
        for (int a = 2; a < argc; a++)
            if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
                print_synopsis(stdout, commands[i].usage);
                return CLI_OK;
            }
        int r = commands[i].run(argc, argv);
        fflush(stdout);
        return r;
    }
    fprintf(stderr, "sluice: unknown command '%s' (try 'sluice help')\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    fflush(stdout);
    fprintf(stderr, "sluice %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_code(int err)
{
    return err == SLUICE_ECORRUPT || err == SLUICE_NOTFOUND || err == SLUICE_EVERSION ? CLI_ABSENT
                                                                                   : CLI_USAGE;
}

int cli_is_damage(int err) { return err == SLUICE_ECORRUPT || err == SLUICE_EVERSION; }

int cli_open(const char *cmd, const char *dir, int read_only, sluice_db **db)
{
    sluice_options o;
    sluice_options_init(&o);
    char err[512] = "";
    o.read_only = read_only;
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    int r = sluice_open(dir, &o, db);
    if (!r)
        return CLI_OK;
    if (r == SLUICE_NOTFOUND)
        return cli_fail(cmd, CLI_ABSENT, "%s: not a sluice directory (no log/ or cold/ in it)", dir);
    if (r == SLUICE_ELOCKED)
        return cli_fail(cmd, CLI_USAGE, "%s: another process has it open for writing", dir);
    return cli_fail(cmd, cli_code(r), "%s: %s", dir, err[0] ? err : sluice_strerror(r));
}

/* Read from /proc/locks: taking the lock even for a moment to find out could make a
 * writer starting at that instant fail. */
int cli_lock_held(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return 0;
    char line[256];
    int held = 0;
    while (!held && fgets(line, sizeof line, f)) {
        unsigned maj, min;
        unsigned long ino;
        char kind[16];
        if (sscanf(line, "%*[^:]: %15s %*s %*s %*d %x:%x:%lu", kind, &maj, &min, &ino) == 4)
            held = !strcmp(kind, "FLOCK") && maj == major(st.st_dev) && min == minor(st.st_dev) &&
                   ino == st.st_ino;
    }
    fclose(f);
    return held;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n))
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n])
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

int cli_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

int cli_parse_ts(const char *s, uint64_t *ns)
{
    if (!cli_u64(s, ns))
        return 0;
    /* RFC 3339: date "T" time [fraction] ("Z" | sign hh:mm) */
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
        digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 9)
                frac = frac * 10 + (uint64_t)(*p - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            frac *= 10;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 ||
        om > 59 || y < 1970)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - sign * (int64_t)(oh * 3600 + om * 60);
    if (t < 0 || (uint64_t)t > UINT64_MAX / 1000000000u - 1)
        return -1;
    *ns = (uint64_t)t * 1000000000u + frac;
    return 0;
}

void cli_format_ts(uint64_t ns, int rfc3339, char out[48])
{
    if (!rfc3339) {
        snprintf(out, 48, "%" PRIu64, ns);
        return;
    }
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 48, "%s.%09" PRIu64 "Z", date, ns % 1000000000u);
}

void cli_key_column(char out[CLI_KEY_COLUMN], const void *key, size_t klen)
{
    FILE *m = fmemopen(out, CLI_KEY_COLUMN, "w");
    if (!m) {
        out[0] = 0;
        return;
    }
    cli_print_bytes(m, key, klen, 24);
    fclose(m);
}

void cli_print_bytes(FILE *f, const void *p, size_t n, size_t max)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n && i < max; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            fputc(b[i], f);
        else
            fprintf(f, "\\x%02x", b[i]);
    }
    if (n > max)
        fputs("...", f);
}

int cli_utf8_valid(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n;) {
        uint8_t c = b[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (n - i < len || b[i + 1] < lo || b[i + 1] > hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if ((b[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

void cli_print_json_text(FILE *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f); /* UTF-8 passes through as it is */
    }
    fputc('"', f);
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cli_b64_encode(FILE *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) |
                     (i + 2 < n ? b[i + 2] : 0);
        char q[4] = {b64_alphabet[v >> 18], b64_alphabet[(v >> 12) & 63],
                     i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=', i + 2 < n ? b64_alphabet[v & 63] : '='};
        fwrite(q, 1, 4, f);
    }
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

int cli_b64_decode(const char *s, size_t len, uint8_t *out, size_t *n)
{
    if (len % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=');
        if (pad && i + 4 != len)
            return -1; /* padding only at the end */
        if (pad == 1 && s[i + 2] == '=')
            return -1; /* "x=y=" */
        int v[4];
        for (int k = 0; k < 4 - pad; k++)
            if ((v[k] = b64_value(s[i + k])) < 0)
                return -1;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (pad < 2 ? (uint32_t)v[2] << 6 : 0) |
                     (pad < 1 ? (uint32_t)v[3] : 0);
        /* canonical: the bits padding drops are zero */
        if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *n = o;
    return 0;
}

void cli_print_json_bytes(FILE *f, int comma, const char *name, const void *p, size_t n)
{
    if (comma)
        fputc(',', f);
    if (cli_utf8_valid(p, n)) {
        fprintf(f, "\"%s\":", name);
        cli_print_json_text(f, p, n);
    } else {
        fprintf(f, "\"%s_b64\":\"", name);
        cli_b64_encode(f, p, n);
        fputc('"', f);
    }
}

void cli_print_json_u64(FILE *f, int comma, const char *name, uint64_t v)
{
    fprintf(f, "%s\"%s\":\"%" PRIu64 "\"", comma ? "," : "", name, v);
}

void cli_print_csv_field(FILE *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = b[i] == ',' || b[i] == '"' || b[i] == '\r' || b[i] == '\n';
    if (!quote) {
        fwrite(b, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '"')
            fputc('"', f);
        fputc(b[i], f);
    }
    fputc('"', f);
}
