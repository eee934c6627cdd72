/* tests/unit/accounting/test_budget.c - UTC period boundaries, budget selection, reservation
 * and settle arithmetic, soft/hard thresholds, the sliding spend-rate window, rollover and
 * the store's counter cap. Every amount is worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "accounting/budget.h"
#include "core/clock.h"

#define USD(x) ((int64_t)(x)*INT64_C(1000000000))

static int64_t T(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(tg_parse_time(iso, &ms), 0);
    return ms;
}

static void check_bounds(enum tg_budget_period p, const char *now, const char *start,
                         const char *end)
{
    int64_t s = 0, e = 0;
    tg_budget_period_bounds(p, T(now), &s, &e);
    assert_int_equal(s, T(start));
    assert_int_equal(e, T(end));
}

static void test_periods(void **state)
{
    (void)state;
    /* months: leap February, common February, December into the next year, exact start */
    check_bounds(TG_BP_MONTH, "2024-02-29T13:00:00Z", "2024-02-01", "2024-03-01");
    check_bounds(TG_BP_MONTH, "2023-02-28T23:59:59.999Z", "2023-02-01", "2023-03-01");
    check_bounds(TG_BP_MONTH, "2026-12-31T23:59:59.999Z", "2026-12-01", "2027-01-01");
    check_bounds(TG_BP_MONTH, "2026-12-01T00:00:00.000Z", "2026-12-01", "2027-01-01");
    check_bounds(TG_BP_MONTH, "2000-02-15", "2000-02-01", "2000-03-01"); /* 400-year leap */
    /* ISO weeks start on Monday: 2026-11-22 is a Sunday, 2026-11-23 a Monday */
    check_bounds(TG_BP_WEEK, "2026-11-22T23:59:59.999Z", "2026-11-16", "2026-11-23");
    check_bounds(TG_BP_WEEK, "2026-11-23T00:00:00Z", "2026-11-23", "2026-11-30");
    check_bounds(TG_BP_WEEK, "1970-01-01T12:00:00Z", "1969-12-29", "1970-01-05"); /* a Thursday */
    check_bounds(TG_BP_WEEK, "2024-12-31T08:00:00Z", "2024-12-30", "2025-01-06");
    check_bounds(TG_BP_DAY, "2024-02-29T23:59:59.999Z", "2024-02-29", "2024-03-01");
    check_bounds(TG_BP_HOUR, "2026-11-22T16:59:59.999Z", "2026-11-22T16:00:00Z",
                 "2026-11-22T17:00:00Z");
    int64_t s = -1, e = -1;
    tg_budget_period_bounds(TG_BP_TOTAL, T("2026-11-22"), &s, &e);
    assert_int_equal(s, 0);
    assert_int_equal(e, 0);
    tg_budget_period_bounds(TG_BP_MINUTE, 1000000, &s, &e);
    assert_int_equal(s, 940000);
    assert_int_equal(e, 1000000);
}

static void test_parse(void **state)
{
    (void)state;
    struct tg_budget_def d;
    struct tg_errbuf eb;
    enum tg_budget_period p;
    memset(&d, 0, sizeof d);
    assert_int_equal(tg_budget_parse_scope("team:payments", &d, &eb), 0);
    assert_int_equal(d.scope, TG_BS_TEAM);
    assert_string_equal(d.value, "payments");
    assert_int_equal(tg_budget_parse_scope("cost_center:cc:42", &d, &eb), 0); /* ':' in value */
    assert_int_equal(d.scope, TG_BS_COST_CENTER);
    assert_string_equal(d.value, "cc:42");
    assert_int_equal(tg_budget_parse_scope("workflow:*", &d, &eb), 0);
    assert_string_equal(d.value, "*");
    assert_int_equal(tg_budget_parse_scope("squad:x", &d, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "budget scope 'squad:x' is not SCOPE:VALUE with SCOPE one of key, "
                                "team, tenant, cost_center, feature, workflow, actor (VALUE * = "
                                "each value separately)");
    assert_int_equal(tg_budget_parse_scope("team:", &d, &eb), TG_ERR_INVALID);
    assert_int_equal(tg_budget_parse_period("month", &p, &eb), 0);
    assert_int_equal(p, TG_BP_MONTH);
    assert_int_equal(tg_budget_parse_period("minute", &p, &eb), 0);
    assert_int_equal(p, TG_BP_MINUTE);
    assert_int_equal(tg_budget_parse_period("year", &p, &eb), TG_ERR_INVALID);
}

static struct tg_budget_def def(const char *id, const char *scope, enum tg_budget_period p,
                                int64_t limit, int soft, bool block)
{
    struct tg_budget_def d;
    struct tg_errbuf eb;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    assert_int_equal(tg_budget_parse_scope(scope, &d, &eb), 0);
    d.period = p;
    d.limit_nanos = limit;
    d.soft_pct = soft;
    d.block = block;
    return d;
}

static void test_select(void **state)
{
    (void)state;
    struct tg_budget_def defs[5] = {
        def("a", "team:payments", TG_BP_MONTH, 1, 0, true),
        def("b", "team:*", TG_BP_DAY, 1, 0, true),
        def("c", "feature:search", TG_BP_DAY, 1, 0, true), /* the call has no feature */
        def("d", "workflow:*", TG_BP_TOTAL, 1, 0, true),
        def("e", "team:risk", TG_BP_MONTH, 1, 0, true), /* another team */
    };
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.team, sizeof r.team, "payments");
    snprintf(r.workflow_id, sizeof r.workflow_id, "run-7");
    int idx[8];
    assert_int_equal(tg_budget_select(defs, 5, &r, idx, 8), 3);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 3);
    memset(&r, 0, sizeof r); /* unattributed: only budgets on fields it has */
    assert_int_equal(tg_budget_select(defs, 5, &r, idx, 8), 0);
}

static struct tg_call_record team_call(const char *team)
{
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.team, sizeof r.team, "%s", team);
    return r;
}

static void test_reserve_settle(void **state)
{
    (void)state;
    struct tg_budget_store *s = tg_budget_local_new(100);
    struct tg_budget_def d = def("b1", "team:payments", TG_BP_MONTH, USD(10), 80, true);
    s->ops->set_defs(s, &d, 1);
    struct tg_call_record r = team_call("payments");
    int64_t now = T("2026-11-22T10:00:00Z");
    struct tg_budget_admission a1, a2, a3, a4, a5;
    struct tg_budget_settlement st;

    s->ops->admit(s, &r, USD(3), now, &a1); /* 0 + 0 + 3 = 3 <= 10, 3 < 8 */
    assert_int_equal(a1.verdict, TG_BUDGET_ALLOWED);
    assert_int_equal(a1.n, 1);
    assert_int_equal(a1.holds[0].nanos, USD(3));
    s->ops->admit(s, &r, USD(3), now, &a2); /* 0 + 3 + 3 = 6 */
    assert_int_equal(a2.verdict, TG_BUDGET_ALLOWED);
    assert_int_equal(a2.views[0].reserved_nanos, USD(3));
    s->ops->admit(s, &r, USD(3), now, &a3); /* 0 + 6 + 3 = 9 >= 80% of 10 */
    assert_int_equal(a3.verdict, TG_BUDGET_WARNING);
    s->ops->admit(s, &r, USD(2), now, &a4); /* 0 + 9 + 2 = 11 > 10: blocked, nothing reserved */
    assert_int_equal(a4.verdict, TG_BUDGET_BLOCKED);
    assert_int_equal(a4.blocker, 0);
    assert_true(a4.first_block);
    assert_int_equal(a4.views[0].spent_nanos, 0);
    assert_int_equal(a4.views[0].reserved_nanos, USD(9));
    assert_int_equal(a4.views[0].reset_at_ms, T("2026-12-01"));
    /* 2026-11-22T10:00Z to 2026-12-01T00:00Z: 8 days 14 hours */
    assert_int_equal(a4.views[0].retry_after_s, 8 * 86400 + 14 * 3600);
    assert_int_equal(tg_budget_view_remaining(&a4.views[0]), USD(1));

    s->ops->settle(s, a1.holds, a1.n, USD(1), now, &st); /* reserved 9 - 3 = 6, spent 1 */
    assert_int_equal(st.n, 1);
    assert_int_equal(st.views[0].spent_nanos, USD(1));
    assert_int_equal(st.views[0].reserved_nanos, USD(6));
    assert_int_equal(st.n_events, 0);
    s->ops->admit(s, &r, USD(2), now, &a5); /* 1 + 6 + 2 = 9 <= 10: now it fits */
    assert_int_equal(a5.verdict, TG_BUDGET_WARNING);
    s->ops->settle(s, a2.holds, a2.n, USD(5) / 2, now, &st); /* spent 3.5 */
    s->ops->settle(s, a3.holds, a3.n, USD(3), now, &st);     /* spent 6.5 */
    assert_int_equal(st.n_events, 0);
    s->ops->settle(s, a5.holds, a5.n, USD(2), now, &st); /* spent 8.5: crosses 80% of 10 */
    assert_int_equal(st.views[0].spent_nanos, USD(17) / 2);
    assert_int_equal(st.views[0].reserved_nanos, 0);
    assert_int_equal(st.n_events, 1);
    assert_string_equal(st.events[0].kind, "budget.warning");
    assert_int_equal(st.events[0].view.spent_nanos, USD(17) / 2);

    struct tg_buf js = {0};
    s->ops->list_json(s, now, &js);
    assert_string_equal(js.base,
                        "[{\"id\":\"b1\",\"scope\":\"team:payments\",\"value\":\"payments\","
                        "\"period\":\"month\",\"limit_usd\":\"10\",\"spent_usd\":\"8.5\","
                        "\"reserved_usd\":\"0\",\"remaining_usd\":\"1.5\",\"soft_pct\":80,"
                        "\"action\":\"block\",\"source\":\"cli\",\"reset_at\":\"2026-12-"
                        "01T00:00:00.000Z\"}]");
    tg_buf_free(&js);

    /* a budget deleted while a call runs: its settle lands nowhere */
    s->ops->admit(s, &r, USD(1), now, &a1);
    s->ops->set_defs(s, NULL, 0);
    s->ops->settle(s, a1.holds, a1.n, USD(1), now, &st);
    assert_int_equal(st.n, 0);
    s->ops->destroy(s);
}

static void test_warn_action(void **state)
{
    (void)state;
    struct tg_budget_store *s = tg_budget_local_new(100);
    struct tg_budget_def d = def("w", "team:*", TG_BP_DAY, USD(1), 0, false);
    s->ops->set_defs(s, &d, 1);
    struct tg_call_record r = team_call("risk");
    int64_t now = T("2026-11-22T10:00:00Z");
    struct tg_budget_admission a;
    struct tg_budget_settlement st;
    s->ops->admit(s, &r, USD(2), now, &a); /* 2 > 1 but action warn: allowed, over */
    assert_int_equal(a.verdict, TG_BUDGET_OVER);
    assert_string_equal(a.views[0].value, "risk");
    s->ops->settle(s, a.holds, a.n, USD(3) / 2, now, &st);
    assert_int_equal(st.n_events, 1);
    assert_string_equal(st.events[0].kind, "budget.exceeded");
    s->ops->admit(s, &r, USD(1), now, &a);
    s->ops->settle(s, a.holds, a.n, USD(1), now, &st); /* announced once per period */
    assert_int_equal(st.n_events, 0);
    assert_int_equal(st.views[0].spent_nanos, USD(5) / 2);
    /* the next day starts from zero */
    s->ops->admit(s, &r, USD(1) / 2, now + 86400000, &a);
    assert_int_equal(a.verdict, TG_BUDGET_ALLOWED);
    assert_int_equal(a.views[0].spent_nanos, 0);
    s->ops->destroy(s);
}

static void test_rate_window(void **state)
{
    (void)state;
    struct tg_budget_store *s = tg_budget_local_new(100);
    struct tg_budget_def d = def("r", "feature:*", TG_BP_MINUTE, USD(5), 0, true);
    s->ops->set_defs(s, &d, 1);
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.feature_id, sizeof r.feature_id, "summarize");
    int64_t t0 = INT64_C(1800000000000);
    assert_int_equal(s->ops->seed(s, "r", "summarize", t0 - 50000, USD(2), t0), 0);
    assert_int_equal(s->ops->seed(s, "r", "summarize", t0 - 10000, USD(2), t0), 0);
    assert_int_equal(s->ops->seed(s, "r", "summarize", t0 - 70000, USD(9), t0), 0); /* too old */
    struct tg_budget_admission a;
    struct tg_budget_settlement st;
    s->ops->admit(s, &r, USD(2), t0, &a); /* window 4 + 2 = 6 > 5 */
    assert_int_equal(a.verdict, TG_BUDGET_BLOCKED);
    assert_int_equal(a.views[0].spent_nanos, USD(4));
    assert_int_equal(a.views[0].reset_at_ms, 0);
    /* when the t0-50 s second leaves the window (at t0+10 s), 2 + 2 = 4 fits */
    assert_int_equal(a.views[0].retry_after_s, 10);
    s->ops->admit(s, &r, USD(2), t0 + 11000, &a);
    assert_int_equal(a.verdict, TG_BUDGET_ALLOWED);
    assert_int_equal(a.views[0].spent_nanos, USD(2));
    s->ops->settle(s, a.holds, a.n, USD(1), t0 + 12000, &st);
    assert_int_equal(st.views[0].spent_nanos, USD(3)); /* t0-10 s: 2, t0+12 s: 1 */
    assert_int_equal(st.views[0].reserved_nanos, 0);
    /* a minute later everything has left the window */
    s->ops->admit(s, &r, USD(5), t0 + 73000, &a);
    assert_int_equal(a.verdict, TG_BUDGET_ALLOWED);
    assert_int_equal(a.views[0].spent_nanos, 0);
    s->ops->destroy(s);
}

static void test_rollover_and_cap(void **state)
{
    (void)state;
    struct tg_budget_store *s = tg_budget_local_new(1);
    struct tg_budget_def d = def("m", "team:*", TG_BP_MONTH, USD(10), 0, true);
    s->ops->set_defs(s, &d, 1);
    struct tg_call_record a_team = team_call("a"), b_team = team_call("b");
    struct tg_budget_admission a, b;
    struct tg_budget_settlement st;
    int64_t jan31 = T("2026-01-31T23:59:59Z"), feb1 = T("2026-02-01T00:00:01Z");
    s->ops->admit(s, &a_team, USD(4), jan31, &a);
    assert_int_equal(a.verdict, TG_BUDGET_ALLOWED);
    /* one counter is the cap and team a's holds a reservation: team b cannot get one */
    s->ops->admit(s, &b_team, USD(1), jan31, &b);
    assert_int_equal(b.verdict, TG_BUDGET_STORE_ERR);
    /* settled after midnight: the spend belongs to January, February starts at 0 */
    s->ops->settle(s, a.holds, a.n, USD(3), feb1, &st);
    assert_int_equal(st.views[0].spent_nanos, 0);
    assert_int_equal(st.views[0].reserved_nanos, 0);
    /* team a's counter is now empty and stale once the month moves on: swept for team b */
    s->ops->admit(s, &b_team, USD(1), T("2026-03-01T00:00:00Z"), &b);
    assert_int_equal(b.verdict, TG_BUDGET_ALLOWED);
    s->ops->destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periods),          cmocka_unit_test(test_parse),
        cmocka_unit_test(test_select),           cmocka_unit_test(test_reserve_settle),
        cmocka_unit_test(test_warn_action),      cmocka_unit_test(test_rate_window),
        cmocka_unit_test(test_rollover_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
