#include "shared/robust_mutex.h"

#include <cerrno>

namespace uwsgi {

int robust_mutex_init(pthread_mutex_t* m, bool errorcheck) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (errorcheck) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  int r = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return r;
}

int robust_mutex_lock(pthread_mutex_t* m) {
  int r = pthread_mutex_lock(m);
  if (r == EOWNERDEAD) r = pthread_mutex_consistent(m);
  return r;
}

}  // namespace uwsgi
