/* store/keys.h - virtual keys: created once, stored only as a SHA-256 hash, looked up from
 * an in-memory snapshot on the request path */
#ifndef TG_STORE_KEYS_H
#define TG_STORE_KEYS_H

#include "core/buf.h"
#include "core/err.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define TG_VKEY_PREFIX "tgk_"

/* One virtual key's metadata (never the key itself). Empty strings = not set. */
struct tg_vkey {
    char key_id[40]; /* "vk_" + 16 hex */
    char prefix[16]; /* first 12 characters of the key, for humans */
    char hash[65];   /* lowercase hex SHA-256 of the whole key */
    char tenant_id[128], team[128], cost_center[128], feature_id[128], environment[64];
    char models[512]; /* comma-separated glob patterns; "" = every model */
    int64_t created_at_ms, expires_at_ms, revoked_at_ms; /* 0 = never / not revoked */
};

/** Creates the virtual_keys table if missing. db borrowed. */
int tg_keys_migrate(sqlite3 *db, struct tg_errbuf *eb);

/** Generates a key, stores its hash and metadata (k's key_id/prefix/hash/created_at are
 *  filled in), and writes the plaintext key (to be shown once) into out (>= 64 bytes). */
int tg_keys_create(sqlite3 *db, struct tg_vkey *k, int64_t now_ms, char *out, unsigned outlen,
                   struct tg_errbuf *eb);

/** Marks key_id revoked at now_ms. TG_ERR_NOTFOUND when no such key. */
int tg_keys_revoke(sqlite3 *db, const char *key_id, int64_t now_ms, struct tg_errbuf *eb);

/** Reads every key (revoked included), oldest first; *out is tg_malloc'ed, caller frees. */
int tg_keys_list(sqlite3 *db, struct tg_vkey **out, int *n, struct tg_errbuf *eb);

/** Appends k as a JSON object (metadata only: key_id, prefix, team, cost_center,
 *  tenant_id, feature_id, environment, models, created_at, expires_at, revoked_at; empty
 *  values and unset times are null). */
void tg_keys_to_json(const struct tg_vkey *k, struct tg_buf *out);

/** Hex SHA-256 of key into hex (65 bytes). Pure. */
void tg_keys_hash(const char *key, unsigned long len, char hex[65]);

/** True when model matches one of the comma-separated glob patterns (or patterns is ""). */
bool tg_keys_model_allowed(const char *patterns, const char *model);

/* An immutable snapshot for lookups: built by the reloader thread, read by workers. */
struct tg_keyset;

/** Builds a snapshot of all keys from db. */
int tg_keyset_load(sqlite3 *db, struct tg_keyset **out, struct tg_errbuf *eb);
/** The key whose hash is hash, or NULL. Any thread; the snapshot must stay referenced. */
const struct tg_vkey *tg_keyset_find(const struct tg_keyset *ks, const char *hash);
void tg_keyset_destroy(struct tg_keyset *ks);

#endif
