/*
 * sluice ingest: bulk-loads CSV (libcsv, RFC 4180) or JSON lines (jansson) through the
 * public API. Every bad line is reported with its number and counted; everything loaded
 * is made durable (sluice_flush) before the command returns 0 (clean) or 1 (bad lines
 * were skipped, or --max-errors stopped it).
 */
#include "cli.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ingest {
    sluice_db *db;
    const char *name; /* the input, for messages */
    int ack;
    uint64_t max_errors, records, bad, line;
    int stop;   /* max errors reached, or a put failed */
    int fatal;  /* a put failed: its error */
    uint64_t t0, last_progress, bytes_read, bytes_total;
    int progress;
    /* CSV */
    int header_done;
    int col_key, col_ts, col_value, ncols;
    int field;                /* index of the next field in the record */
    uint8_t *fbuf[3];         /* key, ts, value of the current record */
    size_t flen[3], fcap[3];
    int have[3];
    uint64_t rec_start_line;
};

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void bad_line(struct ingest *g, uint64_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad_line(struct ingest *g, uint64_t line, const char *fmt, ...)
{
    g->bad++;
    fprintf(stderr, "%ssluice ingest: %s:%" PRIu64 ": ", g->progress ? "\r\033[K" : "", g->name, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (g->max_errors && g->bad >= g->max_errors) {
        fprintf(stderr, "sluice ingest: %s: stopping after %" PRIu64 " bad lines (--max-errors)\n",
                g->name, g->bad);
        g->stop = 1;
    }
}

static void progress(struct ingest *g, int last)
{
    uint64_t t = now_ns();
    if (!g->progress || (!last && t - g->last_progress < 250000000u))
        return;
    g->last_progress = t;
    double secs = (t - g->t0) / 1e9;
    fprintf(stderr, "\r\033[K  %" PRIu64 " records  %.0f/s", g->records, secs > 0 ? g->records / secs : 0);
    if (g->bytes_total) {
        int width = 30, done = (int)(width * (double)g->bytes_read / (double)g->bytes_total);
        fprintf(stderr, "  [%.*s%*s] %3.0f%%", done, "##############################", width - done, "",
                100.0 * (double)g->bytes_read / (double)g->bytes_total);
    }
    if (g->bad)
        fprintf(stderr, "  %" PRIu64 " bad lines", g->bad);
    if (last)
        fputc('\n', stderr);
}

static void put_one(struct ingest *g, uint64_t line, const void *key, size_t klen, uint64_t ts,
                    const void *val, size_t vlen)
{
    if (klen == 0 || klen > SLUICE_KEY_MAX) {
        bad_line(g, line, "the key is %zu bytes (1 to %d allowed)", klen, SLUICE_KEY_MAX);
        return;
    }
    int r = sluice_put(g->db, key, klen, ts, val, vlen, g->ack, NULL);
    if (r == SLUICE_EINVAL) {
        bad_line(g, line, "record refused: %s (value of %zu bytes)", sluice_strerror(r), vlen);
        return;
    }
    if (r) {
        fprintf(stderr, "sluice ingest: %s:%" PRIu64 ": %s\n", g->name, line, sluice_strerror(r));
        g->fatal = r;
        g->stop = 1;
        return;
    }
    g->records++;
    progress(g, 0);
}

/* ---- CSV ---- */

static int column_is(const void *f, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(f, name, n) == 0;
}

static void csv_field(void *f, size_t n, void *arg)
{
    struct ingest *g = arg;
    int i = g->field++;
    if (!g->header_done) {
        if (column_is(f, n, "key"))
            g->col_key = i;
        else if (column_is(f, n, "ts"))
            g->col_ts = i;
        else if (column_is(f, n, "value"))
            g->col_value = i;
        g->ncols = g->field;
        return;
    }
    int slot = i == g->col_key ? 0 : i == g->col_ts ? 1 : i == g->col_value ? 2 : -1;
    if (slot < 0)
        return; /* an extra column */
    if (n > g->fcap[slot]) {
        uint8_t *p = realloc(g->fbuf[slot], n);
        if (!p) {
            g->fatal = SLUICE_ENOMEM;
            g->stop = 1;
            return;
        }
        g->fbuf[slot] = p;
        g->fcap[slot] = n;
    }
    if (n)
        memcpy(g->fbuf[slot], f, n);
    g->flen[slot] = n;
    g->have[slot] = 1;
}

static void csv_record(int term, void *arg)
{
    (void)term;
    struct ingest *g = arg;
    uint64_t line = g->rec_start_line;
    g->rec_start_line = g->line + 1;
    int fields = g->field;
    g->field = 0;
    if (g->stop)
        return;
    if (!g->header_done) {
        g->header_done = 1;
        return;
    }
    if (fields != g->ncols) {
        /* a missing field, or one too many (an unquoted comma in a value): either way the
         * row does not say what the header says, and guessing would store wrong data */
        bad_line(g, line, "%d fields; the header has %d", fields, g->ncols);
    } else {
        char ts[64];
        uint64_t t;
        size_t n = g->flen[1] < sizeof ts - 1 ? g->flen[1] : sizeof ts - 1;
        memcpy(ts, g->fbuf[1], n);
        ts[n] = 0;
        if (g->flen[1] >= sizeof ts || cli_parse_ts(ts, &t))
            bad_line(g, line, "bad ts '%s' (integer ns or RFC 3339)", ts);
        else
            put_one(g, line, g->fbuf[0], g->flen[0], t, g->fbuf[2], g->flen[2]);
    }
    g->have[0] = g->have[1] = g->have[2] = 0;
}

/* RFC 4180: spaces are part of a field. libcsv trims spaces and tabs around unquoted
 * fields unless told that no character is a space. */
static int csv_no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* Strict parsing: a quote inside an unquoted field, text after a closing quote, and a
 * quoted field still open at the end of the input are errors, not data (without
 * CSV_STRICT_FINI the rest of the file became the open field's value). */
#define CSV_OPTIONS (CSV_STRICT | CSV_STRICT_FINI)

static int csv_restart(struct csv_parser *p)
{
    csv_free(p);
    if (csv_init(p, CSV_OPTIONS))
        return SLUICE_ENOMEM;
    csv_set_space_func(p, csv_no_space);
    return 0;
}

/* A malformed record: reported with the lines it spans, dropped whole. */
static void csv_bad_record(struct ingest *g, const char *why)
{
    if (g->rec_start_line < g->line)
        bad_line(g, g->rec_start_line, "%s (line %" PRIu64 "); the record on lines %" PRIu64
                 "-%" PRIu64 " is not loaded", why, g->line, g->rec_start_line, g->line);
    else
        bad_line(g, g->line, "%s; the record is not loaded", why);
    g->field = 0;
    g->have[0] = g->have[1] = g->have[2] = 0;
    g->rec_start_line = g->line + 1;
}

static int load_csv(struct ingest *g, FILE *in)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_OPTIONS))
        return SLUICE_ENOMEM;
    csv_set_space_func(&p, csv_no_space);
    g->col_key = g->col_ts = g->col_value = -1;
    g->rec_start_line = 1;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int header_checked = 0;
    while (!g->stop && !g->fatal && (n = getline(&buf, &cap, in)) > 0) {
        g->line++;
        g->bytes_read += (uint64_t)n;
        if (csv_parse(&p, buf, (size_t)n, csv_field, csv_record, g) != (size_t)n) {
            int e = csv_error(&p);
            if (e != CSV_EPARSE || !g->header_done) {
                fprintf(stderr, "sluice ingest: %s:%" PRIu64 ": %s\n", g->name, g->line,
                        e == CSV_EPARSE ? "malformed header row" : csv_strerror(e));
                g->fatal = e == CSV_EPARSE ? SLUICE_EINVAL : SLUICE_ENOMEM;
                break;
            }
            /* the rest of this line is dropped with the record; the next line starts a
             * new record */
            csv_bad_record(g, "a quote inside an unquoted field, or text after a closing quote");
            if (csv_restart(&p)) {
                g->fatal = SLUICE_ENOMEM;
                break;
            }
        }
        if (g->header_done && !header_checked) {
            header_checked = 1;
            if (g->col_key < 0 || g->col_ts < 0 || g->col_value < 0) {
                fprintf(stderr, "sluice ingest: %s:1: the header must name the columns key, ts and value\n",
                        g->name);
                g->fatal = SLUICE_EINVAL;
                break;
            }
        }
    }
    if (!g->stop && !g->fatal && csv_fini(&p, csv_field, csv_record, g) != 0) {
        if (!g->header_done) {
            fprintf(stderr, "sluice ingest: %s:1: malformed header row (a quoted field is not closed)\n",
                    g->name);
            g->fatal = SLUICE_EINVAL;
        } else {
            csv_bad_record(g, "a quoted field is not closed before the end of the input");
        }
    }
    if (!g->header_done && !g->fatal) {
        fprintf(stderr, "sluice ingest: %s: empty input: no header row\n", g->name);
        g->fatal = SLUICE_EINVAL;
    }
    csv_free(&p);
    free(buf);
    for (int i = 0; i < 3; i++)
        free(g->fbuf[i]);
    return 0;
}

/* ---- JSON lines ---- */

/* A byte string from "name" (text, NULs allowed) or "name_b64" (base64), as the JSON
 * output writes them (cli.h). *buf is owned by the caller (freed by it). 0, or the
 * reason it is not usable; *absent when neither is there. */
static const char *json_bytes(json_t *o, const char *name, uint8_t **buf, const void **p,
                              size_t *n, int *absent, char why[64])
{
    char b64name[32];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    json_t *t = json_object_get(o, name), *b = json_object_get(o, b64name);
    *absent = !t && !b;
    if (t && b) {
        snprintf(why, 64, "%s has both a text and a _b64 form", name);
        return why;
    }
    if (b) {
        size_t len = json_is_string(b) ? json_string_length(b) : 0;
        *buf = malloc(len / 4 * 3 + 1);
        if (!*buf || !json_is_string(b) || cli_b64_decode(json_string_value(b), len, *buf, n)) {
            snprintf(why, 64, "%s is not valid base64", b64name);
            return why;
        }
        *p = *buf;
        return NULL;
    }
    if (json_is_string(t)) {
        *p = json_string_value(t);
        *n = json_string_length(t);
    }
    return NULL;
}

static void jsonl_line(struct ingest *g, const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
        i++;
    if (i == n)
        return; /* a blank line */
    json_error_t err;
    /* JSON_ALLOW_NUL: "\u0000" is a byte of the key or value, as the output writes it */
    json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &err);
    if (!o) {
        bad_line(g, g->line, "not JSON: %s", err.text);
        return;
    }
    json_t *t = json_object_get(o, "ts");
    uint64_t ts = 0;
    int ts_ok = 0;
    if (json_is_integer(t) && json_integer_value(t) >= 0) {
        ts = (uint64_t)json_integer_value(t);
        ts_ok = 1;
    } else if (json_is_string(t)) { /* digits (exact above 2^53) or RFC 3339 */
        ts_ok = !cli_parse_ts(json_string_value(t), &ts);
    }
    uint8_t *kbuf = NULL, *vbuf = NULL;
    const void *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    int kabsent = 1, vabsent = 1;
    const char *why = NULL;
    char whybuf[64];
    if (!json_is_object(o)) {
        why = "needs an object with \"key\", \"ts\" and \"value\"";
    } else if ((why = json_bytes(o, "key", &kbuf, &key, &klen, &kabsent, whybuf))) {
        /* named below */
    } else if (!key) {
        why = kabsent ? "no \"key\" (or \"key_b64\")" : "\"key\" must be a string";
    } else if (!ts_ok) {
        why = "\"ts\" must be integer nanoseconds (a number or a string of digits) or an RFC 3339 string";
    } else if ((why = json_bytes(o, "value", &vbuf, &val, &vlen, &vabsent, whybuf))) {
    } else if (vabsent) {
        why = "no \"value\" (or \"value_b64\")";
    }
    if (why) {
        bad_line(g, g->line, "%s", why);
    } else if (val) {
        put_one(g, g->line, key, klen, ts, val, vlen);
    } else {
        /* a value that is not a string: jansson keeps no source text, so it is re-encoded
         * compactly, reals with 15 significant digits so that 77.1 stays 77.1 */
        char *text = json_dumps(json_object_get(o, "value"),
                                JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        if (text)
            put_one(g, g->line, key, klen, ts, text, strlen(text));
        else
            bad_line(g, g->line, "value cannot be encoded");
        free(text);
    }
    free(kbuf);
    free(vbuf);
    json_decref(o);
}

static int load_jsonl(struct ingest *g, FILE *in)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!g->stop && (n = getline(&buf, &cap, in)) > 0) {
        g->line++;
        g->bytes_read += (uint64_t)n;
        jsonl_line(g, buf, (size_t)n);
    }
    free(buf);
    return 0;
}

int cli_ingest(int argc, char **argv)
{
    struct ingest g = {.ack = SLUICE_ACK_MEMORY};
    const char *dir = NULL, *file = NULL, *format = NULL, *v;
    for (int i = 2; i < argc; i++) {
        int m;
        if ((m = cli_opt(argc, argv, &i, "--format", &v)) != 0) {
            if (m < 0 || (strcmp(v, "csv") && strcmp(v, "jsonl")))
                return cli_fail("ingest", CLI_USAGE, "--format is csv or jsonl");
            format = v;
        } else if ((m = cli_opt(argc, argv, &i, "--ack", &v)) != 0) {
            if (m > 0 && !strcmp(v, "memory"))
                g.ack = SLUICE_ACK_MEMORY;
            else if (m > 0 && !strcmp(v, "written"))
                g.ack = SLUICE_ACK_WRITTEN;
            else if (m > 0 && !strcmp(v, "durable"))
                g.ack = SLUICE_ACK_DURABLE;
            else
                return cli_fail("ingest", CLI_USAGE, "--ack is memory, written or durable");
        } else if ((m = cli_opt(argc, argv, &i, "--max-errors", &v)) != 0) {
            if (m < 0 || cli_u64(v, &g.max_errors))
                return cli_fail("ingest", CLI_USAGE, "--max-errors needs a number");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail("ingest", CLI_USAGE, "unknown option %s", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else if (!file) {
            file = argv[i];
        } else {
            return cli_fail("ingest", CLI_USAGE, "usage: sluice ingest DIR [--format csv|jsonl] [FILE|-]");
        }
    }
    if (!dir)
        return cli_fail("ingest", CLI_USAGE, "usage: sluice ingest DIR [--format csv|jsonl] [FILE|-]");
    if (!file)
        file = "-";
    if (!format) { /* from the file name, else CSV */
        size_t n = strlen(file);
        format = n > 6 && (!strcmp(file + n - 6, ".jsonl") || !strcmp(file + n - 5, ".json")) ? "jsonl" : "csv";
    }
    FILE *in = stdin;
    g.name = "stdin";
    if (strcmp(file, "-")) {
        if (!(in = fopen(file, "r")))
            return cli_fail("ingest", errno == ENOENT ? CLI_ABSENT : CLI_USAGE, "%s: %s", file, strerror(errno));
        struct stat st;
        if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode))
            g.bytes_total = (uint64_t)st.st_size;
        g.name = file;
    }
    int code = cli_open("ingest", dir, 0, &g.db);
    if (code) {
        if (in != stdin)
            fclose(in);
        return code;
    }
    g.progress = isatty(STDERR_FILENO);
    g.t0 = now_ns();
    if (!strcmp(format, "csv"))
        load_csv(&g, in);
    else
        load_jsonl(&g, in);
    if (ferror(in) && !g.fatal) {
        fprintf(stderr, "sluice ingest: %s: read error\n", g.name);
        g.fatal = -EIO;
    }
    if (in != stdin)
        fclose(in);
    progress(&g, 1);
    int r = sluice_flush(g.db); /* everything accepted is durable before we say so */
    int rc = sluice_close(g.db);
    double secs = (now_ns() - g.t0) / 1e9;
    if (r || rc)
        return cli_fail("ingest", CLI_USAGE, "%s: %s", dir, sluice_strerror(r ? r : rc));
    printf("ingested %" PRIu64 " record%s from %s in %.2f s (%.0f records/s), durable; %" PRIu64
           " bad line%s\n", g.records, g.records == 1 ? "" : "s", g.name, secs,
           secs > 0 ? g.records / secs : 0.0, g.bad, g.bad == 1 ? "" : "s");
    if (g.fatal)
        return g.fatal == SLUICE_EINVAL ? CLI_ABSENT : CLI_USAGE;
    return g.bad ? CLI_ABSENT : CLI_OK;
}
