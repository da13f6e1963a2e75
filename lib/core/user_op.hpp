// SPDX-License-Identifier: MIT
// Starting an op that lives in user space (a timer, a result already
// known, a pool job): its slot and the room for its completion, with the
// fault injection and probes a kernel op's start has. Inline, so that the
// start of a timer is one function with kio_sleep() (core/time.cpp).
#pragma once

#include "core/ctx.hpp"
#include "core/faults.hpp"
#include "core/probes.hpp"

namespace kio {

// Reserves a slot and room for its completion for a user-space op.
// May throw std::bad_alloc.
inline uint32_t alloc_user_op(kio_ctx *c, kio_cb cb, void *user_data, Kind kind)
{
	if (c->live >= c->ready_room || !c->ops.has_free())
		reserve_ready(c);
	uint32_t idx = c->ops.alloc();
	Op &op = c->ops.at(idx);
	op.cb = cb;
	op.user_data = user_data;
	op.kind = kind;
	return idx;
}

// Fault injection (nomem) for the starts of user-space ops: the call
// fails before anything changed, as a failed allocation would.
inline bool faults_nomem(kio_ctx *c) noexcept
{
	return __builtin_expect(c->faults != nullptr, 0) && c->faults->at_call(kFaultNomem);
}

// The id of a user-space op just started, told to the probes and faults.
inline int64_t user_op_started(kio_ctx *c, int64_t id) noexcept
{
	KIO_PROBE_OP_START(c, id, c->ops.at(OpTable::index_of(id)).user_data, -1);
	if (__builtin_expect(c->faults != nullptr, 0))
		faults_started(c, id);
	return id;
}

} // namespace kio
