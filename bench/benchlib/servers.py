"""Command lines of the servers compared, per mode. Each server gets one worker process, logging
off, a 1024 listen queue, and the same app file."""
import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(TOP, 'bench', 'apps')
OURS = os.path.join(TOP, 'uwsgi')
REF = '/usr/bin/uwsgi'
GUNICORN = '/usr/bin/gunicorn'
PYWSGI = os.path.join(TOP, 'bench', 'servers', 'pywsgi_server.py')
PY = '/usr/bin/python3'
COMMON = ['--master', '--processes', '1', '--disable-logging', '--listen', '1024']

MODES = ['sync', 'threads', 'ugreen', 'greenlet', 'gevent']
SERVERS = ['ours', 'uwsgi', 'gunicorn', 'pywsgi']
LABEL = {'ours': 'this project', 'uwsgi': 'uWSGI 2.0.21', 'gunicorn': 'gunicorn 20.1 -k gevent',
         'pywsgi': 'gevent.pywsgi', 'nginx': 'nginx return 200'}

# Engine options per mode: (ours, Debian's uWSGI). {n} is the number of async cores / greenlets /
# threads.
ENGINE = {
    'sync': ([], ['--plugins', 'python3']),
    'threads': (['--threads', '{n}'], ['--plugins', 'python3', '--threads', '{n}']),
    'ugreen': (['--plugins', 'ugreen', '--async', '{n}', '--ugreen'],
               ['--plugins', 'python3,ugreen', '--async', '{n}', '--ugreen']),
    'greenlet': (['--plugins', 'greenlet', '--async', '{n}', '--greenlet'],
                 ['--plugins', 'python3,greenlet_python3', '--async', '{n}', '--greenlet']),
    'gevent': (['--plugins', 'gevent', '--gevent', '{n}'],
               ['--plugins', 'python3,gevent_python3', '--gevent', '{n}']),
}


def applies(server, mode):
    return server in ('ours', 'uwsgi') or mode == 'gevent'


def argv(server, mode, port, app, keepalive, cores):
    """The command line, or None when the server has no such mode. `app` is a file in bench/apps."""
    addr = f'127.0.0.1:{port}'
    path = os.path.join(APPS, app)
    if server in ('ours', 'uwsgi'):
        ours_engine, ref_engine = ENGINE[mode]
        engine = [a.format(n=cores) for a in (ours_engine if server == 'ours' else ref_engine)]
        # Ours always keeps HTTP/1.1 connections open; uWSGI 2.0 only on an --http11-socket, and
        # only in sync mode (with or without threads): with --async (ugreen, greenlet) its worker
        # segfaults when a kept connection closes and under --gevent it serves ~2 req/s, so there
        # it stays on --http-socket and closes after each response.
        sock = ('--http11-socket' if server == 'uwsgi' and keepalive and mode in ('sync', 'threads')
                else '--http-socket')
        binary = OURS if server == 'ours' else REF
        return [binary] + engine + COMMON + [sock, addr, '--wsgi-file', path]
    if mode != 'gevent':
        return None
    if server == 'gunicorn':
        # --keep-alive 60: gunicorn's default (2 s) would drop the idle connections of that test.
        return [GUNICORN, '-k', 'gevent', '-w', '1', '--worker-connections', str(cores),
                '--backlog', '1024', '--keep-alive', '60', '-b', addr, '--chdir', APPS,
                app[:-3] + ':application']
    if server == 'pywsgi':
        return [PY, PYWSGI, str(port), path]
    raise ValueError(server)


NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=1024 deferred;
        location / {{ return 200 "Hello World\\n"; }}
    }}
}}
"""


def nginx_argv(tmpdir, port):
    """nginx `return 200` in the foreground with every path in tmpdir (the loopback ceiling)."""
    conf = os.path.join(tmpdir, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(NGINX_CONF.format(d=tmpdir, port=port))
    return ['/usr/sbin/nginx', '-p', tmpdir, '-c', conf, '-e', os.path.join(tmpdir, 'error.log')]
