// The spooler in Python: uwsgi.spool() / send_to_spooler() write a task, uwsgi.SPOOL_OK / RETRY /
// IGNORE, and the spooler process's side: each task goes to uwsgi.spooler(env) (uwsgidecorators'
// @spool sets it), whose return code says whether the file is deleted.
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

// A key or value: bytes, str (UTF-8) or int (its decimal form, handy for at= and priority=).
bool to_string(PyObject* o, std::string* out, const char* what) {
  if (PyBytes_Check(o)) {
    out->assign(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    return true;
  }
  if (PyUnicode_Check(o)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) return false;
    out->assign(s, (size_t)n);
    return true;
  }
  if (PyLong_Check(o)) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return false;
    *out = std::to_string(v);
    return true;
  }
  if (PyFloat_Check(o)) {  // at=time.time() + 5
    *out = std::to_string((long long)PyFloat_AS_DOUBLE(o));
    return true;
  }
  PyErr_Format(PyExc_TypeError, "spooler %s must be bytes or str, not %.100s", what, Py_TYPE(o)->tp_name);
  return false;
}

bool add_items(PyObject* dict, SpoolTask* t) {
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict, &pos, &k, &v)) {
    std::string ks, vs;
    if (!to_string(k, &ks, "keys") || !to_string(v, &vs, "values")) return false;
    if (ks == "body")
      t->body = std::move(vs);
    else
      t->vars.emplace_back(std::move(ks), std::move(vs));
  }
  return true;
}

// spool(dict) or spool(**kwargs) (or both): the spool file's path, as bytes.
PyObject* m_spool(PyObject*, PyObject* args, PyObject* kw) {
  PyObject* d = nullptr;
  if (!PyArg_ParseTuple(args, "|O!:spool", &PyDict_Type, &d)) return nullptr;
  SpoolTask t;
  if ((d && !add_items(d, &t)) || (kw && !add_items(kw, &t))) return nullptr;
  if (t.vars.empty() && t.body.empty()) {
    PyErr_SetString(PyExc_ValueError, "spool() wants a dict of arguments (or keyword arguments)");
    return nullptr;
  }
  std::string path, err;
  bool ok;
  Py_BEGIN_ALLOW_THREADS
  ok = g.host->spooler().spool(t, &path, &err);
  Py_END_ALLOW_THREADS
  if (!ok) {
    PyErr_SetString(PyExc_OSError, err.c_str());
    return nullptr;
  }
  return PyBytes_FromStringAndSize(path.data(), (Py_ssize_t)path.size());
}

PyObject* m_i_am_the_spooler(PyObject*, PyObject*) {
  if (g.host->spooler().in_spooler()) Py_RETURN_TRUE;
  Py_RETURN_FALSE;
}

PyMethodDef spooler_methods[] = {
    {"spool", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(m_spool)), METH_VARARGS | METH_KEYWORDS,
     "spool(dict) or spool(**kwargs): queue a task for the spooler; returns the spool file's path"},
    {"send_to_spooler", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(m_spool)),
     METH_VARARGS | METH_KEYWORDS, "the same as spool()"},
    {"i_am_the_spooler", m_i_am_the_spooler, METH_NOARGS, "True in a spooler process"},
    {nullptr, nullptr, 0, nullptr}};

PyThreadState* g_spooler_ts = nullptr;

// One task: uwsgi.spooler(env), env = {bytes key: bytes value, 'spooler_task_name': path,
// 'body': bytes when there is one}. An int return is the code; anything else, or an exception
// (logged), keeps the file for the next scan (SPOOL_RETRY).
int run_task(const SpoolTask& t) {
  PyEval_RestoreThread(g_spooler_ts);
  int rc = -1;
  PyObject* env = PyDict_New();
  PyObject* m = PyImport_ImportModule("uwsgi");
  PyObject* fn = m ? PyObject_GetAttrString(m, "spooler") : nullptr;
  Py_XDECREF(m);
  bool ok = env != nullptr;
  for (auto& kv : t.vars) {
    if (!ok) break;
    PyObject* k = PyBytes_FromStringAndSize(kv.first.data(), (Py_ssize_t)kv.first.size());
    PyObject* v = PyBytes_FromStringAndSize(kv.second.data(), (Py_ssize_t)kv.second.size());
    ok = k && v && PyDict_SetItem(env, k, v) == 0;
    Py_XDECREF(k);
    Py_XDECREF(v);
  }
  if (ok) {
    PyObject* name = PyBytes_FromStringAndSize(t.path.data(), (Py_ssize_t)t.path.size());
    ok = name && PyDict_SetItemString(env, "spooler_task_name", name) == 0;
    Py_XDECREF(name);
  }
  if (ok && !t.body.empty()) {
    PyObject* b = PyBytes_FromStringAndSize(t.body.data(), (Py_ssize_t)t.body.size());
    ok = b && PyDict_SetItemString(env, "body", b) == 0;
    Py_XDECREF(b);
  }
  if (!ok) {
    log_exception("[spooler] building the task's dict");
  } else if (!fn || !PyCallable_Check(fn)) {
    PyErr_Clear();
    log_line("[spooler] no uwsgi.spooler function is set: %s stays for the next scan", t.path.c_str());
  } else {
    PyObject* r = PyObject_CallOneArg(fn, env);
    if (!r) {
      log_exception("[spooler] task raised an exception (it stays and runs again)");
    } else if (PyLong_Check(r)) {
      rc = (int)PyLong_AsLong(r);
      if (PyErr_Occurred()) {
        PyErr_Clear();
        rc = -1;
      }
    }
    Py_XDECREF(r);
  }
  Py_XDECREF(fn);
  Py_XDECREF(env);
  g_spooler_ts = PyEval_SaveThread();
  return rc;
}

}  // namespace

bool add_spooler_functions(PyObject* module) {
  return PyModule_AddFunctions(module, spooler_methods) == 0 && PyModule_AddIntConstant(module, "SPOOL_OK", -2) == 0 &&
         PyModule_AddIntConstant(module, "SPOOL_RETRY", -1) == 0 &&
         PyModule_AddIntConstant(module, "SPOOL_IGNORE", 0) == 0;
}

void set_spooler_runner(Host& host, std::function<void()> post_fork) {
  host.spooler().set_runner(
      [post_fork] {
        if (!g.initialized) return;
        post_fork();
        g_spooler_ts = PyEval_SaveThread();  // the GIL is free while the spooler waits
      },
      [](const SpoolTask& t) {
        if (!g.initialized) return -1;
        return run_task(t);
      });
}

}  // namespace uwsgi::py
