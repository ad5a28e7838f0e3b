// uwsgi.lock()/unlock()/is_locked() and the uwsgi.cache_* functions over the core's shared locks
// and caches (Host::locks(), Host::caches(); options --locks, --cache2, --cache).
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

// lock(n=0): blocks this thread (the GIL is let go meanwhile) until lock n is held. Under
// --async/--gevent that blocks the whole worker, as in uWSGI. OSError for a bad n or a relock.
PyObject* m_lock(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:lock", &n)) return nullptr;
  std::string err;
  bool ok;
  Py_BEGIN_ALLOW_THREADS
  ok = g.host->locks().lock(n, &err);
  Py_END_ALLOW_THREADS
  if (!ok) return raise_os_error(err);
  Py_RETURN_NONE;
}

PyObject* m_unlock(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:unlock", &n)) return nullptr;
  std::string err;
  if (!g.host->locks().unlock(n, &err)) return raise_os_error(err);
  Py_RETURN_NONE;
}

PyObject* m_is_locked(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:is_locked", &n)) return nullptr;
  if (n < 0 || n >= g.host->locks().count()) return raise_os_error("lock " + std::to_string(n) + " does not exist");
  return PyBool_FromLong(g.host->locks().is_locked(n));
}

// The cache named by the optional argument ("" / None: the first one). ValueError when absent.
Cache* cache_arg(PyObject* name) {
  std::string_view n;
  if (name && name != Py_None && !bytes_or_str(name, &n, "a cache name")) return nullptr;
  if (Cache* c = g.host->caches().find(n)) return c;
  if (n.empty())
    PyErr_SetString(PyExc_ValueError, "no cache is configured (add --cache2 name=NAME,items=N)");
  else
    PyErr_Format(PyExc_ValueError, "no cache named %.200s (add --cache2 name=%.200s,items=N)",
                 std::string(n).c_str(), std::string(n).c_str());
  return nullptr;
}

PyObject* m_cache_get(PyObject*, PyObject* args, PyObject* kw) {
  static const char* names[] = {"key", "cache", nullptr};
  PyObject *key, *cache = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:cache_get", const_cast<char**>(names), &key, &cache)) return nullptr;
  std::string_view k;
  Cache* c = cache_arg(cache);
  if (!c || !bytes_or_str(key, &k, "a cache key")) return nullptr;
  std::string v;
  if (!c->get(k, &v)) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize(v.data(), (Py_ssize_t)v.size());
}

PyObject* store(PyObject* args, PyObject* kw, bool overwrite, const char* fmt) {
  static const char* names[] = {"key", "value", "expires", "cache", nullptr};
  PyObject *key, *value, *cache = nullptr;
  unsigned long long expires = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, const_cast<char**>(names), &key, &value, &expires, &cache))
    return nullptr;
  std::string_view k, v;
  Cache* c = cache_arg(cache);
  if (!c || !bytes_or_str(key, &k, "a cache key") || !bytes_or_str(value, &v, "a cache value")) return nullptr;
  std::string err;
  if (!c->set(k, v, expires, overwrite, &err)) {
    if (err != "key exists") log_line("uwsgi.cache_%s: %s", overwrite ? "update" : "set", err.c_str());
    Py_RETURN_NONE;  // uWSGI's answer for a failed set
  }
  Py_RETURN_TRUE;
}

PyObject* m_cache_set(PyObject*, PyObject* args, PyObject* kw) { return store(args, kw, false, "OO|KO:cache_set"); }
PyObject* m_cache_update(PyObject*, PyObject* args, PyObject* kw) { return store(args, kw, true, "OO|KO:cache_update"); }

PyObject* key_op(PyObject* args, PyObject* kw, const char* fmt, int op) {
  static const char* names[] = {"key", "cache", nullptr};
  PyObject *key, *cache = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, const_cast<char**>(names), &key, &cache)) return nullptr;
  std::string_view k;
  Cache* c = cache_arg(cache);
  if (!c || !bytes_or_str(key, &k, "a cache key")) return nullptr;
  bool ok = op == 'd' ? c->del(k) : c->exists(k);
  if (!ok) Py_RETURN_NONE;
  Py_RETURN_TRUE;
}

PyObject* m_cache_del(PyObject*, PyObject* args, PyObject* kw) { return key_op(args, kw, "O|O:cache_del", 'd'); }
PyObject* m_cache_exists(PyObject*, PyObject* args, PyObject* kw) { return key_op(args, kw, "O|O:cache_exists", 'e'); }

PyObject* m_cache_clear(PyObject*, PyObject* args) {
  PyObject* cache = nullptr;
  if (!PyArg_ParseTuple(args, "|O:cache_clear", &cache)) return nullptr;
  Cache* c = cache_arg(cache);
  if (!c) return nullptr;
  c->clear();
  Py_RETURN_TRUE;
}

PyObject* m_cache_keys(PyObject*, PyObject* args) {
  PyObject* cache = nullptr;
  if (!PyArg_ParseTuple(args, "|O:cache_keys", &cache)) return nullptr;
  Cache* c = cache_arg(cache);
  if (!c) return nullptr;
  auto keys = c->keys();
  PyObject* list = PyList_New(0);
  for (auto& k : keys) {
    PyObject* b = PyBytes_FromStringAndSize(k.data(), (Py_ssize_t)k.size());
    if (!b || PyList_Append(list, b) < 0) {
      Py_XDECREF(b);
      Py_DECREF(list);
      return nullptr;
    }
    Py_DECREF(b);
  }
  return list;
}

PyObject* number_op(PyObject* args, PyObject* kw, const char* fmt, char op) {
  static const char* names[] = {"key", "value", "expires", "cache", nullptr};
  PyObject *key, *cache = nullptr;
  long long arg = (op == '*' || op == '/') ? 2 : 1;
  unsigned long long expires = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, const_cast<char**>(names), &key, &arg, &expires, &cache))
    return nullptr;
  std::string_view k;
  Cache* c = cache_arg(cache);
  if (!c || !bytes_or_str(key, &k, "a cache key")) return nullptr;
  int64_t result;
  std::string err;
  if (!c->update_number(k, op, arg, expires, &result, &err)) {
    log_line("uwsgi.cache_%s: %s", op == '+' ? "inc" : op == '-' ? "dec" : op == '*' ? "mul" : "div", err.c_str());
    Py_RETURN_NONE;
  }
  Py_RETURN_TRUE;
}

PyObject* m_cache_inc(PyObject*, PyObject* a, PyObject* kw) { return number_op(a, kw, "O|LKO:cache_inc", '+'); }
PyObject* m_cache_dec(PyObject*, PyObject* a, PyObject* kw) { return number_op(a, kw, "O|LKO:cache_dec", '-'); }
PyObject* m_cache_mul(PyObject*, PyObject* a, PyObject* kw) { return number_op(a, kw, "O|LKO:cache_mul", '*'); }
PyObject* m_cache_div(PyObject*, PyObject* a, PyObject* kw) { return number_op(a, kw, "O|LKO:cache_div", '/'); }

// cache_num(key, cache=None): the 64-bit number cache_inc & co. keep (0 when absent).
PyObject* m_cache_num(PyObject*, PyObject* args, PyObject* kw) {
  static const char* names[] = {"key", "cache", nullptr};
  PyObject *key, *cache = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:cache_num", const_cast<char**>(names), &key, &cache)) return nullptr;
  std::string_view k;
  Cache* c = cache_arg(cache);
  if (!c || !bytes_or_str(key, &k, "a cache key")) return nullptr;
  std::string v;
  if (!c->get(k, &v)) return PyLong_FromLong(0);
  if (v.size() != 8) {
    PyErr_SetString(PyExc_ValueError, "the cached value is not a 64-bit number (set it with cache_inc)");
    return nullptr;
  }
  int64_t n;
  memcpy(&n, v.data(), 8);
  return PyLong_FromLongLong(n);
}

#define KW(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(f)), METH_VARARGS | METH_KEYWORDS

PyMethodDef shared_methods[] = {
    {"lock", m_lock, METH_VARARGS, "lock(n=0): wait (blocking this thread) until cross-process lock n is held"},
    {"unlock", m_unlock, METH_VARARGS, "unlock(n=0): release lock n; OSError if this thread does not hold it"},
    {"is_locked", m_is_locked, METH_VARARGS, "is_locked(n=0) -> bool"},
    {"cache_get", KW(m_cache_get), "cache_get(key, cache=None) -> bytes, or None when absent or expired"},
    {"cache_set", KW(m_cache_set),
     "cache_set(key, value, expires=0, cache=None) -> True, or None when the key exists, the value is larger "
     "than the blocksize or the cache is full; expires in seconds (0: never)"},
    {"cache_update", KW(m_cache_update), "cache_update(key, value, expires=0, cache=None): set or overwrite -> True/None"},
    {"cache_del", KW(m_cache_del), "cache_del(key, cache=None) -> True, or None when absent"},
    {"cache_exists", KW(m_cache_exists), "cache_exists(key, cache=None) -> True or None"},
    {"cache_clear", m_cache_clear, METH_VARARGS, "cache_clear(cache=None): drop every item"},
    {"cache_keys", m_cache_keys, METH_VARARGS, "cache_keys(cache=None) -> list of bytes"},
    {"cache_inc", KW(m_cache_inc), "cache_inc(key, value=1, expires=0, cache=None): 64-bit add -> True/None"},
    {"cache_dec", KW(m_cache_dec), "cache_dec(key, value=1, expires=0, cache=None) -> True/None"},
    {"cache_mul", KW(m_cache_mul), "cache_mul(key, value=2, expires=0, cache=None) -> True/None"},
    {"cache_div", KW(m_cache_div), "cache_div(key, value=2, expires=0, cache=None) -> True/None (None on / 0)"},
    {"cache_num", KW(m_cache_num), "cache_num(key, cache=None) -> int (0 when absent)"},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool bytes_or_str(PyObject* o, std::string_view* out, const char* what) {
  if (PyBytes_Check(o)) {
    *out = std::string_view(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    return true;
  }
  if (PyUnicode_Check(o)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) return false;
    *out = std::string_view(s, (size_t)n);
    return true;
  }
  PyErr_Format(PyExc_TypeError, "%s must be bytes or str, not %.100s", what, Py_TYPE(o)->tp_name);
  return false;
}

PyObject* raise_os_error(const std::string& msg) {
  PyErr_SetString(PyExc_OSError, msg.c_str());
  return nullptr;
}

bool add_shared_functions(PyObject* module) { return PyModule_AddFunctions(module, shared_methods) == 0; }

}  // namespace uwsgi::py
