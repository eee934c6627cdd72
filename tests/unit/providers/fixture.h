/* tests/unit/providers/fixture.h - load a file from tests/fixtures */
#ifndef TG_TEST_FIXTURE_H
#define TG_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

/* Reads $TG_FIXTURES/name into a NUL-terminated malloc'd buffer; aborts when missing. */
static inline char *fixture_load(const char *name, size_t *len)
{
    char path[1024];
    const char *dir = getenv("TG_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "missing fixture %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
        abort();
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
