// SPDX-License-Identifier: MIT
#include "core/ctx_tag.hpp"

#include <mutex>

namespace kio {

namespace {

std::mutex tags_mu;
uint64_t tags_used[4]; // bit t: tag t belongs to a live context (tags_mu)
uint32_t tags_next = 1; // where the search starts: a freed tag is reused last

bool used(uint32_t t) noexcept
{
	return (tags_used[t / 64] >> (t % 64)) & 1;
}

} // namespace

uint32_t ctx_tag_acquire() noexcept
{
	std::lock_guard<std::mutex> lock(tags_mu);
	for (uint32_t i = 0; i < 255; i++) {
		uint32_t t = 1 + (tags_next - 1 + i) % 255;
		if (!used(t)) {
			tags_used[t / 64] |= uint64_t(1) << (t % 64);
			tags_next = t % 255 + 1;
			return t;
		}
	}
	return 0; // all taken: shared
}

void ctx_tag_release(uint32_t tag) noexcept
{
	if (tag == 0)
		return;
	std::lock_guard<std::mutex> lock(tags_mu);
	tags_used[tag / 64] &= ~(uint64_t(1) << (tag % 64));
}

} // namespace kio
