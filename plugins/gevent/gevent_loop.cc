// The gevent loop engine: gevent's hub runs the worker. The serving logic lives in Python
// (loop_source.cc: accept watchers, one greenlet per connection, keep-alive parking, draining);
// this file gives it C callables into the worker and routes the core's socket waits (wait_fd)
// through gevent, so a request blocked on its client only suspends its own greenlet.
//
// Everything here runs in the worker's one OS thread with the GIL held: gevent releases it only
// inside its own loop while nothing else can run.
#include <poll.h>
#include <unistd.h>

#include <uwsgi/head_peek.h>

#include "gevent_plugin.h"

namespace uwsgi_gevent {
namespace {

constexpr const char* kCapsule = "uwsgi.gevent.loop";

const char* const kAsyncApiError =
    "mixing uWSGI's async API (uwsgi.async_sleep, uwsgi.wait_fd_read/write, uwsgi.suspend) with "
    "gevent is forbidden: use gevent's API instead (gevent.sleep, gevent.socket.wait_read, ...)";

int poll_wait(int fd, int events, int timeout_ms) {
  pollfd p{fd, (short)((events & uwsgi::kIoRead ? POLLIN : 0) | (events & uwsgi::kIoWrite ? POLLOUT : 0)), 0};
  int r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
  return r < 0 ? -1 : r > 0;
}

class GeventLoop final : public uwsgi::LoopEngine {
 public:
  GeventLoop(uwsgi::Host& host, const Settings& s) : host_(host), s_(s) {}

  ~GeventLoop() override {
    if (!Py_IsInitialized() || !PyGILState_Check()) return;  // exiting without the GIL: leak
    Py_CLEAR(wait_fn_);
    Py_CLEAR(served_);
    Py_CLEAR(loop_obj_);
  }

  const char* name() const override { return "gevent"; }
  int async_cores() const override { return s_.cores; }
  uwsgi::CoreContext* current_core() override { return nullptr; }
  const char* async_api_error() const override { return kAsyncApiError; }

  bool init(uwsgi::Worker& w, std::string* err) override {
    worker_ = &w;
    if (!Py_IsInitialized()) {
      *err = "the gevent loop engine needs the python plugin (--plugins python,gevent)";
      return false;
    }
    if (!setup(w)) {
      *err = "cannot start gevent: " + take_error_text(true);
      return false;
    }
    return true;
  }

  int run(uwsgi::Worker&) override {
    PyObject* r = PyObject_CallMethod(loop_obj_, "run", nullptr);
    if (!r) {
      host_.log("gevent: the worker loop failed: %s\n", take_error_text(true).c_str());
      return 1;
    }
    Py_DECREF(r);
    return 0;
  }

  int wait_fd(int fd, int events, int timeout_ms) override {
    if (!wait_fn_ || !PyGILState_Check()) return poll_wait(fd, events, timeout_ms);
    // An exception pending in the caller (e.g. a failed app whose 500 is being written) is not
    // ours: keep it aside while gevent runs Python.
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    long rc = events == uwsgi::kIoRead && timeout_ms <= 0 ? read_wait(fd) : kNotHere;
    if (rc != kNotHere) {
      PyErr_Restore(et, ev, tb);
      return (int)rc;
    }
    rc = -1;
    if (PyObject* r = PyObject_CallFunction(wait_fn_, "iii", fd, events, timeout_ms)) {
      rc = PyLong_AsLong(r);
      Py_DECREF(r);
      if (PyErr_Occurred()) PyErr_Clear();
    } else {
      host_.log("gevent: waiting for fd %d failed: %s\n", fd, take_error_text().c_str());
    }
    PyErr_Restore(et, ev, tb);
    if (rc == -2) return poll_wait(fd, events, timeout_ms);  // not in a greenlet that may block
    return (int)rc;
  }

 private:
  static constexpr long kNotHere = -3;

  // The Python wait()'s common case in C (a websocket waits once per message): a read wait,
  // no timeout, on a connection being served, with its read watcher idle. The same steps
  // (watcher.start(greenlet.switch, 1), hub.switch(), watcher.stop()) without a Python frame.
  // kNotHere for anything else: the Python wait() does it.
  long read_wait(int fd) {
    if (!getcurrent_) return kNotHere;
    PyObject* key = PyLong_FromLong(fd);
    if (!key) {
      PyErr_Clear();
      return kNotHere;
    }
    PyObject* w = PySet_Contains(serving_, key) == 1 ? PyDict_GetItemWithError(watchers_, key) : nullptr;
    Py_XINCREF(w);
    Py_DECREF(key);
    PyObject* g = nullptr;
    PyObject* sw = nullptr;
    long rc = kNotHere;
    if (w) {
      PyObject* active = PyObject_GetAttr(w, s_active_);
      int busy = active ? PyObject_IsTrue(active) : -1;
      Py_XDECREF(active);
      if (busy == 0) g = PyObject_CallNoArgs(getcurrent_);
    }
    if (g && g != hub_) sw = PyObject_GetAttr(g, s_switch_);
    if (sw) {
      PyObject* r = PyObject_CallMethodObjArgs(w, s_start_, sw, one_, nullptr);
      if (r) {
        Py_DECREF(r);
        // Killed (GreenletExit) or another greenlet's exception: -1, the core closes the
        // connection; the exception cannot cross the C++ frames above.
        PyObject* res = PyObject_CallNoArgs(hub_switch_);
        rc = res && PyLong_Check(res) && PyLong_AsLong(res) == 1 ? 1 : -1;
        Py_XDECREF(res);
        PyErr_Clear();
        if (PyObject* s = PyObject_CallMethodNoArgs(w, s_stop_)) Py_DECREF(s);
      }
    }
    PyErr_Clear();
    Py_XDECREF(sw);
    Py_XDECREF(g);
    Py_XDECREF(w);
    return rc;
  }

  static GeventLoop* self_of(PyObject* cap) {
    return static_cast<GeventLoop*>(PyCapsule_GetPointer(cap, kCapsule));
  }

  // api.accept(listen_fd) -> fd, or -1 when none is pending
  static PyObject* api_accept(PyObject* cap, PyObject* arg) {
    GeventLoop* L = self_of(cap);
    long lfd = PyLong_AsLong(arg);
    if (!L || (lfd == -1 && PyErr_Occurred())) return nullptr;
    return PyLong_FromLong(L->worker_->accept_one((int)lfd));
  }

  // api.serve(fd, listen_fd, core_id): serves the connection, then loop.served(fd, listen_fd,
  // core_id, idle) where idle means a keep-alive connection waits for its next request.
  static PyObject* api_serve(PyObject* cap, PyObject* args) {
    GeventLoop* L = self_of(cap);
    int fd, lfd, core;
    if (!L || !PyArg_ParseTuple(args, "iii:serve", &fd, &lfd, &core)) return nullptr;
    bool idle = L->worker_->serve_connection(fd, lfd, core);
    if (PyErr_Occurred()) {  // the app plugin should have logged and cleared its own errors
      L->host_.log("gevent: stray exception after a request: %s\n", take_error_text(true).c_str());
    }
    // The bookkeeping (free the core id, park an idle connection, accept again) is the loop's.
    PyObject* r = PyObject_CallFunction(L->served_, "iiiO", fd, lfd, core, idle ? Py_True : Py_False);
    if (!r) {
      L->host_.log("gevent: the loop failed after a connection: %s\n", take_error_text(true).c_str());
      return nullptr;
    }
    return r;
  }

  // api.peek_head(fd) -> 1 a whole request head is queued, 0 part of one, -1 nothing yet,
  // -2 the peer closed (logged if it left half a head; the caller closes the fd).
  static PyObject* api_peek_head(PyObject* cap, PyObject* arg) {
    GeventLoop* L = self_of(cap);
    long fd = PyLong_AsLong(arg);
    if (!L || (fd == -1 && PyErr_Occurred())) return nullptr;
    switch (uwsgi::peek_request_head((int)fd)) {
      case uwsgi::HeadPeek::kComplete: return PyLong_FromLong(1);
      case uwsgi::HeadPeek::kPartial: return PyLong_FromLong(0);
      case uwsgi::HeadPeek::kNothing: return PyLong_FromLong(-1);
      case uwsgi::HeadPeek::kAbandoned:
        L->host_.log("client closed the connection in the middle of a request head: closed (fd %ld)\n", fd);
        break;
      case uwsgi::HeadPeek::kGone:
        break;
    }
    return PyLong_FromLong(-2);
  }

  // api.head_timeout(fd, seconds): closes a connection whose head did not arrive in time.
  static PyObject* api_head_timeout(PyObject* cap, PyObject* args) {
    GeventLoop* L = self_of(cap);
    int fd;
    double secs;
    if (!L || !PyArg_ParseTuple(args, "id:head_timeout", &fd, &secs)) return nullptr;
    L->host_.log("closing a connection whose request head did not complete within --socket-timeout %g s\n", secs);
    ::close(fd);
    Py_RETURN_NONE;
  }

  static PyObject* api_stopping(PyObject* cap, PyObject*) {
    GeventLoop* L = self_of(cap);
    if (!L) return nullptr;
    return PyBool_FromLong(L->worker_->stopping());
  }

  static PyObject* api_on_signal(PyObject* cap, PyObject*) {
    GeventLoop* L = self_of(cap);
    if (!L) return nullptr;
    L->worker_->handle_signal_fd();
    Py_RETURN_NONE;
  }

  static PyObject* api_close(PyObject* cap, PyObject* arg) {
    long fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) return nullptr;
    ::close((int)fd);
    Py_RETURN_NONE;
  }

  // api.close_idle([fd, ...]): closes idle connections at the end of a stop without a reset
  // (blocks for at most uwsgi::Worker::kStopLingerMs).
  static PyObject* api_close_idle(PyObject* cap, PyObject* arg) {
    GeventLoop* L = self_of(cap);
    if (!L) return nullptr;
    PyObject* seq = PySequence_Fast(arg, "close_idle wants a list of fds");
    if (!seq) return nullptr;
    std::vector<int> fds;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
      long fd = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
      if (fd == -1 && PyErr_Occurred()) {
        Py_DECREF(seq);
        return nullptr;
      }
      fds.push_back((int)fd);
    }
    Py_DECREF(seq);
    L->worker_->close_idle(fds);
    Py_RETURN_NONE;
  }

  // A types.SimpleNamespace of the api_* callables, bound to this loop.
  PyObject* make_api() {
    static PyMethodDef defs[] = {
        {"accept", api_accept, METH_O, nullptr},
        {"serve", api_serve, METH_VARARGS, nullptr},
        {"stopping", api_stopping, METH_NOARGS, nullptr},
        {"on_signal", api_on_signal, METH_NOARGS, nullptr},
        {"close", api_close, METH_O, nullptr},
        {"peek_head", api_peek_head, METH_O, nullptr},
        {"head_timeout", api_head_timeout, METH_VARARGS, nullptr},
        {"close_idle", api_close_idle, METH_O, nullptr},
    };
    PyObject* types = PyImport_ImportModule("types");
    PyObject* ns_type = types ? PyObject_GetAttrString(types, "SimpleNamespace") : nullptr;
    Py_XDECREF(types);
    PyObject* kw = PyDict_New();
    PyObject* cap = PyCapsule_New(this, kCapsule, nullptr);
    bool ok = ns_type && kw && cap;
    for (auto& d : defs) {
      if (!ok) break;
      PyObject* fn = PyCFunction_New(&d, cap);
      ok = fn && PyDict_SetItemString(kw, d.ml_name, fn) == 0;
      Py_XDECREF(fn);
    }
    PyObject* grace = ok ? PyFloat_FromDouble(uwsgi::Worker::kStopGraceMs / 1000.0) : nullptr;
    ok = grace && PyDict_SetItemString(kw, "stop_grace", grace) == 0;
    Py_XDECREF(grace);
    PyObject* empty = ok ? PyTuple_New(0) : nullptr;
    PyObject* api = empty ? PyObject_Call(ns_type, empty, kw) : nullptr;
    Py_XDECREF(empty);
    Py_XDECREF(cap);
    Py_XDECREF(kw);
    Py_XDECREF(ns_type);
    return api;
  }

  // Python-side set-up; false with a Python exception set.
  bool setup(uwsgi::Worker& w) {
    // The hub may have been created in the master (an app importing gevent at load time):
    // re-arm its loop for this process.
    PyObject* gevent = PyImport_ImportModule("gevent");
    if (!gevent) return false;
    PyObject* r = PyObject_CallMethod(gevent, "reinit", nullptr);
    Py_DECREF(gevent);
    if (!r) return false;
    Py_DECREF(r);

    PyObject* mod = loop_module();
    if (!mod) return false;
    PyObject* api = make_api();
    PyObject* fds = PyList_New(0);
    bool ok = api && fds;
    for (int fd : w.listen_fds()) {
      if (!ok) break;
      PyObject* n = PyLong_FromLong(fd);
      ok = n && PyList_Append(fds, n) == 0;
      Py_XDECREF(n);
    }
    if (ok)
      loop_obj_ = PyObject_CallMethod(mod, "WorkerLoop", "OOiiOd", api, fds, w.signal_fd(), s_.cores,
                                      s_.wait_for_hub ? Py_True : Py_False,
                                      (double)host_.config().get_int("socket-timeout", 30));
    if (loop_obj_) served_ = PyObject_GetAttrString(loop_obj_, "served");
    if (served_) wait_fn_ = PyObject_CallMethod(mod, "make_wait", "O", loop_obj_);
    if (wait_fn_) setup_read_wait();
    Py_XDECREF(api);
    Py_XDECREF(fds);
    Py_DECREF(mod);
    return loop_obj_ && served_ && wait_fn_;
  }

  // What read_wait() uses; without them (an error here) every wait goes to the Python wait().
  void setup_read_wait() {
    PyObject* gevent = PyImport_ImportModule("gevent");
    PyObject* gc = gevent ? PyObject_GetAttrString(gevent, "getcurrent") : nullptr;
    Py_XDECREF(gevent);
    hub_ = PyObject_GetAttrString(loop_obj_, "hub");
    hub_switch_ = hub_ ? PyObject_GetAttrString(hub_, "switch") : nullptr;
    serving_ = PyObject_GetAttrString(loop_obj_, "serving");
    watchers_ = PyObject_GetAttrString(loop_obj_, "watchers");
    one_ = PyLong_FromLong(1);
    s_active_ = PyUnicode_InternFromString("active");
    s_switch_ = PyUnicode_InternFromString("switch");
    s_start_ = PyUnicode_InternFromString("start");
    s_stop_ = PyUnicode_InternFromString("stop");
    if (gc && hub_switch_ && serving_ && PySet_Check(serving_) && watchers_ && PyDict_Check(watchers_) && one_ &&
        s_active_ && s_switch_ && s_start_ && s_stop_)
      getcurrent_ = gc;
    else
      Py_XDECREF(gc);
    PyErr_Clear();
  }

  uwsgi::Host& host_;
  Settings s_;
  uwsgi::Worker* worker_ = nullptr;
  // read_wait()'s (owned references, kept for the worker's life)
  PyObject* getcurrent_ = nullptr;  // gevent.getcurrent, set only when all the others are
  PyObject* hub_ = nullptr;
  PyObject* hub_switch_ = nullptr;
  PyObject* serving_ = nullptr;   // loop_obj_.serving
  PyObject* watchers_ = nullptr;  // loop_obj_.watchers
  PyObject* one_ = nullptr;
  PyObject *s_active_ = nullptr, *s_switch_ = nullptr, *s_start_ = nullptr, *s_stop_ = nullptr;
  PyObject* loop_obj_ = nullptr;  // the WorkerLoop instance
  PyObject* wait_fn_ = nullptr;   // make_wait(loop_obj_)
  PyObject* served_ = nullptr;    // loop_obj_.served
};

}  // namespace

std::unique_ptr<uwsgi::LoopEngine> make_loop(uwsgi::Host& host, const Settings& s) {
  return std::make_unique<GeventLoop>(host, s);
}

PyObject* loop_module() {
  // Made by the master (see prepare() in gevent_plugin.cc) and inherited by every worker.
  if (PyObject* made = PyDict_GetItemString(PyImport_GetModuleDict(), "_uwsgi_gevent_loop")) {
    Py_INCREF(made);
    return made;
  }
  PyObject* code = Py_CompileString(kLoopSource, "<uwsgi gevent loop>", Py_file_input);
  PyObject* mod = code ? PyImport_ExecCodeModuleEx("_uwsgi_gevent_loop", code, "<uwsgi gevent loop>") : nullptr;
  Py_XDECREF(code);
  return mod;
}

std::string take_error_text(bool traceback) {
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  if (!t) return "unknown error";
  PyErr_NormalizeException(&t, &v, &tb);
  if (tb && v) PyException_SetTraceback(v, tb);
  std::string out;
  PyObject* text = nullptr;
  if (traceback) {
    // traceback.format_exception(value) joined: the whole story in one log entry.
    if (PyObject* m = PyImport_ImportModule("traceback")) {
      PyObject* lines = PyObject_CallMethod(m, "format_exception", "O", v ? v : Py_None);
      PyObject* sep = PyUnicode_FromString("");
      if (lines && sep) text = PyUnicode_Join(sep, lines);
      Py_XDECREF(sep);
      Py_XDECREF(lines);
      Py_DECREF(m);
    }
  }
  if (!text) {
    PyErr_Clear();
    out = ((PyTypeObject*)t)->tp_name;
    text = v ? PyObject_Str(v) : nullptr;
    if (text) out += ": ";
  }
  if (text) {
    if (const char* c = PyUnicode_AsUTF8(text)) out += c;
    Py_DECREF(text);
  }
  PyErr_Clear();
  Py_XDECREF(t);
  Py_XDECREF(v);
  Py_XDECREF(tb);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace uwsgi_gevent
