/* accounting/pricing.h - rate cards, (provider, model, date) lookup, exact cost components */
#ifndef TG_ACCOUNTING_PRICING_H
#define TG_ACCOUNTING_PRICING_H

#include "core/err.h"
#include "core/record.h"

#include <stdbool.h>
#include <stdint.h>

/* One rate-card row. Prices are int64 micro-dollars per million tokens (exact for every
 * published price); -1 means "not given" (the documented default applies). */
struct tg_price_row {
    char provider[32];
    char model[128]; /* exact name, or a pattern with '*' */
    bool is_pattern;
    int64_t from_ms, to_ms; /* effective [from, to); to 0 = open */
    char currency[4];
    int64_t input, cached_input, cache_write_5m, cache_write_1h, output, reasoning, audio_input,
        audio_output;
    int64_t web_search_per_1k, web_fetch_per_1k; /* micro-dollars per 1,000 requests */
    int64_t long_context_threshold; /* input tokens above which the lc_* prices apply; 0 none */
    int64_t lc_input, lc_cached_input, lc_output;
    int64_t batch_bps, priority_bps; /* tier multipliers in basis points (10000 = 1.0) */
    char source[256], source_date[16];
    char ref[96]; /* "file:line", stored in the ledger's price_ref */
};

enum tg_price_match { TG_PRICE_EXACT, TG_PRICE_ALIAS, TG_PRICE_PATTERN };

struct tg_ratecard;

/** An empty card (no rows, no aliases, no discounts). */
struct tg_ratecard *tg_pricing_new(void);
void tg_pricing_destroy(struct tg_ratecard *rc);

/** Adds the rows of a rate-card CSV (docs/PRICING.md). Layers: rows from a later file win
 *  over rows of an earlier one for the same lookup. Errors name the file, line and
 *  column: "card.csv:12: input_per_mtok '0.0000001' has more precision than
 *  micro-dollars per million tokens". name is used in messages and price_ref. */
int tg_pricing_load_csv(struct tg_ratecard *rc, const char *name, const char *text,
                        unsigned long len, struct tg_errbuf *eb);
int tg_pricing_load_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb);
/** Adds alias -> version rows (CSV: provider,alias,version,effective_from,effective_to). */
int tg_pricing_load_aliases_csv(struct tg_ratecard *rc, const char *name, const char *text,
                                unsigned long len, struct tg_errbuf *eb);
int tg_pricing_load_aliases_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb);
/** A negotiated discount on every price of provider, in basis points (1000 = 10%). */
int tg_pricing_set_discount(struct tg_ratecard *rc, const char *provider, int64_t bps,
                            struct tg_errbuf *eb);

/** Number of rows loaded. */
int tg_pricing_rows(const struct tg_ratecard *rc);

/** The row that prices model of provider on date_ms: exact name first (later layers
 *  first), then the alias -> version map, then the longest matching pattern. NULL when
 *  unpriced. *how and *resolved (the version an alias resolved to; may be NULL) say why. */
const struct tg_price_row *tg_pricing_lookup(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t date_ms,
                                             enum tg_price_match *how, const char **resolved);

/** Prices a finished call into rec's cost columns: the response model wins over the
 *  request model; tokens per component at the row's prices (the long-context prices when
 *  input exceeds the threshold; the service tier's multiplier), each component rounded
 *  half-up to a whole nano-dollar, list_cost_nanos their sum, the provider's discount
 *  applied per component for the effective cost, cost_nanos = the sum of the effective
 *  components (so they always agree). Unknown model: is_priced false, costs NULL in the
 *  ledger — never 0. Returns true when priced. Pure; any thread. */
bool tg_pricing_cost(const struct tg_ratecard *rc, struct tg_call_record *rec);

#endif
