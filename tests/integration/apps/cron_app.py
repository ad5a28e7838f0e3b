"""@cron handler appending to CRON_MARK_FILE (test_cron.py)."""
import os

import uwsgidecorators

MARK = os.environ['CRON_MARK_FILE']


@uwsgidecorators.cron(-1, -1, -1, -1, -1)
def every_minute(num):
    with open(MARK, 'a') as f:
        f.write('signal %d\n' % num)


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
