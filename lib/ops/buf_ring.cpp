// SPDX-License-Identifier: MIT
// Rings of provided buffers (IORING_REGISTER_PBUF_RING). The kernel takes
// a buffer from the ring for each piece of data a kio_recv_multishot()
// receives and names it in the completion; the user hands it back with
// kio_buf_ring_release(), which puts it at the ring's tail again.
//
// A bit per buffer remembers which ones the user holds, so a buffer can
// never be put in the ring twice (the kernel would hand the same memory to
// two receives). A ring outlives its ctx as an orphan: destroy then only
// frees the memory.
//
// Two kernel features, asked for at creation, each probed and each with an
// environment switch to turn it off for tests (kio(7)):
//  - recv bundles (Linux 6.10): one completion covers several buffers, taken
//    in ring order; `slot` remembers where each buffer was put, so the
//    buffers after the first one named can be read back from the ring.
//  - incremental consumption (IOU_PBUF_RING_INC, Linux 6.12): the kernel
//    fills a buffer in parts, one per receive, and says when it is done.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "ops/net.hpp"

namespace kio {

namespace {

constexpr uint32_t kMaxBuffers = 32768; // the kernel's limit for one ring
constexpr uint64_t kMaxSize = uint64_t(1) << 31;

// Newer than liburing 2.3's headers.
constexpr uint32_t kFeatRecvsendBundle = 1u << 14; // IORING_FEAT_RECVSEND_BUNDLE, 6.10
constexpr uint16_t kPbufRingInc = 2;               // IOU_PBUF_RING_INC, 6.12

// A feature switched off in the environment (set, not empty, not "0").
bool env_off(const char *name) noexcept
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

size_t page_round(size_t n)
{
	size_t page = size_t(sysconf(_SC_PAGESIZE));
	return (n + page - 1) / page * page;
}

void *map_anon(size_t bytes)
{
	void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? nullptr : p;
}

bool is_held(const kio_buf_ring *r, uint32_t id) noexcept
{
	return (r->held[id / 64] >> (id % 64)) & 1;
}

void unlink_ring(kio_buf_ring *r) noexcept
{
	NetState *n = r->ctx->net;
	if (r->prev)
		r->prev->next = r->next;
	else
		n->rings = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = nullptr;
}

void free_memory(kio_buf_ring *r) noexcept
{
	if (r->br)
		munmap(r->br, r->br_bytes);
	if (r->data)
		munmap(r->data, r->data_bytes);
	free(r->held);
	free(r->slot);
	free(r->used);
	free(r->part);
	delete r;
}

} // namespace

void buf_ring_handed_out(kio_buf_ring *r, int32_t res, uint32_t flags) noexcept
{
	if (!(flags & KIO_F_BUFFER))
		return;
	uint32_t id = flags >> 16;
	if (id >= r->count)
		return;
	if (r->used) {
		r->part[id] = r->used[id];
		if (flags & KIO_F_BUF_MORE) {
			// The kernel keeps the buffer and fills its next part.
			r->used[id] += uint32_t(res > 0 ? res : 0);
			return;
		}
		r->used[id] = 0;
	}
	r->held[id / 64] |= uint64_t(1) << (id % 64);
}

void buf_ring_free(kio_buf_ring *r) noexcept
{
	if (r->ctx) {
		r->ctx->ring.unregister_buf_ring(r->group);
		unlink_ring(r);
	}
	free_memory(r);
}

void buf_rings_teardown(kio_ctx *c) noexcept
{
	NetState *n = c->net;
	while (kio_buf_ring *r = n->rings) {
		if (r->doomed) {
			// Its destroy waited for ops that can no longer end.
			buf_ring_free(r);
			continue;
		}
		c->ring.unregister_buf_ring(r->group);
		unlink_ring(r);
		r->ctx = nullptr;
	}
}

} // namespace kio

using namespace kio;

KIO_API int kio_buf_ring_create(kio_buf_ring **out, kio_ctx *ctx, uint16_t group, uint32_t count,
				uint32_t size) noexcept
{
	return kio_buf_ring_create_flags(out, ctx, group, count, size, 0);
}

KIO_API int kio_buf_ring_create_flags(kio_buf_ring **out, kio_ctx *ctx, uint16_t group,
				      uint32_t count, uint32_t size, uint32_t flags) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	if (!ctx || (flags & ~(KIO_BUF_RING_INCREMENTAL | KIO_BUF_RING_BUNDLE)))
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (count == 0 || count > kMaxBuffers || (count & (count - 1)) || size == 0 ||
	    size > kMaxSize)
		return -EINVAL;
	if (ctx->destroying)
		return -ESHUTDOWN;
	if (!has_multishot_accept(ctx))
		return -EOPNOTSUPP;
	return guard<int>([&] {
		NetState *n = net_state(ctx);
		for (kio_buf_ring *r = n->rings; r; r = r->next)
			if (r->group == group)
				return -EEXIST;
		kio_buf_ring *r = new kio_buf_ring{};
		r->count = count;
		r->size = size;
		r->group = group;
		r->br_bytes = page_round(size_t(count) * sizeof(io_uring_buf));
		r->data_bytes = size_t(count) * size;
		r->br = static_cast<io_uring_buf_ring *>(map_anon(r->br_bytes));
		r->data = static_cast<unsigned char *>(map_anon(r->data_bytes));
		r->held = static_cast<uint64_t *>(calloc((count + 63) / 64, sizeof(uint64_t)));
		bool inc = (flags & KIO_BUF_RING_INCREMENTAL) && !env_off("KIO_NO_BUF_RING_INC");
		// Bundles take buffers whole and in ring order; an incremental
		// ring's receive stops at the end of the buffer's part instead.
		r->bundle = (flags & KIO_BUF_RING_BUNDLE) && !(flags & KIO_BUF_RING_INCREMENTAL) &&
			    (ctx->ring.raw()->features & kFeatRecvsendBundle) &&
			    !env_off("KIO_NO_RECV_BUNDLE");
		if (r->bundle)
			r->slot = static_cast<uint16_t *>(calloc(count, sizeof(uint16_t)));
		if (flags & KIO_BUF_RING_INCREMENTAL) {
			r->used = static_cast<uint32_t *>(calloc(count, sizeof(uint32_t)));
			r->part = static_cast<uint32_t *>(calloc(count, sizeof(uint32_t)));
		}
		if (!r->br || !r->data || !r->held || (r->bundle && !r->slot) ||
		    ((flags & KIO_BUF_RING_INCREMENTAL) && (!r->used || !r->part))) {
			free_memory(r);
			return -ENOMEM;
		}
		io_uring_buf_ring_init(r->br);
		int mask = io_uring_buf_ring_mask(count);
		for (uint32_t i = 0; i < count; i++) {
			io_uring_buf_ring_add(r->br, r->data + size_t(i) * size, size, uint16_t(i),
					      mask, int(i));
			if (r->slot)
				r->slot[i] = uint16_t(i);
		}
		io_uring_buf_ring_advance(r->br, int(count));

		io_uring_buf_reg reg{};
		reg.ring_addr = uint64_t(uintptr_t(r->br));
		reg.ring_entries = count;
		reg.bgid = group;
		reg.pad = inc ? kPbufRingInc : 0; // the kernel's "flags" field
		int rc = ctx->ring.register_buf_ring(&reg);
		if (rc == -EINVAL && inc) {
			// Before 6.12: whole buffers, which the partial contract covers.
			reg.pad = 0;
			rc = ctx->ring.register_buf_ring(&reg);
		}
		if (rc < 0) {
			free_memory(r);
			return rc;
		}
		r->ctx = ctx;
		r->next = n->rings;
		if (n->rings)
			n->rings->prev = r;
		n->rings = r;
		*out = r;
		return 0;
	});
}

KIO_API void kio_buf_ring_destroy(kio_buf_ring *ring) noexcept
{
	if (!ring || ring->doomed)
		return;
	if (ring->ctx && ring->ops > 0) {
		// Receives still use it: they are cancelled, and the last one to
		// end frees the ring once the kernel no longer fills its buffers.
		ring->doomed = true;
		recv_multishot_cancel_ring(ring->ctx, ring);
		return;
	}
	buf_ring_free(ring);
}

KIO_API void *kio_buf_ring_data(kio_buf_ring *ring, uint16_t id) noexcept
{
	if (!ring || id >= ring->count)
		return nullptr;
	return ring->data + size_t(id) * ring->size;
}

KIO_API int64_t kio_buf_ring_offset(kio_buf_ring *ring, uint16_t id) noexcept
{
	if (!ring || id >= ring->count)
		return -EINVAL;
	return ring->part ? int64_t(ring->part[id]) : 0;
}

KIO_API int kio_buf_ring_release(kio_buf_ring *ring, uint16_t id) noexcept
{
	if (!ring || id >= ring->count || !ring->ctx || ring->doomed)
		return -EINVAL;
	if (!is_held(ring, id))
		return ring->used && ring->used[id] ? -EBUSY : -EALREADY;
	ring->held[id / 64] &= ~(uint64_t(1) << (id % 64));
	if (ring->slot)
		ring->slot[id] = uint16_t(ring->br->tail & (ring->count - 1));
	io_uring_buf_ring_add(ring->br, ring->data + size_t(id) * ring->size, ring->size, id,
			      io_uring_buf_ring_mask(ring->count), 0);
	io_uring_buf_ring_advance(ring->br, 1);
	return 0;
}
