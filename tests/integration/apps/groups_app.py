"""Answers "uid gid g1,g2,..." (the process's supplementary groups, sorted)."""
import os


def application(environ, start_response):
    body = ('%d %d %s' % (os.getuid(), os.getgid(), ','.join(map(str, sorted(os.getgroups()))))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
