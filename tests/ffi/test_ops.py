# SPDX-License-Identifier: MIT
"""The Context API over ctypes: each op's result, errors as OSError, the
contract's cancel/timeout rules, and bad arguments that raise instead of
crashing."""
import ctypes
import errno
import os
import tempfile
import threading
import time
import unittest

import kio
from kio_testutil import Recorder, main, run_until


class Base(unittest.TestCase):
    def setUp(self):
        self.ctx = kio.Context()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.ctx.close()
        self.tmp.cleanup()
        self.assertEqual(kio.live_ops(), 0, 'op records left behind')

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def wait(self, rec, seconds=5.0):
        run_until(self.ctx, lambda: rec.done, seconds)
        return rec.res


class TestBasics(Base):
    def test_version(self):
        self.assertEqual(kio.version() >> 16, 0)
        self.assertEqual(kio.version_string().count('.'), 2)
        major, minor, patch = (int(x) for x in kio.version_string().split('.'))
        self.assertEqual(kio.version(), major << 16 | minor << 8 | patch)

    def test_strerror_and_error(self):
        self.assertEqual(kio.strerror(-errno.EINVAL), os.strerror(errno.EINVAL))
        exc = kio.error(-errno.ETIMEDOUT)
        self.assertIsInstance(exc, TimeoutError)
        self.assertEqual(exc.errno, errno.ETIMEDOUT)
        self.assertEqual(kio.check(5), 5)
        with self.assertRaises(FileNotFoundError):
            kio.check(-errno.ENOENT)

    def test_nop_callback_runs_in_loop_not_inline(self):
        rec = Recorder()
        op = self.ctx.nop(rec)
        self.assertGreaterEqual(op, 0)
        self.assertEqual(rec.calls, [], 'callback ran inside the starting call')
        self.assertEqual(self.ctx.pending(), 1)
        self.assertEqual(kio.live_ops(), 1)
        self.assertEqual(self.wait(rec), 0)
        self.assertEqual(rec.calls, [(0, 0)])
        self.assertEqual(self.ctx.pending(), 0)

    def test_run_returns_when_idle(self):
        recs = [Recorder() for _ in range(50)]
        for rec in recs:
            self.ctx.nop(rec)
        self.assertEqual(self.ctx.run(), 0)
        self.assertTrue(all(r.calls == [(0, 0)] for r in recs))
        stats = self.ctx.stats()
        self.assertEqual(stats['ops_submitted'], 50)
        self.assertEqual(stats['ops_completed'], 50)
        self.assertEqual(stats['ops_inflight'], 0)
        self.assertGreaterEqual(stats['sqes_submitted'], 50)
        self.assertEqual(stats['cq_dropped'], 0)
        self.assertEqual(stats['wait_ns'], 0)  # no KIO_CTX_STATS_TIME

    def test_stats_in_flight_and_from_another_thread(self):
        rec = Recorder()
        self.ctx.nop(rec)
        self.assertEqual(self.ctx.stats()['ops_inflight'], 1)
        self.assertEqual(self.ctx.run(), 0)  # this thread runs the loop now
        errors = []
        reader = threading.Thread(target=lambda: errors.append(self._stats_error()))
        reader.start()
        reader.join()
        self.assertIsInstance(errors[0], BlockingIOError)  # asked, not yet published
        self.ctx.run_once(0)
        got = []
        reader = threading.Thread(target=lambda: got.append(self.ctx.stats()))
        reader.start()
        reader.join()
        self.assertEqual(got[0]['ops_submitted'], 1)
        self.assertEqual(got[0]['ops_inflight'], 0)

    def _stats_error(self):
        try:
            self.ctx.stats()
        except OSError as e:
            return e
        return None

    def test_post_from_another_thread(self):
        rec = Recorder()
        loop_thread = threading.get_ident()
        seen = []
        thread = threading.Thread(
            target=lambda: self.ctx.post(lambda res, flags: (seen.append(threading.get_ident()),
                                                             rec(res, flags))))
        thread.start()
        thread.join()
        self.assertEqual(self.wait(rec), 0)
        self.assertEqual(seen, [loop_thread])

    def test_stop_from_another_thread(self):
        self.ctx.sleep(30, Recorder())
        timer = threading.Timer(0.05, self.ctx.stop)
        timer.start()
        start = time.monotonic()
        self.assertEqual(self.ctx.run(), 0)
        self.assertLess(time.monotonic() - start, 10)
        timer.join()
        self.assertEqual(self.ctx.pending(), 1)  # the sleep; close() cancels it

    def test_callback_exception_reraised_by_run(self):
        def boom(res, flags):
            raise KeyError('from callback')
        after = Recorder()
        self.ctx.nop(boom)
        self.ctx.nop(after)
        with self.assertRaises(KeyError):
            self.ctx.run()
        self.ctx.run()
        self.assertEqual(after.calls, [(0, 0)], 'an exception stopped other callbacks')

    def test_destroy_runs_pending_callbacks(self):
        ctx = kio.Context()
        r, w = os.pipe()
        try:
            read, sleep = Recorder(), Recorder()
            buf = bytearray(8)
            ctx.read(r, buf, read)
            ctx.sleep(60, sleep)
            ctx.run_once(0)
            ctx.close()
            self.assertEqual(read.calls, [(-errno.ECANCELED, 0)])
            self.assertEqual(sleep.calls, [(-errno.ECANCELED, 0)])
            self.assertIsNone(ctx.handle)
        finally:
            os.close(r)
            os.close(w)

    def test_probe(self):
        self.assertTrue(self.ctx.probe(0))  # IORING_OP_NOP
        self.assertFalse(self.ctx.probe(100000))
        with self.assertRaises(OSError) as cm:
            self.ctx.probe(-1)
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_backend(self):
        self.assertIn(self.ctx.backend, ('io_uring', 'epoll'))
        if os.environ.get('KIO_BACKEND') in ('io_uring', 'epoll'):
            self.assertEqual(self.ctx.backend, os.environ['KIO_BACKEND'])
        with kio.Context(flags=kio.CTX_BACKEND_EPOLL) as ctx:
            self.assertEqual(ctx.backend, 'epoll')
            rec = Recorder()
            ctx.nop(rec)
            run_until(ctx, lambda: rec.done)
            self.assertEqual(rec.calls, [(0, 0)])
        with self.assertRaises(OSError) as cm:
            kio.Context(flags=kio.CTX_BACKEND_EPOLL | kio.CTX_SQPOLL)
        self.assertEqual(cm.exception.errno, errno.EINVAL)


class TestFiles(Base):
    def test_write_then_read(self):
        fd = os.open(self.path('f'), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            data = os.urandom(10000)
            rec = Recorder()
            self.ctx.write(fd, data, rec, offset=0)
            self.assertEqual(self.wait(rec), len(data))
            buf = bytearray(20000)
            rec = Recorder()
            self.ctx.read(fd, buf, rec, offset=0)
            self.assertEqual(self.wait(rec), len(data))
            self.assertEqual(bytes(buf[:len(data)]), data)
            # A slice of a memoryview reads into the middle of the buffer.
            rec = Recorder()
            view = memoryview(buf)[100:200]
            self.ctx.read(fd, view, rec, offset=0)
            self.assertEqual(self.wait(rec), 100)
            self.assertEqual(bytes(buf[100:200]), data[:100])
        finally:
            os.close(fd)

    def test_current_offset_and_nbytes(self):
        fd = os.open(self.path('f'), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for chunk in (b'abc', bytearray(b'def'), memoryview(b'ghiXYZ')):
                rec = Recorder()
                self.ctx.write(fd, chunk, rec, nbytes=3)
                self.assertEqual(self.wait(rec), 3)
            self.assertEqual(os.pread(fd, 100, 0), b'abcdefghi')
        finally:
            os.close(fd)

    def test_readv_writev(self):
        fd = os.open(self.path('v'), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            rec = Recorder()
            self.ctx.writev(fd, [b'hello ', bytearray(b'vector '), b'io'], rec, offset=0)
            self.assertEqual(self.wait(rec), 15)
            a, b = bytearray(5), bytearray(10)
            rec = Recorder()
            self.ctx.readv(fd, [a, b], rec, offset=0)
            self.assertEqual(self.wait(rec), 15)
            self.assertEqual(bytes(a + b), b'hello vector io')
        finally:
            os.close(fd)

    def test_open_fsync_truncate_statx_close(self):
        path = self.path('o')
        rec = Recorder()
        self.ctx.openat(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, rec, mode=0o640)
        fd = self.wait(rec)
        self.assertGreaterEqual(fd, 0)
        steps = [
            lambda r: self.ctx.write(fd, b'x' * 4096, r, offset=0),
            lambda r: self.ctx.fsync(fd, r, flags=kio.FSYNC_DATASYNC),
            lambda r: self.ctx.ftruncate(fd, 1000, r),
        ]
        for step in steps:
            rec = Recorder()
            step(rec)
            self.assertGreaterEqual(self.wait(rec), 0)
        rec = Recorder()
        self.ctx.statx(path, rec)
        self.assertEqual(self.wait(rec), 0)
        st = rec.calls[0][2]
        self.assertIsInstance(st, kio.Statx)
        self.assertEqual(st.stx_size, 1000)
        self.assertEqual(st.stx_mode & 0o777, 0o640)
        rec = Recorder()
        self.ctx.close_fd(fd, rec)
        self.assertEqual(self.wait(rec), 0)
        with self.assertRaises(OSError):
            os.fstat(fd)

    def test_open_missing_is_enoent(self):
        rec = Recorder()
        self.ctx.openat(self.path('missing'), os.O_RDONLY, rec)
        self.assertEqual(self.wait(rec), -errno.ENOENT)

    def test_mkdir_rename_unlink(self):
        rec = Recorder()
        self.ctx.mkdirat(self.path('d'), rec)
        self.assertEqual(self.wait(rec), 0)
        self.assertTrue(os.path.isdir(self.path('d')))
        open(self.path('a'), 'w').close()
        rec = Recorder()
        self.ctx.renameat(self.path('a'), self.path('d/b'), rec)
        self.assertEqual(self.wait(rec), 0)
        self.assertTrue(os.path.exists(self.path('d/b')))
        rec = Recorder()
        self.ctx.unlinkat(self.path('d/b'), rec)
        self.assertEqual(self.wait(rec), 0)
        rec = Recorder()
        self.ctx.unlinkat(self.path('d'), rec, flags=0x200)  # AT_REMOVEDIR
        self.assertEqual(self.wait(rec), 0)
        self.assertEqual(os.listdir(self.tmp.name), [])

    def test_poll_and_multishot(self):
        r, w = os.pipe()
        try:
            rec = Recorder()
            self.ctx.poll(r, 0x1, rec)  # POLLIN
            self.ctx.run_once(0)
            self.assertEqual(rec.calls, [])
            os.write(w, b'x')
            self.assertEqual(self.wait(rec) & 0x1, 0x1)
            multi = Recorder()
            op = self.ctx.poll_multishot(w, 0x4, multi)  # POLLOUT
            run_until(self.ctx, lambda: multi.calls)
            self.assertTrue(multi.calls[0][1] & kio.KIO_F_MORE)
            self.assertEqual(kio.live_ops(), 1, 'a multishot record went early')
            self.ctx.cancel(op)
            self.assertEqual(self.wait(multi), -errno.ECANCELED)
            self.assertFalse(multi.calls[-1][1] & kio.KIO_F_MORE)
        finally:
            os.close(r)
            os.close(w)


class TestTimeCancel(Base):
    def test_sleep(self):
        rec = Recorder()
        start = time.monotonic()
        self.ctx.sleep(0.05, rec)
        self.assertEqual(self.wait(rec), 0)
        self.assertGreaterEqual(time.monotonic() - start, 0.045)

    def test_sleep_until_realtime(self):
        rec = Recorder()
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 20_000_000
        self.ctx.sleep_until(time.CLOCK_REALTIME, deadline, rec)
        self.assertEqual(self.wait(rec), 0)
        self.assertGreaterEqual(time.clock_gettime_ns(time.CLOCK_REALTIME), deadline - 1_000_000)
        with self.assertRaises(OSError) as cm:
            self.ctx.sleep_until(12345, 0, Recorder())
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_timer_periodic(self):
        ticks = Recorder()
        op = self.ctx.timer_periodic(0.01, ticks)
        run_until(self.ctx, lambda: len(ticks.calls) >= 3)
        self.assertTrue(all(c == (0, kio.KIO_F_MORE) for c in ticks.calls))
        self.ctx.cancel(op)
        self.assertEqual(self.wait(ticks), -errno.ECANCELED)

    def test_timeout_gives_etimedout(self):
        r, w = os.pipe()
        try:
            rec = Recorder()
            op = self.ctx.read(r, bytearray(16), rec)
            self.ctx.timeout(op, 0.03)
            self.assertEqual(self.wait(rec), -errno.ETIMEDOUT)
            with self.assertRaises(TimeoutError):
                kio.check(rec.res)
            self.assertEqual(self.ctx.stats()['ops_timeouts'], 1)
        finally:
            os.close(r)
            os.close(w)

    def test_cancel_then_stale_id(self):
        r, w = os.pipe()
        try:
            rec = Recorder()
            op = self.ctx.read(r, bytearray(16), rec)
            self.ctx.cancel(op)
            self.assertEqual(self.wait(rec), -errno.ECANCELED)
            with self.assertRaises(OSError) as cm:
                self.ctx.cancel(op)
            self.assertEqual(cm.exception.errno, errno.ENOENT)
            with self.assertRaises(OSError) as cm:
                self.ctx.timeout(op, 1)
            self.assertEqual(cm.exception.errno, errno.ENOENT)
        finally:
            os.close(r)
            os.close(w)

    def test_cancel_fd(self):
        r, w = os.pipe()
        try:
            recs = [Recorder() for _ in range(3)]
            for rec in recs:
                self.ctx.read(r, bytearray(4), rec)
            self.ctx.run_once(0)
            self.assertEqual(self.ctx.cancel_fd(r), 3)
            run_until(self.ctx, lambda: all(rec.done for rec in recs))
            self.assertTrue(all(rec.res == -errno.ECANCELED for rec in recs))
        finally:
            os.close(r)
            os.close(w)


class TestBadArguments(Base):
    def test_null_ctx_raw(self):
        cb = kio.KIO_CB(lambda ud, res, flags: None)
        self.assertEqual(kio.lib.kio_nop(None, cb, None), -errno.EINVAL)
        self.assertEqual(kio.lib.kio_ctx_run(None), -errno.EINVAL)
        self.assertEqual(kio.lib.kio_ctx_pending(None), 0)
        kio.lib.kio_ctx_destroy(None)
        self.assertEqual(kio.lib.kio_nop(self.ctx.handle, kio.KIO_CB(), None), -errno.EINVAL)
        self.assertEqual(kio.lib.kio_read(self.ctx.handle, 0, None, 1, 0, cb, None),
                         -errno.EINVAL)
        self.assertEqual(kio.lib.kio_ctx_create(None, None, 0), -errno.EINVAL)

    def test_closed_context(self):
        ctx = kio.Context()
        ctx.close()
        ctx.close()  # twice is fine
        for call in (lambda: ctx.nop(Recorder()), ctx.run, lambda: ctx.run_once(0), ctx.fd,
                     lambda: ctx.sleep(1, Recorder())):
            with self.assertRaises(OSError) as cm:
                call()
            self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_negative_fd_is_ebadf(self):
        calls = [
            lambda r: self.ctx.read(-1, bytearray(4), r),
            lambda r: self.ctx.write(-5, b'x', r),
            lambda r: self.ctx.close_fd(-1, r),
            lambda r: self.ctx.fsync(-1, r),
            lambda r: self.ctx.poll(-1, 1, r),
        ]
        for call in calls:
            rec = Recorder()
            with self.assertRaises(OSError) as cm:
                call(rec)
            self.assertEqual(cm.exception.errno, errno.EBADF)
            self.assertEqual(rec.calls, [], 'callback of a failed start ran')
        self.ctx.run_once(0)
        self.assertEqual(kio.live_ops(), 0)

    def test_wrong_types(self):
        with self.assertRaises((TypeError, ctypes.ArgumentError)):
            self.ctx.read('zero', bytearray(4), Recorder())
        with self.assertRaises(TypeError):
            self.ctx.read(0, b'read-only bytes', Recorder())
        with self.assertRaises(TypeError):
            self.ctx.write(0, 12345, Recorder())
        with self.assertRaises(TypeError):
            self.ctx.nop('not callable')
        with self.assertRaises(ValueError):
            self.ctx.read(0, bytearray(4), Recorder(), nbytes=5)
        with self.assertRaises(ValueError):
            self.ctx.sleep(-1, Recorder())
        with self.assertRaises(ctypes.ArgumentError):
            kio.lib.kio_nop(self.ctx.handle, lambda *a: None, None)  # not a KIO_CB
        with self.assertRaises(ctypes.ArgumentError):
            kio.lib.kio_ctx_run(kio.Pool.__new__(kio.Pool))
        self.assertEqual(kio.live_ops(), 0)

    def test_unknown_flags_einval(self):
        with self.assertRaises(OSError) as cm:
            self.ctx.fsync(0, Recorder(), flags=0x80)
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(OSError) as cm:
            kio.Context(flags=1 << 20)
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_run_from_callback_is_ebusy(self):
        seen = []

        def reenter(res, flags):
            try:
                self.ctx.run_once(0)
            except OSError as exc:
                seen.append(exc.errno)
        self.ctx.nop(reenter)
        self.ctx.run()
        self.assertEqual(seen, [errno.EBUSY])


if __name__ == '__main__':
    main()
