// wsgi.file_wrapper: wraps a file-like object. The handler recognizes the type and, when the
// file has a real fd on a regular file, hands it to Request::sendfile(); otherwise it is a plain
// iterator of blksize reads.
#include "py_plugin.h"

#include <structmember.h>

namespace uwsgi::py {
namespace {

struct FileWrapper {
  PyObject_HEAD
  PyObject* filelike;
  Py_ssize_t blksize;
};

PyObject* type = nullptr;

int init(PyObject* o, PyObject* args, PyObject* kw) {
  auto* self = reinterpret_cast<FileWrapper*>(o);
  static const char* kwlist[] = {"filelike", "blksize", nullptr};
  PyObject* f;
  Py_ssize_t blk = 8192;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", const_cast<char**>(kwlist), &f, &blk))
    return -1;
  if (blk <= 0) blk = 8192;
  Py_INCREF(f);
  Py_XSETREF(self->filelike, f);
  self->blksize = blk;
  return 0;
}

PyObject* iternext(PyObject* o) {
  auto* self = reinterpret_cast<FileWrapper*>(o);
  if (!self->filelike) return nullptr;
  PyObject* data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
  if (data && PyObject_Length(data) == 0) Py_CLEAR(data);
  return data;
}

PyObject* close(PyObject* o, PyObject*) {
  auto* self = reinterpret_cast<FileWrapper*>(o);
  if (self->filelike && PyObject_HasAttrString(self->filelike, "close")) {
    PyObject* r = PyObject_CallMethod(self->filelike, "close", nullptr);
    if (!r) return nullptr;
    Py_DECREF(r);
  }
  Py_RETURN_NONE;
}

int traverse(PyObject* o, visitproc visit, void* arg) {
  Py_VISIT(reinterpret_cast<FileWrapper*>(o)->filelike);
  Py_VISIT(Py_TYPE(o));
  return 0;
}

int clear(PyObject* o) {
  Py_CLEAR(reinterpret_cast<FileWrapper*>(o)->filelike);
  return 0;
}

void dealloc(PyObject* o) {
  PyTypeObject* tp = Py_TYPE(o);
  PyObject_GC_UnTrack(o);
  clear(o);
  tp->tp_free(o);
  Py_DECREF(tp);
}

PyMethodDef methods[] = {{"close", close, METH_NOARGS, "close the wrapped file"},
                         {nullptr, nullptr, 0, nullptr}};
PyMemberDef members[] = {
    {"filelike", T_OBJECT, offsetof(FileWrapper, filelike), READONLY, nullptr},
    {"blksize", T_PYSSIZET, offsetof(FileWrapper, blksize), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot slots[] = {{Py_tp_init, reinterpret_cast<void*>(init)},
                       {Py_tp_new, reinterpret_cast<void*>(PyType_GenericNew)},
                       {Py_tp_dealloc, reinterpret_cast<void*>(dealloc)},
                       {Py_tp_traverse, reinterpret_cast<void*>(traverse)},
                       {Py_tp_clear, reinterpret_cast<void*>(clear)},
                       {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
                       {Py_tp_iternext, reinterpret_cast<void*>(iternext)},
                       {Py_tp_methods, methods},
                       {Py_tp_members, members},
                       {0, nullptr}};

PyType_Spec spec = {"uwsgi.FileWrapper", sizeof(FileWrapper), 0,
                    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, slots};

}  // namespace

bool file_wrapper_init_type(PyObject* module) {
  if (!type) type = PyType_FromSpec(&spec);
  if (!type) return false;
  if (module) {
    Py_INCREF(type);
    if (PyModule_AddObject(module, "FileWrapper", type) < 0) {
      Py_DECREF(type);
      return false;
    }
  }
  return true;
}

PyObject* file_wrapper_type() { return type; }

}  // namespace uwsgi::py

namespace uwsgi::py {
PyObject* file_wrapper_filelike(PyObject* wrapper) {
  return reinterpret_cast<FileWrapper*>(wrapper)->filelike;
}
}  // namespace uwsgi::py
