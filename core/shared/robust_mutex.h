// A pthread mutex that works across processes (it lives in MAP_SHARED memory) and survives its
// holder's death: the next locker gets EOWNERDEAD and marks it consistent, so a worker killed
// while holding a lock or inside a cache call never wedges the others.
#pragma once

#include <pthread.h>

namespace uwsgi {

// errorcheck: relocking from the holding thread fails with EDEADLK instead of hanging.
int robust_mutex_init(pthread_mutex_t* m, bool errorcheck);
// 0 when held (also after taking it over from a dead holder), else an errno value.
int robust_mutex_lock(pthread_mutex_t* m);

class RobustGuard {
 public:
  explicit RobustGuard(pthread_mutex_t* m) : m_(m) { robust_mutex_lock(m_); }
  ~RobustGuard() { pthread_mutex_unlock(m_); }
  RobustGuard(const RobustGuard&) = delete;
  RobustGuard& operator=(const RobustGuard&) = delete;

 private:
  pthread_mutex_t* m_;
};

}  // namespace uwsgi
