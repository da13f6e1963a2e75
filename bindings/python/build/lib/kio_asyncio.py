# SPDX-License-Identifier: MIT
"""kio inside an asyncio event loop.

``KioLoop`` watches ``kio_ctx_fd`` with ``loop.add_reader`` and runs
``kio_ctx_run_once(ctx, 0)`` whenever it is readable, so kio's completions
and timers are driven by asyncio (no thread, no polling). Its methods turn
kio ops into awaitables::

    async with KioLoop() as kl:
        fd = await kl.openat('data.bin', os.O_RDONLY)
        n = await kl.read(fd, buf, offset=0, timeout=1.0)   # OSError(ETIMEDOUT)
        await kl.close(fd)

Errors raise ``OSError``. ``timeout=`` (seconds) arms ``kio_op_timeout``.
Arguments are checked as kio.Context checks them (see kio.py), the timeout
too, before the op starts: a call that raises ValueError, TypeError or
OverflowError has started nothing.
Cancelling the awaiting task cancels the kio op (``kio_op_cancel``): the task
sees ``CancelledError`` at once, while the op, its buffer and its record stay
alive until kio's callback ran (``inflight()`` counts them, ``drain()`` waits
for them). An fd that an open, socket or accept produced after its task was
cancelled is closed, not leaked.

A KioLoop and its ctx are used only on the loop's thread; from other threads
use ``loop.call_soon_threadsafe`` (or ``Context.post``).
"""
import asyncio
import errno
import os
import threading

import kio

__all__ = ['KioLoop']


def _consume(fut):
    # The awaiting task is gone; mark the outcome as seen.
    if not fut.cancelled():
        fut.exception()


def _close_orphan(fd):
    try:
        os.close(fd)
    except OSError:
        pass


class KioLoop:
    """Drives a kio.Context from the running asyncio loop."""

    def __init__(self, ctx=None, loop=None):
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self._own = ctx is None
        self.ctx = kio.Context() if ctx is None else ctx
        self._thread = threading.get_ident()
        self._inflight = {}  # inner future -> op id
        self._fd = self.ctx.fd()
        self.loop.add_reader(self._fd, self._on_readable)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def _on_readable(self):
        self.ctx.run_once(0)

    def _check_thread(self):
        if threading.get_ident() != self._thread:
            raise RuntimeError('a KioLoop is used only on its event loop thread')

    def _cancel(self, op):
        try:
            self.ctx.cancel(op)
        except OSError:  # ENOENT: its callback is already queued
            return
        # The cancel of a kernel op is an SQE that only the next round
        # submits; the wake makes kio_ctx_fd readable so that round comes.
        self.ctx.wake()

    def inflight(self):
        """Ops started here whose kio callback has not run yet."""
        return len(self._inflight)

    async def drain(self):
        """Waits until every op started here has had its kio callback."""
        while self._inflight:
            await asyncio.wait(list(self._inflight))

    async def aclose(self):
        """Cancels the ops still in flight, waits for their callbacks, stops
        watching the ctx and destroys it if this KioLoop created it."""
        for op in list(self._inflight.values()):
            self._cancel(op)
        await self.drain()
        self.detach()

    def detach(self):
        if self._fd is not None:
            self.loop.remove_reader(self._fd)
            self._fd = None
            if self._own:
                self.ctx.close()

    async def _op(self, method, args, kwargs, conv=None, orphan=None, timeout=None,
                  filename=None):
        self._check_thread()
        if timeout is not None:
            # Checked before the op starts: a bad timeout must not leave it running.
            kio.duration_ns(timeout, 'timeout')
        fut = self.loop.create_future()
        abandoned = []

        def done(res, flags, *value):
            self._inflight.pop(fut, None)
            if abandoned and orphan is not None and res >= 0:
                orphan(res)
            try:
                if res < 0:
                    fut.set_exception(kio.error(res, filename))
                else:
                    fut.set_result(conv(res, *value) if conv else res)
            except BaseException as exc:  # noqa: B902 - a failed conversion
                if not fut.done():
                    fut.set_exception(exc)

        op = method(*args, done, **kwargs)
        self._inflight[fut] = op
        if timeout is not None:
            self.ctx.timeout(op, timeout)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            if not fut.done():
                abandoned.append(True)
                fut.add_done_callback(_consume)
                self._cancel(op)
            elif orphan is not None and not fut.cancelled() and fut.exception() is None:
                orphan(fut.result())
            raise

    async def _stream(self, method, args, kwargs, conv=None, orphan=None, skip_eof=False):
        self._check_thread()
        queue = asyncio.Queue()
        state = {'final': False, 'closed': False}
        ended = self.loop.create_future()  # tracked by inflight()/drain()

        def on_event(res, flags, *value):
            if not flags & kio.KIO_F_MORE:
                state['final'] = True
                self._inflight.pop(ended, None)
                ended.set_result(None)
            if state['closed']:
                if orphan is not None and res >= 0:
                    orphan(res)
                return
            # Converted at once: a provided buffer goes back to its ring here.
            try:
                item = conv(res, flags) if conv is not None and res >= 0 else res
            except BaseException as exc:  # noqa: B902 - raised in the consumer
                item = exc
            queue.put_nowait((res, flags, item))

        op = method(*args, on_event, **kwargs)
        self._inflight[ended] = op
        final = False
        try:
            while not final:
                res, flags, item = await queue.get()
                final = not flags & kio.KIO_F_MORE
                if res < 0:
                    if final and res == -errno.ECANCELED:
                        return
                    raise kio.error(res)
                if isinstance(item, BaseException):
                    raise item
                if not (final and res == 0 and skip_eof):
                    yield item
        finally:
            state['closed'] = True
            while not queue.empty():
                res, _, _ = queue.get_nowait()
                if orphan is not None and res >= 0:
                    orphan(res)
            if not state['final']:
                self._cancel(op)

    # ---- single-shot ops -------------------------------------------------------

    async def nop(self, *, timeout=None):
        return await self._op(self.ctx.nop, (), {}, timeout=timeout)

    async def post(self):
        """Round trip through kio_ctx_post."""
        self._check_thread()
        fut = self.loop.create_future()
        self.ctx.post(lambda res, flags: fut.done() or fut.set_result(res))
        return kio.check(await fut)

    async def sleep(self, seconds, *, timeout=None):
        return await self._op(self.ctx.sleep, (seconds,), {}, timeout=timeout)

    async def openat(self, path, flags=os.O_RDONLY, mode=0o644, *, dirfd=kio.AT_FDCWD,
                     timeout=None):
        return await self._op(self.ctx.openat, (path, flags), {'mode': mode, 'dirfd': dirfd},
                              orphan=_close_orphan, timeout=timeout, filename=path)

    async def close(self, fd, *, timeout=None):
        """kio_close: cancels the ops on fd, then closes it."""
        return await self._op(self.ctx.close_fd, (fd,), {}, timeout=timeout)

    async def read(self, fd, buf, offset=kio.OFFSET_CURRENT, nbytes=None, *, timeout=None):
        """Reads into the writable buffer buf; returns the byte count."""
        return await self._op(self.ctx.read, (fd, buf), {'offset': offset, 'nbytes': nbytes},
                              timeout=timeout)

    async def write(self, fd, data, offset=kio.OFFSET_CURRENT, nbytes=None, *, timeout=None):
        return await self._op(self.ctx.write, (fd, data), {'offset': offset, 'nbytes': nbytes},
                              timeout=timeout)

    async def readv(self, fd, bufs, offset=kio.OFFSET_CURRENT, *, timeout=None):
        return await self._op(self.ctx.readv, (fd, bufs), {'offset': offset}, timeout=timeout)

    async def writev(self, fd, bufs, offset=kio.OFFSET_CURRENT, *, timeout=None):
        return await self._op(self.ctx.writev, (fd, bufs), {'offset': offset}, timeout=timeout)

    async def fsync(self, fd, flags=0, *, timeout=None):
        return await self._op(self.ctx.fsync, (fd,), {'flags': flags}, timeout=timeout)

    async def ftruncate(self, fd, length, *, timeout=None):
        return await self._op(self.ctx.ftruncate, (fd, length), {}, timeout=timeout)

    async def statx(self, path, flags=0, mask=0xfff, *, dirfd=kio.AT_FDCWD, timeout=None):
        """Returns a kio.Statx."""
        return await self._op(self.ctx.statx, (path,),
                              {'flags': flags, 'mask': mask, 'dirfd': dirfd},
                              conv=lambda res, st: st, timeout=timeout, filename=path)

    async def unlinkat(self, path, flags=0, *, dirfd=kio.AT_FDCWD, timeout=None):
        return await self._op(self.ctx.unlinkat, (path,), {'flags': flags, 'dirfd': dirfd},
                              timeout=timeout, filename=path)

    async def renameat(self, old, new, flags=0, *, timeout=None):
        return await self._op(self.ctx.renameat, (old, new), {'flags': flags}, timeout=timeout,
                              filename=old)

    async def mkdirat(self, path, mode=0o777, *, dirfd=kio.AT_FDCWD, timeout=None):
        return await self._op(self.ctx.mkdirat, (path,), {'mode': mode, 'dirfd': dirfd},
                              timeout=timeout, filename=path)

    async def poll(self, fd, events, *, timeout=None):
        """Returns the revents mask."""
        return await self._op(self.ctx.poll, (fd, events), {}, timeout=timeout)

    async def socket(self, domain, type, protocol=0, *, timeout=None):
        return await self._op(self.ctx.socket, (domain, type), {'protocol': protocol},
                              orphan=_close_orphan, timeout=timeout)

    async def accept(self, fd, flags=0, *, timeout=None):
        """Returns (connection fd, peer address)."""
        return await self._op(self.ctx.accept, (fd,), {'flags': flags},
                              conv=lambda res, peer: (res, peer),
                              orphan=_close_orphan, timeout=timeout)

    async def connect(self, fd, family, address, *, timeout=None):
        return await self._op(self.ctx.connect, (fd, family, address), {}, timeout=timeout)

    async def send(self, fd, data, flags=0, *, timeout=None):
        """One send; returns the bytes sent (possibly fewer than len(data))."""
        return await self._op(self.ctx.send, (fd, data), {'flags': flags}, timeout=timeout)

    async def sendall(self, fd, data, flags=0, *, timeout=None):
        view, sent = memoryview(data).cast('B'), 0
        while sent < len(view):
            sent += await self.send(fd, view[sent:], flags, timeout=timeout)
        return sent

    async def recv(self, fd, buf, flags=0, nbytes=None, *, timeout=None):
        """Receives into the writable buffer buf; 0 at end of stream."""
        return await self._op(self.ctx.recv, (fd, buf), {'flags': flags, 'nbytes': nbytes},
                              timeout=timeout)

    async def shutdown(self, fd, how, *, timeout=None):
        return await self._op(self.ctx.shutdown, (fd, how), {}, timeout=timeout)

    async def sendfile(self, out_fd, in_fd, offset, count, *, timeout=None):
        return await self._op(self.ctx.sendfile, (out_fd, in_fd, offset, count), {},
                              timeout=timeout)

    async def run_in_pool(self, pool, work, *, timeout=None):
        """Runs work() on a kio.Pool thread; returns its value or raises its
        exception."""
        def outcome(res, value):
            if isinstance(value, BaseException):
                raise value
            return value
        return await self._op(self.ctx.pool_submit, (pool, work), {}, conv=outcome,
                              timeout=timeout)

    async def signal_wait(self, sigset, *, timeout=None):
        """Returns the number of the next signal of the kio.SignalSet."""
        return await self._op(self.ctx.signal_wait, (sigset,), {}, timeout=timeout)

    # ---- multishot ops: async generators (close them, e.g. with
    # contextlib.aclosing, to cancel the op) ----------------------------------

    def timer_periodic(self, seconds):
        """Yields 0 every period until closed."""
        return self._stream(self.ctx.timer_periodic, (seconds,), {})

    def poll_multishot(self, fd, events):
        return self._stream(self.ctx.poll_multishot, (fd, events), {})

    def accept_multishot(self, fd, flags=0):
        """Yields connection fds; fds that arrive after closing are closed."""
        return self._stream(self.ctx.accept_multishot, (fd,), {'flags': flags},
                            orphan=_close_orphan)

    def recv_multishot(self, fd, ring, flags=0):
        """Yields the bytes of each receive (copied out of ring, whose buffer
        is given back at once); ends at end of stream."""
        def take(res, flags):
            if not flags & kio.KIO_F_BUFFER:
                return b''
            return ring.take(flags >> 16, res)
        return self._stream(self.ctx.recv_multishot, (fd, ring), {'flags': flags}, conv=take,
                            skip_eof=True)
