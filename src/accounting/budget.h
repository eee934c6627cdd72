/* accounting/budget.h - budgets: scopes, UTC periods, reservations, settle, spend-rate caps
 *
 * A budget caps what one scope may spend in a period: `team:payments` per month, each
 * `workflow:*` (every run separately) in total, each `feature:*` per sliding minute (a
 * spend-rate cap). Admission reserves an upper estimate of a call's cost on every budget
 * that applies and refuses the call when a hard cap would be exceeded; when the call ends
 * its real cost replaces the reservation. Money is integer nano-dollars throughout.
 *
 * The counters live behind a store interface (struct tg_budget_store_ops): the local
 * backend here keeps them in process under one mutex; a shared backend (Redis) implements
 * the same four operations for a fleet. docs/BUDGETS.md has the user-facing semantics. */
#ifndef TG_ACCOUNTING_BUDGET_H
#define TG_ACCOUNTING_BUDGET_H

#include "core/buf.h"
#include "core/err.h"
#include "core/record.h"

#include <stdbool.h>
#include <stdint.h>

enum tg_budget_scope {
    TG_BS_KEY,
    TG_BS_TEAM,
    TG_BS_TENANT,
    TG_BS_COST_CENTER,
    TG_BS_FEATURE,
    TG_BS_WORKFLOW,
    TG_BS_ACTOR,
    TG_BS_N
};

enum tg_budget_period {
    TG_BP_HOUR,
    TG_BP_DAY,
    TG_BP_WEEK, /* ISO week: Monday 00:00 UTC */
    TG_BP_MONTH,
    TG_BP_TOTAL,  /* never resets */
    TG_BP_MINUTE, /* sliding 60-second window: a spend-rate cap (USD per minute) */
    TG_BP_N
};

#define TG_BUDGET_MAX_APPLY 16 /* budgets that may apply to one call */

/* One budget definition. value "*" means "each value of the scope separately". */
struct tg_budget_def {
    char id[40]; /* "bg_" + 16 hex for stored budgets, "config:N" for the config file's */
    enum tg_budget_scope scope;
    char value[128];
    enum tg_budget_period period;
    int64_t limit_nanos;
    int soft_pct; /* 1..100; 0 = no soft warning */
    bool block;   /* action: block (hard cap) or warn (never refuses) */
    bool from_config;
    int64_t created_at_ms;
};

/** "key", "team", ... / "hour", ... "minute". */
const char *tg_budget_scope_name(enum tg_budget_scope s);
const char *tg_budget_period_name(enum tg_budget_period p);
/** The ledger column that holds a scope's value (key_id, team, tenant_id, ...). */
const char *tg_budget_scope_column(enum tg_budget_scope s);
/** Parses "team:payments" / "workflow:*" (scope names: key, team, tenant, cost_center,
 *  feature, workflow, actor). TG_ERR_INVALID with a message naming the scopes. */
int tg_budget_parse_scope(const char *s, struct tg_budget_def *d, struct tg_errbuf *eb);
int tg_budget_parse_period(const char *s, enum tg_budget_period *p, struct tg_errbuf *eb);

/** The calendar period containing now_ms: [*start, *end) in epoch ms (UTC). TOTAL: 0 and
 *  0 (no end); MINUTE: now-60 s and now. Pure. */
void tg_budget_period_bounds(enum tg_budget_period p, int64_t now_ms, int64_t *start, int64_t *end);

/** The value of the call's scope field (key_id, team, ...), "" when the call has none. */
const char *tg_budget_scope_value(enum tg_budget_scope s, const struct tg_call_record *r);

/** Indexes of the budgets in defs[0..n) that apply to r (its scope value is set and
 *  equal to the budget's value, or the budget's value is "*"), at most max. Pure. */
int tg_budget_select(const struct tg_budget_def *defs, int n, const struct tg_call_record *r,
                     int *idx, int max);

/* --- the store --------------------------------------------------------------------- */

/* A reservation held by an admitted call on one counter. */
struct tg_budget_hold {
    char budget_id[40];
    char value[128];
    int64_t period_start_ms; /* the period the reservation was taken in */
    int64_t nanos;
};

/* What a counter looked like for one applicable budget when a call was admitted or
 * settled: enough to write an error, a header or a webhook event. */
struct tg_budget_view {
    struct tg_budget_def def;
    char value[128];
    int64_t spent_nanos, reserved_nanos; /* reserved: other calls' reservations */
    int64_t reset_at_ms;                 /* 0: never (total) */
    int64_t retry_after_s;               /* refusals: when enough room frees up; 0 unknown */
};

enum tg_budget_verdict {
    TG_BUDGET_NONE,     /* no budget applies */
    TG_BUDGET_ALLOWED,  /* reserved on every applicable budget */
    TG_BUDGET_WARNING,  /* allowed; a soft threshold is crossed */
    TG_BUDGET_OVER,     /* allowed; a warn-action budget is over its limit */
    TG_BUDGET_BLOCKED,  /* refused: views[blocker] is the budget that blocked */
    TG_BUDGET_STORE_ERR /* the store could not answer (the caller applies fail_open/closed) */
};

struct tg_budget_admission {
    enum tg_budget_verdict verdict;
    int n; /* applicable budgets: views[] and holds[] */
    struct tg_budget_view views[TG_BUDGET_MAX_APPLY];
    struct tg_budget_hold holds[TG_BUDGET_MAX_APPLY];
    int blocker;      /* index into views, or -1 */
    int tightest;     /* the view with the least room left, or -1 */
    bool first_block; /* the first refusal by the blocker in its period: announce it */
};

/* A threshold crossed by a settled call: sent to the log and the webhooks once per
 * counter and period. */
struct tg_budget_event {
    const char *kind; /* "budget.warning" | "budget.exceeded" */
    struct tg_budget_view view;
};

struct tg_budget_settlement {
    int n_events;
    struct tg_budget_event events[TG_BUDGET_MAX_APPLY * 2];
    int n; /* the counters after the settle, for headers */
    struct tg_budget_view views[TG_BUDGET_MAX_APPLY];
};

struct tg_budget_store;
struct tg_budget_store_ops {
    /** Replaces the budget definitions (copied). Counters of deleted budgets are dropped. */
    void (*set_defs)(struct tg_budget_store *s, const struct tg_budget_def *defs, int n);
    /** Checks every budget that applies to r against estimate_nanos and, unless one with
     *  action block would go over its limit, reserves the estimate on all of them — one
     *  atomic step. */
    void (*admit)(struct tg_budget_store *s, const struct tg_call_record *r, int64_t estimate_nanos,
                  int64_t now_ms, struct tg_budget_admission *out);
    /** Releases the holds and adds actual_nanos to the spend of each counter still in the
     *  hold's period (a call admitted before a period rolled over counts in the old one). */
    void (*settle)(struct tg_budget_store *s, const struct tg_budget_hold *holds, int n,
                   int64_t actual_nanos, int64_t now_ms, struct tg_budget_settlement *out);
    /** Adds spend read back from the ledger at start-up, or when a budget first appears:
     *  at_ms places it (calendar periods: must fall in the current period; minute: the
     *  second it belongs to). */
    int (*seed)(struct tg_budget_store *s, const char *budget_id, const char *value, int64_t at_ms,
                int64_t nanos, int64_t now_ms);
    /** Appends a JSON array of every counter of the current periods: budget id, scope,
     *  value, period, limit, spent, reserved, remaining, reset time. */
    void (*list_json)(struct tg_budget_store *s, int64_t now_ms, struct tg_buf *out);
    void (*destroy)(struct tg_budget_store *s);
};
struct tg_budget_store {
    const struct tg_budget_store_ops *ops;
};

/** The in-process backend: at most max_counters live counters (a `*` budget creates one
 *  per value); beyond that admit answers TG_BUDGET_STORE_ERR. */
struct tg_budget_store *tg_budget_local_new(int max_counters);

/** Appends a budget view as a JSON object: id, scope, value, period, limit_usd, spent_usd,
 *  reserved_usd, remaining_usd, soft_pct, action, reset_at (null for total). */
void tg_budget_view_json(const struct tg_budget_view *v, struct tg_buf *out);
/** "team:payments" or "workflow:run-42" (the counter's own value for `*` budgets). */
void tg_budget_view_scope(const struct tg_budget_view *v, char *out, unsigned outlen);
/** Room left: limit - spent - reserved, never below 0. */
int64_t tg_budget_view_remaining(const struct tg_budget_view *v);

#endif
