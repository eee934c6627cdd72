/* providers/json_util.c - typed, bounds-checked lookups in provider JSON */
#include "providers/json_util.h"

#include "core/record.h"

#include <string.h>

const cJSON *tg_json_path(const cJSON *obj, const char *path)
{
    char key[64];
    const char *p = path;
    while (obj != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key || !cJSON_IsObject(obj))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        p += n + (dot ? 1 : 0);
    }
    return obj;
}

int64_t tg_json_count(const cJSON *obj, const char *path)
{
    const cJSON *v = tg_json_path(obj, path);
    if (!cJSON_IsNumber(v))
        return 0;
    /* cJSON keeps the number as a double; token counts are far below 2^53, and anything
     * negative, fractional or absurd is treated as not reported */
    if (v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return 0;
    return (int64_t)v->valuedouble;
}

bool tg_json_has_number(const cJSON *obj, const char *path)
{
    return cJSON_IsNumber(tg_json_path(obj, path));
}

void tg_json_copy_str(const cJSON *obj, const char *path, char *dst, unsigned dstlen)
{
    const cJSON *v = tg_json_path(obj, path);
    if (cJSON_IsString(v) && v->valuestring != NULL)
        tg_field_set(dst, dstlen, v->valuestring, strlen(v->valuestring));
}
