# SPDX-License-Identifier: MIT
"""Runs kio_demo.py as a user would: copies (odd size, empty, missing source),
the self-contained echo demo, its command line (--help, bad options) and the
address the echo server listens on (127.0.0.1 only unless --bind)."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kio_demo.py')


def demo(*args, timeout=60):
    return subprocess.run([sys.executable, DEMO] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def listen_addrs(port):
    """The local addresses listening on TCP port, as /proc/net/tcp{,6} spell
    them: {'tcp:0100007F'} for 127.0.0.1."""
    found = set()
    for fam in ('tcp', 'tcp6'):
        try:
            with open('/proc/net/' + fam) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            addr, hexport = fields[1].split(':')
            if fields[3] == '0A' and int(hexport, 16) == port:
                found.add(fam + ':' + addr)
    return found


def have_ipv6_loopback():
    try:
        with open('/proc/net/if_inet6') as f:
            return any(line.startswith('0' * 31 + '1 ') and line.split()[-1] == 'lo'
                       for line in f)
    except OSError:
        return False


class TestDemo(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def copy_and_compare(self, size):
        data = os.urandom(size)
        with open(self.path('src'), 'wb') as f:
            f.write(data)
        run = demo('copy', self.path('src'), self.path('dst'))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn('copied %d bytes' % size, run.stdout)
        with open(self.path('dst'), 'rb') as f:
            self.assertEqual(f.read(), data)

    def test_copy_odd_size(self):
        self.copy_and_compare(3 * 128 * 1024 + 12345)

    def test_copy_empty(self):
        self.copy_and_compare(0)

    def test_copy_missing_source(self):
        run = demo('copy', self.path('missing'), self.path('dst'))
        self.assertEqual(run.returncode, 1)
        self.assertIn('No such file or directory', run.stderr)
        self.assertFalse(os.path.exists(self.path('dst')))

    def echo_once(self, *bind, shown='127.0.0.1'):
        run = demo('echo', *bind, '--port', '0', '--once')
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertTrue(lines[0].startswith('server: listening on %s:' % shown), lines[0])
        self.assertEqual(sum('got the same back' in line for line in lines), 3)
        self.assertIn('sent 100042 bytes, echoed them all', lines[-1])

    def test_echo_once(self):
        self.echo_once()

    def test_echo_bind_loopback(self):
        self.echo_once('--bind', '127.0.0.1')

    def test_echo_bind_v6(self):
        if not have_ipv6_loopback():
            self.skipTest('no IPv6 loopback')
        self.echo_once('--bind', '::1', shown='[::1]')

    def test_echo_default_listens_on_loopback_only(self):
        proc = subprocess.Popen([sys.executable, DEMO, 'echo', '--port', '0'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertTrue(line.startswith('server: listening on 127.0.0.1:'), line)
            port = int(line.rsplit(':', 1)[1])
            self.assertEqual(listen_addrs(port), {'tcp:0100007F'})
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 130)

    def test_help(self):
        for args in ((), ('echo',), ('copy',)):
            start = time.monotonic()
            run = demo(*args, '--help', timeout=10)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertTrue(run.stdout.startswith('usage: kio_demo.py'), run.stdout)
            self.assertEqual(run.stderr, '')
            self.assertNotIn('listening on', run.stdout)
            self.assertLess(time.monotonic() - start, 10)
        self.assertIn('--bind ADDR', demo('echo', '--help').stdout)

    def test_bad_options(self):
        for args in (('--no-such-option',), ('echo', '--no-such-option'), (),
                     ('echo', '--port', '70000'), ('echo', '--port', 'x'),
                     ('echo', '--bind', 'nowhere'), ('copy', 'only-src'), ('serve',)):
            run = demo(*args, timeout=10)
            self.assertEqual(run.returncode, 2, (args, run.stderr))
            self.assertIn('usage: kio_demo.py', run.stderr)
            self.assertEqual(run.stdout, '')


if __name__ == '__main__':
    try:
        import kio
        kio.Context().close()
    except OSError as exc:
        print('io_uring unavailable: %s' % exc, file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
