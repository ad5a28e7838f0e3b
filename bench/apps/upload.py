# Reads and discards the request body (1 MiB in the benchmark) in 64 KiB reads, answers its length.
def application(environ, start_response):
    left = int(environ.get('CONTENT_LENGTH') or 0)
    stream = environ['wsgi.input']
    total = 0
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        total += len(chunk)
        left -= len(chunk)
    body = b'%d\n' % total
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
