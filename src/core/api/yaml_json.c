#include "core/api/yaml_json.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum { MAX_DEPTH = 64, MAX_NODES = 100000 }; /* aliases could otherwise expand exponentially */

static cJSON *yaml_scalar(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return cJSON_CreateString(v);
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        return cJSON_CreateBool(v[0] == 't');
    if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || v[0] == '\0')
        return cJSON_CreateNull();
    char *end;
    double d = strtod(v, &end);
    if (*v && *end == '\0' && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
        return cJSON_CreateNumber(d);
    return cJSON_CreateString(v);
}

static cJSON *yaml_node_json(yaml_document_t *doc, yaml_node_t *node, int depth, int *budget)
{
    if (!node || depth > MAX_DEPTH || --*budget < 0)
        return NULL;
    if (node->type == YAML_SCALAR_NODE)
        return yaml_scalar(node);
    if (node->type == YAML_SEQUENCE_NODE) {
        cJSON *arr = cJSON_CreateArray();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            cJSON *item = yaml_node_json(doc, yaml_document_get_node(doc, *it), depth + 1, budget);
            if (!item) {
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, item);
        }
        return arr;
    }
    cJSON *obj = cJSON_CreateObject();
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(doc, p->key);
        cJSON *value =
            yaml_node_json(doc, yaml_document_get_node(doc, p->value), depth + 1, budget);
        if (!key || key->type != YAML_SCALAR_NODE || !value) {
            cJSON_Delete(value);
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON_AddItemToObject(obj, (const char *)key->data.scalar.value, value);
    }
    return obj;
}

enum fl_err yaml_to_json(const char *text, size_t len, cJSON **out, char *detail, size_t detail_len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    *out = NULL;
    if (!yaml_parser_initialize(&parser))
        return FL_ERR_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    enum fl_err err = FL_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        err = fl_fail(FL_ERR_INVALID_NAME, detail, detail_len, "line %lu: %s",
                      (unsigned long)parser.problem_mark.line + 1,
                      parser.problem ? parser.problem : "malformed YAML");
        yaml_parser_delete(&parser);
        return err;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int budget = MAX_NODES;
    if (!root)
        err = fl_fail(FL_ERR_INVALID_NAME, detail, detail_len, "line 1: empty document");
    else if (!(*out = yaml_node_json(&doc, root, 0, &budget)))
        err = fl_fail(
            FL_ERR_INVALID_NAME, detail, detail_len,
            "line %lu: unsupported YAML (complex keys, nesting deeper than %d or over %d nodes)",
            (unsigned long)root->start_mark.line + 1, MAX_DEPTH, MAX_NODES);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return err;
}
