# poll: an example third-party I/O engine on poll(2). Built out of tree with
#   /usr/bin/python3 uwsgiconfig.py --plugin examples/pollengine     (or: uwsgi --build-plugin DIR)
# which writes poll_plugin.so to the current directory (NAME decides the file and symbol names).
NAME = 'poll'
# Every *.cc in this folder is compiled; set SOURCES to pick files. No extra libraries needed.
CFLAGS = []
LIBS = []
