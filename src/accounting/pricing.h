/* accounting/pricing.h - rate cards, (provider, model, date) lookup, exact cost components */
#ifndef TG_ACCOUNTING_PRICING_H
#define TG_ACCOUNTING_PRICING_H

#include "core/err.h"
#include "core/record.h"

#include <stdbool.h>
#include <stdint.h>

/* Bounds that keep every intermediate product inside 128 bits (pricing.c, DESIGN). */
#define TG_PRICE_MAX_MICROS 1000000000000LL /* $1,000,000 per million tokens */
#define TG_PRICE_MAX_UNITS  1000000000000LL /* tokens or requests in one call */
#define TG_PRICE_MAX_BPS    100000          /* a tier multiplier of at most 10 */

/* One rate-card row (docs/PRICING.md). Prices are int64 micro-dollars per million tokens
 * (exact for every published price); -1 means "not given" (the documented default
 * applies). */
struct tg_price_row {
    char provider[32];
    char model[128]; /* exact name, or a pattern where '*' matches any run of characters */
    bool is_pattern;
    int64_t from_ms, to_ms; /* effective [from, to); to 0 = open */
    char currency[4];
    int64_t input, cached_input, cache_write_5m, cache_write_1h, output, reasoning, audio_input,
        audio_output;
    int64_t web_search_per_1k, web_fetch_per_1k; /* micro-dollars per 1,000 requests */
    int64_t long_context_threshold; /* input tokens above which the lc_* prices apply; 0 none */
    int64_t lc_input, lc_cached_input, lc_cache_write_5m, lc_cache_write_1h, lc_output;
    int64_t batch_bps, flex_bps, priority_bps; /* tier multipliers, basis points (10000 = 1) */
    char source[256], source_date[16];
    char ref[96]; /* "file:line", the first part of the ledger's price_ref */
    long line;
};

enum tg_price_match { TG_PRICE_EXACT, TG_PRICE_ALIAS, TG_PRICE_PATTERN };

/** "exact", "alias" or "pattern" (the word used in price_ref). */
const char *tg_pricing_match_name(enum tg_price_match how);

struct tg_ratecard;

/** An empty card (no rows, no aliases, no discounts, no fallback). Returns owned. */
struct tg_ratecard *tg_pricing_new(void);
/** Frees rc and every row; accepts NULL. Rows returned by lookup die with it. */
void tg_pricing_destroy(struct tg_ratecard *rc);

/** Adds the rows of a rate-card CSV (docs/PRICING.md) as a new layer: rows of a later
 *  layer win over rows of an earlier one for the same lookup; within one layer the
 *  effective dates of a (provider, model) must not overlap. All or nothing: on error rc
 *  is unchanged. Errors name the file and physical line: "card.csv:12: input_per_mtok
 *  '0.0000001' has more precision than micro-dollars per million tokens". name (borrowed)
 *  is used in messages and price_ref. Load before sharing rc between threads. */
int tg_pricing_load_csv(struct tg_ratecard *rc, const char *name, const char *text,
                        unsigned long len, struct tg_errbuf *eb);
/** Reads path and loads it as tg_pricing_load_csv does, named by its base name. */
int tg_pricing_load_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb);
/** Adds alias -> version rows (CSV: provider,alias,version,effective_from[,effective_to]). */
int tg_pricing_load_aliases_csv(struct tg_ratecard *rc, const char *name, const char *text,
                                unsigned long len, struct tg_errbuf *eb);
int tg_pricing_load_aliases_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb);
/** Loads path as a rate card or as an alias map, decided by its header (a column named
 *  `alias` makes it an alias map); *is_alias_map says which. For `pricing check`. */
int tg_pricing_check_file(struct tg_ratecard *rc, const char *path, bool *is_alias_map,
                          struct tg_errbuf *eb);

/** A negotiated discount on every price of provider, in basis points (1000 = 10%). */
int tg_pricing_set_discount(struct tg_ratecard *rc, const char *provider, int64_t bps,
                            struct tg_errbuf *eb);
/** Prices (micro-dollars per million tokens) that tg_pricing_estimate uses for a model no
 *  row prices, so budgets still count such calls. Unset: no fallback. */
int tg_pricing_set_fallback(struct tg_ratecard *rc, int64_t input_micros, int64_t output_micros,
                            struct tg_errbuf *eb);

/** Number of rate-card rows / alias rows loaded. */
int tg_pricing_rows(const struct tg_ratecard *rc);
int tg_pricing_aliases(const struct tg_ratecard *rc);

/** The row that prices model of provider on date_ms: an exact row for the name (later
 *  layers first), else the alias in force that day (later layers first) and its version's
 *  exact row, else the longest matching pattern (against the name, then the version the
 *  alias resolved to). NULL when unpriced. *how says which; *resolved (may be NULL) gets
 *  the version an alias resolved to, or NULL. Returns a row borrowed from rc. Pure. */
const struct tg_price_row *tg_pricing_lookup(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t date_ms,
                                             enum tg_price_match *how, const char **resolved);

/** Prices a finished call into rec's cost columns and price_ref. The response model wins
 *  over the request model (the request model is used only when the provider reported
 *  none); the date is rec->started_at_ms. Each component is computed exactly and rounded
 *  half-up once to a whole nano-dollar (long-context prices when input exceeds the
 *  threshold, the service tier's multiplier, the provider's discount); list_cost_nanos is
 *  the same without the discount; cost_nanos is DEFINED as the sum of the rounded
 *  components, so they always agree. Returns false and leaves is_priced false, every cost 0
 *  and price_ref "" (NULL in the ledger, never $0) when no row applies or the usage is out
 *  of range (a negative count or more than TG_PRICE_MAX_UNITS). Pure; any thread. */
bool tg_pricing_cost(const struct tg_ratecard *rc, struct tg_call_record *rec);

/* The unit prices one call was priced at (the FOCUS export's ListUnitPrice). */
struct tg_unit_prices {
    int64_t input, cached, write_5m, write_1h, output, reasoning, audio_in,
        audio_out;         /* micro-
dollars per million tokens, defaults filled */
    int64_t search, fetch; /* micro-dollars per 1,000 requests */
    int64_t tier_bps;      /* the service tier's multiplier (10000 = 1); list prices: no discount */
};

/** The prices a ledger row's price_ref ("card.csv:3:exact", "...:pattern:long_context")
 *  applied to a call of provider at service_tier (may be NULL or ""): the loaded row whose
 *  "file:line" and provider match (the last one loaded when several do), its long-context
 *  prices when the ref says so, every default filled, without the discount. Returns 0, or
 *  TG_ERR_NOTFOUND when no loaded row matches (not loaded, or the card was edited since:
 *  a row is named by its line). Pure; any thread. */
int tg_pricing_ref_prices(const struct tg_ratecard *rc, const char *provider, const char *price_ref,
                          const char *service_tier, struct tg_unit_prices *out);

/* A budget estimate: an upper bound for a call before it runs, or a charge for a call no
 * row prices. */
struct tg_price_estimate {
    int64_t nanos;
    bool is_fallback;   /* no row applies: the fallback prices were used; flag the row */
    char price_ref[96]; /* the row's "file:line:how", or "fallback" */
};

/** Estimates what input_tokens in and at most max_output_tokens out cost on date_ms: input
 *  at the highest input-side price of the row (uncached, cache write, audio; long-context
 *  prices above the threshold), output at the highest output-side price, the tier
 *  multiplier of service_tier (may be NULL or ""), the provider's discount, rounded
 *  half-up once. Server-tool fees are not included. A model no row prices uses the
 *  fallback prices (no tier, no discount) and sets is_fallback. Returns 0, TG_ERR_NOTFOUND
 *  when unpriced and no fallback is set, TG_ERR_INVALID when a count is out of range. */
int tg_pricing_estimate(const struct tg_ratecard *rc, const char *provider, const char *model,
                        int64_t date_ms, int64_t input_tokens, int64_t max_output_tokens,
                        const char *service_tier, struct tg_price_estimate *out);

#endif
