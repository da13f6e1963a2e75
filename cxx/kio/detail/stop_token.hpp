// SPDX-License-Identifier: MIT
//
// kio/detail/stop_token.hpp - kio::StopSource, kio::StopToken,
// kio::StopCallback<F>: the stop tokens every .WithStopToken() takes.
//
// Where the standard library has them (libstdc++; libc++ with
// -fexperimental-library), these are the std:: types themselves:
//
//   using StopToken = std::stop_token;  (and so on)
//
// so a std::stop_token passes wherever kio takes a StopToken, and the
// signatures (and their mangled names) are exactly std::stop_token's.
// libc++ 19 ships <stop_token> behind -fexperimental-library only; without
// that flag this header supplies a small implementation with the same
// members the layer and its users need (request_stop, stop_requested,
// stop_possible, get_token, callbacks run on request_stop or at once when
// the stop already happened, a callback's destructor waits for it to finish
// on another thread). KIO_STD_STOP_TOKEN is 1 when the std:: types are used.
#ifndef KIO_DETAIL_STOP_TOKEN_HPP
#define KIO_DETAIL_STOP_TOKEN_HPP

#include "abi.hpp"

#include <version>

#if !defined(_LIBCPP_VERSION) || defined(__cpp_lib_jthread)
#define KIO_STD_STOP_TOKEN 1
#include <stop_token>

namespace kio {
inline namespace KIO_CXX_ABI {
using StopToken = std::stop_token;
using StopSource = std::stop_source;
template <class F>
using StopCallback = std::stop_callback<F>;
} // inline namespace KIO_CXX_ABI
} // namespace kio

#else
#define KIO_STD_STOP_TOKEN 0
#include <atomic>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <pthread.h>

namespace kio {
inline namespace KIO_CXX_ABI {
namespace detail {

struct StopCallbackBase {
	void (*invoke)(StopCallbackBase *) noexcept;
	StopCallbackBase *prev = nullptr;
	StopCallbackBase *next = nullptr;
	bool *destroyed = nullptr;     // set while running on request_stop's thread
	std::atomic<bool> done{false}; // the run that request_stop started ended
};

// One shared state: the references of tokens and sources, the number of
// sources, the stop flag and the list of registered callbacks, guarded by
// a spin lock (held for a few pointer moves, never while a callback runs).
class StopTokenState {
public:
	void AddRef() noexcept
	{
		refs_.fetch_add(1, std::memory_order_relaxed);
	}
	void Release() noexcept
	{
		if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
			delete this;
	}
	void AddSource() noexcept
	{
		sources_.fetch_add(1, std::memory_order_relaxed);
	}
	void RemoveSource() noexcept
	{
		sources_.fetch_sub(1, std::memory_order_acq_rel);
	}
	bool Requested() const noexcept
	{
		return stopped_.load(std::memory_order_acquire);
	}
	bool Possible() const noexcept
	{
		return Requested() || sources_.load(std::memory_order_acquire) > 0;
	}

	bool RequestStop() noexcept
	{
		Lock();
		if (stopped_.load(std::memory_order_relaxed)) {
			Unlock();
			return false;
		}
		stopped_.store(true, std::memory_order_release);
		requester_ = pthread_self();
		while (head_) {
			StopCallbackBase *cb = head_;
			head_ = cb->next;
			if (head_)
				head_->prev = nullptr;
			cb->prev = cb->next = nullptr;
			running_ = cb;
			bool destroyed = false;
			cb->destroyed = &destroyed;
			Unlock();
			cb->invoke(cb);
			Lock();
			running_ = nullptr;
			if (!destroyed) {
				cb->destroyed = nullptr;
				cb->done.store(true, std::memory_order_release);
				cb->done.notify_all();
			}
		}
		Unlock();
		return true;
	}

	// False when the stop already happened: the caller runs cb itself.
	bool Add(StopCallbackBase *cb) noexcept
	{
		Lock();
		if (stopped_.load(std::memory_order_relaxed)) {
			Unlock();
			return false;
		}
		cb->next = head_;
		if (head_)
			head_->prev = cb;
		head_ = cb;
		Unlock();
		return true;
	}

	void Remove(StopCallbackBase *cb) noexcept
	{
		Lock();
		if (cb->prev || head_ == cb) {
			if (cb->prev)
				cb->prev->next = cb->next;
			else
				head_ = cb->next;
			if (cb->next)
				cb->next->prev = cb->prev;
			Unlock();
			return;
		}
		const bool running = running_ == cb;
		if (running && pthread_equal(requester_, pthread_self())) {
			// Destroyed by its own callback: request_stop must not touch it.
			*cb->destroyed = true;
			Unlock();
			return;
		}
		Unlock();
		if (running)
			while (!cb->done.load(std::memory_order_acquire))
				cb->done.wait(false, std::memory_order_acquire);
	}

private:
	void Lock() noexcept
	{
		while (lock_.test_and_set(std::memory_order_acquire))
			lock_.wait(true, std::memory_order_relaxed);
	}
	void Unlock() noexcept
	{
		lock_.clear(std::memory_order_release);
		lock_.notify_one();
	}

	std::atomic<std::size_t> refs_{1};
	std::atomic<std::size_t> sources_{0};
	std::atomic<bool> stopped_{false};
	std::atomic_flag lock_{};
	StopCallbackBase *head_ = nullptr;    // guarded by lock_
	StopCallbackBase *running_ = nullptr; // guarded by lock_
	pthread_t requester_{};               // guarded by lock_
};

} // namespace detail

class StopSource;
template <class F>
class StopCallback;

class StopToken {
public:
	StopToken() noexcept = default;
	StopToken(const StopToken &o) noexcept
		: s_(o.s_)
	{
		if (s_)
			s_->AddRef();
	}
	StopToken(StopToken &&o) noexcept
		: s_(std::exchange(o.s_, nullptr))
	{
	}
	StopToken &operator=(StopToken o) noexcept
	{
		swap(o);
		return *this;
	}
	~StopToken()
	{
		if (s_)
			s_->Release();
	}

	[[nodiscard]] bool stop_requested() const noexcept
	{
		return s_ && s_->Requested();
	}
	[[nodiscard]] bool stop_possible() const noexcept
	{
		return s_ && s_->Possible();
	}
	void swap(StopToken &o) noexcept
	{
		std::swap(s_, o.s_);
	}
	friend void swap(StopToken &a, StopToken &b) noexcept
	{
		a.swap(b);
	}
	friend bool operator==(const StopToken &a, const StopToken &b) noexcept
	{
		return a.s_ == b.s_;
	}

private:
	friend class StopSource;
	template <class F>
	friend class StopCallback;
	explicit StopToken(detail::StopTokenState *s) noexcept
		: s_(s)
	{
		if (s_)
			s_->AddRef();
	}
	detail::StopTokenState *s_ = nullptr;
};

struct NoStopTokenState {
	explicit NoStopTokenState() = default;
};

class StopSource {
public:
	StopSource()
		: s_(new detail::StopTokenState)
	{
		s_->AddSource();
	}
	explicit StopSource(NoStopTokenState) noexcept
	{
	}
	StopSource(const StopSource &o) noexcept
		: s_(o.s_)
	{
		if (s_) {
			s_->AddRef();
			s_->AddSource();
		}
	}
	StopSource(StopSource &&o) noexcept
		: s_(std::exchange(o.s_, nullptr))
	{
	}
	StopSource &operator=(StopSource o) noexcept
	{
		swap(o);
		return *this;
	}
	~StopSource()
	{
		if (s_) {
			s_->RemoveSource();
			s_->Release();
		}
	}

	bool request_stop() noexcept
	{
		return s_ && s_->RequestStop();
	}
	[[nodiscard]] StopToken get_token() const noexcept
	{
		return StopToken(s_);
	}
	[[nodiscard]] bool stop_requested() const noexcept
	{
		return s_ && s_->Requested();
	}
	[[nodiscard]] bool stop_possible() const noexcept
	{
		return s_ != nullptr;
	}
	void swap(StopSource &o) noexcept
	{
		std::swap(s_, o.s_);
	}
	friend void swap(StopSource &a, StopSource &b) noexcept
	{
		a.swap(b);
	}
	friend bool operator==(const StopSource &a, const StopSource &b) noexcept
	{
		return a.s_ == b.s_;
	}

private:
	detail::StopTokenState *s_ = nullptr;
};

template <class F>
class StopCallback : private detail::StopCallbackBase {
public:
	using callback_type = F;

	template <class C>
		requires std::is_constructible_v<F, C>
	explicit StopCallback(const StopToken &st, C &&fn) noexcept(
		std::is_nothrow_constructible_v<F, C>)
		: fn_(std::forward<C>(fn))
	{
		Register(st.s_);
	}
	template <class C>
		requires std::is_constructible_v<F, C>
	explicit StopCallback(StopToken &&st, C &&fn) noexcept(
		std::is_nothrow_constructible_v<F, C>)
		: fn_(std::forward<C>(fn))
	{
		Register(st.s_);
	}
	StopCallback(const StopCallback &) = delete;
	StopCallback &operator=(const StopCallback &) = delete;
	~StopCallback()
	{
		if (s_) {
			s_->Remove(this);
			s_->Release();
		}
	}

private:
	void Register(detail::StopTokenState *s) noexcept
	{
		invoke = [](detail::StopCallbackBase *b) noexcept {
			std::move(static_cast<StopCallback *>(b)->fn_)();
		};
		if (!s || !s->Possible())
			return;
		if (s->Add(this)) {
			s->AddRef();
			s_ = s;
		} else {
			std::move(fn_)();
		}
	}

	F fn_;
	detail::StopTokenState *s_ = nullptr;
};

template <class F>
StopCallback(StopToken, F) -> StopCallback<F>;

} // inline namespace KIO_CXX_ABI
} // namespace kio
#endif

#endif // KIO_DETAIL_STOP_TOKEN_HPP
