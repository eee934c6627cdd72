/* core/alloc.c - aborting allocators */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "tollgate: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *tg_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *tg_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *tg_strdup(const char *s)
{
    return tg_strndup(s, strlen(s));
}

char *tg_strndup(const char *s, size_t n)
{
    char *p = tg_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
