/*
 * grpc_compress.c — identity/gzip/deflate/snappy-framing codecs for gRPC messages
 * (see grpc_compress.h for the formats and the error contract).
 *
 * Every decoder checks the output bound before producing bytes: zlib inflates in bounded steps
 * and stops at max_out; snappy checks each chunk's declared uncompressed length (<= 65536 by
 * the framing format) against the remaining budget before decoding it.
 */
#include "net/grpc_compress.h"

#include "core/assert.h"

#include <snappy-c.h>
#include <string.h>
#include <zlib.h>

#define SNAPPY_CHUNK_MAX 65536u /* framing format: uncompressed bytes per chunk */
#define SNAPPY_CHUNK_COMPRESSED 0x00
#define SNAPPY_CHUNK_UNCOMPRESSED 0x01
#define SNAPPY_CHUNK_PADDING 0xfe
#define SNAPPY_CHUNK_STREAM_ID 0xff

static const uint8_t snappy_stream_id[10] = {0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y'};

static const char *const enc_names[GRPC_ENCODING_COUNT] = {"identity", "gzip", "deflate", "snappy"};

const char *grpc_encoding_name(enum grpc_encoding e)
{
	ASSERT((unsigned)e < GRPC_ENCODING_COUNT);
	return enc_names[e];
}

int grpc_encoding_parse(const char *s, size_t len, enum grpc_encoding *out)
{
	ASSERT(out != NULL);
	for (unsigned i = 0; i < GRPC_ENCODING_COUNT; i++) {
		if (strlen(enc_names[i]) == len && memcmp(enc_names[i], s, len) == 0) {
			*out = (enum grpc_encoding)i;
			return 0;
		}
	}
	return ERR_UNSUPPORTED;
}

unsigned grpc_accept_encoding_parse(const char *s, size_t len)
{
	unsigned set = 1u << GRPC_ENCODING_IDENTITY;
	size_t i = 0;
	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		size_t start = i;
		while (i < len && s[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		enum grpc_encoding e;
		if (end > start && grpc_encoding_parse(s + start, end - start, &e) == 0)
			set |= 1u << e;
	}
	ASSERT(set & 1u);
	return set;
}

/* ---- CRC-32C (Castagnoli), slice-by-8 --------------------------------------------------------- */

static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	__atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t grpc_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	/* Racing initialisations compute identical tables: benign. */
	if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
		      crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t grpc_snappy_mask_crc(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- snappy framing ---------------------------------------------------------------------------- */

static void put_le24(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static int snappy_frame_compress(const uint8_t *in, size_t len, struct net_buf *out)
{
	/* Like golang/snappy's Writer: nothing at all for empty input; otherwise the stream
	 * identifier, then one chunk per 64 KiB, stored uncompressed when compression saves less
	 * than 1/8. */
	if (len == 0)
		return 0;
	if (net_buf_append(out, snappy_stream_id, sizeof snappy_stream_id))
		return ERR_NOMEM;
	size_t bound = snappy_max_compressed_length(SNAPPY_CHUNK_MAX);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < SNAPPY_CHUNK_MAX ? len - off : SNAPPY_CHUNK_MAX;
		uint8_t *p = net_buf_reserve(out, 8 + bound);
		if (!p)
			return ERR_NOMEM;
		uint32_t crc = grpc_snappy_mask_crc(grpc_crc32c(0, in + off, n));
		size_t clen = bound;
		if (snappy_compress((const char *)in + off, n, (char *)p + 8, &clen) != SNAPPY_OK)
			return ERR_NOMEM;
		if (clen >= n - n / 8) {
			p[0] = SNAPPY_CHUNK_UNCOMPRESSED;
			put_le24(p + 1, n + 4);
			put_le32(p + 4, crc);
			memcpy(p + 8, in + off, n);
			net_buf_commit(out, 8 + n);
		} else {
			p[0] = SNAPPY_CHUNK_COMPRESSED;
			put_le24(p + 1, clen + 4);
			put_le32(p + 4, crc);
			net_buf_commit(out, 8 + clen);
		}
		off += n;
	}
	return 0;
}

static int snappy_frame_decompress(const uint8_t *in, size_t len, size_t max_out,
				   struct net_buf *out)
{
	size_t produced = 0;
	int seen_id = 0;
	size_t i = 0;
	while (i < len) {
		if (len - i < 4)
			return ERR_CORRUPT;
		uint8_t type = in[i];
		size_t clen = (size_t)in[i + 1] | (size_t)in[i + 2] << 8 | (size_t)in[i + 3] << 16;
		i += 4;
		if (clen > len - i)
			return ERR_CORRUPT; /* truncated chunk */
		const uint8_t *body = in + i;
		i += clen;
		if (type == SNAPPY_CHUNK_STREAM_ID) {
			if (clen != 6 || memcmp(body, snappy_stream_id + 4, 6) != 0)
				return ERR_CORRUPT;
			seen_id = 1;
			continue;
		}
		if (!seen_id)
			return ERR_CORRUPT; /* the stream must start with its identifier */
		if (type == SNAPPY_CHUNK_COMPRESSED || type == SNAPPY_CHUNK_UNCOMPRESSED) {
			if (clen < 4)
				return ERR_CORRUPT;
			uint32_t want = (uint32_t)body[0] | (uint32_t)body[1] << 8 |
					(uint32_t)body[2] << 16 | (uint32_t)body[3] << 24;
			const uint8_t *data = body + 4;
			size_t dlen = clen - 4;
			size_t ulen;
			if (type == SNAPPY_CHUNK_COMPRESSED) {
				if (snappy_uncompressed_length((const char *)data, dlen, &ulen) != SNAPPY_OK)
					return ERR_CORRUPT;
			} else {
				ulen = dlen;
			}
			if (ulen > SNAPPY_CHUNK_MAX)
				return ERR_CORRUPT;
			if (ulen > max_out - produced)
				return ERR_TOOBIG;
			uint8_t *dst = net_buf_reserve(out, ulen ? ulen : 1);
			if (!dst)
				return ERR_NOMEM;
			if (type == SNAPPY_CHUNK_COMPRESSED) {
				size_t got = ulen;
				if (snappy_uncompress((const char *)data, dlen, (char *)dst, &got) != SNAPPY_OK ||
				    got != ulen)
					return ERR_CORRUPT;
			} else if (ulen) {
				memcpy(dst, data, ulen);
			}
			if (grpc_snappy_mask_crc(grpc_crc32c(0, dst, ulen)) != want)
				return ERR_CORRUPT;
			net_buf_commit(out, ulen);
			produced += ulen;
			continue;
		}
		if (type >= 0x02 && type <= 0x7f)
			return ERR_CORRUPT; /* reserved unskippable */
		/* 0x80..0xfd reserved skippable, 0xfe padding: skip. */
	}
	ASSERT(produced <= max_out);
	return 0;
}

/* ---- zlib (gzip: RFC 1952 wrapper, deflate: RFC 1950 zlib wrapper as gRPC means it) --------- */

static int zlib_compress(int gzip, const uint8_t *in, size_t len, struct net_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return ERR_NOMEM;
	int rc = 0;
	uLong bound = deflateBound(&zs, (uLong)len);
	uint8_t *dst = net_buf_reserve(out, bound);
	if (!dst) {
		rc = ERR_NOMEM;
		goto out;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = dst;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		rc = ERR_NOMEM;
		goto out;
	}
	net_buf_commit(out, bound - zs.avail_out);
out:
	deflateEnd(&zs);
	return rc;
}

static int zlib_decompress(int gzip, const uint8_t *in, size_t len, size_t max_out,
			   struct net_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, gzip ? 15 + 16 : 15) != Z_OK)
		return ERR_NOMEM;
	int rc = 0;
	size_t produced = 0;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		/* Step at most 64 KiB at a time, and never past max_out + 1 (one byte more
		 * proves the bound was exceeded without producing a whole bomb). */
		size_t room = max_out - produced + 1;
		size_t step = room < 65536 ? room : 65536;
		uint8_t *dst = net_buf_reserve(out, step);
		if (!dst) {
			rc = ERR_NOMEM;
			goto out;
		}
		zs.next_out = dst;
		zs.avail_out = (uInt)step;
		int zr = inflate(&zs, Z_NO_FLUSH);
		size_t got = step - zs.avail_out;
		if (produced + got > max_out) {
			rc = ERR_TOOBIG;
			goto out;
		}
		net_buf_commit(out, got);
		produced += got;
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* gzip allows concatenated members (Go's reader reads them all). */
			if (!gzip || inflateReset(&zs) != Z_OK) {
				rc = ERR_CORRUPT;
				goto out;
			}
			continue;
		}
		if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
			rc = ERR_CORRUPT; /* truncated */
			goto out;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = zr == Z_MEM_ERROR ? ERR_NOMEM : ERR_CORRUPT;
			goto out;
		}
	}
out:
	inflateEnd(&zs);
	return rc;
}

int grpc_compress(enum grpc_encoding e, const uint8_t *in, size_t len, struct net_buf *out)
{
	ASSERT(in != NULL || len == 0);
	ASSERT(out != NULL);
	if (len > UINT32_MAX)
		return ERR_TOOBIG;
	switch (e) {
	case GRPC_ENCODING_GZIP: return zlib_compress(1, in, len, out);
	case GRPC_ENCODING_DEFLATE: return zlib_compress(0, in, len, out);
	case GRPC_ENCODING_SNAPPY: return snappy_frame_compress(in, len, out);
	default: return ERR_INVAL;
	}
}

int grpc_decompress(enum grpc_encoding e, const uint8_t *in, size_t len, size_t max_out,
		    struct net_buf *out)
{
	ASSERT(in != NULL || len == 0);
	ASSERT(out != NULL);
	if (len > UINT32_MAX)
		return ERR_TOOBIG;
	size_t mark = net_buf_size(out); /* reserve may compact: remember the unread size */
	int rc;
	switch (e) {
	case GRPC_ENCODING_GZIP: rc = zlib_decompress(1, in, len, max_out, out); break;
	case GRPC_ENCODING_DEFLATE: rc = zlib_decompress(0, in, len, max_out, out); break;
	case GRPC_ENCODING_SNAPPY: rc = snappy_frame_decompress(in, len, max_out, out); break;
	default: return ERR_INVAL;
	}
	if (rc)
		out->len = out->off + mark; /* no partial output on failure */
	return rc;
}
