// uWSGI's signal framework from Python: register_signal, signal, add_timer, add_rb_timer,
// add_file_monitor, signal_wait, signal_received, signal_registered. The core routes signals
// (master -> worker channel); this file runs the registered Python callables when they arrive.
#include <cstring>

#include "py_plugin.h"

namespace uwsgi::py {
namespace {

// Runs a handler in the worker that received the signal. Under gevent each handler gets its own
// greenlet (it may block on gevent I/O, which the hub's callback must not); elsewhere it is
// called directly from the loop's main context.
class PySignalHandler final : public SignalHandler {
 public:
  void run_signal(int num, void* handler) override {
    // A mule (inside mule_get_msg) and a spooler (between tasks) run signals from core code that
    // holds no GIL; both run the main interpreter, whose thread state PyGILState knows. Workers
    // call with the GIL held (possibly in a sub-interpreter): nothing to take there.
    bool take = g.host && (g.host->mules().current() > 0 || g.host->spooler().in_spooler());
    PyGILState_STATE gil{};
    if (take) gil = PyGILState_Ensure();
    run_held(num, handler, !take);
    if (take) PyGILState_Release(gil);
  }

  void run_held(int num, void* handler, bool in_worker) {
    PyObject* f = static_cast<PyObject*>(handler);
    PyObject* arg = PyLong_FromLong(num);
    if (!arg) {
      log_exception("python: signal handler");
      return;
    }
    LoopEngine* le = g.host ? g.host->loop_engine() : nullptr;
    PyObject* r = nullptr;
    if (in_worker && le && strcmp(le->name(), "gevent") == 0) {
      PyObject* gevent = PyImport_ImportModule("gevent");
      r = gevent ? PyObject_CallMethod(gevent, "spawn", "OO", f, arg) : nullptr;
      Py_XDECREF(gevent);
    } else {
      r = PyObject_CallOneArg(f, arg);
    }
    Py_DECREF(arg);
    if (!r) {
      char ctx[64];
      snprintf(ctx, sizeof ctx, "python: handler of uwsgi signal %d", num);
      log_exception(ctx);
    }
    Py_XDECREF(r);
  }
};

PySignalHandler handler;

Signals* signals_or_error() {
  if (!g.host) {
    PyErr_SetString(PyExc_RuntimeError, "the uwsgi signal framework is not available");
    return nullptr;
  }
  return &g.host->signals();
}

PyObject* fail(const std::string& err) {
  PyErr_SetString(PyExc_ValueError, err.c_str());
  return nullptr;
}

PyObject* m_register_signal(PyObject*, PyObject* args) {
  int num;
  const char* target;
  PyObject* func;
  if (!PyArg_ParseTuple(args, "isO:register_signal", &num, &target, &func)) return nullptr;
  if (!PyCallable_Check(func)) {
    PyErr_SetString(PyExc_TypeError, "register_signal: the handler must be callable");
    return nullptr;
  }
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  Py_INCREF(func);  // kept for the life of the process (a re-registration leaks the old one)
  if (!s->register_signal(num, target, &handler, func, &err)) {
    Py_DECREF(func);
    return fail(err);
  }
  Py_RETURN_TRUE;
}

PyObject* m_signal(PyObject*, PyObject* args) {
  int num;
  const char* remote = nullptr;
  if (!PyArg_ParseTuple(args, "i|s:signal", &num, &remote)) return nullptr;
  if (remote && *remote) return fail("remote signals (signal(num, node)) are not supported");
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  if (!s->raise(num, &err)) return fail(err);
  Py_RETURN_NONE;
}

PyObject* timer(PyObject* args, const char* fmt, bool rb) {
  int num, iterations = 0;
  double secs;
  if (!PyArg_ParseTuple(args, fmt, &num, &secs, &iterations)) return nullptr;
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  if (!s->add_timer(num, secs, rb ? iterations : 0, &err)) return fail(err);
  Py_RETURN_NONE;
}

PyObject* m_add_timer(PyObject*, PyObject* args) { return timer(args, "id:add_timer", false); }
PyObject* m_add_rb_timer(PyObject*, PyObject* args) { return timer(args, "id|i:add_rb_timer", true); }

PyObject* m_add_file_monitor(PyObject*, PyObject* args) {
  int num;
  const char* path;
  if (!PyArg_ParseTuple(args, "is:add_file_monitor", &num, &path)) return nullptr;
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  if (!s->add_file_monitor(num, path, &err)) return fail(err);
  Py_RETURN_NONE;
}

// add_cron(num, minute, hour, day, month, weekday): raise num at each matching minute (-1 any,
// -N every N; needs --master). OSError when refused.
PyObject* m_add_cron(PyObject*, PyObject* args) {
  int num, mi, h, d, mo, w;
  if (!PyArg_ParseTuple(args, "iiiiii:add_cron", &num, &mi, &h, &d, &mo, &w)) return nullptr;
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  if (!s->add_cron(num, mi, h, d, mo, w, &err)) return fail(err);
  Py_RETURN_TRUE;
}

PyObject* m_signal_wait(PyObject*, PyObject* args) {
  int num = -1;
  if (!PyArg_ParseTuple(args, "|i:signal_wait", &num)) return nullptr;
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  std::string err;
  int got = s->wait(num, &err);  // blocks this worker (or only this core under async)
  if (got < 0) {
    PyErr_SetString(PyExc_OSError, err.c_str());
    return nullptr;
  }
  return PyBytes_FromString("");  // uWSGI returns an empty string; signal_received() tells which
}

PyObject* m_signal_received(PyObject*, PyObject*) {
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  return PyLong_FromLong(s->received());
}

PyObject* m_signal_registered(PyObject*, PyObject* arg) {
  long num = PyLong_AsLong(arg);
  if (num == -1 && PyErr_Occurred()) return nullptr;
  Signals* s = signals_or_error();
  if (!s) return nullptr;
  return PyBool_FromLong(s->registered((int)num));
}

PyMethodDef signal_methods[] = {
    {"register_signal", m_register_signal, METH_VARARGS, "register_signal(num, target, func)"},
    {"signal", m_signal, METH_VARARGS, "signal(num): raise uwsgi signal num (routed by the master)"},
    {"add_timer", m_add_timer, METH_VARARGS, "add_timer(num, secs): raise num every secs"},
    {"add_rb_timer", m_add_rb_timer, METH_VARARGS, "add_rb_timer(num, secs, iterations=0)"},
    {"add_file_monitor", m_add_file_monitor, METH_VARARGS, "add_file_monitor(num, path)"},
    {"add_cron", m_add_cron, METH_VARARGS,
     "add_cron(num, minute, hour, day, month, weekday): raise num at matching minutes (-1 any, -N every N)"},
    {"signal_wait", m_signal_wait, METH_VARARGS, "signal_wait([num]): block until a signal arrives"},
    {"signal_received", m_signal_received, METH_NOARGS, "the last signal this worker received"},
    {"signal_registered", m_signal_registered, METH_O, "signal_registered(num) -> bool"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool add_signal_functions(PyObject* module) { return PyModule_AddFunctions(module, signal_methods) == 0; }

void run_post_fork_hook() {
  PyObject* m = PyImport_ImportModule("uwsgi");
  if (!m) {
    PyErr_Clear();
    return;
  }
  PyObject* hook = PyObject_GetAttrString(m, "post_fork_hook");
  Py_DECREF(m);
  if (!hook) {
    PyErr_Clear();
    return;
  }
  if (PyCallable_Check(hook)) {
    PyObject* r = PyObject_CallNoArgs(hook);
    if (!r) log_exception("python: uwsgi.post_fork_hook");
    Py_XDECREF(r);
  }
  Py_DECREF(hook);
}

}  // namespace uwsgi::py
