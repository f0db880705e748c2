/*
 * entry.h — the payload of a replicated table's Raft entry (docs/server.md, "Write path"):
 *
 *     u8 version (1) | u64 origin node (LE) | u64 proposal id (LE) | body
 *
 * body is mvcc.v1.Command bytes for a table, regatta.internal.v1.MetaCommand bytes for the
 * metadata group. The origin node and proposal id let the node that took the client's request
 * recognise its own entry when it applies it, and answer from that apply. Every replica applies
 * the body whoever proposed it.
 *
 * Decoding is defensive: entries come from peers. A payload that is too short or has another
 * version is ERR_CORRUPT and the replica skips it deterministically (every replica sees the
 * same bytes, so every replica skips it).
 */
#ifndef SERVER_ENGINE_ENTRY_H
#define SERVER_ENGINE_ENTRY_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define ENTRY_VERSION 1
#define ENTRY_HEADER_BYTES 17

struct entry_header {
	uint64_t origin;      /* node id that proposed it (0: no one waits for it) */
	uint64_t proposal_id; /* origin's id for the waiting request */
};

/* Write the header into buf[0..ENTRY_HEADER_BYTES). */
void entry_header_encode(uint8_t *buf, const struct entry_header *h);

/* Split a payload into header and body (body points into data). ERR_CORRUPT if malformed. */
int entry_decode(const uint8_t *data, size_t len, struct entry_header *h, const uint8_t **body,
		 size_t *body_len) WUR;

#endif
