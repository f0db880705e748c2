/* txn_parse.c — see txn_parse.h. */
#include "server/ctl/txn_parse.h"
#include "core/assert.h"
#include "core/limits.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_range_end(struct arena *a, const char *key, size_t klen, int prefix, int from_key,
		  const char *end, size_t elen, ProtobufCBinaryData *out)
{
	out->len = 0;
	out->data = NULL;
	if (from_key || (prefix && klen == 0)) {
		out->data = arena_memdup(a, "", 1);
		out->len = 1;
		return out->data ? 0 : ERR_NOMEM;
	}
	if (prefix) {
		uint8_t *e = arena_memdup(a, key, klen);
		if (!e)
			return ERR_NOMEM;
		size_t n = klen;
		while (n > 0 && e[n - 1] == 0xff)
			n--;
		if (n == 0) {
			e[0] = 0;
			n = 1;
		} else {
			e[n - 1]++;
		}
		out->data = e;
		out->len = n;
		return 0;
	}
	if (end && elen) {
		out->data = arena_memdup(a, end, elen);
		out->len = elen;
		return out->data ? 0 : ERR_NOMEM;
	}
	return 0;
}

/* ---- text form ------------------------------------------------------------------------------ */

struct lexer {
	const char *p, *end;
	struct arena *a;
	int line;
	char *err;
	size_t err_len;
};

static int fail(struct lexer *lx, const char *what)
{
	snprintf(lx->err, lx->err_len, "txn line %d: %s", lx->line, what);
	return ERR_INVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Next token on the current line: a bare word (stops at space and at the punctuation ( ) ,)
 * or a quoted string. Returns 1 and the token, 0 at end of line, <0 on error. */
static int next_token(struct lexer *lx, const char *line_end, uint8_t **tok, size_t *tlen, int punct)
{
	while (lx->p < line_end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'))
		lx->p++;
	if (lx->p >= line_end)
		return 0;
	uint8_t *buf = arena_alloc(lx->a, (size_t)(line_end - lx->p) + 1);
	if (!buf)
		return ERR_NOMEM;
	size_t n = 0;
	if (*lx->p == '"') {
		lx->p++;
		for (;;) {
			if (lx->p >= line_end)
				return fail(lx, "unterminated quoted string");
			char c = *lx->p++;
			if (c == '"')
				break;
			if (c == '\\') {
				if (lx->p >= line_end)
					return fail(lx, "dangling backslash");
				char e = *lx->p++;
				switch (e) {
				case 'n': buf[n++] = '\n'; break;
				case 't': buf[n++] = '\t'; break;
				case '\\': buf[n++] = '\\'; break;
				case '"': buf[n++] = '"'; break;
				case 'x': {
					if (line_end - lx->p < 2 || hexval(lx->p[0]) < 0 || hexval(lx->p[1]) < 0)
						return fail(lx, "\\x needs two hex digits");
					buf[n++] = (uint8_t)(hexval(lx->p[0]) * 16 + hexval(lx->p[1]));
					lx->p += 2;
					break;
				}
				default:
					return fail(lx, "unknown escape in quoted string");
				}
				continue;
			}
			buf[n++] = (uint8_t)c;
		}
	} else if (punct && (*lx->p == '(' || *lx->p == ')' || *lx->p == ',')) {
		buf[n++] = (uint8_t)*lx->p++;
	} else {
		while (lx->p < line_end && *lx->p != ' ' && *lx->p != '\t' && *lx->p != '\r' &&
		       !(punct && (*lx->p == '(' || *lx->p == ')' || *lx->p == ','))) {
			buf[n++] = (uint8_t)*lx->p++;
		}
	}
	buf[n] = 0;
	*tok = buf;
	*tlen = n;
	return 1;
}

static int tok_is(const uint8_t *t, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(t, s, n) == 0;
}

static int parse_i64(const uint8_t *t, size_t n, int64_t *out)
{
	if (n == 0 || n > 20)
		return ERR_INVAL;
	char buf[24];
	memcpy(buf, t, n);
	buf[n] = 0;
	char *end;
	long long v = strtoll(buf, &end, 10);
	if (*end != 0)
		return ERR_INVAL;
	*out = (int64_t)v;
	return 0;
}

static int parse_compare(struct lexer *lx, const char *le, Mvcc__V1__Compare *c)
{
	mvcc__v1__compare__init(c);
	uint8_t *t;
	size_t n;
	int rc = next_token(lx, le, &t, &n, 1);
	if (rc <= 0)
		return rc < 0 ? rc : fail(lx, "expected value|version|create|mod");
	if (tok_is(t, n, "value") || tok_is(t, n, "val"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__VALUE;
	else if (tok_is(t, n, "version") || tok_is(t, n, "ver"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__VERSION;
	else if (tok_is(t, n, "create") || tok_is(t, n, "c"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__CREATE;
	else if (tok_is(t, n, "mod") || tok_is(t, n, "m"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__MOD;
	else
		return fail(lx, "compare must start with value(, version(, create( or mod(");
	if (next_token(lx, le, &t, &n, 1) != 1 || !tok_is(t, n, "("))
		return fail(lx, "expected '(' after the compare target");
	if (next_token(lx, le, &t, &n, 1) != 1 || n == 0)
		return fail(lx, "expected a key inside ( )");
	c->key.data = t;
	c->key.len = n;
	if (next_token(lx, le, &t, &n, 1) != 1)
		return fail(lx, "expected ')'");
	if (tok_is(t, n, ",")) {
		if (next_token(lx, le, &t, &n, 1) != 1)
			return fail(lx, "expected a range end after ','");
		c->range_end.data = t;
		c->range_end.len = n;
		if (next_token(lx, le, &t, &n, 1) != 1)
			return fail(lx, "expected ')'");
	}
	if (!tok_is(t, n, ")"))
		return fail(lx, "expected ')'");
	if (next_token(lx, le, &t, &n, 0) != 1)
		return fail(lx, "expected an operator = != > <");
	if (tok_is(t, n, "=") || tok_is(t, n, "=="))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__EQUAL;
	else if (tok_is(t, n, "!="))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__NOT_EQUAL;
	else if (tok_is(t, n, ">"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__GREATER;
	else if (tok_is(t, n, "<"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__LESS;
	else
		return fail(lx, "operator must be one of = != > <");
	if (next_token(lx, le, &t, &n, 0) != 1)
		return fail(lx, "expected the value to compare with");
	switch (c->target) {
	case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VALUE;
		c->value.data = t;
		c->value.len = n;
		break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VERSION;
		if (parse_i64(t, n, &c->version))
			return fail(lx, "version must be an integer");
		break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION;
		if (parse_i64(t, n, &c->create_revision))
			return fail(lx, "create revision must be an integer");
		break;
	default:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION;
		if (parse_i64(t, n, &c->mod_revision))
			return fail(lx, "mod revision must be an integer");
		break;
	}
	if (next_token(lx, le, &t, &n, 0) != 0)
		return fail(lx, "unexpected text after the compare");
	return 0;
}

static int parse_request(struct lexer *lx, const char *le, Mvcc__V1__RequestOp *op)
{
	mvcc__v1__request_op__init(op);
	uint8_t *t, *args[2];
	size_t n, alen[2];
	int nargs = 0, prefix = 0, from_key = 0, prev_kv = 0, keys_only = 0, count = 0;
	int64_t limit = 0;
	int rc = next_token(lx, le, &t, &n, 0);
	if (rc != 1)
		return rc < 0 ? rc : fail(lx, "expected put, get or del");
	int kind;
	if (tok_is(t, n, "put"))
		kind = 0;
	else if (tok_is(t, n, "get") || tok_is(t, n, "range"))
		kind = 1;
	else if (tok_is(t, n, "del") || tok_is(t, n, "delete"))
		kind = 2;
	else
		return fail(lx, "request must be put, get or del");
	while ((rc = next_token(lx, le, &t, &n, 0)) == 1) {
		if (n > 2 && t[0] == '-' && t[1] == '-') {
			if (tok_is(t, n, "--prefix"))
				prefix = 1;
			else if (tok_is(t, n, "--from-key"))
				from_key = 1;
			else if (tok_is(t, n, "--prev-kv"))
				prev_kv = 1;
			else if (tok_is(t, n, "--keys-only"))
				keys_only = 1;
			else if (tok_is(t, n, "--count") || tok_is(t, n, "--count-only"))
				count = 1;
			else if (tok_is(t, n, "--limit")) {
				if (next_token(lx, le, &t, &n, 0) != 1 || parse_i64(t, n, &limit) || limit < 0)
					return fail(lx, "--limit needs a non-negative integer");
			} else {
				return fail(lx, "unknown option in request");
			}
			continue;
		}
		if (nargs == 2)
			return fail(lx, "too many arguments in request");
		args[nargs] = t;
		alen[nargs++] = n;
	}
	if (rc < 0)
		return rc;
	if (nargs < 1 || alen[0] == 0)
		return fail(lx, "request needs a key");
	ProtobufCBinaryData end;
	switch (kind) {
	case 0: {
		if (nargs != 2)
			return fail(lx, "put needs a key and a value");
		Mvcc__V1__RequestOp__Put *p = arena_alloc(lx->a, sizeof *p);
		if (!p)
			return ERR_NOMEM;
		mvcc__v1__request_op__put__init(p);
		p->key = (ProtobufCBinaryData){.len = alen[0], .data = args[0]};
		p->value = (ProtobufCBinaryData){.len = alen[1], .data = args[1]};
		p->prev_kv = prev_kv;
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT;
		op->request_put = p;
		return 0;
	}
	case 1: {
		Mvcc__V1__RequestOp__Range *r = arena_alloc(lx->a, sizeof *r);
		if (!r)
			return ERR_NOMEM;
		mvcc__v1__request_op__range__init(r);
		rc = ctl_range_end(lx->a, (const char *)args[0], alen[0], prefix, from_key,
				   nargs == 2 ? (const char *)args[1] : NULL, nargs == 2 ? alen[1] : 0, &end);
		if (rc)
			return rc;
		r->key = (ProtobufCBinaryData){.len = alen[0], .data = args[0]};
		r->range_end = end;
		r->limit = limit;
		r->keys_only = keys_only;
		r->count_only = count;
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE;
		op->request_range = r;
		return 0;
	}
	default: {
		Mvcc__V1__RequestOp__DeleteRange *d = arena_alloc(lx->a, sizeof *d);
		if (!d)
			return ERR_NOMEM;
		mvcc__v1__request_op__delete_range__init(d);
		rc = ctl_range_end(lx->a, (const char *)args[0], alen[0], prefix, from_key,
				   nargs == 2 ? (const char *)args[1] : NULL, nargs == 2 ? alen[1] : 0, &end);
		if (rc)
			return rc;
		d->key = (ProtobufCBinaryData){.len = alen[0], .data = args[0]};
		d->range_end = end;
		d->prev_kv = prev_kv;
		d->count = 1;
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op->request_delete_range = d;
		return 0;
	}
	}
}

/* Growable pointer arrays in the arena. */
static int push_ptr(struct arena *a, void ***v, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void **nv = arena_alloc(a, nc * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		if (*n)
			memcpy(nv, *v, *n * sizeof *nv);
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = p;
	return 0;
}

static int parse_text(const char *text, size_t len, struct arena *a, Regatta__V1__TxnRequest *out,
		      char *err, size_t err_len)
{
	struct lexer lx = {.p = text, .end = text + len, .a = a, .line = 0, .err = err, .err_len = err_len};
	int section = 0; /* 0 compares, 1 success, 2 failure */
	size_t cap[3] = {0};
	int seen_line_in_section = 0;
	while (lx.p < lx.end) {
		const char *le = memchr(lx.p, '\n', (size_t)(lx.end - lx.p));
		if (!le)
			le = lx.end;
		lx.line++;
		const char *q = lx.p;
		while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == le) { /* blank line: next section */
			lx.p = le < lx.end ? le + 1 : le;
			if (section == 2)
				return fail(&lx, "more than three sections (compares, success, failure)");
			section++;
			seen_line_in_section = 0;
			continue;
		}
		if (*q == '#') { /* comment */
			lx.p = le < lx.end ? le + 1 : le;
			continue;
		}
		seen_line_in_section = 1;
		int rc;
		if (section == 0) {
			Mvcc__V1__Compare *c = arena_alloc(a, sizeof *c);
			if (!c)
				return ERR_NOMEM;
			rc = parse_compare(&lx, le, c);
			if (!rc)
				rc = push_ptr(a, (void ***)&out->compare, &out->n_compare, &cap[0], c);
		} else {
			Mvcc__V1__RequestOp *op = arena_alloc(a, sizeof *op);
			if (!op)
				return ERR_NOMEM;
			rc = parse_request(&lx, le, op);
			if (!rc && section == 1)
				rc = push_ptr(a, (void ***)&out->success, &out->n_success, &cap[1], op);
			else if (!rc)
				rc = push_ptr(a, (void ***)&out->failure, &out->n_failure, &cap[2], op);
		}
		if (rc)
			return rc;
		lx.p = le < lx.end ? le + 1 : le;
	}
	(void)seen_line_in_section;
	return 0;
}

/* ---- JSON form -------------------------------------------------------------------------------- */

static int jfail(char *err, size_t len, const char *path, const char *what)
{
	snprintf(err, len, "txn JSON %s: %s", path, what);
	return ERR_INVAL;
}

static int jbytes(struct arena *a, const cJSON *o, const char *name, ProtobufCBinaryData *out, int required,
		  char *err, size_t elen, const char *path)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v) {
		if (required)
			return jfail(err, elen, path, "missing a string field");
		return 0;
	}
	if (!cJSON_IsString(v))
		return jfail(err, elen, path, "a key, value or range_end must be a string");
	size_t n = strlen(v->valuestring);
	out->data = arena_memdup(a, v->valuestring, n ? n : 1);
	if (!out->data)
		return ERR_NOMEM;
	out->len = n;
	return 0;
}

static int jbool(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsTrue(v);
}

static int jint(const cJSON *o, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return ERR_INVAL;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int json_compare(struct arena *a, const cJSON *j, Mvcc__V1__Compare *c, char *err, size_t elen)
{
	mvcc__v1__compare__init(c);
	int rc = jbytes(a, j, "key", &c->key, 1, err, elen, "compare[].key");
	if (rc)
		return rc;
	if ((rc = jbytes(a, j, "range_end", &c->range_end, 0, err, elen, "compare[].range_end")))
		return rc;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "target");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
	const char *ts = cJSON_IsString(t) ? t->valuestring : "VALUE";
	const char *rs = cJSON_IsString(r) ? r->valuestring : "EQUAL";
	if (!strcmp(ts, "VALUE"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__VALUE;
	else if (!strcmp(ts, "VERSION"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__VERSION;
	else if (!strcmp(ts, "CREATE"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__CREATE;
	else if (!strcmp(ts, "MOD"))
		c->target = MVCC__V1__COMPARE__COMPARE_TARGET__MOD;
	else
		return jfail(err, elen, "compare[].target", "must be VALUE, VERSION, CREATE or MOD");
	if (!strcmp(rs, "EQUAL"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__EQUAL;
	else if (!strcmp(rs, "NOT_EQUAL"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__NOT_EQUAL;
	else if (!strcmp(rs, "GREATER"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__GREATER;
	else if (!strcmp(rs, "LESS"))
		c->result = MVCC__V1__COMPARE__COMPARE_RESULT__LESS;
	else
		return jfail(err, elen, "compare[].result", "must be EQUAL, NOT_EQUAL, GREATER or LESS");
	switch (c->target) {
	case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VALUE;
		return jbytes(a, j, "value", &c->value, 1, err, elen, "compare[].value");
	case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VERSION;
		return jint(j, "version", &c->version) ? jfail(err, elen, "compare[].version", "must be a number") : 0;
	case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION;
		return jint(j, "create_revision", &c->create_revision)
			       ? jfail(err, elen, "compare[].create_revision", "must be a number") : 0;
	default:
		c->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION;
		return jint(j, "mod_revision", &c->mod_revision)
			       ? jfail(err, elen, "compare[].mod_revision", "must be a number") : 0;
	}
}

static int json_op(struct arena *a, const cJSON *j, Mvcc__V1__RequestOp *op, char *err, size_t elen)
{
	mvcc__v1__request_op__init(op);
	const cJSON *v;
	int rc;
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "put"))) {
		Mvcc__V1__RequestOp__Put *p = arena_alloc(a, sizeof *p);
		if (!p)
			return ERR_NOMEM;
		mvcc__v1__request_op__put__init(p);
		if ((rc = jbytes(a, v, "key", &p->key, 1, err, elen, "put.key")))
			return rc;
		if ((rc = jbytes(a, v, "value", &p->value, 0, err, elen, "put.value")))
			return rc;
		p->prev_kv = jbool(v, "prev_kv");
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT;
		op->request_put = p;
		return 0;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "get")) || (v = cJSON_GetObjectItemCaseSensitive(j, "range"))) {
		Mvcc__V1__RequestOp__Range *r = arena_alloc(a, sizeof *r);
		if (!r)
			return ERR_NOMEM;
		mvcc__v1__request_op__range__init(r);
		if ((rc = jbytes(a, v, "key", &r->key, 1, err, elen, "get.key")))
			return rc;
		if ((rc = jbytes(a, v, "range_end", &r->range_end, 0, err, elen, "get.range_end")))
			return rc;
		if (jint(v, "limit", &r->limit) || r->limit < 0)
			return jfail(err, elen, "get.limit", "must be a non-negative number");
		r->keys_only = jbool(v, "keys_only");
		r->count_only = jbool(v, "count_only");
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE;
		op->request_range = r;
		return 0;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(j, "delete")) || (v = cJSON_GetObjectItemCaseSensitive(j, "del"))) {
		Mvcc__V1__RequestOp__DeleteRange *d = arena_alloc(a, sizeof *d);
		if (!d)
			return ERR_NOMEM;
		mvcc__v1__request_op__delete_range__init(d);
		if ((rc = jbytes(a, v, "key", &d->key, 1, err, elen, "delete.key")))
			return rc;
		if ((rc = jbytes(a, v, "range_end", &d->range_end, 0, err, elen, "delete.range_end")))
			return rc;
		d->prev_kv = jbool(v, "prev_kv");
		d->count = 1;
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op->request_delete_range = d;
		return 0;
	}
	return jfail(err, elen, "op", "each op must be {\"put\":...}, {\"get\":...} or {\"delete\":...}");
}

static int json_ops(struct arena *a, const cJSON *arr, Mvcc__V1__RequestOp ***out, size_t *n, char *err,
		    size_t elen, const char *name)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return jfail(err, elen, name, "must be an array");
	size_t cnt = (size_t)cJSON_GetArraySize(arr);
	*out = arena_alloc(a, (cnt ? cnt : 1) * sizeof **out);
	if (!*out)
		return ERR_NOMEM;
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		Mvcc__V1__RequestOp *op = arena_alloc(a, sizeof *op);
		if (!op)
			return ERR_NOMEM;
		int rc = json_op(a, it, op, err, elen);
		if (rc)
			return rc;
		(*out)[i++] = op;
	}
	*n = i;
	return 0;
}

static int parse_json(const char *text, size_t len, struct arena *a, Regatta__V1__TxnRequest *out,
		      char *err, size_t elen)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root)
		return jfail(err, elen, "", "not valid JSON");
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = jfail(err, elen, "", "must be an object with compare, success and failure");
		goto out;
	}
	const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(root, "compare");
	if (cmp) {
		if (!cJSON_IsArray(cmp)) {
			rc = jfail(err, elen, "compare", "must be an array");
			goto out;
		}
		size_t cnt = (size_t)cJSON_GetArraySize(cmp);
		out->compare = arena_alloc(a, (cnt ? cnt : 1) * sizeof *out->compare);
		if (!out->compare) {
			rc = ERR_NOMEM;
			goto out;
		}
		const cJSON *it;
		cJSON_ArrayForEach(it, cmp)
		{
			Mvcc__V1__Compare *c = arena_alloc(a, sizeof *c);
			if (!c) {
				rc = ERR_NOMEM;
				goto out;
			}
			rc = json_compare(a, it, c, err, elen);
			if (rc)
				goto out;
			out->compare[out->n_compare++] = c;
		}
	}
	rc = json_ops(a, cJSON_GetObjectItemCaseSensitive(root, "success"), &out->success, &out->n_success, err,
		      elen, "success");
	if (!rc)
		rc = json_ops(a, cJSON_GetObjectItemCaseSensitive(root, "failure"), &out->failure, &out->n_failure,
			      err, elen, "failure");
out:
	cJSON_Delete(root);
	return rc;
}

int ctl_txn_parse(const char *text, size_t len, struct arena *a, Regatta__V1__TxnRequest *out, char *err,
		  size_t err_len)
{
	ASSERT(text && a && out);
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len && text[i] == '{')
		return parse_json(text, len, a, out, err, err_len);
	return parse_text(text, len, a, out, err, err_len);
}
