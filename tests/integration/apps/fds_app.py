"""Reports the file descriptors a program started by the app inherits (close_fds=False keeps every
fd that is not close-on-exec)."""
import subprocess


def application(environ, start_response):
    out = subprocess.run(['ls', '-l', '/proc/self/fd'], capture_output=True, text=True, close_fds=False).stdout
    body = '\n'.join(line.split('-> ')[-1] for line in out.splitlines() if '->' in line).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
