// uWSGI's --locks N: N+1 cross-process locks (lock 0 is the user lock uwsgi.lock() takes by
// default), robust mutexes in an anonymous shared mapping made before any fork.
#pragma once

#include <uwsgi/plugin.h>

#include <pthread.h>

namespace uwsgi {

class SharedLocks final : public Locks {
 public:
  // Maps count mutexes; false (*err) when the mapping fails.
  bool create(int count, std::string* err);
  int count() const override { return count_; }
  bool lock(int n, std::string* err) override;
  bool unlock(int n, std::string* err) override;
  bool is_locked(int n) const override;

 private:
  bool check(int n, std::string* err) const;
  pthread_mutex_t* mutexes_ = nullptr;
  int count_ = 0;
};

}  // namespace uwsgi
