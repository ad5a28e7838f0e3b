// Plugin autoload: manifests (format, parse errors, search order), "did you mean", uWSGI's plugin
// names, and a real fixture plugin loaded by its option or engine name through parse_config.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/core_options.h"
#include "config/option_manifest.h"
#include "config/options.h"
#include "host.h"
#include "plugin_autoload.h"
#include "plugin_loader.h"

namespace {

namespace fs = std::filesystem;
using namespace uwsgi;

std::string include_dir() {
  fs::path src(__FILE__);
  if (src.is_relative()) src = fs::current_path() / src;
  return (src.parent_path().parent_path().parent_path() / "include").string();
}

struct Argv {
  explicit Argv(std::vector<std::string> a) : s(std::move(a)) {
    s.insert(s.begin(), "uwsgi");
    for (auto& x : s) p.push_back(x.data());
    p.push_back(nullptr);
  }
  std::vector<std::string> s;
  std::vector<char*> p;
};

TEST(OptionManifest, FormatThenParseRoundTrips) {
  OptionRegistry reg;
  std::string err;
  OptionDef a;
  a.name = "zz-cores";
  a.numeric = true;
  a.aliases = {"zz-c", "zzc"};
  a.short_name = 'Z';
  a.help = "cores\twith a tab";
  OptionDef b;
  b.name = "zz";
  b.arg = OptArg::None;
  OptionDef c;
  c.name = "zz-mode";
  c.arg = OptArg::Optional;
  ASSERT_TRUE(reg.add(a, "zz", &err) && reg.add(b, "zz", &err) && reg.add(c, "zz", &err)) << err;
  std::vector<const RegisteredOption*> opts;
  for (auto& o : reg.all()) opts.push_back(&o);
  std::string text = format_manifest("zz", opts, {{"io-engine", "zzio"}, {"loop-engine", "zzloop"}});
  PluginManifest m;
  ASSERT_TRUE(parse_manifest(text, "x/zz_plugin.options", &m, &err)) << err << "\n" << text;
  EXPECT_EQ(m.plugin, "zz");
  ASSERT_EQ(m.options.size(), 3u);
  EXPECT_EQ(m.options[0].name, "zz-cores");
  EXPECT_TRUE(m.options[0].numeric);
  EXPECT_EQ(m.options[0].short_name, 'Z');
  EXPECT_EQ(m.options[0].aliases, (std::vector<std::string>{"zz-c", "zzc"}));
  EXPECT_EQ(m.options[0].help, "cores with a tab");
  EXPECT_EQ(m.options[1].arg, OptArg::None);
  EXPECT_EQ(m.options[1].help, "");
  EXPECT_EQ(m.options[2].arg, OptArg::Optional);
  EXPECT_TRUE(m.owns_option("zz_cores"));  // ini/env spelling
  EXPECT_TRUE(m.owns_option("zzc"));
  EXPECT_FALSE(m.owns_option("zz-core"));
  EXPECT_TRUE(m.owns_engine("io-engine", "zzio"));
  EXPECT_FALSE(m.owns_engine("suspend-engine", "zzio"));
  EXPECT_EQ(manifest_path_for("/a/zz_plugin.so"), "/a/zz_plugin.options");
}

TEST(OptionManifest, MalformedLinesAreNamed) {
  PluginManifest m;
  std::string err;
  EXPECT_FALSE(parse_manifest("plugin\tx\noption\tbroken\n", "m.options", &m, &err));
  EXPECT_NE(err.find("m.options:2"), std::string::npos) << err;
  PluginManifest m2;
  EXPECT_FALSE(parse_manifest("option\ta\tnone\t0\t-\t-\thelp\n", "m.options", &m2, &err));
  EXPECT_NE(err.find("no \"plugin NAME\" line"), std::string::npos) << err;
  PluginManifest m3;
  EXPECT_FALSE(parse_manifest("plugin\tx\noption\ta\tsometimes\t0\t-\t-\th\n", "m.options", &m3, &err));
  EXPECT_NE(err.find("sometimes"), std::string::npos) << err;
}

TEST(ClosestOption, SuggestsTyposOnly) {
  HostImpl host;
  register_core_options(host);
  EXPECT_EQ(closest_option("proceses", host.registry(), {}), "processes");
  EXPECT_EQ(closest_option("gevnt", host.registry(), {"gevent", "gevent-loop"}), "gevent");
  EXPECT_EQ(closest_option("master_", host.registry(), {}), "master");
  EXPECT_EQ(closest_option("xyz", host.registry(), {}), "");
  EXPECT_EQ(closest_option("completely-different", host.registry(), {}), "");
}

TEST(PluginNames, UwsgiSpellings) {
  EXPECT_EQ(canonical_plugin_name("python3"), "python");
  EXPECT_EQ(canonical_plugin_name("python312"), "python");
  EXPECT_EQ(canonical_plugin_name("gevent3"), "gevent");
  EXPECT_EQ(canonical_plugin_name("gevent_python311"), "gevent");
  EXPECT_EQ(canonical_plugin_name("greenlet_python"), "greenlet");
  EXPECT_EQ(canonical_plugin_name("gevent_pythonx"), "gevent_pythonx");
  EXPECT_EQ(canonical_plugin_name("greenlet3"), "greenlet");
  EXPECT_EQ(canonical_plugin_name("python3x"), "python3x");
  std::string note;
  EXPECT_EQ(classify_plugin_name("logfile", &note), PluginNameKind::kInCore);
  EXPECT_EQ(classify_plugin_name("router_redirect", &note), PluginNameKind::kInCore);
  EXPECT_EQ(classify_plugin_name("http", &note), PluginNameKind::kInCore);  // the router (--http)
  EXPECT_EQ(classify_plugin_name("fastrouter", &note), PluginNameKind::kNotProvided);
  EXPECT_NE(note.find("--http-socket"), std::string::npos) << note;
  EXPECT_EQ(classify_plugin_name("python27", &note), PluginNameKind::kNotProvided);
  EXPECT_EQ(classify_plugin_name("gevent", &note), PluginNameKind::kPlugin);
  EXPECT_EQ(classify_plugin_name("nosuch", &note), PluginNameKind::kPlugin);  // then: not found
  PluginLoader loader({});
  std::string err;
  EXPECT_TRUE(loader.load("logfile", &err)) << err;
  EXPECT_TRUE(loader.plugins().empty());
  EXPECT_FALSE(loader.load("https", &err));
  EXPECT_NE(err.find("\"https\""), std::string::npos) << err;
}

// A fixture plugin ("auto") with an option, a shortcut implying its I/O engine, and the engine;
// plus its manifest, written the way the build writes it.
class AutoloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/uwsgi-autoload-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/auto.cc")
        << "#include <uwsgi/plugin.h>\n"
           "class P : public uwsgi::Plugin { public:\n"
           "  void on_register(uwsgi::Host& h) override {\n"
           "    uwsgi::OptionDef d; d.name = \"auto-buckets\"; d.numeric = true;\n"
           "    d.on_set = [](std::string_view, std::string*) { calls++; return true; };\n"
           "    h.add_option(std::move(d));\n"
           "    uwsgi::OptionDef s; s.name = \"autoio\"; s.arg = uwsgi::OptArg::None;\n"
           "    s.implies = {{\"io-engine\", \"autoio\"}}; h.add_option(std::move(s));\n"
           "    h.add_io_engine(\"autoio\", [](uwsgi::Host&) { return std::unique_ptr<uwsgi::IoEngine>(); });\n"
           "  }\n"
           "  static inline int calls = 0;\n"
           "};\n"
           "extern \"C\" __attribute__((visibility(\"default\"))) int auto_calls() { return P::calls; }\n"
           "UWSGI_PLUGIN(auto, P)\n";
    std::string cmd = "g++ -std=c++20 -shared -fPIC -I" + include_dir() + " -o " + dir_ + "/auto_plugin.so " +
                      dir_ + "/auto.cc 2>" + dir_ + "/cc.log";
    ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
    // The manifest, from the plugin's own registration (what `uwsgi --plugin-manifest` prints).
    HostImpl host;
    PluginLoader loader({dir_});
    std::string err;
    ASSERT_TRUE(loader.load(dir_ + "/auto_plugin.so", &err)) << err;
    host.set_registering_group("auto");
    loader.plugins().back().plugin->on_register(host);
    std::vector<const RegisteredOption*> opts;
    for (auto& o : host.registry().all()) opts.push_back(&o);
    std::ofstream(dir_ + "/auto_plugin.options") << format_manifest("auto", opts, {{"io-engine", "autoio"}});
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A fresh server-side setup: core options, and one plugin named in --plugins ("first").
  void SetUp() override {
    register_core_options(host);
    host.add_io_engine("epoll", [](Host&) { return std::unique_ptr<IoEngine>(); });
  }
  bool parse(std::vector<std::string> args) {
    Argv a(std::move(args));
    return parse_config((int)a.s.size(), a.p.data(), host.registry(), &host.store(), &err, &autoload);
  }

  static std::string dir_;
  HostImpl host;
  PluginLoader loader{{dir_}};
  PluginAutoloader autoload{host, loader};
  std::string err;
};
std::string AutoloadTest::dir_;

TEST_F(AutoloadTest, AnOptionLoadsItsPluginBeforeAnyOptionIsApplied) {
  // The .so stays mapped from SetUpTestSuite: its on_set counter is read before and after.
  void* h = dlopen((dir_ + "/auto_plugin.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  auto calls = (int (*)())dlsym(h, "auto_calls");
  ASSERT_NE(calls, nullptr);
  int before = calls();
  ASSERT_TRUE(parse({"--listen", "5", "--auto-buckets", "7", "--auto_buckets=8"})) << err;
  ASSERT_TRUE(loader.loaded("auto"));
  EXPECT_EQ(host.config().get("auto-buckets"), "8");
  EXPECT_EQ(host.config().get("listen"), "5");
  EXPECT_EQ(calls() - before, 2);  // on_set ran once per occurrence, not again for a re-parse
  dlclose(h);
  ASSERT_EQ(autoload.log_lines().size(), 1u);
  EXPECT_NE(autoload.log_lines()[0].find("plugin auto loaded for --auto-buckets (" + dir_ + "/auto_plugin.so)"),
            std::string::npos)
      << autoload.log_lines()[0];
}

TEST_F(AutoloadTest, AutoloadedPluginsGoBeforeThoseOfPluginsList) {
  ASSERT_TRUE(loader.load_builtins(&err)) << err;
  size_t builtins = loader.plugins().size();
  ASSERT_TRUE(parse({"--auto-buckets", "1"})) << err;
  EXPECT_EQ(loader.plugins()[builtins].name, "auto");
}

TEST_F(AutoloadTest, EngineValuesAndShortcutsLoadTheirPlugin) {
  ASSERT_TRUE(parse({"--io-engine", "autoio"})) << err;
  EXPECT_TRUE(loader.loaded("auto"));
  EXPECT_TRUE(host.io_engines().count("autoio"));
  EXPECT_NE(autoload.log_lines().at(0).find("for --io-engine autoio"), std::string::npos);
}

TEST_F(AutoloadTest, KnownEngineOrOptionLoadsNothing) {
  ASSERT_TRUE(parse({"--io-engine", "epoll", "--listen", "3"})) << err;
  EXPECT_FALSE(loader.loaded("auto"));
  EXPECT_TRUE(autoload.log_lines().empty());
}

TEST_F(AutoloadTest, IniKeysLoadTheirPluginToo) {
  std::string ini = dir_ + "/app.ini";
  std::ofstream(ini) << "[uwsgi]\nauto-buckets = 4\n";
  ASSERT_TRUE(parse({"--ini", ini})) << err;
  EXPECT_EQ(host.config().get("auto-buckets"), "4");
}

TEST_F(AutoloadTest, UnknownOptionIsStillAnErrorWithASuggestion) {
  EXPECT_FALSE(parse({"--auto-bucket", "7"}));
  EXPECT_EQ(err, "unknown option --auto-bucket (did you mean --auto-buckets?)");
  EXPECT_FALSE(loader.loaded("auto"));
}

TEST_F(AutoloadTest, StaleManifestIsAClearError) {
  std::string stale = dir_ + "/stale";
  fs::create_directories(stale);
  std::ofstream(stale + "/gone_plugin.options") << "plugin\tgone\noption\tgone-opt\tnone\t0\t-\t-\tx\n";
  PluginLoader l2({stale});
  PluginAutoloader a2(host, l2);
  Argv a({"--gone-opt"});
  EXPECT_FALSE(parse_config((int)a.s.size(), a.p.data(), host.registry(), &host.store(), &err, &a2));
  EXPECT_NE(err.find("--gone-opt belongs to plugin \"gone\""), std::string::npos) << err;
  EXPECT_NE(err.find(stale + "/gone_plugin.so is missing"), std::string::npos) << err;
  fs::remove_all(stale);
}

}  // namespace
