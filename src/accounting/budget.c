/* accounting/budget.c - budget scopes, UTC periods, and the in-process counter store
 *
 * DESIGN. A counter is (budget id, scope value): the spend of the current period and the
 * sum of the reservations of calls in flight. Calendar periods roll over lazily (the
 * first touch in a new period zeroes the spend; reservations carry on until their calls
 * settle). A minute budget keeps 60 one-second buckets: its spend is the sum of the
 * buckets of the last 60 seconds, so the rate is a sliding window at one-second
 * granularity. One mutex guards the whole store: admission is a few hash lookups and
 * additions, far shorter than anything else on the request path. */
#include "accounting/budget.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/money.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scope_names[TG_BS_N] = {"key",     "team",     "tenant", "cost_center",
                                                 "feature", "workflow", "actor"};
static const char *const scope_columns[TG_BS_N] = {
    "key_id", "team", "tenant_id", "cost_center", "feature_id", "workflow_id", "actor_id"};
static const char *const period_names[TG_BP_N] = {"hour",  "day",   "week",
                                                  "month", "total", "minute"};

const char *tg_budget_scope_name(enum tg_budget_scope s)
{
    return (unsigned)s < TG_BS_N ? scope_names[s] : "?";
}

const char *tg_budget_scope_column(enum tg_budget_scope s)
{
    return (unsigned)s < TG_BS_N ? scope_columns[s] : "?";
}

const char *tg_budget_period_name(enum tg_budget_period p)
{
    return (unsigned)p < TG_BP_N ? period_names[p] : "?";
}

int tg_budget_parse_scope(const char *s, struct tg_budget_def *d, struct tg_errbuf *eb)
{
    const char *colon = strchr(s, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - s), vn = strlen(colon + 1);
        for (int i = 0; i < TG_BS_N; i++) {
            if (strlen(scope_names[i]) == n && memcmp(s, scope_names[i], n) == 0) {
                if (vn == 0 || vn >= sizeof d->value)
                    return tg_errf(eb, TG_ERR_INVALID,
                                   "budget scope '%s': the value after ':' must be 1 to %zu "
                                   "characters (or * for each value separately)",
                                   s, sizeof d->value - 1);
                d->scope = (enum tg_budget_scope)i;
                memcpy(d->value, colon + 1, vn + 1);
                return 0;
            }
        }
    }
    return tg_errf(eb, TG_ERR_INVALID,
                   "budget scope '%s' is not SCOPE:VALUE with SCOPE one of key, team, tenant, "
                   "cost_center, feature, workflow, actor (VALUE * = each value separately)",
                   s);
}

int tg_budget_parse_period(const char *s, enum tg_budget_period *p, struct tg_errbuf *eb)
{
    for (int i = 0; i < TG_BP_N; i++)
        if (strcmp(s, period_names[i]) == 0) {
            *p = (enum tg_budget_period)i;
            return 0;
        }
    return tg_errf(eb, TG_ERR_INVALID,
                   "budget period '%s' is not hour, day, week, month, total or minute (a "
                   "spend-rate cap)",
                   s);
}

#define DAY_MS  INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void tg_budget_period_bounds(enum tg_budget_period p, int64_t now_ms, int64_t *start, int64_t *end)
{
    int64_t day = floor_div(now_ms, DAY_MS);
    int y;
    unsigned m, d;
    switch (p) {
    case TG_BP_HOUR:
        *start = floor_div(now_ms, HOUR_MS) * HOUR_MS;
        *end = *start + HOUR_MS;
        return;
    case TG_BP_DAY:
        *start = day * DAY_MS;
        *end = *start + DAY_MS;
        return;
    case TG_BP_WEEK: {
        /* 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0 */
        int64_t monday = day - ((day % 7 + 7 + 3) % 7);
        *start = monday * DAY_MS;
        *end = *start + 7 * DAY_MS;
        return;
    }
    case TG_BP_MONTH:
        tg_civil_from_days(day, &y, &m, &d);
        *start = tg_days_from_civil(y, m, 1) * DAY_MS;
        *end =
            (m == 12 ? tg_days_from_civil(y + 1, 1, 1) : tg_days_from_civil(y, m + 1, 1)) * DAY_MS;
        return;
    case TG_BP_MINUTE:
        *start = now_ms - 60000;
        *end = now_ms;
        return;
    case TG_BP_TOTAL:
    default:
        *start = 0;
        *end = 0;
        return;
    }
}

const char *tg_budget_scope_value(enum tg_budget_scope s, const struct tg_call_record *r)
{
    switch (s) {
    case TG_BS_KEY: return r->key_id;
    case TG_BS_TEAM: return r->team;
    case TG_BS_TENANT: return r->tenant_id;
    case TG_BS_COST_CENTER: return r->cost_center;
    case TG_BS_FEATURE: return r->feature_id;
    case TG_BS_WORKFLOW: return r->workflow_id;
    case TG_BS_ACTOR: return r->actor_id;
    default: return "";
    }
}

int tg_budget_select(const struct tg_budget_def *defs, int n, const struct tg_call_record *r,
                     int *idx, int max)
{
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        const char *v = tg_budget_scope_value(defs[i].scope, r);
        if (v[0] != '\0' && (strcmp(defs[i].value, "*") == 0 || strcmp(defs[i].value, v) == 0))
            idx[k++] = i;
    }
    return k;
}

/* --- views ------------------------------------------------------------------------- */

int64_t tg_budget_view_remaining(const struct tg_budget_view *v)
{
    int64_t left = v->def.limit_nanos - v->spent_nanos - v->reserved_nanos;
    return left > 0 ? left : 0;
}

void tg_budget_view_scope(const struct tg_budget_view *v, char *out, unsigned outlen)
{
    snprintf(out, outlen, "%s:%s", tg_budget_scope_name(v->def.scope), v->value);
}

void tg_budget_view_json(const struct tg_budget_view *v, struct tg_buf *out)
{
    char lim[32], sp[32], rs[32], rem[32], reset[25];
    tg_money_format_usd(v->def.limit_nanos, lim, sizeof lim);
    tg_money_format_usd(v->spent_nanos, sp, sizeof sp);
    tg_money_format_usd(v->reserved_nanos, rs, sizeof rs);
    tg_money_format_usd(tg_budget_view_remaining(v), rem, sizeof rem);
    tg_buf_appendf(out, "{\"id\":\"%s\",\"scope\":", v->def.id);
    struct tg_buf scope = {0};
    tg_buf_appendf(&scope, "%s:%s", tg_budget_scope_name(v->def.scope), v->def.value);
    tg_buf_append_json_str(out, scope.base, scope.len);
    tg_buf_free(&scope);
    tg_buf_appends(out, ",\"value\":");
    tg_buf_append_json_str(out, v->value, strlen(v->value));
    tg_buf_appendf(out,
                   ",\"period\":\"%s\",\"limit_usd\":\"%s\",\"spent_usd\":\"%s\","
                   "\"reserved_usd\":\"%s\",\"remaining_usd\":\"%s\",\"soft_pct\":%d,"
                   "\"action\":\"%s\",\"source\":\"%s\",\"reset_at\":",
                   tg_budget_period_name(v->def.period), lim, sp, rs, rem, v->def.soft_pct,
                   v->def.block ? "block" : "warn", v->def.from_config ? "config" : "cli");
    if (v->reset_at_ms > 0) {
        tg_iso8601_ms(v->reset_at_ms, reset);
        tg_buf_appendf(out, "\"%s\"}", reset);
    } else {
        tg_buf_appends(out, "null}");
    }
}

/* --- the local store ----------------------------------------------------------------- */

struct counter {
    struct counter *next;
    char budget_id[40];
    char value[128];
    int64_t period_start;
    int64_t spent, reserved;
    int64_t win_sec[60], win_nanos[60]; /* minute budgets: spend per second */
    bool warned, exceeded;
};

struct local {
    struct tg_budget_store base;
    pthread_mutex_t mu;
    struct tg_budget_def *defs;
    int n_defs;
    struct counter **buckets;
    unsigned n_buckets;
    int n_counters, max_counters;
};

static unsigned hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0x1f) * 16777619u;
    for (const char *p = b; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static const struct tg_budget_def *find_def(const struct local *s, const char *id)
{
    for (int i = 0; i < s->n_defs; i++)
        if (strcmp(s->defs[i].id, id) == 0)
            return &s->defs[i];
    return NULL;
}

static struct counter **slot_of(struct local *s, const char *id, const char *value)
{
    struct counter **pp = &s->buckets[hash2(id, value) & (s->n_buckets - 1)];
    while (*pp != NULL && (strcmp((*pp)->budget_id, id) != 0 || strcmp((*pp)->value, value) != 0))
        pp = &(*pp)->next;
    return pp;
}

static int64_t window_sum(const struct counter *c, int64_t now_s)
{
    int64_t sum = 0;
    for (int i = 0; i < 60; i++)
        if (c->win_sec[i] > now_s - 60 && c->win_sec[i] <= now_s)
            sum += c->win_nanos[i];
    return sum;
}

static int64_t spent_of(const struct tg_budget_def *d, const struct counter *c, int64_t now_ms)
{
    return d->period == TG_BP_MINUTE ? window_sum(c, floor_div(now_ms, 1000)) : c->spent;
}

/* A counter left in a past period with nothing reserved carries no information. */
static bool is_stale(const struct tg_budget_def *d, const struct counter *c, int64_t now_ms)
{
    if (c->reserved != 0)
        return false;
    if (d == NULL)
        return true;
    if (d->period == TG_BP_MINUTE)
        return window_sum(c, floor_div(now_ms, 1000)) == 0;
    int64_t start, end;
    tg_budget_period_bounds(d->period, now_ms, &start, &end);
    return d->period != TG_BP_TOTAL && c->period_start != start;
}

static void sweep(struct local *s, int64_t now_ms)
{
    for (unsigned b = 0; b < s->n_buckets; b++) {
        struct counter **pp = &s->buckets[b];
        while (*pp != NULL) {
            struct counter *c = *pp;
            if (is_stale(find_def(s, c->budget_id), c, now_ms)) {
                *pp = c->next;
                free(c);
                s->n_counters--;
            } else {
                pp = &c->next;
            }
        }
    }
}

static void roll(const struct tg_budget_def *d, struct counter *c, int64_t now_ms)
{
    int64_t start, end;
    if (d->period == TG_BP_MINUTE || d->period == TG_BP_TOTAL)
        return;
    tg_budget_period_bounds(d->period, now_ms, &start, &end);
    if (c->period_start != start) {
        c->period_start = start;
        c->spent = 0;
        c->warned = c->exceeded = false;
    }
}

/* The counter of (d, value); created (when create) in the current period. NULL when the
 * store is full even after dropping stale counters. */
static struct counter *get(struct local *s, const struct tg_budget_def *d, const char *value,
                           int64_t now_ms, bool create)
{
    struct counter **pp = slot_of(s, d->id, value);
    if (*pp == NULL && create) {
        if (s->n_counters >= s->max_counters) {
            sweep(s, now_ms);
            if (s->n_counters >= s->max_counters)
                return NULL;
            pp = slot_of(s, d->id, value);
        }
        struct counter *c = tg_calloc(1, sizeof *c);
        snprintf(c->budget_id, sizeof c->budget_id, "%s", d->id);
        snprintf(c->value, sizeof c->value, "%s", value);
        int64_t end;
        tg_budget_period_bounds(d->period, now_ms, &c->period_start, &end);
        if (d->period == TG_BP_MINUTE)
            c->period_start = 0;
        *pp = c;
        s->n_counters++;
    }
    if (*pp != NULL)
        roll(d, *pp, now_ms);
    return *pp;
}

static void fill_view(const struct tg_budget_def *d, const struct counter *c, int64_t now_ms,
                      struct tg_budget_view *v)
{
    int64_t start, end;
    memset(v, 0, sizeof *v);
    v->def = *d;
    snprintf(v->value, sizeof v->value, "%s", c->value);
    v->spent_nanos = spent_of(d, c, now_ms);
    v->reserved_nanos = c->reserved;
    tg_budget_period_bounds(d->period, now_ms, &start, &end);
    v->reset_at_ms = d->period == TG_BP_MINUTE ? 0 : end;
}

/* Seconds until a blocked call of estimate nanos would fit. Calendar periods: the reset.
 * Minute: the moment enough of the oldest buckets leave the window. Total: 0 (never). */
static int64_t retry_after(const struct tg_budget_def *d, const struct counter *c, int64_t est,
                           int64_t now_ms)
{
    if (d->period == TG_BP_TOTAL)
        return 0;
    if (d->period != TG_BP_MINUTE) {
        int64_t start, end;
        tg_budget_period_bounds(d->period, now_ms, &start, &end);
        return (end - now_ms + 999) / 1000;
    }
    int64_t now_s = floor_div(now_ms, 1000);
    int64_t used = window_sum(c, now_s) + c->reserved + est;
    for (int64_t t = now_s - 59; t <= now_s; t++) { /* oldest second first */
        for (int i = 0; i < 60; i++)
            if (c->win_sec[i] == t)
                used -= c->win_nanos[i];
        if (used <= d->limit_nanos)
            return t + 60 - now_s;
    }
    return 60;
}

static void local_admit(struct tg_budget_store *st, const struct tg_call_record *r, int64_t est,
                        int64_t now_ms, struct tg_budget_admission *out)
{
    struct local *s = (struct local *)st;
    int idx[TG_BUDGET_MAX_APPLY];
    struct counter *cs[TG_BUDGET_MAX_APPLY];
    memset(out, 0, sizeof *out);
    out->blocker = out->tightest = -1;
    pthread_mutex_lock(&s->mu);
    int n = tg_budget_select(s->defs, s->n_defs, r, idx, TG_BUDGET_MAX_APPLY);
    bool warning = false, over = false;
    int64_t least = INT64_MAX;
    out->verdict = TG_BUDGET_NONE;
    for (int i = 0; i < n; i++) {
        const struct tg_budget_def *d = &s->defs[idx[i]];
        const char *value = tg_budget_scope_value(d->scope, r);
        cs[i] = get(s, d, value, now_ms, true);
        if (cs[i] == NULL) {
            out->verdict = TG_BUDGET_STORE_ERR;
            out->n = 0;
            pthread_mutex_unlock(&s->mu);
            return;
        }
        struct tg_budget_view *v = &out->views[i];
        fill_view(d, cs[i], now_ms, v);
        int64_t after = v->spent_nanos + v->reserved_nanos + est;
        if (after > d->limit_nanos) {
            if (d->block && out->blocker < 0)
                out->blocker = i;
            else if (!d->block)
                over = true;
        }
        if (d->soft_pct > 0 && after * 100 >= d->limit_nanos * d->soft_pct)
            warning = true;
        if (d->limit_nanos - after < least) {
            least = d->limit_nanos - after;
            out->tightest = i;
        }
    }
    out->n = n;
    if (out->blocker >= 0) {
        int b = out->blocker;
        const struct tg_budget_def *d = &s->defs[idx[b]];
        out->views[b].retry_after_s = retry_after(d, cs[b], est, now_ms);
        out->verdict = TG_BUDGET_BLOCKED;
        if (!cs[b]->exceeded) {
            cs[b]->exceeded = true;
            out->first_block = true;
        }
    } else if (n > 0) {
        for (int i = 0; i < n; i++) {
            cs[i]->reserved += est;
            struct tg_budget_hold *h = &out->holds[i];
            snprintf(h->budget_id, sizeof h->budget_id, "%s", cs[i]->budget_id);
            snprintf(h->value, sizeof h->value, "%s", cs[i]->value);
            h->period_start_ms = cs[i]->period_start;
            h->nanos = est;
        }
        out->verdict = over ? TG_BUDGET_OVER : warning ? TG_BUDGET_WARNING : TG_BUDGET_ALLOWED;
    }
    pthread_mutex_unlock(&s->mu);
}

static void local_settle(struct tg_budget_store *st, const struct tg_budget_hold *holds, int n,
                         int64_t actual, int64_t now_ms, struct tg_budget_settlement *out)
{
    struct local *s = (struct local *)st;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < n; i++) {
        const struct tg_budget_hold *h = &holds[i];
        const struct tg_budget_def *d = find_def(s, h->budget_id);
        if (d == NULL)
            continue; /* deleted while the call ran */
        struct counter *c = get(s, d, h->value, now_ms, false);
        if (c == NULL)
            continue;
        c->reserved = c->reserved > h->nanos ? c->reserved - h->nanos : 0;
        int64_t before = spent_of(d, c, now_ms);
        if (d->period == TG_BP_MINUTE) {
            int64_t now_s = floor_div(now_ms, 1000);
            int slot = (int)(now_s % 60);
            if (c->win_sec[slot] != now_s) {
                c->win_sec[slot] = now_s;
                c->win_nanos[slot] = 0;
            }
            c->win_nanos[slot] += actual;
            /* a rate can fall back under its thresholds: warn again next time it rises */
            if (before * 100 < d->limit_nanos * d->soft_pct)
                c->warned = false;
            if (before < d->limit_nanos)
                c->exceeded = false;
        } else if (h->period_start_ms == c->period_start) {
            c->spent += actual;
        }
        int64_t after = spent_of(d, c, now_ms);
        struct tg_budget_view *v = &out->views[out->n++];
        fill_view(d, c, now_ms, v);
        if (d->soft_pct > 0 && !c->warned && after * 100 >= d->limit_nanos * d->soft_pct) {
            c->warned = true;
            out->events[out->n_events].kind = "budget.warning";
            out->events[out->n_events++].view = *v;
        }
        if (!c->exceeded && after >= d->limit_nanos) {
            c->exceeded = true;
            out->events[out->n_events].kind = "budget.exceeded";
            out->events[out->n_events++].view = *v;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static int local_seed(struct tg_budget_store *st, const char *budget_id, const char *value,
                      int64_t at_ms, int64_t nanos, int64_t now_ms)
{
    struct local *s = (struct local *)st;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    const struct tg_budget_def *d = find_def(s, budget_id);
    struct counter *c = d ? get(s, d, value, now_ms, true) : NULL;
    if (d == NULL || c == NULL) {
        rc = TG_ERR_NOTFOUND;
    } else if (d->period == TG_BP_MINUTE) {
        int64_t sec = floor_div(at_ms, 1000), now_s = floor_div(now_ms, 1000);
        int slot = (int)(sec % 60);
        if (sec > now_s - 60 && sec <= now_s) {
            if (c->win_sec[slot] != sec) {
                c->win_sec[slot] = sec;
                c->win_nanos[slot] = 0;
            }
            c->win_nanos[slot] += nanos;
        }
    } else if (d->period == TG_BP_TOTAL || at_ms >= c->period_start) {
        c->spent += nanos;
    }
    if (c != NULL) {
        int64_t after = spent_of(d, c, now_ms);
        /* already past a threshold at start-up: do not announce it again */
        if (d->soft_pct > 0 && after * 100 >= d->limit_nanos * d->soft_pct)
            c->warned = true;
        if (after >= d->limit_nanos)
            c->exceeded = true;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void local_set_defs(struct tg_budget_store *st, const struct tg_budget_def *defs, int n)
{
    struct local *s = (struct local *)st;
    struct tg_budget_def *copy = n > 0 ? tg_malloc(sizeof *copy * (size_t)n) : NULL;
    if (n > 0)
        memcpy(copy, defs, sizeof *copy * (size_t)n);
    pthread_mutex_lock(&s->mu);
    free(s->defs);
    s->defs = copy;
    s->n_defs = n;
    /* counters of deleted budgets go; a call still holding one settles into nothing */
    for (unsigned b = 0; b < s->n_buckets; b++) {
        struct counter **pp = &s->buckets[b];
        while (*pp != NULL) {
            struct counter *c = *pp;
            if (find_def(s, c->budget_id) == NULL) {
                *pp = c->next;
                free(c);
                s->n_counters--;
            } else {
                pp = &c->next;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static int cmp_views(const void *a, const void *b)
{
    const struct tg_budget_view *x = a, *y = b;
    return strcmp(x->value, y->value);
}

static void local_list_json(struct tg_budget_store *st, int64_t now_ms, struct tg_buf *out)
{
    struct local *s = (struct local *)st;
    bool first = true;
    pthread_mutex_lock(&s->mu);
    tg_buf_appends(out, "[");
    for (int i = 0; i < s->n_defs; i++) {
        const struct tg_budget_def *d = &s->defs[i];
        struct tg_budget_view *vs = NULL;
        int nv = 0, cap = 0;
        for (unsigned b = 0; b < s->n_buckets; b++)
            for (struct counter *c = s->buckets[b]; c != NULL; c = c->next) {
                if (strcmp(c->budget_id, d->id) != 0)
                    continue;
                roll(d, c, now_ms);
                if (nv == cap) {
                    cap = cap ? cap * 2 : 8;
                    vs = tg_realloc(vs, sizeof *vs * (size_t)cap);
                }
                fill_view(d, c, now_ms, &vs[nv++]);
            }
        if (nv == 0) { /* nothing spent yet ("*": no value seen yet) */
            struct counter zero;
            memset(&zero, 0, sizeof zero);
            snprintf(zero.value, sizeof zero.value, "%s", d->value);
            vs = tg_malloc(sizeof *vs);
            fill_view(d, &zero, now_ms, &vs[nv++]);
        }
        qsort(vs, (size_t)nv, sizeof *vs, cmp_views);
        for (int k = 0; k < nv; k++) {
            tg_buf_appends(out, first ? "" : ",");
            first = false;
            tg_budget_view_json(&vs[k], out);
        }
        free(vs);
    }
    tg_buf_appends(out, "]");
    pthread_mutex_unlock(&s->mu);
}

static void local_destroy(struct tg_budget_store *st)
{
    struct local *s = (struct local *)st;
    if (s == NULL)
        return;
    for (unsigned b = 0; b < s->n_buckets; b++)
        for (struct counter *c = s->buckets[b], *next; c != NULL; c = next) {
            next = c->next;
            free(c);
        }
    free(s->buckets);
    free(s->defs);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const struct tg_budget_store_ops local_ops = {
    .set_defs = local_set_defs,
    .admit = local_admit,
    .settle = local_settle,
    .seed = local_seed,
    .list_json = local_list_json,
    .destroy = local_destroy,
};

struct tg_budget_store *tg_budget_local_new(int max_counters)
{
    struct local *s = tg_calloc(1, sizeof *s);
    s->base.ops = &local_ops;
    pthread_mutex_init(&s->mu, NULL);
    s->max_counters = max_counters > 0 ? max_counters : 1;
    s->n_buckets = 64;
    while (s->n_buckets < (unsigned)s->max_counters && s->n_buckets < (1u << 20))
        s->n_buckets <<= 1;
    s->buckets = tg_calloc(s->n_buckets, sizeof *s->buckets);
    return &s->base;
}
