// SPDX-License-Identifier: MIT
// KIO_CTX_READ_NOWAIT: a page-cache attempt inside kio_read()/kio_readv().
#pragma once

#include <cstdint>

#include <sys/uio.h>

#include <kio/kio.h>

namespace kio {

// Reads iov at offset (not KIO_OFFSET_CURRENT) with preadv2(RWF_NOWAIT).
// When that read the whole range, or met end of file, starts a Deferred op
// carrying the result (delivered by the loop, never here), stores its id
// or the start's error in *id and returns true. Otherwise (EAGAIN, a short
// read, any error) returns false and the caller sends the whole read to
// the backend, whose answer is then the only one the user sees.
bool read_nowait(kio_ctx *c, int fd, const struct iovec *iov, int iovcnt, uint64_t offset, kio_cb cb,
		 void *user_data, int64_t *id) noexcept;

} // namespace kio
