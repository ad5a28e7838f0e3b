# libev: an I/O engine on libev (libev-dev).
NAME = 'libev'
LIBS = ['-lev']
