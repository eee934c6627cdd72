/* store/keys.c - virtual keys in the ledger database and their lookup snapshot
 *
 * A key is "tgk_" + 40 hex characters from the kernel CSPRNG. Only its SHA-256 is stored;
 * the plaintext is printed once at creation. The request path never touches SQLite: it
 * looks hashes up in an immutable, sorted snapshot (binary search) that the server
 * rebuilds when the table changes and swaps by pointer. */
#include "store/keys.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/uuid.h"

#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_keyset {
    struct tg_vkey *keys; /* sorted by hash */
    int n;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS virtual_keys ("
    " key_id TEXT PRIMARY KEY, prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
    " tenant_id TEXT, team TEXT, cost_center TEXT, feature_id TEXT, environment TEXT,"
    " models TEXT, created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL DEFAULT 0,"
    " revoked_at_ms INTEGER NOT NULL DEFAULT 0)";

int tg_keys_migrate(sqlite3 *db, struct tg_errbuf *eb)
{
    char *err = NULL;
    if (sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK) {
        int rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", err ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

void tg_keys_hash(const char *key, unsigned long len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

bool tg_keys_model_allowed(const char *patterns, const char *model)
{
    if (patterns == NULL || patterns[0] == '\0')
        return true;
    const char *p = patterns;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char pat[256];
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0 && n < sizeof pat) {
            memcpy(pat, p, n);
            pat[n] = '\0';
            if (fnmatch(pat, model, 0) == 0)
                return true;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s[0] == '\0')
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

int tg_keys_create(sqlite3 *db, struct tg_vkey *k, int64_t now_ms, char *out, unsigned outlen,
                   struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    char secret[41], idhex[17];
    if (outlen < 64)
        return tg_errf(eb, TG_ERR_INVALID, "key buffer too small");
    rc = tg_keys_migrate(db, eb);
    if (rc != 0)
        return rc;
    tg_random_hex(secret, 20);
    tg_random_hex(idhex, 8);
    snprintf(out, outlen, "%s%s", TG_VKEY_PREFIX, secret);
    snprintf(k->key_id, sizeof k->key_id, "vk_%s", idhex);
    snprintf(k->prefix, sizeof k->prefix, "%.12s", out);
    tg_keys_hash(out, strlen(out), k->hash);
    k->created_at_ms = now_ms;
    k->revoked_at_ms = 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO virtual_keys(key_id,prefix,hash,tenant_id,team,cost_center,"
                           "feature_id,environment,models,created_at_ms,expires_at_ms) "
                           "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
        goto out;
    }
    bind_text(st, 1, k->key_id);
    bind_text(st, 2, k->prefix);
    bind_text(st, 3, k->hash);
    bind_text(st, 4, k->tenant_id);
    bind_text(st, 5, k->team);
    bind_text(st, 6, k->cost_center);
    bind_text(st, 7, k->feature_id);
    bind_text(st, 8, k->environment);
    bind_text(st, 9, k->models);
    sqlite3_bind_int64(st, 10, k->created_at_ms);
    sqlite3_bind_int64(st, 11, k->expires_at_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    if (rc != 0)
        memset(out, 0, outlen);
    return rc;
}

int tg_keys_revoke(sqlite3 *db, const char *key_id, int64_t now_ms, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = tg_keys_migrate(db, eb);
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(
            db, "UPDATE virtual_keys SET revoked_at_ms=? WHERE key_id=? AND revoked_at_ms=0", -1,
            &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, key_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
    else if (sqlite3_changes(db) == 0)
        rc = tg_errf(eb, TG_ERR_NOTFOUND, "no active key with id '%s'", key_id);
out:
    sqlite3_finalize(st);
    return rc;
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", s ? (const char *)s : "");
}

int tg_keys_list(sqlite3 *db, struct tg_vkey **out, int *n, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    struct tg_vkey *v = NULL;
    int cap = 0, cnt = 0, rc = tg_keys_migrate(db, eb);
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT key_id,prefix,hash,tenant_id,team,cost_center,feature_id,"
                           "environment,models,created_at_ms,expires_at_ms,revoked_at_ms "
                           "FROM virtual_keys ORDER BY created_at_ms, key_id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
        goto out;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = tg_realloc(v, (size_t)cap * sizeof *v);
        }
        struct tg_vkey *k = &v[cnt++];
        memset(k, 0, sizeof *k);
        col_text(st, 0, k->key_id, sizeof k->key_id);
        col_text(st, 1, k->prefix, sizeof k->prefix);
        col_text(st, 2, k->hash, sizeof k->hash);
        col_text(st, 3, k->tenant_id, sizeof k->tenant_id);
        col_text(st, 4, k->team, sizeof k->team);
        col_text(st, 5, k->cost_center, sizeof k->cost_center);
        col_text(st, 6, k->feature_id, sizeof k->feature_id);
        col_text(st, 7, k->environment, sizeof k->environment);
        col_text(st, 8, k->models, sizeof k->models);
        k->created_at_ms = sqlite3_column_int64(st, 9);
        k->expires_at_ms = sqlite3_column_int64(st, 10);
        k->revoked_at_ms = sqlite3_column_int64(st, 11);
    }
    if (step != SQLITE_DONE) {
        rc = tg_errf(eb, TG_ERR_IO, "virtual_keys: %s", sqlite3_errmsg(db));
        goto out;
    }
    *out = v;
    *n = cnt;
    v = NULL;
out:
    free(v);
    sqlite3_finalize(st);
    return rc;
}

void tg_keys_to_json(const struct tg_vkey *k, struct tg_buf *b)
{
    const char *fields[][2] = {
        {"key_id", k->key_id},           {"prefix", k->prefix},       {"team", k->team},
        {"cost_center", k->cost_center}, {"tenant_id", k->tenant_id}, {"feature_id", k->feature_id},
        {"environment", k->environment}, {"models", k->models}};
    const struct {
        const char *name;
        int64_t ms;
    } times[] = {{"created_at", k->created_at_ms},
                 {"expires_at", k->expires_at_ms},
                 {"revoked_at", k->revoked_at_ms}};
    tg_buf_appends(b, "{");
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        tg_buf_appendf(b, "%s\"%s\":", f ? "," : "", fields[f][0]);
        if (fields[f][1][0] == '\0')
            tg_buf_appends(b, "null");
        else
            tg_buf_append_json_str(b, fields[f][1], strlen(fields[f][1]));
    }
    for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
        char ts[25];
        tg_iso8601_ms(times[t].ms, ts);
        if (times[t].ms == 0)
            tg_buf_appendf(b, ",\"%s\":null", times[t].name);
        else
            tg_buf_appendf(b, ",\"%s\":\"%s\"", times[t].name, ts);
    }
    tg_buf_appends(b, "}");
}

static int by_hash(const void *a, const void *b)
{
    return strcmp(((const struct tg_vkey *)a)->hash, ((const struct tg_vkey *)b)->hash);
}

int tg_keyset_load(sqlite3 *db, struct tg_keyset **out, struct tg_errbuf *eb)
{
    struct tg_keyset *ks = tg_calloc(1, sizeof *ks);
    int rc = tg_keys_list(db, &ks->keys, &ks->n, eb);
    if (rc != 0) {
        free(ks);
        return rc;
    }
    if (ks->n > 0)
        qsort(ks->keys, (size_t)ks->n, sizeof *ks->keys, by_hash);
    *out = ks;
    return 0;
}

const struct tg_vkey *tg_keyset_find(const struct tg_keyset *ks, const char *hash)
{
    struct tg_vkey probe;
    if (ks == NULL || ks->n == 0)
        return NULL;
    snprintf(probe.hash, sizeof probe.hash, "%s", hash);
    return bsearch(&probe, ks->keys, (size_t)ks->n, sizeof *ks->keys, by_hash);
}

void tg_keyset_destroy(struct tg_keyset *ks)
{
    if (ks == NULL)
        return;
    free(ks->keys);
    free(ks);
}
