// SPDX-License-Identifier: MIT
// The epoll backend's thread pool, for the calls that can block on a disk
// or a lock and that epoll cannot wait for: regular-file reads and writes
// the page cache could not serve, fsync, fallocate, ftruncate, statx, the
// path calls (openat, unlinkat, renameat, mkdirat) and splices that touch a
// file. It is what io_uring's io-wq workers do for the same ops.
//
// A job carries a copy of its SQE (the op records move when their table
// grows; a worker never touches them). Finished jobs go on a list under the
// mutex and the first one of a batch writes an eventfd the backend's epoll
// set watches, so results reach the CQ only from the loop. Threads start on
// demand, up to kMaxThreads, and block every signal.
//
// The pool outlives its backend while a call is still running: each thread
// holds a reference, so a call stuck in the kernel (a FIFO's open waiting
// for a writer) cannot make destroy hang or free memory under it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include <pthread.h>

#include <liburing.h>

namespace kio::epoll {

struct Job {
	io_uring_sqe sqe; // the op, as submitted
	uint64_t done;    // bytes the loop thread already moved (a short page-cache read)
	Job *next;        // queue, done list or free list
	Job *prev;        // queue
	uint32_t link;    // the op's record
	int32_t res;      // the call's result, total bytes included
	bool running;     // a thread took it (mutex)
};

class Workers {
public:
	static constexpr uint32_t kMaxThreads = 4;

	// nullptr with *err set when the eventfd cannot be made.
	static Workers *create(int *err) noexcept;

	// Readable when jobs finished: take them with take_done().
	int fd() const noexcept { return evfd_; }

	// Loop thread. A job record, reused; may throw std::bad_alloc.
	Job *get_job();
	void put_job(Job *j) noexcept;
	// Loop thread. Queues j, starting a thread if none is idle. 0, or
	// -errno when no thread runs and none could start (j is not queued).
	int submit(Job *j) noexcept;
	// Loop thread. Takes j out of the queue if no thread took it yet.
	bool cancel(Job *j) noexcept;
	// Loop thread. The finished jobs, oldest first, linked by next.
	Job *take_done() noexcept;
	// The backend's last call: stops the threads, waits a bounded time for
	// the running calls, and frees the pool once the last thread ended.
	void release() noexcept;

private:
	Workers() = default;
	~Workers();
	static void *thread_main(void *arg) noexcept;
	bool add_thread() noexcept;
	void unlink_locked(Job *j) noexcept;
	void drop() noexcept;

	std::mutex mu_;
	std::condition_variable cv_;
	Job *head_ = nullptr; // queued, oldest first (mu_)
	Job *tail_ = nullptr;
	Job *done_head_ = nullptr; // finished (mu_)
	Job *done_tail_ = nullptr;
	uint32_t idle_ = 0;     // threads waiting for a job (mu_)
	bool stopping_ = false; // (mu_)
	std::vector<pthread_t> threads_; // loop thread
	std::atomic<uint32_t> refs_{1};  // the backend's and one per thread
	int evfd_ = -1;

	Job *free_ = nullptr;     // loop thread
	std::vector<Job *> all_;  // every record, for the final free
};

// Runs the blocking call job j describes; its result (bytes moved in all,
// for reads and writes; a fd; 0; or -errno).
int32_t run_job(Job &j) noexcept;

} // namespace kio::epoll
