/* providers/json_util.h - safe reads from cJSON trees of untrusted provider payloads */
#ifndef TG_PROVIDERS_JSON_UTIL_H
#define TG_PROVIDERS_JSON_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The JSON text (len bytes, not NUL-terminated) as a cJSON tree, or NULL when it is not
 *  exactly one RFC 8259 value between whitespace (json_parse.c: stricter than
 *  cJSON_ParseWithLength, and half its instructions on a provider payload). Free it with
 * tg_json_delete or cJSON_Delete. */
cJSON *tg_json_parse(const char *text, size_t len);
/** Which members tg_json_parse_keys builds: an array of these ending with key NULL. A
 *  member whose key is listed is built, its value under sub: NULL builds it whole; an
 *  object value gets only sub's members, an array value's objects the same. */
struct tg_json_keep {
    const char *key;
    const struct tg_json_keep *sub;
};
/** tg_json_parse that builds only the members of the top-level object that spec lists,
 *  and so on down (NULL builds all): the others are checked as strictly and left out of
 *  the tree, neither copied nor allocated (a request's messages, a chat answer's text).
 *  A top-level array is built whole. It accepts exactly the texts tg_json_parse
 *  accepts. */
cJSON *tg_json_parse_keys(const char *text, size_t len, const struct tg_json_keep *spec);
/** How tg_json_parse_into reads a member of the top-level object straight into a struct,
 *  building no node: a value of another kind is checked and left out, its field alone. */
enum tg_json_kind {
    TG_JSON_INT,  /* a number: its count by tg_json_count's rules, into the int64_t at off */
    TG_JSON_STR,  /* a string, decoded: into the char[cap] at off, cut to fit (tg_field_set) */
    TG_JSON_INTO, /* an object: its members read by sub (and, cap 1, true into the bool at off) */
    TG_JSON_TRUE, /* the literal true: true into the bool at off */
};
/** One member tg_json_parse_into reads: an array of these ending with key NULL. Only the
 *  first member of an object with a given key is read, as tg_json_path finds it. */
struct tg_json_take {
    const char *key;
    size_t key_len;
    enum tg_json_kind kind;
    unsigned short off, cap;        /* cap: TG_JSON_STR's */
    const struct tg_json_take *sub; /* TG_JSON_INTO's */
};
/* key: a string literal */
#define TG_JSON_TAKE_INT(key, type, field)                                                         \
    {                                                                                              \
        key, sizeof key - 1, TG_JSON_INT, offsetof(type, field), 0, NULL                           \
    }
#define TG_JSON_TAKE_STR(key, type, field)                                                         \
    {                                                                                              \
        key, sizeof key - 1, TG_JSON_STR, offsetof(type, field), sizeof((type *)0)->field, NULL    \
    }
#define TG_JSON_TAKE_INTO(key, sub)                                                                \
    {                                                                                              \
        key, sizeof key - 1, TG_JSON_INTO, 0, 0, sub                                               \
    }
#define TG_JSON_TAKE_INTO_FLAG(key, type, flag, sub)                                               \
    {                                                                                              \
        key, sizeof key - 1, TG_JSON_INTO, offsetof(type, flag), 1, sub                            \
    }
#define TG_JSON_TAKE_TRUE(key, type, flag)                                                         \
    {                                                                                              \
        key, sizeof key - 1, TG_JSON_TRUE, offsetof(type, flag), 0, NULL                           \
    }
#define TG_JSON_TAKE_END                                                                           \
    {                                                                                              \
        NULL, 0, TG_JSON_INT, 0, 0, NULL                                                           \
    }
/** tg_json_parse_keys that first reads the members of the top-level object that take
 *  lists into target (those of the objects they lead to, too), and builds none of them:
 *  the tree holds what spec keeps of the rest. A chat answer's usage, model and id cost
 *  a dozen nodes and their lookups otherwise. */
cJSON *tg_json_parse_into(const char *text, size_t len, const struct tg_json_keep *spec,
                          const struct tg_json_take *take, void *target);
/** A node's count by tg_json_count's rules: 0 unless a non-negative integer number. */
int64_t tg_json_count_value(const cJSON *v);
/** obj.path... (dot-separated keys) or NULL. */
const cJSON *tg_json_path(const cJSON *obj, const char *path);
/** A non-negative integer count at path; 0 when absent, not a number, negative or fractional. */
int64_t tg_json_count(const cJSON *obj, const char *path);
/** One member read by tg_json_counts: obj.key's count into *count, or the member itself
 *  into *node. Either may be NULL. */
struct tg_json_field {
    const char *key;
    int64_t *count;
    const cJSON **node;
};
/** Reads up to 32 fields (distinct keys) of obj in one pass over its members (a usage
 *  object's ten lookups by path walked its members ten times). Each field's member is
 *  the first one named key, as tg_json_path finds it: *node gets it, and *count gets its
 *  count by tg_json_count's rules when it holds a number; a field whose member is
 *  absent, or not a number, leaves *count alone, and *node too when absent. Nothing when
 *  obj is not an object. */
void tg_json_counts(const cJSON *obj, const struct tg_json_field *fields, size_t n);
/** True when path holds a number (present in the payload). */
bool tg_json_has_number(const cJSON *obj, const char *path);
/** Copies the string at path into dst (dstlen), or leaves dst unchanged when absent. */
void tg_json_copy_str(const cJSON *obj, const char *path, char *dst, unsigned dstlen);

/** Installs tollgate's cJSON allocator; call once, before any thread uses cJSON. Between
 *  tg_json_arena_begin and tg_json_arena_end a thread's cJSON allocations come from its
 *  own 64 KB bump arena and freeing them costs nothing (a provider payload's tree is
 *  dozens of small nodes); past the arena, and outside a scope, malloc and free. A tree
 *  parsed inside a scope must be deleted before the scope ends and must not reach
 *  another thread. Scopes nest. */
void tg_json_hooks_install(void);
void tg_json_arena_begin(void);
void tg_json_arena_end(void);
/** cJSON_Delete, or nothing when the whole tree is in the current scope's arena (its
 *  root there and no allocation of the scope fell back to malloc). */
void tg_json_delete(cJSON *j);

#endif
