# SPDX-License-Identifier: MIT
"""Lifetimes across the FFI: a callback or buffer referenced only by the
module survives garbage collection until the op's final callback, and is
released right after it; many ops leave nothing behind."""
import errno
import gc
import os
import sys
import tracemalloc
import unittest
import weakref

import kio
from kio_testutil import main, run_until


class Buffer(bytearray):
    """A bytearray that can be weakly referenced."""


class Sink:
    """A callback object that can be weakly referenced."""

    def __init__(self, log):
        self.log = log

    def __call__(self, res, flags):
        self.log.append(res)


class TestLifetime(unittest.TestCase):
    def setUp(self):
        self.ctx = kio.Context()

    def tearDown(self):
        self.ctx.close()
        self.assertEqual(kio.live_ops(), 0)

    def test_callbacks_only_held_by_module_survive_gc(self):
        log = []
        refs = []
        for i in range(2000):
            sink = Sink(log)
            refs.append(weakref.ref(sink))
            # Half nops, half timers: both kinds wait in the module's table.
            if i % 2:
                self.ctx.nop(sink)
            else:
                self.ctx.sleep(0.001, sink)
            del sink
        gc.collect()
        self.assertTrue(all(r() is not None for r in refs), 'a pending callback was freed')
        self.assertEqual(kio.live_ops(), 2000)
        self.ctx.run()
        self.assertEqual(log, [0] * 2000)
        self.assertEqual(kio.live_ops(), 0)
        gc.collect()
        self.assertTrue(all(r() is None for r in refs), 'a finished callback was kept')

    def test_closures_and_lambdas_survive_gc(self):
        out = []

        def start(i):
            # The closure is the only thing that knows i.
            self.ctx.nop(lambda res, flags: out.append(i))
        for i in range(500):
            start(i)
        gc.collect()
        self.ctx.run()
        self.assertEqual(sorted(out), list(range(500)))

    def test_buffer_kept_until_callback(self):
        r, w = os.pipe()
        try:
            got = []
            buf = Buffer(16)
            ref = weakref.ref(buf)
            # The callback reads the data through the weak reference only.
            self.ctx.read(r, buf, lambda res, flags: got.append(bytes(ref()[:res])))
            # The caller may not resize memory the kernel owns.
            with self.assertRaises(BufferError):
                buf.extend(b'more')
            del buf
            gc.collect()
            self.assertIsNotNone(ref(), 'the read buffer was freed while the read was pending')
            self.ctx.run_once(0)
            os.write(w, b'kernel')
            run_until(self.ctx, lambda: got)
            self.assertEqual(got, [b'kernel'])
            gc.collect()
            self.assertIsNone(ref(), 'the buffer outlived its op')
        finally:
            os.close(r)
            os.close(w)

    def test_buffer_kept_through_cancel(self):
        r, w = os.pipe()
        try:
            got = []
            buf = Buffer(16)
            ref = weakref.ref(buf)
            op = self.ctx.read(r, buf, lambda res, flags: got.append(res))
            del buf
            self.ctx.run_once(0)
            self.ctx.cancel(op)
            gc.collect()
            self.assertIsNotNone(ref(), 'cancel released the buffer before the callback')
            run_until(self.ctx, lambda: got)
            self.assertEqual(got, [-errno.ECANCELED])
            gc.collect()
            self.assertIsNone(ref())
        finally:
            os.close(r)
            os.close(w)

    def test_multishot_record_lives_until_final_call(self):
        ticks = []
        sink = Sink(ticks)
        ref = weakref.ref(sink)
        op = self.ctx.timer_periodic(0.002, sink)
        del sink
        run_until(self.ctx, lambda: len(ticks) >= 5)
        gc.collect()
        self.assertIsNotNone(ref(), 'a KIO_F_MORE callback released the record')
        self.ctx.cancel(op)
        run_until(self.ctx, lambda: ticks[-1] == -errno.ECANCELED)
        gc.collect()
        self.assertIsNone(ref())

    def test_ten_thousand_ops_leave_nothing(self):
        token = object()
        base_refs = sys.getrefcount(token)
        count = [0]

        def on_done(res, flags, token=token):
            count[0] += 1

        # Warm up the op table and the allocator, then measure.
        for _ in range(100):
            self.ctx.nop(on_done)
        self.ctx.run()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        buf = bytearray(64)
        fd = os.open('/dev/zero', os.O_RDONLY)
        try:
            for batch in range(10):
                for i in range(1000):
                    if i % 2:
                        self.ctx.nop(on_done)
                    else:
                        self.ctx.read(fd, buf, on_done, offset=0)
                    self.assertLessEqual(kio.live_ops(), 1000)
                self.ctx.run()
                self.assertEqual(kio.live_ops(), 0)
        finally:
            os.close(fd)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        self.assertEqual(count[0], 10100)
        del on_done
        gc.collect()
        self.assertEqual(sys.getrefcount(token), base_refs, 'a callback reference leaked')
        grown = sum(s.size_diff for s in after.compare_to(before, 'filename')
                    if s.traceback[0].filename == kio.__file__)
        # 10,000 records of ~200 bytes each would be ~2 MB.
        self.assertLess(grown, 64 * 1024, 'kio.py kept %d bytes after 10,000 ops' % grown)


if __name__ == '__main__':
    main()
