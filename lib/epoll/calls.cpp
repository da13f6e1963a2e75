// SPDX-License-Identifier: MIT
// The epoll backend's op attempts: for each opcode, the non-blocking call
// that does what the kernel would do with the SQE, and what its result
// means: the op's result, one more result of a multishot op, "not ready:
// wait for these events", or "this call could block: use the pool".
//
// Socket calls carry MSG_DONTWAIT, reads and writes RWF_NOWAIT (a page-
// cache hit then costs no thread hop), so nothing here blocks the loop.
// accept(2) and connect(2) have no per-call flag: a blocking socket gets
// O_NONBLOCK for the length of the call.
#include <cerrno>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "epoll/backend.hpp"
#include "epoll/sys.hpp"

namespace kio::epoll {

namespace {

Step done(int32_t res, uint32_t flags = 0) noexcept
{
	return Step{Step::Done, res, flags};
}

Step more(int32_t res, uint32_t flags = 0) noexcept
{
	return Step{Step::More, res, flags};
}

Step again(uint32_t want, int fd = -1) noexcept
{
	Step s{Step::Again};
	s.want = want;
	s.fd = fd;
	return s;
}

Step block() noexcept
{
	return Step{Step::Block};
}

bool would_block(int e) noexcept
{
	return e == EAGAIN || e == EWOULDBLOCK;
}

template <typename T> T *ptr(uint64_t v) noexcept
{
	return reinterpret_cast<T *>(uintptr_t(v));
}


// A byte stream (a SOCK_STREAM socket or a pipe): a short read there
// means nothing was left.
int8_t ask_stream(int fd) noexcept
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
		return type == SOCK_STREAM;
	struct stat st;
	return errno == ENOTSOCK && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// A read came back short: on a byte stream the next one waits for an edge
// instead of trying. (A datagram socket or a terminal may hold more.)
void drained(FdState &f, int fd) noexcept
{
	// Once the peer shut its side (or the socket failed), a read never
	// blocks again: its end of stream may have come in the same edge as the
	// data just read, and no further edge would report it.
	if (f.ready & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		return;
	if (f.stream < 0)
		f.stream = ask_stream(fd);
	if (f.stream == 1)
		f.ready &= ~uint32_t(EPOLLIN);
}

// O_NONBLOCK on fd for one call when it is not set (fd < 0: nothing).
class NonBlocking {
public:
	explicit NonBlocking(int fd) noexcept : fd_(fd)
	{
		if (fd < 0)
			return;
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
			saved_ = fl;
	}
	~NonBlocking()
	{
		if (saved_ >= 0)
			fcntl(fd_, F_SETFL, saved_);
	}
	NonBlocking(const NonBlocking &) = delete;
	NonBlocking &operator=(const NonBlocking &) = delete;

private:
	int fd_;
	int saved_ = -1;
};

// Whether fd is ready for want (EPOLLIN/EPOLLOUT) right now.
bool ready_now(int fd, uint32_t want) noexcept
{
	pollfd p{fd, short((want & EPOLLIN) ? POLLIN : POLLOUT), 0};
	while (poll(&p, 1, 0) < 0) {
		if (errno != EINTR)
			return true; // let the call itself report the problem
	}
	return p.revents != 0;
}

bool is_file(const struct stat &st) noexcept
{
	return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
}

// What a multishot poll waits for, in epoll's terms.
uint32_t poll_want(uint32_t mask) noexcept
{
	uint32_t want = EPOLLERR | EPOLLHUP;
	if (mask & (POLLIN | POLLRDNORM | POLLRDBAND | POLLRDHUP))
		want |= EPOLLIN;
	if (mask & (POLLOUT | POLLWRNORM | POLLWRBAND))
		want |= EPOLLOUT;
	if (mask & POLLPRI)
		want |= EPOLLPRI;
	return want;
}

Step poll_step(const io_uring_sqe &s, const FdState *f) noexcept
{
	uint32_t mask = s.poll32_events;
	// A multishot poll is registered before it reports anything: on a
	// file epoll cannot watch, it must end with one final result instead
	// of a KIO_F_MORE one it could not follow up (see poll_unwatchable()).
	if ((s.len & IORING_POLL_ADD_MULTI) && !f->mask)
		return again(poll_want(mask));
	pollfd p{s.fd, short(mask & 0xffff), 0};
	while (poll(&p, 1, 0) < 0) {
		if (errno != EINTR)
			return done(-errno);
	}
	if (p.revents & POLLNVAL)
		return done(-EBADF);
	uint32_t rev = uint32_t(uint16_t(p.revents)) & (mask | POLLERR | POLLHUP);
	if (rev)
		return (s.len & IORING_POLL_ADD_MULTI) ? more(int32_t(rev)) : done(int32_t(rev));
	return again(poll_want(mask));
}

} // namespace

// A poll of a file epoll cannot watch (a regular file): what io_uring
// answers there, the events the file reports now as one final result,
// or -EINVAL when those are not what was asked for.
int32_t poll_unwatchable(const io_uring_sqe &s) noexcept
{
	uint32_t mask = s.poll32_events;
	pollfd p{s.fd, short(mask & 0xffff), 0};
	while (poll(&p, 1, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	uint32_t rev = uint32_t(uint16_t(p.revents)) & (mask | POLLERR | POLLHUP);
	return rev ? int32_t(rev) : -EINVAL;
}

namespace {

// READ, WRITE, READV, WRITEV: a page-cache (or socket, pipe) attempt
// without blocking. A regular file that would block, or that gave part of
// a read it did not end, goes to the pool for the rest.
Step rw_step(Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	bool rd = s.opcode == IORING_OP_READ || s.opcode == IORING_OP_READV;
	bool vec = s.opcode == IORING_OP_READV || s.opcode == IORING_OP_WRITEV;
	uint32_t want = rd ? EPOLLIN : EPOLLOUT;
	// Registered means epoll watches it: its readiness is known.
	if (f->mask && !(f->ready & want))
		return again(want);
	iovec one;
	const iovec *iov = &one;
	int cnt = 1;
	size_t asked;
	if (vec) {
		iov = ptr<const iovec>(s.addr);
		cnt = int(s.len);
		asked = 0;
		for (int i = 0; i < cnt; i++)
			asked += iov[i].iov_len;
	} else {
		one.iov_base = ptr<char>(s.addr) + r.done;
		one.iov_len = s.len - r.done;
		asked = one.iov_len;
	}
	for (;;) {
		off_t off = (r.flags & kRecStream) ? off_t(-1) : off_t(s.off);
		int flags = (r.flags & kRecNoNowait) ? 0 : RWF_NOWAIT;
		// Without RWF_NOWAIT the call could block: only when poll says
		// it will not (a wake-up may have been for another op).
		if (!flags && !ready_now(fd, want)) {
			if (f->mask)
				f->ready &= ~want;
			return again(want);
		}
		ssize_t n = rd ? sys::preadv2(fd, iov, cnt, off, flags) : sys::pwritev2(fd, iov, cnt, off, flags);
		if (n >= 0) {
			if (n == 0 || size_t(n) == asked || (r.flags & kRecStream)) {
				if (rd && n > 0 && size_t(n) < asked)
					drained(*f, fd);
				return done(int32_t(n));
			}
			// Short. A regular file ends there, or the page cache had
			// only part of it (the pool reads the rest); anything else
			// is a stream, where short is just what was there.
			struct stat st;
			if (fstat(fd, &st) == 0 && is_file(st)) {
				uint64_t at = off == off_t(-1) ? uint64_t(lseek(fd, 0, SEEK_CUR)) : uint64_t(off) + uint64_t(n);
				if (rd && S_ISREG(st.st_mode) && at >= uint64_t(st.st_size))
					return done(int32_t(n)); // the end of the file
				r.done += uint64_t(n);
				return block();
			}
			r.flags |= kRecStream;
			if (rd)
				drained(*f, fd);
			return done(int32_t(n));
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == ESPIPE && off != off_t(-1)) {
			// A pipe or socket: io_uring ignores the offset there too.
			r.flags |= kRecStream;
			continue;
		}
		if (would_block(e)) {
			if (f->mask)
				f->ready &= ~want;
			return again(want); // a regular file: park() refuses, the pool takes it
		}
		if (e == EOPNOTSUPP && flags) {
			// No RWF_NOWAIT here. A file (a buffered write on ext4)
			// may block on the disk: the pool. Anything else (a
			// terminal, a FIFO opened by path): the plain call, but
			// only once poll says it will not block.
			struct stat st;
			if (fstat(fd, &st) == 0 && is_file(st))
				return block();
			r.flags |= kRecNoNowait;
			if (ready_now(fd, want))
				continue;
			if (f->mask)
				f->ready &= ~want;
			return again(want);
		}
		return done(-e);
	}
}

// A provided buffer for a RECV with IOSQE_BUFFER_SELECT: the entry at the
// ring's head, as the kernel would take it. nullptr: none left.
const io_uring_buf *pick_buffer(BufGroup *g) noexcept
{
	if (!g)
		return nullptr;
	uint16_t tail = io_uring_smp_load_acquire(&g->br->tail);
	if (g->head == tail)
		return nullptr;
	return &g->br->bufs[g->head & (g->entries - 1)];
}

Step recv_step(Backend &b, Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	bool multi = s.ioprio & IORING_RECV_MULTISHOT;
	bool all = (s.msg_flags & MSG_WAITALL) && !multi;
	int flags = int(s.msg_flags & ~uint32_t(MSG_WAITALL)) | MSG_DONTWAIT;
	uint32_t want = (s.msg_flags & MSG_OOB) ? EPOLLPRI : EPOLLIN;
	bool nowait = s.msg_flags & MSG_DONTWAIT;
	for (;;) {
		if (!(f->ready & want) && !nowait)
			return again(want);
		char *buf = ptr<char>(s.addr) + r.done;
		size_t len = s.len - r.done;
		BufGroup *g = nullptr;
		const io_uring_buf *pb = nullptr;
		if (s.flags & IOSQE_BUFFER_SELECT) {
			g = b.buf_group(s.buf_group);
			pb = pick_buffer(g);
			if (!pb)
				return done(-ENOBUFS); // the kernel ends a multishot recv so too
			buf = ptr<char>(pb->addr);
			len = pb->len;
		}
		ssize_t n = recv(fd, buf, len, flags);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (would_block(e)) {
				f->ready &= ~want;
				if (s.msg_flags & MSG_DONTWAIT) // the caller asked not to wait
					return done(r.done ? int32_t(r.done) : -e);
				return again(want);
			}
			return done(r.done ? int32_t(r.done) : -e);
		}
		uint32_t cflags = 0;
		if (pb && n > 0) {
			cflags = IORING_CQE_F_BUFFER | (uint32_t(pb->bid) << IORING_CQE_BUFFER_SHIFT);
			g->head++;
		}
		if (n > 0 && size_t(n) < len && !(s.msg_flags & MSG_PEEK))
			drained(*f, fd);
		if (multi)
			return n == 0 ? done(0) : more(int32_t(n), cflags);
		if (all && n > 0 && r.done + uint64_t(n) < s.len) {
			// MSG_WAITALL on a stream: until all of it came.
			if (f->stream < 0)
				f->stream = ask_stream(fd);
			if (f->stream == 1) {
				r.done += uint64_t(n);
				continue;
			}
		}
		return done(int32_t(r.done + uint64_t(n)), cflags);
	}
}

Step send_step(Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	bool all = s.msg_flags & MSG_WAITALL;
	int flags = int(s.msg_flags & ~uint32_t(MSG_WAITALL)) | MSG_DONTWAIT | MSG_NOSIGNAL;
	bool nowait = s.msg_flags & MSG_DONTWAIT;
	for (;;) {
		if (!(f->ready & EPOLLOUT) && !nowait)
			return again(EPOLLOUT);
		ssize_t n = send(fd, ptr<const char>(s.addr) + r.done, s.len - r.done, flags);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (would_block(e)) {
				f->ready &= ~uint32_t(EPOLLOUT);
				if (s.msg_flags & MSG_DONTWAIT)
					return done(r.done ? int32_t(r.done) : -e);
				return again(EPOLLOUT);
			}
			return done(r.done ? int32_t(r.done) : -e);
		}
		if (all && n > 0 && r.done + uint64_t(n) < s.len) {
			r.done += uint64_t(n);
			continue;
		}
		return done(int32_t(r.done + uint64_t(n)));
	}
}

// The part of msg's buffers past done bytes, for a MSG_WAITALL recvmsg
// that goes on: name and control data came with the first piece. false
// when the iovec is longer than the room here (the op then ends short).
bool rest_of(const msghdr &msg, uint64_t done, msghdr *out, iovec *room, size_t cap) noexcept
{
	*out = msghdr{};
	size_t n = 0;
	for (size_t i = 0; i < msg.msg_iovlen; i++) {
		const iovec &v = msg.msg_iov[i];
		if (done >= v.iov_len) {
			done -= v.iov_len;
			continue;
		}
		if (n == cap)
			return false;
		room[n].iov_base = static_cast<char *>(v.iov_base) + done;
		room[n].iov_len = v.iov_len - done;
		done = 0;
		n++;
	}
	out->msg_iov = room;
	out->msg_iovlen = n;
	return true;
}

size_t iov_bytes(const msghdr &msg) noexcept
{
	size_t total = 0;
	for (size_t i = 0; i < msg.msg_iovlen; i++)
		total += msg.msg_iov[i].iov_len;
	return total;
}

Step msg_step(Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	bool tx = s.opcode == IORING_OP_SENDMSG;
	uint32_t want = tx ? EPOLLOUT : EPOLLIN;
	bool nowait = s.msg_flags & MSG_DONTWAIT;
	bool all = !tx && (s.msg_flags & MSG_WAITALL);
	int flags = int(s.msg_flags & ~uint32_t(MSG_WAITALL)) | MSG_DONTWAIT | (tx ? MSG_NOSIGNAL : 0);
	msghdr *m = ptr<msghdr>(s.addr);
	for (;;) {
		if (!(f->ready & want) && !nowait)
			return again(want);
		msghdr rest;
		iovec room[64];
		msghdr *use = m;
		if (r.done) {
			if (!rest_of(*m, r.done, &rest, room, 64))
				return done(int32_t(r.done));
			use = &rest;
		}
		ssize_t n = tx ? sendmsg(fd, use, flags) : recvmsg(fd, use, flags);
		if (n >= 0) {
			// MSG_WAITALL on a stream: until every buffer is full, as
			// io_uring does it.
			if (all && n > 0 && r.done + uint64_t(n) < iov_bytes(*m)) {
				if (f->stream < 0)
					f->stream = ask_stream(fd);
				if (f->stream == 1) {
					r.done += uint64_t(n);
					continue;
				}
			}
			return done(int32_t(r.done + uint64_t(n)));
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (would_block(e)) {
			f->ready &= ~want;
			if (nowait)
				return done(r.done ? int32_t(r.done) : -e);
			return again(want);
		}
		return done(r.done ? int32_t(r.done) : -e);
	}
}

Step accept_step(Backend &b, Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	if (!(f->ready & EPOLLIN))
		return again(EPOLLIN);
	bool multi = s.ioprio & IORING_ACCEPT_MULTISHOT;
	sockaddr *addr = multi ? nullptr : ptr<sockaddr>(s.addr);
	socklen_t *addrlen = multi ? nullptr : ptr<socklen_t>(s.off);
	int nfd, e = 0;
	do {
		NonBlocking nb(fd);
		nfd = accept4(fd, addr, addrlen, int(s.accept_flags));
		e = errno;
	} while (nfd < 0 && e == EINTR);
	if (nfd >= 0) {
		b.forget_fd(nfd); // a new file under that number
		return multi ? more(nfd) : done(nfd);
	}
	if (would_block(e)) {
		f->ready &= ~uint32_t(EPOLLIN);
		return again(EPOLLIN);
	}
	// EMFILE and the rest end even a multishot accept, as in the kernel:
	// no retry loop while no fd is free.
	return done(-e);
}

Step connect_step(Record &r, FdState *f) noexcept
{
	const io_uring_sqe &s = r.sqe;
	int fd = s.fd;
	if (r.flags & kRecConnecting) {
		if (!(f->ready & EPOLLOUT))
			return again(EPOLLOUT);
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return done(-errno);
		return done(-err);
	}
	int rc, e;
	{
		NonBlocking nb(fd);
		rc = connect(fd, ptr<const sockaddr>(s.addr), socklen_t(s.off));
		e = errno;
	}
	if (rc == 0)
		return done(0);
	if (e == EINPROGRESS || e == EINTR) {
		// Under way: writable once it ended, either way.
		r.flags |= kRecConnecting;
		f->ready &= ~uint32_t(EPOLLOUT);
		return again(EPOLLOUT);
	}
	if (would_block(e)) {
		// A Unix socket whose listener's backlog is full: no fd tells
		// when it has room, so a pool thread waits in connect(2), as
		// io_uring's workers do.
		return block();
	}
	return done(-e);
}

// Between pipes and sockets a non-blocking splice; with a regular file on
// one side it may block on the disk, so the pool does it.
Step splice_step(const io_uring_sqe &s) noexcept
{
	int in = s.splice_fd_in, out = s.fd;
	if (in < 0 || out < 0)
		return done(-EBADF);
	struct stat si, so;
	if (fstat(in, &si) < 0 || fstat(out, &so) < 0)
		return done(-errno);
	if (is_file(si) || is_file(so))
		return block();
	loff_t off_in = loff_t(s.splice_off_in), off_out = loff_t(s.off);
	bool has_in = int64_t(s.splice_off_in) != -1, has_out = int64_t(s.off) != -1;
	for (;;) {
		ssize_t n;
		int e;
		{
			NonBlocking a(S_ISSOCK(si.st_mode) ? in : -1);
			NonBlocking b(S_ISSOCK(so.st_mode) ? out : -1);
			n = splice(in, has_in ? &off_in : nullptr, out, has_out ? &off_out : nullptr, s.len,
				   s.splice_flags | SPLICE_F_NONBLOCK);
			e = errno;
		}
		if (n >= 0)
			return done(int32_t(n));
		if (e == EINTR)
			continue;
		if (!would_block(e))
			return done(-e);
		// Which side is not ready decides what to wait for.
		pollfd p[2] = {{in, POLLIN, 0}, {out, POLLOUT, 0}};
		if (poll(p, 2, 0) >= 0 && !(p[0].revents & (POLLIN | POLLERR | POLLHUP)))
			return again(EPOLLIN, in);
		return again(EPOLLOUT, out);
	}
}

} // namespace

Step attempt(Backend &b, Record &r) noexcept
{
	const io_uring_sqe &s = r.sqe;
	switch (s.opcode) {
	case IORING_OP_NOP:
		return done(0);
	case IORING_OP_SOCKET: {
		int fd = socket(int(s.fd), int(s.off), int(s.len));
		if (fd < 0)
			return done(-errno);
		b.forget_fd(fd);
		return done(fd);
	}
	case IORING_OP_SHUTDOWN:
		return done(shutdown(s.fd, int(s.len)) < 0 ? -errno : 0);
	case IORING_OP_SPLICE:
		return splice_step(s);
	default:
		break;
	}
	// The rest wait on their fd, and keep what they learn of it.
	if (s.fd < 0)
		return done(-EBADF);
	int err = 0;
	FdState *f = b.fd_state(s.fd, &err);
	if (!f)
		return done(err);
	switch (s.opcode) {
	case IORING_OP_POLL_ADD:
		return poll_step(s, f);
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_READV:
	case IORING_OP_WRITEV:
		return rw_step(r, f);
	case IORING_OP_RECV:
		return recv_step(b, r, f);
	case IORING_OP_SEND:
	case IORING_OP_SEND_ZC: // a plain send: its one CQE says the buffer is free
		return send_step(r, f);
	case IORING_OP_SENDMSG:
	case IORING_OP_RECVMSG:
		return msg_step(r, f);
	case IORING_OP_ACCEPT:
		return accept_step(b, r, f);
	case IORING_OP_CONNECT:
		return connect_step(r, f);
	default:
		return done(-EINVAL);
	}
}

} // namespace kio::epoll
