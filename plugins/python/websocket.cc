// uWSGI's websocket API in the `uwsgi` module (websocket_handshake, websocket_recv[_nb],
// websocket_send[_binary], connection_fd, disconnect, request_context) and --wsgi-websocket's
// environ['wsgi.websocket'] (gevent-websocket's interface). The framing and the waiting are the
// core's (Request::websocket_*): a blocked recv suspends only its own core or greenlet.
#include <sys/socket.h>

#include <strings.h>

#include <cstring>

#include "py_opts.h"
#include "py_plugin.h"

namespace uwsgi::py {
namespace {

bool g_wsgi_websocket = false;        // --wsgi-websocket
PyObject* g_greenlet_core = nullptr;  // ContextVar: the core id of the request a greenlet serves
PyObject* g_ws_class = nullptr;       // the wsgi.websocket class
uint64_t g_serial = 0;                // numbers requests for request_context()

// The calling context's request: the async core's, the greenlet's (gevent), or the thread's.
CurrentRequest* here() {
  LoopEngine* le = g.host ? g.host->loop_engine() : nullptr;
  if (CoreContext* c = le ? le->current_core() : nullptr) return current_request(c->id());
  if (le && le->async_cores() > 1 && g_greenlet_core) {
    PyObject* v = nullptr;
    if (PyContextVar_Get(g_greenlet_core, nullptr, &v) < 0) {
      PyErr_Clear();
      return nullptr;
    }
    if (!v) return nullptr;
    long id = PyLong_AsLong(v);
    Py_DECREF(v);
    return id < 0 ? nullptr : current_request((int)id);
  }
  return thread_request();
}

// request_context(): (serial << 20) | core id, so a context kept after its request ended is
// refused instead of reaching the next request on that core.
constexpr int kCoreBits = 20;

// The request named by request_context= (None or absent: the caller's own).
Request* find_request(PyObject* ctx, const char* fn) {
  CurrentRequest* cur = nullptr;
  if (!ctx || ctx == Py_None) {
    cur = here();
    if (!cur || !cur->req) {
      PyErr_Format(PyExc_OSError, "%s(): no current request (pass request_context=)", fn);
      return nullptr;
    }
    return cur->req;
  }
  unsigned long long v = PyLong_AsUnsignedLongLong(ctx);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) return nullptr;
  int core = (int)(v & ((1u << kCoreBits) - 1));
  if ((size_t)core < g.cores.size()) cur = &g.cores[core];
  if (!cur || !cur->req || cur->serial != (v >> kCoreBits)) {
    PyErr_Format(PyExc_OSError, "%s(): that request context has ended", fn);
    return nullptr;
  }
  return cur->req;
}

// str (UTF-8) or a bytes-like object.
bool get_text(PyObject* o, std::string* out) {
  if (!o || o == Py_None) return true;
  if (PyUnicode_Check(o)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) return false;
    out->assign(s, n);
    return true;
  }
  Py_buffer b;
  if (PyObject_GetBuffer(o, &b, PyBUF_SIMPLE) < 0) return false;
  out->assign(static_cast<const char*>(b.buf), b.len);
  PyBuffer_Release(&b);
  return true;
}

bool do_handshake(CurrentRequest* cur, std::string_view key, std::string_view origin, std::string_view proto) {
  // cur is not used after the handshake, which may suspend (g.cores may grow meanwhile).
  Request* req = cur->req;
  Responder* resp = cur->responder;
  // A client may offer several subprotocols: the server picks one (the first).
  if (size_t comma = proto.find(','); comma != std::string_view::npos) proto = proto.substr(0, comma);
  while (!proto.empty() && proto.back() == ' ') proto.remove_suffix(1);
  if (!req->websocket_handshake(key, origin, proto)) {
    PyErr_Format(PyExc_OSError, "unable to complete websocket handshake: %s", req->error());
    return false;
  }
  // The HTTP response is over: what the app returns after this is not an error.
  if (resp) {
    resp->called = resp->sent = true;
    resp->websocket = true;
  }
  return true;
}

PyObject* m_websocket_handshake(PyObject*, PyObject* args, PyObject* kw) {
  static const char* names[] = {"key", "origin", "proto", nullptr};
  PyObject *key = nullptr, *origin = nullptr, *proto = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOO:websocket_handshake", const_cast<char**>(names), &key, &origin,
                                   &proto))
    return nullptr;
  CurrentRequest* cur = here();
  if (!cur || !cur->req) {
    PyErr_SetString(PyExc_OSError, "websocket_handshake(): no current request");
    return nullptr;
  }
  std::string k, o, p;
  if (!get_text(key, &k) || !get_text(origin, &o) || !get_text(proto, &p)) return nullptr;
  std::string_view kv = key && key != Py_None ? std::string_view(k) : cur->req->find_var("HTTP_SEC_WEBSOCKET_KEY");
  std::string_view ov = origin && origin != Py_None ? std::string_view(o) : cur->req->find_var("HTTP_ORIGIN");
  std::string_view pv =
      proto && proto != Py_None ? std::string_view(p) : cur->req->find_var("HTTP_SEC_WEBSOCKET_PROTOCOL");
  if (!do_handshake(cur, kv, ov, pv)) return nullptr;
  Py_RETURN_NONE;
}

// mode 0: bytes, blocking (websocket_recv); 1: bytes or b"" (websocket_recv_nb); 2: str for a
// text message, bytes for a binary one, None once closed (wsgi.websocket's receive()).
PyObject* recv_impl(Request* req, int mode) {
  std::string msg;
  bool binary = false;
  Request::WsRecv r = req->websocket_recv(&msg, &binary, mode == 1);
  if (r == Request::WsRecv::kNone) return PyBytes_FromStringAndSize(nullptr, 0);
  if (r == Request::WsRecv::kMessage) {
    if (mode == 2 && !binary) return PyUnicode_DecodeUTF8(msg.data(), msg.size(), "surrogateescape");
    return PyBytes_FromStringAndSize(msg.data(), msg.size());
  }
  if (mode == 2) Py_RETURN_NONE;
  PyErr_Format(PyExc_OSError, "unable to receive websocket message: %s", req->error());
  return nullptr;
}

PyObject* recv_entry(PyObject* args, PyObject* kw, int mode, const char* fmt, const char* fn) {
  static const char* names[] = {"request_context", nullptr};
  PyObject* ctx = nullptr;
  // No arguments (the usual call, once per message): no parsing.
  bool bare = PyTuple_GET_SIZE(args) == 0 && (!kw || PyDict_GET_SIZE(kw) == 0);
  if (!bare && !PyArg_ParseTupleAndKeywords(args, kw, fmt, const_cast<char**>(names), &ctx)) return nullptr;
  Request* req = find_request(ctx, fn);
  return req ? recv_impl(req, mode) : nullptr;
}

PyObject* m_websocket_recv(PyObject*, PyObject* args, PyObject* kw) {
  return recv_entry(args, kw, 0, "|O:websocket_recv", "websocket_recv");
}
PyObject* m_websocket_recv_nb(PyObject*, PyObject* args, PyObject* kw) {
  return recv_entry(args, kw, 1, "|O:websocket_recv_nb", "websocket_recv_nb");
}
PyObject* m_websocket_receive(PyObject*, PyObject* args, PyObject* kw) {
  return recv_entry(args, kw, 2, "|O:_websocket_receive", "_websocket_receive");
}

PyObject* send_impl(PyObject* args, PyObject* kw, int binary, const char* fmt, const char* fn) {
  static const char* names[] = {"msg", "request_context", nullptr};
  PyObject *msg, *ctx = nullptr;
  // One positional argument (the usual call, once per message): no parsing.
  if (PyTuple_GET_SIZE(args) == 1 && (!kw || PyDict_GET_SIZE(kw) == 0)) {
    msg = PyTuple_GET_ITEM(args, 0);
  } else if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, const_cast<char**>(names), &msg, &ctx)) {
    return nullptr;
  }
  Request* req = find_request(ctx, fn);
  if (!req) return nullptr;
  if (binary < 0) binary = !PyUnicode_Check(msg);  // wsgi.websocket's send(binary=None)
  bool ok;
  if (PyBytes_CheckExact(msg)) {
    ok = req->websocket_send(PyBytes_AS_STRING(msg), PyBytes_GET_SIZE(msg), binary);
  } else if (PyUnicode_Check(msg)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(msg, &n);
    if (!s) return nullptr;
    ok = req->websocket_send(s, n, binary);
  } else {
    Py_buffer b;
    if (PyObject_GetBuffer(msg, &b, PyBUF_SIMPLE) < 0) return nullptr;
    ok = req->websocket_send(b.buf, b.len, binary);
    PyBuffer_Release(&b);
  }
  if (!ok) {
    PyErr_Format(PyExc_OSError, "unable to send websocket message: %s", req->error());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* m_websocket_send(PyObject*, PyObject* a, PyObject* k) {
  return send_impl(a, k, 0, "O|O:websocket_send", "websocket_send");
}
PyObject* m_websocket_send_binary(PyObject*, PyObject* a, PyObject* k) {
  return send_impl(a, k, 1, "O|O:websocket_send_binary", "websocket_send_binary");
}
PyObject* m_websocket_send_auto(PyObject*, PyObject* a, PyObject* k) {
  return send_impl(a, k, -1, "O|O:_websocket_send", "_websocket_send");
}

PyObject* m_websocket_close(PyObject*, PyObject* args, PyObject* kw) {
  static const char* names[] = {"code", "reason", "request_context", nullptr};
  unsigned code = 1000;
  PyObject *reason = nullptr, *ctx = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|IOO:websocket_close", const_cast<char**>(names), &code, &reason, &ctx))
    return nullptr;
  std::string r;
  if (!get_text(reason, &r)) return nullptr;
  Request* req = find_request(ctx, "websocket_close");
  if (!req) return nullptr;
  if (!req->websocket_close(code, r)) {
    PyErr_Format(PyExc_OSError, "unable to close the websocket: %s", req->error());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* m_connection_fd(PyObject*, PyObject*) {
  Request* req = find_request(nullptr, "connection_fd");
  return req ? PyLong_FromLong(req->fd()) : nullptr;
}

// The connection ends now (a websocket gets its close frame first); the server closes the fd
// when the request returns. shutdown(), not close(): the fd number must not be reused meanwhile.
PyObject* m_disconnect(PyObject*, PyObject*) {
  Request* req = find_request(nullptr, "disconnect");
  if (!req) return nullptr;
  req->websocket_close(1000, "");
  shutdown(req->fd(), SHUT_RDWR);
  Py_RETURN_NONE;
}

PyObject* m_request_context(PyObject*, PyObject*) {
  CurrentRequest* cur = here();
  if (!cur || !cur->req) {
    PyErr_SetString(PyExc_OSError, "request_context(): no current request");
    return nullptr;
  }
  return PyLong_FromUnsignedLongLong(cur->serial << kCoreBits | (unsigned)cur->req->core_id());
}

PyMethodDef methods[] = {
    {"websocket_handshake", (PyCFunction)(void (*)())m_websocket_handshake, METH_VARARGS | METH_KEYWORDS,
     "websocket_handshake([key, origin, proto]): answer 101 Switching Protocols (no arguments: the request's "
     "Sec-WebSocket-Key, Origin and Sec-WebSocket-Protocol). Raises OSError if it cannot be sent."},
    {"websocket_recv", (PyCFunction)(void (*)())m_websocket_recv, METH_VARARGS | METH_KEYWORDS,
     "websocket_recv(request_context=None) -> bytes: the next whole message (text or binary). Blocks only the "
     "current core/greenlet/thread; answers pings, pings every --websocket-ping-freq seconds. Raises OSError when "
     "the peer closed, on a protocol error (answered with its close code) or after "
     "--websocket-pong-tolerance seconds without a pong."},
    {"websocket_recv_nb", (PyCFunction)(void (*)())m_websocket_recv_nb, METH_VARARGS | METH_KEYWORDS,
     "websocket_recv_nb(request_context=None) -> bytes: like websocket_recv() without waiting: b'' when no whole "
     "message is here yet."},
    {"websocket_send", (PyCFunction)(void (*)())m_websocket_send, METH_VARARGS | METH_KEYWORDS,
     "websocket_send(msg, request_context=None): send msg (str or bytes) as one text message. Any greenlet, core "
     "or thread may send on another request's websocket with its request_context(). Raises OSError."},
    {"websocket_send_binary", (PyCFunction)(void (*)())m_websocket_send_binary, METH_VARARGS | METH_KEYWORDS,
     "websocket_send_binary(msg, request_context=None): send msg as one binary message. Raises OSError."},
    {"websocket_close", (PyCFunction)(void (*)())m_websocket_close, METH_VARARGS | METH_KEYWORDS,
     "websocket_close(code=1000, reason='', request_context=None): send the close frame (not in uWSGI 2.0). "
     "Raises OSError."},
    {"_websocket_receive", (PyCFunction)(void (*)())m_websocket_receive, METH_VARARGS | METH_KEYWORDS,
     "wsgi.websocket's receive(): str for text, bytes for binary, None once closed"},
    {"_websocket_send", (PyCFunction)(void (*)())m_websocket_send_auto, METH_VARARGS | METH_KEYWORDS,
     "wsgi.websocket's send(): binary unless msg is a str"},
    {"connection_fd", m_connection_fd, METH_NOARGS, "connection_fd() -> int: the request's client socket"},
    {"disconnect", m_disconnect, METH_NOARGS,
     "disconnect(): end the client connection now (a websocket gets a 1000 close frame first)"},
    {"request_context", m_request_context, METH_NOARGS,
     "request_context() -> int: names the current request for request_context= (valid until it ends)"},
    {nullptr, nullptr, 0, nullptr}};

// gevent-websocket's WebSocket, over the functions above.
const char kWsSource[] = R"PY(
import uwsgi as _u

class WebSocketError(IOError):
    pass

class WebSocket(object):
    """environ['wsgi.websocket'] (--wsgi-websocket): gevent-websocket's interface."""

    def __init__(self, environ, ctx):
        self.environ = environ
        self._ctx = ctx
        self.closed = False

    @property
    def path(self):
        return self.environ.get('PATH_INFO')

    @property
    def origin(self):
        return self.environ.get('HTTP_ORIGIN')

    @property
    def protocol(self):
        return self.environ.get('HTTP_SEC_WEBSOCKET_PROTOCOL')

    def receive(self):
        """The next message: str (text) or bytes (binary); None once the connection closed."""
        if self.closed:
            return None
        msg = _u._websocket_receive(request_context=self._ctx)
        if msg is None:
            self.closed = True
        return msg

    def send(self, message, binary=None):
        """Send one message: binary unless message is a str (or binary= says). Raises WebSocketError."""
        if self.closed:
            raise WebSocketError('the websocket is closed')
        try:
            if binary is None:
                _u._websocket_send(message, request_context=self._ctx)
            elif binary:
                _u.websocket_send_binary(message, request_context=self._ctx)
            else:
                _u.websocket_send(message, request_context=self._ctx)
        except OSError as e:
            self.closed = True
            raise WebSocketError(str(e))

    def close(self, code=1000, message=b''):
        """Send the close frame (code, reason); receive() then returns None."""
        if self.closed:
            return
        self.closed = True
        try:
            _u.websocket_close(code, message, request_context=self._ctx)
        except OSError:
            pass
)PY";

}  // namespace

bool add_websocket_functions(PyObject* module) {
  for (PyMethodDef* d = methods; d->ml_name; d++) {
    PyObject* f = PyCFunction_NewEx(d, nullptr, nullptr);
    if (!f || PyModule_AddObject(module, d->ml_name, f) < 0) {
      Py_XDECREF(f);
      return false;
    }
  }
  if (!g_greenlet_core && !(g_greenlet_core = PyContextVar_New("uwsgi.greenlet_core", nullptr))) return false;
  return true;
}

void register_websocket_options(Host& host) {
  add_py_option(host, "wsgi-websocket", OptArg::None,
                "on a websocket upgrade request, do the handshake and give the app environ['wsgi.websocket'] "
                "(gevent-websocket's interface)",
                [](std::string_view v, std::string*) {
                  g_wsgi_websocket = v != "0" && v != "false" && v != "no" && v != "off";
                  return true;
                });
}

PyObject* greenlet_request_enter(int core_id) {
  if (!g_greenlet_core) return nullptr;
  PyObject* id = PyLong_FromLong(core_id);
  PyObject* token = id ? PyContextVar_Set(g_greenlet_core, id) : nullptr;
  Py_XDECREF(id);
  if (!token) PyErr_Clear();
  return token;
}

void greenlet_request_leave(PyObject* token) {
  if (!token) return;
  if (PyContextVar_Reset(g_greenlet_core, token) < 0) PyErr_Clear();
  Py_DECREF(token);
}

uint64_t next_request_serial() { return ++g_serial; }

// --wsgi-websocket: an upgrade request is answered 101 before the app runs, and its environ gets
// wsgi.websocket. false (a Python error set) when that failed: the request is over.
bool wsgi_websocket_prepare(CurrentRequest* cur, PyObject* env) {
  if (!g_wsgi_websocket) return true;
  std::string_view up = cur->req->find_var("HTTP_UPGRADE");
  std::string_view key = cur->req->find_var("HTTP_SEC_WEBSOCKET_KEY");
  if (up.size() != 9 || strncasecmp(up.data(), "websocket", 9) != 0 || key.empty()) return true;
  if (!g_ws_class) {
    PyObject* ns = PyDict_New();
    if (!ns) return false;
    PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins());
    PyObject* r = PyRun_String(kWsSource, Py_file_input, ns, ns);
    if (!r) {
      Py_DECREF(ns);
      return false;
    }
    Py_DECREF(r);
    g_ws_class = PyDict_GetItemString(ns, "WebSocket");
    Py_XINCREF(g_ws_class);
    Py_DECREF(ns);
    if (!g_ws_class) return false;
  }
  unsigned long long ctx_id = cur->serial << kCoreBits | (unsigned)cur->req->core_id();
  if (!do_handshake(cur, key, cur->req->find_var("HTTP_ORIGIN"), cur->req->find_var("HTTP_SEC_WEBSOCKET_PROTOCOL")))
    return false;
  PyObject* ctx = PyLong_FromUnsignedLongLong(ctx_id);
  PyObject* ws = ctx ? PyObject_CallFunctionObjArgs(g_ws_class, env, ctx, nullptr) : nullptr;
  Py_XDECREF(ctx);
  if (!ws) return false;
  int rc = PyDict_SetItemString(env, "wsgi.websocket", ws);
  Py_DECREF(ws);
  return rc == 0;
}

}  // namespace uwsgi::py
