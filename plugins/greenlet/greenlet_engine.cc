// greenlet: a suspend engine whose async cores are Python greenlets (python3-greenlet's C API).
//
// Each core is a greenlet whose run callable is a C function calling the fiber entry. resume()
// switches into it from the scheduler's greenlet; suspend() switches back to whichever greenlet
// resumed it. greenlet saves CPython's per-coroutine state itself (frames, data stack, recursion
// depth, exception state, contextvars), so saves_interpreter_state() is true and the python plugin
// does not swap thread states on top. Every switch happens with the GIL held: the python plugin
// only releases it around the scheduler's blocking waits, which run in the scheduler's greenlet.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <greenlet.h>

#include <string>

#include <uwsgi/plugin.h>

namespace {

// The pending Python exception as one line ("Type: message"), cleared.
std::string take_error_text() {
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  if (!t) return "unknown error";
  PyErr_NormalizeException(&t, &v, &tb);
  std::string out = ((PyTypeObject*)t)->tp_name;
  if (PyObject* s = v ? PyObject_Str(v) : nullptr) {
    if (const char* c = PyUnicode_AsUTF8(s)) out += std::string(": ") + c;
    Py_DECREF(s);
  }
  PyErr_Clear();
  Py_XDECREF(t);
  Py_XDECREF(v);
  Py_XDECREF(tb);
  return out;
}

constexpr const char* kCapsuleName = "uwsgi.greenlet.core";

uwsgi::Host* g_host = nullptr;

class GreenletFiber final : public uwsgi::Fiber {
 public:
  GreenletFiber(void (*entry)(void*), void* arg) : entry_(entry), arg_(arg) {}

  ~GreenletFiber() override {
    if (!greenlet_ || !Py_IsInitialized()) return;
    // Dropping the last reference to a suspended greenlet makes greenlet throw GreenletExit into
    // it, which would resume C++ frames that cannot unwind: such a greenlet is left alone (the
    // worker is exiting anyway).
    if (!started_ || finished_) Py_DECREF(greenlet_);
  }

  bool start(std::string* err) {
    static PyMethodDef def = {"uwsgi_async_core", &GreenletFiber::run, METH_VARARGS, nullptr};
    PyObject* cap = PyCapsule_New(this, kCapsuleName, nullptr);
    PyObject* fn = cap ? PyCFunction_New(&def, cap) : nullptr;
    Py_XDECREF(cap);
    greenlet_ = fn ? PyGreenlet_New(fn, nullptr) : nullptr;
    Py_XDECREF(fn);
    if (!greenlet_) {
      *err = "greenlet: cannot create a greenlet: " + take_error_text();
      return false;
    }
    return true;
  }

  void resume() override {
    if (finished_ || running_) return;
    running_ = true;
    started_ = true;
    caller_ = PyGreenlet_GetCurrent();
    // When the entry returns, greenlet continues in the parent: make that the resumer.
    if (caller_) {
      PyGreenlet* parent = PyGreenlet_GetParent(greenlet_);
      if (parent != caller_ && PyGreenlet_SetParent(greenlet_, caller_) < 0) PyErr_Clear();
      Py_XDECREF(parent);
    }
    switch_to(greenlet_);
    Py_CLEAR(caller_);
    running_ = false;
  }

  void suspend() override {
    if (!running_ || !caller_) return;  // not called from inside this fiber
    switch_to(caller_);
  }

  bool finished() const override { return finished_; }

 private:
  // The greenlet's run callable: self is the capsule holding the fiber.
  static PyObject* run(PyObject* self, PyObject*) {
    auto* f = static_cast<GreenletFiber*>(PyCapsule_GetPointer(self, kCapsuleName));
    if (!f) return nullptr;
    f->entry_(f->arg_);
    f->finished_ = true;
    Py_RETURN_NONE;
  }

  // Switches with the GIL held. A pending Python exception belongs to the code that set it, not
  // to the greenlet we switch to, so it is set aside across the switch.
  static void switch_to(PyGreenlet* target) {
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject* r = PyGreenlet_Switch(target, nullptr, nullptr);
    if (r) {
      Py_DECREF(r);
    } else if (g_host) {
      // Something was thrown into this greenlet (or the switch failed): C++ frames cannot be
      // unwound by a Python exception, so report it and carry on as a normal wake-up.
      g_host->log("greenlet: exception while switching async cores: %s\n", take_error_text().c_str());
    } else {
      PyErr_Clear();
    }
    PyErr_Restore(et, ev, tb);
  }

  void (*entry_)(void*);
  void* arg_;
  PyGreenlet* greenlet_ = nullptr;
  PyGreenlet* caller_ = nullptr;  // who resumed us, while running
  bool started_ = false, running_ = false, finished_ = false;
};

class GreenletEngine final : public uwsgi::SuspendEngine {
 public:
  const char* name() const override { return "greenlet"; }
  bool saves_interpreter_state() const override { return true; }

  bool init(std::string* err) override {
    if (!Py_IsInitialized()) {
      *err = "the greenlet suspend engine needs the python plugin (--plugins python)";
      return false;
    }
    PyGreenlet_Import();
    if (!_PyGreenlet_API) {
      *err = "cannot import greenlet (install python3-greenlet): " + take_error_text();
      return false;
    }
    return true;
  }

  std::unique_ptr<uwsgi::Fiber> create(void (*entry)(void*), void* arg, std::string* err) override {
    auto f = std::make_unique<GreenletFiber>(entry, arg);
    if (!f->start(err)) return nullptr;
    return f;
  }
};

class GreenletPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    g_host = &host;
    uwsgi::OptionDef on;
    on.name = "greenlet";
    on.arg = uwsgi::OptArg::None;
    on.help = "switch async cores with Python greenlets (same as --suspend-engine greenlet)";
    on.implies = {{"suspend-engine", "greenlet"}};
    host.add_option(std::move(on));
    host.add_suspend_engine("greenlet", [](uwsgi::Host&) -> std::unique_ptr<uwsgi::SuspendEngine> {
      return std::make_unique<GreenletEngine>();
    });
  }
};

}  // namespace

UWSGI_PLUGIN(greenlet, GreenletPlugin)
