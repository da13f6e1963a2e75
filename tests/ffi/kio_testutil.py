# SPDX-License-Identifier: MIT
"""Shared by the ffi tests: skip (exit 77) without io_uring, a deadline
helper, and the run loop every test uses."""
import errno
import os
import sys
import time
import unittest

import kio

SKIP = 77


def require_io_uring():
    """Exits 77 (meson's skip) when the kernel or the sandbox has no io_uring."""
    try:
        kio.Context().close()
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP):
            print('io_uring unavailable: %s' % exc, file=sys.stderr)
            sys.exit(SKIP)
        raise


def run_until(ctx, predicate, seconds=5.0):
    """Runs ctx one round at a time until predicate() holds; fails the
    calling test when it does not within seconds."""
    deadline = time.monotonic() + seconds
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError('not done within %.1f s' % seconds)
        ctx.run_once(min(left, 0.1))


def source_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('KIO_SOURCE_ROOT', os.path.join(here, os.pardir, os.pardir))


def main():
    require_io_uring()
    unittest.main(verbosity=2)


class Recorder:
    """A callback that records (res, flags[, value]) calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, res, flags, *value):
        self.calls.append((res, flags) + value)

    @property
    def done(self):
        return bool(self.calls) and not self.calls[-1][1] & kio.KIO_F_MORE

    @property
    def res(self):
        return self.calls[-1][0]
