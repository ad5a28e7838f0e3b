# libuv: an I/O engine on libuv (libuv1-dev).
NAME = 'libuv'
try:
    CFLAGS = pkg_config('--cflags', 'libuv')
    LIBS = pkg_config('--libs', 'libuv')
except Exception:
    LIBS = ['-luv']
