// SPDX-License-Identifier: MIT
//
// kio/log.hpp - ALOG_DEBUG .. ALOG_FATAL: "{}"-formatted messages onto kio's
// C log (kio/log.h), which queues them without blocking and hands them to
// its handler on a background thread.
//
//   ALOG_INFO("connection from {}:{}", addr.ToString(), port);
//
// Format: each "{}" takes the next argument. "{{" and "}}" print one brace.
// Between the braces an optional spec after ':' is understood for a few
// cases: "{:x}" / "{:X}" hexadecimal integers, "{:.N}" N digits after the
// point for floating-point values; any other spec is ignored (the value is
// printed as with "{}"). Positional indexes ("{0}") are not supported: the
// digits count as an ignored spec. Mismatches never fail and never read
// past the arguments:
//   - too few arguments: each placeholder without one is printed as is
//     ("{}" or "{:x}");
//   - too many arguments: the extra ones are appended, each after a space;
//   - a '{' without a closing '}' and a lone '}' are printed as they are.
// Arguments: integers, bool ("true"/"false"), char, floating point (the
// shortest form that reads back exactly), const char* (nullptr prints
// "(null)"), std::string, std::string_view, pointers (0x...), enums (their
// number), std::error_code (its message), and as a fallback anything with
// an operator<< for std::ostream (that one path allocates).
//
// The message is built in a stack buffer of KIO_LOG_MAX_MESSAGE bytes; a
// longer one is cut there and ends with "...". No allocation otherwise.
//
// Levels. Run time: kio_log_set_level() / alog::SetLevel(); a message
// below the level is not formatted and its arguments are not evaluated.
// Build time: define KIO_LOG_BUILD_LEVEL (0 debug, 1 info, 2 warn, 3 error;
// the reference spelling LOG_BUILD_LEVEL is honoured when
// KIO_LOG_BUILD_LEVEL is not set) and the macros below that level compile
// to nothing (their arguments are still type-checked, never evaluated).
// ALOG_FATAL is never compiled out.
//
// ALOG_FATAL is for states the program cannot continue from: it queues
// the message, waits up to one second for the log thread to hand it to the
// handler (kio_log_flush), and calls std::abort(). It does not return.
//
// The default run-time level is WARN (kio_log_set_level(3)): debug and
// info messages print nothing until the program lowers it, for example
// with `alog::g_level = alog::Level::Info;` or KIO_LOG_LEVEL=info in the
// environment.
//
// The reference library's spellings are here too, as additions:
//   alog::debug/info/warn/error(fmt, args...)  the ALOG_ macros as
//       functions: filtered by LOG_BUILD_LEVEL at compile time (the call
//       compiles to nothing) and by the level at run time; arguments are
//       evaluated (a function's arguments always are).
//   alog::start(fd = STDERR_FILENO)  messages go to fd from now on (kio's
//       log thread starts by itself on the first message; start() with
//       stderr changes nothing, so a handler set earlier stays).
//   alog::stop()  waits until every message queued so far was written
//       (kio_log_flush, up to one second); later messages still print.
//   alog::Level::Disabled  nothing from this header prints (ALOG_FATAL
//       still aborts); g_level.store()/load() as on the reference's atomic.
//   alog::dropped_count()  Dropped().
#ifndef KIO_LOG_HPP
#define KIO_LOG_HPP

#include "detail/abi.hpp"

#include <kio/kio.h>

#include <atomic>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <sys/uio.h>
#include <unistd.h>

#ifndef KIO_LOG_BUILD_LEVEL
#ifdef LOG_BUILD_LEVEL
#define KIO_LOG_BUILD_LEVEL LOG_BUILD_LEVEL
#else
#define KIO_LOG_BUILD_LEVEL 0
#endif
#endif

namespace kio::inline KIO_CXX_ABI::alog {

enum class Level : int {
	Debug = KIO_LOG_DEBUG,
	Info = KIO_LOG_INFO,
	Warn = KIO_LOG_WARN,
	Error = KIO_LOG_ERROR,
	Fatal = KIO_LOG_FATAL,
	// Above every level: nothing logged through this header prints. The C
	// log has no such level, so kio's filter is set to FATAL and this
	// header remembers the rest.
	Disabled = KIO_LOG_FATAL + 1,
};

namespace detail {
inline std::atomic<bool> g_disabled{false};
} // namespace detail

// The run-time filter of the whole process (kio's own messages too).
inline void SetLevel(Level level) noexcept
{
	const bool off = level == Level::Disabled;
	detail::g_disabled.store(off, std::memory_order_relaxed);
	kio_log_set_level(off ? KIO_LOG_FATAL : static_cast<int>(level));
}

inline Level GetLevel() noexcept
{
	const int level = kio_log_level();
	if (level == KIO_LOG_FATAL && detail::g_disabled.load(std::memory_order_relaxed))
		return Level::Disabled;
	return static_cast<Level>(level);
}

// Whether a message of level would be kept right now.
inline bool Enabled(Level level) noexcept
{
	return static_cast<int>(level) >= kio_log_level() &&
	       !detail::g_disabled.load(std::memory_order_relaxed);
}

// The reference API's configuration variables, so code written for it
// compiles: `alog::g_level = alog::Level::Info;` sets the process-wide
// level (kio_log_set_level) and reading g_level gives the current one.
// g_colors is accepted and has no effect: kio's default sink writes plain
// "kio: LEVEL: message" lines (install a handler for anything else).
struct LevelSetting {
	LevelSetting &operator=(Level level) noexcept
	{
		SetLevel(level);
		return *this;
	}
	operator Level() const noexcept
	{
		return GetLevel();
	}
	// The reference declared g_level a std::atomic<Level>.
	void store(Level level, std::memory_order = std::memory_order_seq_cst) noexcept
	{
		SetLevel(level);
	}
	Level load(std::memory_order = std::memory_order_seq_cst) const noexcept
	{
		return GetLevel();
	}
};
inline LevelSetting g_level;
inline std::atomic<bool> g_colors{false};

// Messages dropped because the log queue was full.
inline uint64_t Dropped() noexcept
{
	return kio_log_dropped();
}

// The reference library's spelling of Dropped().
inline uint64_t dropped_count() noexcept
{
	return kio_log_dropped();
}

// Waits until everything queued so far reached the handler (see
// kio_log_flush). Returns false on timeout.
inline bool Flush(uint64_t timeout_ns = 1'000'000'000) noexcept
{
	return kio_log_flush(timeout_ns) == 0;
}

// A fixed buffer the formatter writes into; remembers whether it was cut.
class Sink {
public:
	Sink(char *buf, std::size_t cap) noexcept
		: buf_(buf)
		, cap_(cap)
	{
	}

	void Put(std::string_view s) noexcept
	{
		const std::size_t room = cap_ - len_;
		if (s.size() > room) {
			truncated_ = true;
			s = s.substr(0, room);
		}
		std::memcpy(buf_ + len_, s.data(), s.size());
		len_ += s.size();
	}

	void Put(char c) noexcept
	{
		Put(std::string_view(&c, 1));
	}

	std::size_t Size() const noexcept
	{
		return len_;
	}

	bool Truncated() const noexcept
	{
		return truncated_;
	}

	// Marks a cut message by ending it with "...".
	void MarkTruncation() noexcept
	{
		if (!truncated_ || cap_ < 3)
			return;
		len_ = cap_;
		std::memcpy(buf_ + cap_ - 3, "...", 3);
	}

private:
	char *buf_;
	std::size_t cap_;
	std::size_t len_ = 0;
	bool truncated_ = false;
};

// What the text between the braces asked for.
struct Spec {
	bool hex = false;
	bool upper = false;
	int precision = -1;
};

namespace detail {

template <typename T>
concept Streamable = requires(std::ostream &os, const T &v)
{
	os << v;
};

inline Spec ParseSpec(std::string_view inside) noexcept
{
	Spec spec;
	const auto colon = inside.find(':');
	if (colon == std::string_view::npos)
		return spec;
	std::string_view s = inside.substr(colon + 1);
	if (!s.empty() && s[0] == '.') {
		int digits = 0;
		std::size_t i = 1;
		for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 100; i++)
			digits = digits * 10 + (s[i] - '0');
		if (i > 1)
			spec.precision = digits;
		s = s.substr(i);
	}
	if (!s.empty() && (s.back() == 'x' || s.back() == 'X')) {
		spec.hex = true;
		spec.upper = s.back() == 'X';
	}
	return spec;
}

template <typename I>
void PutInteger(Sink &out, I value, const Spec &spec) noexcept
{
	char tmp[72];
	auto r = std::to_chars(tmp, tmp + sizeof(tmp), value, spec.hex ? 16 : 10);
	if (spec.upper) {
		for (char *p = tmp; p != r.ptr; p++) {
			if (*p >= 'a' && *p <= 'f')
				*p = static_cast<char>(*p - 'a' + 'A');
		}
	}
	out.Put(std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp)));
}

template <typename F>
void PutFloating(Sink &out, F value, const Spec &spec) noexcept
{
	char tmp[128];
	std::to_chars_result r;
	if (spec.precision >= 0)
		r = std::to_chars(tmp, tmp + sizeof(tmp), value, std::chars_format::fixed,
				  spec.precision);
	else
		r = std::to_chars(tmp, tmp + sizeof(tmp), value);
	if (r.ec != std::errc())
		r = std::to_chars(tmp, tmp + sizeof(tmp), value, std::chars_format::scientific);
	if (r.ec != std::errc()) {
		out.Put("?");
		return;
	}
	out.Put(std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp)));
}

inline void PutPointer(Sink &out, const void *p) noexcept
{
	out.Put("0x");
	PutInteger(out, reinterpret_cast<std::uintptr_t>(p), Spec{.hex = true});
}

} // namespace detail

// Prints one argument. Overload set rather than a customisation point:
// the fallback for other types is operator<<.
template <typename T>
void FormatArg(Sink &out, const T &value, const Spec &spec)
{
	using U = std::remove_cvref_t<T>;
	if constexpr (std::is_same_v<U, bool>) {
		out.Put(value ? "true" : "false");
	} else if constexpr (std::is_same_v<U, char>) {
		if (spec.hex)
			detail::PutInteger(out, static_cast<unsigned char>(value), spec);
		else
			out.Put(value);
	} else if constexpr (std::is_integral_v<U>) {
		detail::PutInteger(out, value, spec);
	} else if constexpr (std::is_enum_v<U>) {
		detail::PutInteger(out, static_cast<std::underlying_type_t<U>>(value), spec);
	} else if constexpr (std::is_floating_point_v<U>) {
		detail::PutFloating(out, value, spec);
	} else if constexpr (std::is_same_v<U, const char *> || std::is_same_v<U, char *>) {
		out.Put(value ? std::string_view(value) : std::string_view("(null)"));
	} else if constexpr (std::is_same_v<U, std::nullptr_t>) {
		out.Put("nullptr");
	} else if constexpr (std::is_convertible_v<const U &, std::string_view>) {
		out.Put(std::string_view(value));
	} else if constexpr (std::is_pointer_v<U>) {
		detail::PutPointer(out, static_cast<const void *>(value));
	} else if constexpr (std::is_same_v<U, std::error_code>) {
		out.Put(value.message());
	} else if constexpr (detail::Streamable<U>) {
		std::ostringstream os;
		os << value;
		out.Put(os.view());
	} else {
		static_assert(detail::Streamable<U>, "ALOG: no way to print this argument type; "
						     "give it an operator<< for std::ostream");
	}
}

namespace detail {

// Copies literal text up to the next placeholder, unescaping "{{" and
// "}}". Returns the placeholder's inside (without braces) and moves fmt
// past it; returns false when the format has no placeholder left.
inline bool NextPlaceholder(Sink &out, std::string_view &fmt, std::string_view &inside) noexcept
{
	while (!fmt.empty()) {
		const auto at = fmt.find_first_of("{}");
		if (at == std::string_view::npos) {
			out.Put(fmt);
			fmt = {};
			return false;
		}
		out.Put(fmt.substr(0, at));
		const char c = fmt[at];
		if (at + 1 < fmt.size() && fmt[at + 1] == c) {
			out.Put(c);
			fmt.remove_prefix(at + 2);
			continue;
		}
		if (c == '}') {
			out.Put(c);
			fmt.remove_prefix(at + 1);
			continue;
		}
		const auto close = fmt.find('}', at + 1);
		if (close == std::string_view::npos) {
			out.Put(fmt.substr(at));
			fmt = {};
			return false;
		}
		inside = fmt.substr(at + 1, close - at - 1);
		fmt.remove_prefix(close + 1);
		return true;
	}
	return false;
}

inline void FormatRest(Sink &out, std::string_view fmt)
{
	std::string_view inside;
	while (NextPlaceholder(out, fmt, inside)) {
		out.Put('{');
		out.Put(inside);
		out.Put('}');
	}
}

template <typename T, typename... Rest>
void FormatRest(Sink &out, std::string_view fmt, const T &first, const Rest &...rest)
{
	std::string_view inside;
	if (NextPlaceholder(out, fmt, inside)) {
		FormatArg(out, first, ParseSpec(inside));
		FormatRest(out, fmt, rest...);
		return;
	}
	// Out of placeholders: the remaining arguments go after a space each.
	out.Put(' ');
	FormatArg(out, first, Spec{});
	(
		[&] {
			out.Put(' ');
			FormatArg(out, rest, Spec{});
		}(),
		...);
}

} // namespace detail

// Formats into buf[0..cap) (no NUL added) and returns the length used. A
// message longer than cap is cut and ends with "...".
template <typename... Args>
std::size_t FormatTo(char *buf, std::size_t cap, std::string_view fmt, const Args &...args)
{
	Sink out(buf, cap);
	detail::FormatRest(out, fmt, args...);
	out.MarkTruncation();
	return out.Size();
}

// Formats into a std::string (tests, and callers that want the text).
template <typename... Args>
std::string Format(std::string_view fmt, const Args &...args)
{
	char buf[KIO_LOG_MAX_MESSAGE];
	return std::string(buf, FormatTo(buf, sizeof(buf), fmt, args...));
}

// Formats on the stack and queues the message (no level check here: the
// ALOG_ macros check first so filtered messages cost nothing).
template <typename... Args>
void Write(Level level, std::string_view fmt, const Args &...args)
{
	char buf[KIO_LOG_MAX_MESSAGE];
	const std::size_t len = FormatTo(buf, sizeof(buf), fmt, args...);
	kio_log_write(static_cast<int>(level), buf, len);
}

// ALOG_FATAL's end: the message reaches the handler (or a second passes),
// then the process aborts.
template <typename... Args>
[[noreturn]] void Fatal(std::string_view fmt, const Args &...args)
{
	if (Enabled(Level::Fatal))
		Write(Level::Fatal, fmt, args...);
	kio_log_flush(1'000'000'000);
	std::abort();
}

// A message at L: nothing at all below KIO_LOG_BUILD_LEVEL, else checked
// against the run-time level before it is formatted.
template <Level L, typename... Args>
void LogAt(std::string_view fmt, const Args &...args)
{
	if constexpr (static_cast<int>(L) >= KIO_LOG_BUILD_LEVEL) {
		if (Enabled(L))
			Write(L, fmt, args...);
	}
}

// The reference library's function spellings of ALOG_DEBUG..ALOG_ERROR.
template <typename... Args>
void debug(std::string_view fmt, const Args &...args)
{
	LogAt<Level::Debug>(fmt, args...);
}
template <typename... Args>
void info(std::string_view fmt, const Args &...args)
{
	LogAt<Level::Info>(fmt, args...);
}
template <typename... Args>
void warn(std::string_view fmt, const Args &...args)
{
	LogAt<Level::Warn>(fmt, args...);
}
template <typename... Args>
void error(std::string_view fmt, const Args &...args)
{
	LogAt<Level::Error>(fmt, args...);
}

namespace detail {

// start(fd)'s handler: "kio: LEVEL: message" lines, as the default sink
// writes them on stderr, in one writev(2) per message.
inline void FdSink(void *user_data, int level, const char *msg, std::size_t len) noexcept
{
	static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
	const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(user_data));
	const char *name = names[level < 0 ? 0 : level > 4 ? 4 : level];
	iovec iov[5] = {{const_cast<char *>("kio: "), 5},
			{const_cast<char *>(name), std::strlen(name)},
			{const_cast<char *>(": "), 2},
			{const_cast<char *>(msg), len},
			{const_cast<char *>("\n"), 1}};
	std::size_t left = 0;
	for (const iovec &v : iov)
		left += v.iov_len;
	// A short write is rare here (pipes and files take a line at once):
	// finish with plain writes rather than losing the tail.
	ssize_t w = ::writev(fd, iov, 5);
	if (w < 0 || static_cast<std::size_t>(w) == left)
		return;
	std::size_t skip = static_cast<std::size_t>(w);
	for (iovec &v : iov) {
		const char *p = static_cast<const char *>(v.iov_base);
		std::size_t n = v.iov_len;
		if (skip >= n) {
			skip -= n;
			continue;
		}
		p += skip;
		n -= skip;
		skip = 0;
		while (n > 0) {
			ssize_t r = ::write(fd, p, n);
			if (r <= 0)
				return;
			p += r;
			n -= static_cast<std::size_t>(r);
		}
	}
}

} // namespace detail

// Messages go to out_fd from now on (the caller keeps it open). kio's log
// thread needs no starting; with stderr, the default, nothing changes, so
// a handler installed with kio_log_set_handler() stays in place.
inline void start(int out_fd = STDERR_FILENO) noexcept
{
	if (out_fd == STDERR_FILENO || out_fd < 0)
		return;
	kio_log_set_handler(&detail::FdSink,
			    reinterpret_cast<void *>(static_cast<std::intptr_t>(out_fd)));
}

// Every message queued so far has reached its handler when this returns
// (or a second passed). Messages logged afterwards still print: kio's log
// lives until the process exits.
inline void stop() noexcept
{
	kio_log_flush(1'000'000'000);
}

} // namespace kio::inline KIO_CXX_ABI::alog

// A level below KIO_LOG_BUILD_LEVEL leaves "if (false)": the arguments are
// still type-checked but never evaluated, and no code is emitted.
#define KIO_ALOG_AT_(level, ...)                                                                   \
	do {                                                                                       \
		if (KIO_LOG_BUILD_LEVEL <= static_cast<int>(level) && ::kio::alog::Enabled(level)) \
			::kio::alog::Write(level, __VA_ARGS__);                                    \
	} while (0)

#define ALOG_DEBUG(...) KIO_ALOG_AT_(::kio::alog::Level::Debug, __VA_ARGS__)
#define ALOG_INFO(...) KIO_ALOG_AT_(::kio::alog::Level::Info, __VA_ARGS__)
#define ALOG_WARN(...) KIO_ALOG_AT_(::kio::alog::Level::Warn, __VA_ARGS__)
#define ALOG_ERROR(...) KIO_ALOG_AT_(::kio::alog::Level::Error, __VA_ARGS__)
#define ALOG_FATAL(...) ::kio::alog::Fatal(__VA_ARGS__)

#endif // KIO_LOG_HPP
