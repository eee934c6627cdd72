/* cli/cmd_pricing.c - `tollgate pricing check|show`: validate rate cards, explain a price */
#include "cli/cli.h"

#include "accounting/pricing.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/money.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate pricing check FILE...\n"
    "       tollgate pricing show MODEL [--provider P] [--date YYYY-MM-DD] [--card FILE]... "
    "[--config FILE]\n"
    "\n"
    "check validates rate-card CSV files (errors name the file, line and column).\n"
    "show prints the row that prices MODEL on a date and why: the shipped card and alias map (or\n"
    "the config's pricing.cards), then each --card layered on top, as `serve` does.\n";

/* basis points as a decimal factor: 5000 -> "0.5" (bps * 1e5 nanos is bps / 1e4 dollars) */
static void multiplier_cell(const char *name, int64_t bps)
{
    char f[32];
    tg_money_format_usd(bps * 100000, f, sizeof f);
    printf("  %-34s x%s\n", name, f);
}

/* A price in USD per million tokens; a price not given shows the one that applies. */
static void price_cell(const char *name, int64_t micros, int64_t dflt, const char *dflt_name)
{
    char usd[32];
    /* micro-dollars per million tokens -> USD per million tokens */
    tg_money_format_usd((micros < 0 ? dflt : micros) * 1000, usd, sizeof usd);
    if (micros < 0)
        printf("  %-34s %s (not given: the %s price)\n", name, usd, dflt_name);
    else
        printf("  %-34s %s\n", name, usd);
}

static int check(int argc, char **argv)
{
    int bad = 0;
    if (argc < 3) {
        fputs(usage_text, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        struct tg_ratecard *rc = tg_pricing_new();
        struct tg_errbuf eb;
        bool aliases = false;
        /* a card or an alias map, told apart by the header (a column named `alias`) */
        if (tg_pricing_check_file(rc, argv[i], &aliases, &eb) != 0) {
            fprintf(stderr, "%s\n", eb.msg);
            bad = 1;
        } else if (aliases) {
            printf("ok: %s: %d aliases\n", argv[i], tg_pricing_aliases(rc));
        } else {
            printf("ok: %s: %d rows\n", argv[i], tg_pricing_rows(rc));
        }
        tg_pricing_destroy(rc);
    }
    return bad;
}

static int show(int argc, char **argv)
{
    const char *model = NULL, *provider = NULL, *date = NULL, *config = NULL;
    struct tg_config cfg;
    struct tg_errbuf eb;
    tg_config_defaults(&cfg);
    int i = 2;
    while (i < argc) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (argv[i][0] != '-') {
            model = argv[i++];
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "tollgate pricing: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--provider") == 0)
            provider = v;
        else if (strcmp(argv[i], "--date") == 0)
            date = v;
        else if (strcmp(argv[i], "--config") == 0)
            config = v;
        else if (strcmp(argv[i], "--card") != 0) {
            fprintf(stderr, "tollgate pricing: unknown option '%s'\n%s", argv[i], usage_text);
            return 2;
        }
        i += 2;
    }
    if (model == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (config != NULL && tg_config_load_file(&cfg, config, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    for (int k = 2; k + 1 < argc; k++)
        if (strcmp(argv[k], "--card") == 0 &&
            tg_config_add_pricing_card(&cfg, argv[k + 1], &eb) != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            return 2;
        }
    int64_t when = tg_now_ms();
    if (date != NULL && tg_parse_time(date, &when) != 0) {
        fprintf(stderr, "tollgate pricing: --date '%s': expected YYYY-MM-DD\n", date);
        return 2;
    }
    struct tg_ratecard *rc = tg_pricing_new();
    int r = 0;
    for (int k = 0; r == 0 && k < cfg.n_pricing_cards; k++)
        r = tg_pricing_load_file(rc, cfg.pricing_cards[k], &eb);
    for (int k = 0; r == 0 && k < cfg.n_pricing_aliases; k++)
        r = tg_pricing_load_aliases_file(rc, cfg.pricing_aliases[k], &eb);
    if (r != 0) {
        fprintf(stderr, "%s\n", eb.msg);
        tg_pricing_destroy(rc);
        return 1;
    }
    static const char *const providers[] = {"openai", "anthropic", "gemini", "bedrock"};
    enum tg_price_match how = TG_PRICE_EXACT;
    const char *resolved = NULL;
    const struct tg_price_row *row = NULL;
    for (size_t k = 0; row == NULL && k < 4; k++)
        if (provider == NULL || strcmp(provider, providers[k]) == 0)
            row = tg_pricing_lookup(rc, provider ? provider : providers[k], model, when, &how,
                                    &resolved);
    if (row == NULL && provider != NULL)
        row = tg_pricing_lookup(rc, provider, model, when, &how, &resolved);
    char day[25];
    tg_iso8601_ms(when, day);
    day[10] = '\0';
    if (row == NULL) {
        printf("%s on %s: unpriced (no exact row, alias or pattern matches); calls are recorded "
               "with a NULL cost\n",
               model, day);
        tg_pricing_destroy(rc);
        return 1;
    }
    static const char *const why[] = {"exact model name", "alias", "longest matching pattern"};
    printf("%s on %s -> %s %s  (%s)\n", model, day, row->provider, row->model, row->ref);
    if (how == TG_PRICE_ALIAS)
        printf("  matched by alias: %s -> %s\n", model, resolved);
    else
        printf("  matched by %s\n", why[how]);
    if (how == TG_PRICE_PATTERN)
        printf("  (no exact row%s)\n", resolved ? ", and the alias' version has none" : "");
    char from[25] = "", to[25] = "open";
    tg_iso8601_ms(row->from_ms, from);
    from[10] = '\0';
    if (row->to_ms != 0) {
        tg_iso8601_ms(row->to_ms, to);
        to[10] = '\0';
    }
    printf("  effective %s .. %s, %s per million tokens; source %s (%s)\n", from, to, row->currency,
           row->source[0] ? row->source : "-", row->source_date[0] ? row->source_date : "-");
    price_cell("input", row->input, 0, "");
    price_cell("cached input", row->cached_input, row->input, "input");
    price_cell("cache write 5m", row->cache_write_5m, row->input, "input");
    price_cell("cache write 1h", row->cache_write_1h, row->input, "input");
    price_cell("output", row->output, 0, "");
    price_cell("reasoning", row->reasoning, row->output, "output");
    price_cell("audio input", row->audio_input, row->input, "input");
    price_cell("audio output", row->audio_output, row->output, "output");
    if (row->web_search_per_1k > 0)
        price_cell("web search per 1,000", row->web_search_per_1k, 0, "");
    if (row->web_fetch_per_1k > 0)
        price_cell("web fetch per 1,000", row->web_fetch_per_1k, 0, "");
    if (row->long_context_threshold > 0) {
        /* the defaults pricing.c applies above the threshold */
        int64_t lc_cached = row->cached_input >= 0 ? row->cached_input : row->lc_input;
        int64_t lc_w5 = row->cache_write_5m >= 0 ? row->cache_write_5m : row->lc_input;
        int64_t lc_w1 = row->cache_write_1h >= 0 ? row->cache_write_1h : row->lc_input;
        printf("  above %lld input tokens:\n", (long long)row->long_context_threshold);
        price_cell("  input", row->lc_input, 0, "");
        price_cell("  cached input", row->lc_cached_input, lc_cached,
                   "cached input (or long-context input)");
        price_cell("  cache write 5m", row->lc_cache_write_5m, lc_w5,
                   "cache write 5m (or long-context input)");
        price_cell("  cache write 1h", row->lc_cache_write_1h, lc_w1,
                   "cache write 1h (or long-context input)");
        price_cell("  output", row->lc_output, 0, "");
    }
    multiplier_cell("service_tier batch", row->batch_bps);
    multiplier_cell("service_tier flex", row->flex_bps);
    multiplier_cell("service_tier priority", row->priority_bps);
    tg_pricing_destroy(rc);
    return 0;
}

int tg_cmd_pricing(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return check(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return show(argc, argv);
    fputs(usage_text, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
    return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
