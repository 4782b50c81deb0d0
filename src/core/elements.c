#include "core/elements.h"

#include <stdbool.h>
#include <stdlib.h>

static cJSON *element_result(const char *error)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", error ? "error" : "success");
    if (error)
        cJSON_AddStringToObject(r, "message", error);
    return r;
}

enum fl_err elements_check(const char *json, size_t len, const char *field, element_check_fn check,
                           char **stored, cJSON **results, unsigned *failed, char *detail,
                           size_t detail_len)
{
    *stored = NULL;
    *results = NULL;
    *failed = 0;
    cJSON *list = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(list);
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                       "%s must be a JSON array of {\"type\":...,\"params\":{...}}", field);
    }
    cJSON *kept = cJSON_CreateArray();
    *results = cJSON_CreateArray();
    const cJSON *element;
    cJSON_ArrayForEach(element, list)
    {
        char why[256];
        cJSON *valid = check(element, why, sizeof(why));
        if (valid)
            cJSON_AddItemToArray(kept, valid);
        else
            (*failed)++;
        cJSON_AddItemToArray(*results, element_result(valid ? NULL : why));
    }
    cJSON_Delete(list);
    *stored = cJSON_PrintUnformatted(kept);
    cJSON_Delete(kept);
    if (!*stored || !*results) {
        free(*stored);
        cJSON_Delete(*results);
        *stored = NULL;
        *results = NULL;
        return fl_fail(FL_ERR_NOMEM, detail, detail_len, "out of memory");
    }
    return FL_OK;
}

cJSON *elements_shown(const cJSON *element)
{
    cJSON *shown = cJSON_Duplicate(element, true);
    cJSON *params = cJSON_GetObjectItemCaseSensitive(shown, "params");
    if (cJSON_HasObjectItem(params, "password")) /* never shown */
        cJSON_ReplaceItemInObjectCaseSensitive(params, "password", cJSON_CreateString("***"));
    return shown;
}

cJSON *elements_metadata(const cJSON *results, unsigned failed)
{
    int total = cJSON_GetArraySize(results);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "successful", total - (int)failed);
    cJSON_AddNumberToObject(m, "failed", failed);
    cJSON_AddNumberToObject(m, "total", total);
    return m;
}
