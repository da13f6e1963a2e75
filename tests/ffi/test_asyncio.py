# SPDX-License-Identifier: MIT
"""kio driven by asyncio through kio_ctx_fd: file ops, timers, timeouts,
task cancellation, and TCP between asyncio's own streams and kio ops in one
loop."""
import asyncio
import contextlib
import errno
import os
import socket
import tempfile
import time
import unittest
import weakref

import kio
import kio_asyncio
from kio_testutil import main

LIMIT = 10.0  # seconds any one test may take


class Buffer(bytearray):
    """A bytearray that can be weakly referenced."""


class AsyncBase(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.kl = kio_asyncio.KioLoop()
        self.tmp = tempfile.TemporaryDirectory()

    async def asyncTearDown(self):
        await asyncio.wait_for(self.kl.aclose(), LIMIT)
        self.tmp.cleanup()
        self.assertEqual(kio.live_ops(), 0, 'op records left behind')

    def path(self, name):
        return os.path.join(self.tmp.name, name)


class TestFilesAndTime(AsyncBase):
    async def test_nop_post_sleep(self):
        self.assertEqual(await self.kl.nop(), 0)
        self.assertEqual(await self.kl.post(), 0)
        start = time.monotonic()
        await asyncio.wait_for(self.kl.sleep(0.05), LIMIT)
        self.assertGreaterEqual(time.monotonic() - start, 0.045)

    async def test_many_concurrent_sleeps(self):
        order = []

        async def nap(i):
            await self.kl.sleep(0.001 * (i % 5))
            order.append(i)
        await asyncio.wait_for(asyncio.gather(*(nap(i) for i in range(200))), LIMIT)
        self.assertEqual(sorted(order), list(range(200)))

    async def test_open_write_read_close(self):
        fd = await self.kl.openat(self.path('f'), os.O_RDWR | os.O_CREAT, 0o600)
        data = os.urandom(100000)
        self.assertEqual(await self.kl.write(fd, data, 0), len(data))
        await self.kl.fsync(fd)
        buf = bytearray(len(data) + 10)
        self.assertEqual(await self.kl.read(fd, buf, 0), len(data))
        self.assertEqual(bytes(buf[:len(data)]), data)
        st = await self.kl.statx(self.path('f'))
        self.assertEqual(st.stx_size, len(data))
        await self.kl.close(fd)
        with self.assertRaises(OSError):
            os.fstat(fd)

    async def test_errors_raise_oserror(self):
        with self.assertRaises(FileNotFoundError):
            await self.kl.openat(self.path('missing'))
        with self.assertRaises(OSError) as cm:
            await self.kl.read(-1, bytearray(1))
        self.assertEqual(cm.exception.errno, errno.EBADF)
        with self.assertRaises(FileExistsError):
            await self.kl.mkdirat(self.tmp.name)

    async def test_timeout_raises_etimedout(self):
        r, w = os.pipe()
        try:
            start = time.monotonic()
            with self.assertRaises(TimeoutError) as cm:
                await asyncio.wait_for(self.kl.read(r, bytearray(8), timeout=0.05), LIMIT)
            self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
            self.assertLess(time.monotonic() - start, LIMIT / 2)
        finally:
            os.close(r)
            os.close(w)

    async def test_cancel_task_cancels_op_and_keeps_buffer(self):
        r, w = os.pipe()
        try:
            buf = Buffer(8)
            ref = weakref.ref(buf)
            task = asyncio.ensure_future(self.kl.read(r, buf))
            del buf
            await asyncio.sleep(0.01)
            self.assertEqual(self.kl.inflight(), 1)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            # The task is gone, the kio op may not be: until its callback the
            # buffer is referenced by the module.
            if self.kl.inflight():
                self.assertIsNotNone(ref(), 'buffer released before the kio callback')
            await asyncio.wait_for(self.kl.drain(), LIMIT)
            self.assertEqual(self.kl.inflight(), 0)
            self.assertEqual(kio.live_ops(), 0)
            self.assertIsNone(ref())
            self.assertEqual(self.kl.ctx.stats()['ops_cancelled'], 1)
            # The pipe is untouched: a later read gets what is written.
            os.write(w, b'after')
            got = bytearray(8)
            self.assertEqual(await asyncio.wait_for(self.kl.read(r, got), LIMIT), 5)
            self.assertEqual(bytes(got[:5]), b'after')
        finally:
            os.close(r)
            os.close(w)

    async def test_cancelled_opens_leak_no_fd(self):
        # Cancel races completion: an open the kernel finished anyway hands
        # back an fd nobody awaits any more; it must be closed, not leaked.
        before = len(os.listdir('/proc/self/fd'))
        path = self.path('f')
        open(path, 'w').close()
        for i in range(50):
            task = asyncio.ensure_future(self.kl.openat(path))
            for _ in range(i % 3):
                await asyncio.sleep(0)
            task.cancel()
            try:
                os.close(await task)  # finished before the cancel
            except asyncio.CancelledError:
                pass
        await asyncio.wait_for(self.kl.drain(), LIMIT)
        self.assertEqual(len(os.listdir('/proc/self/fd')), before)

    async def test_wait_for_cancels_sleep(self):
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(self.kl.sleep(30), 0.05)
        await asyncio.wait_for(self.kl.drain(), LIMIT)
        self.assertEqual(self.kl.ctx.pending(), 0)

    async def test_periodic_stream(self):
        ticks = 0
        async with contextlib.aclosing(self.kl.timer_periodic(0.005)) as stream:
            async for res in stream:
                self.assertEqual(res, 0)
                ticks += 1
                if ticks == 4:
                    break
        await asyncio.wait_for(self.kl.drain(), LIMIT)
        self.assertEqual(ticks, 4)
        self.assertEqual(self.kl.ctx.pending(), 0)

    async def test_pool(self):
        try:
            pool = kio.Pool(2)
        except OSError as exc:
            self.skipTest('kio_pool_create: %s' % exc)
        with pool:
            self.assertEqual(await asyncio.wait_for(
                self.kl.run_in_pool(pool, lambda: sum(range(1000))), LIMIT), 499500)
            with self.assertRaises(ZeroDivisionError):
                await asyncio.wait_for(self.kl.run_in_pool(pool, lambda: 1 // 0), LIMIT)

    async def test_given_context_without_defer_taskrun(self):
        ctx = kio.Context(flags=kio.CTX_NO_DEFER_TASKRUN)
        kl = kio_asyncio.KioLoop(ctx)
        r, w = os.pipe()
        try:
            buf = bytearray(8)
            reading = asyncio.ensure_future(kl.read(r, buf))
            await kl.sleep(0.01)
            self.assertFalse(reading.done())
            os.write(w, b'ring')
            self.assertEqual(await asyncio.wait_for(reading, LIMIT), 4)
            self.assertEqual(bytes(buf[:4]), b'ring')
            await kl.aclose()
            self.assertIsNotNone(ctx.handle, 'a given ctx belongs to its owner')
        finally:
            ctx.close()
            os.close(r)
            os.close(w)

    async def test_other_thread_is_refused(self):
        with self.assertRaises(RuntimeError):
            await asyncio.to_thread(lambda: asyncio.run(self.kl.nop()))


class TestNetwork(AsyncBase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        try:
            fd = await self.kl.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                self.skipTest('kio_socket is not implemented in this build')
            raise
        os.close(fd)

    def listener(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(lsock.close)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(16)
        return lsock

    async def echo_server(self, lfd, clients):
        """kio server: accept clients connections, echo each until EOF."""
        async def serve(fd):
            buf = bytearray(4096)
            total = 0
            try:
                while True:
                    n = await self.kl.recv(fd, buf, timeout=LIMIT)
                    if n == 0:
                        return total
                    await self.kl.sendall(fd, memoryview(buf)[:n])
                    total += n
            finally:
                await self.kl.close(fd)
        tasks = []
        for _ in range(clients):
            fd, peer = await self.kl.accept(lfd, timeout=LIMIT)
            self.assertEqual(peer[0], '127.0.0.1')
            tasks.append(asyncio.ensure_future(serve(fd)))
        return await asyncio.gather(*tasks)

    async def test_echo_asyncio_client_kio_server(self):
        lsock = self.listener()
        port = lsock.getsockname()[1]
        server = asyncio.ensure_future(self.echo_server(lsock.fileno(), 3))

        async def client(i):
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
            payload = os.urandom(50000 + i)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            echoed = await reader.read()
            writer.close()
            await writer.wait_closed()
            return payload, echoed
        results = await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(3))), LIMIT)
        for payload, echoed in results:
            self.assertEqual(echoed, payload)
        totals = await asyncio.wait_for(server, LIMIT)
        self.assertEqual(sorted(totals), [50000, 50001, 50002])

    async def test_kio_client_asyncio_server(self):
        async def handle(reader, writer):
            data = await reader.readexactly(5)
            writer.write(data.upper())
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, '127.0.0.1', 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            fd = await self.kl.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                await self.kl.connect(fd, socket.AF_INET, ('127.0.0.1', port), timeout=LIMIT)
                self.assertEqual(await self.kl.send(fd, b'hello'), 5)
                buf = bytearray(16)
                n = await self.kl.recv(fd, buf, timeout=LIMIT)
                self.assertEqual(bytes(buf[:n]), b'HELLO')
                self.assertEqual(await self.kl.recv(fd, buf, timeout=LIMIT), 0)
            finally:
                await self.kl.close(fd)

    async def test_connect_refused(self):
        lsock = self.listener()
        port = lsock.getsockname()[1]
        lsock.close()
        fd = await self.kl.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            with self.assertRaises(ConnectionRefusedError):
                await self.kl.connect(fd, socket.AF_INET, ('127.0.0.1', port), timeout=LIMIT)
        finally:
            os.close(fd)

    async def test_recv_timeout_and_cancelled_accept(self):
        lsock = self.listener()
        with self.assertRaises(TimeoutError):
            await self.kl.accept(lsock.fileno(), timeout=0.05)
        task = asyncio.ensure_future(self.kl.accept(lsock.fileno()))
        await asyncio.sleep(0.01)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(self.kl.drain(), LIMIT)
        self.assertEqual(self.kl.ctx.pending(), 0)

    async def test_accept_multishot_stream(self):
        lsock = self.listener()
        port = lsock.getsockname()[1]
        writers = []

        async def connect_all():
            for _ in range(3):
                writers.append((await asyncio.open_connection('127.0.0.1', port))[1])
        connecting = asyncio.ensure_future(connect_all())
        fds = []
        try:
            stream = self.kl.accept_multishot(lsock.fileno(), socket.SOCK_CLOEXEC)
        except OSError as exc:
            self.skipTest('kio_accept_multishot: %s' % exc)
        async with contextlib.aclosing(stream):
            async for fd in stream:
                fds.append(fd)
                if len(fds) == 3:
                    break
        await asyncio.wait_for(connecting, LIMIT)
        await asyncio.wait_for(self.kl.drain(), LIMIT)
        for fd in fds:
            os.fstat(fd)  # open
            os.close(fd)
        for writer in writers:
            writer.close()
        self.assertEqual(len(fds), 3)

    async def test_send_to_closed_peer_is_epipe_not_sigpipe(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        b.close()
        with self.assertRaises((BrokenPipeError, ConnectionResetError)):
            await self.kl.send(a.fileno(), b'x' * 100)


if __name__ == '__main__':
    main()
