// SPDX-License-Identifier: MIT
// KIO_FAULTS: parsing the spec, and the injection points that live outside
// the loop (see core/faults.hpp for the kinds and what each one proves).
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "core/faults.hpp"
#include "core/guard.hpp"
#include "core/log.hpp"

namespace kio {

void FaultsDeleter::operator()(Faults *f) const noexcept
{
	delete f;
}

namespace {

// Contexts created with faults so far: each gets seed + its number, so two
// contexts of one program do not inject in lockstep, and a run repeats.
std::atomic<uint64_t> faulted_contexts{0};

constexpr uint64_t kNoSeed = 1;
constexpr uint64_t kRateOne = UINT64_MAX;

struct Spec {
	uint64_t seed = kNoSeed;
	uint64_t threshold = 0;
	double rate = 0.01;
	uint32_t kinds = kFaultAll;
};

struct KindName {
	const char *name;
	uint32_t bit;
};
constexpr KindName kKinds[] = {
	{"short", kFaultShort},   {"nomem", kFaultNomem}, {"eagain", kFaultEagain},
	{"eintr", kFaultEintr},   {"cancel", kFaultCancel}, {"delay", kFaultDelay},
	{"overflow", kFaultOverflow}, {"all", kFaultAll},
};

bool parse_u64(const char *s, size_t n, uint64_t *out) noexcept
{
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = uint64_t(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

// A rate in [0, 1] as digits with an optional fraction ("0.01", "1", ".5"),
// parsed by hand: strtod would follow the program's locale.
bool parse_rate(const char *s, size_t n, double *out) noexcept
{
	double v = 0, scale = 1;
	bool dot = false, digits = false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' && !dot) {
			dot = true;
		} else if (s[i] >= '0' && s[i] <= '9') {
			digits = true;
			if (dot) {
				scale /= 10;
				v += (s[i] - '0') * scale;
			} else {
				v = v * 10 + (s[i] - '0');
			}
		} else {
			return false;
		}
	}
	if (!digits || v > 1)
		return false;
	*out = v;
	return true;
}

uint32_t kind_bit(const char *s, size_t n) noexcept
{
	for (const KindName &k : kKinds)
		if (strlen(k.name) == n && memcmp(k.name, s, n) == 0)
			return k.bit;
	return 0;
}

// "seed=N,rate=R,kinds=K[,K...]" in any order; kinds may also be joined
// with '+'. A word without '=' continues the kinds list. Fields left out
// keep their defaults: seed 1, rate 0.01, all kinds.
bool parse(const char *v, Spec *spec) noexcept
{
	bool in_kinds = false;
	bool kinds_given = false;
	const char *p = v;
	while (*p) {
		const char *end = p + strcspn(p, ",+");
		if (end == p || (*end && !end[1]))
			return false; // an empty field: a typo, not a default
		const char *eq = static_cast<const char *>(memchr(p, '=', size_t(end - p)));
		const char *val = eq ? eq + 1 : p;
		size_t vlen = size_t(end - val);
		if (eq) {
			size_t klen = size_t(eq - p);
			in_kinds = false;
			if (klen == 4 && memcmp(p, "seed", 4) == 0) {
				if (!parse_u64(val, vlen, &spec->seed))
					return false;
			} else if (klen == 4 && memcmp(p, "rate", 4) == 0) {
				if (!parse_rate(val, vlen, &spec->rate))
					return false;
			} else if (klen == 5 && memcmp(p, "kinds", 5) == 0) {
				in_kinds = true;
				if (!kinds_given)
					spec->kinds = 0;
				kinds_given = true;
				uint32_t bit = kind_bit(val, vlen);
				if (!bit)
					return false;
				spec->kinds |= bit;
			} else {
				return false;
			}
		} else if (in_kinds) {
			uint32_t bit = kind_bit(val, vlen);
			if (!bit)
				return false;
			spec->kinds |= bit;
		} else {
			return false;
		}
		p = *end ? end + 1 : end;
	}
	if (spec->rate >= 1)
		spec->threshold = kRateOne;
	else
		spec->threshold = uint64_t(spec->rate * 18446744073709551616.0);
	return true;
}

void describe(uint32_t kinds, char *buf, size_t size) noexcept
{
	buf[0] = '\0';
	size_t used = 0;
	for (const KindName &k : kKinds) {
		if (k.bit == kFaultAll || !(kinds & k.bit))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", k.name);
		if (n < 0 || size_t(n) >= size - used)
			break;
		used += size_t(n);
	}
}

// Whether asking for fewer bytes on fd could lose or corrupt anything. A
// byte stream (pipe, FIFO, stream socket) or a regular file only delivers
// the rest on the next call; a datagram would be truncated, and the files
// of anon inodes (eventfd, timerfd, signalfd...) refuse short buffers.
bool may_shorten(int fd) noexcept
{
	ErrnoKeeper keep_errno;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return false;
	if (S_ISFIFO(st.st_mode))
		return true;
	if (S_ISSOCK(st.st_mode)) {
		int type = 0;
		socklen_t len = sizeof(type);
		return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
	}
	if (!S_ISREG(st.st_mode))
		return false;
	struct statfs fs;
	constexpr long kAnonInodeMagic = 0x09041934;
	if (fstatfs(fd, &fs) != 0 || long(fs.f_type) == kAnonInodeMagic)
		return false;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_DIRECT); // O_DIRECT wants aligned lengths
}

} // namespace

int faults_setup(kio_ctx *c, kio_ctx_opts *opts) noexcept
{
	const char *v = getenv("KIO_FAULTS");
	if (!v || !*v)
		return 0;
	Spec spec;
	if (!parse(v, &spec)) {
		log_printf(KIO_LOG_ERROR,
			   "KIO_FAULTS=\"%s\" is not a fault spec (seed=N,rate=0..1,kinds=short,nomem,"
			   "eagain,eintr,cancel,delay,overflow|all): kio_ctx_create fails with EINVAL",
			   v);
		return -EINVAL;
	}
	Faults *f = new (std::nothrow) Faults();
	if (!f)
		return -ENOMEM;
	uint64_t number = faulted_contexts.fetch_add(1, std::memory_order_relaxed);
	f->kinds = spec.kinds;
	f->threshold = spec.threshold;
	f->call_rng = spec.seed + number;
	// A different start for the loop's stream; next() mixes it well.
	f->loop_rng = (spec.seed + number) ^ 0x5bd1e9955bd1e995ull;
	c->faults.reset(f);
	if (spec.kinds & kFaultOverflow) {
		// A CQ that cannot hold one SQ's worth of completions plus kio's own
		// overflows under any batch: the kernel (or the epoll backend) keeps
		// the rest aside and the loop must fetch them.
		if (opts->sq_entries > kFaultRingEntries)
			opts->sq_entries = kFaultRingEntries;
		opts->cq_entries = opts->sq_entries;
	}
	char kinds[96];
	describe(spec.kinds, kinds, sizeof(kinds));
	log_printf(KIO_LOG_INFO, "KIO_FAULTS: context %llu injects %s at rate %g (seed %llu)",
		   (unsigned long long)number, kinds, spec.rate, (unsigned long long)spec.seed);
	return 0;
}

void faults_arm(kio_ctx *c) noexcept
{
	c->ring.force_slow_start();
}

void faults_started(kio_ctx *c, int64_t id) noexcept
{
	Faults &f = *c->faults;
	if (!f.at_call(kFaultCancel))
		return;
	try {
		f.cancels.push_back(id);
	} catch (...) {
		// An injection lost to memory exhaustion changes no result.
	}
}

void faults_prepped(kio_ctx *c, io_uring_sqe *sqe) noexcept
{
	Faults &f = *c->faults;
	if (!(f.kinds & kFaultShort))
		return;
	switch (sqe->opcode) {
	case IORING_OP_READ:
	case IORING_OP_WRITE:
	case IORING_OP_RECV:
	case IORING_OP_SEND:
		break;
	default:
		return;
	}
	if (sqe->len < 2 || (sqe->flags & (IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT)))
		return;
	// Drawn before the fd is looked at, so the sequence of draws depends
	// only on the sequence of calls.
	if (!f.at_call(kFaultShort))
		return;
	uint32_t len = 1 + uint32_t(f.call_below(sqe->len - 1));
	if (may_shorten(sqe->fd))
		sqe->len = len;
}

} // namespace kio
