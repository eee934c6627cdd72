/* providers/json_util.c - typed, bounds-checked lookups in provider JSON */
#include "providers/json_util.h"

#include "core/alloc.h"
#include "core/record.h"

#include <stdlib.h>
#include <string.h>

/* Each key is compared in place (no copy of the segment, no cJSON_GetObjectItem): a
 * chat answer's usage takes ~20 lookups. Like cJSON's lookup, the first equal key wins. */
const cJSON *tg_json_path(const cJSON *obj, const char *path)
{
    for (const char *p = path; obj != NULL && *p != '\0';) {
        size_t n = 0; /* the segment's length: paths are a few short keys */
        while (p[n] != '\0' && p[n] != '.')
            n++;
        if (!cJSON_IsObject(obj))
            return NULL;
        const cJSON *c = obj->child; /* the first byte first: most keys differ there */
        while (c != NULL && !(c->string != NULL && (n == 0 || c->string[0] == p[0]) &&
                              strncmp(c->string, p, n) == 0 && c->string[n] == '\0'))
            c = c->next;
        obj = c;
        p += n + (p[n] == '.');
    }
    return obj;
}

int64_t tg_json_count_value(const cJSON *v)
{
    if (!cJSON_IsNumber(v))
        return 0;
    /* cJSON keeps the number as a double; token counts are far below 2^53, and anything
     * negative, fractional or absurd is treated as not reported */
    if (v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return 0;
    return (int64_t)v->valuedouble;
}

int64_t tg_json_count(const cJSON *obj, const char *path)
{
    return tg_json_count_value(tg_json_path(obj, path));
}

void tg_json_counts(const cJSON *obj, const struct tg_json_field *fields, size_t n)
{
    if (!cJSON_IsObject(obj) || n > 32)
        return;
    uint32_t todo = n == 32 ? UINT32_MAX : (1u << n) - 1; /* fields whose member is unseen */
    for (const cJSON *c = obj->child; c != NULL && todo != 0; c = c->next) {
        if (c->string == NULL)
            continue;
        for (size_t i = 0; i < n; i++) {
            const struct tg_json_field *f = &fields[i];
            if ((todo >> i & 1) == 0 || f->key[0] != c->string[0] || strcmp(f->key, c->string) != 0)
                continue;
            todo &= ~(1u << i);
            if (f->node != NULL)
                *f->node = c;
            if (f->count != NULL && cJSON_IsNumber(c))
                *f->count = tg_json_count_value(c);
            break;
        }
    }
}

bool tg_json_has_number(const cJSON *obj, const char *path)
{
    return cJSON_IsNumber(tg_json_path(obj, path));
}

void tg_json_copy_str(const cJSON *obj, const char *path, char *dst, unsigned dstlen)
{
    const cJSON *v = tg_json_path(obj, path);
    if (cJSON_IsString(v) && v->valuestring != NULL)
        tg_field_set(dst, dstlen, v->valuestring, strlen(v->valuestring));
}

/* --- the arena --------------------------------------------------------------------------
 * The gateway opens a scope around each provider call that parses a request, a response,
 * a stream event or an error body (server/proxy.c): every node of those trees used to
 * cost a malloc and a free (about 5% of a proxied call's instructions). Arena memory is
 * thread-local static storage, so AddressSanitizer does not see misuse of a tree inside
 * a scope; the fuzz targets run the same provider parsers without the hooks, where it
 * does. */

#define ARENA_BYTES (64u << 10)

static _Thread_local struct {
    size_t used;
    int depth;
    bool spilled; /* this scope fell back to malloc at least once */
    _Alignas(16) unsigned char mem[ARENA_BYTES];
} arena;

static void *arena_malloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (arena.depth > 0 && need <= ARENA_BYTES - arena.used) {
        void *p = arena.mem + arena.used;
        arena.used += need;
        return p;
    }
    arena.spilled = arena.spilled || arena.depth > 0;
    return tg_malloc(n); /* out of memory aborts, as everywhere */
}

static void arena_free(void *p)
{
    const unsigned char *b = p;
    if (b >= arena.mem && b < arena.mem + ARENA_BYTES)
        return; /* released all at once by tg_json_arena_end */
    free(p);
}

void tg_json_hooks_install(void)
{
    cJSON_Hooks h = {arena_malloc, arena_free};
    cJSON_InitHooks(&h);
}

void tg_json_arena_begin(void)
{
    arena.depth++;
}

void tg_json_arena_end(void)
{
    if (--arena.depth == 0) {
        arena.used = 0;
        arena.spilled = false;
    }
}

void tg_json_delete(cJSON *j)
{
    const unsigned char *b = (const unsigned char *)j;
    if (arena.depth > 0 && !arena.spilled && b >= arena.mem && b < arena.mem + ARENA_BYTES)
        return; /* every node is in the arena: walking the tree to free nothing cost ~5k
                 * instructions a call */
    cJSON_Delete(j);
}
