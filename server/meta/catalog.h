/*
 * catalog.h — the table catalogue: the state machine of the metadata Raft group (group 1).
 *
 * Entries are regatta.internal.v1.MetaCommand bytes: create a table, delete a table, record a
 * node's addresses. A table's id is the Raft index of the entry that created it, so ids are
 * unique forever and a table re-created under the same name is a new table. The whole catalogue
 * is small (at most LIMIT_TABLES_MAX tables) and kept in memory; every change is also written to
 * an LSM tree (no WAL: the metadata group's Raft log replays it) with the applied index.
 *
 * Threads: the catalogue belongs to core 0 (where the metadata group lives). Other cores get
 * copies of the table list through mailbox messages (server/node).
 */
#ifndef SERVER_META_CATALOG_H
#define SERVER_META_CATALOG_H

#include "core/err.h"
#include "core/limits.h"
#include "storage/lsm.h"

#include <stddef.h>
#include <stdint.h>

struct catalog;

struct catalog_table {
	char name[LIMIT_TABLE_NAME_BYTES + 1];
	uint64_t id;
	uint64_t created_unix_nanos;
	uint8_t *config; /* google.protobuf.Struct bytes, may be NULL */
	size_t config_len;
};

struct catalog_node {
	uint64_t node_id;
	char api_url[256];
	char raft_url[256];
	char name[64];
};

enum catalog_change_kind { CATALOG_NONE = 0, CATALOG_CREATED, CATALOG_DELETED, CATALOG_NODE };

/* What an applied entry changed (copied out; valid until the next apply). */
struct catalog_change {
	enum catalog_change_kind kind;
	int status;                 /* 0, or ERR_EXISTS / ERR_NOTFOUND / ERR_INVAL / ERR_TOOBIG */
	struct catalog_table table; /* CREATED / DELETED (config not copied) */
	struct catalog_node node;   /* NODE */
};

int catalog_open(const char *dir, const struct lsm_options *o, struct catalog **out) WUR;
int catalog_close(struct catalog *c) WUR;
void catalog_close_noflush(struct catalog *c);
uint64_t catalog_applied_index(const struct catalog *c);
/* The tree under the catalogue (checkpoints for Raft snapshots, stats). */
struct lsm_tree *catalog_tree(struct catalog *c);

/* Apply the MetaCommand bytes committed at index. A command that cannot apply (name taken,
 * unknown table, bad bytes) changes nothing but the applied index and reports why in
 * out->status, identically on every replica. Returns 0 or a fatal storage error. */
int catalog_apply(struct catalog *c, uint64_t index, const uint8_t *cmd, size_t len,
		  struct catalog_change *out) WUR;
/* Advance the applied index (no-op / configuration entries). */
int catalog_apply_noop(struct catalog *c, uint64_t index) WUR;

size_t catalog_tables(const struct catalog *c);
const struct catalog_table *catalog_table_at(const struct catalog *c, size_t i);
const struct catalog_table *catalog_find(const struct catalog *c, const char *name, size_t len);
const struct catalog_table *catalog_find_id(const struct catalog *c, uint64_t id);
size_t catalog_nodes(const struct catalog *c);
const struct catalog_node *catalog_node_at(const struct catalog *c, size_t i);

/* Is this a valid table name? (1..LIMIT_TABLE_NAME_BYTES bytes of [A-Za-z0-9._-]) */
int catalog_name_valid(const char *name, size_t len);

#endif
