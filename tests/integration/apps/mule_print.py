"""A mule script that prints (test_tasks_log_master.py): its line must reach the log."""
import os

import uwsgi

with open(os.path.join(os.environ['MULE_OUT_DIR'], 'mule_pid'), 'w') as f:
    f.write('%d\n' % os.getpid())
print('mule says hello from mule %d' % uwsgi.mule_id(), flush=True)
while True:
    uwsgi.mule_get_msg()
