// SPDX-License-Identifier: MIT
// The tag each context puts in its op ids (core/op_table.hpp), so an id
// given to the wrong context names nothing there. Tags are handed out
// among the contexts alive at once: up to 255 of them get distinct tags;
// more share tag 0 (their ids are then told apart only by slot and
// generation, as before tags existed).
#pragma once

#include <cstdint>

namespace kio {

uint32_t ctx_tag_acquire() noexcept;
void ctx_tag_release(uint32_t tag) noexcept;

} // namespace kio
