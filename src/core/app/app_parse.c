/*
 * app_parse — an APP script from YAML (libyaml's document API, which keeps
 * each node's line) into struct app_script, refusing anything docs/app.md does
 * not define with a message that names the tag, the block and the line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/util.h"
#include "core/api/validate.h"
#include "core/app/app.h"

enum {
    MAX_TAGS = 1024,
    MAX_BLOCKS = 256,
    MAX_LIST = 1024, /* Workers or affinity tags in one block */
    MAX_CONCURRENT = 1000000,
};

struct parser {
    yaml_document_t *doc;
    const char *tag; /* the tag being read, for messages (NULL before one) */
    size_t block;    /* 1-based block number being read, 0 outside one */
    char *detail;
    size_t detail_len;
};

static enum fl_err fail(struct parser *p, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum fl_err fail(struct parser *p, const yaml_node_t *node, const char *fmt, ...)
{
    char where[256] = "", what[256];
    size_t n = 0;
    if (p->tag)
        n += (size_t)snprintf(where, sizeof(where), "tag %.160s, ", p->tag);
    if (p->block && n < sizeof(where))
        n += (size_t)snprintf(where + n, sizeof(where) - n, "block %zu, ", p->block);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    unsigned long line = node ? (unsigned long)node->start_mark.line + 1 : 1;
    return fl_fail(FL_ERR_INVALID_NAME, p->detail, p->detail_len, "%sline %lu: %s", where, line,
                   what);
}

static yaml_node_t *node_at(struct parser *p, int index)
{
    return yaml_document_get_node(p->doc, index);
}

/* The text of a scalar node, NULL for anything else. */
static const char *scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static size_t sequence_length(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static size_t mapping_length(const yaml_node_t *node)
{
    return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
}

/* Appends a copy of `text` to a string array (grown one by one: lists are short). */
static enum fl_err list_push(char ***list, size_t *count, const char *text)
{
    char **grown = realloc(*list, (*count + 1) * sizeof(**list));
    if (!grown)
        return FL_ERR_NOMEM;
    *list = grown;
    if (!(grown[*count] = strdup(text)))
        return FL_ERR_NOMEM;
    (*count)++;
    return FL_OK;
}

/* A list of strings: a sequence of scalars, or one scalar. */
static enum fl_err string_list(struct parser *p, yaml_node_t *node, const char *key,
                               enum fl_err (*each)(struct parser *, yaml_node_t *, void *),
                               void *arg)
{
    if (scalar(node))
        return each(p, node, arg);
    if (node->type != YAML_SEQUENCE_NODE || sequence_length(node) == 0)
        return fail(p, node, "%s must be a non-empty list", key);
    if (sequence_length(node) > MAX_LIST)
        return fail(p, node, "%s lists more than %d entries", key, MAX_LIST);
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node_at(p, *it);
        if (!scalar(item))
            return fail(p, item, "%s must list names", key);
        enum fl_err err = each(p, item, arg);
        if (err != FL_OK)
            return err;
    }
    return FL_OK;
}

static enum fl_err worker_entry(struct parser *p, yaml_node_t *node, void *arg)
{
    struct app_block *b = arg;
    const char *name = scalar(node);
    if (strcmp(name, "*") == 0) {
        b->all_workers = true;
        return FL_OK;
    }
    if (!name[0] || strlen(name) > 255)
        return fail(p, node, "a Worker name must have 1 to 255 characters");
    return list_push(&b->workers, &b->worker_count, name);
}

static enum fl_err affinity_entry(struct parser *p, yaml_node_t *node, void *arg)
{
    struct app_block *b = arg;
    const char *text = scalar(node);
    bool anti = text[0] == '!';
    if (!name_valid(text + anti))
        return fail(p, node, "affinity entry '%.160s' is not a tag or !tag", text);
    return anti ? list_push(&b->anti_affinity, &b->anti_affinity_count, text + 1)
                : list_push(&b->affinity, &b->affinity_count, text);
}

static enum fl_err strategy_value(struct parser *p, yaml_node_t *node, struct app_block *b)
{
    static const char *const names[] = {"best-first", "random", "platform"};
    const char *text = scalar(node);
    for (size_t i = 0; text && i < ARRAY_SIZE(names); i++)
        if (strcmp(text, names[i]) == 0) {
            b->strategy = (enum app_strategy)i;
            return FL_OK;
        }
    return fail(p, node, "unknown strategy '%.64s' (best-first, random or platform)",
                text ? text : "(not a word)");
}

/* "50%", "50", "12.5%": a percentage from 0 to 100. */
static bool parse_percentage(const char *text, double *out)
{
    size_t digits = strspn(text, "0123456789.");
    if (digits == 0 || (text[digits] && strcmp(text + digits, "%") != 0))
        return false;
    char *end;
    double v = strtod(text, &end);
    if (end != text + digits || !(v >= 0 && v <= 100))
        return false;
    *out = v;
    return true;
}

static enum fl_err invalidate_value(struct parser *p, yaml_node_t *node, struct app_block *b)
{
    if (node->type != YAML_MAPPING_NODE)
        return fail(p, node, "invalidate must be a map");
    for (yaml_node_pair_t *kv = node->data.mapping.pairs.start; kv < node->data.mapping.pairs.top;
         kv++) {
        const char *key = scalar(node_at(p, kv->key));
        yaml_node_t *value = node_at(p, kv->value);
        const char *text = scalar(value);
        if (key && strcmp(key, "capacity_used") == 0) {
            if (!text || !parse_percentage(text, &b->capacity_used_pct))
                return fail(p, value, "capacity_used must be a percentage from 0 to 100");
        } else if (key && strcmp(key, "max_concurrent_invocations") == 0) {
            if (!text || !text[0] || strspn(text, "0123456789") != strlen(text) ||
                strlen(text) > 7 || atol(text) > MAX_CONCURRENT)
                return fail(p, value,
                            "max_concurrent_invocations must be a whole number from 0 "
                            "to %d",
                            MAX_CONCURRENT);
            b->max_concurrent = atol(text);
        } else {
            return fail(p, node_at(p, kv->key),
                        "unknown invalidate key '%.64s' (capacity_used, "
                        "max_concurrent_invocations)",
                        key ? key : "?");
        }
    }
    return FL_OK;
}

static enum fl_err block_key(struct parser *p, const char *key, yaml_node_t *value,
                             struct app_block *b)
{
    if (strcmp(key, "workers") == 0) {
        enum fl_err err = string_list(p, value, "workers", worker_entry, b);
        if (err == FL_OK && b->all_workers && b->worker_count)
            return fail(p, value, "workers is either \"*\" or a list of names, not both");
        return err;
    }
    if (strcmp(key, "strategy") == 0)
        return strategy_value(p, value, b);
    if (strcmp(key, "invalidate") == 0)
        return invalidate_value(p, value, b);
    if (strcmp(key, "affinity") == 0)
        return string_list(p, value, "affinity", affinity_entry, b);
    return fail(p, value, "unknown key '%.64s' (workers, strategy, invalidate, affinity)", key);
}

static enum fl_err parse_block(struct parser *p, yaml_node_t *node, struct app_block *b)
{
    *b = (struct app_block){.strategy = APP_BEST_FIRST,
                            .capacity_used_pct = -1,
                            .max_concurrent = -1,
                            .line = (unsigned)node->start_mark.line + 1};
    if (node->type != YAML_MAPPING_NODE)
        return fail(p, node, "a block must be a map with workers, strategy, invalidate, affinity");
    bool has_workers = false;
    for (yaml_node_pair_t *kv = node->data.mapping.pairs.start; kv < node->data.mapping.pairs.top;
         kv++) {
        yaml_node_t *key_node = node_at(p, kv->key);
        const char *key = scalar(key_node);
        if (!key)
            return fail(p, key_node, "a block's keys must be words");
        for (yaml_node_pair_t *before = node->data.mapping.pairs.start; before < kv; before++)
            if (strcmp(scalar(node_at(p, before->key)), key) == 0)
                return fail(p, key_node, "key '%.64s' appears twice", key);
        has_workers |= strcmp(key, "workers") == 0;
        enum fl_err err = block_key(p, key, node_at(p, kv->value), b);
        if (err != FL_OK)
            return err;
    }
    return has_workers ? FL_OK : fail(p, node, "workers is missing");
}

static enum fl_err parse_blocks(struct parser *p, yaml_node_t *node, struct app_tag *t)
{
    if (node->type != YAML_SEQUENCE_NODE || sequence_length(node) == 0)
        return fail(p, node, "a tag's value must be a non-empty list of blocks");
    if (sequence_length(node) > MAX_BLOCKS)
        return fail(p, node, "more than %d blocks", MAX_BLOCKS);
    if (!(t->blocks = calloc(sequence_length(node), sizeof(*t->blocks))))
        return FL_ERR_NOMEM;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        p->block = t->block_count + 1;
        enum fl_err err = parse_block(p, node_at(p, *it), &t->blocks[t->block_count++]);
        if (err != FL_OK)
            return err;
    }
    p->block = 0;
    return FL_OK;
}

static bool tag_defined(const struct app_script *s, const char *name)
{
    for (size_t i = 0; i < s->tag_count; i++)
        if (strcmp(s->tags[i].name, name) == 0)
            return true;
    return false;
}

/* One element of the script: {TAG: [blocks...], followup: default|fail}. */
static enum fl_err parse_tag(struct parser *p, yaml_node_t *node, struct app_script *s)
{
    const char *shape = "each element must be a map of one tag to its blocks, and optionally "
                        "followup";
    if (node->type != YAML_MAPPING_NODE || mapping_length(node) == 0)
        return fail(p, node, "%s", shape);
    yaml_node_pair_t *tag_pair = NULL, *followup_pair = NULL;
    for (yaml_node_pair_t *kv = node->data.mapping.pairs.start; kv < node->data.mapping.pairs.top;
         kv++) {
        const char *key = scalar(node_at(p, kv->key));
        if (!key)
            return fail(p, node_at(p, kv->key), "%s", shape);
        yaml_node_pair_t **slot = strcmp(key, "followup") == 0 ? &followup_pair : &tag_pair;
        if (*slot)
            return fail(p, node_at(p, kv->key), "%s (found '%.64s' too)", shape, key);
        *slot = kv;
    }
    if (!tag_pair)
        return fail(p, node, "followup without a tag");
    yaml_node_t *name_node = node_at(p, tag_pair->key);
    const char *name = scalar(name_node);
    if (!name_valid(name))
        return fail(p, name_node, "tag name '%.64s' is not a name (letters, digits, _)", name);
    if (tag_defined(s, name))
        return fail(p, name_node, "tag %.160s is defined twice", name);
    struct app_tag *t = &s->tags[s->tag_count++];
    if (!(t->name = strdup(name)))
        return FL_ERR_NOMEM;
    p->tag = t->name;
    if (followup_pair) {
        yaml_node_t *value = node_at(p, followup_pair->value);
        const char *text = scalar(value);
        if (!text || (strcmp(text, "default") != 0 && strcmp(text, "fail") != 0))
            return fail(p, value, "unknown followup '%.64s' (default or fail)",
                        text ? text : "(not a word)");
        t->followup_default = strcmp(text, "default") == 0;
    }
    enum fl_err err = parse_blocks(p, node_at(p, tag_pair->value), t);
    p->tag = NULL;
    return err;
}

static enum fl_err parse_script(struct parser *p, yaml_node_t *root, struct app_script *s)
{
    if (!root)
        return fail(p, NULL, "the script is empty");
    if (root->type != YAML_SEQUENCE_NODE || sequence_length(root) == 0)
        return fail(p, root, "a script must be a non-empty list of tags");
    if (sequence_length(root) > MAX_TAGS)
        return fail(p, root, "more than %d tags", MAX_TAGS);
    if (!(s->tags = calloc(sequence_length(root), sizeof(*s->tags))))
        return FL_ERR_NOMEM;
    for (yaml_node_item_t *it = root->data.sequence.items.start; it < root->data.sequence.items.top;
         it++) {
        enum fl_err err = parse_tag(p, node_at(p, *it), s);
        if (err != FL_OK)
            return err;
    }
    return FL_OK;
}

enum fl_err app_parse(const char *yaml, size_t len, struct app_script **out, char *detail,
                      size_t detail_len)
{
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return FL_ERR_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        enum fl_err err = fl_fail(FL_ERR_INVALID_NAME, detail, detail_len, "line %lu: %s",
                                  (unsigned long)parser.problem_mark.line + 1,
                                  parser.problem ? parser.problem : "malformed YAML");
        yaml_parser_delete(&parser);
        return err;
    }
    struct app_script *script = calloc(1, sizeof(*script));
    if (script)
        atomic_init(&script->refs, 1);
    struct parser p = {.doc = &doc, .detail = detail, .detail_len = detail_len};
    enum fl_err err =
        script ? parse_script(&p, yaml_document_get_root_node(&doc), script) : FL_ERR_NOMEM;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (err != FL_OK) {
        if (err == FL_ERR_NOMEM)
            fl_fail(err, detail, detail_len, "out of memory reading the script");
        app_release(script);
        return err;
    }
    *out = script;
    return FL_OK;
}

static void list_free(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

struct app_script *app_retain(struct app_script *script)
{
    atomic_fetch_add(&script->refs, 1);
    return script;
}

void app_release(struct app_script *script)
{
    if (!script || atomic_fetch_sub(&script->refs, 1) != 1)
        return;
    for (size_t t = 0; t < script->tag_count; t++) {
        struct app_tag *tag = &script->tags[t];
        for (size_t b = 0; b < tag->block_count; b++) {
            struct app_block *block = &tag->blocks[b];
            list_free(block->workers, block->worker_count);
            list_free(block->affinity, block->affinity_count);
            list_free(block->anti_affinity, block->anti_affinity_count);
        }
        free(tag->blocks);
        free(tag->name);
    }
    free(script->tags);
    free(script);
}

static cJSON *string_array(char **list, size_t count)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; i < count; i++)
        cJSON_AddItemToArray(array, cJSON_CreateString(list[i]));
    return array;
}

static cJSON *block_json(const struct app_block *b)
{
    static const char *const strategies[] = {"best-first", "random", "platform"};
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddItemToObject(obj, "workers",
                          b->all_workers ? cJSON_CreateString("*")
                                         : string_array(b->workers, b->worker_count));
    cJSON_AddStringToObject(obj, "strategy", strategies[b->strategy]);
    /* a limit not given is "infinity", spelled out as FunLess's Core writes it */
    cJSON *invalidate = cJSON_AddObjectToObject(obj, "invalidate");
    if (b->capacity_used_pct >= 0)
        cJSON_AddNumberToObject(invalidate, "capacity_used", b->capacity_used_pct);
    else
        cJSON_AddStringToObject(invalidate, "capacity_used", "infinity");
    if (b->max_concurrent >= 0)
        cJSON_AddNumberToObject(invalidate, "max_concurrent_invocations",
                                (double)b->max_concurrent);
    else
        cJSON_AddStringToObject(invalidate, "max_concurrent_invocations", "infinity");
    cJSON *affinity = cJSON_AddObjectToObject(obj, "affinity");
    cJSON_AddItemToObject(affinity, "affinity", string_array(b->affinity, b->affinity_count));
    cJSON_AddItemToObject(affinity, "antiaffinity",
                          string_array(b->anti_affinity, b->anti_affinity_count));
    return obj;
}

cJSON *app_to_json(const struct app_script *script)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *tags = cJSON_AddObjectToObject(root, "tags");
    for (size_t t = 0; t < script->tag_count; t++) {
        const struct app_tag *tag = &script->tags[t];
        cJSON *obj = cJSON_AddObjectToObject(tags, tag->name);
        cJSON *blocks = cJSON_AddArrayToObject(obj, "blocks");
        for (size_t b = 0; b < tag->block_count; b++)
            cJSON_AddItemToArray(blocks, block_json(&tag->blocks[b]));
        cJSON_AddStringToObject(obj, "followup", tag->followup_default ? "default" : "fail");
    }
    return root;
}
