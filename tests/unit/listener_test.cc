// bind_listener: TCP_DEFER_ACCEPT by default, off with ListenOptions::defer_accept = false
// (--no-defer-accept); TCP_NODELAY always.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"

namespace uwsgi {
namespace {

int defer_of(const ListenOptions& opt) {
  Listener l;
  std::string err;
  EXPECT_TRUE(bind_listener("127.0.0.1:0", Protocol::kHttp, opt, &l, &err)) << err;
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(l.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len), 0);
  int nodelay = 0;
  len = sizeof nodelay;
  EXPECT_EQ(getsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
  close(l.fd);
  return v;
}

TEST(Listener, DeferAcceptByDefaultAndOffWhenAsked) {
  ListenOptions opt;
  EXPECT_GT(defer_of(opt), 0);
  opt.defer_accept = false;
  EXPECT_EQ(defer_of(opt), 0);
}

}  // namespace
}  // namespace uwsgi
