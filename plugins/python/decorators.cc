// The `uwsgidecorators` module, built in: uWSGI's decorators over the signal framework. Apps
// import it as usual; it is compiled from the source below when first imported.
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

const char kSource[] = R"PY(
"""uWSGI-style decorators: @timer, @rbtimer, @signal, @filemon, @postfork, @cron, @lock (built into the server)."""
import uwsgi

postfork_chain = []


def get_free_signal():
    for signum in range(0, 256):
        if not uwsgi.signal_registered(signum):
            return signum
    raise Exception("No free uwsgi signal available")


def postfork_chain_hook():
    for f in postfork_chain:
        f()


uwsgi.post_fork_hook = postfork_chain_hook


class postfork(object):
    """Run f in every worker right after it is forked."""

    def __init__(self, f):
        postfork_chain.append(f)
        self.f = f

    def __call__(self, *args, **kwargs):
        return self.f(*args, **kwargs)


class signal(object):
    """@signal(num, target='') registers the function as the handler of uwsgi signal num."""

    def __init__(self, num, target='', **kwargs):
        self.num = num
        self.target = kwargs.get('target', target)

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        return f


class timer(object):
    """@timer(secs, target='', signum=None): run the function every secs seconds."""

    def __init__(self, secs, target='', signum=None, **kwargs):
        self.num = signum if signum is not None else get_free_signal()
        self.secs = secs
        self.target = kwargs.get('target', target)

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        uwsgi.add_timer(self.num, self.secs)
        return f


class rbtimer(object):
    """@rbtimer(secs, target='', signum=None, iterations=0)."""

    def __init__(self, secs, target='', signum=None, iterations=0, **kwargs):
        self.num = signum if signum is not None else get_free_signal()
        self.secs = secs
        self.iterations = iterations
        self.target = kwargs.get('target', target)

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        uwsgi.add_rb_timer(self.num, self.secs, self.iterations)
        return f


class filemon(object):
    """@filemon(path, target='', signum=None): run the function when path changes."""

    def __init__(self, fsobj, target='', signum=None, **kwargs):
        self.num = signum if signum is not None else get_free_signal()
        self.fsobj = fsobj
        self.target = kwargs.get('target', target)

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        uwsgi.add_file_monitor(self.num, self.fsobj)
        return f


class cron(object):
    """@cron(minute, hour, day, month, dayweek, target='', signum=None): run the function at
    matching minutes (-1 any, -N every N; needs --master)."""

    def __init__(self, minute, hour, day, month, dayweek, **kwargs):
        self.num = kwargs.get('signum', get_free_signal())
        self.when = (minute, hour, day, month, dayweek)
        self.target = kwargs.get('target', '')

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        uwsgi.add_cron(self.num, *self.when)
        return f


def lock(f):
    """Run the function holding uwsgi lock 0 (across every worker)."""
    def _lock(*args, **kwargs):
        uwsgi.lock()
        try:
            return f(*args, **kwargs)
        finally:
            uwsgi.unlock()
    return _lock
)PY";

}  // namespace

// Inittab entry: a module object run from the embedded source.
PyObject* init_decorators_module() {
  // The import machinery wants a module made from a PyModuleDef for a built-in.
  static PyModuleDef def = {PyModuleDef_HEAD_INIT, "uwsgidecorators", nullptr, -1, nullptr,
                            nullptr, nullptr, nullptr, nullptr};
  PyObject* m = PyModule_Create(&def);
  if (!m) return nullptr;
  PyObject* d = PyModule_GetDict(m);  // borrowed
  if (PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins()) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  PyObject* code = Py_CompileString(kSource, "<uwsgidecorators>", Py_file_input);
  PyObject* r = code ? PyEval_EvalCode(code, d, d) : nullptr;
  Py_XDECREF(code);
  if (!r) {
    Py_DECREF(m);
    return nullptr;
  }
  Py_DECREF(r);
  return m;
}

}  // namespace uwsgi::py
