"""Routes for the python plugin's options (tests/integration/test_python_options.py).

Every response is JSON about the request as the app saw it."""
import json
import os
import sys

NAME = 'pyopts_app'


def body_files():
    """Open files of this process that hold a post-buffered body (an unlinked temp file)."""
    out = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if 'uwsgi-body' in target:
            out.append(target)
    return out


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.endswith('/write-after-gone'):
        # Writes far more than socket buffers hold to a client that closes after the headers.
        write = start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        n = 0
        try:
            for _ in range(400):
                write(b'x' * 65536)
                n += 1
            sys.stderr.write('WRITES DONE %d\n' % n)
        except Exception as e:
            sys.stderr.write('WRITE RAISED %s\n' % type(e).__name__)
            sys.stderr.flush()
            raise  # the server logs the vanished client (unless --ignore-write-errors)
        sys.stderr.flush()
        return []
    if path.endswith('/read-peak'):
        # Peak memory of one wsgi.input.read() of the whole body, per body byte.
        import tracemalloc
        tracemalloc.start()
        n = len(environ['wsgi.input'].read())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps({'len': n, 'peak_per_byte': peak / max(n, 1)}).encode()]
    if path.endswith('/slow-body'):
        sys.stderr.write('APP CALLED %s\n' % path)
        sys.stderr.flush()
    out = {'app': NAME, 'SCRIPT_NAME': environ.get('SCRIPT_NAME'), 'PATH_INFO': path,
           'CONTENT_LENGTH': environ.get('CONTENT_LENGTH'),
           'input_terminated': environ.get('wsgi.input_terminated'),
           'file_wrapper': 'wsgi.file_wrapper' in environ,
           'stdin': os.readlink('/proc/self/fd/0')}
    inp = environ['wsgi.input']
    if environ.get('REQUEST_METHOD') == 'POST':
        files = body_files()
        first = inp.read()
        out['body'] = first.decode('latin-1')
        out['temp_file'] = bool(files)
        out['seekable'] = inp.seekable()
        if path.endswith('/reread'):
            inp.seek(0)
            out['reread'] = inp.readline().decode('latin-1')
            out['tell'] = inp.tell()
            inp.seek(-3, 2)
            out['tail'] = inp.read().decode('latin-1')
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]


def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'app': 'other', 'SCRIPT_NAME': environ.get('SCRIPT_NAME'),
                        'PATH_INFO': environ['PATH_INFO']}).encode()]
