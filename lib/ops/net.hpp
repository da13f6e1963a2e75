// SPDX-License-Identifier: MIT
// Networking state kept behind kio_ctx::net: the provided-buffer rings
// registered with the ctx, and the pooled pipes and job records of
// kio_sendfile(). Private: never installed.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ctx.hpp"

// A ring of provided buffers (kio/buf.h). The kernel takes buffers from
// `br`; `held` has a bit set for each buffer the kernel handed to the user.
struct kio_buf_ring {
	kio_ctx *ctx;          // nullptr once the ctx is gone (orphaned)
	io_uring_buf_ring *br; // the entries the kernel reads (mmap'd)
	unsigned char *data;   // count * size bytes (mmap'd)
	size_t br_bytes;
	size_t data_bytes;
	uint64_t *held; // count bits
	// Bundles (recv_multishot_step): where each buffer id sits in br, so a
	// completion naming the first buffer of a bundle finds the ones after
	// it. nullptr when the ring is never used for bundles.
	uint16_t *slot;
	// Incremental rings: bytes of each buffer the kernel filled so far, and
	// the offset of the part the latest callback named. nullptr otherwise.
	uint32_t *used;
	uint32_t *part;
	uint32_t count;
	uint32_t size;
	uint32_t ops; // kio_recv_multishot() ops using it, not yet ended
	uint16_t group;
	bool doomed;               // destroyed while ops ran: freed by the last one
	bool bundle;               // receives ask for bundles (slot is set)
	kio_buf_ring *prev, *next; // in NetState::rings
};

namespace kio {

// A pipe pair kio_sendfile() moves bytes through: file -> wr, rd -> socket.
struct PipePair {
	int rd = -1;
	int wr = -1;
	uint32_t cap = 0; // the pipe's capacity in bytes
};

// One kio_sendfile() in flight. Records are reused through a free list.
struct SendfileJob {
	PipePair pipe;
	int in_fd;
	int out_fd;
	bool current; // offset is KIO_OFFSET_CURRENT: use the file position
	enum : uint8_t {
		Fill,  // the step in flight moves file -> pipe
		Drain, // pipe -> out_fd
		Wait,  // polls a non-blocking out_fd for room
	} phase;
	uint64_t offset;    // next file offset to read
	uint64_t remaining; // bytes not yet read from the file
	uint32_t in_pipe;   // bytes read into the pipe, not yet sent
	int64_t moved;      // bytes that reached out_fd
	SendfileJob *next_free;
	SendfileJob *next_all;
};

struct NetState {
	kio_buf_ring *rings = nullptr;
	std::vector<PipePair> pipes; // idle, empty pipes (at most kMaxIdlePipes)
	SendfileJob *free_jobs = nullptr;
	SendfileJob *all_jobs = nullptr;
};

inline constexpr size_t kMaxIdlePipes = 16;
inline constexpr uint32_t kPipeBytes = 65536;

// c->net, created on first use. May throw std::bad_alloc.
NetState *net_state(kio_ctx *c);

// Feature levels no opcode names on its own: multishot accept and buffer
// rings came with Linux 5.19 (as IORING_OP_SOCKET did), multishot recv with
// 6.0 (as IORING_OP_SEND_ZC did).
inline bool has_multishot_accept(kio_ctx *c) noexcept
{
	return c->ring.supports(IORING_OP_SOCKET);
}
inline bool has_multishot_recv(kio_ctx *c) noexcept
{
	return c->ring.supports(IORING_OP_SEND_ZC);
}

// buf_ring.cpp
// A completion of a kio_recv_multishot() op handed buffer (flags >> 16) to
// the user, or (incremental rings, KIO_F_BUF_MORE) res bytes of a part.
void buf_ring_handed_out(kio_buf_ring *r, int32_t res, uint32_t flags) noexcept;
// The id of the buffer i places after buffer first in the ring: the i-th
// buffer of a bundle that starts with first (r->bundle).
inline uint16_t buf_ring_bundle_id(const kio_buf_ring *r, uint16_t first, uint32_t i) noexcept
{
	return r->br->bufs[(r->slot[first] + i) & (r->count - 1)].bid;
}
// Frees a ring whose memory is no longer used by the kernel.
void buf_ring_free(kio_buf_ring *r) noexcept;
// Unregisters every ring left at ctx destroy; they become orphans.
void buf_rings_teardown(kio_ctx *c) noexcept;

// ops_net.cpp
// Cancels every kio_recv_multishot() op still using r (its destroy was asked).
void recv_multishot_cancel_ring(kio_ctx *c, kio_buf_ring *r) noexcept;

// sendfile.cpp
// Ends the kio_sendfile() ops destroy could not wait for.
void sendfile_abandon(kio_ctx *c) noexcept;
void sendfile_teardown(NetState *n) noexcept;

} // namespace kio
