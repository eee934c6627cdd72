/* accounting/identity.c - attribution resolution (DESIGN.md, Attribution fields)
 *
 * Every field is resolved by one precedence: canonical header > alias header > baggage >
 * virtual-key default > route default > mapping table, and records where its value came
 * from so drift is measurable: `header`, `alias:<name as sent>`, `baggage`, `key`,
 * `route`, `map:<key field>`, `unmapped` (a loaded table had no entry), `generated`, or
 * `rejected:<where>` for a value that failed validation. Pure: headers come in as an abstract list,
 * so this is tested without a server. */
#include "accounting/identity.h"

#include "core/alloc.h"
#include "core/csvread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct field_def {
    const char *name, *header, *baggage;
    size_t header_len, offset, size;
};

#define FIELD(n, h, f)                                                                             \
    {                                                                                              \
        n, h, n, sizeof h - 1, offsetof(struct tg_call_record, f),                                 \
            sizeof(((struct tg_call_record *)0)->f)                                                \
    }

static const struct field_def fields[TG_F_COUNT] = {
    FIELD("request_id", "x-request-id", request_id),
    FIELD("tenant_id", "x-tenant-id", tenant_id),
    FIELD("team", "x-team", team),
    FIELD("cost_center", "x-cost-center", cost_center),
    FIELD("feature_id", "x-feature-id", feature_id),
    FIELD("workflow_id", "x-workflow-id", workflow_id),
    FIELD("actor_id", "x-actor-id", actor_id),
    FIELD("actor_type", "x-actor-type", actor_type),
    FIELD("environment", "x-environment", environment),
    FIELD("service", "x-service", service),
    FIELD("conversation_id", "x-conversation-id", conversation_id),
};

/* Header names a config knows (every field's and alias's, lowercase) in a filter: a bit
 * per name length (1-31) and pair of first and last bytes. A call's own headers (host,
 * content-type, authorization, an SDK's x-stainless-*) seldom pass it, so the 11 fields
 * and the 26 shipped aliases are compared only with the few names that do. */
static uint64_t name_bit(const char *name, size_t n)
{
    return 1ull << (((unsigned char)name[0] * 7u + (unsigned char)name[n - 1]) & 63);
}

static void know_name(struct tg_identity_config *c, const char *name, size_t n)
{
    if (n > 0 && n < TG_NAME_FILTER_LEN)
        c->names[n] |= name_bit(name, n);
}

static bool may_know(const struct tg_identity_config *c, const char *name, size_t n)
{
    if (n == 0)
        return false;
    return n >= TG_NAME_FILTER_LEN || (c->names[n] & name_bit(name, n)) != 0;
}

const char *tg_field_name(enum tg_field f)
{
    return fields[f].name;
}

const char *tg_field_header(enum tg_field f)
{
    return fields[f].header;
}

int tg_field_by_name(const char *name)
{
    static const struct {
        const char *alias;
        enum tg_field f;
    } short_names[] = {{"tenant", TG_F_TENANT},
                       {"feature", TG_F_FEATURE},
                       {"workflow", TG_F_WORKFLOW},
                       {"actor", TG_F_ACTOR_ID},
                       {"conversation", TG_F_CONVERSATION}};
    for (int i = 0; i < TG_F_COUNT; i++)
        if (strcmp(fields[i].name, name) == 0)
            return i;
    for (size_t i = 0; i < sizeof short_names / sizeof short_names[0]; i++)
        if (strcmp(short_names[i].alias, name) == 0)
            return (int)short_names[i].f;
    return -1;
}

void tg_identity_config_defaults(struct tg_identity_config *c)
{
    static const struct {
        const char *header;
        enum tg_field f;
    } shipped[] = {
        {"tenant", TG_F_TENANT},
        {"tenantid", TG_F_TENANT},
        {"tenant-id", TG_F_TENANT},
        {"tenant_id", TG_F_TENANT},
        {"x-tenant", TG_F_TENANT},
        {"x-tenantid", TG_F_TENANT},
        {"customer_id", TG_F_TENANT},
        {"x-customer-id", TG_F_TENANT},
        {"x-customer", TG_F_TENANT},
        {"team", TG_F_TEAM},
        {"x-team-id", TG_F_TEAM},
        {"x-team-name", TG_F_TEAM},
        {"x-costcenter", TG_F_COST_CENTER},
        {"x-cost-centre", TG_F_COST_CENTER},
        {"cost-center", TG_F_COST_CENTER},
        {"x-cc", TG_F_COST_CENTER},
        {"x-feature", TG_F_FEATURE},
        {"feature", TG_F_FEATURE},
        {"x-workflow", TG_F_WORKFLOW},
        {"x-workflow-run-id", TG_F_WORKFLOW},
        {"x-run-id", TG_F_WORKFLOW},
        {"x-actor", TG_F_ACTOR_ID},
        {"x-user-id", TG_F_ACTOR_ID},
        {"x-env", TG_F_ENVIRONMENT},
        {"x-service-name", TG_F_SERVICE},
        {"x-session-id", TG_F_CONVERSATION},
    };
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        snprintf(c->aliases[i].header, sizeof c->aliases[i].header, "%s", shipped[i].header);
        c->aliases[i].len = (unsigned char)strlen(shipped[i].header);
        c->aliases[i].field = shipped[i].f;
    }
    c->n_aliases = (int)(sizeof shipped / sizeof shipped[0]);
    for (int f = 0; f < TG_F_COUNT; f++)
        know_name(c, fields[f].header, fields[f].header_len);
    for (int a = 0; a < c->n_aliases; a++)
        know_name(c, c->aliases[a].header, c->aliases[a].len);
}

int tg_identity_add_alias(struct tg_identity_config *c, const char *header, const char *field,
                          struct tg_errbuf *eb)
{
    int f = tg_field_by_name(field);
    if (f < 0 || f == TG_F_REQUEST_ID)
        return tg_errf(eb, TG_ERR_INVALID, "alias '%s': unknown attribution field '%s'", header,
                       field);
    if (strlen(header) == 0 || strlen(header) >= sizeof c->aliases[0].header)
        return tg_errf(eb, TG_ERR_INVALID, "alias header name '%s' is empty or too long", header);
    int slot = c->n_aliases;
    for (int i = 0; i < c->n_aliases; i++)
        if (strcasecmp(c->aliases[i].header, header) == 0)
            slot = i;
    if (slot == TG_MAX_ALIASES)
        return tg_errf(eb, TG_ERR_LIMIT, "at most %d alias headers", TG_MAX_ALIASES);
    for (size_t k = 0; k <= strlen(header); k++)
        c->aliases[slot].header[k] =
            (char)((header[k] >= 'A' && header[k] <= 'Z') ? header[k] + 32 : header[k]);
    c->aliases[slot].len = (unsigned char)strlen(header);
    c->aliases[slot].field = (enum tg_field)f;
    know_name(c, c->aliases[slot].header, c->aliases[slot].len);
    if (slot == c->n_aliases)
        c->n_aliases++;
    return 0;
}

static bool name_is(const struct tg_header *h, const char *name, size_t n)
{
    return h->name_len == n && memcmp(h->name, name, n) == 0;
}

/* The field whose own header is name (n bytes, lowercase), or -1 */
static int field_by_header(const char *name, size_t n)
{
    for (int f = 0; f < TG_F_COUNT; f++)
        if (fields[f].header_len == n && memcmp(fields[f].header, name, n) == 0)
            return f;
    return -1;
}

/* The alias whose header is name, or -1 (alias names are distinct) */
static int alias_by_header(const struct tg_identity_config *cfg, const char *name, size_t n)
{
    for (int a = 0; a < cfg->n_aliases; a++)
        if (cfg->aliases[a].len == n && memcmp(cfg->aliases[a].header, name, n) == 0)
            return a;
    return -1;
}

/* Trims; rejects control characters and values that do not fit a ledger column. */
static bool clean_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

static bool valid_for(enum tg_field f, const char *v)
{
    if (f != TG_F_ACTOR_TYPE)
        return true;
    return strcmp(v, "human") == 0 || strcmp(v, "service") == 0 || strcmp(v, "agent") == 0;
}

/* Adds "field":"<prefix><what>" to the object being built (src holds its "{" and what
 * follows). None needs escaping: field is a column's name, prefix one of this file's
 * words, what one too or a header name as sent, which is HTTP token characters only. */
static void source_add(struct tg_buf *src, const char *field, const char *prefix, const char *what)
{
    size_t fl = strlen(field), pl = strlen(prefix), wl = strlen(what), comma = src->len > 1;
    char *d = tg_buf_extend(src, comma + fl + pl + wl + 5);
    if (comma)
        *d++ = ',';
    *d++ = '"';
    memcpy(d, field, fl);
    d += fl;
    memcpy(d, "\":\"", 3);
    d += 3;
    memcpy(d, prefix, pl);
    memcpy(d + pl, what, wl);
    d[pl + wl] = '"';
}

/* Tries one candidate value for field f; true when it was taken (or rejected: a rejected
 * value still ends the search, so a bad canonical header is visible, not papered over). */
static bool take(enum tg_field f, const char *v, size_t n, const char *prefix, const char *where,
                 struct tg_call_record *rec, struct tg_buf *src)
{
    char *dst = (char *)rec + fields[f].offset;
    char tmp[TG_FIELD_LEN];
    if (clean_value(v, n, tmp, fields[f].size < sizeof tmp ? fields[f].size : sizeof tmp) &&
        valid_for(f, tmp)) {
        memcpy(dst, tmp, strlen(tmp) + 1);
        source_add(src, fields[f].name, prefix, where);
        return true;
    }
    dst[0] = '\0';
    char rej[96];
    snprintf(rej, sizeof rej, "rejected:%s%s", prefix, where);
    source_add(src, fields[f].name, "", rej);
    return true;
}

/* Adds k=v to the tags object being built, unless it would not fit the column with the
 * object's closing brace: then it and every later tag are left out (*truncated), so the
 * column always holds whole JSON. */
static void add_tag(struct tg_buf *tags, const char *k, size_t kn, const char *v, size_t vn,
                    bool *truncated)
{
    char key[64], val[256];
    if (*truncated || !clean_value(k, kn, key, sizeof key) || !clean_value(v, vn, val, sizeof val))
        return;
    size_t before = tags->len;
    tg_buf_appends(tags, tags->len == 0 ? "{" : ",");
    tg_buf_append_json_str(tags, key, strlen(key));
    tg_buf_appends(tags, ":");
    tg_buf_append_json_str(tags, val, strlen(val));
    if (tags->len + 1 > sizeof((struct tg_call_record *)0)->tags - 1) {
        tags->len = before;
        tags->base[before] = '\0';
        *truncated = true;
    }
}

/* --- mapping tables ------------------------------------------------------------------ */

struct map_entry {
    char key[128], value[128];
};

struct tg_mappings {
    struct map_entry *e[TG_MAP_COUNT]; /* sorted by key */
    int n[TG_MAP_COUNT];
    bool loaded[TG_MAP_COUNT];
};

static const char *const map_headers[TG_MAP_COUNT][2] = {
    {"tenant_id", "cost_center"}, {"team", "cost_center"}, {"workflow_id", "team"}};

struct tg_mappings *tg_mappings_new(void)
{
    return tg_calloc(1, sizeof(struct tg_mappings));
}

void tg_mappings_destroy(struct tg_mappings *m)
{
    if (m == NULL)
        return;
    for (int k = 0; k < TG_MAP_COUNT; k++)
        free(m->e[k]);
    free(m);
}

struct map_loader {
    const char *name;
    struct tg_errbuf *eb;
    int kind;
    struct map_entry *v;
    int n, cap;
};

static int map_record(void *ud, char *const *f, int nf, long line)
{
    struct map_loader *L = ud;
    if (nf == 1 && f[0][0] == '\0')
        return 0;
    if (L->kind < 0) {
        for (int k = 0; k < TG_MAP_COUNT; k++)
            if (nf == 2 && strcmp(f[0], map_headers[k][0]) == 0 &&
                strcmp(f[1], map_headers[k][1]) == 0)
                L->kind = k;
        if (L->kind < 0)
            return tg_errf(L->eb, TG_ERR_INVALID,
                           "%s:%ld: header must be tenant_id,cost_center or team,cost_center or "
                           "workflow_id,team",
                           L->name, line);
        return 0;
    }
    if (nf != 2 || f[0][0] == '\0' || f[1][0] == '\0' || strlen(f[0]) >= sizeof L->v->key ||
        strlen(f[1]) >= sizeof L->v->value)
        return tg_errf(L->eb, TG_ERR_INVALID,
                       "%s:%ld: expected two non-empty values of at most 127 bytes", L->name, line);
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 64;
        L->v = tg_realloc(L->v, (size_t)L->cap * sizeof *L->v);
    }
    snprintf(L->v[L->n].key, sizeof L->v->key, "%s", f[0]);
    snprintf(L->v[L->n++].value, sizeof L->v->value, "%s", f[1]);
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct map_entry *)a)->key, ((const struct map_entry *)b)->key);
}

int tg_mappings_load_csv(struct tg_mappings *m, const char *name, const char *text,
                         unsigned long len, struct tg_errbuf *eb)
{
    struct map_loader L;
    memset(&L, 0, sizeof L);
    L.name = name;
    L.eb = eb;
    L.kind = -1;
    static const struct tg_csv_opts opts = {.max_fields = 64, .skip_comments = true};
    int err = tg_csv_parse(name, text, len, &opts, map_record, &L, eb);
    if (err == 0 && L.kind < 0)
        err = tg_errf(eb, TG_ERR_INVALID, "%s: empty file (no header row)", name);
    if (err == 0) { /* a key mapped twice is an error, not a silent pick */
        qsort(L.v, (size_t)L.n, sizeof *L.v, by_key);
        for (int i = 1; i < L.n; i++)
            if (strcmp(L.v[i].key, L.v[i - 1].key) == 0) {
                err = tg_errf(eb, TG_ERR_INVALID, "%s: '%s' is mapped twice", name, L.v[i].key);
                break;
            }
    }
    if (err != 0) {
        free(L.v);
        return err;
    }
    free(m->e[L.kind]);
    m->e[L.kind] = L.v;
    m->n[L.kind] = L.n;
    m->loaded[L.kind] = true;
    return 0;
}

int tg_mappings_load_file(struct tg_mappings *m, const char *path, struct tg_errbuf *eb)
{
    char *text = NULL;
    size_t len = 0;
    const char *name = NULL;
    int rc = tg_csv_read_file(path, &text, &len, &name, eb);
    if (rc == 0)
        rc = tg_mappings_load_csv(m, name, text, len, eb);
    free(text);
    return rc;
}

const char *tg_mappings_get(const struct tg_mappings *m, enum tg_map_kind kind, const char *key,
                            bool *has_table)
{
    *has_table = m != NULL && m->loaded[kind];
    if (!*has_table || m->n[kind] == 0)
        return NULL;
    struct map_entry probe;
    snprintf(probe.key, sizeof probe.key, "%s", key);
    const struct map_entry *e =
        bsearch(&probe, m->e[kind], (size_t)m->n[kind], sizeof probe, by_key);
    return e ? e->value : NULL;
}

/* A mapping table fills a field still empty from the value of another field. */
static void apply_map(const struct tg_mappings *maps, enum tg_map_kind kind, enum tg_field from,
                      enum tg_field to, struct tg_call_record *rec, struct tg_buf *src,
                      bool *unmapped)
{
    char *dst = (char *)rec + fields[to].offset;
    const char *key = (const char *)rec + fields[from].offset;
    bool has_table = false;
    if (dst[0] != '\0' || key[0] == '\0')
        return;
    const char *v = tg_mappings_get(maps, kind, key, &has_table);
    if (!has_table)
        return;
    if (v == NULL) {
        *unmapped = true; /* a visible bucket: the audit counts these */
        return;
    }
    tg_field_set(dst, (unsigned)fields[to].size, v, strlen(v));
    *unmapped = false;
    char what[48];
    snprintf(what, sizeof what, "map:%s", fields[from].name);
    source_add(src, fields[to].name, "", what);
}

void tg_identity_resolve(const struct tg_identity_config *cfg, const struct tg_header *h, size_t nh,
                         const struct tg_baggage *bg, const struct tg_identity_defaults *key,
                         const struct tg_identity_defaults *route, const struct tg_mappings *maps,
                         const char *generated_request_id, struct tg_call_record *rec)
{
    struct tg_buf src = {0}, tags = {0};
    /* per field, the first header of its own name the caller sent, and the first of its
     * first alias (in alias order) the caller sent, or -1 */
    int own_hdr[TG_F_COUNT], alias_hdr[TG_F_COUNT], alias_rank[TG_F_COUNT];
    for (int f = 0; f < TG_F_COUNT; f++)
        own_hdr[f] = alias_hdr[f] = alias_rank[f] = -1;
    for (size_t i = 0; i < nh; i++) {
        if (!may_know(cfg, h[i].name, h[i].name_len))
            continue;
        int f = field_by_header(h[i].name, h[i].name_len);
        if (f >= 0 && own_hdr[f] < 0)
            own_hdr[f] = (int)i;
        int a = alias_by_header(cfg, h[i].name, h[i].name_len);
        if (a >= 0) {
            f = (int)cfg->aliases[a].field;
            if (alias_rank[f] < 0 || a < alias_rank[f]) {
                alias_rank[f] = a;
                alias_hdr[f] = (int)i;
            }
        }
    }
    tg_buf_appends(&src, "{");
    for (int f = 0; f < TG_F_COUNT; f++) {
        bool done = false;
        if (own_hdr[f] >= 0)
            done = take((enum tg_field)f, h[own_hdr[f]].value, h[own_hdr[f]].value_len, "header",
                        "", rec, &src);
        if (!done && alias_hdr[f] >= 0) {
            const struct tg_header *ah = &h[alias_hdr[f]];
            char sent[64];
            snprintf(sent, sizeof sent, "%.*s", (int)ah->name_len,
                     ah->orig_name ? ah->orig_name : ah->name);
            done = take((enum tg_field)f, ah->value, ah->value_len, "alias:", sent, rec, &src);
        }
        const char *bv = bg ? tg_baggage_get(bg, fields[f].baggage) : NULL;
        if (!done && bv != NULL)
            done = take((enum tg_field)f, bv, strlen(bv), "baggage", "", rec, &src);
        if (!done && key != NULL && key->v[f][0] != '\0')
            done = take((enum tg_field)f, key->v[f], strlen(key->v[f]), "key", "", rec, &src);
        if (!done && route != NULL && route->v[f][0] != '\0')
            done = take((enum tg_field)f, route->v[f], strlen(route->v[f]), "route", "", rec, &src);
        if (!done && f == TG_F_REQUEST_ID && generated_request_id != NULL)
            done = take(TG_F_REQUEST_ID, generated_request_id, strlen(generated_request_id),
                        "generated", "", rec, &src);
        if (!done)
            ((char *)rec + fields[f].offset)[0] = '\0';
    }
    bool team_unmapped = false, cc_unmapped = false, cc_unmapped2 = false;
    apply_map(maps, TG_MAP_WORKFLOW_TEAM, TG_F_WORKFLOW, TG_F_TEAM, rec, &src, &team_unmapped);
    apply_map(maps, TG_MAP_TENANT_COST_CENTER, TG_F_TENANT, TG_F_COST_CENTER, rec, &src,
              &cc_unmapped);
    apply_map(maps, TG_MAP_TEAM_COST_CENTER, TG_F_TEAM, TG_F_COST_CENTER, rec, &src, &cc_unmapped2);
    if (team_unmapped && rec->team[0] == '\0')
        source_add(&src, "team", "", "unmapped");
    if ((cc_unmapped || cc_unmapped2) && rec->cost_center[0] == '\0')
        source_add(&src, "cost_center", "", "unmapped");
    bool truncated = false;
    for (size_t i = 0; i < nh; i++) {
        if (!name_is(&h[i], "x-tollgate-tags", 15))
            continue;
        const char *p = h[i].value, *end = p + h[i].value_len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma ? comma : end;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            if (eq != NULL)
                add_tag(&tags, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1), &truncated);
            p = comma ? comma + 1 : end;
        }
    }
    for (int i = 0; bg != NULL && i < bg->n; i++)
        if (strncmp(bg->m[i].key, "tag.", 4) == 0)
            add_tag(&tags, bg->m[i].key + 4, strlen(bg->m[i].key) - 4, bg->m[i].value,
                    strlen(bg->m[i].value), &truncated);
    if (truncated)
        source_add(&src, "tags", "", "truncated");
    tg_buf_appends(&src, "}");
    if (tags.len > 1) /* a tag was added (the object is opened with the first) */
        tg_buf_appends(&tags, "}");
    TG_SET(rec->attribution_sources, src.len > 2 ? src.base : "", src.len > 2 ? src.len : 0);
    TG_SET(rec->tags, tags.len > 2 ? tags.base : "", tags.len > 2 ? tags.len : 0);
    tg_buf_free(&src);
    tg_buf_free(&tags);
}

unsigned tg_identity_missing(const struct tg_identity_config *cfg, const struct tg_call_record *rec,
                             int64_t now_ms, bool *enforce)
{
    unsigned missing = 0;
    *enforce = false;
    if (cfg->mode == TG_ATTR_OFF)
        return 0;
    for (int f = 0; f < TG_F_COUNT; f++)
        if ((cfg->required & (1u << f)) && ((const char *)rec + fields[f].offset)[0] == '\0')
            missing |= 1u << f;
    *enforce = missing != 0 && (cfg->mode == TG_ATTR_ENFORCE ||
                                (cfg->enforce_after_ms > 0 && now_ms >= cfg->enforce_after_ms));
    return missing;
}

void tg_identity_missing_message(unsigned missing, struct tg_buf *msg, struct tg_buf *list)
{
    tg_buf_appends(msg, "missing required attribution: ");
    bool first = true;
    for (int f = 0; f < TG_F_COUNT; f++) {
        if (!(missing & (1u << f)))
            continue;
        tg_buf_appendf(msg, "%s%s (set header %s or baggage %s)", first ? "" : ", ", fields[f].name,
                       fields[f].header, fields[f].baggage);
        tg_buf_appendf(list, "%s%s", first ? "" : ",", fields[f].name);
        first = false;
    }
}

bool tg_identity_is_internal_header(const struct tg_identity_config *cfg, const char *name,
                                    size_t n)
{
    if (n >= 11 && strncmp(name, "x-tollgate-", 11) == 0)
        return true;
    if (n == 7 && memcmp(name, "baggage", 7) == 0)
        return !cfg->forward_baggage;
    return may_know(cfg, name, n) &&
           (field_by_header(name, n) >= 0 || alias_by_header(cfg, name, n) >= 0);
}
