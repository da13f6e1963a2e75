# SPDX-License-Identifier: MIT
"""Values that do not fit the C parameter they are meant for are refused by
kio.py before they reach C, with the exception os, socket and time raise for
the same mistake, and the call has started nothing (no op record, nothing
pending, no callback ever). ctypes alone would keep the low bits: fd
2**32 + 3 would read fd 3, buffer id 65536 would be buffer 0, a path would
end at its first NUL. Values at the edge of what is valid still work."""
import asyncio
import errno
import os
import pathlib
import signal
import socket
import tempfile
import unittest

import kio
import kio_asyncio
from kio_testutil import Recorder, main, run_until

BIG = 2**32   # added to a valid int: ctypes would drop it
NAN, INF = float('nan'), float('inf')
U64_MAX_S = (2**64 - 1) // 10**9  # the longest whole-second uint64 ns duration


def open_fds():
    return set(os.listdir('/proc/self/fd'))


class Base(unittest.TestCase):
    def setUp(self):
        fds_before = open_fds()
        # Cleanups run last to first: this one after every other.
        self.addCleanup(lambda: self.assertEqual(open_fds() - fds_before, set(), 'fds leaked'))
        self.ctx = kio.Context()
        self.tmp = tempfile.TemporaryDirectory()
        self.refused = []  # the callbacks of refused calls: none may ever run
        self.r, self.w = os.pipe()
        self.a, self.b = socket.socketpair()

    def tearDown(self):
        self.ctx.close()  # runs every callback still owed
        for rec in self.refused:
            self.assertEqual(rec.calls, [], 'the callback of a refused call ran')
        self.assertEqual(kio.live_ops(), 0, 'op records left behind')
        os.close(self.r)
        os.close(self.w)
        self.a.close()
        self.b.close()
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def snapshot(self):
        return kio.live_ops(), self.ctx.pending(), self.ctx.stats()['ops_submitted']

    def refuses(self, exc_type, start, match=None, errno_=None):
        """start(fn) must raise exactly exc_type (with match in its message)
        and start nothing."""
        rec = Recorder()
        before = self.snapshot()
        with self.assertRaises(exc_type) as cm:
            start(rec)
        self.assertIs(type(cm.exception), exc_type, repr(cm.exception))
        if match is not None:
            self.assertIn(match, str(cm.exception))
        if errno_ is not None:
            self.assertEqual(cm.exception.errno, errno_)
        self.assertEqual(self.snapshot(), before, 'a refused call started an op')
        self.ctx.run_once(0)
        self.assertEqual(rec.calls, [], 'the callback of a refused call ran')
        self.refused.append(rec)
        return cm.exception

    def refuses_all(self, cases):
        """cases: (label, exc_type, start[, match])."""
        for label, exc_type, start, *match in cases:
            with self.subTest(label):
                self.refuses(exc_type, start, *match)

    def works(self, start):
        """start(fn) is accepted; returns its result once it completed."""
        rec = Recorder()
        op = start(rec)
        self.assertGreaterEqual(op, 0)
        run_until(self.ctx, lambda: rec.done)
        return rec.res

    def outcome(self, start):
        """The negated errno start(fn) raised, or the result it called back with."""
        try:
            return self.works(start)
        except OSError as exc:
            return -exc.errno

    def fd_cases(self, name, start):
        """The fd cases of start(fd, fn), for an fd-taking method."""
        fd = self.r
        return [
            (name + ' fd+2**32', OverflowError, lambda f: start(fd + BIG, f),
             'is greater than maximum'),
            (name + ' fd-2**32', OverflowError, lambda f: start(fd - BIG, f),
             'is less than minimum'),
            (name + ' fd float', TypeError, lambda f: start(float(fd), f)),
            (name + ' fd str', TypeError, lambda f: start(str(fd), f)),
            (name + ' fd None', TypeError, lambda f: start(None, f)),
        ]


class TestFiles(Base):
    def test_read_wrong_fd_reads_nothing(self):
        os.write(self.w, b'data')
        buf = bytearray(4)
        self.refuses(OverflowError, lambda f: self.ctx.read(self.r + BIG, buf, f),
                     'fd is greater than maximum')
        self.assertEqual(os.read(self.r, 4), b'data', 'the refused read consumed data')
        # An fd that fits reaches C as it is: a closed one gives EBADF, the
        # largest int has nothing to cancel. (Not a read of 2**31 - 1: the
        # epoll backend sizes its fd table by the fd number it is given.)
        closed = os.dup(self.r)
        os.close(closed)
        self.assertEqual(self.outcome(lambda f: self.ctx.read(closed, buf, f)), -errno.EBADF)
        self.assertEqual(self.ctx.cancel_fd(2**31 - 1), 0)

    def test_read_write_arguments(self):
        fd = os.open(self.path('f'), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        buf = bytearray(4)
        cases = self.fd_cases('read', lambda d, f: self.ctx.read(d, buf, f))
        cases += self.fd_cases('write', lambda d, f: self.ctx.write(d, b'x', f))
        for name, op, data in (('read', self.ctx.read, buf), ('write', self.ctx.write, b'abcd')):
            cases += [
                (name + ' offset -1', OSError, lambda f, op=op, d=data: op(fd, d, f, offset=-1)),
                (name + ' offset 2**63', OverflowError,
                 lambda f, op=op, d=data: op(fd, d, f, offset=2**63), 'offset is greater'),
                (name + ' offset 2**64', OverflowError,
                 lambda f, op=op, d=data: op(fd, d, f, offset=2**64)),
                (name + ' offset float', TypeError,
                 lambda f, op=op, d=data: op(fd, d, f, offset=0.0)),
                (name + ' nbytes -1', ValueError,
                 lambda f, op=op, d=data: op(fd, d, f, nbytes=-1), 'must be non-negative'),
                (name + ' nbytes 5 of 4', ValueError,
                 lambda f, op=op, d=data: op(fd, d, f, nbytes=5), 'larger than the buffer'),
                (name + ' nbytes 2**64', OverflowError,
                 lambda f, op=op, d=data: op(fd, d, f, nbytes=2**64)),
                (name + ' nbytes float', TypeError,
                 lambda f, op=op, d=data: op(fd, d, f, nbytes=1.0)),
            ]
        self.refuses_all(cases)
        exc = self.refuses(OSError, lambda f: self.ctx.read(fd, buf, f, offset=-1))
        self.assertEqual(exc.errno, errno.EINVAL)
        # Edges that are valid.
        self.assertEqual(self.works(lambda f: self.ctx.write(fd, b'abcd', f, offset=0)), 4)
        self.assertEqual(self.works(lambda f: self.ctx.write(fd, b'abcd', f, nbytes=0)), 0)
        # At the file position, which the write at offset 0 did not move.
        self.assertEqual(self.works(
            lambda f: self.ctx.write(fd, b'ef', f, offset=kio.OFFSET_CURRENT)), 2)
        self.assertEqual(self.works(lambda f: self.ctx.read(fd, buf, f, offset=0, nbytes=4)), 4)
        self.assertEqual(bytes(buf), b'efcd')
        self.assertEqual(self.works(lambda f: self.ctx.read(fd, buf, f, offset=True)), 3)
        self.assertEqual(bytes(buf), b'fcdd')
        # The largest off_t reaches C: the kernel answers, in the callback.
        self.assertLessEqual(self.works(lambda f: self.ctx.read(fd, buf, f, offset=2**63 - 1)), 0)

    def test_vector_arguments(self):
        fd = os.open(self.path('v'), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        bufs = [bytearray(2), bytearray(2)]
        cases = self.fd_cases('readv', lambda d, f: self.ctx.readv(d, bufs, f))
        cases += self.fd_cases('writev', lambda d, f: self.ctx.writev(d, [b'x'], f))
        cases += [
            ('readv offset -1', OSError, lambda f: self.ctx.readv(fd, bufs, f, offset=-1)),
            ('writev offset 2**63', OverflowError,
             lambda f: self.ctx.writev(fd, [b'x'], f, offset=2**63)),
        ]
        self.refuses_all(cases)
        self.assertEqual(self.works(lambda f: self.ctx.writev(fd, [b'ab', b'cd'], f, offset=0)), 4)
        self.assertEqual(self.works(lambda f: self.ctx.readv(fd, bufs, f, offset=0)), 4)

    def test_paths_with_nul(self):
        for name in ('file', 'victim', 'dir'):
            self.assertFalse(os.path.exists(self.path(name)))
        open(self.path('victim'), 'w').close()
        creat = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        nul_paths = [self.path('file\0.suffix'), os.fsencode(self.path('file\0.suffix')),
                     pathlib.Path(self.path('file\0.suffix'))]
        for path in nul_paths:
            with self.subTest(path=path):
                self.refuses(ValueError, lambda f: self.ctx.openat(path, creat, f),
                             'embedded null byte')
                self.refuses(ValueError, lambda f: self.ctx.statx(path, f), 'embedded null byte')
        victim = self.path('victim\0.suffix')
        self.refuses_all([
            ('unlinkat', ValueError, lambda f: self.ctx.unlinkat(victim, f), 'embedded null'),
            ('mkdirat', ValueError, lambda f: self.ctx.mkdirat(self.path('dir\0x'), f)),
            ('renameat old', ValueError,
             lambda f: self.ctx.renameat(victim, self.path('other'), f)),
            ('renameat new', ValueError,
             lambda f: self.ctx.renameat(self.path('victim'), self.path('dir\0x'), f)),
            ('openat int path', TypeError, lambda f: self.ctx.openat(3, os.O_RDONLY, f)),
            ('openat None path', TypeError, lambda f: self.ctx.openat(None, os.O_RDONLY, f)),
        ])
        self.assertFalse(os.path.exists(self.path('file')), 'a NUL path created its prefix')
        self.assertFalse(os.path.exists(self.path('dir')), 'a NUL path created its prefix')
        self.assertTrue(os.path.exists(self.path('victim')), 'a NUL path removed its prefix')
        self.assertFalse(os.path.exists(self.path('other')))
        # A name that is not UTF-8 still works (bytes, and str through
        # surrogateescape), as with os.open.
        odd = os.fsencode(self.path('')) + b'caf\xe9'
        fd = self.works(lambda f: self.ctx.openat(odd, creat, f))
        self.assertGreaterEqual(fd, 0)
        os.close(fd)
        self.assertEqual(self.works(lambda f: self.ctx.statx(os.fsdecode(odd), f)), 0)

    def test_open_flags_mode_dirfd(self):
        path = self.path('o')
        creat = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        # Relative to dirfd: a name whose directory does not exist, so that
        # a call wrongly let through creates nothing in the working directory.
        rel = 'kio-no-such-directory/o'

        self.refuses_all([
            ('flags 2**31', OverflowError, lambda f: self.ctx.openat(path, 2**31, f),
             'flags is greater than maximum'),
            ('flags +2**32', OverflowError, lambda f: self.ctx.openat(path, creat + BIG, f)),
            ('flags float', TypeError, lambda f: self.ctx.openat(path, float(creat), f)),
            ('mode 2**32', OverflowError, lambda f: self.ctx.openat(path, creat, f, mode=BIG)),
            ('mode -1', OverflowError, lambda f: self.ctx.openat(path, creat, f, mode=-1),
             'mode is less than minimum'),
            ('mode str', TypeError, lambda f: self.ctx.openat(path, creat, f, mode='644')),
            ('dirfd', OverflowError,
             lambda f: self.ctx.openat(rel, creat, f, dirfd=kio.AT_FDCWD - BIG)),
            ('statx dirfd', OverflowError, lambda f: self.ctx.statx(rel, f, dirfd=BIG)),
            ('statx flags', OverflowError, lambda f: self.ctx.statx(path, f, flags=BIG)),
            ('statx mask', OverflowError, lambda f: self.ctx.statx(path, f, mask=BIG)),
            ('unlinkat flags', OverflowError, lambda f: self.ctx.unlinkat(path, f, flags=BIG)),
            ('unlinkat dirfd', OverflowError, lambda f: self.ctx.unlinkat(rel, f, dirfd=-BIG)),
            ('renameat flags', OverflowError,
             lambda f: self.ctx.renameat(path, path + '2', f, flags=BIG + 1)),
            ('renameat olddirfd', OverflowError,
             lambda f: self.ctx.renameat(rel, rel, f, olddirfd=BIG)),
            ('renameat newdirfd', OverflowError,
             lambda f: self.ctx.renameat(rel, rel, f, newdirfd=BIG)),
            ('mkdirat mode', OverflowError, lambda f: self.ctx.mkdirat(path, f, mode=BIG)),
            ('mkdirat dirfd', OverflowError, lambda f: self.ctx.mkdirat(rel, f, dirfd=BIG)),
        ])
        self.assertFalse(os.path.exists(path))
        fd = self.works(lambda f: self.ctx.openat(path, creat, f, mode=0o7777 & 0o600))
        self.assertGreaterEqual(fd, 0)
        os.close(fd)
        self.assertEqual(self.works(lambda f: self.ctx.statx(path, f, mask=0x7fffffff)), 0)

    def test_fsync_fallocate_ftruncate(self):
        fd = os.open(self.path('t'), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        cases = self.fd_cases('fsync', lambda d, f: self.ctx.fsync(d, f))
        cases += self.fd_cases('ftruncate', lambda d, f: self.ctx.ftruncate(d, 0, f))
        cases += self.fd_cases('fallocate', lambda d, f: self.ctx.fallocate(d, 0, 0, 1, f))
        cases += [
            # flags 2**32 would be flags 0 and succeed.
            ('fsync flags 2**32', OverflowError, lambda f: self.ctx.fsync(fd, f, flags=BIG)),
            ('fsync flags -1', OverflowError, lambda f: self.ctx.fsync(fd, f, flags=-1)),
            # length 2**64 would truncate the file to 0.
            ('ftruncate 2**64', OverflowError, lambda f: self.ctx.ftruncate(fd, 2**64, f),
             'length is greater than maximum'),
            ('ftruncate 2**63', OverflowError, lambda f: self.ctx.ftruncate(fd, 2**63, f)),
            ('ftruncate -1', OSError, lambda f: self.ctx.ftruncate(fd, -1, f)),
            ('ftruncate current', OverflowError,
             lambda f: self.ctx.ftruncate(fd, kio.OFFSET_CURRENT, f)),
            ('ftruncate float', TypeError, lambda f: self.ctx.ftruncate(fd, 1.0, f)),
            ('fallocate mode', OverflowError, lambda f: self.ctx.fallocate(fd, BIG, 0, 1, f)),
            ('fallocate offset -1', OSError, lambda f: self.ctx.fallocate(fd, 0, -1, 1, f)),
            ('fallocate offset 2**63', OverflowError,
             lambda f: self.ctx.fallocate(fd, 0, 2**63, 1, f)),
            ('fallocate length -1', OSError, lambda f: self.ctx.fallocate(fd, 0, 0, -1, f)),
            ('fallocate length 2**64', OverflowError,
             lambda f: self.ctx.fallocate(fd, 0, 0, 2**64, f)),
        ]
        self.refuses_all(cases)
        os.write(fd, b'contents')
        self.assertEqual(self.works(lambda f: self.ctx.fsync(fd, f, flags=kio.FSYNC_DATASYNC)), 0)
        self.assertEqual(os.fstat(fd).st_size, 8, 'a refused ftruncate truncated')
        self.assertEqual(self.works(lambda f: self.ctx.ftruncate(fd, 3, f)), 0)
        self.assertEqual(os.fstat(fd).st_size, 3)

    def test_splice_and_poll(self):
        cases = self.fd_cases('poll', lambda d, f: self.ctx.poll(d, 1, f))
        cases += self.fd_cases('poll_multishot', lambda d, f: self.ctx.poll_multishot(d, 1, f))
        cases += self.fd_cases('splice fd_in',
                               lambda d, f: self.ctx.splice(d, -1, self.w, -1, 1, f))
        cases += self.fd_cases('splice fd_out',
                               lambda d, f: self.ctx.splice(self.r, -1, d, -1, 1, f))
        cases += [
            ('poll events 2**32', OverflowError, lambda f: self.ctx.poll(self.r, BIG + 1, f)),
            ('poll events -1', OverflowError, lambda f: self.ctx.poll(self.r, -1, f)),
            ('poll_multishot events', OverflowError,
             lambda f: self.ctx.poll_multishot(self.r, BIG, f)),
            ('splice off_in 2**63', OverflowError,
             lambda f: self.ctx.splice(self.r, 2**63, self.w, -1, 1, f)),
            ('splice off_out -2**63-1', OverflowError,
             lambda f: self.ctx.splice(self.r, -1, self.w, -2**63 - 1, 1, f)),
            ('splice length -1', ValueError,
             lambda f: self.ctx.splice(self.r, -1, self.w, -1, -1, f), 'non-negative'),
            ('splice length 2**32', OverflowError,
             lambda f: self.ctx.splice(self.r, -1, self.w, -1, BIG, f)),
            ('splice flags', OverflowError,
             lambda f: self.ctx.splice(self.r, -1, self.w, -1, 1, f, flags=BIG)),
        ]
        self.refuses_all(cases)
        os.write(self.w, b'x')
        self.assertEqual(self.works(lambda f: self.ctx.poll(self.r, 1, f)) & 1, 1)
        with tempfile.TemporaryFile() as src:
            src.write(b'spliced')
            src.flush()
            self.assertEqual(self.works(
                lambda f: self.ctx.splice(src.fileno(), 0, self.w, -1, 2**32 - 1, f)), 7)
        self.assertEqual(os.read(self.r, 100), b'xspliced')


class TestTimeAndOps(Base):
    def duration_cases(self, name, start):
        return [
            (name + ' 1e30', OverflowError, lambda f: start(1e30, f), 'is too large'),
            (name + ' inf', OverflowError, lambda f: start(INF, f)),
            (name + ' int too large', OverflowError, lambda f: start(U64_MAX_S + 1, f)),
            (name + ' float too large', OverflowError, lambda f: start(1.85e10, f)),
            (name + ' nan', ValueError, lambda f: start(NAN, f), 'Invalid value NaN'),
            (name + ' -1', ValueError, lambda f: start(-1, f), 'must be non-negative'),
            (name + ' -1e-9', ValueError, lambda f: start(-1e-9, f)),
            (name + ' -inf', ValueError, lambda f: start(-INF, f)),
            (name + ' str', TypeError, lambda f: start('1', f)),
            (name + ' None', TypeError, lambda f: start(None, f)),
        ]

    def test_sleep_and_periodic(self):
        self.refuses_all(self.duration_cases('sleep', self.ctx.sleep)
                         + self.duration_cases('periodic', self.ctx.timer_periodic))
        # A zero period reaches C, which refuses it (still nothing started).
        self.refuses(OSError, lambda f: self.ctx.timer_periodic(0, f), errno_=errno.EINVAL)
        self.assertEqual(self.works(lambda f: self.ctx.sleep(0, f)), 0)
        self.assertEqual(self.works(lambda f: self.ctx.sleep(0.0, f)), 0)
        self.assertEqual(self.works(lambda f: self.ctx.sleep(1e-12, f)), 0)
        # The longest durations that fit: accepted, pending until cancelled.
        for seconds in (U64_MAX_S, 1.8e10, True):
            with self.subTest(seconds=seconds):
                rec = Recorder()
                op = self.ctx.sleep(seconds, rec)
                self.ctx.run_once(0)
                self.assertEqual(rec.calls, [], 'a long sleep fired at once (it wrapped)')
                self.ctx.cancel(op)
                run_until(self.ctx, lambda: rec.done)
                self.assertEqual(rec.res, -errno.ECANCELED)

    def test_sleep_until(self):
        mono = 1  # CLOCK_MONOTONIC
        self.refuses_all([
            ('clockid +2**32', OverflowError, lambda f: self.ctx.sleep_until(mono + BIG, 0, f)),
            ('deadline -1', OverflowError, lambda f: self.ctx.sleep_until(mono, -1, f)),
            ('deadline 2**64', OverflowError, lambda f: self.ctx.sleep_until(mono, 2**64, f)),
            ('deadline float', TypeError, lambda f: self.ctx.sleep_until(mono, 1.5, f)),
        ])
        self.assertEqual(self.works(lambda f: self.ctx.sleep_until(mono, 0, f)), 0)
        rec = Recorder()
        op = self.ctx.sleep_until(mono, 2**64 - 1, rec)
        self.ctx.run_once(0)
        self.assertEqual(rec.calls, [])
        self.ctx.cancel(op)
        run_until(self.ctx, lambda: rec.done)

    def test_cancel_timeout_run_once(self):
        rec = Recorder()
        op = self.ctx.sleep(60, rec)
        before = self.snapshot()
        for label, exc_type, call in [
            # op + 2**64 would cancel op.
            ('cancel op+2**64', OverflowError, lambda: self.ctx.cancel(op + 2**64)),
            ('cancel op-2**64', OverflowError, lambda: self.ctx.cancel(op - 2**64)),
            ('cancel float', TypeError, lambda: self.ctx.cancel(float(op))),
            ('timeout op+2**64', OverflowError, lambda: self.ctx.timeout(op + 2**64, 0.001)),
            ('timeout nan', ValueError, lambda: self.ctx.timeout(op, NAN)),
            ('timeout -1', ValueError, lambda: self.ctx.timeout(op, -1)),
            ('timeout 1e30', OverflowError, lambda: self.ctx.timeout(op, 1e30)),
            ('cancel_fd', OverflowError, lambda: self.ctx.cancel_fd(self.r + BIG)),
            # (The wake keeps a run_once that wrongly got through from blocking.)
            ('run_once nan', ValueError, lambda: self.ctx.wake() or self.ctx.run_once(NAN)),
            ('run_once -1', ValueError, lambda: self.ctx.wake() or self.ctx.run_once(-1)),
            # int64 nanoseconds: about 292 years.
            ('run_once 1e10', OverflowError, lambda: self.ctx.wake() or self.ctx.run_once(1e10)),
            ('run_once 2**63 ns', OverflowError,
             lambda: self.ctx.wake() or self.ctx.run_once(2**63 // 10**9 + 1)),
            ('probe 2**32', OverflowError, lambda: self.ctx.probe(BIG)),
        ]:
            with self.subTest(label):
                with self.assertRaises(exc_type) as cm:
                    call()
                self.assertIs(type(cm.exception), exc_type)
        self.assertEqual(self.snapshot(), before)
        self.ctx.run_once(0)
        self.assertEqual(rec.calls, [], 'a refused cancel or timeout reached the op')
        self.assertTrue(self.ctx.probe(0))
        self.ctx.timeout(op, 1e-9)  # rounded up to 1 ns, not 0 (which disarms)
        run_until(self.ctx, lambda: rec.done)
        self.assertEqual(rec.res, -errno.ETIMEDOUT)
        # A negative op id fits int64: kio answers ENOENT.
        with self.assertRaises(FileNotFoundError):
            self.ctx.cancel(-1)

    def test_context_options(self):
        fds = open_fds()
        for kwargs, exc_type in [
            ({'sq_entries': BIG}, OverflowError),   # would be 0: the default
            ({'sq_entries': -1}, ValueError),
            ({'cq_entries': BIG + 8}, OverflowError),
            ({'flags': BIG + kio.CTX_BACKEND_EPOLL}, OverflowError),
            ({'sqpoll_idle_ms': BIG}, OverflowError),
            ({'sqpoll_cpu': 2**31}, OverflowError),
            ({'sq_entries': 1.5}, TypeError),
        ]:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(exc_type):
                    kio.Context(**kwargs)
        self.assertEqual(open_fds(), fds, 'a refused Context was created')
        with kio.Context(sq_entries=8, cq_entries=2**4, sqpoll_cpu=-2**31) as ctx:
            self.assertGreaterEqual(ctx.fd(), 0)


class TestNetwork(Base):
    def test_socket_accept_shutdown(self):
        inet, stream = socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC
        cases = self.fd_cases('accept', lambda d, f: self.ctx.accept(d, f))
        cases += self.fd_cases('accept_multishot', lambda d, f: self.ctx.accept_multishot(d, f))
        cases += self.fd_cases('shutdown', lambda d, f: self.ctx.shutdown(d, socket.SHUT_WR, f))
        cases += [
            ('socket domain', OverflowError, lambda f: self.ctx.socket(inet + BIG, stream, f)),
            ('socket type', OverflowError, lambda f: self.ctx.socket(inet, stream + BIG, f)),
            ('socket protocol', OverflowError,
             lambda f: self.ctx.socket(inet, stream, f, protocol=BIG)),
            ('socket type str', TypeError, lambda f: self.ctx.socket(inet, 'stream', f)),
            ('accept flags', OverflowError,
             lambda f: self.ctx.accept(self.a.fileno(), f, flags=BIG + socket.SOCK_CLOEXEC)),
            ('accept_multishot flags', OverflowError,
             lambda f: self.ctx.accept_multishot(self.a.fileno(), f, flags=BIG)),
            ('shutdown how', OverflowError,
             lambda f: self.ctx.shutdown(self.a.fileno(), socket.SHUT_WR + BIG, f)),
        ]
        self.refuses_all(cases)
        fd = self.works(lambda f: self.ctx.socket(inet, stream, f))
        self.assertGreaterEqual(fd, 0)
        os.close(fd)
        a = self.a.fileno()
        self.assertEqual(self.works(lambda f: self.ctx.shutdown(a, socket.SHUT_WR, f)), 0)
        self.assertEqual(self.b.recv(1), b'')

    def test_send_recv(self):
        a = self.a.fileno()
        buf = bytearray(8)
        cases = []
        for name, start in (('send', lambda d, f, **k: self.ctx.send(d, b'abc', f, **k)),
                            ('send_zc', lambda d, f, **k: self.ctx.send_zc(d, b'abc', f, **k)),
                            ('recv', lambda d, f, **k: self.ctx.recv(d, buf, f, **k))):
            cases += self.fd_cases(name, start)
            cases += [
                (name + ' flags 2**31', OverflowError,
                 lambda f, s=start: s(a, f, flags=2**31), 'flags is greater than maximum'),
                (name + ' flags float', TypeError, lambda f, s=start: s(a, f, flags=0.0)),
                (name + ' nbytes -1', ValueError, lambda f, s=start: s(a, f, nbytes=-1)),
                (name + ' nbytes 99', ValueError, lambda f, s=start: s(a, f, nbytes=99)),
            ]
        self.refuses_all(cases)
        self.assertEqual(self.works(lambda f: self.ctx.send(a, b'abc', f, nbytes=3)), 3)
        self.assertEqual(self.b.recv(64), b'abc')
        self.b.send(b'xyz')
        self.assertEqual(self.works(lambda f: self.ctx.recv(a, buf, f, nbytes=3)), 3)
        self.assertEqual(bytes(buf[:3]), b'xyz')

    def test_connect_addresses(self):
        inet = socket.AF_INET
        sock = socket.socket()
        self.addCleanup(sock.close)
        fd = sock.fileno()
        unix = socket.socket(socket.AF_UNIX)
        self.addCleanup(unix.close)
        ufd = unix.fileno()
        self.refuses_all([
            ('fd', OverflowError, lambda f: self.ctx.connect(fd + BIG, inet, ('127.0.0.1', 1), f)),
            ('port 70000', OverflowError,
             lambda f: self.ctx.connect(fd, inet, ('127.0.0.1', 70000), f), 'port must be 0-65535'),
            ('port -1', OverflowError, lambda f: self.ctx.connect(fd, inet, ('127.0.0.1', -1), f)),
            ('port float', TypeError, lambda f: self.ctx.connect(fd, inet, ('127.0.0.1', 1.0), f)),
            ('host NUL', ValueError, lambda f: self.ctx.connect(fd, inet, ('127.0.0.1\0', 1), f)),
            ('v6 port', OverflowError,
             lambda f: self.ctx.connect(fd, socket.AF_INET6, ('::1', 2**16), f)),
            ('v6 flowinfo', OverflowError,
             lambda f: self.ctx.connect(fd, socket.AF_INET6, ('::1', 1, 2**20), f), 'flowinfo'),
            ('v6 scope', OverflowError,
             lambda f: self.ctx.connect(fd, socket.AF_INET6, ('::1', 1, 0, BIG), f)),
            ('unix NUL', ValueError,
             lambda f: self.ctx.connect(ufd, socket.AF_UNIX, self.path('s\0ck'), f),
             'embedded null byte'),
            ('unix too long', OSError,
             lambda f: self.ctx.connect(ufd, socket.AF_UNIX, 'x' * 109, f), 'too long'),
        ])
        # Abstract names (a leading NUL) are kept whole, with their exact length.
        name = b'\0kio-validation-%d' % os.getpid()
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(name)
            server.listen(1)
            self.assertEqual(self.works(lambda f: self.ctx.connect(ufd, socket.AF_UNIX, name, f)),
                             0)
            conn, _ = server.accept()
            conn.close()
            self.assertEqual(unix.getpeername(), name)
        self.assertEqual(kio.parse_sockaddr(kio.sockaddr(socket.AF_UNIX, name)), name)
        self.assertEqual(kio.parse_sockaddr(kio.sockaddr(socket.AF_UNIX, '/x')), '/x')
        self.assertEqual(len(kio.sockaddr(socket.AF_UNIX, 'y' * 108)), 110)

    def test_sendfile(self):
        with tempfile.TemporaryFile() as src:
            src.write(b'0123456789')
            src.flush()
            inf, out = src.fileno(), self.a.fileno()
            cases = self.fd_cases('out_fd', lambda d, f: self.ctx.sendfile(d, inf, 0, 1, f))
            cases += self.fd_cases('in_fd', lambda d, f: self.ctx.sendfile(out, d, 0, 1, f))
            cases += [
                ('offset -1', OSError, lambda f: self.ctx.sendfile(out, inf, -1, 1, f)),
                ('offset 2**63', OverflowError, lambda f: self.ctx.sendfile(out, inf, 2**63, 1, f)),
                ('count -1', ValueError, lambda f: self.ctx.sendfile(out, inf, 0, -1, f)),
                ('count 2**64', OverflowError, lambda f: self.ctx.sendfile(out, inf, 0, 2**64, f)),
            ]
            self.refuses_all(cases)
            self.assertEqual(self.works(lambda f: self.ctx.sendfile(out, inf, 0, 0, f)), 0)
            self.assertEqual(self.works(lambda f: self.ctx.sendfile(out, inf, 2, 3, f)), 3)
            self.assertEqual(self.b.recv(64), b'234')

    def test_buf_ring(self):
        try:
            ring = kio.BufRing(self.ctx, group=2**16 - 1, count=4, size=16)
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                self.skipTest('no buffer rings in this kernel')
            raise
        with ring:
            for kwargs, exc_type in [
                ({'group': 2**16}, OverflowError),  # would be group 0
                ({'group': -1}, OverflowError),
                ({'count': -1}, ValueError),
                ({'count': BIG + 4}, OverflowError),
                ({'size': BIG + 16}, OverflowError),
                ({'size': 16.0}, TypeError),
            ]:
                args = dict({'group': 1, 'count': 4, 'size': 16}, **kwargs)
                with self.subTest(kwargs=kwargs):
                    with self.assertRaises(exc_type):
                        kio.BufRing(self.ctx, **args)
            # id 65536 would act on buffer 0, which is in the ring (EALREADY).
            with self.assertRaises(OverflowError) as cm:
                ring.release(2**16)
            self.assertIn('buffer id is greater than maximum', str(cm.exception))
            with self.assertRaises(OverflowError):
                ring.release(-1)
            with self.assertRaises(OverflowError):
                ring.take(2**16, 1)
            with self.assertRaises(TypeError):
                ring.take(0, 1.0)
            with self.assertRaises(OSError) as cm:
                ring.release(0)
            self.assertEqual(cm.exception.errno, errno.EALREADY)
            with self.assertRaises(OSError) as cm:
                ring.release(2**16 - 1)  # reaches C as it is: no such buffer
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            self.refuses_all([
                ('recv_multishot fd', OverflowError,
                 lambda f: self.ctx.recv_multishot(self.a.fileno() + BIG, ring, f)),
                ('recv_multishot flags', OverflowError,
                 lambda f: self.ctx.recv_multishot(self.a.fileno(), ring, f, flags=BIG)),
            ])


class TestAroundTheCore(Base):
    def test_pool(self):
        for threads, exc_type in ((BIG + 1, OverflowError), (-1, ValueError),
                                  (1.0, TypeError)):
            with self.subTest(threads=threads):
                with self.assertRaises(exc_type):
                    kio.Pool(threads)
        with kio.Pool(1) as pool:
            rec = Recorder()
            self.ctx.pool_submit(pool, lambda: 5, rec)
            run_until(self.ctx, lambda: rec.done)
            self.assertEqual(rec.calls, [(0, 0, 5)])

    def test_signal_set(self):
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        for signals, exc_type, match in [
            ([signal.SIGUSR1 + BIG], OverflowError, 'greater than maximum'),
            ([0], ValueError, 'out of range'),
            ([signal.NSIG], ValueError, 'out of range'),
            ([signal.SIGUSR1, -1], ValueError, 'out of range'),
            ([1.0], TypeError, None),
            (['SIGUSR1'], TypeError, None),
        ]:
            with self.subTest(signals=signals):
                with self.assertRaises(exc_type) as cm:
                    kio.SignalSet(signals)
                if match:
                    self.assertIn(match, str(cm.exception))
        self.assertEqual(signal.pthread_sigmask(signal.SIG_BLOCK, []), mask,
                         'a refused SignalSet blocked signals')
        with kio.SignalSet((signal.SIGUSR2,)) as sigset:
            self.assertIn(signal.SIGUSR2, signal.pthread_sigmask(signal.SIG_BLOCK, []))
            rec = Recorder()
            self.ctx.signal_wait(sigset, rec)
            self.ctx.run_once(0)
            os.kill(os.getpid(), signal.SIGUSR2)
            run_until(self.ctx, lambda: rec.done)
            self.assertEqual(rec.res, signal.SIGUSR2)
        self.assertEqual(signal.pthread_sigmask(signal.SIG_BLOCK, []), mask)

    def test_log_and_strerror(self):
        old = kio.log_level()
        try:
            for call, exc_type in [
                (lambda: kio.log_set_level(kio.LOG_DEBUG + BIG), OverflowError),
                (lambda: kio.log_set_level(1.0), TypeError),
                (lambda: kio.log_write(kio.LOG_ERROR + BIG, 'x'), OverflowError),
                (lambda: kio.log_write(kio.LOG_ERROR, 5), TypeError),
                (lambda: kio.log_flush(NAN), ValueError),
                (lambda: kio.log_flush(-1), ValueError),
                (lambda: kio.log_flush(1e30), OverflowError),
                (lambda: kio.strerror(BIG), OverflowError),
            ]:
                with self.assertRaises(exc_type):
                    call()
            self.assertEqual(kio.log_level(), old, 'a refused level was set')
            kio.log_set_level(kio.LOG_FATAL)
            self.assertEqual(kio.log_level(), kio.LOG_FATAL)
            self.assertEqual(kio.log_flush(0), 0)
            self.assertEqual(kio.strerror(-2**31), kio.strerror(-2**31))
            self.assertEqual(kio.strerror(-errno.EINVAL), os.strerror(errno.EINVAL))
        finally:
            kio.log_set_level(old)

    def test_duration_ns(self):
        self.assertEqual(kio.duration_ns(0), 0)
        self.assertEqual(kio.duration_ns(0.001), 1000000)
        self.assertEqual(kio.duration_ns(1e-10), 1)  # rounded up, never to 0
        self.assertEqual(kio.duration_ns(U64_MAX_S), U64_MAX_S * 10**9)
        self.assertLessEqual(kio.duration_ns(1.8446744073709550e10), 2**64 - 1)
        with self.assertRaises(OverflowError):
            kio.duration_ns(1.8446744073709552e10)  # 2**64 ns exactly


class TestAsyncio(unittest.IsolatedAsyncioTestCase):
    async def test_refused_before_start(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        async with kio_asyncio.KioLoop() as kl:
            before = kio.live_ops()
            buf = bytearray(4)
            for label, exc_type, make in [
                ('read fd', OverflowError, lambda: kl.read(r + BIG, buf)),
                ('read offset', OverflowError, lambda: kl.read(r, buf, 2**64)),
                ('sleep 1e30', OverflowError, lambda: kl.sleep(1e30)),
                ('sleep nan', ValueError, lambda: kl.sleep(NAN)),
                # The timeout is checked before the op starts, not after.
                ('nop timeout nan', ValueError, lambda: kl.nop(timeout=NAN)),
                ('read timeout -1', ValueError, lambda: kl.read(r, buf, timeout=-1)),
                ('read timeout 1e30', OverflowError, lambda: kl.read(r, buf, timeout=1e30)),
                ('openat NUL', ValueError, lambda: kl.openat('a\0b')),
                ('poll events', OverflowError, lambda: kl.poll(r, BIG)),
            ]:
                with self.subTest(label):
                    with self.assertRaises(exc_type):
                        await asyncio.wait_for(make(), 5)
                    self.assertEqual(kio.live_ops(), before, 'a refused call started an op')
                    self.assertEqual(kl.inflight(), 0)
                    self.assertEqual(kl.ctx.pending(), 0)
            with self.assertRaises(ValueError):
                async for _ in kl.timer_periodic(NAN):
                    pass
            self.assertEqual(kio.live_ops(), before)
            os.write(w, b'ok')
            self.assertEqual(await kl.read(r, buf, timeout=U64_MAX_S), 2)
            self.assertEqual(await asyncio.wait_for(kl.sleep(0.0), 5), 0)
        self.assertEqual(kio.live_ops(), 0)


if __name__ == '__main__':
    main()
