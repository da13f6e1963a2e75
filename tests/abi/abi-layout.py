#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks of a released ABI that abidiff alone does not make.

    abi-layout.py OLD.xml NEW.xml SUPPRESSIONS

OLD.xml is a stored release description (tests/abi/abi-X.Y.xml), NEW.xml the
abidw output for the library just built (same abidw options), SUPPRESSIONS
the abidiff suppression file of check-abidiff.sh (abi-suppressions.abignore).

1. Symbol versions: every symbol of the release is exported by the new
   library under the same version node, with the same default (@@) flag, and
   no symbol was added to a node that the release already had (new symbols
   go in a new node).
2. Public struct layouts: for every kio_* struct the release defines, the new
   layout keeps each old field with the same name, offset and type (typedefs
   and cv-qualifiers looked through, sizes compared). Structs listed in
   SUPPRESSIONS with `has_data_member_inserted_at = end` may gain fields
   after the old end; all others must stay exactly as they were. This closes
   a gap of abidiff 2.2: its `has_data_member_inserted_at = end` suppression
   hides every change of the struct that deletes no field and does not
   shrink it (a field retyped from int32_t to int64_t, say).

Prints what it checked; exits 1 with one line per problem.
"""
import re
import sys
import xml.etree.ElementTree as ET

TYPE_TAGS = {
    'type-decl', 'typedef-decl', 'qualified-type-def', 'pointer-type-def',
    'reference-type-def', 'array-type-def', 'class-decl', 'union-decl',
    'enum-decl', 'function-type', 'pointer-to-member-type',
}


class Corpus:
    def __init__(self, path):
        self.path = path
        root = ET.parse(path).getroot()
        if root.tag != 'abi-corpus':
            raise SystemExit(f'abi-layout: {path} is not an abidw corpus')
        self.symbols = set()
        for section in ('elf-function-symbols', 'elf-variable-symbols'):
            for sec in root.iter(section):
                for s in sec.iter('elf-symbol'):
                    self.symbols.add((s.get('name'), s.get('version', ''),
                                      s.get('is-default-version') == 'yes'))
        # Type ids are unique in a corpus; a class may appear both as a
        # declaration and as a definition: keep the definition.
        self.types = {}
        self.structs = {}
        for el in root.iter():
            if el.tag not in TYPE_TAGS or el.get('id') is None:
                continue
            tid = el.get('id')
            old = self.types.get(tid)
            if old is None or old.get('is-declaration-only') == 'yes':
                self.types[tid] = el
            if (el.tag == 'class-decl' and el.get('is-declaration-only') != 'yes'
                    and (el.get('name') or '').startswith('kio_')):
                self.structs.setdefault(el.get('name'), el)

    def describe(self, tid, depth=0):
        """The binary shape of a type: typedefs and qualifiers looked
        through, records and enums by name and size, pointers by what they
        point to (one level)."""
        el = self.types.get(tid)
        if el is None:
            return f'?{tid}'
        tag = el.tag
        if tag in ('typedef-decl', 'qualified-type-def'):
            return self.describe(el.get('type-id'), depth)
        if tag == 'type-decl':
            return f"{el.get('name')}/{el.get('size-in-bits', '?')}"
        if tag in ('pointer-type-def', 'reference-type-def'):
            if depth > 2:
                return 'ptr'
            return f"ptr({self.describe(el.get('type-id'), depth + 1)})"
        if tag == 'array-type-def':
            return (f"array({self.describe(el.get('type-id'), depth)})"
                    f"/{el.get('size-in-bits', '?')}")
        if tag in ('class-decl', 'union-decl'):
            kind = 'union' if tag == 'union-decl' else 'struct'
            return f"{kind} {el.get('name')}/{el.get('size-in-bits', 'decl')}"
        if tag == 'enum-decl':
            return f"enum {el.get('name')}/{el.get('size-in-bits', '?')}"
        if tag == 'function-type':
            return 'function'
        return tag

    def fields(self, struct):
        out = []
        for dm in struct.findall('data-member'):
            var = dm.find('var-decl')
            if var is None:
                continue
            out.append((var.get('name'), int(dm.get('layout-offset-in-bits', '-1')),
                        self.describe(var.get('type-id'))))
        return out


def growable_structs(path):
    """Names of the [suppress_type] sections with has_data_member_inserted_at = end."""
    names, section = set(), None
    with open(path, encoding='utf-8') as f:
        for raw in f:
            line = raw.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('['):
                if section and section.get('has_data_member_inserted_at') == 'end':
                    if 'name' not in section:
                        raise SystemExit(f'abi-layout: {path}: a growable-struct section '
                                         'needs a plain `name =` (no name_regexp)')
                    names.add(section['name'])
                section = {} if line == '[suppress_type]' else None
                continue
            m = re.match(r'([A-Za-z_]+)\s*=\s*(.*)$', line)
            if m and section is not None:
                section[m.group(1)] = m.group(2).strip()
    if section and section.get('has_data_member_inserted_at') == 'end':
        if 'name' not in section:
            raise SystemExit(f'abi-layout: {path}: a growable-struct section '
                             'needs a plain `name =` (no name_regexp)')
        names.add(section['name'])
    return names


def sym_str(s):
    name, ver, default = s
    return f"{name}{'@@' if default else '@'}{ver}" if ver else name


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    old, new = Corpus(argv[1]), Corpus(argv[2])
    growable = growable_structs(argv[3])
    problems = []

    # 1. Symbols and their version nodes.
    old_nodes = {v for _, v, _ in old.symbols if v}
    for s in sorted(old.symbols):
        if s in new.symbols:
            continue
        others = sorted(sym_str(n) for n in new.symbols if n[0] == s[0])
        if others:
            problems.append(f'symbol {sym_str(s)} is now exported as {", ".join(others)}: '
                            'a released symbol never moves to another version node')
        else:
            problems.append(f'symbol {sym_str(s)} is no longer exported')
    for s in sorted(new.symbols - old.symbols):
        if s[1] in old_nodes and not any(o[0] == s[0] for o in old.symbols):
            problems.append(f'symbol {sym_str(s)} was added to the released node {s[1]}: '
                            'new symbols go in a new node of lib/libkio.map')
    print(f'abi-layout: {len(old.symbols)} released symbols in node(s) '
          f'{" ".join(sorted(old_nodes)) or "-"}: '
          f'{len(old.symbols & new.symbols)} still exported as they were')

    # 2. Public struct layouts.
    for name in sorted(old.structs):
        o = old.structs[name]
        n = new.structs.get(name)
        if n is None:
            problems.append(f'struct {name}: no longer defined by the public headers')
            continue
        osize, nsize = int(o.get('size-in-bits', '0')), int(n.get('size-in-bits', '0'))
        ofields, nfields = old.fields(o), new.fields(n)
        for i, of in enumerate(ofields):
            nf = nfields[i] if i < len(nfields) else None
            if nf != of:
                problems.append(f'struct {name}: field {i} was {of[0]} at bit {of[1]} ({of[2]}), '
                                f'is now ' + (f'{nf[0]} at bit {nf[1]} ({nf[2]})' if nf else 'missing'))
        extra = nfields[len(ofields):]
        if name in growable:
            for f in extra:
                if f[1] < osize:
                    problems.append(f'struct {name}: new field {f[0]} at bit {f[1]} is inside the '
                                    f'old {osize}-bit struct, not appended')
            if nsize < osize:
                problems.append(f'struct {name}: shrank from {osize} to {nsize} bits')
            rule = 'may grow at its end'
        else:
            if extra:
                problems.append(f'struct {name}: gained field(s) {", ".join(f[0] for f in extra)}, '
                                'but it is not listed as growable in the suppressions')
            if nsize != osize:
                problems.append(f'struct {name}: size changed from {osize} to {nsize} bits')
            rule = 'fixed'
        print(f'abi-layout: struct {name} ({rule}): {len(ofields)} field(s), {osize} -> {nsize} bits'
              + (f', appended: {", ".join(f[0] for f in extra)}' if extra else ''))

    for p in problems:
        print(f'FAIL: {p}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
