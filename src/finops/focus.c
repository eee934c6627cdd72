/* finops/focus.c - `tollgate export focus`: the ledger as a FOCUS 1.2 cost-and-usage CSV
 *
 * One row per (charge period, owner, model, rate-card row, cost component), or per call
 * and component at call granularity. The components are the ledger's own
 * (input_cost_nanos, cached_input_cost_nanos, cache_write_cost_nanos, output_cost_nanos,
 * other_cost_nanos): each becomes a SKU of the model with its token count as the
 * consumed and priced quantity. docs/FOCUS.md lists every column and where it comes from.
 *
 * DESIGN (money). Integer nano-dollars are summed per group (finops/agg.c) and
 * formatted to decimal USD only when a field is written, so BilledCost adds up to the ledger's
 * sum(cost_nanos) to the nano-dollar (the components sum to cost_nanos by definition,
 * docs/PRICING.md). ListCost splits the group's list_cost_nanos over its components in
 * proportion to their cost, the rounding remainder going to the dearest component, so
 * it too sums exactly. A call with a NULL cost (unpriced) is never written as $0: its
 * rows keep their quantities and leave every cost column empty, flagged
 * x_CostStatus=unpriced, and the caller reports them on stderr. The ledger keeps no unit
 * prices: a row's price_ref is looked up in the rate cards given (tg_pricing_ref_prices)
 * and, when the component has one price, ListUnitPrice is that price times the tier's
 * multiplier and ListCost = ListUnitPrice x PricingQuantity exactly (10 + 6 decimals in
 * 128 bits); otherwise ListUnitPrice is NULL and ListCost the ledger's split above. */
#include "finops/focus.h"

#include "accounting/pricing.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/money.h"
#include "finops/agg.h"
#include "finops/report.h"
#include "store/sqlite_store.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Result columns of the query: the group keys, then the metrics, then the per-call
 * extras. (Joining the owner columns into one quote()d text column in SQL was tried: it
 * doubled the time, string building in SQLite costs more than decoding ten columns.) */
enum {
    C_PERIOD,
    C_PROVIDER,
    C_MODEL,
    C_REF,
    C_UNPRICED,
    C_TIER,   /* service_tier: it decides the unit price */
    C_TENANT, /* C_TENANT .. C_SERVICE: the attribution fields, in attr_names order */
    C_TEAM,
    C_COST_CENTER,
    C_FEATURE,
    C_WORKFLOW,
    C_ACTOR,
    C_ACTOR_TYPE,
    C_ENVIRONMENT,
    C_SERVICE,
    C_TAGS,
    N_KEYS,
    C_COUNTS = N_KEYS,      /* the counts of count_sql */
    C_COST = C_COUNTS + 10, /* C_COST + k: the cost of component k (10 = N_COUNTS) */
    C_LIST = C_COST + 5,
    C_CALL_ID, /* per call only */
    C_REQUEST_ID,
    C_ENDED_AT,
};
/* the sums of a group; calls and the cost total are computed here, not selected, to keep
 * the columns SQLite decodes per row to the minimum */
enum {
    S_CALLS,
    S_QTY,
    S_COST = S_QTY + 5,
    S_COST_TOTAL = S_COST + 5,
    S_LIST_TOTAL,
    S_SUB, /* S_SUB + T_*: the token types inside the components, for their unit prices */
    N_SUMS = S_SUB + 7,
};
/* inside input: audio; cache writes by TTL; inside output: reasoning, audio; requests */
enum { T_AUDIO_IN, T_WRITE_5M, T_WRITE_1H, T_REASONING, T_AUDIO_OUT, T_SEARCH, T_FETCH };

/* One result row or one group: the keys (NULL = SQL NULL) with their lengths, the sums,
 * and the per-call extras (NULL when aggregated). Borrowed from the statement or the
 * aggregator. */
struct src {
    const char *k[N_KEYS];
    int len[N_KEYS];
    const char *call_id, *request_id, *ended_at;
    int64_t v[N_SUMS];
};

static const char *const attr_names[] = {"tenant_id",  "team",        "cost_center",
                                         "feature_id", "workflow_id", "actor_id",
                                         "actor_type", "environment", "service"};
#define N_ATTR (int)(sizeof attr_names / sizeof attr_names[0])

enum { K_INPUT, K_CACHED, K_WRITE, K_OUTPUT, K_OTHER, K_N };

/* One SKU per ledger cost component. */
static const struct {
    const char *type, *meter, *description, *consumed_unit, *pricing_unit;
    int scale; /* PricingQuantity = quantity / 10^scale */
} skus[K_N] = {
    {"input", "Input Tokens", "input tokens", "Tokens", "1000000 Tokens", 6},
    {"cached_input", "Cached Input Tokens", "cached input tokens", "Tokens", "1000000 Tokens", 6},
    {"cache_write", "Cache Write Tokens", "cache write tokens", "Tokens", "1000000 Tokens", 6},
    {"output", "Output Tokens", "output tokens", "Tokens", "1000000 Tokens", 6},
    {"other", "Server Tool Requests", "server-tool requests", "Requests", "1000 Requests", 3},
};

/* the raw counts the quantities are computed from (read_row): plain columns, because an
 * SQL expression per row costs more than decoding a column */
static const char *const count_sql[] = {
    "input_tokens",     "cached_input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens",    "web_search_requests", "web_fetch_requests",    "audio_input_tokens",
    "reasoning_tokens", "audio_output_tokens"};
#define N_COUNTS (int)(sizeof count_sql / sizeof count_sql[0])
static const char *const cost_sql[K_N] = {"input_cost_nanos", "cached_input_cost_nanos",
                                          "cache_write_cost_nanos", "output_cost_nanos",
                                          "other_cost_nanos"};

/* Who sells, publishes and invoices: the upstream's company and service (SPECS 5.6). */
static const struct {
    const char *provider, *company, *service;
} companies[] = {
    {"openai", "OpenAI", "OpenAI API"},     {"anthropic", "Anthropic", "Claude API"},
    {"gemini", "Google", "Gemini API"},     {"bedrock", "Amazon Web Services", "Amazon Bedrock"},
    {"azure", "Microsoft", "Azure OpenAI"},
};

static void company(const char *provider, const char **name, const char **service)
{
    for (size_t i = 0; i < sizeof companies / sizeof companies[0]; i++)
        if (strcmp(companies[i].provider, provider) == 0) {
            *name = companies[i].company;
            *service = companies[i].service;
            return;
        }
    *name = provider; /* a configured OpenAI-compatible upstream: its own name */
    *service = provider;
}

int tg_focus_parse_granularity(const char *s, enum tg_focus_granularity *out)
{
    if (strcmp(s, "call") == 0)
        *out = TG_FOCUS_CALL;
    else if (strcmp(s, "hour") == 0)
        *out = TG_FOCUS_HOUR;
    else if (strcmp(s, "day") == 0)
        *out = TG_FOCUS_DAY;
    else
        return TG_ERR_INVALID;
    return 0;
}

static const char header[] =
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"
    "ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,ConsumedUnit,ContractedCost,"
    "ContractedUnitPrice,EffectiveCost,InvoiceId,InvoiceIssuerName,ListCost,ListUnitPrice,"
    "PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,"
    "ServiceName,ServiceSubcategory,SkuId,SkuMeter,SkuPriceId,Tags,"
    "x_CallId,x_RequestId,x_WorkflowId,x_Provider,x_Model,x_TokenType,x_PriceRef,"
    "x_CostStatus,x_AllocationMethod,x_Calls\n";

/* The query: one result row per call, grouped in memory (finops/agg.c) unless the
 * granularity is the call. Every column name is a constant of this file; only the two
 * days are bound. */
static void build_sql(struct tg_buf *sql, enum tg_focus_granularity g)
{
    tg_buf_appendf(sql, "SELECT %s, provider, coalesce(response_model, request_model), price_ref, ",
                   g == TG_FOCUS_CALL   ? "started_at"
                   : g == TG_FOCUS_HOUR ? "substr(started_at, 1, 13)"
                                        : "day");
    tg_buf_appends(sql, "cost_nanos IS NULL, service_tier, ");
    for (int i = 0; i < N_ATTR; i++)
        tg_buf_appendf(sql, "%s, ", attr_names[i]);
    tg_buf_appends(sql, "tags");
    for (int i = 0; i < N_COUNTS; i++)
        tg_buf_appendf(sql, ", %s", count_sql[i]);
    for (int k = 0; k < K_N; k++)
        tg_buf_appendf(sql, ", %s", cost_sql[k]);
    tg_buf_appends(sql, ", list_cost_nanos");
    if (g == TG_FOCUS_CALL)
        tg_buf_appends(sql, ", call_id, request_id, ended_at");
    tg_buf_appends(sql, " FROM calls WHERE " TG_LEDGER_DAYS);
    if (g == TG_FOCUS_CALL)
        tg_buf_appends(sql, " ORDER BY started_at, call_id");
}

static void read_row(sqlite3_stmt *st, struct src *r, bool per_call)
{
    for (int i = 0; i < N_KEYS; i++) {
        if (i == C_UNPRICED)
            continue; /* an integer: read as one below, never converted to text */
        r->k[i] = (const char *)sqlite3_column_text(st, i);
        r->len[i] = r->k[i] != NULL ? (int)strlen(r->k[i]) : 0;
    }
    r->k[C_UNPRICED] = sqlite3_column_int(st, C_UNPRICED) != 0 ? "1" : "0";
    r->len[C_UNPRICED] = 1;
    r->v[S_CALLS] = 1;
    r->v[S_COST_TOTAL] = 0;
    int64_t c[N_COUNTS];
    for (int i = 0; i < N_COUNTS; i++)
        c[i] = sqlite3_column_int64(st, C_COUNTS + i);
    /* input_tokens counts cached reads and cache writes too (OTel rule): the plain part
     * is what remains, never negative (docs/PRICING.md clamps the same way) */
    int64_t plain = c[0] - c[1] - c[2] - c[3];
    r->v[S_QTY + K_INPUT] = plain > 0 ? plain : 0;
    r->v[S_QTY + K_CACHED] = c[1];
    r->v[S_QTY + K_WRITE] = c[2] + c[3];
    r->v[S_QTY + K_OUTPUT] = c[4];
    r->v[S_QTY + K_OTHER] = c[5] + c[6];
    r->v[S_SUB + T_AUDIO_IN] = c[7];
    r->v[S_SUB + T_WRITE_5M] = c[2];
    r->v[S_SUB + T_WRITE_1H] = c[3];
    r->v[S_SUB + T_REASONING] = c[8];
    r->v[S_SUB + T_AUDIO_OUT] = c[9];
    r->v[S_SUB + T_SEARCH] = c[5];
    r->v[S_SUB + T_FETCH] = c[6];
    for (int k = 0; k < K_N; k++) {
        r->v[S_COST + k] = sqlite3_column_int64(st, C_COST + k);
        r->v[S_COST_TOTAL] += r->v[S_COST + k]; /* the components sum to cost_nanos */
    }
    r->v[S_LIST_TOTAL] = sqlite3_column_int64(st, C_LIST);
    if (!per_call)
        return;
    r->call_id = (const char *)sqlite3_column_text(st, C_CALL_ID);
    r->request_id = (const char *)sqlite3_column_text(st, C_REQUEST_ID);
    r->ended_at = (const char *)sqlite3_column_text(st, C_ENDED_AT);
}

/* v / 10^scale as an exact plain decimal, no trailing zeros ("0.0012", "3"). v >= 0. */
static void fmt_scaled(int64_t v, int scale, char *out, size_t n)
{
    int64_t div = 1;
    for (int i = 0; i < scale; i++)
        div *= 10;
    int64_t ip = v / div, frac = v % div;
    if (frac == 0) {
        snprintf(out, n, "%lld", (long long)ip);
        return;
    }
    int digits = scale;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(out, n, "%lld.%0*lld", (long long)ip, digits, (long long)frac);
}

/* v / 10^scale for a 128-bit v >= 0, exact, no trailing zeros (unit prices and list costs
 * carry the rate card's micro-dollars times a tier's basis points: up to 16 decimals). */
static void fmt_scaled128(__int128 v, int scale, char *out, size_t n)
{
    char digits[64];
    int len = 0;
    do {
        digits[len++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v > 0 && len < (int)sizeof digits - 1);
    while (len <= scale)
        digits[len++] = '0'; /* at least one integer digit */
    int frac_end = 0;        /* trailing zeros of the fraction are dropped */
    while (frac_end < scale && digits[frac_end] == '0')
        frac_end++;
    size_t o = 0;
    for (int i = len - 1; i >= scale && o + 1 < n; i--)
        out[o++] = digits[i];
    if (frac_end < scale && o + 1 < n)
        out[o++] = '.';
    for (int i = scale - 1; i >= frac_end && o + 1 < n; i--)
        out[o++] = digits[i];
    out[o] = '\0';
}

/* "YYYY-MM-DDTHH:MM:SSZ" of a whole second. */
static void fmt_time(int64_t ms, char out[25])
{
    tg_iso8601_ms(ms, out);
    out[19] = 'Z';
    out[20] = '\0';
}

/* The charge period [start, end) of a result row. */
static int charge_period(const struct src *r, enum tg_focus_granularity g, int64_t *start,
                         int64_t *end)
{
    const char *p = r->k[C_PERIOD];
    char text[32];
    int64_t ended;
    if (p == NULL)
        return TG_ERR_INVALID;
    if (g == TG_FOCUS_DAY) {
        if (tg_parse_time(p, start) != 0)
            return TG_ERR_INVALID;
        *end = *start + 86400000;
        return 0;
    }
    if (g == TG_FOCUS_HOUR) {
        snprintf(text, sizeof text, "%.13s:00:00Z", p);
        if (tg_parse_time(text, start) != 0)
            return TG_ERR_INVALID;
        *end = *start + 3600000;
        return 0;
    }
    /* a call: its start floored and its end rounded up to whole seconds (FOCUS dates
     * have seconds); a call still incomplete, or shorter than a second, gets one second */
    if (tg_parse_time(p, start) != 0)
        return TG_ERR_INVALID;
    *start -= *start % 1000;
    *end = *start + 1000;
    const char *e = r->ended_at;
    if (e != NULL && tg_parse_time(e, &ended) == 0) {
        ended += (1000 - ended % 1000) % 1000;
        if (ended > *end)
            *end = ended;
    }
    return 0;
}

/* The UTC calendar month holding ms: the billing period. */
static void billing_period(int64_t ms, int64_t *start, int64_t *end)
{
    int y;
    unsigned m, d;
    tg_civil_from_days(ms / 86400000, &y, &m, &d);
    *start = tg_days_from_civil(y, m, 1) * 86400000;
    *end = (m == 12 ? tg_days_from_civil(y + 1, 1, 1) : tg_days_from_civil(y, m + 1, 1)) * 86400000;
}

/* Tags: the attribution fields that are set, then the call's own tags (a key already set
 * by an attribution field is not repeated); every value a string. "" when none. */
static void tags_json(const struct src *r, struct tg_buf *out, bool *is_attributed)
{
    cJSON *obj = cJSON_CreateObject(), *tags = NULL;
    char *text = NULL;
    *is_attributed = false;
    for (int i = 0; i < N_ATTR; i++) {
        const char *v = r->k[C_TENANT + i];
        if (v != NULL) {
            cJSON_AddStringToObject(obj, attr_names[i], v);
            *is_attributed = true;
        }
    }
    const char *t = r->k[C_TAGS];
    if (t != NULL)
        tags = cJSON_Parse(t);
    if (cJSON_IsObject(tags)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, tags)
        {
            if (it->string == NULL || cJSON_GetObjectItemCaseSensitive(obj, it->string) != NULL)
                continue;
            if (cJSON_IsString(it)) {
                cJSON_AddStringToObject(obj, it->string, it->valuestring);
            } else {
                char *v = cJSON_PrintUnformatted(it);
                cJSON_AddStringToObject(obj, it->string, v);
                cJSON_free(v);
            }
            *is_attributed = true;
        }
    }
    tg_buf_reset(out);
    if (cJSON_GetArraySize(obj) > 0) {
        text = cJSON_PrintUnformatted(obj);
        tg_buf_appends(out, text);
    }
    tg_buf_append(out, "", 1); /* NUL-terminated */
    cJSON_free(text);
    cJSON_Delete(tags);
    cJSON_Delete(obj);
}

/* ListCost per component: the group's list_cost_nanos split in proportion to the
 * components' cost, the remainder on the dearest one, so the parts sum exactly. */
static void split_list(const int64_t *cost, const int64_t *qty, int64_t cost_total,
                       int64_t list_total, int64_t *list)
{
    int64_t diff = list_total - cost_total, given = 0;
    int dearest = K_INPUT;
    for (int k = 0; k < K_N; k++) {
        list[k] = cost[k];
        if (cost[k] > cost[dearest])
            dearest = k;
    }
    if (diff == 0)
        return;
    if (cost_total <= 0) { /* nothing to weigh by: the first component with a quantity */
        for (int k = K_N - 1; k >= 0; k--)
            if (qty[k] > 0)
                dearest = k;
        list[dearest] += diff;
        return;
    }
    for (int k = 0; k < K_N; k++) {
        int64_t share = (int64_t)((__int128)diff * cost[k] / cost_total);
        list[k] += share;
        given += share;
    }
    list[dearest] += diff - given;
}

static void field(struct tg_buf *b, const char *s)
{
    tg_report_csv_field(b, s != NULL ? s : "");
    tg_buf_appends(b, ",");
}

struct row_ctx {
    const char *provider, *model, *ref, *company, *service, *tags, *call_id, *request_id, *workflow,
        *method;
    char period_start[25], period_end[25], billing_start[25], billing_end[25];
    bool is_unpriced;
    int64_t calls;
};

/* price: the component's list unit price in micro-dollars x tier basis points per
 * PricingUnit (10 decimals), or -1 when unknown. */
static void emit(struct tg_buf *b, const struct row_ctx *r, int k, int64_t qty, int64_t cost,
                 int64_t list, int64_t price)
{
    char usd[40] = "", list_usd[64] = "", unit[48] = "", consumed[32], pricing[32], calls[24],
         s[512];
    if (!r->is_unpriced) {
        tg_money_format_usd(cost, usd, sizeof usd);
        tg_money_format_usd(list, list_usd, sizeof list_usd);
    }
    if (!r->is_unpriced && price >= 0) { /* ListCost = ListUnitPrice x PricingQuantity */
        fmt_scaled128(price, 10, unit, sizeof unit);
        fmt_scaled128((__int128)price * qty, 10 + skus[k].scale, list_usd, sizeof list_usd);
    }
    snprintf(consumed, sizeof consumed, "%lld", (long long)qty);
    fmt_scaled(qty, skus[k].scale, pricing, sizeof pricing);
    snprintf(calls, sizeof calls, "%lld", (long long)r->calls);
    field(b, usd);              /* BilledCost */
    field(b, r->provider);      /* BillingAccountId */
    field(b, r->provider);      /* BillingAccountName */
    field(b, "USD");            /* BillingCurrency */
    field(b, r->billing_end);   /* BillingPeriodEnd */
    field(b, r->billing_start); /* BillingPeriodStart */
    field(b, "Usage");          /* ChargeCategory */
    field(b, NULL);             /* ChargeClass */
    snprintf(s, sizeof s, "%s %s", r->model, skus[k].description);
    field(b, s);                         /* ChargeDescription */
    field(b, "Usage-Based");             /* ChargeFrequency */
    field(b, r->period_end);             /* ChargePeriodEnd */
    field(b, r->period_start);           /* ChargePeriodStart */
    field(b, consumed);                  /* ConsumedQuantity */
    field(b, skus[k].consumed_unit);     /* ConsumedUnit */
    field(b, usd);                       /* ContractedCost */
    field(b, NULL);                      /* ContractedUnitPrice */
    field(b, usd);                       /* EffectiveCost */
    field(b, NULL);                      /* InvoiceId */
    field(b, r->company);                /* InvoiceIssuerName */
    field(b, list_usd);                  /* ListCost */
    field(b, unit);                      /* ListUnitPrice */
    field(b, "Standard");                /* PricingCategory */
    field(b, pricing);                   /* PricingQuantity */
    field(b, skus[k].pricing_unit);      /* PricingUnit */
    field(b, r->company);                /* ProviderName */
    field(b, r->company);                /* PublisherName */
    field(b, "AI and Machine Learning"); /* ServiceCategory */
    field(b, r->service);                /* ServiceName */
    field(b, "Generative AI");           /* ServiceSubcategory */
    snprintf(s, sizeof s, "%s/%s/%s", r->provider, r->model, skus[k].type);
    field(b, s);                             /* SkuId */
    field(b, skus[k].meter);                 /* SkuMeter */
    if (r->ref != NULL && !r->is_unpriced) { /* SkuPriceId: the SKU at its rate-card row */
        size_t n = strlen(s);
        snprintf(s + n, sizeof s - n, "@%s", r->ref);
        field(b, s);
    } else {
        field(b, NULL);
    }
    field(b, r->tags);       /* Tags */
    field(b, r->call_id);    /* x_CallId */
    field(b, r->request_id); /* x_RequestId */
    field(b, r->workflow);   /* x_WorkflowId */
    field(b, r->provider);   /* x_Provider */
    field(b, r->model);      /* x_Model */
    field(b, skus[k].type);  /* x_TokenType */
    field(b, r->ref);        /* x_PriceRef */
    field(b, r->is_unpriced ? "unpriced" : "priced");
    field(b, r->method); /* x_AllocationMethod */
    tg_buf_appends(b, calls);
    tg_buf_appends(b, "\n");
}

static int flush(struct tg_buf *b, FILE *out, struct tg_errbuf *eb)
{
    if (b->len > 0 && fwrite(b->base, 1, b->len, out) != b->len)
        return tg_errf(eb, TG_ERR_IO, "focus: write failed");
    tg_buf_reset(b);
    return 0;
}

/* The one price of the token types that have tokens (the first type's when none has);
 * -1 when two of them differ: the component then has no single unit price. */
static int64_t one_price(const int64_t *tokens, const int64_t *prices, int n)
{
    int64_t p = -1;
    for (int i = 0; i < n; i++) {
        if (tokens[i] == 0)
            continue;
        if (p >= 0 && prices[i] != p)
            return -1;
        p = prices[i];
    }
    return p >= 0 ? p : prices[0];
}

/* Each component's list unit price for a row priced by up (micro-dollars x bps). */
static void unit_prices(const struct tg_unit_prices *up, const int64_t *v, int64_t *price)
{
    const int64_t *sub = v + S_SUB;
    int64_t in_plain = v[S_QTY + K_INPUT] - sub[T_AUDIO_IN];
    int64_t out_plain = v[S_QTY + K_OUTPUT] - sub[T_REASONING] - sub[T_AUDIO_OUT];
    const int64_t in_t[] = {in_plain > 0 ? in_plain : 0, sub[T_AUDIO_IN]},
                  in_p[] = {up->input, up->audio_in};
    const int64_t w_t[] = {sub[T_WRITE_5M], sub[T_WRITE_1H]}, w_p[] = {up->write_5m, up->write_1h};
    const int64_t out_t[] = {out_plain > 0 ? out_plain : 0, sub[T_REASONING], sub[T_AUDIO_OUT]},
                  out_p[] = {up->output, up->reasoning, up->audio_out};
    const int64_t o_t[] = {sub[T_SEARCH], sub[T_FETCH]}, o_p[] = {up->search, up->fetch};
    price[K_INPUT] = one_price(in_t, in_p, 2);
    price[K_CACHED] = up->cached;
    price[K_WRITE] = one_price(w_t, w_p, 2);
    price[K_OUTPUT] = one_price(out_t, out_p, 3);
    price[K_OTHER] = one_price(o_t, o_p, 2);
    for (int k = 0; k < K_N; k++)
        if (price[k] >= 0)
            price[k] *= up->tier_bps;
}

/* Writes the rows of one call or group (one per cost component with something consumed
 * or charged) into b. */
/* The last rate-card lookup: rows come sorted by provider, model and price_ref, so
 * neighbours share it (a lookup scans the loaded rows). */
struct price_memo {
    bool is_valid, is_found;
    char provider[64], ref[TG_FIELD_LEN], tier[64];
    struct tg_unit_prices up;
};

static bool same(const char *memo, const char *s)
{
    return strcmp(memo, s != NULL ? s : "") == 0;
}

static bool lookup(const struct tg_ratecard *card, const char *provider, const char *ref,
                   const char *tier, struct price_memo *m)
{
    if (m->is_valid && same(m->provider, provider) && same(m->ref, ref) && same(m->tier, tier))
        return m->is_found;
    m->is_valid = strlen(provider) < sizeof m->provider && strlen(ref) < sizeof m->ref &&
                  (tier == NULL || strlen(tier) < sizeof m->tier);
    m->is_found = tg_pricing_ref_prices(card, provider, ref, tier, &m->up) == 0;
    if (m->is_valid) {
        snprintf(m->provider, sizeof m->provider, "%s", provider);
        snprintf(m->ref, sizeof m->ref, "%s", ref);
        snprintf(m->tier, sizeof m->tier, "%s", tier != NULL ? tier : "");
    }
    return m->is_found;
}

static int write_src(const struct src *src, const struct tg_focus_query *q, struct tg_buf *b,
                     struct tg_buf *tags, struct price_memo *memo, struct tg_focus_summary *sum,
                     struct tg_errbuf *eb)
{
    enum tg_focus_granularity g = q->granularity;
    int64_t price[K_N] = {-1, -1, -1, -1, -1};
    struct row_ctx r;
    int64_t list[K_N], ps, pe, bs, be;
    const int64_t *qty = src->v + S_QTY, *cost = src->v + S_COST;
    bool is_attributed, wrote = false;
    memset(&r, 0, sizeof r);
    if (charge_period(src, g, &ps, &pe) != 0)
        return tg_errf(eb, TG_ERR_IO, "focus: a ledger row has a malformed started_at");
    billing_period(ps, &bs, &be);
    fmt_time(ps, r.period_start);
    fmt_time(pe, r.period_end);
    fmt_time(bs, r.billing_start);
    fmt_time(be, r.billing_end);
    r.provider = src->k[C_PROVIDER] != NULL ? src->k[C_PROVIDER] : "unknown";
    r.model = src->k[C_MODEL] != NULL ? src->k[C_MODEL] : "unknown";
    r.ref = src->k[C_REF];
    r.is_unpriced = src->k[C_UNPRICED][0] == '1';
    r.workflow = src->k[C_WORKFLOW];
    r.call_id = src->call_id;
    r.request_id = src->request_id;
    r.calls = src->v[S_CALLS];
    company(r.provider, &r.company, &r.service);
    tags_json(src, tags, &is_attributed);
    r.tags = tags->base;
    r.method = is_attributed ? "direct" : "unattributed";
    split_list(cost, qty, src->v[S_COST_TOTAL], src->v[S_LIST_TOTAL], list);
    if (q->card != NULL && !r.is_unpriced && r.ref != NULL &&
        lookup(q->card, r.provider, r.ref, src->k[C_TIER], memo))
        unit_prices(&memo->up, src->v, price);
    for (int k = 0; k < K_N; k++) {
        /* a component with nothing consumed and nothing charged is no charge */
        if (qty[k] == 0 && (r.is_unpriced || (cost[k] == 0 && list[k] == 0)))
            continue;
        emit(b, &r, k, qty[k], cost[k], list[k], price[k]);
        wrote = true;
        sum->rows++;
        if (r.is_unpriced) {
            sum->unpriced_rows++;
            sum->unpriced_tokens += qty[k];
        } else {
            sum->billed_nanos += cost[k];
        }
    }
    if (wrote) {
        sum->calls += r.calls;
        if (r.is_unpriced)
            sum->unpriced_calls += r.calls;
    }
    return 0;
}

/* Adds the calls of the days [from, to] to agg. */
static int scan(sqlite3 *db, const char *from, const char *to, enum tg_focus_granularity g,
                struct tg_agg *agg, struct tg_errbuf *eb)
{
    struct tg_buf sql = {0};
    sqlite3_stmt *st = NULL;
    struct src r;
    int rc = 0, step;
    memset(&r, 0, sizeof r);
    build_sql(&sql, g);
    if (sqlite3_prepare_v2(db, sql.base, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "focus: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, &r, false);
        tg_agg_add(agg, r.k, r.len, r.v);
    }
    if (step != SQLITE_DONE)
        rc = tg_errf(eb, TG_ERR_IO, "focus: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    tg_buf_free(&sql);
    return rc;
}

/* The second half of the days, scanned on a connection and thread of its own. */
struct part {
    const char *path;
    char from[11], to[11];
    enum tg_focus_granularity g;
    struct tg_agg *agg;
    int rc;
    struct tg_errbuf eb;
};

static void *scan_part(void *arg)
{
    struct part *p = arg;
    sqlite3 *db = NULL;
    p->rc = tg_ledger_open_readonly(p->path, &db, &p->eb);
    if (p->rc == 0)
        p->rc = scan(db, p->from, p->to, p->g, p->agg, &p->eb);
    sqlite3_close(db);
    return NULL;
}

static void day_text(int64_t ms, char out[11])
{
    char t[25];
    tg_iso8601_ms(ms, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* Groups the calls of the range into agg: with two days or more, the later half on a
 * second thread (its own read-only connection) while this one reads the earlier half;
 * the halves are merged with exact integer sums. */
static int aggregate(sqlite3 *db, const struct tg_focus_query *q, struct tg_agg *agg,
                     struct tg_errbuf *eb)
{
    struct part p;
    pthread_t tid;
    int64_t from_ms, to_ms;
    int rc;
    const char *path = sqlite3_db_filename(db, "main");
    memset(&p, 0, sizeof p);
    if (path == NULL || path[0] == '\0' || tg_parse_time(q->from, &from_ms) != 0 ||
        tg_parse_time(q->to, &to_ms) != 0 || to_ms <= from_ms)
        return scan(db, q->from, q->to, q->granularity, agg, eb);
    int64_t days = (to_ms - from_ms) / 86400000 + 1;
    p.path = path;
    p.g = q->granularity;
    p.agg = tg_agg_new(N_KEYS, N_SUMS);
    day_text(from_ms + days / 2 * 86400000, p.from);
    memcpy(p.to, q->to, sizeof p.to);
    char first_to[11];
    day_text(from_ms + (days / 2 - 1) * 86400000, first_to);
    if (pthread_create(&tid, NULL, scan_part, &p) != 0) {
        tg_agg_destroy(p.agg);
        return scan(db, q->from, q->to, q->granularity, agg, eb);
    }
    rc = scan(db, q->from, first_to, q->granularity, agg, eb);
    pthread_join(tid, NULL);
    if (rc == 0 && p.rc != 0)
        rc = tg_errf(eb, p.rc, "%s", p.eb.msg);
    for (int i = 0; rc == 0 && i < tg_agg_count(p.agg); i++) {
        const struct tg_agg_group *g = tg_agg_at(p.agg, i);
        tg_agg_add(agg, g->keys, NULL, g->sums);
    }
    tg_agg_destroy(p.agg);
    return rc;
}

int tg_focus_export(sqlite3 *db, const struct tg_focus_query *q, FILE *out,
                    struct tg_focus_summary *sum, struct tg_errbuf *eb)
{
    struct tg_buf sql = {0}, b = {0}, tags = {0};
    sqlite3_stmt *st = NULL;
    struct tg_agg *agg = NULL;
    struct tg_focus_summary local;
    struct price_memo memo;
    struct src r;
    int rc = 0, step;
    memset(&memo, 0, sizeof memo);
    if (sum == NULL)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    memset(&r, 0, sizeof r);
    tg_buf_appends(&b, header);
    if (q->granularity != TG_FOCUS_CALL) {
        agg = tg_agg_new(N_KEYS, N_SUMS);
        rc = aggregate(db, q, agg, eb);
        if (rc != 0)
            goto out;
        /* the order of the keys: period, provider, model, price row, then the owner */
        tg_agg_sort_keys(agg);
        for (int i = 0; i < tg_agg_count(agg); i++) {
            const struct tg_agg_group *g = tg_agg_at(agg, i);
            memcpy(r.k, g->keys, sizeof r.k);
            memcpy(r.v, g->sums, sizeof r.v);
            rc = write_src(&r, q, &b, &tags, &memo, sum, eb);
            if (rc == 0 && b.len >= 1 << 16)
                rc = flush(&b, out, eb);
            if (rc != 0)
                goto out;
        }
        rc = flush(&b, out, eb);
        goto out;
    }
    /* per call: streamed in started_at order, nothing held in memory */
    build_sql(&sql, q->granularity);
    if (sqlite3_prepare_v2(db, sql.base, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "focus: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, q->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->to, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, &r, true);
        rc = write_src(&r, q, &b, &tags, &memo, sum, eb);
        if (rc == 0 && b.len >= 1 << 16)
            rc = flush(&b, out, eb);
        if (rc != 0)
            goto out;
    }
    if (step != SQLITE_DONE) {
        rc = tg_errf(eb, TG_ERR_IO, "focus: %s", sqlite3_errmsg(db));
        goto out;
    }
    rc = flush(&b, out, eb);
out:
    sqlite3_finalize(st);
    tg_agg_destroy(agg);
    tg_buf_free(&sql);
    tg_buf_free(&b);
    tg_buf_free(&tags);
    return rc;
}
