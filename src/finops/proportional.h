/* finops/proportional.h - spreading unattributed spend by the attributed shares of its key */
#ifndef TG_FINOPS_PROPORTIONAL_H
#define TG_FINOPS_PROPORTIONAL_H

#include "core/err.h"

#include <sqlite3.h>
#include <stdint.h>

/** Largest-remainder split: parts[i] = floor(amount * weights[i] / W) (W = the sum of the
 *  weights, which must be > 0; weights >= 0), then one more unit to each of the
 *  (amount - sum of floors) parts with the largest remainders, ties to the lower index.
 *  The parts sum exactly to amount; a negative amount is split as its magnitude, negated.
 *  Products are exact (128-bit). */
void tg_alloc_split(int64_t amount, const int64_t *weights, int n, int64_t *parts);

/** The column whose attributed spend sets the shares of an unattributed call: key_id, or
 *  service when field (the grouping field) is key_id itself. */
const char *tg_alloc_basis(const char *field);

/** Attributed priced spend per (basis value, field value) over a range of UTC days. */
struct tg_alloc_share {
    char *basis, *target;
    int64_t weight_nanos; /* > 0 */
};
struct tg_alloc_shares {
    struct tg_alloc_share *v;
    int n;
};

/** Loads the shares of field (a whitelisted ledger column name; the caller checks it) for
 *  days from..to (inclusive): rows with both the basis and the field set and a positive
 *  summed cost, ordered by basis then target. s is owned by the caller
 *  (tg_alloc_shares_free). TG_ERR_IO on SQLite errors. */
int tg_alloc_shares_load(sqlite3 *db, const char *field, const char *from, const char *to,
                         struct tg_alloc_shares *s, struct tg_errbuf *eb);

/** The shares of one basis value: returns how many (0 when the basis has no attributed
 *  spend: the call stays unattributed) and their first index in *first. */
int tg_alloc_shares_find(const struct tg_alloc_shares *s, const char *basis, int *first);

void tg_alloc_shares_free(struct tg_alloc_shares *s);

#endif
