/* tests/fuzz/fuzz_ratecard.c - rate-card and alias-map CSV loading, lookup and costing on
 * arbitrary input: no crash, no leak, loads are all or nothing, components always sum */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounting/pricing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input is a card; when it contains a form feed, the part after it is an alias map
 * loaded on top, so both loaders and the alias step of the lookup are reached. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    const char *text = (const char *)data;
    const char *ff = memchr(text, '\f', size);
    size_t card_len = ff != NULL ? (size_t)(ff - text) : size;
    if (tg_pricing_load_csv(rc, "fuzz.csv", text, card_len, &eb) != 0 && tg_pricing_rows(rc) != 0)
        abort(); /* a failed load leaves nothing behind */
    if (ff != NULL) {
        int before = tg_pricing_aliases(rc);
        if (tg_pricing_load_aliases_csv(rc, "aliases.csv", ff + 1, size - card_len - 1, &eb) != 0 &&
            tg_pricing_aliases(rc) != before)
            abort();
    }
    (void)tg_pricing_set_discount(rc, "openai", 1234, &eb);
    (void)tg_pricing_set_fallback(rc, 1000000, 2000000, &eb);

    /* price the names the corpus cards use on a few dates, with awkward usage */
    static const char *const names[] = {"gpt-4o", "gpt-4o-2024-08-06", "", "*", "a*b"};
    static const char *const providers[] = {"openai", "anthropic", "gemini", "bedrock"};
    static const int64_t dates[] = {0, 1735689600000LL, 1767225600000LL, INT64_MAX};
    static const int64_t counts[] = {0, 1, 199999, 200001, TG_PRICE_MAX_UNITS, -1};
    for (size_t p = 0; p < sizeof providers / sizeof providers[0]; p++)
        for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
            for (size_t d = 0; d < sizeof dates / sizeof dates[0]; d++) {
                struct tg_call_record r;
                struct tg_price_estimate e;
                memset(&r, 0, sizeof r);
                snprintf(r.provider, sizeof r.provider, "%s", providers[p]);
                snprintf(r.request_model, sizeof r.request_model, "%s", names[n]);
                r.started_at_ms = dates[d];
                size_t c = (p + n + d) % (sizeof counts / sizeof counts[0]);
                r.usage.input_tokens = counts[c];
                r.usage.cached_input_tokens = counts[(c + 1) % 6];
                r.usage.cache_write_1h_tokens = counts[(c + 2) % 6] / 2;
                r.usage.output_tokens = counts[(c + 3) % 6];
                r.usage.reasoning_tokens = counts[(c + 4) % 6];
                r.usage.web_search_requests = counts[(c + 5) % 6] % 7;
                snprintf(r.usage.service_tier, sizeof r.usage.service_tier, "%s",
                         d % 2 ? "batch" : "priority");
                if (tg_pricing_cost(rc, &r) && r.input_cost_nanos + r.cached_input_cost_nanos +
                                                       r.cache_write_cost_nanos +
                                                       r.output_cost_nanos + r.other_cost_nanos !=
                                                   r.cost_nanos)
                    abort();
                (void)tg_pricing_estimate(rc, providers[p], names[n], dates[d], counts[c],
                                          counts[(c + 3) % 6], "flex", &e);
            }
    tg_pricing_destroy(rc);
    return 0;
}
