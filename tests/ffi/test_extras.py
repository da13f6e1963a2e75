# SPDX-License-Identifier: MIT
"""The parts around the core through the Context API: buffer rings with
multishot receive, zero-copy send, sendfile, splice, shutdown, the blocking
pool, signal sets and the log."""
import errno
import os
import signal
import socket
import tempfile
import threading
import unittest

import kio
from kio_testutil import Recorder, main, run_until


class Base(unittest.TestCase):
    def setUp(self):
        self.ctx = kio.Context()

    def tearDown(self):
        self.ctx.close()
        self.assertEqual(kio.live_ops(), 0)

    def wait(self, rec):
        run_until(self.ctx, lambda: rec.done)
        return rec.res

    def pair(self, tcp=False):
        if tcp:  # zero-copy needs a real protocol, not AF_UNIX
            with socket.create_server(('127.0.0.1', 0)) as lsock:
                a = socket.create_connection(lsock.getsockname())
                b = lsock.accept()[0]
        else:
            a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b


class TestNetOps(Base):
    def test_recv_multishot_with_buf_ring(self):
        try:
            ring = kio.BufRing(self.ctx, group=7, count=8, size=64)
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                self.skipTest('no buffer rings in this kernel')
            raise
        a, b = self.pair()
        got = []

        def on_data(res, flags):
            if res > 0:
                self.assertTrue(flags & kio.KIO_F_BUFFER)
                got.append(ring.take(flags >> 16, res))
            else:
                got.append(res)
        with ring:
            op = self.ctx.recv_multishot(a.fileno(), ring, on_data)
            for chunk in (b'one', b'two', b'three'):
                b.send(chunk)
                run_until(self.ctx, lambda: got and b''.join(
                    g for g in got if isinstance(g, bytes)).endswith(chunk))
            self.assertEqual(kio.live_ops(), 1)
            b.shutdown(socket.SHUT_WR)
            run_until(self.ctx, lambda: not isinstance(got[-1], bytes))
            self.assertEqual(got[-1], 0)
            self.assertEqual(b''.join(got[:-1]), b'onetwothree')
            with self.assertRaises(OSError):
                self.ctx.cancel(op)  # already ended

    def test_send_zc_shutdown(self):
        a, b = self.pair(tcp=True)
        rec = Recorder()
        try:
            self.ctx.send_zc(a.fileno(), b'zero-copy', rec)
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                self.skipTest('no IORING_OP_SEND_ZC')
            raise
        res = self.wait(rec)
        if res == -errno.EOPNOTSUPP:
            self.skipTest('no IORING_OP_SEND_ZC')
        self.assertEqual(res, 9)
        self.assertEqual(b.recv(64), b'zero-copy')
        rec = Recorder()
        self.ctx.shutdown(a.fileno(), socket.SHUT_WR, rec)
        self.assertEqual(self.wait(rec), 0)
        self.assertEqual(b.recv(64), b'')

    def test_sendfile_and_splice(self):
        a, b = self.pair()
        data = os.urandom(200000)
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.flush()
            rec = Recorder()
            self.ctx.sendfile(a.fileno(), f.fileno(), 1000, 5000, rec)
            # 5000 bytes fit in the socket buffer: the op ends on its own.
            self.assertEqual(self.wait(rec), 5000)
            received = bytearray()
            while len(received) < 5000:
                received.extend(b.recv(65536))
            self.assertEqual(bytes(received), data[1000:6000])
            r, w = os.pipe()
            try:
                rec = Recorder()
                self.ctx.splice(f.fileno(), 10, w, -1, 100, rec)
                self.assertEqual(self.wait(rec), 100)
                self.assertEqual(os.read(r, 200), data[10:110])
            finally:
                os.close(r)
                os.close(w)

    def test_accept_connect_callbacks(self):
        lsock = socket.socket()
        self.addCleanup(lsock.close)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(4)
        sock = Recorder()
        self.ctx.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, sock)
        fd = self.wait(sock)
        self.assertGreaterEqual(fd, 0)
        self.addCleanup(os.close, fd)
        acc, con = Recorder(), Recorder()
        self.ctx.accept(lsock.fileno(), acc)
        self.ctx.connect(fd, socket.AF_INET, lsock.getsockname(), con)
        run_until(self.ctx, lambda: acc.done and con.done)
        self.assertEqual(con.res, 0)
        conn_fd, _, peer = acc.calls[0]
        self.assertGreaterEqual(conn_fd, 0)
        os.close(conn_fd)
        with socket.socket(fileno=os.dup(fd)) as client:
            self.assertEqual(peer, client.getsockname())


class TestPoolSignalLog(Base):
    def test_pool_jobs_and_cancel(self):
        with kio.Pool(1) as pool:
            gate = threading.Event()
            first, second = Recorder(), Recorder()
            self.ctx.pool_submit(pool, lambda: gate.wait(5) and 42, first)
            queued = self.ctx.pool_submit(pool, lambda: 7, second)
            self.ctx.cancel(queued)
            gate.set()
            run_until(self.ctx, lambda: first.done and second.done)
            self.assertEqual(first.calls, [(0, 0, 42)])
            self.assertEqual(second.calls[0][0], -errno.ECANCELED)

    def test_signal_wait(self):
        with kio.SignalSet([signal.SIGUSR2]) as sigset:
            rec = Recorder()
            self.ctx.signal_wait(sigset, rec)
            self.ctx.run_once(0)
            os.kill(os.getpid(), signal.SIGUSR2)
            self.assertEqual(self.wait(rec), signal.SIGUSR2)

    def test_log_handler(self):
        got = []
        done = threading.Event()

        def handler(level, msg):
            got.append((level, msg))
            done.set()
        old = kio.log_level()
        try:
            kio.log_set_level(kio.LOG_INFO)
            self.assertEqual(kio.log_level(), kio.LOG_INFO)
            kio.log_set_handler(handler)
            kio.log_write(kio.LOG_DEBUG, 'filtered out')
            kio.log_write(kio.LOG_WARN, 'from python')
            kio.log_flush(5.0)
            self.assertTrue(done.wait(5))
            self.assertEqual(got, [(kio.LOG_WARN, b'from python')])
            self.assertIsInstance(kio.log_dropped(), int)
        finally:
            kio.log_set_handler(None)
            kio.log_set_level(old)


if __name__ == '__main__':
    main()
