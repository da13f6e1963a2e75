# SPDX-License-Identifier: MIT
"""ctypes bindings for libkio.so.0 (standard library only).

Two levels:

* ``lib`` is the loaded library with the argument and return types of every
  public function declared (``PROTOTYPES``). Calls on it follow the C rules:
  negated errno results, C callbacks the caller keeps alive.
* ``Context`` (and ``Pool``, ``SignalSet``, ``BufRing``, the ``log_*``
  functions) wrap it: errors raise ``OSError`` with the right errno, ops take
  a Python callable, and the module keeps that callable and every buffer,
  path or address handed to the op alive until the op's final callback ran
  (contract rule 5: the memory belongs to the kernel until then).

Callbacks are called as ``fn(res, flags)``: ``res`` is the op's result,
>= 0 or a negated errno (``error(res)`` turns it into an ``OSError``);
``flags`` holds ``KIO_F_MORE``/``KIO_F_BUFFER``. Ops that fill an output
(accept's peer address, statx, a pool job's return value) call
``fn(res, flags, value)``. An exception raised by a callback is kept and
raised again by the ``Context.run``/``run_once``/``close`` call that ran it.

Arguments are checked before anything reaches C (ctypes itself would keep
the low bits of an int that does not fit, and end a path at its first NUL),
with the exceptions os, socket and time raise for the same mistakes; a call
that raises has started nothing and never calls back:

* a non-integer where C takes an integer (fd, flags, mode, offset, op id,
  buffer id...): ``TypeError``, as ``os.read(1.5, 1)``;
* an integer outside its C type (an fd, flags or a signal number beyond
  ``int``; a mode, events or mask beyond ``uint32_t``; a buffer group or id
  beyond ``uint16_t``; an op id or splice offset beyond ``int64_t``):
  ``OverflowError`` ("fd is greater than maximum"), as ``os.read(2**32, 1)``;
* a file offset or length (read, write, fallocate, ftruncate, sendfile)
  above 2**63 - 1 other than ``OFFSET_CURRENT``: ``OverflowError``, as
  ``os.pread``; a negative one: ``OSError(EINVAL)``, as ``os.pread``;
* a negative count or size (``nbytes``, a splice length, a sendfile count,
  pool threads, ring sizes): ``ValueError``, as ``socket.recv(-1)``;
  ``nbytes`` beyond the buffer: ``ValueError``;
* a duration in seconds (sleep, periodic timer, op timeout, run_once,
  log_flush: an int or a float, rounded up to whole nanoseconds): NaN or
  negative, ``ValueError``; more than fits in the C type's nanoseconds
  (uint64, int64 for run_once), ``OverflowError``, as ``time.sleep(1e30)``;
* a path (str, bytes or os.PathLike) with a NUL in it: ``ValueError``
  ("embedded null byte"), as ``os.open``; a signal number outside
  1..NSIG-1: ``ValueError``, as ``signal.pthread_sigmask``; a port outside
  0..65535: ``OverflowError``, as ``socket.connect``.

Values inside their C type that the C function refuses (a negative fd, an
unknown flag) still raise the ``OSError`` kio returns. The raw ``lib``
functions check nothing: there ctypes' C rules apply.

A Context belongs to the thread that runs it; only ``post``, ``stop`` and
``wake`` may be called from other threads. See kio_asyncio.py for asyncio.
"""
import ctypes
import errno
import itertools
import math
import operator
import os
import signal
import socket
import struct
import sys
import threading

__all__ = [
    'lib', 'PROTOTYPES', 'Context', 'Pool', 'SignalSet', 'BufRing', 'Statx', 'error', 'check',
    'live_ops', 'duration_ns', 'sockaddr', 'parse_sockaddr', 'version', 'version_string',
    'strerror', 'log_set_level', 'log_level', 'log_write', 'log_set_handler', 'log_dropped',
    'log_flush',
]

KIO_F_MORE = 1 << 0
KIO_F_BUFFER = 1 << 1
KIO_F_BUF_MORE = 1 << 3
BUF_RING_INCREMENTAL = 1 << 0
BUF_RING_BUNDLE = 1 << 1
OFFSET_CURRENT = (1 << 64) - 1
FSYNC_DATASYNC = 1 << 0
CTX_SQPOLL = 1 << 0
CTX_NO_DEFER_TASKRUN = 1 << 1
CTX_BACKEND_EPOLL = 1 << 2
CTX_NO_FALLBACK = 1 << 3
CTX_READ_NOWAIT = 1 << 4
CTX_STATS_TIME = 1 << 5
BACKEND_IO_URING = 1
BACKEND_EPOLL = 2
AT_FDCWD = -100
LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL = range(5)
LOG_MAX_MESSAGE = 1024


def _load():
    """KIO_LIBRARY, then ../../build/lib beside this file, then the system."""
    path = os.environ.get('KIO_LIBRARY')
    if path:
        return ctypes.CDLL(path)
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, os.pardir, os.pardir, 'build', 'lib', 'libkio.so.0')
    if os.path.exists(built):
        return ctypes.CDLL(os.path.normpath(built))
    try:
        return ctypes.CDLL('libkio.so.0')
    except OSError:
        pass
    multiarch = getattr(sys.implementation, '_multiarch', '')
    for prefix in dict.fromkeys((sys.prefix, '/usr/local', '/usr')):
        for libdir in ('lib', os.path.join('lib', multiarch), 'lib64'):
            cand = os.path.join(prefix, libdir, 'libkio.so.0')
            if os.path.exists(cand):
                return ctypes.CDLL(cand)
    raise OSError('libkio.so.0 not found: set KIO_LIBRARY to its path')


class _Opaque(ctypes.Structure):
    pass


class kio_ctx(_Opaque):
    pass


class kio_pool(_Opaque):
    pass


class kio_signal_set(_Opaque):
    pass


class kio_tls_config(_Opaque):
    pass


class kio_tls(_Opaque):
    pass


class kio_buf_ring(_Opaque):
    pass


class kio_ctx_opts(ctypes.Structure):
    _fields_ = [('sq_entries', ctypes.c_uint32), ('cq_entries', ctypes.c_uint32),
                ('flags', ctypes.c_uint32), ('sqpoll_idle_ms', ctypes.c_uint32),
                ('sqpoll_cpu', ctypes.c_int32)]


_STATS_FIELDS = ('ops_submitted', 'ops_completed', 'ops_errors', 'ops_timeouts',
                 'ops_cancelled', 'ops_max_inflight', 'loop_iterations', 'enter_calls',
                 'ops_inflight', 'cq_overflows', 'cq_dropped', 'sqes_submitted',
                 'wait_ns', 'run_ns', 'snapshot_ns')


class kio_stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in _STATS_FIELDS]


class _StatxTimestamp(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_int64), ('tv_nsec', ctypes.c_uint32),
                ('_reserved', ctypes.c_int32)]


class Statx(ctypes.Structure):
    """struct statx (256 bytes), as filled by Context.statx."""
    _fields_ = [('stx_mask', ctypes.c_uint32), ('stx_blksize', ctypes.c_uint32),
                ('stx_attributes', ctypes.c_uint64), ('stx_nlink', ctypes.c_uint32),
                ('stx_uid', ctypes.c_uint32), ('stx_gid', ctypes.c_uint32),
                ('stx_mode', ctypes.c_uint16), ('_spare0', ctypes.c_uint16),
                ('stx_ino', ctypes.c_uint64), ('stx_size', ctypes.c_uint64),
                ('stx_blocks', ctypes.c_uint64), ('stx_attributes_mask', ctypes.c_uint64),
                ('stx_atime', _StatxTimestamp), ('stx_btime', _StatxTimestamp),
                ('stx_ctime', _StatxTimestamp), ('stx_mtime', _StatxTimestamp),
                ('stx_rdev_major', ctypes.c_uint32), ('stx_rdev_minor', ctypes.c_uint32),
                ('stx_dev_major', ctypes.c_uint32), ('stx_dev_minor', ctypes.c_uint32),
                ('_spare', ctypes.c_uint64 * 14)]


class iovec(ctypes.Structure):
    _fields_ = [('iov_base', ctypes.c_void_p), ('iov_len', ctypes.c_size_t)]


KIO_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32)
KIO_WORK_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
KIO_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)

_i, _u16, _u32 = ctypes.c_int, ctypes.c_uint16, ctypes.c_uint32
_i64, _u64, _sz, _vp = ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p
_path, _ctx, _cb = ctypes.c_char_p, ctypes.POINTER(kio_ctx), KIO_CB
_pool, _sig = ctypes.POINTER(kio_pool), ctypes.POINTER(kio_signal_set)
_ring, _socklen_p = ctypes.POINTER(kio_buf_ring), ctypes.POINTER(ctypes.c_uint32)
_tcfg, _tls = ctypes.POINTER(kio_tls_config), ctypes.POINTER(kio_tls)

# Every function of include/kio/*.h: name -> (restype, argtypes). A test
# checks this set against the library's exports and the headers.
PROTOTYPES = {
    # common.h
    'kio_version': (_u32, []),
    'kio_version_string': (ctypes.c_char_p, []),
    'kio_strerror': (ctypes.c_char_p, [_i]),
    # context.h
    'kio_ctx_opts_init': (None, [ctypes.POINTER(kio_ctx_opts), _sz]),
    'kio_ctx_create': (_i, [ctypes.POINTER(_ctx), ctypes.POINTER(kio_ctx_opts), _sz]),
    'kio_ctx_destroy': (None, [_ctx]),
    'kio_ctx_run': (_i, [_ctx]),
    'kio_ctx_run_once': (_i, [_ctx, _i64]),
    'kio_ctx_stop': (None, [_ctx]),
    'kio_ctx_post': (_i, [_ctx, _cb, _vp]),
    'kio_ctx_wake': (_i, [_ctx]),
    'kio_ctx_fd': (_i, [_ctx]),
    'kio_ctx_pending': (_u32, [_ctx]),
    'kio_ctx_probe': (_i, [_ctx, _i]),
    'kio_ctx_backend': (_i, [_ctx]),
    # stats.h
    'kio_ctx_stats': (_i, [_ctx, ctypes.POINTER(kio_stats), _sz]),
    # ops.h
    'kio_op_cancel': (_i, [_ctx, _i64]),
    'kio_op_timeout': (_i, [_ctx, _i64, _u64]),
    'kio_cancel_fd': (_i, [_ctx, _i]),
    'kio_ctx_cancel_all': (_i, [_ctx]),
    'kio_nop': (_i64, [_ctx, _cb, _vp]),
    'kio_openat': (_i64, [_ctx, _i, _path, _i, _u32, _cb, _vp]),
    'kio_close': (_i64, [_ctx, _i, _cb, _vp]),
    'kio_read': (_i64, [_ctx, _i, _vp, _sz, _u64, _cb, _vp]),
    'kio_write': (_i64, [_ctx, _i, _vp, _sz, _u64, _cb, _vp]),
    'kio_readv': (_i64, [_ctx, _i, _vp, _i, _u64, _cb, _vp]),
    'kio_read_fixed': (_i64, [_ctx, _i, _vp, _sz, _u64, _u32, _cb, _vp]),
    'kio_write_fixed': (_i64, [_ctx, _i, _vp, _sz, _u64, _u32, _cb, _vp]),
    'kio_register_buffers': (_i, [_ctx, _vp, _u32]),
    'kio_unregister_buffers': (_i, [_ctx]),
    'kio_register_files': (_i, [_ctx, ctypes.POINTER(_i), _u32]),
    'kio_unregister_files': (_i, [_ctx]),
    'kio_writev': (_i64, [_ctx, _i, _vp, _i, _u64, _cb, _vp]),
    'kio_fsync': (_i64, [_ctx, _i, _u32, _cb, _vp]),
    'kio_fallocate': (_i64, [_ctx, _i, _i, _u64, _u64, _cb, _vp]),
    'kio_ftruncate': (_i64, [_ctx, _i, _u64, _cb, _vp]),
    'kio_statx': (_i64, [_ctx, _i, _path, _i, _u32, _vp, _cb, _vp]),
    'kio_unlinkat': (_i64, [_ctx, _i, _path, _i, _cb, _vp]),
    'kio_renameat': (_i64, [_ctx, _i, _path, _i, _path, _u32, _cb, _vp]),
    'kio_mkdirat': (_i64, [_ctx, _i, _path, _u32, _cb, _vp]),
    'kio_splice': (_i64, [_ctx, _i, _i64, _i, _i64, _u32, _u32, _cb, _vp]),
    'kio_poll': (_i64, [_ctx, _i, _u32, _cb, _vp]),
    'kio_poll_multishot': (_i64, [_ctx, _i, _u32, _cb, _vp]),
    # time.h
    'kio_sleep': (_i64, [_ctx, _u64, _cb, _vp]),
    'kio_sleep_until': (_i64, [_ctx, _i, _u64, _cb, _vp]),
    'kio_timer_periodic': (_i64, [_ctx, _u64, _cb, _vp]),
    # net.h
    'kio_socket': (_i64, [_ctx, _i, _i, _i, _cb, _vp]),
    'kio_accept': (_i64, [_ctx, _i, _vp, _socklen_p, _i, _cb, _vp]),
    'kio_accept_multishot': (_i64, [_ctx, _i, _i, _cb, _vp]),
    'kio_connect': (_i64, [_ctx, _i, _vp, _u32, _cb, _vp]),
    'kio_send': (_i64, [_ctx, _i, _vp, _sz, _i, _cb, _vp]),
    'kio_recv': (_i64, [_ctx, _i, _vp, _sz, _i, _cb, _vp]),
    'kio_sendmsg': (_i64, [_ctx, _i, _vp, _i, _cb, _vp]),
    'kio_recvmsg': (_i64, [_ctx, _i, _vp, _i, _cb, _vp]),
    'kio_send_zc': (_i64, [_ctx, _i, _vp, _sz, _i, _cb, _vp]),
    'kio_recv_multishot': (_i64, [_ctx, _i, _ring, _i, _cb, _vp]),
    'kio_shutdown': (_i64, [_ctx, _i, _i, _cb, _vp]),
    'kio_sendfile': (_i64, [_ctx, _i, _i, _u64, _sz, _cb, _vp]),
    'kio_resolve': (_i64, [_ctx, _pool, _path, _path, _vp, ctypes.POINTER(_vp), _cb, _vp]),
    # buf.h
    'kio_buf_ring_create': (_i, [ctypes.POINTER(_ring), _ctx, _u16, _u32, _u32]),
    'kio_buf_ring_create_flags': (_i, [ctypes.POINTER(_ring), _ctx, _u16, _u32, _u32, _u32]),
    'kio_buf_ring_offset': (_i64, [_ring, _u16]),
    'kio_buf_ring_destroy': (None, [_ring]),
    'kio_buf_ring_data': (_vp, [_ring, _u16]),
    'kio_buf_ring_release': (_i, [_ring, _u16]),
    # pool.h
    'kio_pool_create': (_i, [ctypes.POINTER(_pool), _u32]),
    'kio_pool_destroy': (None, [_pool]),
    'kio_pool_submit': (_i64, [_ctx, _pool, KIO_WORK_FN, _cb, _vp]),
    # signal.h
    'kio_signal_set_create': (_i, [ctypes.POINTER(_sig), ctypes.POINTER(_i), _sz]),
    'kio_signal_set_destroy': (None, [_sig]),
    'kio_signal_wait': (_i64, [_ctx, _sig, _cb, _vp]),
    # log.h
    'kio_log_set_level': (None, [_i]),
    'kio_log_level': (_i, []),
    'kio_log_set_handler': (None, [KIO_LOG_FN, _vp]),
    'kio_log_write': (None, [_i, ctypes.c_char_p, _sz]),
    'kio_log_dropped': (_u64, []),
    'kio_log_flush': (_i, [_u64]),
    # tls.h
    'kio_tls_config_create': (_i, [ctypes.POINTER(_tcfg)]),
    'kio_tls_config_destroy': (None, [_tcfg]),
    'kio_tls_config_set_cert_file': (_i, [_tcfg, _path, _path]),
    'kio_tls_config_set_cert_mem': (_i, [_tcfg, _vp, _sz, _vp, _sz]),
    'kio_tls_config_add_sni_cert_file': (_i, [_tcfg, _path, _path, _path]),
    'kio_tls_config_set_ca_file': (_i, [_tcfg, _path, _path]),
    'kio_tls_config_set_ca_mem': (_i, [_tcfg, _vp, _sz]),
    'kio_tls_config_set_min_version': (_i, [_tcfg, _i]),
    'kio_tls_config_set_alpn': (_i, [_tcfg, ctypes.POINTER(_path), _sz]),
    'kio_tls_config_set_server_name': (_i, [_tcfg, _path]),
    'kio_tls_config_set_verify': (_i, [_tcfg, _i]),
    'kio_tls_config_set_ktls': (_i, [_tcfg, _i]),
    'kio_tls_config_last_error': (ctypes.c_char_p, [_tcfg]),
    'kio_tls_create': (_i, [ctypes.POINTER(_tls), _ctx, _tcfg, _i, _u32]),
    'kio_tls_destroy': (None, [_tls]),
    'kio_tls_set_server_name': (_i, [_tls, _path]),
    'kio_tls_handshake': (_i64, [_tls, _cb, _vp]),
    'kio_tls_read': (_i64, [_tls, _vp, _sz, _cb, _vp]),
    'kio_tls_write': (_i64, [_tls, _vp, _sz, _cb, _vp]),
    'kio_tls_shutdown': (_i64, [_tls, _cb, _vp]),
    'kio_tls_version': (_i, [_tls]),
    'kio_tls_alpn': (ctypes.c_char_p, [_tls]),
    'kio_tls_server_name': (ctypes.c_char_p, [_tls]),
    'kio_tls_ktls': (_u32, [_tls]),
    'kio_tls_last_error': (ctypes.c_char_p, [_tls]),
}

lib = _load()
for _name, (_res, _args) in PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def strerror(err):
    """kio_strerror(err) as a str."""
    return lib.kio_strerror(_int(err, 'err')).decode()


def version():
    return lib.kio_version()


def version_string():
    return lib.kio_version_string().decode()


def error(res, filename=None):
    """The OSError for a negated errno res (a callback's res or a return value)."""
    err = -res
    if filename is None:
        return OSError(err, os.strerror(err))
    return OSError(err, os.strerror(err), filename)


def check(res, filename=None):
    """Returns res if >= 0, raises error(res) otherwise."""
    if res < 0:
        raise error(res, filename)
    return res


# ---- what crosses into C ------------------------------------------------------
# ctypes keeps the low bits of an int that does not fit its C type, and a
# path ends at its first NUL: fd 2**32 + 3 would reach C as fd 3. Every
# value a method hands to C goes through one of these checks first; each
# raises what os, socket or time raise for the same mistake.

_INT_MIN, _INT_MAX = -2**31, 2**31 - 1
_I64_MIN, _I64_MAX = -2**63, 2**63 - 1
_U16_MAX, _U32_MAX, _U64_MAX = 2**16 - 1, 2**32 - 1, 2**64 - 1
_SIZE_MAX = 2**(8 * ctypes.sizeof(ctypes.c_size_t)) - 1
_OFF_MAX = 2**63 - 1  # off_t, as os.pread/os.lseek take it
_NS_PER_S = 10**9
_index = operator.index


def _int(value, what, lo=_INT_MIN, hi=_INT_MAX):
    """value if it is an integer in lo..hi (default: C int): TypeError for
    a non-integer (a float, a str), OverflowError outside the range."""
    value = _index(value)
    if lo <= value <= hi:
        return value
    raise OverflowError('%s is %s' % (what, 'less than minimum' if value < lo
                                      else 'greater than maximum'))


def _uint(value, what, hi=_U32_MAX):
    """_int for an unsigned C type (default: uint32_t)."""
    value = _index(value)
    if 0 <= value <= hi:
        return value
    raise OverflowError('%s is %s' % (what, 'less than minimum' if value < 0
                                      else 'greater than maximum'))


def _size(value, what, hi=_SIZE_MAX):
    """A count or size: ValueError when negative (like socket.recv and
    os.splice), OverflowError above hi."""
    value = _index(value)
    if 0 <= value <= hi:
        return value
    if value < 0:
        raise ValueError('%s must be non-negative' % what)
    raise OverflowError('%s is greater than maximum' % what)


def _offset(value, what='offset', current=True):
    """A file offset or length (off_t): OSError(EINVAL) when negative, as
    os.pread/os.ftruncate/os.posix_fallocate give, OverflowError above
    2**63 - 1. OFFSET_CURRENT passes where current is true."""
    value = _index(value)
    if 0 <= value <= _OFF_MAX or (current and value == OFFSET_CURRENT):
        return value
    if value < 0:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    raise OverflowError('%s is greater than maximum' % what)


def duration_ns(seconds, what='duration', hi=_U64_MAX):
    """Nanoseconds for a duration in seconds (an int or a float), rounded up
    as time.sleep rounds timeouts. Raises like time.sleep: TypeError for a
    non-number, ValueError for NaN or a negative value, OverflowError for
    one above hi nanoseconds (uint64 by default)."""
    if isinstance(seconds, float):
        if seconds != seconds:
            raise ValueError('Invalid value NaN (not a number)')
        if seconds < 0:
            raise ValueError('%s must be non-negative' % what)
        ns = seconds * 1e9
        if ns <= hi:  # an exact comparison; false for inf
            return math.ceil(ns)
    else:
        seconds = _index(seconds)
        if seconds < 0:
            raise ValueError('%s must be non-negative' % what)
        if seconds * _NS_PER_S <= hi:
            return seconds * _NS_PER_S
    raise OverflowError('%s is too large' % what)


def _fspath(path):
    """bytes of a str, bytes or os.PathLike path; ValueError for a NUL in it
    (which C would take as its end), as os.open raises."""
    raw = os.fsencode(path)
    if b'\0' in raw:
        raise ValueError('embedded null byte')
    return raw


def _signum(sig):
    sig = _int(sig, 'signal number')
    if not 1 <= sig < signal.NSIG:
        raise ValueError('signal number %d out of range [1; %d]' % (sig, signal.NSIG - 1))
    return sig


# ---- op records: what keeps a callback and its memory alive ----------------

class _Op:
    __slots__ = ('ctx', 'fn', 'keep', 'conv')

    def __init__(self, ctx, fn, keep, conv):
        self.ctx, self.fn, self.keep, self.conv = ctx, fn, keep, conv


# token (the C user_data) -> _Op. One entry per op whose final callback has
# not run yet; multishot ops keep theirs across KIO_F_MORE calls.
_live = {}
_tokens = itertools.count(1)


def live_ops():
    """Number of ops whose final callback has not run yet (all contexts)."""
    return len(_live)


def _on_complete(user_data, res, flags):
    # One trampoline for every op: no per-op CFUNCTYPE object can be freed
    # too early, and user_data only carries a token.
    rec = _live.get(user_data) if flags & KIO_F_MORE else _live.pop(user_data, None)
    if rec is None:
        return
    try:
        if rec.conv is None:
            rec.fn(res, flags)
        else:
            rec.fn(res, flags, rec.conv(rec, res))
    except BaseException as exc:  # noqa: B902 - re-raised by the loop call
        rec.ctx._errors.append(exc)


def _on_work(user_data):
    # Runs on a pool thread (ctypes takes the GIL); the outcome travels in
    # the record to the completion callback on the ctx thread.
    rec = _live.get(user_data)
    if rec is None:
        return -22
    try:
        rec.keep[1] = rec.keep[0]()
        return 0
    except BaseException as exc:  # noqa: B902 - delivered to the callback
        rec.keep[1] = exc
        return 0


_TRAMPOLINE = KIO_CB(_on_complete)
_WORK_TRAMPOLINE = KIO_WORK_FN(_on_work)


# ---- memory handed to ops ---------------------------------------------------

def _byte_view(obj):
    view = memoryview(obj)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')  # TypeError for a non-contiguous buffer
    return view


def _nbytes(nbytes, available):
    """nbytes of a buffer of available bytes (all of them for None)."""
    if nbytes is None:
        return available
    nbytes = _size(nbytes, 'nbytes')
    if nbytes > available:
        raise ValueError('nbytes is larger than the buffer')
    return nbytes


def _writable(obj, nbytes):
    """(address, length, keep) of a writable buffer (bytearray, memoryview...)."""
    view = _byte_view(obj)
    if view.readonly:
        raise TypeError('a writable buffer is required (bytearray, memoryview, array)')
    length = _nbytes(nbytes, len(view))
    arr = (ctypes.c_char * len(view)).from_buffer(view)
    return ctypes.addressof(arr), length, (obj, arr)


def _readable(obj, nbytes):
    """(address, length, keep) of any bytes-like object; read-only ones other
    than bytes are copied once."""
    if isinstance(obj, bytes):
        length = _nbytes(nbytes, len(obj))
        return ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value, length, obj
    view = _byte_view(obj)
    if view.readonly:
        return _readable(view.tobytes(), nbytes)
    return _writable(view, nbytes)


_SUN_PATH_MAX = 108  # sizeof(((struct sockaddr_un *)0)->sun_path)


def _in_range(value, lo, hi, message):
    # socket's own checks of ports and flow labels: OverflowError, its words.
    value = _index(value)
    if not lo <= value <= hi:
        raise OverflowError(message)
    return value


def sockaddr(family, address):
    """struct sockaddr bytes for (host, port) (AF_INET), (host, port[, flow,
    scope]) (AF_INET6) or a path (AF_UNIX; one that starts with a NUL is a
    Linux abstract name). Hosts are numeric addresses. Raises as socket's
    connect does: OverflowError for a port outside 0-65535, ValueError for a
    NUL inside a file system path, OSError for a path that does not fit."""
    if family == socket.AF_INET:
        host, port = address
        port = _in_range(port, 0, 65535, 'port must be 0-65535.')
        return (struct.pack('=H', family) + struct.pack('!H', port)
                + socket.inet_pton(family, host) + bytes(8))
    if family == socket.AF_INET6:
        host, port = address[0], address[1]
        port = _in_range(port, 0, 65535, 'port must be 0-65535.')
        flow = _in_range(address[2] if len(address) > 2 else 0, 0, 0xfffff,
                         'flowinfo must be 0-1048575.')
        scope = _uint(address[3] if len(address) > 3 else 0, 'scope_id')
        return (struct.pack('=H', family) + struct.pack('!HI', port, flow)
                + socket.inet_pton(family, host) + struct.pack('=I', scope))
    if family == socket.AF_UNIX:
        raw = os.fsencode(address)
        if raw[:1] != b'\0':
            raw = _fspath(raw)
            if len(raw) < _SUN_PATH_MAX:
                raw += b'\0'
        if len(raw) > _SUN_PATH_MAX:
            raise OSError('AF_UNIX path too long')
        return struct.pack('=H', family) + raw
    raise ValueError('unsupported address family %r' % (family,))


def parse_sockaddr(data):
    """The Python form of struct sockaddr bytes (None when empty)."""
    if len(data) < 2:
        return None
    family = struct.unpack_from('=H', data)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(family, data[4:8]), struct.unpack_from('!H', data, 2)[0]
    if family == socket.AF_INET6:
        port, flow = struct.unpack_from('!HI', data, 2)
        scope = struct.unpack_from('=I', data, 24)[0]
        return socket.inet_ntop(family, data[8:24]), port, flow, scope
    if family == socket.AF_UNIX:
        if data[2:3] == b'\0':
            return data[2:]  # an abstract name, as socket gives it
        return os.fsdecode(data[2:].split(b'\0', 1)[0])
    return data


# ---- the context -------------------------------------------------------------

class Context:
    """A kio_ctx. Methods that start an op return its id (an int) and raise
    OSError when the start failed (then fn is never called)."""

    def __init__(self, sq_entries=0, cq_entries=0, flags=0, sqpoll_idle_ms=0, sqpoll_cpu=-1):
        opts = kio_ctx_opts()
        lib.kio_ctx_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
        # A ctypes field, like an argument, would keep the low bits.
        opts.sq_entries = _size(sq_entries, 'sq_entries', _U32_MAX)
        opts.cq_entries = _size(cq_entries, 'cq_entries', _U32_MAX)
        opts.flags = _uint(flags, 'flags')
        opts.sqpoll_idle_ms = _size(sqpoll_idle_ms, 'sqpoll_idle_ms', _U32_MAX)
        opts.sqpoll_cpu = _int(sqpoll_cpu, 'sqpoll_cpu')
        handle = _ctx()
        check(lib.kio_ctx_create(ctypes.byref(handle), ctypes.byref(opts), ctypes.sizeof(opts)))
        self._h = handle
        self._errors = []

    @property
    def handle(self):
        """The kio_ctx pointer for the raw lib calls; None once closed."""
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, '_h', None) is not None:
            self._errors = []
            try:
                self.close()
            except Exception:  # noqa: B902 - nowhere to report from a finalizer
                pass

    def _raise_errors(self):
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    def close(self):
        """kio_ctx_destroy: cancels what is pending and runs every callback."""
        handle, self._h = self._h, None
        if handle is not None:
            lib.kio_ctx_destroy(handle)
        self._raise_errors()

    def run(self):
        rc = lib.kio_ctx_run(self._h)
        self._raise_errors()
        return check(rc)

    def run_once(self, timeout=None):
        """One loop round; timeout in seconds (None: wait). Returns callbacks run."""
        ns = -1 if timeout is None else duration_ns(timeout, 'timeout', _I64_MAX)
        rc = lib.kio_ctx_run_once(self._h, ns)
        self._raise_errors()
        return check(rc)

    def stop(self):
        lib.kio_ctx_stop(self._h)

    def wake(self):
        check(lib.kio_ctx_wake(self._h))

    def fd(self):
        return check(lib.kio_ctx_fd(self._h))

    def pending(self):
        return lib.kio_ctx_pending(self._h)

    def probe(self, opcode):
        return bool(check(lib.kio_ctx_probe(self._h, _int(opcode, 'opcode'))))

    @property
    def backend(self):
        """'io_uring' or 'epoll': the backend serving this context."""
        return 'epoll' if check(lib.kio_ctx_backend(self._h)) == BACKEND_EPOLL else 'io_uring'

    def stats(self):
        """kio_ctx_stats(3) as a dict. Any thread: on another thread than
        the loop's, the copy the loop publishes; the first such call only
        asks for it and raises BlockingIOError (EAGAIN)."""
        out = kio_stats()
        check(lib.kio_ctx_stats(self._h, ctypes.byref(out), ctypes.sizeof(out)))
        return {name: getattr(out, name) for name in _STATS_FIELDS}

    def _start(self, cfunc, args, fn, keep=None, conv=None, filename=None):
        if not callable(fn):
            raise TypeError('the callback must be callable')
        token = next(_tokens)
        _live[token] = _Op(self, fn, keep, conv)
        try:
            rc = cfunc(self._h, *args, _TRAMPOLINE, token)
        except BaseException:
            del _live[token]
            raise
        if rc < 0:
            del _live[token]
            raise error(rc, filename)
        return rc

    def post(self, fn):
        """Thread-safe: fn(res, flags) runs on the loop thread (res -ECANCELED
        if the ctx is destroyed first)."""
        self._start(lib.kio_ctx_post, (), fn)

    def cancel(self, op):
        check(lib.kio_op_cancel(self._h, _int(op, 'op', _I64_MIN, _I64_MAX)))

    def timeout(self, op, seconds):
        """Arms (0 disarms) a deadline on op; when it expires fn gets -ETIMEDOUT."""
        ns = duration_ns(seconds, 'timeout')
        check(lib.kio_op_timeout(self._h, _int(op, 'op', _I64_MIN, _I64_MAX), ns))

    def cancel_fd(self, fd):
        return check(lib.kio_cancel_fd(self._h, _int(fd, 'fd')))

    def cancel_all(self):
        """Cancels every pending op (kio_ctx_cancel_all); returns how many were asked."""
        return check(lib.kio_ctx_cancel_all(self._h))

    # file and descriptor ops
    def nop(self, fn):
        return self._start(lib.kio_nop, (), fn)

    def openat(self, path, flags, fn, mode=0o644, dirfd=AT_FDCWD):
        raw = _fspath(path)
        args = (_int(dirfd, 'dirfd'), raw, _int(flags, 'flags'), _uint(mode, 'mode'))
        return self._start(lib.kio_openat, args, fn, raw, filename=path)

    def close_fd(self, fd, fn):
        return self._start(lib.kio_close, (_int(fd, 'fd'),), fn)

    def read(self, fd, buf, fn, offset=OFFSET_CURRENT, nbytes=None):
        """Reads into the writable buffer buf (kept referenced until fn ran)."""
        fd, offset = _int(fd, 'fd'), _offset(offset)
        addr, length, keep = _writable(buf, nbytes)
        return self._start(lib.kio_read, (fd, addr, length, offset), fn, keep)

    def write(self, fd, data, fn, offset=OFFSET_CURRENT, nbytes=None):
        fd, offset = _int(fd, 'fd'), _offset(offset)
        addr, length, keep = _readable(data, nbytes)
        return self._start(lib.kio_write, (fd, addr, length, offset), fn, keep)

    def _vector(self, cfunc, fd, bufs, fn, offset, convert):
        fd, offset = _int(fd, 'fd'), _offset(offset)
        parts = [convert(b, None) for b in bufs]
        iov = (iovec * len(parts))(*[iovec(addr, length) for addr, length, _ in parts])
        keep = (iov, [k for _, _, k in parts])
        return self._start(cfunc, (fd, ctypes.addressof(iov), len(parts), offset), fn, keep)

    def readv(self, fd, bufs, fn, offset=OFFSET_CURRENT):
        return self._vector(lib.kio_readv, fd, bufs, fn, offset, _writable)

    def writev(self, fd, bufs, fn, offset=OFFSET_CURRENT):
        return self._vector(lib.kio_writev, fd, bufs, fn, offset, _readable)

    def fsync(self, fd, fn, flags=0):
        return self._start(lib.kio_fsync, (_int(fd, 'fd'), _uint(flags, 'flags')), fn)

    def fallocate(self, fd, mode, offset, length, fn):
        args = (_int(fd, 'fd'), _int(mode, 'mode'), _offset(offset, current=False),
                _offset(length, 'length', current=False))
        return self._start(lib.kio_fallocate, args, fn)

    def ftruncate(self, fd, length, fn):
        args = (_int(fd, 'fd'), _offset(length, 'length', current=False))
        return self._start(lib.kio_ftruncate, args, fn)

    def statx(self, path, fn, flags=0, mask=0xfff, dirfd=AT_FDCWD):
        """fn(res, flags, Statx)."""
        raw, out = _fspath(path), Statx()
        args = (_int(dirfd, 'dirfd'), raw, _int(flags, 'flags'), _uint(mask, 'mask'),
                ctypes.addressof(out))
        return self._start(lib.kio_statx, args, fn, (raw, out), lambda rec, res: rec.keep[1],
                           filename=path)

    def unlinkat(self, path, fn, flags=0, dirfd=AT_FDCWD):
        raw = _fspath(path)
        args = (_int(dirfd, 'dirfd'), raw, _int(flags, 'flags'))
        return self._start(lib.kio_unlinkat, args, fn, raw, filename=path)

    def renameat(self, old, new, fn, flags=0, olddirfd=AT_FDCWD, newdirfd=AT_FDCWD):
        keep = (_fspath(old), _fspath(new))
        args = (_int(olddirfd, 'olddirfd'), keep[0], _int(newdirfd, 'newdirfd'), keep[1],
                _uint(flags, 'flags'))
        return self._start(lib.kio_renameat, args, fn, keep, filename=old)

    def mkdirat(self, path, fn, mode=0o777, dirfd=AT_FDCWD):
        raw = _fspath(path)
        args = (_int(dirfd, 'dirfd'), raw, _uint(mode, 'mode'))
        return self._start(lib.kio_mkdirat, args, fn, raw, filename=path)

    def splice(self, fd_in, off_in, fd_out, off_out, length, fn, flags=0):
        """off_in/off_out: file offsets, or -1 for a pipe or the file position."""
        args = (_int(fd_in, 'fd_in'), _int(off_in, 'off_in', _I64_MIN, _I64_MAX),
                _int(fd_out, 'fd_out'), _int(off_out, 'off_out', _I64_MIN, _I64_MAX),
                _size(length, 'length', _U32_MAX), _uint(flags, 'flags'))
        return self._start(lib.kio_splice, args, fn)

    def poll(self, fd, events, fn):
        return self._start(lib.kio_poll, (_int(fd, 'fd'), _uint(events, 'events')), fn)

    def poll_multishot(self, fd, events, fn):
        args = (_int(fd, 'fd'), _uint(events, 'events'))
        return self._start(lib.kio_poll_multishot, args, fn)

    # timers
    def sleep(self, seconds, fn):
        return self._start(lib.kio_sleep, (duration_ns(seconds, 'sleep length'),), fn)

    def sleep_until(self, clockid, deadline_ns, fn):
        """deadline_ns: an int, nanoseconds since clockid's epoch."""
        args = (_int(clockid, 'clockid'), _uint(deadline_ns, 'deadline_ns', _U64_MAX))
        return self._start(lib.kio_sleep_until, args, fn)

    def timer_periodic(self, seconds, fn):
        return self._start(lib.kio_timer_periodic, (duration_ns(seconds, 'period'),), fn)

    # network
    def socket(self, domain, type, fn, protocol=0):
        args = (_int(domain, 'domain'), _int(type, 'type'), _int(protocol, 'protocol'))
        return self._start(lib.kio_socket, args, fn)

    def accept(self, fd, fn, flags=0):
        """fn(res, flags, peer address or None)."""
        fd, flags = _int(fd, 'fd'), _int(flags, 'flags')
        addr, addrlen = ctypes.create_string_buffer(128), ctypes.c_uint32(128)
        return self._start(lib.kio_accept, (fd, addr, ctypes.byref(addrlen), flags), fn,
                           (addr, addrlen), _peer)

    def accept_multishot(self, fd, fn, flags=0):
        args = (_int(fd, 'fd'), _int(flags, 'flags'))
        return self._start(lib.kio_accept_multishot, args, fn)

    def connect(self, fd, family, address, fn):
        fd, data = _int(fd, 'fd'), sockaddr(family, address)
        raw = ctypes.create_string_buffer(data, len(data))
        # The exact length: an abstract AF_UNIX name has no terminating NUL.
        return self._start(lib.kio_connect, (fd, raw, len(data)), fn, raw)

    def send(self, fd, data, fn, flags=0, nbytes=None):
        fd, flags = _int(fd, 'fd'), _int(flags, 'flags')
        addr, length, keep = _readable(data, nbytes)
        return self._start(lib.kio_send, (fd, addr, length, flags), fn, keep)

    def send_zc(self, fd, data, fn, flags=0, nbytes=None):
        fd, flags = _int(fd, 'fd'), _int(flags, 'flags')
        addr, length, keep = _readable(data, nbytes)
        return self._start(lib.kio_send_zc, (fd, addr, length, flags), fn, keep)

    def recv(self, fd, buf, fn, flags=0, nbytes=None):
        fd, flags = _int(fd, 'fd'), _int(flags, 'flags')
        addr, length, keep = _writable(buf, nbytes)
        return self._start(lib.kio_recv, (fd, addr, length, flags), fn, keep)

    def recv_multishot(self, fd, ring, fn, flags=0):
        """fn(res, flags): the data is ring.take(flags >> 16, res)."""
        args = (_int(fd, 'fd'), ring._h, _int(flags, 'flags'))
        return self._start(lib.kio_recv_multishot, args, fn, ring)

    def shutdown(self, fd, how, fn):
        return self._start(lib.kio_shutdown, (_int(fd, 'fd'), _int(how, 'how')), fn)

    def sendfile(self, out_fd, in_fd, offset, count, fn):
        args = (_int(out_fd, 'out_fd'), _int(in_fd, 'in_fd'), _offset(offset),
                _size(count, 'count'))
        return self._start(lib.kio_sendfile, args, fn)

    # around the core
    def pool_submit(self, pool, work, fn):
        """Runs work() on a pool thread; fn(res, flags, outcome) on this ctx's
        thread: res 0 and work's return value (or the exception it raised),
        or -ECANCELED/-ETIMEDOUT (job cancelled while queued) and None."""
        if not callable(work):
            raise TypeError('work must be callable')
        token = next(_tokens)
        _live[token] = _Op(self, fn, [work, None, pool], lambda rec, res: rec.keep[1])
        try:
            rc = lib.kio_pool_submit(self._h, pool._h, _WORK_TRAMPOLINE, _TRAMPOLINE, token)
        except BaseException:
            del _live[token]
            raise
        if rc < 0:
            del _live[token]
            raise error(rc)
        return rc

    def signal_wait(self, sigset, fn):
        return self._start(lib.kio_signal_wait, (sigset._h,), fn, sigset)


def _peer(rec, res):
    addr, addrlen = rec.keep
    return parse_sockaddr(addr.raw[:addrlen.value]) if res >= 0 else None


class _Handle:
    """An owned kio object freed by close() (or garbage collection)."""
    _destroy = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: B902 - nowhere to report from a finalizer
            pass

    def close(self):
        handle, self._h = getattr(self, '_h', None), None
        if handle is not None:
            type(self)._destroy(handle)


class Pool(_Handle):
    """kio_pool: threads for blocking work (Context.pool_submit)."""

    def __init__(self, threads=2):
        handle = _pool()
        check(lib.kio_pool_create(ctypes.byref(handle), _size(threads, 'threads', _U32_MAX)))
        self._h = handle

    _destroy = staticmethod(lambda h: lib.kio_pool_destroy(h))


class SignalSet(_Handle):
    """kio_signal_set: blocks signals in the calling thread; Context.signal_wait."""

    def __init__(self, signals):
        numbers = [_signum(s) for s in signals]
        arr = (ctypes.c_int * len(numbers))(*numbers)
        handle = _sig()
        check(lib.kio_signal_set_create(ctypes.byref(handle), arr, len(numbers)))
        self._h = handle

    _destroy = staticmethod(lambda h: lib.kio_signal_set_destroy(h))


class BufRing(_Handle):
    """kio_buf_ring of count buffers of size bytes, for Context.recv_multishot."""

    def __init__(self, ctx, group, count, size):
        group = _uint(group, 'group', _U16_MAX)
        count, size = _size(count, 'count', _U32_MAX), _size(size, 'size', _U32_MAX)
        handle = _ring()
        check(lib.kio_buf_ring_create(ctypes.byref(handle), ctx._h, group, count, size))
        self._h, self.ctx, self.size = handle, ctx, size

    _destroy = staticmethod(lambda h: lib.kio_buf_ring_destroy(h))

    def take(self, buf_id, nbytes, release=True):
        """Copies nbytes of buffer buf_id and (by default) gives it back."""
        buf_id, nbytes = _uint(buf_id, 'buffer id', _U16_MAX), _index(nbytes)
        addr = lib.kio_buf_ring_data(self._h, buf_id)
        if not addr or not 0 <= nbytes <= self.size:
            raise error(-errno.EINVAL)
        data = ctypes.string_at(addr, nbytes)
        if release:
            self.release(buf_id)
        return data

    def release(self, buf_id):
        check(lib.kio_buf_ring_release(self._h, _uint(buf_id, 'buffer id', _U16_MAX)))


# ---- log ----------------------------------------------------------------------

_log_handler = None
_log_lock = threading.Lock()


def log_set_level(level):
    lib.kio_log_set_level(_int(level, 'level'))


def log_level():
    return lib.kio_log_level()


def log_write(level, msg):
    """Queues msg (a str or bytes-like; NULs are kept, the length is passed)."""
    level = _int(level, 'level')
    raw = msg.encode() if isinstance(msg, str) else memoryview(msg).tobytes()
    lib.kio_log_write(level, raw, len(raw))


def log_set_handler(fn):
    """fn(level, message_bytes) on kio's log thread; None: the stderr sink."""
    global _log_handler
    if fn is None:
        cfn = KIO_LOG_FN()  # NULL
    else:
        def _deliver(_user_data, level, msg, length):
            try:
                fn(level, ctypes.string_at(msg, length))
            except BaseException:  # noqa: B902 - nowhere to report on the log thread
                pass
        cfn = KIO_LOG_FN(_deliver)
    with _log_lock:
        lib.kio_log_set_handler(cfn, None)
        # The call returns once the previous handler no longer runs.
        _log_handler = cfn


def log_dropped():
    return lib.kio_log_dropped()


def log_flush(timeout=1.0):
    return check(lib.kio_log_flush(duration_ns(timeout, 'timeout')))
