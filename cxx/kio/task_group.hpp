// SPDX-License-Identifier: MIT
//
// kio/task_group.hpp - TaskGroup: run many Tasks concurrently on one loop
// and wait for all of them.
//
//   TaskGroup g;
//   g.Spawn(F(ctx));                 // starts F now (until it first suspends)
//   g.SpawnAll(A(ctx), B(ctx), ...);
//   co_await g.JoinAll(ctx);         // until every spawned task finished
//   bool all = co_await g.JoinAllTimeout(ctx, 30s);  // false: time ran out
//   g.Size();                        // tasks still running
//
// The reference library's shapes, kept as additions:
//   TaskGroup<> g(1024);             // a capacity hint (also TaskGroup g(n))
//   g.ActiveCount();                 // = Size()
//   g.Sweep();                       // frees finished tasks: always 0 here
//   g.SetSweepInterval(n);           // accepted; nothing to sweep
// TaskGroup is a class template whose argument (default void) only names
// the group's type: Spawn() takes a Task of any value type. `TaskGroup g;`
// deduces TaskGroup<void>; as a parameter or member type write
// TaskGroup<> (or TaskGroup<void>).
//
// A finished task's frame is freed at once, so a server may Spawn one task
// per connection forever. Values returned by spawned tasks are discarded.
//
// Exceptions: a spawned task that throws does not disturb the others. The
// first exception is kept and rethrown by the JoinAll()/JoinAllTimeout()
// that sees the group empty (once: the group is then clean again); any
// further exception, and one never collected by a join, is written to
// kio's log (kio_log_write, KIO_LOG_ERROR) so none is lost silently.
//
// One JoinAll at a time per group. Spawn and join on the loop's thread.
// Destroying a group with tasks still running detaches them (task.hpp):
// they run on and free themselves.
#ifndef KIO_CXX_TASK_GROUP_HPP
#define KIO_CXX_TASK_GROUP_HPP

#include "detail/abi.hpp"

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <utility>

#include <kio/kio.h>

#include "io_context.hpp"
#include "task.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

template <class T = void>
class TaskGroup {
	class JoinAwaiter;

public:
	TaskGroup() noexcept = default;
	// The reference's capacity hint. Tasks are linked through their own
	// frames, so there is nothing to reserve: any number fits.
	explicit TaskGroup(std::size_t capacity_hint) noexcept
	{
		(void)capacity_hint;
	}
	TaskGroup(const TaskGroup &) = delete;
	TaskGroup &operator=(const TaskGroup &) = delete;

	~TaskGroup()
	{
		while (head_) {
			detail::PromiseBase *p = head_;
			Unlink(p);
			p->on_done = nullptr;
			p->owner = nullptr;
			detail::ReleaseFrame(*p, p->self);
		}
		if (first_error_)
			detail::ReportLostException(first_error_,
						    "a TaskGroup task (never joined)");
	}

	template <class U>
	void Spawn(Task<U> task)
	{
		if (!task)
			return;
		auto h = task.Handle();
		if (h.promise().started)
			KIO_CXX_THROW(
				std::logic_error("kio::TaskGroup::Spawn: Task already started"));
		detail::PromiseBase &p = h.promise();
		p.on_done = &TaskGroup::OnDone;
		p.on_done_arg = &p;
		p.owner = this;
		Link(&p);
		(void)task.Release(); // the group owns the frame now
		h.resume();
	}

	template <class... U>
	void SpawnAll(Task<U>... tasks)
	{
		(Spawn(std::move(tasks)), ...);
	}

	std::size_t Size() const noexcept
	{
		return size_;
	}

	// The reference's names. A finished task leaves the group the moment it
	// finishes, so every task counted is active and a sweep finds nothing
	// to free; the interval is kept only so it reads back.
	std::size_t ActiveCount() const noexcept
	{
		return size_;
	}
	std::size_t Sweep() noexcept
	{
		return 0;
	}
	void SetSweepInterval(std::size_t spawns) noexcept
	{
		sweep_interval_ = spawns;
	}
	std::size_t SweepInterval() const noexcept
	{
		return sweep_interval_;
	}

	[[nodiscard]] JoinAwaiter JoinAll(IoContext &ctx) noexcept;
	template <class Rep, class Period>
	[[nodiscard]] JoinAwaiter JoinAllTimeout(IoContext &ctx,
						 std::chrono::duration<Rep, Period> d) noexcept;

private:
	// Awaits the group becoming empty, optionally racing a kio_sleep op.
	// The coroutine resumes only from the timer's callback when a timer was
	// started, so the op never outlives the frame it points into.
	class JoinAwaiter {
	public:
		JoinAwaiter(TaskGroup *g, kio_ctx *ctx, bool timed, uint64_t ns) noexcept
			: g_(g)
			, ctx_(ctx)
			, timed_(timed)
			, ns_(ns)
		{
		}
		bool await_ready() const noexcept
		{
			return g_->size_ == 0;
		}
		bool await_suspend(std::coroutine_handle<> h)
		{
			if (g_->join_)
				KIO_CXX_THROW(std::logic_error(
					"kio::TaskGroup: JoinAll already waiting"));
			waiter_ = h;
			if (timed_) {
				int64_t id = kio_sleep(ctx_, ns_, &OnTimer, this);
				if (id < 0)
					KIO_CXX_THROW(
						std::system_error(ErrorFromNeg(id), "kio_sleep"));
				timer_ = id;
			}
			g_->join_ = this;
			return true;
		}
		bool await_resume()
		{
			if (!timed_out_ && g_->first_error_)
				std::rethrow_exception(std::exchange(g_->first_error_, nullptr));
			return !timed_out_;
		}

		// The group became empty. Returns the coroutine to run next.
		std::coroutine_handle<> OnEmpty() noexcept
		{
			g_->join_ = nullptr;
			if (timer_ >= 0) {
				kio_op_cancel(ctx_, timer_); // OnTimer resumes us
				return std::noop_coroutine();
			}
			return waiter_;
		}

	private:
		static void OnTimer(void *ud, int32_t res, uint32_t) noexcept
		{
			auto *self = static_cast<JoinAwaiter *>(ud);
			self->timer_ = -1;
			if (self->g_->join_ == self) {
				// Time ran out first (or the timer was cancelled from
				// outside): stop waiting for the group.
				self->g_->join_ = nullptr;
				self->timed_out_ = res == 0 || self->g_->size_ > 0;
			}
			if (detail::IsClosing(self->ctx_))
				return;
			self->waiter_.resume();
		}

		TaskGroup *g_;
		kio_ctx *ctx_;
		std::coroutine_handle<> waiter_{};
		int64_t timer_ = -1;
		bool timed_;
		bool timed_out_ = false;
		uint64_t ns_;
	};

	static std::coroutine_handle<> OnDone(void *arg) noexcept
	{
		auto *p = static_cast<detail::PromiseBase *>(arg);
		auto *g = static_cast<TaskGroup *>(p->owner);
		g->Unlink(p);
		if (p->exception) {
			if (!g->first_error_)
				g->first_error_ = std::move(p->exception);
			else
				detail::ReportLostException(p->exception, "a TaskGroup task");
		}
		p->self.destroy();
		if (g->size_ == 0 && g->join_)
			return g->join_->OnEmpty();
		return std::noop_coroutine();
	}

	void Link(detail::PromiseBase *p) noexcept
	{
		p->prev = nullptr;
		p->next = head_;
		if (head_)
			head_->prev = p;
		head_ = p;
		size_++;
	}
	void Unlink(detail::PromiseBase *p) noexcept
	{
		if (p->prev)
			p->prev->next = p->next;
		else
			head_ = p->next;
		if (p->next)
			p->next->prev = p->prev;
		p->prev = p->next = nullptr;
		size_--;
	}

	detail::PromiseBase *head_ = nullptr;
	std::size_t size_ = 0;
	JoinAwaiter *join_ = nullptr;
	std::exception_ptr first_error_{};
	std::size_t sweep_interval_ = 0;
};

TaskGroup() -> TaskGroup<void>;
TaskGroup(std::size_t) -> TaskGroup<void>;

template <class T>
inline typename TaskGroup<T>::JoinAwaiter TaskGroup<T>::JoinAll(IoContext &ctx) noexcept
{
	return JoinAwaiter(this, ctx.Native(), false, 0);
}

template <class T>
template <class Rep, class Period>
inline typename TaskGroup<T>::JoinAwaiter
TaskGroup<T>::JoinAllTimeout(IoContext &ctx, std::chrono::duration<Rep, Period> d) noexcept
{
	return JoinAwaiter(this, ctx.Native(), true,
			   detail::ToNs(std::chrono::ceil<std::chrono::nanoseconds>(d)));
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_TASK_GROUP_HPP
