"""A module-level app for --module / --callable tests."""


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'mod_app.application']


def alt(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'mod_app.alt']
