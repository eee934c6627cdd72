/* tests/unit/accounting/test_identity.c - precedence, sources, aliases, rejection, tags, policy,
 * privacy */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "accounting/identity.h"

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, n, sizeof(n) - 1, v, sizeof(v) - 1                                                      \
    }
#define HO(n, orig, v)                                                                             \
    {                                                                                              \
        n, orig, sizeof(n) - 1, v, sizeof(v) - 1                                                   \
    }

static void resolve(const struct tg_identity_config *cfg, const struct tg_header *h, size_t n,
                    const char *baggage, const struct tg_identity_defaults *key,
                    struct tg_call_record *r)
{
    struct tg_baggage b;
    memset(&b, 0, sizeof b);
    if (baggage != NULL)
        tg_baggage_parse(baggage, strlen(baggage), &b);
    memset(r, 0, sizeof *r);
    tg_identity_resolve(cfg, h, n, &b, key, NULL, NULL, "gen-0001", r);
}

static void test_precedence_matrix(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    tg_identity_config_defaults(&cfg);
    struct tg_identity_defaults key;
    memset(&key, 0, sizeof key);
    /* team is offered by every source: the canonical header wins */
    strcpy(key.v[TG_F_TEAM], "key-team");
    strcpy(key.v[TG_F_COST_CENTER], "CC-KEY");
    strcpy(key.v[TG_F_ENVIRONMENT], "prod");
    const struct tg_header h[] = {
        H("x-team", "header-team"),         HO("x-team-id", "X-Team-Id", "alias-team"),
        HO("tenantid", "tenantId", "acme"), /* alias: recorded as sent */
        H("x-request-id", "biz-42"),        H("x-actor-type", "agent"),
    };
    struct tg_call_record r;
    resolve(&cfg, h, 5, "team=bag-team,feature_id=checkout,cost_center=CC-BAG,workflow_id=run%207",
            &key, &r);
    assert_string_equal(r.team, "header-team");
    assert_string_equal(r.tenant_id, "acme");
    assert_string_equal(r.cost_center, "CC-BAG"); /* baggage beats the key default */
    assert_string_equal(r.feature_id, "checkout");
    assert_string_equal(r.workflow_id, "run 7");
    assert_string_equal(r.environment, "prod");
    assert_string_equal(r.request_id, "biz-42");
    assert_string_equal(r.actor_type, "agent");
    assert_string_equal(r.actor_id, "");
    assert_string_equal(
        r.attribution_sources,
        "{\"request_id\":\"header\",\"tenant_id\":\"alias:tenantId\",\"team\":\"header\","
        "\"cost_center\":\"baggage\",\"feature_id\":\"baggage\",\"workflow_id\":\"baggage\","
        "\"actor_type\":\"header\",\"environment\":\"key\"}");
    assert_string_equal(r.tags, "");

    /* without the canonical header the alias wins over baggage and key */
    resolve(&cfg, h + 1, 1, "team=bag-team", &key, &r);
    assert_string_equal(r.team, "alias-team");
    assert_string_equal(
        r.attribution_sources,
        "{\"request_id\":\"generated\",\"team\":\"alias:X-Team-Id\",\"cost_center\":\"key\","
        "\"environment\":\"key\"}");
    assert_string_equal(r.request_id, "gen-0001");

    /* nothing at all: every field NULL, only the generated request id */
    resolve(&cfg, NULL, 0, NULL, NULL, &r);
    assert_string_equal(r.attribution_sources, "{\"request_id\":\"generated\"}");
    assert_string_equal(r.team, "");
}

static void test_rejections_and_tags(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    tg_identity_config_defaults(&cfg);
    static char longv[200];
    memset(longv, 'x', sizeof longv - 1);
    const struct tg_header h[] = {
        H("x-actor-type", "robot"),
        H("x-team", "  padded  "),
        H("x-feature-id", "bad\x01value"),
        {"x-service", "x-service", 9, longv, sizeof longv - 1},
        H("x-tollgate-tags", "region=eu, project = apollo ,=skip,noeq"),
    };
    struct tg_call_record r;
    resolve(&cfg, h, 5, "tag.squad=blue,feature_id=from-bag", NULL, &r);
    assert_string_equal(r.actor_type, "");
    assert_string_equal(r.team, "padded");
    assert_string_equal(r.feature_id, ""); /* a rejected header is not papered over by baggage */
    assert_string_equal(r.service, "");
    assert_string_equal(
        r.attribution_sources,
        "{\"request_id\":\"generated\",\"team\":\"header\",\"feature_id\":\"rejected:header\","
        "\"actor_type\":\"rejected:header\",\"service\":\"rejected:header\"}");
    assert_string_equal(r.tags, "{\"region\":\"eu\",\"project\":\"apollo\",\"squad\":\"blue\"}");
}

/* More tags than the column holds: the tags that fit are kept in order, the object stays
 * valid JSON, and the sources say that some were left out */
static void test_tags_past_the_column_are_left_out(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    tg_identity_config_defaults(&cfg);
    static char tags[4096];
    size_t n = 0;
    for (int i = 0; i < 12; i++) /* 12 tags of ~260 bytes: 3.1 KB */
        n += (size_t)snprintf(tags + n, sizeof tags - n, "%sk%02d=%0250d", i ? "," : "", i, i);
    const struct tg_header h[] = {{"x-tollgate-tags", "x-tollgate-tags", 15, tags, n}};
    struct tg_call_record r;
    resolve(&cfg, h, 1, NULL, NULL, &r);
    assert_true(strlen(r.tags) < sizeof r.tags - 1);
    cJSON *j = cJSON_Parse(r.tags);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 7); /* 7 x 263 + 2 bytes fit in 2047, 8 do not */
    assert_string_equal(j->child->string, "k00");
    assert_string_equal(j->child->prev->string, "k06");
    cJSON_Delete(j);
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"tags\":\"truncated\"}");
}

static void test_configured_alias(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    struct tg_errbuf eb;
    tg_identity_config_defaults(&cfg);
    assert_int_equal(tg_identity_add_alias(&cfg, "X-Org-Unit", "cost_center", &eb), 0);
    assert_int_equal(tg_identity_add_alias(&cfg, "x-thing", "nonsense", &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "alias 'x-thing': unknown attribution field 'nonsense'");
    const struct tg_header h[] = {HO("x-org-unit", "X-Org-Unit", "CC-7")};
    struct tg_call_record r;
    resolve(&cfg, h, 1, NULL, NULL, &r);
    assert_string_equal(r.cost_center, "CC-7");
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"cost_center\":\"alias:X-Org-Unit\"}");
    /* two aliases of one field: the alias listed first wins, wherever its header is; a
     * header longer than 63 characters is only compared, never mistaken for a name of
     * its length modulo 64 */
    const struct tg_header two[] = {
        H("x-customer-id-and-then-some-more-characters-to-make-it-long-enough-to-wrap", "no"),
        H("x-customer-id", "second"), HO("tenant", "Tenant", "first")};
    resolve(&cfg, two, 3, NULL, NULL, &r);
    assert_string_equal(r.tenant_id, "first");
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"tenant_id\":\"alias:Tenant\"}");
    /* an alias of 32 characters or more is past the filter of names: compared always */
    static const char long_alias[] = "x-an-alias-of-thirty-three-chars";
    assert_int_equal(tg_identity_add_alias(&cfg, long_alias, "feature_id", &eb), 0);
    const struct tg_header l[] = {H(long_alias, "f-1")};
    resolve(&cfg, l, 1, NULL, NULL, &r);
    assert_string_equal(r.feature_id, "f-1");
    assert_true(tg_identity_is_internal_header(&cfg, long_alias, sizeof long_alias - 1));
}

/* The headers the provider never sees: every field's, every alias's, the gateway's own
 * and the caller's baggage (unless forwarded); none of a call's ordinary ones */
static void test_internal_headers(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    struct tg_errbuf eb;
    tg_identity_config_defaults(&cfg);
    assert_int_equal(tg_identity_add_alias(&cfg, "X-Org-Unit", "cost_center", &eb), 0);
    for (int f = 0; f < TG_F_COUNT; f++) {
        const char *n = tg_field_header((enum tg_field)f);
        assert_true(tg_identity_is_internal_header(&cfg, n, strlen(n)));
    }
    for (int a = 0; a < cfg.n_aliases; a++)
        assert_true(
            tg_identity_is_internal_header(&cfg, cfg.aliases[a].header, cfg.aliases[a].len));
    assert_true(tg_identity_is_internal_header(&cfg, "x-org-unit", 10));
    assert_true(tg_identity_is_internal_header(&cfg, "x-tollgate-key", 14));
    assert_true(tg_identity_is_internal_header(&cfg, "baggage", 7));
    static const char *const theirs[] = {"host",          "content-type",   "content-length",
                                         "authorization", "x-api-key",      "anthropic-version",
                                         "traceparent",   "x-stainless-os", "x-org-unix",
                                         "tenantie",      "x-team-ie"};
    for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++)
        if (tg_identity_is_internal_header(&cfg, theirs[i], strlen(theirs[i])))
            fail_msg("%s is held back", theirs[i]);
    cfg.forward_baggage = true;
    assert_false(tg_identity_is_internal_header(&cfg, "baggage", 7));
}

static void test_mappings_and_route(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    struct tg_errbuf eb;
    tg_identity_config_defaults(&cfg);
    struct tg_mappings *m = tg_mappings_new();
    static const char tenants[] = "tenant_id,cost_center\nacme,CC-ACME\nglobex,CC-GLOBEX\n";
    static const char teams[] = "team,cost_center\npayments,CC-PAY\n";
    static const char flows[] = "workflow_id,team\nnightly-etl,data\n";
    assert_int_equal(tg_mappings_load_csv(m, "tenants.csv", tenants, sizeof tenants - 1, &eb), 0);
    assert_int_equal(tg_mappings_load_csv(m, "teams.csv", teams, sizeof teams - 1, &eb), 0);
    assert_int_equal(tg_mappings_load_csv(m, "flows.csv", flows, sizeof flows - 1, &eb), 0);
    struct tg_call_record r;
    struct tg_baggage b;
    memset(&b, 0, sizeof b);

    /* workflow -> team, then the tenant's cost center (tenant before team) */
    const struct tg_header h1[] = {H("x-tenant-id", "acme"), H("x-workflow-id", "nightly-etl")};
    memset(&r, 0, sizeof r);
    tg_identity_resolve(&cfg, h1, 2, &b, NULL, NULL, m, "g", &r);
    assert_string_equal(r.team, "data");
    assert_string_equal(r.cost_center, "CC-ACME");
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"tenant_id\":\"header\","
                        "\"workflow_id\":\"header\",\"team\":\"map:workflow_id\","
                        "\"cost_center\":\"map:tenant_id\"}");

    /* a miss is a visible NULL, never a guess: unknown tenant, team not in the table */
    const struct tg_header h2[] = {H("x-tenant-id", "initech"), H("x-team", "legal")};
    memset(&r, 0, sizeof r);
    tg_identity_resolve(&cfg, h2, 2, &b, NULL, NULL, m, "g", &r);
    assert_string_equal(r.cost_center, "");
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"tenant_id\":\"header\","
                        "\"team\":\"header\",\"cost_center\":\"unmapped\"}");

    /* the team table answers when the tenant has no entry; a route default beats maps */
    const struct tg_header h3[] = {H("x-team", "payments")};
    struct tg_identity_defaults route;
    memset(&route, 0, sizeof route);
    strcpy(route.v[TG_F_ENVIRONMENT], "prod");
    memset(&r, 0, sizeof r);
    tg_identity_resolve(&cfg, h3, 1, &b, NULL, &route, m, "g", &r);
    assert_string_equal(r.cost_center, "CC-PAY");
    assert_string_equal(r.environment, "prod");
    assert_string_equal(r.attribution_sources,
                        "{\"request_id\":\"generated\",\"team\":\"header\","
                        "\"environment\":\"route\",\"cost_center\":\"map:team\"}");
    strcpy(route.v[TG_F_COST_CENTER], "CC-ROUTE");
    memset(&r, 0, sizeof r);
    tg_identity_resolve(&cfg, h3, 1, &b, NULL, &route, m, "g", &r);
    assert_string_equal(r.cost_center, "CC-ROUTE");

    /* errors name the file and line */
    static const char bad[] = "tenant_id,cost_center\nacme,\n";
    assert_int_equal(tg_mappings_load_csv(m, "t.csv", bad, sizeof bad - 1, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "t.csv:2: expected two non-empty values of at most 127 bytes");
    /* physical lines, as an editor shows them, past blank and comment lines */
    static const char gaps[] = "tenant_id,cost_center\n\n# EMEA\nacme,CC-1\n\nglobex\n";
    assert_int_equal(tg_mappings_load_csv(m, "g.csv", gaps, sizeof gaps - 1, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "g.csv:6: expected two non-empty values of at most 127 bytes");
    static const char quote[] = "tenant_id,cost_center\nacme,\"CC-1\n";
    assert_int_equal(tg_mappings_load_csv(m, "q.csv", quote, sizeof quote - 1, &eb),
                     TG_ERR_INVALID);
    assert_non_null(strstr(eb.msg, "q.csv:"));
    /* a byte-order mark and padding are not part of the values */
    static const char bom[] = "\xef\xbb\xbftenant_id, cost_center\r\n initech , CC-9 \r\n";
    struct tg_mappings *m2 = tg_mappings_new();
    assert_int_equal(tg_mappings_load_csv(m2, "b.csv", bom, sizeof bom - 1, &eb), 0);
    bool has_table = false;
    assert_string_equal(tg_mappings_get(m2, TG_MAP_TENANT_COST_CENTER, "initech", &has_table),
                        "CC-9");
    tg_mappings_destroy(m2);
    static const char dup[] = "team,cost_center\na,1\na,2\n";
    assert_int_equal(tg_mappings_load_csv(m, "d.csv", dup, sizeof dup - 1, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "d.csv: 'a' is mapped twice");
    static const char hdr[] = "tenant,cc\nx,y\n";
    assert_int_equal(tg_mappings_load_csv(m, "h.csv", hdr, sizeof hdr - 1, &eb), TG_ERR_INVALID);
    assert_string_equal(
        eb.msg,
        "h.csv:1: header must be tenant_id,cost_center or team,cost_center or workflow_id,team");
    tg_mappings_destroy(m);
}

static void test_policy(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    tg_identity_config_defaults(&cfg);
    cfg.required = (1u << TG_F_COST_CENTER) | (1u << TG_F_FEATURE) | (1u << TG_F_TEAM);
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.team, "payments");
    bool enforce = true;
    cfg.mode = TG_ATTR_OFF;
    assert_int_equal(tg_identity_missing(&cfg, &r, 0, &enforce), 0);
    assert_false(enforce);
    cfg.mode = TG_ATTR_FLAG;
    unsigned m = tg_identity_missing(&cfg, &r, 1000, &enforce);
    assert_int_equal(m, (1u << TG_F_COST_CENTER) | (1u << TG_F_FEATURE));
    assert_false(enforce);
    cfg.enforce_after_ms = 2000; /* the grace period ends: flag becomes enforce */
    tg_identity_missing(&cfg, &r, 1999, &enforce);
    assert_false(enforce);
    tg_identity_missing(&cfg, &r, 2000, &enforce);
    assert_true(enforce);
    cfg.mode = TG_ATTR_ENFORCE;
    cfg.enforce_after_ms = 0;
    tg_identity_missing(&cfg, &r, 0, &enforce);
    assert_true(enforce);
    struct tg_buf msg = {0}, list = {0};
    tg_identity_missing_message(m, &msg, &list);
    assert_string_equal(
        msg.base, "missing required attribution: cost_center (set header x-cost-center or baggage "
                  "cost_center), feature_id (set header x-feature-id or baggage feature_id)");
    assert_string_equal(list.base, "cost_center,feature_id");
    tg_buf_free(&msg);
    tg_buf_free(&list);
}

static void test_privacy(void **state)
{
    (void)state;
    struct tg_identity_config cfg;
    tg_identity_config_defaults(&cfg);
    static const char *internal[] = {"x-tenant-id",  "x-cost-center",   "x-request-id", "tenantid",
                                     "x-costcenter", "x-tollgate-tags", "baggage"};
    static const char *external[] = {"authorization", "content-type", "x-stainless-lang",
                                     "anthropic-version", "openai-organization"};
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
        assert_true(tg_identity_is_internal_header(&cfg, internal[i], strlen(internal[i])));
    for (size_t i = 0; i < sizeof external / sizeof external[0]; i++)
        assert_false(tg_identity_is_internal_header(&cfg, external[i], strlen(external[i])));
    cfg.forward_baggage = true;
    assert_false(tg_identity_is_internal_header(&cfg, "baggage", 7));
    assert_int_equal(tg_field_by_name("tenant"), TG_F_TENANT);
    assert_int_equal(tg_field_by_name("cost_center"), TG_F_COST_CENTER);
    assert_int_equal(tg_field_by_name("colour"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_matrix),
        cmocka_unit_test(test_rejections_and_tags),
        cmocka_unit_test(test_tags_past_the_column_are_left_out),
        cmocka_unit_test(test_configured_alias),
        cmocka_unit_test(test_internal_headers),
        cmocka_unit_test(test_mappings_and_route),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_privacy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
