/* finops/agg.c - in-memory GROUP BY for the FinOps outputs: text keys, int64 sums
 *
 * DESIGN. SQLite's GROUP BY sorts every input row before it can sum them (no index covers
 * the report keys, and one per report would tax the insert path), which cost ~2 s of a
 * month of one million calls. Here one pass over the rows hashes each row's keys in
 * place into an open-addressing table (linear probing, at most half full), compares them
 * with the group's without copying, and adds the metrics; only the groups (thousands, not millions)
 * are sorted afterwards. Groups live in a chunked arena that never moves, so the pointers handed
 * out stay valid until tg_agg_destroy. Sums are plain int64 additions of nano-dollars and counts:
 * exact. */
#include "finops/agg.h"

#include "core/alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct grp {
    uint64_t hash;
    struct tg_agg_group pub;
    uint32_t *lens; /* of each key; 0 for NULL (told apart by the NULL pointer) */
};

struct block {
    struct block *next;
    size_t used, cap;
    unsigned char data[];
};

struct tg_agg {
    int n_keys, n_sums;
    struct grp **slots; /* hash table, capacity a power of two */
    size_t cap;
    struct grp **order; /* groups in insertion or sorted order */
    size_t n, order_cap;
    struct block *blocks;
};

static void *arena(struct tg_agg *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct block *b = a->blocks;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        b = tg_malloc(sizeof *b + cap);
        b->next = a->blocks;
        b->used = 0;
        b->cap = cap;
        a->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

struct tg_agg *tg_agg_new(int n_keys, int n_sums)
{
    if (n_keys > TG_AGG_MAX_KEYS)
        abort(); /* a programming error: the key tables are constants */
    struct tg_agg *a = tg_calloc(1, sizeof *a);
    a->n_keys = n_keys;
    a->n_sums = n_sums;
    a->cap = 1024;
    a->slots = tg_calloc(a->cap, sizeof *a->slots);
    return a;
}

void tg_agg_destroy(struct tg_agg *a)
{
    if (a == NULL)
        return;
    while (a->blocks != NULL) {
        struct block *next = a->blocks->next;
        free(a->blocks);
        a->blocks = next;
    }
    free(a->slots);
    free(a->order);
    free(a);
}

/* Eight bytes a step, multiply-xorshift mixing (the keys are short ASCII). */
static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static void grow(struct tg_agg *a)
{
    size_t cap = a->cap * 2;
    struct grp **slots = tg_calloc(cap, sizeof *slots);
    for (size_t i = 0; i < a->cap; i++) {
        struct grp *g = a->slots[i];
        if (g == NULL)
            continue;
        size_t j = g->hash & (cap - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = g;
    }
    free(a->slots);
    a->slots = slots;
    a->cap = cap;
}

/* Copies the keys of a new group into the arena: the pointers, the sums, the lengths,
 * then each key's bytes and a NUL. */
static struct grp *create(struct tg_agg *a, uint64_t hash, const char *const *keys,
                          const size_t *len)
{
    size_t bytes = 0;
    for (int i = 0; i < a->n_keys; i++)
        bytes += keys[i] != NULL ? len[i] + 1 : 0;
    struct grp *g = arena(a, sizeof *g + (size_t)a->n_keys * sizeof(char *) +
                                 (size_t)a->n_sums * sizeof(int64_t) +
                                 (size_t)a->n_keys * sizeof(uint32_t) + bytes);
    char *p = (char *)(g + 1);
    g->hash = hash;
    g->pub.keys = (const char **)p;
    p += (size_t)a->n_keys * sizeof(char *);
    g->pub.sums = (int64_t *)p;
    memset(g->pub.sums, 0, (size_t)a->n_sums * sizeof(int64_t));
    p += (size_t)a->n_sums * sizeof(int64_t);
    g->lens = (uint32_t *)p;
    p += (size_t)a->n_keys * sizeof(uint32_t);
    for (int i = 0; i < a->n_keys; i++) {
        g->lens[i] = keys[i] != NULL ? (uint32_t)len[i] : 0;
        if (keys[i] == NULL) {
            g->pub.keys[i] = NULL;
            continue;
        }
        memcpy(p, keys[i], len[i]);
        p[len[i]] = '\0';
        g->pub.keys[i] = p;
        p += len[i] + 1;
    }
    if (a->n == a->order_cap) {
        a->order_cap = a->order_cap ? a->order_cap * 2 : 1024;
        a->order = tg_realloc(a->order, a->order_cap * sizeof *a->order);
    }
    a->order[a->n++] = g;
    return g;
}

static bool same_keys(const struct tg_agg *a, const struct grp *g, const char *const *keys,
                      const size_t *len)
{
    for (int i = 0; i < a->n_keys; i++) {
        const char *k = g->pub.keys[i];
        if (k == NULL || keys[i] == NULL) {
            if (k != keys[i])
                return false;
            continue;
        }
        if (g->lens[i] != len[i] || memcmp(k, keys[i], len[i]) != 0)
            return false;
    }
    return true;
}

void tg_agg_add(struct tg_agg *a, const char *const *keys, const int *lens, const int64_t *vals)
{
    /* hashed and compared in place: a row's keys are copied only when they start a group */
    size_t len[TG_AGG_MAX_KEYS];
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < a->n_keys; i++) {
        if (keys[i] == NULL) {
            len[i] = 0;
            h = (h ^ 0x5bd1e9955bd1e995ULL) * 0xff51afd7ed558ccdULL; /* NULL differs from "" */
        } else {
            len[i] = lens != NULL ? (size_t)lens[i] : strlen(keys[i]);
            h = (h ^ hash_bytes((const unsigned char *)keys[i], len[i])) * 0xc4ceb9fe1a85ec53ULL;
        }
        h ^= h >> 31;
    }
    size_t j = h & (a->cap - 1);
    struct grp *g;
    for (;;) {
        g = a->slots[j];
        if (g == NULL) {
            g = create(a, h, keys, len);
            a->slots[j] = g;
            if (a->n * 2 > a->cap)
                grow(a);
            break;
        }
        if (g->hash == h && same_keys(a, g, keys, len))
            break;
        j = (j + 1) & (a->cap - 1);
    }
    for (int i = 0; i < a->n_sums; i++)
        g->pub.sums[i] += vals[i];
}

int tg_agg_count(const struct tg_agg *a)
{
    return (int)a->n;
}

const struct tg_agg_group *tg_agg_at(const struct tg_agg *a, int i)
{
    return &a->order[i]->pub;
}

int tg_agg_cmp_keys(const struct tg_agg_group *x, const struct tg_agg_group *y, int n)
{
    for (int i = 0; i < n; i++) {
        const char *p = x->keys[i], *q = y->keys[i];
        if (p == q)
            continue;
        if (p == NULL || q == NULL)
            return p == NULL ? -1 : 1;
        int c = strcmp(p, q); /* bytewise, as SQLite's BINARY collation for UTF-8 text */
        if (c != 0)
            return c;
    }
    return 0;
}

struct sort_ctx {
    int (*cmp)(const struct tg_agg_group *, const struct tg_agg_group *, void *);
    void *ctx;
};

static int cmp_grp(const void *x, const void *y, void *ctx)
{
    const struct sort_ctx *s = ctx;
    return s->cmp(&(*(struct grp *const *)x)->pub, &(*(struct grp *const *)y)->pub, s->ctx);
}

void tg_agg_sort(struct tg_agg *a,
                 int (*cmp)(const struct tg_agg_group *, const struct tg_agg_group *, void *),
                 void *ctx)
{
    struct sort_ctx s = {cmp, ctx};
    if (a->n > 1)
        qsort_r(a->order, a->n, sizeof *a->order, cmp_grp, &s);
}

static int by_keys(const struct tg_agg_group *x, const struct tg_agg_group *y, void *ctx)
{
    return tg_agg_cmp_keys(x, y, *(const int *)ctx);
}

void tg_agg_sort_keys(struct tg_agg *a)
{
    tg_agg_sort(a, by_keys, &a->n_keys);
}
