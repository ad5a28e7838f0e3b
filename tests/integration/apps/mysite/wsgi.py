"""Loaded as the dotted module mysite.wsgi, never as a file named "mysite.wsgi"."""


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s.application' % __name__).encode()]


def alt(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s.alt' % __name__).encode()]
