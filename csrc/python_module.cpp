// An empty Python module, so that `import lassonet_ext._C` loads the shared library and runs the
// static op registrations. Kept apart from ops.cpp so the CMake/libtorch build needs no Python.
#include <Python.h>

extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      NULL,  // no docstring
      -1,    // no per-interpreter state
      NULL,  // no methods: the ops live in torch.ops.lassonet
  };
  return PyModule_Create(&module_def);
}
}
