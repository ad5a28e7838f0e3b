"""A mule's own script (--mule mule_script.py): writes its id, then answers messages sent to it."""
import os

import uwsgi

OUT = os.environ['MULE_OUT_DIR']
with open(os.path.join(OUT, 'script'), 'a') as f:
    f.write('started %d %d\n' % (uwsgi.mule_id(), os.getpid()))
while True:
    msg = uwsgi.mule_get_msg()
    with open(os.path.join(OUT, 'script'), 'a') as f:
        f.write('got %s\n' % msg.decode())
