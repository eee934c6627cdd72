/* cli/cmd_keys.c - `tollgate keys create|list|revoke`: virtual keys in the ledger database */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/clock.h"
#include "store/keys.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: tollgate keys create --team T --cost-center C [--tenant ID] [--feature F]\n"
    "                            [--environment E] [--models 'gpt-4o*,claude-*'] [--expires "
    "YYYY-MM-DD]\n"
    "       tollgate keys list [--format table|json]\n"
    "       tollgate keys revoke KEY_ID\n"
    "Every subcommand takes --config FILE and --ledger PATH like `serve`.\n"
    "The key is printed once by `create`; only its SHA-256 is stored.\n";

struct opts {
    const char *config, *ledger, *format, *expires;
    struct tg_vkey k;
    const char *positional;
};

static int set_field(char *dst, size_t n, const char *flag, const char *v)
{
    if (strlen(v) >= n) {
        fprintf(stderr, "tollgate keys: %s value too long\n", flag);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    int i = 2;
    while (i < argc) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o->positional = a;
            i++;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "tollgate keys: %s needs a value\n", a);
            return -1;
        }
        int rc = 0;
        if (strcmp(a, "--config") == 0)
            o->config = v;
        else if (strcmp(a, "--ledger") == 0)
            o->ledger = v;
        else if (strcmp(a, "--format") == 0)
            o->format = v;
        else if (strcmp(a, "--expires") == 0)
            o->expires = v;
        else if (strcmp(a, "--team") == 0)
            rc = set_field(o->k.team, sizeof o->k.team, a, v);
        else if (strcmp(a, "--cost-center") == 0)
            rc = set_field(o->k.cost_center, sizeof o->k.cost_center, a, v);
        else if (strcmp(a, "--tenant") == 0)
            rc = set_field(o->k.tenant_id, sizeof o->k.tenant_id, a, v);
        else if (strcmp(a, "--feature") == 0)
            rc = set_field(o->k.feature_id, sizeof o->k.feature_id, a, v);
        else if (strcmp(a, "--environment") == 0)
            rc = set_field(o->k.environment, sizeof o->k.environment, a, v);
        else if (strcmp(a, "--models") == 0)
            rc = set_field(o->k.models, sizeof o->k.models, a, v);
        else {
            fprintf(stderr, "tollgate keys: unknown option '%s'\n%s", a, usage_text);
            return -1;
        }
        if (rc != 0)
            return -1;
        i += 2;
    }
    return 0;
}

static int open_db(const struct opts *o, sqlite3 **db)
{
    char path[1024];
    if (tg_cli_ledger_path(o->config, o->ledger, path, sizeof path) != 0)
        return -1;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "tollgate: %s: %s\n", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        return -1;
    }
    sqlite3_busy_timeout(*db, 5000);
    return 0;
}

static void print_time(int64_t ms, char out[25])
{
    if (ms == 0)
        snprintf(out, 25, "-");
    else
        tg_iso8601_ms(ms, out);
}

static int do_list(sqlite3 *db, const struct opts *o)
{
    struct tg_vkey *v = NULL;
    int n = 0;
    struct tg_errbuf eb;
    if (tg_keys_list(db, &v, &n, &eb) != 0) {
        fprintf(stderr, "tollgate: %s\n", eb.msg);
        return 1;
    }
    bool json = o->format != NULL && strcmp(o->format, "json") == 0;
    struct tg_buf b = {0};
    if (json)
        tg_buf_appends(&b, "[");
    else
        tg_buf_appendf(&b, "%-20s %-13s %-16s %-16s %-12s %-24s %-24s %s\n", "KEY_ID", "PREFIX",
                       "TEAM", "COST_CENTER", "TENANT", "EXPIRES", "REVOKED", "MODELS");
    for (int i = 0; i < n; i++) {
        const struct tg_vkey *k = &v[i];
        char exp[25], rev[25], created[25];
        print_time(k->expires_at_ms, exp);
        print_time(k->revoked_at_ms, rev);
        print_time(k->created_at_ms, created);
        if (!json) {
            tg_buf_appendf(&b, "%-20s %-13s %-16s %-16s %-12s %-24s %-24s %s\n", k->key_id,
                           k->prefix, k->team, k->cost_center, k->tenant_id, exp, rev,
                           k->models[0] ? k->models : "*");
            continue;
        }
        tg_buf_appends(&b, i ? "," : "");
        tg_keys_to_json(k, &b);
    }
    if (json)
        tg_buf_appends(&b, "]\n");
    fwrite(b.base, 1, b.len, stdout);
    tg_buf_free(&b);
    free(v);
    return 0;
}

int tg_cmd_keys(int argc, char **argv)
{
    struct opts o;
    sqlite3 *db = NULL;
    struct tg_errbuf eb;
    int rc = 1;
    memset(&o, 0, sizeof o);
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (parse(argc, argv, &o) != 0)
        return 2;
    if (o.expires != NULL && tg_parse_time(o.expires, &o.k.expires_at_ms) != 0) {
        fprintf(stderr,
                "tollgate keys: --expires '%s': expected YYYY-MM-DD or an ISO 8601 UTC time\n",
                o.expires);
        return 2;
    }
    if (strcmp(sub, "create") == 0 && (o.k.team[0] == '\0' || o.k.cost_center[0] == '\0')) {
        fprintf(stderr, "tollgate keys create: --team and --cost-center are required\n");
        return 2;
    }
    if (strcmp(sub, "revoke") == 0 && o.positional == NULL) {
        fprintf(stderr, "tollgate keys revoke: KEY_ID is required\n");
        return 2;
    }
    if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "revoke") != 0) {
        fprintf(stderr, "tollgate keys: unknown subcommand '%s'\n%s", sub, usage_text);
        return 2;
    }
    if (open_db(&o, &db) != 0)
        goto out;
    if (strcmp(sub, "create") == 0) {
        char key[64];
        if (tg_keys_create(db, &o.k, tg_now_ms(), key, sizeof key, &eb) != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            goto out;
        }
        printf("%s\n", key);
        fprintf(stderr,
                "created %s (prefix %s) for team %s, cost center %s; the key is shown only once\n",
                o.k.key_id, o.k.prefix, o.k.team, o.k.cost_center);
        rc = 0;
    } else if (strcmp(sub, "list") == 0) {
        rc = do_list(db, &o);
    } else {
        if (tg_keys_revoke(db, o.positional, tg_now_ms(), &eb) != 0) {
            fprintf(stderr, "tollgate: %s\n", eb.msg);
            goto out;
        }
        printf("revoked %s\n", o.positional);
        rc = 0;
    }
out:
    sqlite3_close(db);
    return rc;
}
