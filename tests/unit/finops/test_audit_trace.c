/* tests/unit/finops/test_audit_trace.c - where attribution breaks along a trace: the
 * committed 4-hop fixture (renamed at one hop, dropped at another), name matching, errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "accounting/identity.h"
#include "cli/cli.h"
#include "finops/audit_trace.h"
#include "tests/unit/finops/audit_cli.h"

static char *slurp(const char *rel, size_t *len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", getenv("TG_FIXTURES") ? getenv("TG_FIXTURES") : "tests/fixtures",
             rel);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The fixture: web-frontend -> checkout-api -> summarizer -> tollgate, written in three
 * lines as the Collector's file exporter batches them (hop 3 before hop 2 in the file, ids
 * upper-case on the first hop). checkout-api renames tenant_id to app.tenant, summarizer to
 * tenantId and drops cost_center and actor_type; tollgate's own span has tollgate.<key>
 * names; deployment.environment is a resource attribute (a rename of environment) that the
 * summarizer's resource lacks. A second, one-hop trace is intact. */
static void test_fixture_json(void **state)
{
    (void)state;
    size_t len;
    char *text = slurp("otlp/checkout_trace.jsonl", &len);
    struct tg_identity_config ic;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    int breaks = -1;
    tg_identity_config_defaults(&ic);
    assert_int_equal(tg_audit_trace_run("checkout_trace.jsonl", text, len, &ic, TG_AUDIT_JSON, &out,
                                        &breaks, &eb),
                     0);
    assert_string_equal(
        out.base,
        "{\"traces\":[{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"hops\":["
        "{\"hop\":1,\"span_id\":\"00f067aa0ba902b7\",\"parent_span_id\":null,\"parent_hop\":null,"
        "\"service\":\"web-frontend\",\"name\":\"GET /checkout\",\"fields\":{"
        "\"tenant_id\":{\"status\":\"kept\",\"as\":\"tenant_id\",\"value\":\"acme\"},"
        "\"team\":{\"status\":\"kept\",\"as\":\"team\",\"value\":\"payments\"},"
        "\"cost_center\":{\"status\":\"kept\",\"as\":\"cost_center\",\"value\":\"CC-100\"},"
        "\"feature_id\":{\"status\":\"kept\",\"as\":\"baggage.feature_id\",\"value\":"
        "\"checkout\"},"
        "\"workflow_id\":{\"status\":\"kept\",\"as\":\"workflow_id\",\"value\":\"9001\"},"
        "\"actor_type\":{\"status\":\"kept\",\"as\":\"actor_type\",\"value\":\"human\"},"
        "\"environment\":{\"status\":\"renamed\",\"as\":\"deployment.environment\",\"value\":"
        "\"prod\"}}},"
        "{\"hop\":2,\"span_id\":\"1a2b3c4d5e6f7081\",\"parent_span_id\":\"00f067aa0ba902b7\","
        "\"parent_hop\":1,\"service\":\"checkout-api\",\"name\":\"POST /orders\",\"fields\":{"
        "\"tenant_id\":{\"status\":\"renamed\",\"as\":\"app.tenant\",\"value\":\"acme\"},"
        "\"team\":{\"status\":\"kept\",\"as\":\"team\",\"value\":\"payments\"},"
        "\"cost_center\":{\"status\":\"kept\",\"as\":\"cost_center\",\"value\":\"CC-100\"},"
        "\"feature_id\":{\"status\":\"kept\",\"as\":\"baggage.feature_id\",\"value\":"
        "\"checkout\"},"
        "\"workflow_id\":{\"status\":\"kept\",\"as\":\"workflow_id\",\"value\":\"9001\"},"
        "\"actor_type\":{\"status\":\"kept\",\"as\":\"actor_type\",\"value\":\"human\"},"
        "\"environment\":{\"status\":\"renamed\",\"as\":\"deployment.environment\",\"value\":"
        "\"prod\"}}},"
        "{\"hop\":3,\"span_id\":\"2b3c4d5e6f708192\",\"parent_span_id\":\"1a2b3c4d5e6f7081\","
        "\"parent_hop\":2,\"service\":\"summarizer\",\"name\":\"summarize\",\"fields\":{"
        "\"tenant_id\":{\"status\":\"renamed\",\"as\":\"tenantId\",\"value\":\"acme\"},"
        "\"team\":{\"status\":\"kept\",\"as\":\"team\",\"value\":\"payments\"},"
        "\"cost_center\":{\"status\":\"dropped\"},"
        "\"feature_id\":{\"status\":\"kept\",\"as\":\"feature_id\",\"value\":\"checkout\"},"
        "\"workflow_id\":{\"status\":\"kept\",\"as\":\"workflow_id\",\"value\":\"9001\"},"
        "\"actor_type\":{\"status\":\"dropped\"},"
        "\"environment\":{\"status\":\"dropped\"}}},"
        "{\"hop\":4,\"span_id\":\"3c4d5e6f708192a3\",\"parent_span_id\":\"2b3c4d5e6f708192\","
        "\"parent_hop\":3,\"service\":\"tollgate\",\"name\":\"chat gpt-4o\",\"fields\":{"
        "\"tenant_id\":{\"status\":\"kept\",\"as\":\"tollgate.tenant_id\",\"value\":\"acme\"},"
        "\"team\":{\"status\":\"kept\",\"as\":\"tollgate.team\",\"value\":\"payments\"},"
        "\"cost_center\":{\"status\":\"dropped\"},"
        "\"feature_id\":{\"status\":\"kept\",\"as\":\"tollgate.feature_id\",\"value\":"
        "\"checkout\"},"
        "\"workflow_id\":{\"status\":\"kept\",\"as\":\"tollgate.workflow_id\",\"value\":"
        "\"9001\"},"
        "\"actor_type\":{\"status\":\"dropped\"},"
        "\"environment\":{\"status\":\"dropped\"}}}],"
        /* a field breaks once: where it turns renamed (or renamed again, differently) or
         * dropped; hop 4 restores tenant_id and breaks nothing new */
        "\"breaks\":["
        "{\"field\":\"environment\",\"hop\":1,\"span_id\":\"00f067aa0ba902b7\",\"service\":"
        "\"web-frontend\",\"change\":\"renamed\",\"as\":\"deployment.environment\"},"
        "{\"field\":\"tenant_id\",\"hop\":2,\"span_id\":\"1a2b3c4d5e6f7081\",\"service\":"
        "\"checkout-api\",\"change\":\"renamed\",\"as\":\"app.tenant\"},"
        "{\"field\":\"tenant_id\",\"hop\":3,\"span_id\":\"2b3c4d5e6f708192\",\"service\":"
        "\"summarizer\",\"change\":\"renamed\",\"as\":\"tenantId\"},"
        "{\"field\":\"cost_center\",\"hop\":3,\"span_id\":\"2b3c4d5e6f708192\",\"service\":"
        "\"summarizer\",\"change\":\"dropped\"},"
        "{\"field\":\"actor_type\",\"hop\":3,\"span_id\":\"2b3c4d5e6f708192\",\"service\":"
        "\"summarizer\",\"change\":\"dropped\"},"
        "{\"field\":\"environment\",\"hop\":3,\"span_id\":\"2b3c4d5e6f708192\",\"service\":"
        "\"summarizer\",\"change\":\"dropped\"}]},"
        "{\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"hops\":["
        "{\"hop\":1,\"span_id\":\"eee19b7ec3c1b174\",\"parent_span_id\":null,\"parent_hop\":null,"
        "\"service\":\"batch\",\"name\":\"nightly\",\"fields\":{"
        "\"tenant_id\":{\"status\":\"kept\",\"as\":\"tenant_id\",\"value\":\"globex\"}}}],"
        "\"breaks\":[]}],\"breaks\":6}\n");
    assert_int_equal(breaks, 6);
    tg_buf_free(&out);

    assert_int_equal(tg_audit_trace_run("checkout_trace.jsonl", text, len, &ic, TG_AUDIT_TABLE,
                                        &out, &breaks, &eb),
                     0);
    assert_non_null(strstr(out.base, "  hop 3  summarizer  summarize  span 2b3c4d5e6f708192 "
                                     "(parent hop 2)\n"
                                     "      kept     team, feature_id, workflow_id\n"
                                     "      renamed  tenant_id as tenantId\n"
                                     "      dropped  cost_center, actor_type, environment\n"));
    assert_non_null(strstr(out.base, "      cost_center dropped at hop 3 (summarizer)\n"));
    assert_non_null(strstr(out.base, "trace 5b8efff798038103d269b633813fc60c: 1 hop\n"));
    tg_buf_free(&out);
    free(text);
}

/* One span with one attribute key: what the audit makes of the name. */
static const struct {
    const char *key, *field, *status;
} names[] = {
    {"tenant_id", "tenant_id", "kept"},
    {"tollgate.team", "team", "kept"},
    {"baggage.cost_center", "cost_center", "kept"},
    {"tenantId", "tenant_id", "renamed"},
    {"Tenant.ID", "tenant_id", "renamed"},
    {"app.tenant", "tenant_id", "renamed"},
    {"customer_id", "tenant_id", "renamed"},    /* a shipped alias header */
    {"x-costcenter", "cost_center", "renamed"}, /* another */
    {"baggage.CostCenter", "cost_center", "renamed"},
    {"tollgate.x-run-id", "workflow_id", "renamed"},
    {"user.id", "actor_id", "renamed"}, /* x-user-id */
    {"deployment.environment", "environment", "renamed"},
    {"org.unit", "cost_center", "renamed"}, /* the configured alias X-Org-Unit */
    {"service", "service", "kept"},
    {"peer.service", NULL, NULL}, /* another service, not the caller's */
    {"service.name", NULL, NULL}, /* the hop itself */
    {"http.request.method", NULL, NULL},
    {"tenant_ids", NULL, NULL},
};

static void test_name_matching(void **state)
{
    (void)state;
    struct tg_identity_config ic;
    struct tg_errbuf eb;
    tg_identity_config_defaults(&ic);
    assert_int_equal(tg_identity_add_alias(&ic, "X-Org-Unit", "cost_center", &eb), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[512], want[256];
        struct tg_buf out = {0};
        int breaks;
        snprintf(line, sizeof line,
                 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                 "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","
                 "\"attributes\":[{\"key\":\"%s\",\"value\":{\"stringValue\":\"v\"}}]}]}]}]}",
                 names[i].key);
        assert_int_equal(
            tg_audit_trace_run("t", line, strlen(line), &ic, TG_AUDIT_JSON, &out, &breaks, &eb), 0);
        if (names[i].field == NULL) {
            if (strstr(out.base, "\"fields\":{}") == NULL)
                fail_msg("%s: expected no field, got %s", names[i].key, out.base);
        } else {
            snprintf(want, sizeof want, "\"fields\":{\"%s\":{\"status\":\"%s\",\"as\":\"%s\"",
                     names[i].field, names[i].status, names[i].key);
            if (strstr(out.base, want) == NULL)
                fail_msg("%s: expected %s in %s", names[i].key, want, out.base);
        }
        tg_buf_free(&out);
    }
}

static void test_errors_and_orphans(void **state)
{
    (void)state;
    struct tg_identity_config ic;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    int breaks;
    tg_identity_config_defaults(&ic);
    const char *bad = "\n{\"resourceSpans\":[]}\n{\"resourceSpans\":[\n";
    assert_int_equal(
        tg_audit_trace_run("t.jsonl", bad, strlen(bad), &ic, TG_AUDIT_JSON, &out, &breaks, &eb),
        TG_ERR_INVALID);
    assert_string_equal(eb.msg, "t.jsonl:3: not a JSON object");
    const char *zero =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"00000000000000000000000000000000\",\"spanId\":\"b7ad6b7169203331\"}]}]}]}";
    assert_int_equal(
        tg_audit_trace_run("t.jsonl", zero, strlen(zero), &ic, TG_AUDIT_JSON, &out, &breaks, &eb),
        TG_ERR_INVALID);
    assert_string_equal(eb.msg, "t.jsonl:1: a span without a valid hex traceId (32), spanId (16) "
                                "or parentSpanId");
    tg_buf_free(&out);
    /* a span whose parent is not in the file starts its own chain; nothing is inherited */
    const char *orphan =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"parentSpanId\":"
        "\"aaaaaaaaaaaaaaaa\",\"name\":\"x\"}]}]}]}";
    assert_int_equal(tg_audit_trace_run("t.jsonl", orphan, strlen(orphan), &ic, TG_AUDIT_JSON, &out,
                                        &breaks, &eb),
                     0);
    assert_string_equal(out.base,
                        "{\"traces\":[{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"hops\":["
                        "{\"hop\":1,\"span_id\":\"b7ad6b7169203331\",\"parent_span_id\":"
                        "\"aaaaaaaaaaaaaaaa\",\"parent_hop\":null,\"service\":null,\"name\":\"x\","
                        "\"fields\":{}}],\"breaks\":[]}],\"breaks\":0}\n");
    assert_int_equal(breaks, 0);
    tg_buf_free(&out);
}

/* A tree, not a chain: children depth first by start time, whatever the file order; a
 * parent cycle is still reported (from its earliest span) instead of lost or looping. */
static void test_branches_and_cycle(void **state)
{
    (void)state;
    struct tg_identity_config ic;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    int breaks;
    tg_identity_config_defaults(&ic);
#define SP(id, parent, start, attrs)                                                               \
    "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"" id                           \
    "\",\"parentSpanId\":\"" parent "\",\"name\":\"" id "\",\"startTimeUnixNano\":\"" start        \
    "\",\"attributes\":[" attrs "]}"
#define TEAM "{\"key\":\"team\",\"value\":{\"stringValue\":\"t\"}}"
    const char *tree = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" SP(
        "bbbbbbbbbbbbbbbb", "1111111111111111", "300",
        "") "," SP("a1a1a1a1a1a1a1a1", "aaaaaaaaaaaaaaaa", "400",
                   "") "," SP("1111111111111111", "", "100",
                              TEAM) "," SP("aaaaaaaaaaaaaaaa", "1111111111111111", "20",
                                           TEAM) "]}]}]}\n"
                                                 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":"
                                                 "[" SP("cccccccccccccccc", "dddddddddddddddd", "5",
                                                        "") "," SP("dddddddddddddddd",
                                                                   "cccccccccccccccc", "6",
                                                                   "") "]}]}]}\n";
    assert_int_equal(
        tg_audit_trace_run("t", tree, strlen(tree), &ic, TG_AUDIT_TABLE, &out, &breaks, &eb), 0);
    /* "20" starts before "100": times compare as numbers, not text */
    assert_string_equal(out.base,
                        "trace 0af7651916cd43dd8448eb211c80319c: 6 hops\n"
                        "  hop 1  ?  1111111111111111  span 1111111111111111\n"
                        "      kept     team\n"
                        "  hop 2  ?  aaaaaaaaaaaaaaaa  span aaaaaaaaaaaaaaaa (parent hop 1)\n"
                        "      kept     team\n"
                        "  hop 3  ?  a1a1a1a1a1a1a1a1  span a1a1a1a1a1a1a1a1 (parent hop 2)\n"
                        "      dropped  team\n"
                        "  hop 4  ?  bbbbbbbbbbbbbbbb  span bbbbbbbbbbbbbbbb (parent hop 1)\n"
                        "      dropped  team\n"
                        "  hop 5  ?  cccccccccccccccc  span cccccccccccccccc\n"
                        "  hop 6  ?  dddddddddddddddd  span dddddddddddddddd (parent hop 5)\n"
                        "  breaks:\n"
                        "      team dropped at hop 3 (?)\n"
                        "      team dropped at hop 4 (?)\n");
    assert_int_equal(breaks, 2);
    tg_buf_free(&out);

    /* a 20,000-hop chain: no recursion, no quadratic walk */
    struct tg_buf big = {0};
    for (int i = 0; i < 20000; i++)
        tg_buf_appendf(&big,
                       "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                       "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"%016x\",\"parentSpanId\":"
                       "\"%016x\",\"startTimeUnixNano\":\"%d\",\"attributes\":[%s]}]}]}]}\n",
                       i + 1, i, 1000 + i, i == 0 ? TEAM : "");
    assert_int_equal(
        tg_audit_trace_run("big", big.base, big.len, &ic, TG_AUDIT_JSON, &out, &breaks, &eb), 0);
    assert_int_equal(breaks, 1);
    assert_non_null(strstr(out.base, "{\"hop\":20000,\"span_id\":\"0000000000004e20\""));
    tg_buf_free(&out);
    tg_buf_free(&big);
}

static void put(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* exit 3 when attribution breaks (a CI gate), 0 when intact, 1 bad input, 2 usage */
static void test_cli_exit_codes(void **state)
{
    (void)state;
    char fixture[512], dir[] = "/tmp/tgtraceXXXXXX", ok[64], cfg[64], bad[64];
    snprintf(fixture, sizeof fixture, "%s/otlp/checkout_trace.jsonl",
             getenv("TG_FIXTURES") ? getenv("TG_FIXTURES") : "tests/fixtures");
    assert_non_null(mkdtemp(dir));
    snprintf(ok, sizeof ok, "%s/ok.jsonl", dir);
    snprintf(cfg, sizeof cfg, "%s/tollgate.yaml", dir);
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    put(ok, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" SP(
                "1111111111111111", "", "1", TEAM) "," SP("2222222222222222", "1111111111111111",
                                                          "2", TEAM) "]}]}]}\n");
    put(cfg, "attribution:\n  aliases:\n    X-Org-Unit: cost_center\n");
    put(bad, "attribution:\n  aliases:\n    X-Org-Unit: nonsense\n");
    const char *a[] = {"audit", "trace", fixture, "--format", "json"};
    assert_int_equal(audit_cli_run(5, a), 3);
    a[2] = ok;
    assert_int_equal(audit_cli_run(5, a), 0);
    const char *c[] = {"audit", "trace", ok, "--config", cfg};
    assert_int_equal(audit_cli_run(5, c), 0);
    c[4] = bad;
    assert_int_equal(audit_cli_run(5, c), 1);
    a[2] = "/nonexistent.jsonl";
    assert_int_equal(audit_cli_run(3, a), 1);
    a[3] = "--format";
    a[4] = "yaml";
    a[2] = ok;
    assert_int_equal(audit_cli_run(5, a), 2);
    assert_int_equal(audit_cli_run(2, a), 2); /* no FILE */
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_json),       cmocka_unit_test(test_name_matching),
        cmocka_unit_test(test_errors_and_orphans), cmocka_unit_test(test_branches_and_cycle),
        cmocka_unit_test(test_cli_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
