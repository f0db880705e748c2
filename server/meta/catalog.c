/* catalog.c — see catalog.h. LSM keys: "t" + name -> TableRecord, "n" + u64 id -> NodeAddress. */
#include "server/meta/catalog.h"
#include "core/assert.h"
#include "core/log.h"

#include "proto/internal/v1/internal.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct catalog {
	struct lsm_tree *tree;
	struct lsm_batch batch;
	struct catalog_table *tables;
	size_t n_tables, cap_tables;
	struct catalog_node *nodes;
	size_t n_nodes, cap_nodes;
};

int catalog_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > LIMIT_TABLE_NAME_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static void table_free(struct catalog_table *t) { free(t->config); }

static int table_add(struct catalog *c, const char *name, uint64_t id, uint64_t nanos,
		     const uint8_t *config, size_t config_len)
{
	if (c->n_tables == c->cap_tables) {
		size_t cap = c->cap_tables ? c->cap_tables * 2 : 16;
		struct catalog_table *v = realloc(c->tables, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		c->tables = v;
		c->cap_tables = cap;
	}
	struct catalog_table *t = &c->tables[c->n_tables];
	memset(t, 0, sizeof *t);
	size_t nl = strlen(name);
	ASSERT(nl <= LIMIT_TABLE_NAME_BYTES);
	memcpy(t->name, name, nl + 1);
	t->id = id;
	t->created_unix_nanos = nanos;
	if (config_len) {
		t->config = malloc(config_len);
		if (!t->config)
			return ERR_NOMEM;
		memcpy(t->config, config, config_len);
		t->config_len = config_len;
	}
	c->n_tables++;
	return 0;
}

static int node_set(struct catalog *c, const struct catalog_node *n)
{
	for (size_t i = 0; i < c->n_nodes; i++) {
		if (c->nodes[i].node_id == n->node_id) {
			c->nodes[i] = *n;
			return 0;
		}
	}
	if (c->n_nodes == c->cap_nodes) {
		size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 8;
		struct catalog_node *v = realloc(c->nodes, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		c->nodes = v;
		c->cap_nodes = cap;
	}
	c->nodes[c->n_nodes++] = *n;
	return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static int load(struct catalog *c)
{
	struct lsm_iter *it;
	struct lsm_iter_options io = {0};
	int rc = lsm_iter_new(c->tree, &io, &it);
	if (rc)
		return rc;
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);
		if (klen >= 1 && k[0] == 't') {
			Regatta__Internal__V1__TableRecord *r =
				regatta__internal__v1__table_record__unpack(NULL, vlen, v);
			if (!r || !r->name || strlen(r->name) > LIMIT_TABLE_NAME_BYTES) {
				LOG_ERROR("catalog: undecodable table record");
				if (r)
					regatta__internal__v1__table_record__free_unpacked(r, NULL);
				rc = ERR_CORRUPT;
				break;
			}
			rc = table_add(c, r->name, r->id, r->created_unix_nanos, r->config.data, r->config.len);
			regatta__internal__v1__table_record__free_unpacked(r, NULL);
		} else if (klen >= 1 && k[0] == 'n') {
			Regatta__Internal__V1__MetaCommand__NodeAddress *n =
				(Regatta__Internal__V1__MetaCommand__NodeAddress *)protobuf_c_message_unpack(
					&regatta__internal__v1__meta_command__node_address__descriptor, NULL, vlen, v);
			if (!n) {
				rc = ERR_CORRUPT;
				break;
			}
			struct catalog_node cn = {.node_id = n->node_id};
			copy_str(cn.api_url, sizeof cn.api_url, n->api_url);
			copy_str(cn.raft_url, sizeof cn.raft_url, n->raft_url);
			copy_str(cn.name, sizeof cn.name, n->name);
			rc = node_set(c, &cn);
			protobuf_c_message_free_unpacked(&n->base, NULL);
		}
		if (rc)
			break;
	}
	int irc = lsm_iter_status(it);
	lsm_iter_free(it);
	return rc ? rc : irc;
}

static void catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n_tables; i++)
		table_free(&c->tables[i]);
	free(c->tables);
	free(c->nodes);
	lsm_batch_deinit(&c->batch);
	free(c);
}

int catalog_open(const char *dir, const struct lsm_options *o, struct catalog **out)
{
	struct catalog *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	lsm_batch_init(&c->batch);
	int rc = lsm_tree_open(dir, o, &c->tree);
	if (rc) {
		catalog_free(c);
		return rc;
	}
	rc = load(c);
	if (rc) {
		lsm_tree_close_noflush(c->tree);
		catalog_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int catalog_close(struct catalog *c)
{
	int rc = lsm_tree_close(c->tree);
	catalog_free(c);
	return rc;
}

void catalog_close_noflush(struct catalog *c)
{
	lsm_tree_close_noflush(c->tree);
	catalog_free(c);
}

uint64_t catalog_applied_index(const struct catalog *c) { return lsm_tree_applied_index(c->tree); }
struct lsm_tree *catalog_tree(struct catalog *c) { return c->tree; }
size_t catalog_tables(const struct catalog *c) { return c->n_tables; }
const struct catalog_table *catalog_table_at(const struct catalog *c, size_t i)
{
	ASSERT(i < c->n_tables);
	return &c->tables[i];
}
size_t catalog_nodes(const struct catalog *c) { return c->n_nodes; }
const struct catalog_node *catalog_node_at(const struct catalog *c, size_t i)
{
	ASSERT(i < c->n_nodes);
	return &c->nodes[i];
}

const struct catalog_table *catalog_find(const struct catalog *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_tables; i++)
		if (strlen(c->tables[i].name) == len && memcmp(c->tables[i].name, name, len) == 0)
			return &c->tables[i];
	return NULL;
}

const struct catalog_table *catalog_find_id(const struct catalog *c, uint64_t id)
{
	for (size_t i = 0; i < c->n_tables; i++)
		if (c->tables[i].id == id)
			return &c->tables[i];
	return NULL;
}

static int write_batch(struct catalog *c, uint64_t index)
{
	lsm_batch_set_applied_index(&c->batch, index);
	struct lsm_write_options wo = {0};
	return lsm_tree_write(c->tree, &c->batch, &wo);
}

int catalog_apply_noop(struct catalog *c, uint64_t index)
{
	ASSERT(index > catalog_applied_index(c));
	lsm_batch_clear(&c->batch);
	return write_batch(c, index);
}

static int apply_create(struct catalog *c, uint64_t index,
			const Regatta__Internal__V1__MetaCommand__CreateTable *ct, struct catalog_change *out)
{
	const char *name = ct->name ? ct->name : "";
	size_t nl = strlen(name);
	out->kind = CATALOG_CREATED;
	if (!catalog_name_valid(name, nl)) {
		out->status = ERR_INVAL;
		return 0;
	}
	if (catalog_find(c, name, nl)) {
		out->status = ERR_EXISTS;
		return 0;
	}
	if (c->n_tables >= LIMIT_TABLES_MAX) {
		out->status = ERR_TOOBIG;
		return 0;
	}
	Regatta__Internal__V1__TableRecord rec;
	regatta__internal__v1__table_record__init(&rec);
	rec.name = (char *)(uintptr_t)name;
	rec.id = index;
	rec.config = ct->config;
	rec.created_unix_nanos = ct->created_unix_nanos;
	size_t len = regatta__internal__v1__table_record__get_packed_size(&rec);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return ERR_NOMEM;
	regatta__internal__v1__table_record__pack(&rec, buf);
	uint8_t key[1 + LIMIT_TABLE_NAME_BYTES];
	key[0] = 't';
	memcpy(key + 1, name, nl);
	int rc = lsm_batch_put(&c->batch, key, nl + 1, buf, len);
	free(buf);
	if (rc)
		return rc;
	rc = write_batch(c, index);
	if (rc)
		return rc;
	rc = table_add(c, name, index, ct->created_unix_nanos, ct->config.data, ct->config.len);
	if (rc)
		return rc;
	out->table = c->tables[c->n_tables - 1];
	out->table.config = NULL;
	out->table.config_len = 0;
	return 0;
}

static int apply_delete(struct catalog *c, uint64_t index,
			const Regatta__Internal__V1__MetaCommand__DeleteTable *dt, struct catalog_change *out)
{
	const char *name = dt->name ? dt->name : "";
	size_t nl = strlen(name);
	out->kind = CATALOG_DELETED;
	const struct catalog_table *t = catalog_find(c, name, nl);
	if (!t || nl > LIMIT_TABLE_NAME_BYTES) {
		out->status = ERR_NOTFOUND;
		return 0;
	}
	uint8_t key[1 + LIMIT_TABLE_NAME_BYTES];
	key[0] = 't';
	memcpy(key + 1, name, nl);
	int rc = lsm_batch_delete(&c->batch, key, nl + 1);
	if (rc)
		return rc;
	rc = write_batch(c, index);
	if (rc)
		return rc;
	size_t i = (size_t)(t - c->tables);
	out->table = *t;
	out->table.config = NULL;
	out->table.config_len = 0;
	table_free(&c->tables[i]);
	memmove(&c->tables[i], &c->tables[i + 1], (c->n_tables - i - 1) * sizeof c->tables[0]);
	c->n_tables--;
	return 0;
}

static int apply_node(struct catalog *c, uint64_t index,
		      const Regatta__Internal__V1__MetaCommand__NodeAddress *na, struct catalog_change *out)
{
	out->kind = CATALOG_NODE;
	if (na->node_id == 0) {
		out->status = ERR_INVAL;
		return 0;
	}
	struct catalog_node n = {.node_id = na->node_id};
	copy_str(n.api_url, sizeof n.api_url, na->api_url);
	copy_str(n.raft_url, sizeof n.raft_url, na->raft_url);
	copy_str(n.name, sizeof n.name, na->name);
	size_t len = protobuf_c_message_get_packed_size(&na->base);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return ERR_NOMEM;
	protobuf_c_message_pack(&na->base, buf);
	uint8_t key[9];
	key[0] = 'n';
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(na->node_id >> (56 - 8 * i));
	int rc = lsm_batch_put(&c->batch, key, sizeof key, buf, len);
	free(buf);
	if (rc)
		return rc;
	rc = write_batch(c, index);
	if (rc)
		return rc;
	out->node = n;
	return node_set(c, &n);
}

int catalog_apply(struct catalog *c, uint64_t index, const uint8_t *cmd, size_t len,
		  struct catalog_change *out)
{
	ASSERT(index > catalog_applied_index(c));
	memset(out, 0, sizeof *out);
	lsm_batch_clear(&c->batch);
	Regatta__Internal__V1__MetaCommand *m = regatta__internal__v1__meta_command__unpack(NULL, len, cmd);
	int rc;
	if (!m) {
		out->status = ERR_INVAL;
		return write_batch(c, index);
	}
	switch (m->command_case) {
	case REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_CREATE_TABLE:
		rc = apply_create(c, index, m->create_table, out);
		break;
	case REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_DELETE_TABLE:
		rc = apply_delete(c, index, m->delete_table, out);
		break;
	case REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_NODE_ADDRESS:
		rc = apply_node(c, index, m->node_address, out);
		break;
	default:
		out->status = ERR_INVAL;
		rc = 0;
		break;
	}
	regatta__internal__v1__meta_command__free_unpacked(m, NULL);
	if (rc == 0 && out->status != 0)
		rc = write_batch(c, index); /* refused: only the index moves */
	return rc;
}
