// The `uwsgidecorators` module, built in: uWSGI's decorators over the signal framework. Apps
// import it as usual; it is compiled from the source below when first imported.
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

const char kSource[] = R"PY(
"""uWSGI-style decorators: @timer, @rbtimer, @signal, @filemon, @postfork, @cron, @mulefunc, @mule, @farm, @lock, @spool, @spoolforever, @spoolraw (built into the server)."""
import pickle
from functools import partial

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


mule_functions = {}


def mule_msg_dispatcher(message):
    """uwsgi.mule_msg_hook in mules: run the @mulefunc function a worker asked for."""
    msg = pickle.loads(message)
    if msg.get('service') == 'uwsgi_mulefunc':
        return mule_functions[msg['func']](*msg['args'], **msg['kwargs'])


uwsgi.mule_msg_hook = mule_msg_dispatcher


class mulefunc(object):
    """@mulefunc or @mulefunc(target): calling the function from a worker runs it in a mule
    (target: a mule id, 0 = any mule, or a farm name)."""

    def __init__(self, f):
        if callable(f):
            self.fname = f.__name__
            self.target = 0
            mule_functions[f.__name__] = f
        else:
            self.target = f
            self.fname = None

    def real_call(self, *args, **kwargs):
        uwsgi.mule_msg(pickle.dumps({'service': 'uwsgi_mulefunc', 'func': self.fname, 'args': args,
                                     'kwargs': kwargs}), self.target)

    def __call__(self, *args, **kwargs):
        if not self.fname:
            self.fname = args[0].__name__
            mule_functions[self.fname] = args[0]
            return self.real_call
        return self.real_call(*args, **kwargs)


class mule_brain(object):
    def __init__(self, num, f):
        self.num = num
        self.f = f

    def __call__(self):
        if uwsgi.mule_id() == self.num:
            while True:
                self.f()


class mule(object):
    """@mule(N): the function is mule N's code, called again each time it returns."""

    def __init__(self, num):
        self.num = num

    def __call__(self, f):
        postfork_chain.append(mule_brain(self.num, f))
        return f


class farm(object):
    """@farm(name): the mules of farm `name` spend their life calling the function with each
    message sent to the farm (uwsgi.farm_msg)."""

    def __init__(self, name=None, **kwargs):
        self.name = name

    def __call__(self, f):
        def farm_loop():
            if uwsgi.mule_id() == 0 or not uwsgi.in_farm(self.name):
                return
            while True:
                f(uwsgi.farm_get_msg())
        postfork_chain.append(farm_loop)
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

spooler_functions = {}


def manage_spool_request(vars):
    """uwsgi.spooler in the spooler: run the @spool function the task names (keys arrive as bytes)."""
    vars = dict((k.decode('utf-8') if isinstance(k, bytes) else k, v) for k, v in vars.items())
    if 'args' in vars:
        for k in ('args', 'kwargs'):
            vars[k] = pickle.loads(vars.pop(k))
    name = vars['ud_spool_func']
    f = spooler_functions[name.decode('utf-8') if isinstance(name, bytes) else name]
    if 'args' in vars:
        ret = f(*vars['args'], **vars['kwargs'])
    else:
        ret = f(vars)
    if 'ud_spool_ret' in vars:
        return int(vars['ud_spool_ret'])
    return ret


uwsgi.spooler = manage_spool_request


class _spoolraw(object):
    """@spoolraw: the function's return code (uwsgi.SPOOL_OK/RETRY/IGNORE) decides the task's fate."""

    def __call__(self, *args, **kwargs):
        arguments = self.base_dict.copy()
        if not self.pass_arguments:
            if len(args) > 0:
                arguments.update(args[0])
            if kwargs:
                arguments.update(kwargs)
        else:
            spooler_args = {}
            for key in ('message_dict', 'spooler', 'priority', 'at', 'body'):
                if key in kwargs:
                    spooler_args.update({key: kwargs.pop(key)})
            arguments.update(spooler_args)
            arguments.update({'args': pickle.dumps(args), 'kwargs': pickle.dumps(kwargs)})
        return uwsgi.spool(arguments)

    def spool(self, *args, **kwargs):
        return self.__class__.__call__(self, *args, **kwargs)

    def __init__(self, f, pass_arguments):
        if 'spooler' not in uwsgi.opt:
            raise Exception("you have to enable the uWSGI spooler to use @%s decorator" % self.__class__.__name__)
        self.f = f
        spooler_functions[self.f.__name__] = self.f
        self.f.spool = self.__call__
        self.pass_arguments = pass_arguments
        self.base_dict = {'ud_spool_func': self.f.__name__}


class _spool(_spoolraw):
    """@spool: the task is done (deleted) whatever the function returns."""

    def __call__(self, *args, **kwargs):
        self.base_dict['ud_spool_ret'] = str(uwsgi.SPOOL_OK)
        return _spoolraw.__call__(self, *args, **kwargs)


class _spoolforever(_spoolraw):
    """@spoolforever: the task runs again at every scan, for ever."""

    def __call__(self, *args, **kwargs):
        self.base_dict['ud_spool_ret'] = str(uwsgi.SPOOL_RETRY)
        return _spoolraw.__call__(self, *args, **kwargs)


def spool_decorate(f=None, pass_arguments=False, _class=_spoolraw):
    if not f:
        return partial(_class, pass_arguments=pass_arguments)
    return _class(f, pass_arguments)


def spoolraw(f=None, pass_arguments=False):
    return spool_decorate(f, pass_arguments)


def spool(f=None, pass_arguments=False):
    return spool_decorate(f, pass_arguments, _spool)


def spoolforever(f=None, pass_arguments=False):
    return spool_decorate(f, pass_arguments, _spoolforever)
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
