// Mules in Python: uwsgi.mule_id(), mule_msg(), mule_get_msg(), farm_msg(), farm_get_msg(),
// in_farm(), and the mule process's main: run its script, or serve messages with
// uwsgi.mule_msg_hook (which uwsgidecorators' @mulefunc sets) for ever.
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

PyObject* m_mule_id(PyObject*, PyObject*) { return PyLong_FromLong(g.host->mules().current()); }

// mule_msg(msg, target=0): target an int (a mule id; 0 = the shared queue, any mule) or a str
// (a farm). True when queued; OSError when the queue is full or the target does not exist.
PyObject* m_mule_msg(PyObject*, PyObject* args) {
  PyObject *msg, *target = nullptr;
  if (!PyArg_ParseTuple(args, "O|O:mule_msg", &msg, &target)) return nullptr;
  std::string_view m;
  if (!bytes_or_str(msg, &m, "a mule message")) return nullptr;
  std::string err;
  bool ok;
  if (target && PyUnicode_Check(target)) {
    const char* farm = PyUnicode_AsUTF8(target);
    if (!farm) return nullptr;
    ok = g.host->mules().send_farm(farm, m, &err);
  } else {
    long id = target ? PyLong_AsLong(target) : 0;
    if (id == -1 && PyErr_Occurred()) return nullptr;
    ok = g.host->mules().send((int)id, m, &err);
  }
  if (!ok) return raise_os_error(err);
  Py_RETURN_TRUE;
}

PyObject* m_farm_msg(PyObject*, PyObject* args) {
  const char* farm;
  PyObject* msg;
  if (!PyArg_ParseTuple(args, "sO:farm_msg", &farm, &msg)) return nullptr;
  std::string_view m;
  if (!bytes_or_str(msg, &m, "a mule message")) return nullptr;
  std::string err;
  if (!g.host->mules().send_farm(farm, m, &err)) return raise_os_error(err);
  Py_RETURN_TRUE;
}

PyObject* get_msg(int from, int timeout_s) {
  std::string out, err;
  int r;
  Py_BEGIN_ALLOW_THREADS
  r = g.host->mules().get_msg(&out, timeout_s < 0 ? -1 : timeout_s * 1000, from, &err);
  Py_END_ALLOW_THREADS
  if (r < 0) return raise_os_error(err);
  if (r == 0) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize(out.data(), (Py_ssize_t)out.size());
}

// mule_get_msg(signals=True, farms=True, buffer_size=65536, timeout=-1): block (in a mule) until
// a message comes; None after timeout seconds (-1: never). OSError outside a mule.
PyObject* m_mule_get_msg(PyObject*, PyObject* args, PyObject* kw) {
  static const char* names[] = {"signals", "farms", "buffer_size", "timeout", nullptr};
  int signals = 1, farms = 1, bufsize = 65536, timeout = -1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|ppii:mule_get_msg", const_cast<char**>(names), &signals, &farms,
                                   &bufsize, &timeout))
    return nullptr;
  return get_msg(Mules::kFromMule | Mules::kFromShared | (farms ? Mules::kFromFarms : 0) | (signals ? Mules::kSignals : 0),
                 timeout);
}

// farm_get_msg(): block until a message to one of this mule's farms comes (as uWSGI's).
PyObject* m_farm_get_msg(PyObject*, PyObject*) { return get_msg(Mules::kFromFarms | Mules::kSignals, -1); }

PyObject* m_in_farm(PyObject*, PyObject* args) {
  const char* farm = nullptr;
  if (!PyArg_ParseTuple(args, "|z:in_farm", &farm)) return nullptr;
  if (!farm) Py_RETURN_NONE;
  if (g.host->mules().in_farm(farm)) Py_RETURN_TRUE;
  Py_RETURN_NONE;
}

PyMethodDef mule_methods[] = {
    {"mule_id", m_mule_id, METH_NOARGS, "this process's mule id (1-based), 0 when not a mule"},
    {"mule_msg", m_mule_msg, METH_VARARGS,
     "mule_msg(msg, target=0): queue msg (bytes/str) for mule `target` (0: any mule) or the farm named by a str"},
    {"farm_msg", m_farm_msg, METH_VARARGS, "farm_msg(farm, msg): queue msg for one mule of the farm"},
    {"mule_get_msg", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(m_mule_get_msg)),
     METH_VARARGS | METH_KEYWORDS, "mule_get_msg(signals=True, farms=True, buffer_size=65536, timeout=-1) -> bytes or None"},
    {"farm_get_msg", m_farm_get_msg, METH_NOARGS, "farm_get_msg() -> bytes: wait for a message to one of this mule's farms"},
    {"in_farm", m_in_farm, METH_VARARGS, "in_farm(name) -> True or None"},
    {nullptr, nullptr, 0, nullptr}};

// Serve messages for ever: each goes to uwsgi.mule_msg_hook(msg) when the app set one.
int message_loop(int id) {
  for (;;) {
    PyObject* msg = get_msg(Mules::kFromMule | Mules::kFromShared | Mules::kFromFarms | Mules::kSignals, -1);
    if (!msg) {
      log_exception("mule: mule_get_msg");
      return 1;
    }
    PyObject* m = PyImport_ImportModule("uwsgi");
    PyObject* hook = m ? PyObject_GetAttrString(m, "mule_msg_hook") : nullptr;
    Py_XDECREF(m);
    if (hook && PyCallable_Check(hook)) {
      PyObject* r = PyObject_CallOneArg(hook, msg);
      if (!r) log_exception("mule: uwsgi.mule_msg_hook");
      Py_XDECREF(r);
    } else {
      PyErr_Clear();
      log_line("mule %d: message of %zd bytes and no uwsgi.mule_msg_hook to take it", id, PyBytes_GET_SIZE(msg));
    }
    Py_XDECREF(hook);
    Py_DECREF(msg);
  }
}

}  // namespace

bool add_mule_functions(PyObject* module) { return PyModule_AddFunctions(module, mule_methods) == 0; }

int run_mule(int id, const std::string& arg) {
  if (arg.empty()) return message_loop(id);
  // A script: run as __main__ (uWSGI runs it with the mule's own interpreter state).
  FILE* f = fopen(arg.c_str(), "r");
  if (!f) {
    log_line("mule %d: cannot open %s: %s", id, arg.c_str(), strerror(errno));
    return 1;
  }
  log_line("mule %d running %s", id, arg.c_str());
  int rc = PyRun_SimpleFileExFlags(f, arg.c_str(), 1, nullptr);
  return rc == 0 ? 0 : 1;
}

}  // namespace uwsgi::py
