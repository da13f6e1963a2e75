// SPDX-License-Identifier: MIT
#include "core/mapping.hpp"

#include <atomic>

namespace kio {

namespace {
std::atomic<uint64_t> mapping_changes{0};
} // namespace

void order_mappings() noexcept
{
	mapping_changes.fetch_add(1, std::memory_order_acq_rel);
}

} // namespace kio
