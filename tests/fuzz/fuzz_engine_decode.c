/* fuzz_engine_decode.c — the engine's decoders on hostile bytes: the Raft entry payload header,
 * the REPLICA metadata file, and the snapshot archive (peers send it).
 *
 * Input: byte 0 selects (low 2 bits): 0 entry payload, 1 REPLICA file, 2 archive as is,
 * 3 archive "re-sealed" (header, file-header, data and trailer checksums recomputed where the
 * structure allows, so mutations reach the field checks). The rest is the bytes.
 * Checks: nothing reads out of bounds or asserts; a decoded entry header / REPLICA file
 * re-encodes to the same bytes; an archive either unpacks (and the unpacked directory packs
 * into an archive that unpacks again to the same index and term) or is refused with
 * ERR_CORRUPT (ERR_EXISTS/ERR_NOMEM never: the target directory is fresh).
 */
#include "core/io_fs_sim.h"
#include "core/log.h"
#include "server/engine/entry.h"
#include "server/engine/replica.h"
#include "server/engine/snapshot.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void fuzz_entry(const uint8_t *d, size_t n)
{
	struct entry_header h;
	const uint8_t *body;
	size_t blen;
	if (entry_decode(d, n, &h, &body, &blen) != 0)
		return;
	uint8_t re[ENTRY_HEADER_BYTES];
	entry_header_encode(re, &h);
	if (memcmp(re, d, ENTRY_HEADER_BYTES) != 0 || body != d + ENTRY_HEADER_BYTES ||
	    blen != n - ENTRY_HEADER_BYTES)
		abort();
}

static void fuzz_meta(const uint8_t *d, size_t n)
{
	struct replica_meta m;
	if (replica_meta_decode(d, n, &m) != 0)
		return;
	uint8_t re[REPLICA_META_BYTES_MAX];
	size_t len = replica_meta_encode(&m, re);
	if (len != n || memcmp(re, d, n) != 0)
		abort();
}

/* Recompute checksums where the structure is intact enough to find them. */
static void reseal(uint8_t *a, size_t n)
{
	if (n < SNAP_HEADER_BYTES)
		return;
	put_u64(a + 32, XXH3_64bits(a, 32));
	uint32_t files = get_u32(a + 12);
	size_t off = SNAP_HEADER_BYTES;
	for (uint32_t i = 0; i < files && i < 64; i++) {
		if (n - off < SNAP_FILE_HEADER_BYTES)
			return;
		uint32_t nl = get_u32(a + off);
		uint64_t size = get_u64(a + off + 8);
		if (nl > SNAP_NAME_MAX || nl > n - off - SNAP_FILE_HEADER_BYTES)
			return;
		XXH3_state_t st;
		XXH3_64bits_reset(&st);
		XXH3_64bits_update(&st, a + off, 16);
		XXH3_64bits_update(&st, a + off + SNAP_FILE_HEADER_BYTES, nl);
		put_u64(a + off + 16, XXH3_64bits_digest(&st));
		off += SNAP_FILE_HEADER_BYTES + nl;
		if (size > n - off || n - off - size < 8)
			return;
		put_u64(a + off + size, XXH3_64bits(a + off, (size_t)size));
		off += size + 8;
	}
	if (n - off >= SNAP_TRAILER_BYTES)
		put_u64(a + off + 8, off);
}

static void fuzz_archive(const uint8_t *d, size_t n, int seal)
{
	struct io_fs *fs = io_fs_sim_new(1);
	uint8_t *a = malloc(n ? n : 1);
	if (!fs || !a)
		abort();
	if (n)
		memcpy(a, d, n);
	if (seal)
		reseal(a, n);
	struct io_file *f;
	if (io_file_open(fs, "/in", IO_OPEN_CREATE | IO_OPEN_TRUNC, &f) != 0)
		abort();
	if (n && io_file_pwrite(f, a, n, 0) != 0)
		abort();
	io_file_close(f);
	uint64_t index = 0, term = 0;
	int rc = snap_unpack(fs, "/in", "/out", &index, &term);
	if (rc != 0 && rc != ERR_CORRUPT)
		abort();
	if (rc == 0) {
		uint64_t i2 = 0, t2 = 0;
		if (snap_pack_file(fs, "/out", index, term, "/again") != 0)
			abort();
		if (snap_unpack(fs, "/again", "/out2", &i2, &t2) != 0 || i2 != index || t2 != term)
			abort();
	}
	free(a);
	io_fs_sim_free(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_LEVEL_OFF);
		quiet = 1;
	}
	if (size < 1 || size > (1u << 20))
		return 0;
	switch (data[0] & 3) {
	case 0:
		fuzz_entry(data + 1, size - 1);
		break;
	case 1:
		fuzz_meta(data + 1, size - 1);
		break;
	default:
		fuzz_archive(data + 1, size - 1, (data[0] & 3) == 3);
		break;
	}
	return 0;
}
