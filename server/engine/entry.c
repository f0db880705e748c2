/* entry.c — see entry.h. Little-endian fixed-width fields; no allocation. */
#include "server/engine/entry.h"

#include "core/assert.h"

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void entry_header_encode(uint8_t *buf, const struct entry_header *h)
{
	ASSERT(buf != NULL && h != NULL);
	buf[0] = ENTRY_VERSION;
	put_u64(buf + 1, h->origin);
	put_u64(buf + 9, h->proposal_id);
}

int entry_decode(const uint8_t *data, size_t len, struct entry_header *h, const uint8_t **body,
		 size_t *body_len)
{
	ASSERT(h != NULL && body != NULL && body_len != NULL);
	if (data == NULL || len < ENTRY_HEADER_BYTES || data[0] != ENTRY_VERSION)
		return ERR_CORRUPT;
	h->origin = get_u64(data + 1);
	h->proposal_id = get_u64(data + 9);
	*body = data + ENTRY_HEADER_BYTES;
	*body_len = len - ENTRY_HEADER_BYTES;
	return 0;
}
