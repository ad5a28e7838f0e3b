"""The docs' ini examples must work when copied: in uWSGI's ini format a ';' or '#' after a value
is part of the value (`spooler = /var/spool/app  ; note` names a directory with the note in it),
so comments go on lines of their own."""
import re

from conftest import ROOT

FENCE = re.compile(r'^```(\w*)')
INLINE_COMMENT = re.compile(r'^\s*[^;#\[\s][^=]*=.*\s[;#]')


def test_ini_examples_have_no_inline_comments():
    bad = []
    for md in sorted((ROOT / 'docs').glob('*.md')):
        lang = None
        for n, line in enumerate(md.read_text().splitlines(), 1):
            m = FENCE.match(line)
            if m:
                lang = None if lang is not None else m.group(1)
                continue
            if lang == 'ini' and INLINE_COMMENT.match(line):
                bad.append(f'{md.name}:{n}: {line}')
    assert not bad, 'ini comments after a value are part of the value:\n' + '\n'.join(bad)
