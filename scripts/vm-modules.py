#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Kernel modules for the kernel matrix's guest (scripts/vm-test.sh).

    vm-modules.py MODULE_TREE OUTDIR NAME...

Copies the modules NAME... and every module they depend on (read from each
module's .modinfo "depends=", since a kernel package has no modules.dep
before depmod runs) from MODULE_TREE (lib/modules/VERSION of an unpacked
kernel package) to OUTDIR, decompressed, as NN-name.ko in an order that
loads dependencies first. The guest has no modprobe tree: without this, the
tls module loads but cannot find gcm(aes), and every kernel TLS key
OpenSSL tries to install fails.
"""
import lzma
import os
import re
import sys


def norm(name):
    return name.replace('-', '_')


def read(path):
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.xz'):
        data = lzma.decompress(data)
    elif path.endswith('.zst'):
        raise SystemExit(f'{path}: zstd modules are not handled')
    return data


def main():
    tree, outdir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    files = {}
    for base, _, entries in os.walk(tree):
        for e in entries:
            m = re.match(r'(.+)\.ko(\.xz|\.zst)?$', e)
            if m:
                files[norm(m.group(1))] = os.path.join(base, e)
    order, seen = [], set()

    def visit(name):
        name = norm(name)
        if name in seen:
            return
        seen.add(name)
        path = files.get(name)
        if path is None:
            return  # built in
        data = read(path)
        m = re.search(rb'(?:^|\0)depends=([^\0]*)', data)
        for dep in (m.group(1).decode().split(',') if m and m.group(1) else []):
            visit(dep)
        order.append((name, data))

    for n in names:
        visit(n)
    os.makedirs(outdir, exist_ok=True)
    for i, (name, data) in enumerate(order):
        with open(os.path.join(outdir, f'{i:02d}-{name}.ko'), 'wb') as f:
            f.write(data)
    print(' '.join(name for name, _ in order))


if __name__ == '__main__':
    main()
