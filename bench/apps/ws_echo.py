"""Websocket echo on uWSGI's API: the same file runs under Debian's uWSGI and this server."""
import uwsgi


def application(env, start_response):
    uwsgi.websocket_handshake(env['HTTP_SEC_WEBSOCKET_KEY'], env.get('HTTP_ORIGIN', ''))
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except IOError:
            return []
        uwsgi.websocket_send(msg)
