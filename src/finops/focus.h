/* finops/focus.h - the FOCUS 1.2 cost-and-usage export of the ledger (docs/FOCUS.md) */
#ifndef TG_FINOPS_FOCUS_H
#define TG_FINOPS_FOCUS_H

#include "core/err.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

enum tg_focus_granularity { TG_FOCUS_CALL, TG_FOCUS_HOUR, TG_FOCUS_DAY };

struct tg_ratecard;

struct tg_focus_query {
    char from[11], to[11]; /* inclusive UTC days, YYYY-MM-DD */
    enum tg_focus_granularity granularity;
    /* the rate cards (borrowed, may be NULL): a row's price_ref found in them gives its
     * ListUnitPrice, and ListCost = ListUnitPrice x PricingQuantity exactly */
    const struct tg_ratecard *card;
};

/* What an export wrote, for the command's stderr summary and for tests. */
struct tg_focus_summary {
    int64_t rows;           /* data rows written (the header not counted) */
    int64_t calls;          /* ledger rows of the range that produced at least one row */
    int64_t billed_nanos;   /* sum of BilledCost: equals sum(cost_nanos) of the range */
    int64_t unpriced_calls; /* calls with a NULL cost: their rows have empty cost columns */
    int64_t unpriced_rows;
    int64_t unpriced_tokens; /* tokens (and server-tool requests) on those rows */
};

/** Parses "call", "hour" or "day". TG_ERR_INVALID otherwise. */
int tg_focus_parse_granularity(const char *s, enum tg_focus_granularity *out);

/** Writes the FOCUS 1.2 CSV of the ledger calls whose UTC day is in [q->from, q->to] to
 *  out (borrowed): a header line, then one row per (charge period, owner, model, price
 *  row, service tier, cost component) — per call and component at call granularity.
 *  ListUnitPrice comes from q->card by each row's price_ref (NULL when not found or when
 *  the component mixes prices), ListCost = ListUnitPrice x PricingQuantity. BilledCost sums to
 *  the ledger's sum(cost_nanos) of the range exactly; calls with a NULL cost keep their
 *  rows with empty cost columns and x_CostStatus "unpriced" (never $0). Fills *sum (may
 *  be NULL). Errors: TG_ERR_IO (SQLite or a failed write) with a message in eb. */
int tg_focus_export(sqlite3 *db, const struct tg_focus_query *q, FILE *out,
                    struct tg_focus_summary *sum, struct tg_errbuf *eb);

#endif
