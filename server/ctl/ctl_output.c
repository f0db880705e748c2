/* ctl_output.c — see ctl_output.h. */
#include "server/ctl/ctl_output.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Valid UTF-8 with no control characters other than tab? */
static int printable_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		size_t extra;
		if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			extra = 1;
		else if ((c & 0xf0) == 0xe0)
			extra = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			extra = 3;
		else
			return 0;
		if (i + extra >= n)
			return 0; /* truncated sequence */
		for (size_t k = 1; k <= extra; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += extra + 1;
	}
	return 1;
}

void ctl_json_add_bytes(cJSON *obj, const char *name, const uint8_t *data, size_t len)
{
	if (printable_utf8(data, len)) {
		char *s = malloc(len + 1);
		if (!s)
			return;
		if (len)
			memcpy(s, data, len);
		s[len] = 0;
		cJSON_AddStringToObject(obj, name, s);
		free(s);
		return;
	}
	size_t cap = 4 * ((len + 2) / 3) + 1;
	unsigned char *b = malloc(cap);
	if (!b)
		return;
	EVP_EncodeBlock(b, data, (int)len);
	char key[64];
	snprintf(key, sizeof key, "%s_base64", name);
	cJSON_AddStringToObject(obj, key, (const char *)b);
	free(b);
}

cJSON *ctl_json_kv(const Mvcc__V1__KeyValue *kv)
{
	cJSON *o = cJSON_CreateObject();
	ctl_json_add_bytes(o, "key", kv->key.data, kv->key.len);
	ctl_json_add_bytes(o, "value", kv->value.data, kv->value.len);
	cJSON_AddNumberToObject(o, "create_revision", (double)kv->create_revision);
	cJSON_AddNumberToObject(o, "mod_revision", (double)kv->mod_revision);
	cJSON_AddNumberToObject(o, "version", (double)kv->version);
	return o;
}

cJSON *ctl_json_header(const Regatta__V1__ResponseHeader *h)
{
	cJSON *o = cJSON_CreateObject();
	if (!h)
		return o;
	cJSON_AddNumberToObject(o, "shard_id", (double)h->shard_id);
	cJSON_AddNumberToObject(o, "replica_id", (double)h->replica_id);
	cJSON_AddNumberToObject(o, "revision", (double)h->revision);
	cJSON_AddNumberToObject(o, "raft_term", (double)h->raft_term);
	cJSON_AddNumberToObject(o, "raft_leader_id", (double)h->raft_leader_id);
	return o;
}

void ctl_json_print(FILE *out, cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);
	if (s) {
		fprintf(out, "%s\n", s);
		free(s);
	}
	cJSON_Delete(obj);
}

void ctl_text_kv(FILE *out, const Mvcc__V1__KeyValue *kv, int keys_only)
{
	fwrite(kv->key.data, 1, kv->key.len, out);
	fputc('\n', out);
	if (!keys_only) {
		fwrite(kv->value.data, 1, kv->value.len, out);
		fputc('\n', out);
	}
}
