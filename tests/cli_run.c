#include "cli_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

char tc_out[1 << 22], tc_err[1 << 16];

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

static int run_argv(const void *in, size_t inlen, int argc, char **argv)
{
    fflush(stdout);
    fflush(stderr);
    FILE *o = tmpfile(), *e = tmpfile(), *i = NULL;
    if (!o || !e)
        abort();
    int so = dup(1), se = dup(2), si = -1;
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    if (in) {
        if (!(i = tmpfile()) || fwrite(in, 1, inlen, i) != inlen)
            abort();
        rewind(i);
        si = dup(0);
        dup2(fileno(i), 0);
        clearerr(stdin);
    }
    int code = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    if (in) {
        dup2(si, 0);
        close(si);
        fclose(i);
        clearerr(stdin);
    }
    slurp(o, tc_out, sizeof tc_out);
    slurp(e, tc_err, sizeof tc_err);
    return code;
}

static int collect(const char *first, va_list ap, char **argv)
{
    argv[0] = "sluice";
    argv[1] = (char *)first;
    int argc = first ? 2 : 1;
    for (char *a; first && (a = va_arg(ap, char *)) && argc < 63;)
        argv[argc++] = a;
    return argc;
}

int tc_run(const char *first, ...)
{
    char *argv[64];
    va_list ap;
    va_start(ap, first);
    int argc = collect(first, ap, argv);
    va_end(ap);
    return run_argv(NULL, 0, argc, argv);
}

int tc_runv(int argc, char **argv)
{
    char *v[64] = {"sluice"};
    for (int i = 0; i < argc && i < 62; i++)
        v[i + 1] = argv[i];
    return run_argv(NULL, 0, argc < 62 ? argc + 1 : 63, v);
}

int tc_run_stdin(const void *in, size_t n, const char *first, ...)
{
    char *argv[64];
    va_list ap;
    va_start(ap, first);
    int argc = collect(first, ap, argv);
    va_end(ap);
    return run_argv(in, n, argc, argv);
}

int tc_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

char *tc_write_file(const char *dir, const char *name, const void *text, size_t n)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(p, "w");
    if (!f || fwrite(text, 1, n, f) != n)
        abort();
    fclose(f);
    return p;
}
