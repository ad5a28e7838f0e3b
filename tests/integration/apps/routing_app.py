"""The app behind the routing tests: answers the variables routing may have changed, as JSON."""
import json

SHOWN = ('PATH_INFO', 'QUERY_STRING', 'SCRIPT_NAME', 'REQUEST_URI', 'REMOTE_USER', 'FOOVAR', 'REQUEST_METHOD')


def application(environ, start_response):
    body = json.dumps({k: environ.get(k) for k in SHOWN}, sort_keys=True).encode()
    n = int(environ.get('CONTENT_LENGTH') or 0)
    if n:
        environ['wsgi.input'].read(n)
    status = '404 Not Found' if environ.get('PATH_INFO') == '/notfound' else '200 OK'
    start_response(status, [('Content-Type', 'application/json'), ('Content-Length', str(len(body))),
                            ('X-App', 'yes'), ('X-Remove-Me', '1')])
    return [body]
