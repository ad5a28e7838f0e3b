// wsgi.input: a file-like reader over Request::read() (the core de-chunks and may suspend the
// async core while waiting). Keeps a small buffer for readline(); read() copies straight into
// the result bytes object.
#include <cstdlib>
#include <cstring>

#include "py_plugin.h"

namespace uwsgi::py {
namespace {

constexpr size_t kChunk = 16384;

struct Input {
  PyObject_HEAD
  Request* req;       // nullptr once the request ended
  char* buf;          // readline buffer: unread bytes are buf[pos, len)
  size_t pos, len, cap;
  long long from_req; // body bytes taken from the request so far
  bool eof;
};

PyTypeObject* input_type = nullptr;

bool usable(Input* self) {
  if (self->req) return true;
  PyErr_SetString(PyExc_ValueError, "wsgi.input used after the request ended");
  return false;
}

// Reads into dst from the request; 0 at end of body, -1 with OSError set.
ssize_t raw_read(Input* self, char* dst, size_t n) {
  if (self->eof || n == 0) return 0;
  ssize_t r = self->req->read(dst, n);
  if (r < 0) {
    const char* e = self->req->error();
    PyErr_Format(PyExc_OSError, "error reading wsgi.input: %s", e && *e ? e : "client gone");
    return -1;
  }
  if (r == 0) self->eof = true;
  self->from_req += r;
  return r;
}

// Appends at least one more byte to the buffer, unless at end: returns bytes added, 0, or -1.
ssize_t fill(Input* self) {
  if (self->pos > 0) {
    memmove(self->buf, self->buf + self->pos, self->len - self->pos);
    self->len -= self->pos;
    self->pos = 0;
  }
  if (self->cap - self->len < kChunk) {
    size_t ncap = self->cap ? self->cap * 2 : kChunk * 2;
    char* nb = static_cast<char*>(realloc(self->buf, ncap));
    if (!nb) {
      PyErr_NoMemory();
      return -1;
    }
    self->buf = nb;
    self->cap = ncap;
  }
  ssize_t r = raw_read(self, self->buf + self->len, self->cap - self->len);
  if (r > 0) self->len += r;
  return r;
}

// size < 0: everything up to the end of the body.
PyObject* do_read(Input* self, Py_ssize_t size) {
  if (!usable(self)) return nullptr;
  size_t avail = self->len - self->pos;
  Py_ssize_t want;
  if (size >= 0) {
    want = size;
  } else {
    long long cl = self->req->content_length();
    long long rest = cl >= 0 ? cl - self->from_req : (long long)kChunk;
    want = avail + (rest > 0 ? rest : 0);
  }
  PyObject* out = PyBytes_FromStringAndSize(nullptr, want);
  if (!out) return nullptr;
  size_t got = avail < (size_t)want ? avail : (size_t)want;
  if (got) memcpy(PyBytes_AS_STRING(out), self->buf + self->pos, got);
  self->pos += got;
  for (;;) {
    if (got == (size_t)want) {
      if (size >= 0 || self->eof) break;
      // Unknown or exhausted length while reading all: grow and go on until the end.
      Py_ssize_t nw = want < (Py_ssize_t)kChunk ? kChunk : want * 2;
      if (_PyBytes_Resize(&out, nw) < 0) return nullptr;
      want = nw;
    }
    ssize_t r = raw_read(self, PyBytes_AS_STRING(out) + got, want - got);
    if (r < 0) {
      Py_DECREF(out);
      return nullptr;
    }
    if (r == 0) break;
    got += r;
  }
  if (got != (size_t)want && _PyBytes_Resize(&out, got) < 0) return nullptr;
  return out;
}

// limit < 0: no limit.
PyObject* do_readline(Input* self, Py_ssize_t limit) {
  if (!usable(self)) return nullptr;
  size_t scanned = 0;
  for (;;) {
    size_t avail = self->len - self->pos;
    size_t span = limit >= 0 && (size_t)limit < avail ? (size_t)limit : avail;
    const char* start = self->buf + self->pos;
    const char* nl = span > scanned ? static_cast<const char*>(memchr(start + scanned, '\n', span - scanned)) : nullptr;
    size_t n = 0;
    bool done = true;
    if (nl)
      n = nl - start + 1;
    else if (limit >= 0 && avail >= (size_t)limit)
      n = limit;
    else if (self->eof)
      n = avail;
    else
      done = false;
    if (done) {
      PyObject* out = PyBytes_FromStringAndSize(start, n);
      if (out) self->pos += n;
      return out;
    }
    scanned = span;
    if (fill(self) < 0) return nullptr;
  }
}

bool size_arg(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t* out) {
  *out = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "expected at most one argument");
    return false;
  }
  if (nargs == 1 && args[0] != Py_None) {
    *out = PyLong_AsSsize_t(args[0]);
    if (*out == -1 && PyErr_Occurred()) return false;
  }
  return true;
}

PyObject* m_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t n;
  if (!size_arg(args, nargs, &n)) return nullptr;
  return do_read(reinterpret_cast<Input*>(self), n);
}

PyObject* m_readline(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t n;
  if (!size_arg(args, nargs, &n)) return nullptr;
  return do_readline(reinterpret_cast<Input*>(self), n);
}

PyObject* m_readlines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t hint;
  if (!size_arg(args, nargs, &hint)) return nullptr;
  PyObject* list = PyList_New(0);
  Py_ssize_t total = 0;
  while (list) {
    PyObject* line = do_readline(reinterpret_cast<Input*>(self), -1);
    if (!line) {
      Py_CLEAR(list);
      break;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(line);
    if (n == 0 || PyList_Append(list, line) < 0) {
      Py_DECREF(line);
      if (n != 0) Py_CLEAR(list);
      break;
    }
    Py_DECREF(line);
    total += n;
    if (hint > 0 && total >= hint) break;
  }
  return list;
}

PyObject* iternext(PyObject* self) {
  PyObject* line = do_readline(reinterpret_cast<Input*>(self), -1);
  if (line && PyBytes_GET_SIZE(line) == 0) Py_CLEAR(line);  // end: StopIteration
  return line;
}

void dealloc(PyObject* self) {
  free(reinterpret_cast<Input*>(self)->buf);
  PyTypeObject* tp = Py_TYPE(self);
  tp->tp_free(self);
  Py_DECREF(tp);
}

PyMethodDef methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_read)), METH_FASTCALL, "read([size]) -> bytes"},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_readline)), METH_FASTCALL, "readline([limit]) -> bytes"},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_readlines)), METH_FASTCALL, "readlines([hint]) -> list"},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot slots[] = {{Py_tp_dealloc, reinterpret_cast<void*>(dealloc)},
                       {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
                       {Py_tp_iternext, reinterpret_cast<void*>(iternext)},
                       {Py_tp_methods, methods},
                       {0, nullptr}};

PyType_Spec spec = {"uwsgi.Input", sizeof(Input), 0, Py_TPFLAGS_DEFAULT, slots};

}  // namespace

bool input_init_type() {
  input_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
  return input_type != nullptr;
}

PyObject* input_new(Request* req) {
  Input* self = PyObject_New(Input, input_type);
  if (!self) return nullptr;
  self->req = req;
  self->buf = nullptr;
  self->pos = self->len = self->cap = 0;
  self->from_req = 0;
  self->eof = req->content_length() == 0;
  return reinterpret_cast<PyObject*>(self);
}

void input_detach(PyObject* input) { reinterpret_cast<Input*>(input)->req = nullptr; }

}  // namespace uwsgi::py
