/*
 * ctl_output.h — how regattactl prints answers: text for people, JSON for scripts.
 *
 * Text: a Range prints each pair as two lines, key then value (etcdctl's default), or keys alone
 * with --keys-only; counts print as a number. JSON: one object per command on one line; byte
 * strings print as JSON strings when they are valid UTF-8 without control characters, otherwise
 * as base64 under the same name with a "_base64" suffix (e.g. "key_base64").
 */
#ifndef SERVER_CTL_OUTPUT_H
#define SERVER_CTL_OUTPUT_H

#include "proto/mvcc/v1/mvcc.pb-c.h"
#include "proto/regatta/v1/regatta.pb-c.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* Add bytes to a JSON object under name (or name_base64). */
void ctl_json_add_bytes(cJSON *obj, const char *name, const uint8_t *data, size_t len);
cJSON *ctl_json_kv(const Mvcc__V1__KeyValue *kv);
cJSON *ctl_json_header(const Regatta__V1__ResponseHeader *h);
/* Print and free. */
void ctl_json_print(FILE *out, cJSON *obj);

void ctl_text_kv(FILE *out, const Mvcc__V1__KeyValue *kv, int keys_only);

#endif
