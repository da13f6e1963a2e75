# SPDX-License-Identifier: MIT
"""kio.py declares every public function, no more, with the argument count
and C types of its header: compared with the library's dynamic symbols
(nm -D), lib/libkio.map and include/kio/*.h."""
import ctypes
import glob
import os
import re
import shutil
import subprocess
import unittest

import kio
from kio_testutil import main, source_root

ROOT = source_root()

# C type of a header parameter -> the ctypes types kio.py may declare for it.
POINTER_TYPES = (ctypes.c_void_p, ctypes._Pointer)
C_TYPES = {
    'int': ctypes.c_int, 'int32_t': ctypes.c_int32, 'int64_t': ctypes.c_int64,
    'uint16_t': ctypes.c_uint16, 'uint32_t': ctypes.c_uint32, 'uint64_t': ctypes.c_uint64,
    'size_t': ctypes.c_size_t, 'socklen_t': ctypes.c_uint32,
}
FUNCTION_TYPES = {'kio_cb': kio.KIO_CB, 'kio_work_fn': kio.KIO_WORK_FN,
                  'kio_log_fn': kio.KIO_LOG_FN}


def header_prototypes():
    """name -> (return type, [parameter types]) from include/kio/*.h."""
    protos = {}
    pattern = re.compile(r'KIO_API\s+([^;{]*?)\b(kio_\w+)\s*\(([^)]*)\)\s*KIO_NOEXCEPT\s*;', re.S)
    for path in sorted(glob.glob(os.path.join(ROOT, 'include', 'kio', '*.h'))):
        with open(path) as f:
            text = re.sub(r'/\*.*?\*/', ' ', f.read(), flags=re.S)
        for ret, name, params in pattern.findall(text):
            params = ' '.join(params.split())
            args = [] if params in ('', 'void') else [p.strip() for p in params.split(',')]
            protos[name] = (ret.strip(), [param_type(a) for a in args])
    return protos


def param_type(decl, named=True):
    """'const struct iovec *iov' -> 'struct iovec *'; 'uint32_t len' -> 'uint32_t'."""
    decl = ' '.join(decl.replace('const ', '').replace('*', ' * ').split())
    words = decl.split()
    if named and words[-1] != '*' and len(words) > 1:
        words = words[:-1]  # the parameter's name
    return ' '.join(words)


def map_symbols():
    with open(os.path.join(ROOT, 'lib', 'libkio.map')) as f:
        return set(re.findall(r'^\s*(kio_\w+)\s*;', f.read(), re.M))


def exported_symbols():
    nm = shutil.which('nm')
    lib_path = os.environ.get('KIO_LIBRARY')
    if not nm or not lib_path:
        return None
    out = subprocess.run([nm, '-D', '--defined-only', lib_path], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in 'TtWi' and parts[2].startswith('kio_'):
            names.add(parts[2].split('@')[0])
    return names


def expected(c_type):
    """The ctypes type kio.py must declare for c_type, or a tuple of base
    classes for a pointer it may pass as any pointer."""
    if c_type in FUNCTION_TYPES:
        return FUNCTION_TYPES[c_type]
    if c_type == 'char *':
        return ctypes.c_char_p
    if c_type.endswith('*'):
        inner = c_type[:-1].strip()
        target = expected(inner)
        if isinstance(target, tuple) or target is None:
            return POINTER_TYPES  # void *, struct sockaddr *...
        return ctypes.POINTER(target)
    if c_type in C_TYPES:
        return C_TYPES[c_type]
    return getattr(kio, c_type, None)  # kio_ctx, kio_stats...


def matches(c_type, ctype):
    """Whether ctypes type ctype is what kio.py should declare for c_type."""
    if ctype is None or c_type == 'void':
        return ctype is None and c_type == 'void'
    want = expected(c_type)
    if isinstance(want, tuple):
        return issubclass(ctype, want)
    return ctype is want


class TestSymbols(unittest.TestCase):
    def test_declared_equals_map(self):
        self.assertEqual(set(kio.PROTOTYPES), map_symbols())

    def test_declared_equals_exports(self):
        exported = exported_symbols()
        if exported is None:
            self.skipTest('nm or KIO_LIBRARY missing')
        self.assertEqual(set(kio.PROTOTYPES), exported)

    def test_declared_equals_headers(self):
        self.assertEqual(set(kio.PROTOTYPES), set(header_prototypes()))

    def test_signatures_match_headers(self):
        for name, (ret, params) in sorted(header_prototypes().items()):
            restype, argtypes = kio.PROTOTYPES[name]
            with self.subTest(name=name):
                self.assertEqual(len(argtypes), len(params), 'argument count')
                for i, (c_type, ctype) in enumerate(zip(params, argtypes)):
                    self.assertTrue(matches(c_type, ctype),
                                    'argument %d: %s declared as %s' % (i + 1, c_type, ctype))
                c_ret = param_type(ret, named=False)
                self.assertTrue(matches(c_ret, restype),
                                'return %s declared as %s' % (ret, restype))

    def test_loaded_functions_are_typed(self):
        for name, (restype, argtypes) in kio.PROTOTYPES.items():
            fn = getattr(kio.lib, name)
            self.assertIs(fn.restype, restype)
            self.assertEqual(list(fn.argtypes), list(argtypes))


if __name__ == '__main__':
    main()
