// SPDX-License-Identifier: MIT
//
// kio/kio.hpp - the whole header-only C++20 layer of kio (namespace kio):
//
//   result.hpp      Result<T>, Err(), MakeError()
//   task.hpp        Task<T>
//   io_context.hpp  IoContext (Run, RunUntilDone, Stop, Notify, Stats)
//   file.hpp        AsyncOpen/Read/Write/Readv/Writev/Close/Fsync/...,
//                   AsyncReadExact/WriteExact
//   net_ops.hpp     AsyncAccept/Connect/Send/Recv/Sendmsg/Recvmsg/Sendfile
//   poll.hpp        AsyncPoll
//   time.hpp        AsyncSleep, AsyncSleepUntil
//   task_group.hpp  TaskGroup
//   notifier.hpp    Notifier
//   offload.hpp     BlockingPool, Offload
//   signal.hpp      SignalSet, AsyncWaitSignal
//   fd_guard.hpp    FDGuard
//   io_buffer.hpp   IoBuffer
//   log.hpp         ALOG_DEBUG..ALOG_FATAL
//   sync.hpp        AsyncMutex
//   channel.hpp     Channel<T>
//   net.hpp         net::Socket, net::SocketAddress, net::TcpListener,
//                   net::Resolve, net::ResolveAsync
//   worker.hpp      Worker
//   tls.hpp         tls::Context, tls::Stream (AsyncHandshake/Read/Write/Shutdown)
//   tls_socket.hpp  tls::TlsConfig, tls::TlsContext, tls::AsyncTlsHandshake,
//                   tls::TlsSocket: the reference library's TLS shapes
//
// Every op awaitable takes .WithTimeout(d) (std::errc::timed_out) and
// .WithStopToken(st) (std::errc::operation_canceled); see
// detail/awaiter.hpp. Stop tokens are kio::StopSource/StopToken/
// StopCallback: std::stop_* with libstdc++, kio's own with libc++ 19
// (detail/stop_token.hpp). Everything is declared in the inline namespace
// kio::v0_cxx20 or kio::v0_cxx23 (detail/abi.hpp). Each header above can be
// included alone, at a smaller compile-time cost (README.md). The layer
// uses only the public C API <kio/kio.h>.
#ifndef KIO_CXX_KIO_HPP
#define KIO_CXX_KIO_HPP

#include <kio/kio.h>

#include "result.hpp"
#include "task.hpp"
#include "io_context.hpp"
#include "file.hpp"
#include "net_ops.hpp"
#include "poll.hpp"
#include "time.hpp"
#include "task_group.hpp"
#include "notifier.hpp"
#include "offload.hpp"
#include "signal.hpp"
#include "fd_guard.hpp"

#if __has_include("io_buffer.hpp")
#include "io_buffer.hpp"
#endif
#if __has_include("log.hpp")
#include "log.hpp"
#endif
#if __has_include("sync.hpp")
#include "sync.hpp"
#endif
#if __has_include("channel.hpp")
#include "channel.hpp"
#endif
#if __has_include("net.hpp")
#include "net.hpp"
#endif
#if __has_include("worker.hpp")
#include "worker.hpp"
#endif
#if __has_include("tls.hpp")
#include "tls.hpp"
#endif
#if __has_include("tls_socket.hpp")
#include "tls_socket.hpp"
#endif

#endif // KIO_CXX_KIO_HPP
