// SPDX-License-Identifier: MIT
// USDT probes (built with -Dusdt): perf and bpftrace attach to them in a
// running program, e.g.
//   bpftrace -e 'usdt:/usr/lib/x86_64-linux-gnu/libkio.so.0:kio:op_done { @[arg3] = count(); }'
// A probe is one nop until a tracer attaches; its arguments are values the
// code at that point already holds. Without -Dusdt the macros are empty.
//   kio:op_start(ctx, op id, user_data, opcode): an op started; the opcode is
//                io_uring's, or -1 for an op kio serves itself (a timer, a
//                deferred completion, a pool job)
//   kio:op_done(ctx, op id, user_data, res): its final callback is about to run
#pragma once

#if defined(KIO_USDT) && KIO_USDT
#include <sys/sdt.h>
#define KIO_PROBE_OP_START(ctx, id, user_data, opcode) \
	DTRACE_PROBE4(kio, op_start, ctx, id, user_data, opcode)
#define KIO_PROBE_OP_DONE(ctx, id, user_data, res) \
	DTRACE_PROBE4(kio, op_done, ctx, id, user_data, res)
#else
#define KIO_PROBE_OP_START(ctx, id, user_data, opcode) ((void)0)
#define KIO_PROBE_OP_DONE(ctx, id, user_data, res) ((void)0)
#endif
