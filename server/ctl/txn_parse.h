/*
 * txn_parse.h — regattactl's Txn input: the etcdctl text form or a JSON form, into a
 * regatta.v1.TxnRequest built in an arena.
 *
 * Text form (three sections separated by a blank line, as `etcdctl txn` reads from stdin):
 *
 *     value("key1") = "v1"            compares: value|version|create|mod ( "key" [, "range_end"] )
 *     version("key2") > "0"           operator = != > <, then a quoted or bare operand
 *
 *     put key1 "new value"            success ops: put [--prev-kv] key value
 *     get --prefix key                             get [--prefix|--from-key] [--limit N]
 *                                                      [--keys-only] [--count] key [range_end]
 *     del key2                                     del [--prefix|--from-key] [--prev-kv] key [range_end]
 *
 *     put key1 "other"                failure ops, same syntax
 *
 * Tokens are bare words or double-quoted strings with \" \\ \n \t \xHH escapes.
 *
 * JSON form (when the input starts with '{'):
 *   {"compare": [{"key": "k", "range_end": "", "target": "VALUE|VERSION|CREATE|MOD",
 *                 "result": "EQUAL|NOT_EQUAL|GREATER|LESS", "value": "v" | "version": 3 |
 *                 "create_revision": 5 | "mod_revision": 7}],
 *    "success": [{"put": {"key": "k", "value": "v", "prev_kv": true}},
 *                {"get": {"key": "k", "range_end": "", "limit": 0, "keys_only": false,
 *                         "count_only": false}},
 *                {"delete": {"key": "k", "range_end": "", "prev_kv": false}}],
 *    "failure": [...]}
 *
 * Errors: ERR_INVAL with a message naming the line (or JSON path) and what was expected.
 */
#ifndef SERVER_CTL_TXN_PARSE_H
#define SERVER_CTL_TXN_PARSE_H

#include "core/arena.h"
#include "core/err.h"
#include "proto/regatta/v1/regatta.pb-c.h"

#include <stddef.h>

int ctl_txn_parse(const char *text, size_t len, struct arena *a, Regatta__V1__TxnRequest *out,
		  char *err, size_t err_len) WUR;

/* Shared with the command line: the range for a key with --prefix / --from-key / explicit end.
 * prefix: range_end = key with its last byte < 0xff incremented (trailing 0xff dropped; all-0xff
 * or empty key -> "\0"). from_key: "\0". Result in the arena. */
int ctl_range_end(struct arena *a, const char *key, size_t klen, int prefix, int from_key,
		  const char *end, size_t elen, ProtobufCBinaryData *out) WUR;

#endif
