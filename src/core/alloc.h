/* core/alloc.h - allocation that never returns NULL (out of memory aborts, as in Redis and h2o) */
#ifndef TG_CORE_ALLOC_H
#define TG_CORE_ALLOC_H

#include <stddef.h>

/** malloc/calloc/realloc/strdup that abort on failure; never return NULL. */
void *tg_malloc(size_t n);
void *tg_calloc(size_t n, size_t size);
void *tg_realloc(void *p, size_t n);
char *tg_strdup(const char *s);
/** Copies n bytes of s and NUL-terminates; s need not be terminated. */
char *tg_strndup(const char *s, size_t n);

#endif
