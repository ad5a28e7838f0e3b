// The built-in `uwsgi` module: configuration and process info, logging, and uWSGI's async API
// (wait_fd_read/wait_fd_write/async_sleep register with the current async core; suspend() or a
// `yield` from the response hands the core back).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

PyObject* async_error = nullptr;
PyObject* client_gone = nullptr;

// The current async core, or nullptr with uwsgi.AsyncError set.
CoreContext* need_core() {
  // Cores belong to the worker's main thread; another thread must not suspend one of them.
  if (PyThread_get_thread_ident() != g.main_thread) {
    PyErr_SetString(async_error, "the uwsgi async API can only be used from the worker's main thread");
    return nullptr;
  }
  LoopEngine* le = g.host ? g.host->loop_engine() : nullptr;
  CoreContext* c = le ? le->current_core() : nullptr;
  if (!c)
    PyErr_SetString(async_error, le ? le->async_api_error()
                                    : "the uwsgi async API is only available inside a worker");
  return c;
}

void mark_waiting(CoreContext* c) {
  if (CurrentRequest* cur = current_request(c->id())) cur->waiting = true;
}

PyObject* empty_bytes() { return PyBytes_FromStringAndSize(nullptr, 0); }

PyObject* wait_fd(PyObject* args, int events, const char* fmt) {
  int fd, timeout = 0;
  if (!PyArg_ParseTuple(args, fmt, &fd, &timeout)) return nullptr;
  CoreContext* c = need_core();
  if (!c) return nullptr;
  std::string err;
  if (!c->register_fd(fd, events, timeout, &err)) {
    PyErr_SetString(async_error, err.c_str());
    return nullptr;
  }
  mark_waiting(c);
  return empty_bytes();  // b"": `yield uwsgi.wait_fd_read(fd)` works as in uWSGI
}

PyObject* m_wait_fd_read(PyObject*, PyObject* args) { return wait_fd(args, kIoRead, "i|i:wait_fd_read"); }
PyObject* m_wait_fd_write(PyObject*, PyObject* args) { return wait_fd(args, kIoWrite, "i|i:wait_fd_write"); }

PyObject* m_async_sleep(PyObject*, PyObject* arg) {
  double secs = PyFloat_AsDouble(arg);
  if (secs == -1.0 && PyErr_Occurred()) return nullptr;
  CoreContext* c = need_core();
  if (!c) return nullptr;
  std::string err;
  if (!c->register_timer(secs < 0 ? 0 : secs, &err)) {
    PyErr_SetString(async_error, err.c_str());
    return nullptr;
  }
  mark_waiting(c);
  return empty_bytes();
}

PyObject* m_suspend(PyObject*, PyObject*) {
  CoreContext* c = need_core();
  if (!c || !suspend_core(c)) return nullptr;
  Py_RETURN_NONE;
}

PyObject* m_ready_fd(PyObject*, PyObject*) {
  CoreContext* c = need_core();
  if (!c) return nullptr;
  return PyLong_FromLong(c->ready_fd());
}

// "host:port" (TCP) or a unix socket path; returns a non-blocking fd, connected or connecting.
PyObject* m_async_connect(PyObject*, PyObject* arg) {
  const char* addr = PyUnicode_AsUTF8(arg);
  if (!addr) return nullptr;
  std::string a(addr);
  size_t colon = a.rfind(':');
  int fd = -1;
  if (colon == std::string::npos) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (a.size() >= sizeof un.sun_path) {
      PyErr_SetString(PyExc_ValueError, "unix socket path too long");
      return nullptr;
    }
    memcpy(un.sun_path, a.data(), a.size());
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
      int e = errno;
      close(fd);
      errno = e;
      fd = -1;
    }
    if (fd < 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(fd);
  }
  std::string host = a.substr(0, colon), port = a.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host.empty() ? "127.0.0.1" : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    PyErr_Format(PyExc_OSError, "async_connect(%s): %s", addr, gai_strerror(rc));
    return nullptr;
  }
  int last = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) break;
    last = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    errno = last;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  return PyLong_FromLong(fd);
}

PyObject* m_is_connected(PyObject*, PyObject* arg) {
  int fd = PyLong_AsLong(arg);
  if (fd == -1 && PyErr_Occurred()) return nullptr;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  bool ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0 &&
            getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0;
  return PyBool_FromLong(ok);
}

// send([fd,] data): one write(); the request's own connection when fd is omitted.
PyObject* m_send(PyObject*, PyObject* args) {
  int fd = -1;
  Py_buffer buf;
  if (PyTuple_GET_SIZE(args) == 1) {
    if (!PyArg_ParseTuple(args, "y*:send", &buf)) return nullptr;
    LoopEngine* le = g.host->loop_engine();
    CoreContext* c = le ? le->current_core() : nullptr;
    CurrentRequest* cur = c ? current_request(c->id()) : thread_request();
    if (!cur || !cur->req) {
      PyBuffer_Release(&buf);
      PyErr_SetString(PyExc_OSError, "send(): no current request");
      return nullptr;
    }
    fd = cur->req->fd();
  } else if (!PyArg_ParseTuple(args, "iy*:send", &fd, &buf)) {
    return nullptr;
  }
  ssize_t n = write(fd, buf.buf, buf.len);
  PyBuffer_Release(&buf);
  if (n < 0) return PyErr_SetFromErrno(PyExc_OSError);
  return PyLong_FromSsize_t(n);
}

PyObject* m_recv(PyObject*, PyObject* args) {
  int fd;
  Py_ssize_t n = 4096;
  if (!PyArg_ParseTuple(args, "i|n:recv", &fd, &n)) return nullptr;
  if (n < 0) n = 4096;
  PyObject* out = PyBytes_FromStringAndSize(nullptr, n);
  if (!out) return nullptr;
  ssize_t r = read(fd, PyBytes_AS_STRING(out), n);
  if (r < 0) {
    Py_DECREF(out);
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  if (r != n && _PyBytes_Resize(&out, r) < 0) return nullptr;
  return out;
}

PyObject* m_close(PyObject*, PyObject* arg) {
  int fd = PyLong_AsLong(arg);
  if (fd == -1 && PyErr_Occurred()) return nullptr;
  if (close(fd) < 0) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

PyObject* m_worker_id(PyObject*, PyObject*) { return PyLong_FromLong(g.host ? g.host->worker_id() : 0); }

PyObject* m_log(PyObject*, PyObject* arg) {
  PyObject* s = PyObject_Str(arg);
  if (!s) return nullptr;
  const char* text = PyUnicode_AsUTF8(s);
  if (text) log_line("%s", text);
  Py_DECREF(s);
  if (!text) return nullptr;
  Py_RETURN_TRUE;
}

PyMethodDef methods[] = {
    {"worker_id", m_worker_id, METH_NOARGS, "this worker's id (0 in the master)"},
    {"log", m_log, METH_O, "log(msg): write a line to the server log"},
    {"async_sleep", m_async_sleep, METH_O, "async_sleep(secs): wake this core after secs (then yield/suspend)"},
    {"wait_fd_read", m_wait_fd_read, METH_VARARGS, "wait_fd_read(fd, timeout=0)"},
    {"wait_fd_write", m_wait_fd_write, METH_VARARGS, "wait_fd_write(fd, timeout=0)"},
    {"suspend", m_suspend, METH_NOARGS, "suspend(): give the core back until a registered event"},
    {"ready_fd", m_ready_fd, METH_NOARGS, "ready_fd(): the fd that woke this core, or -1"},
    {"async_connect", m_async_connect, METH_O, "async_connect('host:port') -> non-blocking fd"},
    {"is_connected", m_is_connected, METH_O, "is_connected(fd) -> bool"},
    {"send", m_send, METH_VARARGS, "send([fd,] data) -> bytes written"},
    {"recv", m_recv, METH_VARARGS, "recv(fd, n=4096) -> bytes"},
    {"close", m_close, METH_O, "close(fd)"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "uwsgi", "uWSGI-compatible server API", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

// uwsgi.opt: name -> str, or a list of str for repeated options.
PyObject* build_opt() {
  PyObject* d = PyDict_New();
  if (!d || !g.host) return d;
  for (auto& [name, value] : g.host->config().items()) {
    PyObject* v = PyUnicode_DecodeUTF8(value.data(), value.size(), "surrogateescape");
    if (!v) goto fail;
    PyObject* old = PyDict_GetItemString(d, name.c_str());  // borrowed
    int rc;
    if (!old) {
      rc = PyDict_SetItemString(d, name.c_str(), v);
    } else if (PyList_Check(old)) {
      rc = PyList_Append(old, v);
    } else {
      PyObject* l = PyList_New(2);
      if (!l) {
        Py_DECREF(v);
        goto fail;
      }
      Py_INCREF(old);
      PyList_SET_ITEM(l, 0, old);
      Py_INCREF(v);
      PyList_SET_ITEM(l, 1, v);
      rc = PyDict_SetItemString(d, name.c_str(), l);
      Py_DECREF(l);
    }
    Py_DECREF(v);
    if (rc < 0) goto fail;
  }
  return d;
fail:
  Py_DECREF(d);
  return nullptr;
}

PyObject* version_info() {
  int v[4] = {0, 0, 0, 0};
  const char* s = g.host ? g.host->version() : "0";
  for (int i = 0; i < 4 && *s; i++) {
    v[i] = atoi(s);
    while (*s && *s != '.') s++;
    if (*s == '.') s++;
  }
  return Py_BuildValue("(iiiis)", v[0], v[1], v[2], v[3], "");
}

int add(PyObject* m, const char* name, PyObject* v) {
  if (!v) return -1;
  if (PyModule_AddObject(m, name, v) < 0) {
    Py_DECREF(v);
    return -1;
  }
  return 0;
}

}  // namespace

PyObject* async_error_type() { return async_error; }
PyObject* client_gone_type() {
  if (!client_gone)  // the handler may need it before anyone imported uwsgi
    Py_XDECREF(PyImport_ImportModule("uwsgi"));
  return client_gone;
}

CurrentRequest* current_request(int core_id) {
  if (core_id < 0) return nullptr;
  if ((size_t)core_id >= g.cores.size()) {
    LoopEngine* le = g.host ? g.host->loop_engine() : nullptr;
    size_t n = le && le->async_cores() > core_id ? le->async_cores() : core_id + 1;
    g.cores.resize(n);  // pointers into it are never kept across a suspend
  }
  return &g.cores[core_id];
}

namespace {
thread_local int t_core = 0;
}

void set_thread_core(int core_id) {
  if (t_core == core_id) return;
  t_core = core_id;
  tracebacker_note_thread(core_id);  // --py-tracebacker names --threads threads by their core
}
CurrentRequest* thread_request() { return current_request(t_core); }

bool suspend_core(CoreContext* c) {
  std::string err;
  if (!c->suspend(&err)) {
    PyErr_SetString(async_error, err.empty() ? "suspend failed" : err.c_str());
    return false;
  }
  CurrentRequest* cur = current_request(c->id());
  if (cur && cur->waiting) {
    cur->waiting = false;
    if (cur->environ &&
        PyDict_SetItem(cur->environ, k.fdevent_timeout, c->timed_out() ? Py_True : Py_None) < 0)
      return false;
  }
  return true;
}

PyObject* PyInit_uwsgi_module() {
  PyObject* m = PyModule_Create(&moddef);
  if (!m) return nullptr;
  if (!async_error) {
    // Both an OSError (uWSGI raised IOError) and a RuntimeError (it is a usage error).
    PyObject* bases = PyTuple_Pack(2, PyExc_OSError, PyExc_RuntimeError);
    async_error = bases ? PyErr_NewExceptionWithDoc("uwsgi.AsyncError",
                                                    "the uwsgi async API is not usable here", bases, nullptr)
                        : nullptr;
    Py_XDECREF(bases);
    client_gone = PyErr_NewExceptionWithDoc("uwsgi.ClientGone", "the client closed the connection",
                                            PyExc_OSError, nullptr);
  }
  if (!async_error || !client_gone) goto fail;
  Py_INCREF(async_error);
  Py_INCREF(client_gone);
  if (add(m, "AsyncError", async_error) < 0 || add(m, "ClientGone", client_gone) < 0 ||
      add(m, "opt", build_opt()) < 0 ||
      add(m, "version", PyBytes_FromString(g.host ? g.host->version() : "0")) < 0 ||
      add(m, "version_info", version_info()) < 0 ||
      add(m, "numproc", PyLong_FromLong(g.numproc)) < 0 || !file_wrapper_init_type(m) || !add_signal_functions(m) ||
      !add_shared_functions(m) || !add_mule_functions(m) || !add_spooler_functions(m) || !add_websocket_functions(m))
    goto fail;
  {
    PyObject* r = PyObject_GetAttrString(m, "wait_fd_read");
    PyObject* w = PyObject_GetAttrString(m, "wait_fd_write");
    wsgi_set_fdevent_functions(r, w);
    Py_XDECREF(r);
    Py_XDECREF(w);
  }
  return m;
fail:
  Py_DECREF(m);
  return nullptr;
}

}  // namespace uwsgi::py
