/* server/admin.c - the admin HTTP API: virtual keys, budgets and reports, behind the master key
 *
 *   GET  /admin/keys                  list (metadata only)
 *   POST /admin/keys
 * {"team","cost_center",["tenant_id","feature_id","environment","models","expires"]}
 *                                     -> 201 {"key": "tgk_...", ...metadata}; the key is shown once
 *   POST /admin/keys/{key_id}/revoke  -> 200 metadata
 *   GET  /admin/budgets               the live counters (spent, reserved, remaining, reset)
 *   POST /admin/budgets {"scope","period","limit_usd",["soft_pct","action"]}
 *                                     -> 201 {"id": "bg_..."}; in force within a second
 *   DELETE /admin/budgets/{budget_id} -> 200 {"deleted": "bg_..."}
 *   GET  /admin/reports/spend?by=team,model[&from=D&to=D][&allocate_unattributed=proportional]
 *                                     -> 200 the JSON of `tollgate report --format json`
 *   GET  /admin/reports/allocation?day=D[&allocate_unattributed=proportional[&by=FIELD]]
 *                                     -> 200 the JSON of `tollgate export allocation`
 *   GET  /admin/reports/audit[?from=D&to=D][&top=N][&min_coverage=PCT|FIELD=PCT]
 *                                     -> 200 the JSON of `tollgate audit --format json`
 *
 * Authorization: Bearer <master key>, the value of the environment variable named by
 * admin.master_key_env (TOLLGATE_MASTER_KEY); when it is unset the API does not exist
 * (404). Admin calls are rare: they run their small SQLite statement on the worker
 * thread, on a connection of the worker's own, and the request path never waits on it
 * (running gateways pick key changes up within a second, as for the CLI). Reports are
 * the same finops functions the CLI runs, writing JSON into a buffer; a report over a
 * large range holds this worker's loop while it runs (docs/REPORTS.md says so). */
#include "core/buf.h"
#include "core/clock.h"
#include "core/money.h"
#include "finops/allocation.h"
#include "finops/audit.h"
#include "finops/report.h"
#include "server/worker.h"
#include "store/budgets.h"
#include "store/keys.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int respond(h2o_req_t *req, int status, struct tg_buf *body)
{
    req->res.status = status;
    req->res.reason = status < 300 ? "OK" : "Error";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_iovec_t v = h2o_strdup(&req->pool, body->base ? body->base : "", body->len);
    tg_buf_free(body);
    h2o_send_inline(req, v.base, v.len);
    return 0;
}

static int error(h2o_req_t *req, int status, const char *type, const char *msg)
{
    struct tg_buf b = {0};
    tg_buf_appends(&b, "{\"error\":{\"message\":");
    tg_buf_append_json_str(&b, msg, strlen(msg));
    tg_buf_appendf(&b, ",\"type\":\"%s\"}}", type);
    return respond(req, status, &b);
}

static bool authorized(h2o_req_t *req, const char *master)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = strlen(master);
    /* constant time in the key's bytes */
    return v.len == n + 7 && strncasecmp(v.base, "Bearer ", 7) == 0 &&
           CRYPTO_memcmp(v.base + 7, master, n) == 0;
}

static int db(struct tg_worker *w, h2o_req_t *req)
{
    if (w->admin_db != NULL)
        return 0;
    if (sqlite3_open_v2(w->srv->cfg->ledger_path, &w->admin_db, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK) {
        sqlite3_close(w->admin_db);
        w->admin_db = NULL;
        error(req, 500, "api_error", "cannot open the ledger");
        return -1;
    }
    sqlite3_busy_timeout(w->admin_db, 1000);
    return 0;
}

static void copy_str(const cJSON *j, const char *name, char *dst, size_t n, bool *too_long)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v))
        return;
    if (strlen(v->valuestring) >= n)
        *too_long = true;
    else
        snprintf(dst, n, "%s", v->valuestring);
}

static int create(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_vkey k;
    struct tg_errbuf eb;
    bool too_long = false;
    memset(&k, 0, sizeof k);
    cJSON *j = cJSON_ParseWithLength(req->entity.base ? req->entity.base : "", req->entity.len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return error(req, 400, "invalid_request_error", "body must be a JSON object");
    }
    copy_str(j, "team", k.team, sizeof k.team, &too_long);
    copy_str(j, "cost_center", k.cost_center, sizeof k.cost_center, &too_long);
    copy_str(j, "tenant_id", k.tenant_id, sizeof k.tenant_id, &too_long);
    copy_str(j, "feature_id", k.feature_id, sizeof k.feature_id, &too_long);
    copy_str(j, "environment", k.environment, sizeof k.environment, &too_long);
    copy_str(j, "models", k.models, sizeof k.models, &too_long);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires");
    bool bad_exp = exp != NULL &&
                   (!cJSON_IsString(exp) || tg_parse_time(exp->valuestring, &k.expires_at_ms) != 0);
    cJSON_Delete(j);
    if (k.team[0] == '\0' || k.cost_center[0] == '\0')
        return error(req, 400, "invalid_request_error", "team and cost_center are required");
    if (too_long || bad_exp)
        return error(req, 400, "invalid_request_error",
                     bad_exp ? "expires must be YYYY-MM-DD or an ISO 8601 UTC time"
                             : "a field is too long");
    if (db(w, req) != 0)
        return 0;
    char key[64];
    if (tg_keys_create(w->admin_db, &k, tg_now_ms(), key, sizeof key, &eb) != 0)
        return error(req, 500, "api_error", eb.msg);
    struct tg_buf b = {0};
    tg_buf_appendf(&b, "{\"key\":\"%s\",\"metadata\":", key);
    tg_keys_to_json(&k, &b);
    tg_buf_appends(&b, "}");
    return respond(req, 201, &b);
}

static int list_or_revoke(struct tg_worker *w, h2o_req_t *req, const char *revoke_id)
{
    struct tg_vkey *v = NULL;
    int n = 0;
    struct tg_errbuf eb;
    if (db(w, req) != 0)
        return 0;
    if (revoke_id != NULL) {
        int rc = tg_keys_revoke(w->admin_db, revoke_id, tg_now_ms(), &eb);
        if (rc != 0)
            return error(req, rc == TG_ERR_NOTFOUND ? 404 : 500,
                         rc == TG_ERR_NOTFOUND ? "not_found_error" : "api_error", eb.msg);
    }
    if (tg_keys_list(w->admin_db, &v, &n, &eb) != 0)
        return error(req, 500, "api_error", eb.msg);
    struct tg_buf b = {0};
    if (revoke_id == NULL)
        tg_buf_appends(&b, "{\"keys\":[");
    for (int i = 0; i < n; i++) {
        if (revoke_id != NULL && strcmp(v[i].key_id, revoke_id) != 0)
            continue;
        if (revoke_id == NULL && i > 0)
            tg_buf_appends(&b, ",");
        tg_keys_to_json(&v[i], &b);
    }
    if (revoke_id == NULL)
        tg_buf_appends(&b, "]}");
    free(v);
    return respond(req, 200, &b);
}

static int budget_set(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_budget_def d;
    struct tg_errbuf eb;
    char msg[600] = "";
    memset(&d, 0, sizeof d);
    d.block = true;
    cJSON *j = cJSON_ParseWithLength(req->entity.base ? req->entity.base : "", req->entity.len);
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(j, "scope");
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(j, "period");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(j, "limit_usd");
    const cJSON *soft = cJSON_GetObjectItemCaseSensitive(j, "soft_pct");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(j, "action");
    if (!cJSON_IsObject(j) || !cJSON_IsString(scope) || !cJSON_IsString(period) ||
        !cJSON_IsString(limit))
        snprintf(msg, sizeof msg,
                 "expected a JSON object with string fields scope, period and limit_usd (a "
                 "decimal string), and optional soft_pct (0..100) and action (block|warn)");
    else if (tg_budget_parse_scope(scope->valuestring, &d, &eb) != 0 ||
             tg_budget_parse_period(period->valuestring, &d.period, &eb) != 0)
        snprintf(msg, sizeof msg, "%s", eb.msg);
    else if (tg_money_parse_decimal(limit->valuestring, 9, &d.limit_nanos) != 0 ||
             d.limit_nanos <= 0)
        snprintf(msg, sizeof msg, "limit_usd '%.64s' is not a positive USD amount",
                 limit->valuestring);
    else if (soft != NULL && (!cJSON_IsNumber(soft) || soft->valueint < 0 || soft->valueint > 100))
        snprintf(msg, sizeof msg, "soft_pct must be an integer 0..100");
    else if (action != NULL && (!cJSON_IsString(action) || (strcmp(action->valuestring, "block") &&
                                                            strcmp(action->valuestring, "warn"))))
        snprintf(msg, sizeof msg, "action must be block or warn");
    if (msg[0] == '\0') {
        d.soft_pct = soft ? soft->valueint : 0;
        d.block = action == NULL || action->valuestring[0] == 'b';
    }
    cJSON_Delete(j);
    if (msg[0] != '\0')
        return error(req, 400, "invalid_request_error", msg);
    if (db(w, req) != 0)
        return 0;
    if (tg_budgets_set(w->admin_db, &d, tg_now_ms(), &eb) != 0)
        return error(req, 500, "api_error", eb.msg);
    struct tg_buf b = {0};
    tg_buf_appendf(&b, "{\"id\":\"%s\"}", d.id);
    return respond(req, 201, &b);
}

static int budget_delete(struct tg_worker *w, h2o_req_t *req, const char *id)
{
    struct tg_errbuf eb;
    if (db(w, req) != 0)
        return 0;
    int rc = tg_budgets_delete(w->admin_db, id, &eb);
    if (rc != 0)
        return error(req, rc == TG_ERR_NOTFOUND ? 404 : 500,
                     rc == TG_ERR_NOTFOUND ? "not_found_error" : "api_error", eb.msg);
    struct tg_buf b = {0};
    tg_buf_appends(&b, "{\"deleted\":");
    tg_buf_append_json_str(&b, id, strlen(id));
    tg_buf_appends(&b, "}");
    return respond(req, 200, &b);
}

/* The percent-decoded value of query parameter name into out (n bytes); false when it is
 * absent, too long or badly encoded. */
static bool query_param(h2o_req_t *req, const char *name, char *out, size_t n)
{
    if (req->query_at == SIZE_MAX)
        return false;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t o = 0;
            for (const char *c = p + nl + 1; c < stop; c++) {
                int ch = *c == '+' ? ' ' : (unsigned char)*c;
                if (*c == '%') {
                    int hi = c + 2 < stop ? tg_hexval(c[1]) : -1,
                        lo = hi >= 0 ? tg_hexval(c[2]) : -1;
                    if (lo < 0)
                        return false;
                    ch = hi * 16 + lo;
                    c += 2;
                }
                if (o + 1 >= n || ch == 0)
                    return false;
                out[o++] = (char)ch;
            }
            out[o] = '\0';
            return true;
        }
        p = stop + 1;
    }
    return false;
}

static bool day_param(h2o_req_t *req, const char *name, char out[11], bool *bad)
{
    char v[16];
    int64_t ms;
    if (!query_param(req, name, v, sizeof v))
        return false;
    if (strlen(v) != 10 || tg_parse_time(v, &ms) != 0)
        *bad = true;
    else
        memcpy(out, v, 11);
    return true;
}

/* allocate_unattributed: absent, or "proportional"; anything else is a 400. */
static bool allocate_param(h2o_req_t *req, bool *bad)
{
    char v[32];
    if (!query_param(req, "allocate_unattributed", v, sizeof v))
        return false;
    if (strcmp(v, "proportional") != 0)
        *bad = true;
    return true;
}

/* from and to (inclusive days), by default the current month so far. */
static void range_params(h2o_req_t *req, char from[11], char to[11], bool *bad)
{
    tg_month_to_date(from, to);
    day_param(req, "from", from, bad);
    day_param(req, "to", to, bad);
}

/* A report's document, or its error: 400 for what the query asked wrongly, else 500. */
static int report_reply(h2o_req_t *req, int rc, struct tg_buf *b, const struct tg_errbuf *eb)
{
    if (rc == 0)
        return respond(req, 200, b);
    tg_buf_free(b);
    return error(req, rc == TG_ERR_INVALID ? 400 : 500,
                 rc == TG_ERR_INVALID ? "invalid_request_error" : "api_error", eb->msg);
}

static int report_spend(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_report_query q;
    struct tg_errbuf eb;
    char by[256];
    bool bad = false;
    memset(&q, 0, sizeof q);
    q.format = TG_REPORT_JSON;
    range_params(req, q.from, q.to, &bad);
    q.allocate_proportional = allocate_param(req, &bad);
    if (bad)
        return error(req, 400, "invalid_request_error",
                     "from and to are YYYY-MM-DD; allocate_unattributed is proportional");
    if (!query_param(req, "by", by, sizeof by))
        return error(req, 400, "invalid_request_error", "by is required (e.g. by=team,model)");
    if (tg_report_parse_dims(by, &q, &eb) != 0)
        return error(req, 400, "invalid_request_error", eb.msg);
    if (db(w, req) != 0)
        return 0;
    struct tg_buf b = {0};
    return report_reply(req, tg_report_run(w->admin_db, &q, &b, &eb), &b, &eb);
}

static int report_allocation(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_errbuf eb;
    char day[11] = "", by[64] = "team";
    bool bad = false;
    bool has_day = day_param(req, "day", day, &bad);
    bool proportional = allocate_param(req, &bad);
    bool has_by = query_param(req, "by", by, sizeof by);
    if (!has_day || bad || (has_by && !proportional))
        return error(req, 400, "invalid_request_error",
                     "day=YYYY-MM-DD is required; allocate_unattributed is proportional, and by "
                     "(default team) goes with it");
    if (db(w, req) != 0)
        return 0;
    struct tg_buf b = {0};
    int rc = proportional
                 ? tg_allocation_export_proportional(w->admin_db, day, by, TG_REPORT_JSON, &b, &eb)
                 : tg_allocation_export(w->admin_db, day, TG_REPORT_JSON, &b, &eb);
    return report_reply(req, rc, &b, &eb);
}

/* The audit as JSON; a coverage check that is not met is a finding in the document (its
 * "thresholds" entry says met: false), not an HTTP error. */
static int report_audit(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_audit_query q;
    struct tg_errbuf eb;
    char v[64];
    bool bad = false;
    memset(&q, 0, sizeof q);
    q.format = TG_AUDIT_JSON;
    q.top_n = TG_AUDIT_DEFAULT_TOP;
    range_params(req, q.from, q.to, &bad);
    if (query_param(req, "top", v, sizeof v)) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        bad = bad || end == v || *end != '\0' || n < 1 || n > 1000;
        q.top_n = (int)n;
    }
    if (bad || strcmp(q.from, q.to) > 0)
        return error(req, 400, "invalid_request_error",
                     "from and to are YYYY-MM-DD (from not after to); top is 1..1000");
    if (query_param(req, "min_coverage", v, sizeof v) &&
        tg_audit_parse_min_coverage(v, &q, &eb) != 0)
        return error(req, 400, "invalid_request_error", eb.msg);
    if (db(w, req) != 0)
        return 0;
    struct tg_buf b = {0};
    int n_failed = 0;
    if (tg_audit_run(w->admin_db, &q, &b, &n_failed, &eb) != 0) {
        tg_buf_free(&b);
        return error(req, 500, "api_error", eb.msg);
    }
    return respond(req, 200, &b);
}

int tg_admin_handle(struct tg_worker *w, h2o_req_t *req)
{
    const char *env = w->srv->cfg->admin_key_env;
    const char *master = env[0] != '\0' ? getenv(env) : NULL;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char path[256];
    if (master == NULL || master[0] == '\0')
        return error(req, 404, "not_found_error",
                     "the admin API is off (set the master key's environment variable)");
    if (!authorized(req, master))
        return error(req, 401, "authentication_error",
                     "the admin API needs Authorization: Bearer <master key>");
    snprintf(path, sizeof path, "%.*s", (int)(plen < 255 ? plen : 255), req->path.base);
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    bool post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (strcmp(path, "/admin/keys") == 0 && get)
        return list_or_revoke(w, req, NULL);
    if (strcmp(path, "/admin/keys") == 0 && post)
        return create(w, req);
    if (strcmp(path, "/admin/budgets") == 0 && get) {
        struct tg_buf b = {0};
        w->srv->budgets->ops->list_json(w->srv->budgets, tg_now_ms(), &b);
        return respond(req, 200, &b);
    }
    if (strcmp(path, "/admin/budgets") == 0 && post)
        return budget_set(w, req);
    if (strncmp(path, "/admin/budgets/", 15) == 0 && path[15] != '\0' &&
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE")))
        return budget_delete(w, req, path + 15);
    if (strncmp(path, "/admin/reports/", 15) == 0 && get)
        tg_ledger_flush(w->srv->ledger, 1000); /* every call answered so far is in it */
    if (strcmp(path, "/admin/reports/spend") == 0 && get)
        return report_spend(w, req);
    if (strcmp(path, "/admin/reports/allocation") == 0 && get)
        return report_allocation(w, req);
    if (strcmp(path, "/admin/reports/audit") == 0 && get)
        return report_audit(w, req);
    size_t n = strlen(path);
    if (post && strncmp(path, "/admin/keys/", 12) == 0 && n > 19 &&
        strcmp(path + n - 7, "/revoke") == 0) {
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)(n - 19 < 63 ? n - 19 : 63), path + 12);
        return list_or_revoke(w, req, id);
    }
    return error(req, 404, "not_found_error", "no such admin route");
}
