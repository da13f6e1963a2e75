# SPDX-License-Identifier: MIT
"""Runs kio_demo.py as a user would: copies (odd size, empty, missing source)
and the self-contained echo demo."""
import os
import subprocess
import sys
import tempfile
import unittest

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kio_demo.py')


def demo(*args):
    return subprocess.run([sys.executable, DEMO] + list(args), capture_output=True, text=True,
                          timeout=60)


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

    def test_echo_once(self):
        run = demo('echo', '--port', '0', '--once')
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertTrue(lines[0].startswith('server: listening on 127.0.0.1:'))
        self.assertEqual(sum('got the same back' in line for line in lines), 3)
        self.assertIn('sent 100042 bytes, echoed them all', lines[-1])


if __name__ == '__main__':
    try:
        import kio
        kio.Context().close()
    except OSError as exc:
        print('io_uring unavailable: %s' % exc, file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
