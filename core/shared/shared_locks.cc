#include "shared/shared_locks.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "shared/robust_mutex.h"

namespace uwsgi {

bool SharedLocks::create(int count, std::string* err) {
  void* p = mmap(nullptr, sizeof(pthread_mutex_t) * count, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *err = std::string("--locks: cannot map shared memory: ") + strerror(errno);
    return false;
  }
  mutexes_ = static_cast<pthread_mutex_t*>(p);
  for (int i = 0; i < count; i++) {
    int r = robust_mutex_init(&mutexes_[i], true);
    if (r != 0) {
      *err = std::string("--locks: cannot make a shared mutex: ") + strerror(r);
      return false;
    }
  }
  count_ = count;
  return true;
}

bool SharedLocks::check(int n, std::string* err) const {
  if (n >= 0 && n < count_) return true;
  *err = "lock " + std::to_string(n) + " does not exist (locks are 0.." + std::to_string(count_ - 1) +
         "; --locks N adds more)";
  return false;
}

bool SharedLocks::lock(int n, std::string* err) {
  if (!check(n, err)) return false;
  int r = robust_mutex_lock(&mutexes_[n]);
  if (r == EDEADLK) {
    *err = "lock " + std::to_string(n) + " is already held by this thread";
    return false;
  }
  if (r != 0) {
    *err = "lock " + std::to_string(n) + ": " + strerror(r);
    return false;
  }
  return true;
}

bool SharedLocks::unlock(int n, std::string* err) {
  if (!check(n, err)) return false;
  int r = pthread_mutex_unlock(&mutexes_[n]);
  if (r == EPERM) {
    *err = "lock " + std::to_string(n) + " is not held by this thread";
    return false;
  }
  if (r != 0) {
    *err = "unlock " + std::to_string(n) + ": " + strerror(r);
    return false;
  }
  return true;
}

bool SharedLocks::is_locked(int n) const {
  std::string err;
  if (!check(n, &err)) return false;
  int r = pthread_mutex_trylock(&mutexes_[n]);
  if (r == 0 || r == EOWNERDEAD) {
    if (r == EOWNERDEAD) pthread_mutex_consistent(&mutexes_[n]);
    pthread_mutex_unlock(&mutexes_[n]);
    return false;
  }
  return true;  // EBUSY, or EDEADLK: this thread holds it
}

}  // namespace uwsgi
