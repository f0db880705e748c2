/*
 * grpc_compress.h — gRPC message compression: identity, gzip, deflate (zlib) and snappy.
 *
 * "snappy" is the snappy *framing format* (github.com/google/snappy framing_format.txt), which is
 * what grpc-go's snappy compressor (golang/snappy NewBufferedWriter) puts on the wire and what
 * Regatta's Go client sends by default: a stream identifier chunk (0xff, "sNaPpY"), then
 * compressed (0x00) or uncompressed (0x01) chunks of at most 65536 uncompressed bytes, each with
 * the masked CRC-32C of its uncompressed data. Padding (0xfe) and skippable (0x80..0xfd) chunks
 * are skipped; reserved unskippable chunks (0x02..0x7f) are an error. The block codec is
 * Debian's libsnappy.
 *
 * Decompression is bounded: output past max_out bytes fails with ERR_TOOBIG before it is
 * produced (a decompression bomb costs at most max_out bytes of memory), so the caller maps it to
 * RESOURCE_EXHAUSTED. Corrupt input (bad CRC, truncated chunk, bad zlib stream) gives ERR_CORRUPT
 * (-> INTERNAL, as grpc-go answers a message it cannot decompress).
 *
 * Pure functions over caller-owned buffers; safe from any thread.
 */
#ifndef NET_GRPC_COMPRESS_H
#define NET_GRPC_COMPRESS_H

#include "core/err.h"
#include "net/buf.h"

#include <stddef.h>
#include <stdint.h>

enum grpc_encoding {
	GRPC_ENCODING_IDENTITY = 0,
	GRPC_ENCODING_GZIP = 1,
	GRPC_ENCODING_DEFLATE = 2,
	GRPC_ENCODING_SNAPPY = 3,
	GRPC_ENCODING_COUNT = 4,
};

/* Bit set of encodings (1u << enum grpc_encoding). */
#define GRPC_ENCODINGS_ALL ((1u << GRPC_ENCODING_COUNT) - 1u)

/* The grpc-accept-encoding value we advertise: every encoding we can decode. */
#define GRPC_ACCEPT_ENCODING_VALUE "identity,deflate,gzip,snappy"

/* Canonical name ("identity", "gzip", "deflate", "snappy"). */
const char *grpc_encoding_name(enum grpc_encoding e);

/* Parse a grpc-encoding value (case-sensitive, as the spec says). ERR_UNSUPPORTED for an
 * encoding we do not implement (-> UNIMPLEMENTED with our grpc-accept-encoding). */
int grpc_encoding_parse(const char *s, size_t len, enum grpc_encoding *out) WUR;

/* Parse a grpc-accept-encoding list ("gzip, snappy,identity"); unknown names are ignored.
 * Identity is always in the result. */
unsigned grpc_accept_encoding_parse(const char *s, size_t len);

/* Append the compressed form of in[0..len) to out. ERR_NOMEM, or ERR_INVAL for identity. */
int grpc_compress(enum grpc_encoding e, const uint8_t *in, size_t len, struct net_buf *out) WUR;

/* Append the decompressed form of in[0..len) to out, producing at most max_out bytes.
 * ERR_TOOBIG past max_out, ERR_CORRUPT for bad input, ERR_NOMEM, ERR_INVAL for identity. */
int grpc_decompress(enum grpc_encoding e, const uint8_t *in, size_t len, size_t max_out,
		    struct net_buf *out) WUR;

/* CRC-32C (Castagnoli) and the snappy framing mask, exposed for tests and fuzzers. */
uint32_t grpc_crc32c(uint32_t crc, const uint8_t *p, size_t len);
uint32_t grpc_snappy_mask_crc(uint32_t crc);

#endif
