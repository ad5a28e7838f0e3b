"""Python state across async cores (run with --async N and a suspend engine).

/deep?TAG      uwsgi.suspend() from a plain function 500 frames deep, returns "TAG cv=TAG"
/exc?TAG       suspends inside an except block; the exception state must still be this core's
/sqlite?TAG    suspends inside a sqlite3 callback (PyGILState_Ensure inside a core)
/gen?TAG       generator response with async_sleep + yield; reports x-wsgiorg.fdevent.timeout
anything else  "TAG cv=TAG" (contextvars are per core)
"""
import sys, uwsgi, sqlite3, contextvars, time
cv = contextvars.ContextVar('cv', default=None)

def deep(n, tag):
    if n == 0:
        uwsgi.async_sleep(0.05)
        uwsgi.suspend()   # from a plain function, deep in the stack
        return tag
    return deep(n - 1, tag)

def raiser(tag):
    try:
        raise KeyError(tag)
    except KeyError:
        uwsgi.suspend()
        # the exception state must still be ours after other cores ran
        return repr(sys.exc_info()[1])

def application(env, sr):
    tag = env.get('QUERY_STRING', '')
    cv.set(tag)
    path = env['PATH_INFO']
    if path == '/deep':
        r = deep(500, tag)
    elif path == '/exc':
        r = raiser(tag)
    elif path == '/sqlite':
        db = sqlite3.connect(':memory:')
        db.create_function('f', 1, lambda x: (uwsgi.suspend(), x * 2)[1])
        r = str(db.execute('select f(21)').fetchone()[0])
    elif path == '/gen':
        sr('200 OK', [('Content-Type', 'text/plain')])
        def g():
            for i in range(3):
                uwsgi.async_sleep(0.02)
                yield b''
                yield (tag + str(i) + ';').encode()
            yield ('timeout=%s' % env.get('x-wsgiorg.fdevent.timeout')).encode()
        return g()
    else:
        r = tag
    r = '%s cv=%s' % (r, cv.get())
    sr('200 OK', [('Content-Type', 'text/plain')])
    return [r.encode()]
