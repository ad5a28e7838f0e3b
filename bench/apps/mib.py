# A 1 MiB response in one piece: a router relays it through its buffers in many reads and writes.
BODY = b'x' * (1 << 20)


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(len(BODY)))])
    return [BODY]
