# SPDX-License-Identifier: MIT
"""kio.py declares every public function, no more, each with exactly the
ctypes types its C declaration needs: compared with the library's dynamic
symbols (nm -D), lib/libkio.map and include/kio/*.h (the source tree's, or
KIO_INCLUDE_DIR's when that is set, e.g. an installed /usr/include). The
headers are parsed, not pattern-matched line by line: comments, multi-line
declarations, KIO_API and KIO_NOEXCEPT are handled, and a declaration the
parser does not understand fails the test instead of being skipped. Besides
the functions: the callback typedefs (KIO_CB...), the structs kio.py mirrors
(kio_ctx_opts, kio_stats) and the KIO_* constants it copies."""
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

# C scalar type -> the ctypes type kio.py must use. Where ctypes makes two
# names one class (c_int32 is c_int, c_size_t is c_ulong on LP64) the test
# cannot tell them apart, and neither can the ABI.
SCALARS = {
    'char': ctypes.c_char, 'signed char': ctypes.c_byte, 'unsigned char': ctypes.c_ubyte,
    'short': ctypes.c_short, 'unsigned short': ctypes.c_ushort,
    'int': ctypes.c_int, 'signed': ctypes.c_int, 'signed int': ctypes.c_int,
    'unsigned': ctypes.c_uint, 'unsigned int': ctypes.c_uint,
    'long': ctypes.c_long, 'unsigned long': ctypes.c_ulong,
    'long long': ctypes.c_longlong, 'unsigned long long': ctypes.c_ulonglong,
    'int8_t': ctypes.c_int8, 'uint8_t': ctypes.c_uint8,
    'int16_t': ctypes.c_int16, 'uint16_t': ctypes.c_uint16,
    'int32_t': ctypes.c_int32, 'uint32_t': ctypes.c_uint32,
    'int64_t': ctypes.c_int64, 'uint64_t': ctypes.c_uint64,
    'size_t': ctypes.c_size_t, 'ssize_t': ctypes.c_ssize_t,
    'socklen_t': ctypes.c_uint32, 'bool': ctypes.c_bool, '_Bool': ctypes.c_bool,
    'double': ctypes.c_double, 'float': ctypes.c_float,
}

# Deliberate departures from the plain mapping: (function or typedef,
# parameter) -> (ctypes type, why).
OVERRIDES = {
    ('kio_log_fn', 'msg'): (ctypes.c_void_p, 'not NUL-terminated: a c_char_p would be read '
                            'up to a NUL past its len bytes'),
}

QUALIFIERS = {'const', 'volatile', 'restrict', '__restrict', '__restrict__'}
# Tokens of the headers that are not C (kio/common.h defines them).
MACRO_WORDS = {'KIO_API', 'KIO_NOEXCEPT', 'KIO_EXTERN_C_BEGIN', 'KIO_EXTERN_C_END'}
TYPE_WORDS = {'void', 'char', 'short', 'int', 'long', 'signed', 'unsigned', 'float', 'double',
              '_Bool', 'bool', 'struct', 'union', 'enum'}


class ParseError(Exception):
    pass


# ---- reading the headers ------------------------------------------------------

def header_dir():
    """include/kio of the source tree, or of KIO_INCLUDE_DIR when set (the
    directory holding kio/, or kio/ itself)."""
    inc = os.environ.get('KIO_INCLUDE_DIR')
    if not inc:
        return os.path.join(ROOT, 'include', 'kio')
    sub = os.path.join(inc, 'kio')
    return sub if os.path.isfile(os.path.join(sub, 'kio.h')) else inc


def strip_comments(text):
    """text without /* */ and // comments (string literals kept whole)."""
    def repl(m):
        return m.group(0) if m.group(0).startswith('"') else ' '
    return re.sub(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', repl, text, flags=re.S)


def split_top(text, sep, opening='({[', closing=')}]'):
    """text split at sep outside any bracket."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


class CType:
    """A parsed C type: base ('char', 'kio_ctx', 'struct sockaddr') and its
    pointer depth, with the declaration text for messages."""

    def __init__(self, base, depth, text):
        self.base, self.depth, self.text = base, depth, text

    def __repr__(self):
        return self.text


def parse_decl(decl, named=True):
    """'const struct iovec *iov' -> (CType('struct iovec', 1), 'iov');
    a parameter without a name gets None."""
    text = ' '.join(decl.split())
    if '(' in text:
        raise ParseError('function pointer parameter %r: give it a typedef' % text)
    tokens = re.findall(r'\[[^\]]*\]|\*|\w+|\S', text)
    bad = [t for t in tokens if not (t == '*' or t.startswith('[') or re.match(r'\w+$', t))]
    if bad:
        raise ParseError('cannot read %r (%s)' % (text, ' '.join(bad)))
    arrays = sum(1 for t in tokens if t.startswith('['))
    words = [t for t in tokens if t not in QUALIFIERS and not t.startswith('[')]
    depth = words.count('*') + arrays
    name = None
    if named and words and words[-1] != '*':
        last = words[-1]
        before = [w for w in words[:-1] if w != '*']
        if before and last not in TYPE_WORDS and before[-1] not in ('struct', 'union', 'enum'):
            name = last
            words = words[:-1]
    base = ' '.join(w for w in words if w != '*')
    if not base:
        raise ParseError('no type in %r' % text)
    return CType(base, depth, text), name


def parse_params(text):
    text = text.strip()
    if text in ('', 'void'):
        return []
    return [parse_decl(p) for p in split_top(text, ',')]


class Headers:
    """Everything kio.py mirrors from one directory of kio headers."""

    def __init__(self, directory=None, texts=None):
        self.functions = {}   # name -> (CType return, [(CType, name)], file)
        self.callbacks = {}   # typedef name -> (CType return, [(CType, name)])
        self.structs = {}     # typedef name -> [(CType, field name)]
        self.opaque = set()   # typedef struct X X; without a body here
        self.defines = {}     # KIO_* -> value text
        self.errors = []      # declarations that could not be read
        if texts is None:
            paths = sorted(glob.glob(os.path.join(directory, '*.h')))
            texts = {}
            for path in paths:
                with open(path) as f:
                    texts[os.path.basename(path)] = f.read()
        self.files = sorted(texts)
        for name in self.files:
            self._read(name, texts[name])

    def _read(self, fname, text):
        text = strip_comments(text).replace('\\\n', ' ')
        code = []
        for line in text.splitlines():
            m = re.match(r'\s*#\s*define\s+(KIO_\w+)\s+(.+?)\s*$', line)
            if m:
                self.defines[m.group(1)] = m.group(2)
            if not line.lstrip().startswith('#'):
                code.append(line)
        code = ' '.join(code)
        for word in MACRO_WORDS - {'KIO_API'}:
            code = re.sub(r'\b%s\b' % word, ' ', code)
        for stmt in split_top(code, ';'):
            stmt = ' '.join(stmt.split())
            if stmt:
                try:
                    self._statement(fname, stmt)
                except ParseError as exc:
                    self.errors.append('%s: %s' % (fname, exc))

    def _statement(self, fname, stmt):
        if stmt.startswith('KIO_API '):
            m = re.match(r'KIO_API (.*?)\b(kio_\w+) ?\((.*)\)$', stmt)
            if not m:
                raise ParseError('cannot read the declaration %r' % stmt)
            ret = parse_decl(m.group(1), named=False)[0]
            self.functions[m.group(2)] = (ret, parse_params(m.group(3)), fname)
            return
        m = re.match(r'typedef (.*?)\( ?\* ?(\w+) ?\) ?\((.*)\)$', stmt)
        if m:
            ret = parse_decl(m.group(1), named=False)[0]
            self.callbacks[m.group(2)] = (ret, parse_params(m.group(3)))
            return
        m = re.match(r'typedef struct (\w+) (\w+)$', stmt)
        if m:
            self.opaque.add(m.group(2))
            return
        m = re.match(r'typedef struct (\w+) ?\{(.*)\} ?(\w+)$', stmt)
        if m:
            fields = [parse_decl(f) for f in m.group(2).split(';') if f.strip()]
            if any(name is None for _, name in fields):
                raise ParseError('a field without a name in struct %s' % m.group(1))
            self.structs[m.group(3)] = fields
            return
        if re.match(r'struct \w+$', stmt):
            return  # a forward declaration of a system struct
        if 'kio_' in stmt or '(' in stmt:
            raise ParseError('not understood, add it to the parser: %r' % stmt)


# ---- the ctypes type each C type needs ------------------------------------------

def describe(ctype):
    """A ctypes type as kio.py would spell it."""
    if ctype is None:
        return 'None'
    for name in ('KIO_CB', 'KIO_WORK_FN', 'KIO_LOG_FN'):
        if ctype is getattr(kio, name, None):
            return 'kio.' + name
    if issubclass(ctype, ctypes._Pointer):
        return 'POINTER(%s)' % describe(ctype._type_)
    if issubclass(ctype, ctypes._CFuncPtr):
        return 'CFUNCTYPE(%s)' % ', '.join(describe(t) for t in (ctype._restype_,)
                                            + tuple(ctype._argtypes_ or ()))
    if ctype.__module__ == 'kio':
        return 'kio.' + ctype.__name__
    return 'ctypes.' + ctype.__name__


class Mapper:
    def __init__(self, headers, module=kio):
        self.h, self.kio = headers, module

    def _kio_type(self, attr, what):
        value = getattr(self.kio, attr, None)
        if value is None:
            raise ParseError('kio.py has no %s for %s' % (attr, what))
        return value

    def expected(self, ct):
        """The one ctypes type (or None for void) kio.py must use for ct."""
        base, depth = ct.base, ct.depth
        if depth == 0:
            if base == 'void':
                return None
            if base in SCALARS:
                return SCALARS[base]
            if base in self.h.callbacks:
                return self._kio_type(base.upper(), 'the callback typedef ' + base)
            if base in self.h.structs:
                return self._kio_type(base, 'the struct ' + base)
            raise ParseError('no ctypes mapping for the C type %r' % ct.text)
        if depth == 1:
            if base == 'void':
                return ctypes.c_void_p
            if base == 'char':
                return ctypes.c_char_p
            if base.startswith(('struct ', 'union ')):
                return ctypes.c_void_p  # a system struct: the binding passes an address
            if base in self.h.opaque or base in self.h.structs:
                return ctypes.POINTER(self._kio_type(base, 'the handle type ' + base))
        inner = self.expected(CType(base, depth - 1, ct.text))
        if inner is None:
            raise ParseError('no ctypes mapping for the C type %r' % ct.text)
        return ctypes.POINTER(inner)

    def compare(self, owner, ret, params, restype, argtypes):
        """Problems (strings) between a C signature and a ctypes one."""
        problems = []

        def check(what, ct, name, declared):
            try:
                want = self.expected(ct)
            except ParseError as exc:
                problems.append('%s: %s %s' % (owner, what, exc))
                return
            reason = None
            if (owner, name) in OVERRIDES:
                want, reason = OVERRIDES[(owner, name)]
            if declared is not want:
                problems.append('%s: %s (%s) is declared %s, the header needs %s%s' % (
                    owner, what, ct.text, describe(declared), describe(want),
                    ' (%s)' % reason if reason else ''))
        check('return type', ret, None, restype)
        if len(argtypes) != len(params):
            problems.append('%s: %d argument types declared, the header has %d parameters (%s)'
                            % (owner, len(argtypes), len(params),
                               ', '.join(ct.text for ct, _ in params) or 'void'))
        for i, ((ct, name), declared) in enumerate(zip(params, argtypes)):
            check('argument %d' % (i + 1), ct, name, declared)
        return problems


def function_problems(headers, prototypes):
    mapper = Mapper(headers)
    problems = []
    for name, (ret, params, _) in sorted(headers.functions.items()):
        if name not in prototypes:
            problems.append('%s: in the headers, missing from kio.PROTOTYPES' % name)
            continue
        restype, argtypes = prototypes[name]
        problems += mapper.compare(name, ret, params, restype, list(argtypes))
    for name in sorted(set(prototypes) - set(headers.functions)):
        problems.append('%s: in kio.PROTOTYPES, not in the headers' % name)
    return problems


# ---- symbols --------------------------------------------------------------------

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


def define_value(text):
    """The int a simple KIO_* #define stands for, or None."""
    text = re.sub(r'\(\s*u?int(?:8|16|32|64)_t\s*\)\s*-1', '(-1 & 0xffffffffffffffff)', text)
    text = re.sub(r'\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b', r'\1', text)
    if not re.fullmatch(r'[\s\dxXa-fA-F()<>|&+\-~]+', text):
        return None
    try:
        return eval(text, {'__builtins__': {}})  # digits and operators only
    except SyntaxError:
        return None


class TestSymbols(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.headers = Headers(header_dir())

    def test_headers_parse_completely(self):
        self.assertIn('kio.h', self.headers.files, 'no kio headers in %s' % header_dir())
        self.assertEqual(self.headers.errors, [])
        self.assertGreater(len(self.headers.functions), 50)

    def test_declared_equals_map(self):
        self.assertEqual(set(kio.PROTOTYPES), map_symbols())

    def test_declared_equals_exports(self):
        exported = exported_symbols()
        if exported is None:
            self.skipTest('nm or KIO_LIBRARY missing')
        self.assertEqual(set(kio.PROTOTYPES), exported)

    def test_declared_equals_headers(self):
        self.assertEqual(set(kio.PROTOTYPES), set(self.headers.functions))

    def test_signatures_match_headers(self):
        problems = function_problems(self.headers, kio.PROTOTYPES)
        if problems:
            self.fail('kio.PROTOTYPES and the headers differ:\n  ' + '\n  '.join(problems))

    def test_callback_types_match_headers(self):
        mapper, problems = Mapper(self.headers), []
        for name, (ret, params) in sorted(self.headers.callbacks.items()):
            cfunc = getattr(kio, name.upper(), None)
            if cfunc is None:
                problems.append('%s: kio.py has no %s' % (name, name.upper()))
                continue
            problems += mapper.compare(name, ret, params, cfunc._restype_,
                                       list(cfunc._argtypes_))
        self.assertEqual(problems, [])

    def test_structs_match_headers(self):
        mapper, problems = Mapper(self.headers), []
        for name, fields in sorted(self.headers.structs.items()):
            cls = getattr(kio, name, None)
            if cls is None:
                continue  # not mirrored; a prototype that needs it fails above
            declared = list(cls._fields_)
            if [n for n, _ in declared] != [n for _, n in fields]:
                problems.append('%s: fields %s, the header has %s' % (
                    name, [n for n, _ in declared], [n for _, n in fields]))
                continue
            for (ct, fname), (_, ftype) in zip(fields, declared):
                want = mapper.expected(ct)
                if ftype is not want:
                    problems.append('%s.%s (%s) is declared %s, the header needs %s' % (
                        name, fname, ct.text, describe(ftype), describe(want)))
        self.assertEqual(problems, [])

    def test_constants_match_headers(self):
        checked, problems = 0, []
        for name, text in sorted(self.headers.defines.items()):
            value = define_value(text)
            if value is None:
                continue
            for attr in (name, name[len('KIO_'):]):
                if hasattr(kio, attr):
                    checked += 1
                    if getattr(kio, attr) != value:
                        problems.append('kio.%s = %r, the header says %s (%r)' % (
                            attr, getattr(kio, attr), name, value))
                    break
        self.assertEqual(problems, [])
        self.assertGreater(checked, 10)

    def test_loaded_functions_are_typed(self):
        for name, (restype, argtypes) in kio.PROTOTYPES.items():
            fn = getattr(kio.lib, name)
            self.assertIs(fn.restype, restype)
            self.assertEqual(list(fn.argtypes), list(argtypes))


class TestChecker(unittest.TestCase):
    """The comparison catches what it is meant to catch (it would pass
    vacuously otherwise)."""

    HEADER = '''
        /* a comment with KIO_API int kio_fake(void) KIO_NOEXCEPT; inside */
        typedef struct kio_ctx kio_ctx;
        typedef void (*kio_cb)(void *user_data, int32_t res, uint32_t flags);
        KIO_API int64_t kio_probe_one(kio_ctx *ctx, // the context
                                      int fd, uint16_t id,
                                      const char *const *names, size_t count,
                                      kio_cb cb, void *user_data) KIO_NOEXCEPT;
        KIO_API void kio_probe_two(void);
    '''

    def setUp(self):
        self.headers = Headers(texts={'probe.h': self.HEADER})

    def test_parses_multiline_with_comments(self):
        self.assertEqual(self.headers.errors, [])
        self.assertEqual(sorted(self.headers.functions), ['kio_probe_one', 'kio_probe_two'])
        ret, params, _ = self.headers.functions['kio_probe_one']
        self.assertEqual([(p.base, p.depth, n) for p, n in params], [
            ('kio_ctx', 1, 'ctx'), ('int', 0, 'fd'), ('uint16_t', 0, 'id'),
            ('char', 2, 'names'), ('size_t', 0, 'count'), ('kio_cb', 0, 'cb'),
            ('void', 1, 'user_data')])

    def test_reports_each_difference(self):
        c = ctypes
        right = (c.c_int64, [c.POINTER(kio.kio_ctx), c.c_int, c.c_uint16,
                             c.POINTER(c.c_char_p), c.c_size_t, kio.KIO_CB, c.c_void_p])
        self.assertEqual(function_problems(self.headers, {'kio_probe_one': right,
                                                          'kio_probe_two': (None, [])}), [])
        wrong = {
            'kio_probe_one': (c.c_int, [c.c_void_p, c.c_int, c.c_uint32, c.c_char_p, c.c_size_t,
                                        kio.KIO_CB]),
            'kio_extra': (None, []),
        }
        problems = function_problems(self.headers, wrong)
        self.assertEqual(problems, [
            'kio_probe_one: return type (int64_t) is declared ctypes.c_int, the header needs '
            'ctypes.c_long',
            'kio_probe_one: 6 argument types declared, the header has 7 parameters (kio_ctx '
            '*ctx, int fd, uint16_t id, const char *const *names, size_t count, kio_cb cb, '
            'void *user_data)',
            'kio_probe_one: argument 1 (kio_ctx *ctx) is declared ctypes.c_void_p, the header '
            'needs POINTER(kio.kio_ctx)',
            'kio_probe_one: argument 3 (uint16_t id) is declared ctypes.c_uint, the header '
            'needs ctypes.c_ushort',
            'kio_probe_one: argument 4 (const char *const *names) is declared ctypes.c_char_p, '
            'the header needs POINTER(ctypes.c_char_p)',
            'kio_probe_two: in the headers, missing from kio.PROTOTYPES',
            'kio_extra: in kio.PROTOTYPES, not in the headers',
        ])

    def test_unreadable_declaration_is_an_error(self):
        headers = Headers(texts={'bad.h': 'KIO_API int kio_bad(void (*fn)(int)) KIO_NOEXCEPT;'})
        self.assertEqual(len(headers.errors), 1)
        self.assertIn('function pointer parameter', headers.errors[0])


if __name__ == '__main__':
    main()
