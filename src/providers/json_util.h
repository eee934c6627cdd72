/* providers/json_util.h - safe reads from cJSON trees of untrusted provider payloads */
#ifndef TG_PROVIDERS_JSON_UTIL_H
#define TG_PROVIDERS_JSON_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/** obj.path... (dot-separated keys) or NULL. */
const cJSON *tg_json_path(const cJSON *obj, const char *path);
/** A non-negative integer count at path; 0 when absent, not a number, negative or fractional. */
int64_t tg_json_count(const cJSON *obj, const char *path);
/** True when path holds a number (present in the payload). */
bool tg_json_has_number(const cJSON *obj, const char *path);
/** Copies the string at path into dst (dstlen), or leaves dst unchanged when absent. */
void tg_json_copy_str(const cJSON *obj, const char *path, char *dst, unsigned dstlen);

#endif
