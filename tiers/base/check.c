#include "check.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void sluice_check_failed(const char *cond, const char *file, int line)
{
    fprintf(stderr, "sluice: invariant broken at %s:%d: %s\n", file, line, cond);
    abort();
}
