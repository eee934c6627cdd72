/* finops/agg.h - group ledger rows by text keys and sum integer metrics, in memory */
#ifndef TG_FINOPS_AGG_H
#define TG_FINOPS_AGG_H

#include <stdint.h>

/* One group: its n_keys key values (NULL for SQL NULL) and its n_sums sums, both owned
 * by the aggregator and valid until it is destroyed. */
struct tg_agg_group {
    const char **keys;
    int64_t *sums;
};

struct tg_agg;

#define TG_AGG_MAX_KEYS 64

/** An empty aggregator of rows with n_keys (at most TG_AGG_MAX_KEYS) text keys and n_sums integer
 * metrics. Returns owned; aborts when out of memory (tg_malloc). */
struct tg_agg *tg_agg_new(int n_keys, int n_sums);
/** Frees a and every group; accepts NULL. */
void tg_agg_destroy(struct tg_agg *a);

/** Adds one row: the group of keys (copied; NULL is a value of its own, unlike "") gets
 *  vals added to its sums. lens (may be NULL: strlen) are the keys' lengths, e.g. from
 *  sqlite3_column_bytes. Exact integer sums (the caller keeps them in int64 range). */
void tg_agg_add(struct tg_agg *a, const char *const *keys, const int *lens, const int64_t *vals);

/** Number of groups. */
int tg_agg_count(const struct tg_agg *a);

/** Group i (0 <= i < count), in insertion order or the order of the last sort. */
const struct tg_agg_group *tg_agg_at(const struct tg_agg *a, int i);

/** Orders the groups by their keys, as SQLite's ORDER BY 1, 2, ... does: NULL first, then
 *  bytewise (BINARY collation). */
void tg_agg_sort_keys(struct tg_agg *a);

/** Orders the groups with cmp (qsort_r contract; ctx is passed through). */
void tg_agg_sort(struct tg_agg *a,
                 int (*cmp)(const struct tg_agg_group *, const struct tg_agg_group *, void *),
                 void *ctx);

/** Compares two groups' keys [0, n) as tg_agg_sort_keys does (for custom orders). */
int tg_agg_cmp_keys(const struct tg_agg_group *x, const struct tg_agg_group *y, int n);

#endif
