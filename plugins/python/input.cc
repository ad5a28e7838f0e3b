// wsgi.input: a file-like reader over Request::read() (the core de-chunks and may suspend the
// async core while waiting). Keeps a small buffer for readline(); read() copies straight into
// the result bytes object. With --post-buffering the body was read before the app was called:
// it is then the whole buffer (memory) or a temp file, and seek()/tell() work.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "py_opts.h"

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
  bool buffered;      // --post-buffering: the body is all in buf, or in fd
  int fd;             // the temp file of a buffered body past the limit, or -1
  long long size;     // a buffered body's length
  PyObject* body;     // a buffered body read into one bytes object (buf points into it), or nullptr
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
  ssize_t r = self->fd >= 0 ? ::read(self->fd, dst, n) : self->req->read(dst, n);
  if (r < 0 && self->fd >= 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
  }
  if (r < 0) {
    const char* e = self->req->error();
    PyErr_Format(PyExc_OSError, "error reading wsgi.input: %s", e && *e ? e : "client gone");
    return -1;
  }
  if (r == 0) self->eof = true;
  self->from_req += r;
  // The last byte of a CONTENT_LENGTH body: read() of everything stops here instead of growing
  // its result for one more read that can only return 0.
  if (self->fd < 0 && self->req->content_length() >= 0 && self->from_req >= self->req->content_length())
    self->eof = true;
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
  if (self->body && self->pos == 0 && (size < 0 || (size_t)size >= avail)) {
    self->pos = self->len;  // the whole buffered body: no copy
    return Py_NewRef(self->body);
  }
  Py_ssize_t want;
  if (size >= 0) {
    want = size;
  } else {
    long long cl = self->buffered ? self->size : self->req->content_length();
    long long rest = self->buffered && self->fd < 0 ? 0 : cl >= 0 ? cl - self->from_req : (long long)kChunk;
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
  if (reinterpret_cast<Input*>(self)->body)
    Py_DECREF(reinterpret_cast<Input*>(self)->body);
  else
    free(reinterpret_cast<Input*>(self)->buf);
  if (reinterpret_cast<Input*>(self)->fd >= 0) close(reinterpret_cast<Input*>(self)->fd);
  PyTypeObject* tp = Py_TYPE(self);
  tp->tp_free(self);
  Py_DECREF(tp);
}

// The offset in the body of the next byte read() returns.
long long offset(Input* self) {
  if (self->buffered && self->fd < 0) return (long long)self->pos;
  return self->from_req - (long long)(self->len - self->pos);
}

bool seekable(Input* self) {
  if (!usable(self)) return false;
  if (self->buffered) return true;
  PyErr_SetString(PyExc_OSError, "wsgi.input is not seekable (use --post-buffering)");
  return false;
}

PyObject* m_tell(PyObject* o, PyObject*) {
  Input* self = reinterpret_cast<Input*>(o);
  return usable(self) ? PyLong_FromLongLong(offset(self)) : nullptr;
}

// seek(offset, whence=0) over a buffered body; positions are clamped to [0, size].
PyObject* m_seek(PyObject* o, PyObject* const* args, Py_ssize_t nargs) {
  Input* self = reinterpret_cast<Input*>(o);
  if (!seekable(self)) return nullptr;
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "seek(offset, whence=0)");
    return nullptr;
  }
  long long off = PyLong_AsLongLong(args[0]);
  int whence = nargs == 2 ? (int)PyLong_AsLong(args[1]) : 0;
  if (PyErr_Occurred()) return nullptr;
  long long base = whence == 0 ? 0 : whence == 1 ? offset(self) : whence == 2 ? self->size : -1;
  if (base < 0) {
    PyErr_SetString(PyExc_ValueError, "whence must be 0, 1 or 2");
    return nullptr;
  }
  long long to = base + off;
  if (to < 0) to = 0;
  if (to > self->size) to = self->size;
  if (self->fd < 0) {
    self->pos = (size_t)to;
  } else {
    if (lseek(self->fd, to, SEEK_SET) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    self->pos = self->len = 0;
    self->from_req = to;
    self->eof = to >= self->size;
  }
  return PyLong_FromLongLong(to);
}

PyObject* m_seekable(PyObject* o, PyObject*) { return PyBool_FromLong(reinterpret_cast<Input*>(o)->buffered); }

PyMethodDef methods[] = {
    {"seekable", m_seekable, METH_NOARGS, "seekable() -> True with --post-buffering"},
    {"seek", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(m_seek)), METH_FASTCALL, "seek(offset, whence=0): only with --post-buffering"},
    {"tell", m_tell, METH_NOARGS, "tell() -> body bytes consumed"},
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
  self->buffered = false;
  self->fd = -1;
  self->size = 0;
  self->body = nullptr;
  return reinterpret_cast<PyObject*>(self);
}

void input_set_memory(PyObject* input, char* body, size_t len) {
  Input* self = reinterpret_cast<Input*>(input);
  free(self->buf);
  self->buf = body;
  self->cap = self->len = body ? len : 0;
  self->pos = 0;
  self->size = (long long)self->len;
  self->buffered = self->eof = true;
}

void input_set_bytes(PyObject* input, PyObject* body) {
  Input* self = reinterpret_cast<Input*>(input);
  free(self->buf);
  self->body = body;
  self->buf = PyBytes_AS_STRING(body);
  self->cap = self->len = (size_t)PyBytes_GET_SIZE(body);
  self->pos = 0;
  self->size = (long long)self->len;
  self->buffered = self->eof = true;
}

long long input_buffered_size(PyObject* input) {
  Input* self = reinterpret_cast<Input*>(input);
  return self->buffered ? self->size : -1;
}

void input_set_file(PyObject* input, int fd, long long size) {
  Input* self = reinterpret_cast<Input*>(input);
  self->fd = fd;
  self->size = size;
  self->from_req = 0;
  self->pos = self->len = 0;
  self->buffered = true;
  self->eof = size == 0;
}

void input_detach(PyObject* input) { reinterpret_cast<Input*>(input)->req = nullptr; }

}  // namespace uwsgi::py
