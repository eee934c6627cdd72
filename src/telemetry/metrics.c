/* telemetry/metrics.c - the Prometheus registry behind GET /metrics
 *
 * DESIGN. Workers count each finished call once (tg_metrics_call) and observe latencies
 * (tg_metrics_observe); a scrape renders everything (tg_metrics_render). One mutex guards
 * the registry: a call touches it once for a handful of hash lookups, far below the cost
 * of the call itself, and a scrape copies nothing it does not print.
 * Series are keyed by family and their preformatted label text, but a call formats
 * none: its capped label values are interned, and the series of one (provider, model,
 * team, cost_center) are found through one cached group. Counters are int64:
 * tokens and calls as counts, money as nano-dollars printed as exact decimal USD, so a
 * counter equals the ledger's SUM to the nano-dollar. Histograms hold microseconds and
 * print seconds.
 * Cardinality: provider and outcome come from the config and a fixed list; model, team
 * and cost_center come from callers, so each keeps at most max_label_values distinct
 * values and counts the rest under "other". A missing team or cost center is
 * "unattributed", a missing model or provider "none". */
#include "telemetry/metrics.h"

#include "core/alloc.h"
#include "core/money.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum family {
    F_CALLS,
    F_TOKENS,
    F_TOOL_CALLS,
    F_SERVER_TOOLS,
    F_COST,
    F_SAVINGS,
    F_UNPRICED,
    F_ESTIMATED,
    F_OVERHEAD,
    F_UPSTREAM,
    F_TTFT,
    F_N
};

struct family_def {
    const char *name, *type, *help;
    bool is_usd;
    const int64_t *bounds; /* histograms: upper bounds in microseconds */
    int n_bounds;
};

static const int64_t overhead_bounds[] = {50,    100,   250,   500,    1000,   2500,   5000,
                                          10000, 25000, 50000, 100000, 250000, 1000000};
/* the GenAI operation-duration buckets (semconv v1.41), in microseconds */
static const int64_t duration_bounds[] = {10000,    20000,    40000,    80000,   160000,
                                          320000,   640000,   1280000,  2560000, 5120000,
                                          10240000, 20480000, 40960000, 81920000};
#define NB(a) (int)(sizeof(a) / sizeof((a)[0]))

static const struct family_def families[F_N] = {
    [F_CALLS] = {"tollgate_calls_total", "counter",
                 "Calls recorded in the ledger, by provider, model and outcome.", false, NULL, 0},
    [F_TOKENS] = {"tollgate_tokens_total", "counter",
                  "Tokens by type (input counts cached and cache-written tokens; output counts "
                  "reasoning and tool-call output), by provider, model and owner.",
                  false, NULL, 0},
    [F_TOOL_CALLS] = {"tollgate_tool_calls_total", "counter",
                      "Tool calls the models asked for, by provider and model.", false, NULL, 0},
    [F_SERVER_TOOLS] = {"tollgate_server_tool_uses_total", "counter",
                        "Provider-side tool uses (web_search, web_fetch), by provider and model.",
                        false, NULL, 0},
    [F_COST] = {"tollgate_cost_usd_total", "counter",
                "Cost in USD of priced calls (exact to the nano-dollar), by provider, model and "
                "owner.",
                true, NULL, 0},
    [F_SAVINGS] = {"tollgate_cache_savings_usd_total", "counter",
                   "What prompt caching saved in USD, by provider, model and owner.", true, NULL,
                   0},
    [F_UNPRICED] = {"tollgate_unpriced_calls_total", "counter",
                    "Calls no rate-card row prices (cost NULL in the ledger, never $0).", false,
                    NULL, 0},
    [F_ESTIMATED] = {"tollgate_estimated_usage_calls_total", "counter",
                     "Calls whose token counts were estimated (stream cut, usage missing).", false,
                     NULL, 0},
    [F_OVERHEAD] = {"tollgate_gateway_overhead_seconds", "histogram",
                    "Time the gateway itself added to a call (as x-tollgate-overhead-ms).", false,
                    overhead_bounds, NB(overhead_bounds)},
    [F_UPSTREAM] = {"tollgate_upstream_duration_seconds", "histogram",
                    "Request sent to the provider until its answer ended.", false, duration_bounds,
                    NB(duration_bounds)},
    [F_TTFT] = {"tollgate_time_to_first_token_seconds", "histogram",
                "Request sent to the provider until the first byte of a streamed answer.", false,
                duration_bounds, NB(duration_bounds)},
};

struct series {
    struct series *next;
    int family;
    char *labels;     /* 'provider="openai",model="gpt-4o"' */
    int64_t value;    /* counters */
    int64_t *buckets; /* histograms: n_bounds + 1 counts (not cumulative) */
    int64_t sum_us, count;
};

struct labelvals { /* the admitted values of one capped label: an open-addressing set */
    char **slot;
    unsigned mask;
    int n;
};

/* The series one owner's calls update, found once per call by (provider, model, team,
 * cost_center) and created on first use, so counting a call formats no label text. */
enum { N_TOKEN_TYPES = 9, N_OUTCOMES = 6 };
struct group {
    struct group *next;
    char *provider;
    const char *model, *team, *cc; /* interned in the capped sets (or "other") */
    struct series *calls[N_OUTCOMES];
    struct series *tokens[N_TOKEN_TYPES];
    struct series *tool_calls, *web_search, *web_fetch, *cost, *savings, *unpriced, *estimated;
};

enum capped { CAP_MODEL, CAP_TEAM, CAP_COST_CENTER, CAP_N };

#define HIST_CACHE 16 /* histogram series remembered per family (one per provider) */

struct tg_metrics {
    pthread_mutex_t mu;
    struct series **buckets;
    unsigned n_buckets;
    size_t n_series;
    int max_label_values;
    struct labelvals capped[CAP_N];
    struct group **groups;
    unsigned n_groups_buckets;
    struct series *hist_cache[TG_HIST_N][HIST_CACHE]; /* by provider */
    char hist_provider[TG_HIST_N][HIST_CACHE][32];
};

static unsigned hash(int family, const char *s)
{
    unsigned h = 2166136261u ^ (unsigned)family;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

struct tg_metrics *tg_metrics_new(int max_label_values)
{
    struct tg_metrics *m = tg_calloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->n_buckets = 1024;
    m->buckets = tg_calloc(m->n_buckets, sizeof *m->buckets);
    m->max_label_values = max_label_values > 0 ? max_label_values : 1;
    unsigned slots = 16;
    while (slots < 2u * (unsigned)m->max_label_values + 1)
        slots <<= 1;
    for (int i = 0; i < CAP_N; i++) {
        m->capped[i].slot = tg_calloc(slots, sizeof *m->capped[i].slot);
        m->capped[i].mask = slots - 1;
    }
    m->n_groups_buckets = 1024;
    m->groups = tg_calloc(m->n_groups_buckets, sizeof *m->groups);
    return m;
}

void tg_metrics_destroy(struct tg_metrics *m)
{
    if (m == NULL)
        return;
    for (unsigned b = 0; b < m->n_buckets; b++)
        for (struct series *s = m->buckets[b], *next; s != NULL; s = next) {
            next = s->next;
            free(s->labels);
            free(s->buckets);
            free(s);
        }
    for (int i = 0; i < CAP_N; i++) {
        for (unsigned k = 0; k <= m->capped[i].mask; k++)
            free(m->capped[i].slot[k]);
        free(m->capped[i].slot);
    }
    for (unsigned b = 0; b < m->n_groups_buckets; b++)
        for (struct group *g = m->groups[b], *next; g != NULL; g = next) {
            next = g->next;
            free(g->provider);
            free(g);
        }
    free(m->groups);
    free(m->buckets);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Under mu. The interned value when already admitted or when there is room, else
 * "other". */
static const char *cap_value(struct tg_metrics *m, enum capped which, const char *v)
{
    struct labelvals *lv = &m->capped[which];
    unsigned h = hash(0, v) & lv->mask;
    while (lv->slot[h] != NULL) {
        if (strcmp(lv->slot[h], v) == 0)
            return lv->slot[h];
        h = (h + 1) & lv->mask;
    }
    if (lv->n >= m->max_label_values)
        return "other";
    lv->n++;
    return lv->slot[h] = tg_strdup(v);
}

/* Under mu. Finds or creates the series of family f with the given label text. */
static struct series *get_series(struct tg_metrics *m, int f, const char *labels)
{
    unsigned b = hash(f, labels) & (m->n_buckets - 1);
    for (struct series *s = m->buckets[b]; s != NULL; s = s->next)
        if (s->family == f && strcmp(s->labels, labels) == 0)
            return s;
    struct series *s = tg_calloc(1, sizeof *s);
    s->family = f;
    s->labels = tg_strdup(labels);
    if (families[f].n_bounds > 0)
        s->buckets = tg_calloc((size_t)families[f].n_bounds + 1, sizeof *s->buckets);
    s->next = m->buckets[b];
    m->buckets[b] = s;
    m->n_series++;
    return s;
}

void tg_prom_label(struct tg_buf *out, const char *v)
{
    tg_buf_appends(out, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            tg_buf_appends(out, "\\\\");
        else if (*p == '"')
            tg_buf_appends(out, "\\\"");
        else if (*p == '\n')
            tg_buf_appends(out, "\\n");
        else
            tg_buf_append(out, p, 1);
    }
    tg_buf_appends(out, "\"");
}

void tg_prom_family(struct tg_buf *out, const char *name, const char *type, const char *help)
{
    tg_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void tg_prom_usd(struct tg_buf *out, int64_t nanos)
{
    char usd[32];
    tg_money_format_usd(nanos, usd, sizeof usd);
    tg_buf_appends(out, usd);
}

static void append_seconds(struct tg_buf *out, int64_t micros)
{
    tg_prom_usd(out, micros * 1000); /* the same exact decimal, at 10^-6 instead of 10^-9 */
}

/* Builds label text from name/value pairs (NULL-terminated). */
static void labels(struct tg_buf *b, const char *const *kv)
{
    tg_buf_reset(b);
    for (int i = 0; kv[i] != NULL; i += 2) {
        if (i > 0)
            tg_buf_appends(b, ",");
        tg_buf_appends(b, kv[i]);
        tg_buf_appends(b, "=");
        tg_prom_label(b, kv[i + 1]);
    }
}

/* Under mu. The series of family f with labels kv, found once and then kept in *slot. */
static struct series *slot_series(struct tg_metrics *m, struct series **slot, int f,
                                  const char *const *kv)
{
    if (*slot == NULL) {
        struct tg_buf b = {0};
        labels(&b, kv);
        *slot = get_series(m, f, b.base);
        tg_buf_free(&b);
    }
    return *slot;
}

static const char * or (const char *v, const char *dflt)
{
    return v[0] != '\0' ? v : dflt;
}

/* Under mu. The owner's group, created on first use. */
static struct group *get_group(struct tg_metrics *m, const char *prov, const char *model,
                               const char *team, const char *cc)
{
    unsigned h =
        hash(0, prov) ^ (unsigned)((uintptr_t)model * 31u + (uintptr_t)team * 17u + (uintptr_t)cc);
    unsigned b = h & (m->n_groups_buckets - 1);
    for (struct group *g = m->groups[b]; g != NULL; g = g->next)
        if (g->model == model && g->team == team && g->cc == cc && strcmp(g->provider, prov) == 0)
            return g;
    struct group *g = tg_calloc(1, sizeof *g);
    g->provider = tg_strdup(prov);
    g->model = model;
    g->team = team;
    g->cc = cc;
    g->next = m->groups[b];
    m->groups[b] = g;
    return g;
}

static const char *const outcomes[N_OUTCOMES] = {"ok",         "upstream_error", "refused",
                                                 "incomplete", "client_aborted", "gateway_error"};
static const struct {
    const char *type;
    size_t off;
} token_types[N_TOKEN_TYPES] = {
    {"input", offsetof(struct tg_usage, input_tokens)},
    {"cached_input", offsetof(struct tg_usage, cached_input_tokens)},
    {"cache_write_5m", offsetof(struct tg_usage, cache_write_5m_tokens)},
    {"cache_write_1h", offsetof(struct tg_usage, cache_write_1h_tokens)},
    {"output", offsetof(struct tg_usage, output_tokens)},
    {"reasoning", offsetof(struct tg_usage, reasoning_tokens)},
    {"tool_call_output", offsetof(struct tg_usage, tool_call_output_tokens)},
    {"audio_input", offsetof(struct tg_usage, audio_input_tokens)},
    {"audio_output", offsetof(struct tg_usage, audio_output_tokens)},
};

void tg_metrics_call(struct tg_metrics *m, const struct tg_call_record *r)
{
    if (m == NULL)
        return;
    const struct tg_usage *u = &r->usage;
    const char *prov = or (r->provider, "none");
    pthread_mutex_lock(&m->mu);
    const char *model =
        cap_value(m, CAP_MODEL, or (or (u->response_model, r->request_model), "none"));
    const char *team = cap_value(m, CAP_TEAM, or (r->team, "unattributed"));
    const char *cc = cap_value(m, CAP_COST_CENTER, or (r->cost_center, "unattributed"));
    struct group *g = get_group(m, prov, model, team, cc);
    const char *pm[] = {"provider", prov, "model", model, NULL};
    const char *owner[] = {"provider", prov, "model", model, "team", team, "cost_center", cc, NULL};

    const char *call_kv[] = {"provider", prov, "model", model, "outcome", r->outcome, NULL};
    int o = 0;
    while (o < N_OUTCOMES && strcmp(outcomes[o], r->outcome) != 0)
        o++;
    struct series *other = NULL; /* an outcome outside the list: found by its labels */
    slot_series(m, o < N_OUTCOMES ? &g->calls[o] : &other, F_CALLS, call_kv)->value++;

    for (int i = 0; i < N_TOKEN_TYPES; i++) {
        int64_t v = *(const int64_t *)((const char *)u + token_types[i].off);
        if (v == 0 && i != 0 && i != 4) /* input and output always exist */
            continue;
        const char *kv[] = {"provider", prov,          "model", model,  "team",
                            team,       "cost_center", cc,      "type", token_types[i].type,
                            NULL};
        slot_series(m, &g->tokens[i], F_TOKENS, kv)->value += v;
    }
    if (u->tool_calls != 0)
        slot_series(m, &g->tool_calls, F_TOOL_CALLS, pm)->value += u->tool_calls;
    if (u->web_search_requests != 0) {
        const char *kv[] = {"provider", prov, "model", model, "tool", "web_search", NULL};
        slot_series(m, &g->web_search, F_SERVER_TOOLS, kv)->value += u->web_search_requests;
    }
    if (u->web_fetch_requests != 0) {
        const char *kv[] = {"provider", prov, "model", model, "tool", "web_fetch", NULL};
        slot_series(m, &g->web_fetch, F_SERVER_TOOLS, kv)->value += u->web_fetch_requests;
    }
    if (r->is_priced) {
        slot_series(m, &g->cost, F_COST, owner)->value += r->cost_nanos;
        if (r->cache_savings_nanos != 0)
            slot_series(m, &g->savings, F_SAVINGS, owner)->value += r->cache_savings_nanos;
    } else if (strcmp(r->outcome, "refused") != 0 && r->attempt > 0) {
        slot_series(m, &g->unpriced, F_UNPRICED, pm)->value++;
    }
    if (r->usage_estimated)
        slot_series(m, &g->estimated, F_ESTIMATED, pm)->value++;
    pthread_mutex_unlock(&m->mu);
}

void tg_metrics_observe(struct tg_metrics *m, enum tg_hist h, const char *provider, int64_t micros)
{
    if (m == NULL || micros < 0)
        return;
    int f = F_OVERHEAD + (int)h;
    const struct family_def *d = &families[f];
    const char *prov = or (provider, "none");
    pthread_mutex_lock(&m->mu);
    int k = 0; /* providers are few (the config's upstreams): remember their series */
    while (k < HIST_CACHE && m->hist_cache[h][k] != NULL &&
           strcmp(m->hist_provider[h][k], prov) != 0)
        k++;
    struct series *s = k < HIST_CACHE ? m->hist_cache[h][k] : NULL;
    if (s == NULL) {
        const char *kv[] = {"provider", prov, NULL};
        s = slot_series(m, &s, f, kv);
        if (k < HIST_CACHE && strlen(prov) < sizeof m->hist_provider[0][0]) {
            memcpy(m->hist_provider[h][k], prov, strlen(prov) + 1);
            m->hist_cache[h][k] = s;
        }
    }
    int i = 0;
    while (i < d->n_bounds && micros > d->bounds[i])
        i++;
    s->buckets[i]++;
    s->sum_us += micros;
    s->count++;
    pthread_mutex_unlock(&m->mu);
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(struct series *const *)a, *y = *(struct series *const *)b;
    return x->family != y->family ? x->family - y->family : strcmp(x->labels, y->labels);
}

static void render_histogram(struct tg_buf *out, const struct family_def *d, const struct series *s)
{
    int64_t cum = 0;
    for (int i = 0; i <= d->n_bounds; i++) {
        cum += s->buckets[i];
        tg_buf_appendf(out, "%s_bucket{%s%sle=\"", d->name, s->labels, s->labels[0] ? "," : "");
        if (i < d->n_bounds)
            append_seconds(out, d->bounds[i]);
        else
            tg_buf_appends(out, "+Inf");
        tg_buf_appendf(out, "\"} %lld\n", (long long)cum);
    }
    tg_buf_appendf(out, "%s_sum{%s} ", d->name, s->labels);
    append_seconds(out, s->sum_us);
    tg_buf_appendf(out, "\n%s_count{%s} %lld\n", d->name, s->labels, (long long)s->count);
}

void tg_metrics_render(struct tg_metrics *m, struct tg_buf *out)
{
    pthread_mutex_lock(&m->mu);
    struct series **all = tg_malloc(sizeof *all * (m->n_series + 1));
    size_t n = 0;
    for (unsigned b = 0; b < m->n_buckets; b++)
        for (struct series *s = m->buckets[b]; s != NULL; s = s->next)
            all[n++] = s;
    qsort(all, n, sizeof *all, cmp_series);
    size_t i = 0;
    for (int f = 0; f < F_N; f++) {
        const struct family_def *d = &families[f];
        tg_prom_family(out, d->name, d->type, d->help);
        for (; i < n && all[i]->family == f; i++) {
            if (d->n_bounds > 0) {
                render_histogram(out, d, all[i]);
                continue;
            }
            tg_buf_appendf(out, "%s{%s} ", d->name, all[i]->labels);
            if (d->is_usd)
                tg_prom_usd(out, all[i]->value);
            else
                tg_buf_appendf(out, "%lld", (long long)all[i]->value);
            tg_buf_appends(out, "\n");
        }
    }
    free(all);
    pthread_mutex_unlock(&m->mu);
}
