// SPDX-License-Identifier: MIT
// The blocking pool's internal interface: ops of the library that run a
// blocking call on a pool thread (kio_resolve()) start their job here.
// Private: never installed.
#pragma once

#include <cstdint>

#include <kio/kio.h>

namespace kio {

// Runs on a pool thread; its return value is the job's result.
using JobFn = int (*)(void *arg);
// Runs on the ctx thread once the job ended (ran, or was cancelled before it
// could), just before the user's callback: frees what the job owned. res is
// the job's result, or -ECANCELED when fn never ran.
using JobFinish = void (*)(void *arg, int32_t res);

// Queues fn(arg) on pool as an External op of c; cb(user_data, res, 0) runs
// on c's thread afterwards. finish may be nullptr. Does the checks of
// kio_pool_submit(). May throw std::bad_alloc.
int64_t pool_start(kio_ctx *c, kio_pool *pool, JobFn fn, void *arg, JobFinish finish, kio_cb cb,
		   void *user_data);

} // namespace kio
