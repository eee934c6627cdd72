/* finops/proportional.c - proportional allocation of unattributed spend (an estimate)
 *
 * A call whose grouping field (team, cost_center, ...) is NULL is spread over the values
 * that field takes on the attributed calls of the same virtual key (key_id; service when
 * the grouping field is key_id), in proportion to their priced spend over the same range.
 * A key with no attributed spend at all, or a call without a key, stays unattributed: an
 * estimate needs a basis, and no basis is invented.
 *
 * DESIGN (money). The split is integer arithmetic with the largest-remainder rule, so the
 * parts of a call (or of a pool) add up to its nano-dollars exactly and a report's total
 * still equals the ledger's total to the nano-dollar. Products are taken in 128 bits:
 * a day's spend of a key times another's never overflows. */
#include "finops/proportional.h"

#include "core/alloc.h"
#include "store/sqlite_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_alloc_split(int64_t amount, const int64_t *weights, int n, int64_t *parts)
{
    bool neg = amount < 0;
    __int128 a = neg ? -(__int128)amount : amount, total = 0, given = 0;
    __int128 *rem = tg_calloc((size_t)(n > 0 ? n : 1), sizeof *rem);
    for (int i = 0; i < n; i++)
        total += weights[i];
    for (int i = 0; i < n; i++) {
        __int128 num = a * weights[i];
        parts[i] = (int64_t)(num / total);
        rem[i] = num % total;
        given += parts[i];
    }
    /* hand out the leftover units, largest remainder first; fewer than n remain */
    for (__int128 left = a - given; left > 0; left--) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (rem[i] >= 0 && (best < 0 || rem[i] > rem[best]))
                best = i;
        parts[best]++;
        rem[best] = -1; /* at most one extra unit each */
    }
    if (neg)
        for (int i = 0; i < n; i++)
            parts[i] = -parts[i];
    free(rem);
}

const char *tg_alloc_basis(const char *field)
{
    return strcmp(field, "key_id") == 0 ? "service" : "key_id";
}

int tg_alloc_shares_load(sqlite3 *db, const char *field, const char *from, const char *to,
                         struct tg_alloc_shares *s, struct tg_errbuf *eb)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int rc = 0, step, cap = 0;
    const char *basis = tg_alloc_basis(field);
    memset(s, 0, sizeof *s);
    snprintf(sql, sizeof sql,
             "SELECT %s, %s, sum(cost_nanos) FROM calls WHERE " TG_LEDGER_DAYS " AND %s IS "
             "NOT NULL AND %s IS NOT NULL AND cost_nanos IS NOT NULL GROUP BY 1, 2 HAVING "
             "sum(cost_nanos) > 0 ORDER BY 1, 2",
             basis, field, basis, field);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "allocation shares: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (s->n == cap) {
            cap = cap ? cap * 2 : 32;
            s->v = tg_realloc(s->v, (size_t)cap * sizeof *s->v);
        }
        struct tg_alloc_share *x = &s->v[s->n++];
        x->basis = tg_strdup((const char *)sqlite3_column_text(st, 0));
        x->target = tg_strdup((const char *)sqlite3_column_text(st, 1));
        x->weight_nanos = sqlite3_column_int64(st, 2);
    }
    if (step != SQLITE_DONE)
        rc = tg_errf(eb, TG_ERR_IO, "allocation shares: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    if (rc != 0)
        tg_alloc_shares_free(s);
    return rc;
}

int tg_alloc_shares_find(const struct tg_alloc_shares *s, const char *basis, int *first)
{
    int i = 0, n = 0;
    *first = 0;
    if (basis == NULL)
        return 0;
    while (i < s->n && strcmp(s->v[i].basis, basis) != 0)
        i++;
    *first = i;
    while (i + n < s->n && strcmp(s->v[i + n].basis, basis) == 0)
        n++;
    return n;
}

void tg_alloc_shares_free(struct tg_alloc_shares *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->v[i].basis);
        free(s->v[i].target);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}
