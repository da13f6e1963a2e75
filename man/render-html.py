#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Renders kio's man pages to HTML with mandoc.

    render-html.py MANDOC OUTDIR PAGE...

Each page becomes OUTDIR/NAME.SECTION.html; cross references to kio's own
pages, such as kio_read(3), become links. An alias page (a single .so line)
becomes a page that sends the reader to its family's page. index.html
lists every page with the one-line summary of its NAME section.
"""
import html
import os
import re
import subprocess
import sys


def summary(text):
    """The NAME section's line, 'kio_read, kio_write \\- ...' -> its parts."""
    m = re.search(r'^\.SH NAME\n(.*?)\n\.SH', text, re.S | re.M)
    if not m:
        return '', ''
    line = ' '.join(m.group(1).split()).replace('\\-', '-').replace('\\fB', '').replace('\\fR', '')
    names, _, what = line.partition(' - ')
    return names.strip(), what.strip()


def main():
    mandoc, outdir, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(outdir, exist_ok=True)
    rows = []
    known = {os.path.basename(p) for p in pages}
    for page in pages:
        base = os.path.basename(page)
        out = os.path.join(outdir, base + '.html')
        with open(page, encoding='utf-8') as f:
            text = f.read()
        alias = re.search(r'^\.so\s+\S+/(\S+)\s*$', text, re.M)
        if alias and len([l for l in text.splitlines() if not l.startswith('.\\"')]) == 1:
            target = alias.group(1) + '.html'
            with open(out, 'w', encoding='utf-8') as f:
                f.write('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
                        f'<meta http-equiv="refresh" content="0; url={target}">'
                        f'<title>{html.escape(base)}</title></head><body>'
                        f'<p>{html.escape(base)}: see <a href="{target}">'
                        f'{html.escape(alias.group(1))}</a>.</p></body></html>\n')
            continue
        rendered = subprocess.run([mandoc, '-Thtml', page],
                                  check=True, capture_output=True, text=True).stdout
        # man(7) pages say kio_read(3) as bold text: make it a link to the page.
        rendered = re.sub(r'<b>(kio[a-z0-9_]*)</b>\((\d)\)',
                          lambda m: (f'<a href="{m.group(1)}.{m.group(2)}.html"><b>{m.group(1)}</b></a>'
                                     f'({m.group(2)})'
                                     if f'{m.group(1)}.{m.group(2)}' in known else m.group(0)),
                          rendered)
        with open(out, 'w', encoding='utf-8') as f:
            f.write(rendered)
        names, what = summary(text)
        rows.append((base, names or base, what))
    rows.sort(key=lambda r: (not r[0].endswith('.7'), r[0]))
    with open(os.path.join(outdir, 'index.html'), 'w', encoding='utf-8') as f:
        f.write('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>kio manual</title>'
                '</head><body>\n<h1>kio manual</h1>\n<p>Start with <a href="kio.7.html">kio(7)</a>, '
                'the model and the contract; one page per function family follows.</p>\n<table>\n')
        for base, names, what in rows:
            f.write(f'<tr><td><a href="{base}.html">{html.escape(names)}</a></td>'
                    f'<td>{html.escape(what)}</td></tr>\n')
        f.write('</table>\n</body></html>\n')


if __name__ == '__main__':
    main()
