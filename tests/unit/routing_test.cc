// Internal routing: conditions, variable expansion ($N, ${VAR}, ${qs[..]}...), rule compilation
// errors, and the engine (goto, rewrite, addvar, headers) on a request head, without a server.
#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

#include "config/options.h"
#include "routing/route_table.h"

namespace uwsgi {
namespace {

bool cond(const char* name, std::string_view s, std::string_view p, Captures* caps = nullptr) {
  const ConditionDef* c = find_condition(name);
  EXPECT_NE(c, nullptr) << name;
  if (!c) return false;
  return c->test(s, p, nullptr, caps);
}

TEST(RouteConditions, Strings) {
  EXPECT_TRUE(cond("equal", "/a", "/a"));
  EXPECT_TRUE(cond("==", "/a", "/a"));
  EXPECT_FALSE(cond("eq", "/a", "/ab"));
  EXPECT_TRUE(cond("startswith", "/static/x", "/static/"));
  EXPECT_FALSE(cond("startswith", "/st", "/static/"));
  EXPECT_TRUE(cond("endswith", "a.php", ".php"));
  EXPECT_FALSE(cond("endswith", "php", ".php"));
  EXPECT_TRUE(cond("contains", "my-curl-ua", "curl"));
  EXPECT_TRUE(cond("empty", "", ""));
  EXPECT_FALSE(cond("empty", "x", ""));
  EXPECT_EQ(find_condition("nope"), nullptr);
}

TEST(RouteConditions, Numbers) {
  EXPECT_TRUE(cond("ishigher", "20", "10"));
  EXPECT_FALSE(cond(">", "10", "10"));
  EXPECT_TRUE(cond(">=", "10", "10"));
  EXPECT_TRUE(cond("islower", "", "5"));  // not a number counts as 0, as uWSGI
  EXPECT_TRUE(cond("<=", "5", "5"));
  EXPECT_FALSE(cond("<", "9", "5"));
}

TEST(RouteConditions, RegexpCaptures) {
  Captures caps;
  EXPECT_TRUE(cond("regexp", "/u/42/x", "^/u/(\\d+)/(.*)$", &caps));
  EXPECT_EQ(caps.get(1), "42");
  EXPECT_EQ(caps.get(2), "x");
  EXPECT_EQ(caps.get(7), "");
  EXPECT_FALSE(cond("re", "/v/1", "^/u/", &caps));
  EXPECT_EQ(caps.get(1), "42");  // a failed match leaves the last groups
}

TEST(RouteConditions, Files) {
  EXPECT_TRUE(cond("isdir", "/", ""));
  EXPECT_FALSE(cond("isfile", "/", ""));
  EXPECT_TRUE(cond("exists", "/", ""));
  EXPECT_FALSE(cond("isfile", "", ""));
  char path[] = "/tmp/routing_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_TRUE(cond("isfile", path, ""));
  EXPECT_FALSE(cond("isexec", path, ""));
  EXPECT_FALSE(cond("islink", path, ""));
  unlink(path);
}

TEST(RouteConditions, Networks) {
  EXPECT_TRUE(cond("ipv4in", "10.1.2.3", "10.0.0.0/8"));
  EXPECT_FALSE(cond("ipv4in", "11.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(cond("ipv4in", "192.168.1.7", "192.168.1.0/25"));
  EXPECT_FALSE(cond("ipv4in", "192.168.1.200", "192.168.1.0/25"));
  EXPECT_TRUE(cond("ipv6in", "::1", "::1"));
  EXPECT_FALSE(cond("ipv4in", "garbage", "10.0.0.0/8"));
}

RequestHead head_with(std::initializer_list<std::pair<std::string_view, std::string_view>> vars) {
  RequestHead h;
  for (auto& kv : vars) h.vars.push_back(kv);
  return h;
}

std::string expand(const char* text, const RequestHead& h, const Captures* caps = nullptr) {
  RouteTemplate t;
  std::string err;
  EXPECT_TRUE(t.compile(text, &err)) << err;
  RouteEnv env;
  env.head = &h;
  env.caps = caps;
  env.status = 404;
  env.worker_id = 3;
  return t.expand(env);
}

TEST(RouteTemplate, VariablesAndCaptures) {
  RequestHead h = head_with({{"HTTP_HOST", "example.org"}, {"REQUEST_URI", "/a?b=1"},
                             {"QUERY_STRING", "x=1&y=two&z"}, {"HTTP_COOKIE", "sid=abc; theme=dark"}});
  Captures caps;
  caps.count = 2;
  caps.group[0] = "/old/p";
  caps.group[1] = "p";
  EXPECT_EQ(expand("https://${HTTP_HOST}${REQUEST_URI}", h), "https://example.org/a?b=1");
  EXPECT_EQ(expand("/new/$1/$1", h, &caps), "/new/p/p");
  EXPECT_EQ(expand("[${NOPE}] [$5]", h, &caps), "[] []");
  EXPECT_EQ(expand("${qs[y]},${qs[z]},${qs[w]}", h), "two,,");
  EXPECT_EQ(expand("${cookie[theme]}/${cookie[sid]}", h), "dark/abc");
  EXPECT_EQ(expand("${uwsgi[status]} ${uwsgi[wid]}", h), "404 3");
  EXPECT_EQ(expand("${hex[HTTP_HOST]}", head_with({{"HTTP_HOST", "AB"}})), "4142");
  EXPECT_EQ(expand("${base64[HTTP_HOST]}", head_with({{"HTTP_HOST", "ab"}})), "YWI=");
  EXPECT_EQ(expand("cost $ 5 and $x", h), "cost $ 5 and $x");
  RouteTemplate t;
  std::string err;
  ASSERT_TRUE(t.compile("plain", &err));
  EXPECT_TRUE(t.constant());
  EXPECT_FALSE(t.compile("${UNTERMINATED", &err));
  EXPECT_FALSE(t.compile("${nope[x]}", &err));
  EXPECT_NE(err.find("unknown routing variable"), std::string::npos);
}

class RoutingConfigTest : public ::testing::Test {
 protected:
  ConfigStore cfg;
  std::shared_ptr<const RoutingConfig> rc;
  std::string err;
  bool read() { return read_routing_config(cfg, &rc, &err); }
};

TEST_F(RoutingConfigTest, NoRoutingOptionsNoConfig) {
  cfg.add("processes", "2");
  ASSERT_TRUE(read());
  EXPECT_EQ(rc, nullptr);
}

TEST_F(RoutingConfigTest, ErrorsNameTheOption) {
  cfg.add("route-host", "^x$ frob:1");
  ASSERT_FALSE(read());
  EXPECT_NE(err.find("--route-host \"^x$ frob:1\": unknown routing action \"frob\""), std::string::npos) << err;
  ConfigStore c2;
  c2.add("route-if", "nope:a;b log:x");
  EXPECT_FALSE(read_routing_config(c2, &rc, &err));
  EXPECT_NE(err.find("unknown routing condition \"nope\""), std::string::npos) << err;
  ConfigStore c3;
  c3.add("route-if", "regexp:${PATH_INFO};(( log:x");
  EXPECT_FALSE(read_routing_config(c3, &rc, &err));
  EXPECT_NE(err.find("invalid regular expression"), std::string::npos) << err;
  ConfigStore c4;
  c4.add("route-label", "a");
  c4.add("route-run", "goto:a");
  EXPECT_FALSE(read_routing_config(c4, &rc, &err));
  EXPECT_NE(err.find("jumps go forward only"), std::string::npos) << err;
}

// The engine on a head alone: rules that need no Request to answer through.
TEST_F(RoutingConfigTest, ChainRunsInOrderWithGotoRewriteAndVars) {
  cfg.add("route", "^/a/(.*)$ rewrite:/b/$1?q=1");
  cfg.add("route", "^/b/ goto:later");
  cfg.add("route", "^/b/ addvar:SKIPPED=1");
  cfg.add("route-label", "later");
  cfg.add("route-if", "equal:${QUERY_STRING};q=1 addvar:SEEN=${PATH_INFO}");
  cfg.add("route", "^/b/(x) addheader:X-Cap: $1");
  cfg.add("route-run", "continue:");
  cfg.add("route-run", "addvar:AFTER_CONTINUE=1");
  ASSERT_TRUE(read()) << err;
  RequestHead h = head_with({{"PATH_INFO", "/a/x"}, {"QUERY_STRING", ""}});
  RouteState st;
  RouteCall call(h, st);
  EXPECT_EQ(run_chain(rc->request, call), RouteResult::kContinue);
  EXPECT_EQ(h.find("PATH_INFO"), "/b/x");
  EXPECT_EQ(h.find("QUERY_STRING"), "q=1");
  EXPECT_EQ(h.find("SKIPPED"), "");
  EXPECT_EQ(h.find("SEEN"), "/b/x");
  EXPECT_EQ(h.find("AFTER_CONTINUE"), "");
  ASSERT_EQ(st.add_headers.size(), 1u);
  EXPECT_EQ(st.add_headers[0].second, "x");
}

TEST_F(RoutingConfigTest, LogvarAndTheErrorChain) {
  cfg.add("route", "^/u/(.*)$ logvar:user=$1");
  cfg.add("route-run", "logvar:user=again-$1");
  cfg.add("error-route-status", "^404$ addheader:X-Err: ${uwsgi[status]}");
  cfg.add("error-route-run", "logvar:err=${uwsgi[status]}");
  ASSERT_TRUE(read()) << err;
  EXPECT_TRUE(routing_has_error_rules(*rc));
  RequestHead h = head_with({{"PATH_INFO", "/u/bob"}});
  RouteState st;
  RouteCall call(h, st);
  run_chain(rc->request, call);
  EXPECT_EQ(st.logvar("user"), "again-bob");  // set twice: the last value
  EXPECT_EQ(st.logvar("none"), "");
  RouteCall ecall(h, st);
  ecall.env.status = 404;
  EXPECT_EQ(run_chain(rc->error, ecall), RouteResult::kNext);  // nothing answered: the response goes on
  EXPECT_EQ(st.logvar("err"), "404");
  ASSERT_EQ(st.add_headers.size(), 1u);
  EXPECT_EQ(st.add_headers[0].second, "404");
  st.reset();
  EXPECT_EQ(st.logvar("user"), "");
  ConfigStore c2;
  c2.add("error-route", "^/ rewrite:/x");
  EXPECT_FALSE(read_routing_config(c2, &rc, &err));
  EXPECT_NE(err.find("cannot be used in the error chain"), std::string::npos) << err;
}

TEST_F(RoutingConfigTest, ResponseHeaders) {
  cfg.add("add-header", "X-Global: g");
  cfg.add("del-header", "Server");
  cfg.add("response-route-status", "^404$ addheader:X-Status: ${uwsgi[status]}");
  cfg.add("response-route-run", "delheader:X-Drop");
  ASSERT_TRUE(read()) << err;
  RequestHead h = head_with({{"PATH_INFO", "/"}});
  RouteState st;
  st.add_headers.emplace_back("X-Req", "1");
  HeaderList app = {{"Content-Type", "text/plain"}, {"server", "x"}, {"X-Drop", "1"}};
  const HeaderList& out = route_response(*rc, h, st, 404, app, 1);
  HeaderList want = {{"Content-Type", "text/plain"}, {"X-Global", "g"}, {"X-Req", "1"}, {"X-Status", "404"}};
  EXPECT_EQ(out, want);
  const HeaderList& ok = route_response(*rc, h, st, 200, app, 1);
  EXPECT_EQ(ok.size(), 3u);
}

TEST_F(RoutingConfigTest, CollectAndPullHeaders) {
  cfg.add("collect-header", "Content-Type MY_TYPE");
  cfg.add("pull-header", "X-Internal MY_INTERNAL");
  cfg.add("response-route-if", "equal:${MY_TYPE};text/html addheader:X-Html: ${MY_INTERNAL}");
  ASSERT_TRUE(read()) << err;
  RequestHead h = head_with({{"PATH_INFO", "/"}});
  RouteState st;
  HeaderList app = {{"Content-Type", "text/html"}, {"x-internal", "secret"}};
  const HeaderList& out = route_response(*rc, h, st, 200, app, 1);
  HeaderList want = {{"Content-Type", "text/html"}, {"X-Html", "secret"}};
  EXPECT_EQ(out, want);
  EXPECT_EQ(h.find("MY_TYPE"), "text/html");
  ConfigStore bad;
  bad.add("collect-header", "Content-Type");
  EXPECT_FALSE(read_routing_config(bad, &rc, &err));
  EXPECT_NE(err.find("--collect-header \"Content-Type\": want HEADER VAR"), std::string::npos) << err;
}

}  // namespace
}  // namespace uwsgi
