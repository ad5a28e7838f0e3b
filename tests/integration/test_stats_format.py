"""--stats output forms: tab-indented by default (as uWSGI), --stats-minified/--stats-min on one
line, --stats-no-cores without the per-worker "cores", --stats-no-metrics accepted."""
import json
import socket
import time

import pytest

from conftest import app_path, free_port


def raw_stats(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
                data = b''
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return data
                    data += chunk
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stats_of(uwsgi_server, *opts):
    sport = free_port()
    uwsgi_server('--wsgi-file', app_path('opts2_app.py'), '--master', '--processes', '2',
                 '--stats', f'127.0.0.1:{sport}', *opts)
    raw = raw_stats(sport)
    return raw, json.loads(raw)


def test_default_is_indented_with_cores(uwsgi_server):
    raw, doc = stats_of(uwsgi_server)
    assert raw.startswith(b'{\n\t"')
    assert all('cores' in w for w in doc['workers']) and len(doc['workers']) == 2


@pytest.mark.parametrize('opt', ['--stats-minified', '--stats-min'])
def test_minified_is_one_line(uwsgi_server, opt):
    raw, doc = stats_of(uwsgi_server, opt)
    assert b'\n' not in raw and b'\t' not in raw
    assert doc['workers'][0]['id'] == 1


def test_no_cores(uwsgi_server):
    raw, doc = stats_of(uwsgi_server, '--stats-no-cores', '--stats-no-metrics')
    assert doc['workers'] and all('cores' not in w for w in doc['workers'])
    assert 'requests' in doc['workers'][0] and 'metrics' not in doc
