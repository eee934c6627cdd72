/* tests/fuzz/fuzz_json.c - tg_json_parse against cJSON on any bytes: never a crash; what it
 * accepts cJSON accepts too, as the same tree (printed the same, prev links as cJSON's);
 * tg_json_parse_keys accepts the same texts and builds the same tree, less what it skims */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cJSON's list shape: the first child's prev is the last child, a child's next ends it */
static void check_links(const cJSON *j)
{
    const cJSON *last = NULL;
    for (const cJSON *c = j->child; c != NULL; c = c->next) {
        if (c != j->child && c->prev != last)
            abort();
        check_links(c);
        last = c;
    }
    if (j->child != NULL && j->child->prev != last)
        abort();
}

/* Aborts unless the two trees print the same */
static void check_same(const cJSON *x, const cJSON *y)
{
    char *a = cJSON_PrintUnformatted(x), *b = cJSON_PrintUnformatted(y);
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        abort();
    cJSON_free(a);
    cJSON_free(b);
}

/* tg_json_parse_keys with a top-level spec accepts what tg_json_parse accepts, and its
 * tree is the whole tree without the top-level members it does not keep */
static void check_keys(const uint8_t *data, size_t size, cJSON *whole)
{
    static const struct tg_json_keep keep[] = {
        {"model", NULL}, {"a", NULL}, {"", NULL}, {NULL, NULL}};
    cJSON *kept = tg_json_parse_keys((const char *)data, size, keep);
    if ((kept == NULL) != (whole == NULL))
        abort();
    if (kept == NULL)
        return;
    check_links(kept);
    cJSON *want = cJSON_Duplicate(whole, 1);
    if (cJSON_IsObject(want)) {
        for (cJSON *m = want->child, *next; m != NULL; m = next) {
            next = m->next;
            bool is_kept = false;
            for (const struct tg_json_keep *k = keep; k->key != NULL; k++)
                is_kept = is_kept || strcmp(m->string, k->key) == 0;
            if (!is_kept)
                cJSON_Delete(cJSON_DetachItemViaPointer(want, m));
        }
    }
    check_same(kept, want);
    cJSON_Delete(want);
    cJSON_Delete(kept);
}

/* ... and with a spec of several depths it accepts the same, with a well-linked tree */
static void check_spec(const uint8_t *data, size_t size, const cJSON *whole)
{
    static const struct tg_json_keep none[] = {{NULL, NULL}};
    static const struct tg_json_keep sub[] = {{"a", none}, {"b", NULL}, {NULL, NULL}};
    static const struct tg_json_keep spec[] = {{"a", sub}, {"model", NULL}, {NULL, NULL}};
    cJSON *kept = tg_json_parse_keys((const char *)data, size, spec);
    if ((kept == NULL) != (whole == NULL))
        abort();
    if (kept != NULL)
        check_links(kept);
    cJSON_Delete(kept);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *ours = tg_json_parse((const char *)data, size);
    check_keys(data, size, ours);
    check_spec(data, size, ours);
    if (ours == NULL)
        return 0;
    check_links(ours);
    /* cJSON skips a BOM too, but then misreads a number that ends the text */
    size_t bom = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    cJSON *theirs = cJSON_ParseWithLength((const char *)data + bom, size - bom);
    if (theirs == NULL)
        abort();
    check_same(ours, theirs);
    cJSON_Delete(ours);
    cJSON_Delete(theirs);
    return 0;
}
