// SPDX-License-Identifier: MIT
#include "epoll/workers.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <ctime>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/guard.hpp"

namespace kio::epoll {

namespace {

// How long destroy waits for a call still running on a pool thread once
// the core has given up on it; the thread is then left to finish alone.
constexpr time_t kJoinWaitS = 2;

template <typename F>
long retry_eintr(F &&call) noexcept
{
	long rc;
	do
		rc = call();
	while (rc < 0 && errno == EINTR);
	return rc;
}

int32_t result(long rc) noexcept
{
	return rc < 0 ? -errno : int32_t(rc);
}

// A read or write of a regular file, to the end: a file read is short only
// at its end, as io_uring makes it. done bytes were moved already.
int32_t run_rw(Job &j) noexcept
{
	const io_uring_sqe &s = j.sqe;
	bool read = s.opcode == IORING_OP_READ || s.opcode == IORING_OP_READV;
	bool vec = s.opcode == IORING_OP_READV || s.opcode == IORING_OP_WRITEV;
	const iovec *user = vec ? reinterpret_cast<const iovec *>(uintptr_t(s.addr)) : nullptr;
	size_t count = vec ? s.len : 1;
	size_t total = 0;
	if (vec) {
		for (size_t i = 0; i < count; i++)
			total += user[i].iov_len;
	} else {
		total = s.len;
	}
	uint64_t done = j.done;
	bool at_pos = s.off == uint64_t(-1);
	iovec iov[IOV_MAX];
	while (done < total) {
		// The part of the buffers not done yet.
		size_t n = 0, skip = done;
		if (vec) {
			for (size_t i = 0; i < count; i++) {
				if (skip >= user[i].iov_len) {
					skip -= user[i].iov_len;
					continue;
				}
				iov[n].iov_base = static_cast<char *>(user[i].iov_base) + skip;
				iov[n].iov_len = user[i].iov_len - skip;
				skip = 0;
				n++;
			}
		} else {
			iov[0].iov_base = reinterpret_cast<char *>(uintptr_t(s.addr)) + done;
			iov[0].iov_len = total - done;
			n = 1;
		}
		off_t off = at_pos ? off_t(-1) : off_t(s.off + done);
		long rc = retry_eintr([&] {
			return read ? preadv2(s.fd, iov, int(n), off, 0) : pwritev2(s.fd, iov, int(n), off, 0);
		});
		if (rc < 0)
			return done ? int32_t(done) : -errno;
		if (rc == 0)
			break;
		done += uint64_t(rc);
	}
	return int32_t(done);
}

// A file on one side, a pipe on the other. The pipe side never blocks
// here: a full (or empty) pipe gives -EAGAIN, and the backend waits for it
// with epoll, where a cancel can reach the op, then runs the job again.
int32_t run_splice(const io_uring_sqe &s) noexcept
{
	loff_t in = loff_t(s.splice_off_in), out = loff_t(s.off);
	bool has_in = int64_t(s.splice_off_in) != -1, has_out = int64_t(s.off) != -1;
	return result(retry_eintr([&] {
		return splice(s.splice_fd_in, has_in ? &in : nullptr, s.fd, has_out ? &out : nullptr,
			      s.len, s.splice_flags | SPLICE_F_NONBLOCK);
	}));
}

// openat as io_uring carries it out: with O_NONBLOCK added, then taken off
// the new fd, so opening a FIFO or a device does not wait for a peer (which
// would hold a pool thread nothing can interrupt). O_CREAT, O_TRUNC and
// O_TMPFILE opens, which io_uring always runs blocking, are left alone.
int32_t run_openat(const io_uring_sqe &s) noexcept
{
	const char *path = reinterpret_cast<const char *>(uintptr_t(s.addr));
	int flags = int(s.open_flags);
	bool add = !(flags & (O_NONBLOCK | O_CREAT | O_TRUNC | __O_TMPFILE));
	int fd = int(retry_eintr([&] { return openat(s.fd, path, flags | (add ? O_NONBLOCK : 0), mode_t(s.len)); }));
	if (fd < 0)
		return -errno;
	if (add) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return fd;
}

} // namespace

int32_t run_job(Job &j) noexcept
{
	const io_uring_sqe &s = j.sqe;
	const char *path = reinterpret_cast<const char *>(uintptr_t(s.addr));
	switch (s.opcode) {
	case IORING_OP_READ:
	case IORING_OP_READV:
	case IORING_OP_WRITE:
	case IORING_OP_WRITEV:
		return run_rw(j);
	case IORING_OP_FSYNC:
		return result(retry_eintr([&] {
			return (s.fsync_flags & IORING_FSYNC_DATASYNC) ? fdatasync(s.fd) : fsync(s.fd);
		}));
	case IORING_OP_FALLOCATE:
		return result(retry_eintr(
			[&] { return fallocate(s.fd, int(s.len), off_t(s.off), off_t(s.addr)); }));
	case 55: // IORING_OP_FTRUNCATE
		return result(retry_eintr([&] { return ftruncate(s.fd, off_t(s.off)); }));
	case IORING_OP_STATX:
		return result(retry_eintr([&] {
			return statx(s.fd, path, int(s.statx_flags), s.len,
				     reinterpret_cast<struct statx *>(uintptr_t(s.off)));
		}));
	case IORING_OP_OPENAT:
		return run_openat(s);
	case IORING_OP_CONNECT:
		// Blocking connect(2) waits for room in a Unix listener's
		// backlog; a socket with O_NONBLOCK gets -EAGAIN, as on io_uring.
		return result(retry_eintr([&] {
			return connect(s.fd, reinterpret_cast<const sockaddr *>(uintptr_t(s.addr)),
				       socklen_t(s.off));
		}));
	case IORING_OP_UNLINKAT:
		return result(retry_eintr([&] { return unlinkat(s.fd, path, int(s.unlink_flags)); }));
	case IORING_OP_RENAMEAT:
		return result(retry_eintr([&] {
			return renameat2(s.fd, path, int(s.len),
					 reinterpret_cast<const char *>(uintptr_t(s.off)), s.rename_flags);
		}));
	case IORING_OP_MKDIRAT:
		return result(retry_eintr([&] { return mkdirat(s.fd, path, mode_t(s.len)); }));
	case IORING_OP_SPLICE:
		return run_splice(s);
	default:
		return -EINVAL;
	}
}

Workers *Workers::create(int *err) noexcept
{
	ErrnoKeeper keep_errno;
	Workers *w = new (std::nothrow) Workers();
	if (!w) {
		*err = -ENOMEM;
		return nullptr;
	}
	w->evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->evfd_ < 0) {
		*err = -errno;
		delete w;
		return nullptr;
	}
	return w;
}

Workers::~Workers()
{
	ErrnoKeeper keep_errno;
	if (evfd_ >= 0)
		close(evfd_);
	for (Job *j : all_)
		delete j;
}

void Workers::drop() noexcept
{
	if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
		delete this;
}

Job *Workers::get_job()
{
	if (Job *j = free_) {
		free_ = j->next;
		return j;
	}
	all_.reserve(all_.size() + 1);
	Job *j = new Job{};
	all_.push_back(j);
	return j;
}

void Workers::put_job(Job *j) noexcept
{
	j->next = free_;
	free_ = j;
}

void *Workers::thread_main(void *arg) noexcept
{
	Workers *w = static_cast<Workers *>(arg);
	std::unique_lock<std::mutex> lock(w->mu_);
	for (;;) {
		while (!w->head_ && !w->stopping_) {
			w->idle_++;
			w->cv_.wait(lock);
			w->idle_--;
		}
		Job *j = w->head_;
		if (!j)
			break;
		w->head_ = j->next;
		if (w->head_)
			w->head_->prev = nullptr;
		else
			w->tail_ = nullptr;
		j->running = true;
		lock.unlock();
		j->res = run_job(*j);
		lock.lock();
		j->next = nullptr;
		bool first = !w->done_head_;
		if (w->done_tail_)
			w->done_tail_->next = j;
		else
			w->done_head_ = j;
		w->done_tail_ = j;
		if (first) {
			// Under the lock: the loop reads the list only after the
			// eventfd, and release() cannot free the pool meanwhile.
			uint64_t one = 1;
			while (write(w->evfd_, &one, sizeof(one)) < 0 && errno == EINTR) {
			}
		}
	}
	lock.unlock();
	w->drop();
	return nullptr;
}

void Workers::unlink_locked(Job *j) noexcept
{
	if (j->prev)
		j->prev->next = j->next;
	else
		head_ = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		tail_ = j->prev;
}

// Starts one more thread; false when it could not (the caller decides).
bool Workers::add_thread() noexcept
{
	ErrnoKeeper keep_errno;
	try {
		threads_.reserve(threads_.size() + 1);
	} catch (...) {
		return false;
	}
	// Threads start with every signal blocked, so no signal meant for the
	// program lands on them.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	refs_.fetch_add(1, std::memory_order_relaxed);
	pthread_t t;
	int e = pthread_create(&t, nullptr, thread_main, this);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	if (e != 0) {
		refs_.fetch_sub(1, std::memory_order_relaxed);
		return false;
	}
	threads_.push_back(t);
	pthread_setname_np(t, "kio-io");
	return true;
}

int Workers::submit(Job *j) noexcept
{
	std::unique_lock<std::mutex> lock(mu_);
	j->running = false;
	j->next = nullptr;
	j->prev = tail_;
	if (tail_)
		tail_->next = j;
	else
		head_ = j;
	tail_ = j;
	bool more = idle_ == 0 && threads_.size() < kMaxThreads;
	lock.unlock();
	if (!more) {
		cv_.notify_one();
		return 0;
	}
	if (add_thread() || !threads_.empty())
		return 0;
	// No thread runs and none could start: nobody would ever run it.
	lock.lock();
	unlink_locked(j);
	return -EAGAIN;
}

bool Workers::cancel(Job *j) noexcept
{
	std::lock_guard<std::mutex> lock(mu_);
	if (j->running)
		return false;
	unlink_locked(j);
	return true;
}

Job *Workers::take_done() noexcept
{
	ErrnoKeeper keep_errno;
	uint64_t count;
	(void)!read(evfd_, &count, sizeof(count));
	std::lock_guard<std::mutex> lock(mu_);
	Job *list = done_head_;
	done_head_ = done_tail_ = nullptr;
	return list;
}

void Workers::release() noexcept
{
	{
		std::lock_guard<std::mutex> lock(mu_);
		stopping_ = true;
	}
	cv_.notify_all();
	timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += kJoinWaitS;
	for (pthread_t t : threads_) {
		if (pthread_timedjoin_np(t, nullptr, &deadline) != 0)
			pthread_detach(t); // stuck in the kernel: it frees the pool when it ends
	}
	threads_.clear();
	drop();
}

} // namespace kio::epoll
