// start_response(status, headers, exc_info=None) and the write(data) callable it returns.
// Headers are kept until the first non-empty body chunk (PEP 3333), so an exc_info call can
// still replace them; after they went out, exc_info is re-raised.
#include <strings.h>

#include <cstring>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

PyTypeObject* type = nullptr;

// Latin-1 text of a str without copying when CPython stores it as one byte per char.
bool latin1(PyObject* s, std::string_view* out, const char* what) {
  if (PyUnicode_READY(s) < 0) return false;
  if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
    PyErr_Format(PyExc_ValueError, "%s must be latin-1 text", what);
    return false;
  }
  *out = std::string_view(static_cast<const char*>(PyUnicode_DATA(s)), PyUnicode_GET_LENGTH(s));
  return true;
}

bool has_ctl(std::string_view v) {
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return true;
  return false;
}

bool validate(PyObject* status, PyObject* headers) {
  if (!PyUnicode_Check(status)) {
    PyErr_Format(PyExc_TypeError, "status must be a str, not %.100s", Py_TYPE(status)->tp_name);
    return false;
  }
  std::string_view sv;
  if (!latin1(status, &sv, "status")) return false;
  if (sv.size() < 3 || !isdigit((unsigned char)sv[0]) || !isdigit((unsigned char)sv[1]) ||
      !isdigit((unsigned char)sv[2]) || (sv.size() > 3 && sv[3] != ' ') || has_ctl(sv)) {
    PyErr_Format(PyExc_ValueError, "invalid status line %R (expected \"200 OK\")", status);
    return false;
  }
  if (!PyList_Check(headers)) {
    PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s", Py_TYPE(headers)->tp_name);
    return false;
  }
  size_t head_bytes = 9 + sv.size() + 4;  // "HTTP/1.1 " status CRLF ... CRLF
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
    PyObject* h = PyList_GET_ITEM(headers, i);
    if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(h, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(h, 1))) {
      PyErr_Format(PyExc_TypeError, "headers must be (str, str) tuples, got %R", h);
      return false;
    }
    std::string_view n, v;
    if (!latin1(PyTuple_GET_ITEM(h, 0), &n, "header name") ||
        !latin1(PyTuple_GET_ITEM(h, 1), &v, "header value"))
      return false;
    if (n.empty() || has_ctl(n) || has_ctl(v) || n.find(':') != std::string_view::npos) {
      PyErr_Format(PyExc_ValueError, "invalid header %R", h);
      return false;
    }
    head_bytes += n.size() + 2 + v.size() + 2;
  }
  if (wsgi_opts.headers_limit && head_bytes > wsgi_opts.headers_limit) {
    // uWSGI raises TypeError here too ("unable to add header to the response").
    PyErr_Format(PyExc_TypeError, "response headers of %zu bytes exceed --response-headers-limit %zu", head_bytes,
                 wsgi_opts.headers_limit);
    return false;
  }
  return true;
}

PyObject* call(PyObject* o, PyObject* args, PyObject* kw) {
  auto* r = reinterpret_cast<Responder*>(o);
  static const char* kwlist[] = {"status", "headers", "exc_info", nullptr};
  PyObject *status, *headers, *exc_info = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", const_cast<char**>(kwlist),
                                   &status, &headers, &exc_info))
    return nullptr;
  if (!r->req) {
    PyErr_SetString(PyExc_RuntimeError, "start_response() called after the request ended");
    return nullptr;
  }
  if (exc_info != Py_None) {
    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
      PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
      return nullptr;
    }
    if (r->sent) {
      // Too late to change the response: re-raise so the app's error handling sees it.
      PyObject* t = PyTuple_GET_ITEM(exc_info, 0);
      PyObject* v = PyTuple_GET_ITEM(exc_info, 1);
      PyObject* tb = PyTuple_GET_ITEM(exc_info, 2);
      Py_INCREF(t);
      Py_INCREF(v);
      Py_INCREF(tb);
      PyErr_Restore(t, v, tb == Py_None ? (Py_DECREF(tb), nullptr) : tb);
      return nullptr;
    }
  } else if (r->called) {
    PyErr_SetString(PyExc_AssertionError, "start_response() called twice without exc_info");
    return nullptr;
  }
  if (!validate(status, headers)) return nullptr;
  Py_INCREF(status);
  Py_INCREF(headers);
  Py_XSETREF(r->status, status);
  Py_XSETREF(r->headers, headers);
  r->called = true;
  Py_INCREF(r->write_fn);
  return r->write_fn;
}

PyObject* write_method(PyObject* o, PyObject* data) {
  auto* r = reinterpret_cast<Responder*>(o);
  if (!r->req) {
    PyErr_SetString(PyExc_RuntimeError, "write() called after the request ended");
    return nullptr;
  }
  if (!r->called) {
    PyErr_SetString(PyExc_AssertionError, "write() called before start_response()");
    return nullptr;
  }
  Py_buffer view;
  if (PyUnicode_Check(data) || PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
    if (!PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "write() argument must be bytes, not %.100s", Py_TYPE(data)->tp_name);
    return nullptr;
  }
  Emit e = responder_write(r, static_cast<const char*>(view.buf), view.len);
  PyBuffer_Release(&view);
  if (e == Emit::kClientGone) {
    if (write_opts.disable_write_exception) {
      r->gone = true;  // the handler logs it once, after the app returned
      Py_RETURN_NONE;
    }
    PyErr_SetString(client_gone_type(), "client gone while writing the response");
    return nullptr;
  }
  if (e == Emit::kPyError) return nullptr;
  Py_RETURN_NONE;
}

PyMethodDef write_def = {"write", write_method, METH_O, "write(data): send body bytes now"};

int traverse(PyObject* o, visitproc visit, void* arg) {
  auto* r = reinterpret_cast<Responder*>(o);
  Py_VISIT(r->status);
  Py_VISIT(r->headers);
  Py_VISIT(r->write_fn);
  Py_VISIT(Py_TYPE(o));
  return 0;
}

int clear(PyObject* o) {
  auto* r = reinterpret_cast<Responder*>(o);
  Py_CLEAR(r->status);
  Py_CLEAR(r->headers);
  Py_CLEAR(r->write_fn);
  return 0;
}

void dealloc(PyObject* o) {
  PyTypeObject* tp = Py_TYPE(o);
  PyObject_GC_UnTrack(o);
  clear(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

PyType_Slot slots[] = {{Py_tp_call, reinterpret_cast<void*>(call)},
                       {Py_tp_dealloc, reinterpret_cast<void*>(dealloc)},
                       {Py_tp_traverse, reinterpret_cast<void*>(traverse)},
                       {Py_tp_clear, reinterpret_cast<void*>(clear)},
                       {0, nullptr}};
PyType_Spec spec = {"uwsgi.StartResponse", sizeof(Responder), 0,
                    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, slots};

bool status_allows_body(std::string_view status) {
  return !(status[0] == '1' || status.substr(0, 3) == "204" || status.substr(0, 3) == "304");
}

}  // namespace

bool responder_init_type() {
  type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
  return type != nullptr;
}

Responder* responder_new(Request* req) {
  Responder* r = PyObject_GC_New(Responder, type);
  if (!r) return nullptr;
  r->req = req;
  r->status = r->headers = nullptr;
  r->called = r->sent = r->gone = r->websocket = false;
  r->write_fn = PyCFunction_New(&write_def, reinterpret_cast<PyObject*>(r));
  PyObject_GC_Track(r);
  if (!r->write_fn) {
    Py_DECREF(r);
    return nullptr;
  }
  return r;
}

void responder_detach(Responder* r) {
  r->req = nullptr;
  // Break the responder <-> write_fn cycle now instead of waiting for the GC.
  Py_CLEAR(r->write_fn);
}

Emit responder_send_headers(Responder* r, long long content_length) {
  std::string_view status;
  if (!latin1(r->status, &status, "status")) return Emit::kPyError;
  HeaderList hl;
  Py_ssize_t n = PyList_GET_SIZE(r->headers);
  hl.reserve(n + 1);
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject* h = PyList_GET_ITEM(r->headers, i);
    std::string_view name, value;
    // Re-checked: the app may have mutated the list after start_response().
    if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(h, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(h, 1))) {
      PyErr_Format(PyExc_TypeError, "headers must be (str, str) tuples, got %R", h);
      return Emit::kPyError;
    }
    if (!latin1(PyTuple_GET_ITEM(h, 0), &name, "header name") ||
        !latin1(PyTuple_GET_ITEM(h, 1), &value, "header value"))
      return Emit::kPyError;
    if (content_length >= 0 && ((name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) ||
                                (name.size() == 17 && strncasecmp(name.data(), "transfer-encoding", 17) == 0)))
      content_length = -1;
    hl.emplace_back(name, value);
  }
  if (content_length >= 0 && status_allows_body(status))
    hl.emplace_back("Content-Length", std::to_string(content_length));
  r->sent = true;
  return r->req->start_response(status, hl) ? Emit::kOk : Emit::kClientGone;
}

Emit responder_write(Responder* r, const char* data, size_t n) {
  if (!r->sent) {
    Emit e = responder_send_headers(r, -1);
    if (e != Emit::kOk) return e;
  }
  if (n == 0) return Emit::kOk;
  return r->req->write(data, n) ? Emit::kOk : Emit::kClientGone;
}

}  // namespace uwsgi::py
