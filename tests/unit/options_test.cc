// Option parsing against the real core registry: argv forms, short options, flags, numbers,
// unknown names, aliases, implies, on_set hooks, environment precedence and the early scan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "config/core_options.h"
#include "host.h"
#include "config/options.h"

namespace {

using uwsgi::ConfigStore;
using uwsgi::HostImpl;
using uwsgi::OptArg;
using uwsgi::OptionDef;

// argv as parse_config wants it (argv[0] is the program name).
struct Argv {
  explicit Argv(std::vector<std::string> a) : s(std::move(a)) {
    s.insert(s.begin(), "uwsgi");
    for (auto& x : s) p.push_back(x.data());
    p.push_back(nullptr);
  }
  int argc() const { return (int)s.size(); }
  char** argv() { return p.data(); }
  std::vector<std::string> s;
  std::vector<char*> p;
};

// Sets an environment variable for one test and removes it afterwards.
struct EnvGuard {
  EnvGuard(const char* n, const char* v) : name(n) { setenv(n, v, 1); }
  ~EnvGuard() { unsetenv(name.c_str()); }
  std::string name;
};

// The core's options plus two plugin-style ones: a shortcut with implies and one with on_set.
class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uwsgi::register_core_options(host);
    host.add_option(flag_with_implies());
    OptionDef checked;
    checked.name = "checked";
    checked.on_set = [this](std::string_view v, std::string* err) {
      seen.emplace_back(v);
      if (v == "bad") {
        *err = "bad is not allowed";
        return false;
      }
      return true;
    };
    host.add_option(std::move(checked));
    ASSERT_EQ(host.registration_error(), "");
  }

  static OptionDef flag_with_implies() {
    OptionDef d;
    d.name = "ugreen";
    d.arg = OptArg::None;
    d.implies = {{"suspend-engine", "ugreen"}};
    return d;
  }

  bool parse(std::vector<std::string> args) {
    Argv a(std::move(args));
    err.clear();
    return uwsgi::parse_config(a.argc(), a.argv(), host.registry(), &host.store(), &err);
  }

  const uwsgi::Config& cfg() { return host.config(); }

  HostImpl host;
  std::string err;
  std::vector<std::string> seen;
};

TEST_F(OptionsTest, LongOptionWithSeparateValue) {
  ASSERT_TRUE(parse({"--http-socket", "127.0.0.1:8080"})) << err;
  EXPECT_EQ(cfg().get("http-socket"), "127.0.0.1:8080");
}

TEST_F(OptionsTest, LongOptionWithEquals) {
  ASSERT_TRUE(parse({"--http-socket=127.0.0.1:8080", "--buffer-size=8192"})) << err;
  EXPECT_EQ(cfg().get("http-socket"), "127.0.0.1:8080");
  EXPECT_EQ(cfg().get_int("buffer-size", 0), 8192);
}

TEST_F(OptionsTest, ValueMayContainEqualsSign) {
  ASSERT_TRUE(parse({"--env=A=b=c", "--env", "X=1"})) << err;
  EXPECT_EQ(cfg().all("env"), (std::vector<std::string>{"A=b=c", "X=1"}));
}

TEST_F(OptionsTest, ValueThatLooksLikeAnOptionIsTakenAsValue) {
  // A required value is the next word whatever it looks like.
  ASSERT_TRUE(parse({"--chdir", "-weird-dir"})) << err;
  EXPECT_EQ(cfg().get("chdir"), "-weird-dir");
}

TEST_F(OptionsTest, ShortOptions) {
  ASSERT_TRUE(parse({"-s", "127.0.0.1:3031", "-p", "4", "-M", "-L"})) << err;
  EXPECT_EQ(cfg().get("socket"), "127.0.0.1:3031");
  EXPECT_EQ(cfg().get_int("processes", 0), 4);
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_TRUE(cfg().get_bool("disable-logging"));
}

TEST_F(OptionsTest, ShortOptionWithAttachedValue) {
  ASSERT_TRUE(parse({"-p3", "-b16384"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 3);
  EXPECT_EQ(cfg().get_int("buffer-size", 0), 16384);
}

TEST_F(OptionsTest, ShortFlagWithAttachedJunkIsAnError) {
  EXPECT_FALSE(parse({"-Mx"}));
  EXPECT_NE(err.find("-M"), std::string::npos) << err;
}

TEST_F(OptionsTest, UnknownShortOptionIsNamed) {
  EXPECT_FALSE(parse({"-Q"}));
  EXPECT_NE(err.find("-Q"), std::string::npos) << err;
}

TEST_F(OptionsTest, ShortOptionMissingValue) {
  EXPECT_FALSE(parse({"-p"}));
  EXPECT_NE(err.find("-p"), std::string::npos) << err;
  EXPECT_NE(err.find("value"), std::string::npos) << err;
}

TEST_F(OptionsTest, LongOptionMissingValue) {
  EXPECT_FALSE(parse({"--http-socket"}));
  EXPECT_NE(err.find("--http-socket"), std::string::npos) << err;
  EXPECT_NE(err.find("needs a value"), std::string::npos) << err;
}

TEST_F(OptionsTest, BareFlagIsTrue) {
  ASSERT_TRUE(parse({"--master"})) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_FALSE(cfg().get_bool("vacuum"));
}

TEST_F(OptionsTest, FlagTakesTrueAndFalseValues) {
  for (const char* t : {"true", "1", "yes", "on"}) {
    HostImpl h;
    uwsgi::register_core_options(h);
    Argv a({std::string("--master=") + t});
    ASSERT_TRUE(uwsgi::parse_config(a.argc(), a.argv(), h.registry(), &h.store(), &err)) << t << ": " << err;
    EXPECT_TRUE(h.config().get_bool("master")) << t;
  }
  for (const char* f : {"false", "0", "no", "off"}) {
    HostImpl h;
    uwsgi::register_core_options(h);
    Argv a({std::string("--master=") + f});
    ASSERT_TRUE(uwsgi::parse_config(a.argc(), a.argv(), h.registry(), &h.store(), &err)) << f << ": " << err;
    EXPECT_FALSE(h.config().get_bool("master")) << f;
  }
}

TEST_F(OptionsTest, LaterFlagValueWins) {
  ASSERT_TRUE(parse({"--master", "--master=false"})) << err;
  EXPECT_FALSE(cfg().get_bool("master"));
}

TEST_F(OptionsTest, FlagDoesNotSwallowTheNextWord) {
  // "--master --processes 2": the flag takes no value from argv.
  ASSERT_TRUE(parse({"--master", "--processes", "2"})) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("processes", 0), 2);
}

TEST_F(OptionsTest, FlagWithNonBooleanValueIsAnError) {
  EXPECT_FALSE(parse({"--master=maybe"}));
  EXPECT_NE(err.find("--master"), std::string::npos) << err;
  EXPECT_NE(err.find("maybe"), std::string::npos) << err;
}

TEST_F(OptionsTest, NumericOptionRejectsText) {
  EXPECT_FALSE(parse({"--processes", "four"}));
  EXPECT_NE(err.find("--processes"), std::string::npos) << err;
  EXPECT_NE(err.find("four"), std::string::npos) << err;
}

TEST_F(OptionsTest, NumericOptionRejectsTrailingJunkAndEmpty) {
  EXPECT_FALSE(parse({"--listen", "12x"}));
  EXPECT_NE(err.find("--listen"), std::string::npos) << err;
  EXPECT_FALSE(parse({"--buffer-size="}));
  EXPECT_NE(err.find("--buffer-size"), std::string::npos) << err;
}

TEST_F(OptionsTest, NumericOptionRejectsOverflow) {
  EXPECT_FALSE(parse({"--limit-post", "999999999999999999999999"}));
  EXPECT_NE(err.find("--limit-post"), std::string::npos) << err;
}

TEST_F(OptionsTest, NumericOptionRefusesNegativeValues) {
  // No numeric option means anything below 0 (counts, sizes, seconds): refused where every
  // option is read, naming it. Upper bounds belong to whoever uses the value.
  EXPECT_FALSE(parse({"--processes", "-1"}));
  EXPECT_NE(err.find("--processes"), std::string::npos) << err;
  EXPECT_NE(err.find("-1"), std::string::npos) << err;
  ASSERT_TRUE(parse({"--processes", "0"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 1), 0);
}

TEST_F(OptionsTest, UnknownLongOptionIsNamed) {
  EXPECT_FALSE(parse({"--master", "--no-such-option", "1"}));
  EXPECT_NE(err.find("no-such-option"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown"), std::string::npos) << err;
}

TEST_F(OptionsTest, UnknownLongOptionWithEqualsIsNamedWithoutValue) {
  EXPECT_FALSE(parse({"--bogus=3"}));
  EXPECT_NE(err.find("--bogus"), std::string::npos) << err;
  EXPECT_EQ(err.find("=3"), std::string::npos) << err;
}

TEST_F(OptionsTest, StrayPositionalArgumentIsAnError) {
  EXPECT_FALSE(parse({"hello.py"}));
  EXPECT_NE(err.find("hello.py"), std::string::npos) << err;
}

TEST_F(OptionsTest, AliasesStoreUnderTheCanonicalName) {
  ASSERT_TRUE(parse({"--workers", "3", "--uwsgi-socket", ":3031", "--plugin", "python"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 3);
  EXPECT_EQ(cfg().get("socket"), ":3031");
  EXPECT_EQ(cfg().get("plugins"), "python");
  EXPECT_FALSE(cfg().has("workers"));
}

TEST_F(OptionsTest, UnderscoresMeanDashes) {
  ASSERT_TRUE(parse({"--http_socket", ":9000", "--buffer_size=1024"})) << err;
  EXPECT_EQ(cfg().get("http-socket"), ":9000");
  EXPECT_EQ(cfg().get_int("buffer-size", 0), 1024);
}

TEST_F(OptionsTest, RepeatedOptionsAppendAndLastScalarWins) {
  ASSERT_TRUE(parse({"--http-socket", ":1", "--http-socket", ":2", "--processes", "2", "--processes", "5"})) << err;
  EXPECT_EQ(cfg().all("http-socket"), (std::vector<std::string>{":1", ":2"}));
  EXPECT_EQ(cfg().get_int("processes", 0), 5);
}

TEST_F(OptionsTest, ItemsKeepCommandLineOrder) {
  ASSERT_TRUE(parse({"--master", "--processes", "2", "--http-socket", ":1"})) << err;
  auto items = cfg().items();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].first, "master");
  EXPECT_EQ(items[1], (std::pair<std::string, std::string>{"processes", "2"}));
  EXPECT_EQ(items[2].first, "http-socket");
}

TEST_F(OptionsTest, ImpliesSetsTheOtherOption) {
  ASSERT_TRUE(parse({"--ugreen", "--async", "10"})) << err;
  EXPECT_TRUE(cfg().get_bool("ugreen"));
  EXPECT_EQ(cfg().get("suspend-engine"), "ugreen");
}

TEST_F(OptionsTest, FlagSetFalseDoesNotImply) {
  ASSERT_TRUE(parse({"--ugreen=false"})) << err;
  EXPECT_FALSE(cfg().get_bool("ugreen"));
  EXPECT_FALSE(cfg().has("suspend-engine"));
}

TEST_F(OptionsTest, ImpliedValueConflictsAreVisibleToTheCore) {
  // Two different suspend engines, one implied: choose_engines sees both values.
  ASSERT_TRUE(parse({"--ugreen", "--suspend-engine", "fcontext"})) << err;
  EXPECT_EQ(cfg().all("suspend-engine"), (std::vector<std::string>{"ugreen", "fcontext"}));
}

TEST_F(OptionsTest, OnSetRunsForEachOccurrence) {
  ASSERT_TRUE(parse({"--checked", "a", "--checked=b"})) << err;
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST_F(OptionsTest, OnSetErrorNamesTheOptionAndOrigin) {
  EXPECT_FALSE(parse({"--checked", "bad"}));
  EXPECT_NE(err.find("--checked"), std::string::npos) << err;
  EXPECT_NE(err.find("bad is not allowed"), std::string::npos) << err;
  EXPECT_NE(err.find("command line"), std::string::npos) << err;
}

TEST_F(OptionsTest, OptionalArgumentOption) {
  ASSERT_TRUE(parse({"--chmod-socket"})) << err;
  EXPECT_TRUE(cfg().has("chmod-socket"));
  EXPECT_EQ(cfg().get("chmod-socket"), "");
  HostImpl h;
  uwsgi::register_core_options(h);
  Argv a({"--chmod-socket=660"});
  ASSERT_TRUE(uwsgi::parse_config(a.argc(), a.argv(), h.registry(), &h.store(), &err)) << err;
  EXPECT_EQ(h.config().get("chmod-socket"), "660");
}

TEST_F(OptionsTest, EnvironmentSetsOptions) {
  EnvGuard g("UWSGI_HTTP_SOCKET", "127.0.0.1:7777");
  ASSERT_TRUE(parse({})) << err;
  EXPECT_EQ(cfg().get("http-socket"), "127.0.0.1:7777");
}

TEST_F(OptionsTest, CommandLineBeatsEnvironmentForScalars) {
  EnvGuard g("UWSGI_PROCESSES", "2");
  ASSERT_TRUE(parse({"--processes", "5"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 5);
}

TEST_F(OptionsTest, EnvironmentFlag) {
  EnvGuard g("UWSGI_MASTER", "1");
  EnvGuard g2("UWSGI_VACUUM", "false");
  ASSERT_TRUE(parse({})) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_FALSE(cfg().get_bool("vacuum"));
}

TEST_F(OptionsTest, UnknownUwsgiEnvironmentNamesAreIgnored) {
  // UWSGI_PROFILE and friends are build variables, not options.
  EnvGuard g("UWSGI_PROFILE", "gevent");
  EnvGuard g2("UWSGI_NOT_AN_OPTION", "x");
  ASSERT_TRUE(parse({})) << err;
  EXPECT_FALSE(cfg().has("profile"));
}

TEST_F(OptionsTest, BadEnvironmentValueNamesTheVariable) {
  EnvGuard g("UWSGI_PROCESSES", "lots");
  EXPECT_FALSE(parse({}));
  EXPECT_NE(err.find("environment"), std::string::npos) << err;
  EXPECT_NE(err.find("lots"), std::string::npos) << err;
}

TEST_F(OptionsTest, EnvironmentIniIsLoadedAndCommandLineWins) {
  char dir[] = "/tmp/uwsgi-envini-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/e.ini";
  std::ofstream(path) << "[uwsgi]\nhttp-socket = :4242\nprocesses = 3\n";
  EnvGuard g("UWSGI_INI", path.c_str());
  bool ok = parse({"--processes", "6"});
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(cfg().get("http-socket"), ":4242");
  EXPECT_EQ(cfg().get_int("processes", 0), 6);
}

TEST_F(OptionsTest, EnvironmentIniMissingFileIsAnError) {
  EnvGuard g("UWSGI_INI", "/nonexistent/dir/x.ini");
  EXPECT_FALSE(parse({}));
  EXPECT_NE(err.find("/nonexistent/dir/x.ini"), std::string::npos) << err;
}

// ---- the early scan (plugins and plugin dirs, before plugin options exist) ----

TEST(ScanEarly, CollectsPluginsFromEveryForm) {
  Argv a({"--plugins", "ugreen,libev", "--plugin=fcontext", "--plugins", "a b", "--unknown-yet", "x",
          "--plugin-dir", "/opt/p", "--plugins-dir=/opt/q"});
  uwsgi::EarlyConfig ec;
  std::string err;
  ASSERT_TRUE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err)) << err;
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"ugreen", "libev", "fcontext", "a", "b"}));
  EXPECT_EQ(ec.plugin_dirs, (std::vector<std::string>{"/opt/p", "/opt/q"}));
  EXPECT_FALSE(ec.help);
}

TEST(ScanEarly, EnvironmentPlugins) {
  EnvGuard g("UWSGI_PLUGINS", "libuv");
  Argv a({"--plugins", "ugreen"});
  uwsgi::EarlyConfig ec;
  std::string err;
  ASSERT_TRUE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err)) << err;
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"libuv", "ugreen"}));
}

TEST(ScanEarly, PluginsFromEnvironmentIni) {
  char dir[] = "/tmp/uwsgi-opt-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/p.ini";
  std::ofstream(path) << "[uwsgi]\nplugins = libev\n";
  EnvGuard g("UWSGI_INI", path.c_str());
  Argv a({});
  uwsgi::EarlyConfig ec;
  std::string err;
  bool ok = uwsgi::scan_early(a.argc(), a.argv(), &ec, &err);
  unlink(path.c_str());
  rmdir(dir);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"libev"}));
}

TEST(ScanEarly, HelpAndVersion) {
  Argv a({"--version", "-h"});
  uwsgi::EarlyConfig ec;
  std::string err;
  ASSERT_TRUE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err)) << err;
  EXPECT_TRUE(ec.help);
  EXPECT_TRUE(ec.version);
}

TEST(ScanEarly, PluginsMissingValue) {
  Argv a({"--plugins"});
  uwsgi::EarlyConfig ec;
  std::string err;
  EXPECT_FALSE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err));
  EXPECT_NE(err.find("--plugins"), std::string::npos) << err;
}

TEST(ScanEarly, AKnownOptionsValueIsNoConfigFile) {
  // `--emperor "/etc/uwsgi/*.ini"`: the glob is --emperor's value, not an ini to read now.
  uwsgi::OptionRegistry reg;
  std::string err;
  ASSERT_TRUE(reg.add(uwsgi::make_option("emperor", 0, uwsgi::OptArg::Required, "x"), "core", &err)) << err;
  ASSERT_TRUE(reg.add(uwsgi::make_option("plugins", 0, uwsgi::OptArg::Required, "x", {"plugin"}), "core", &err));
  Argv a({"--emperor", "/nonexistent/dir/*.ini", "--plugin", "ugreen"});
  uwsgi::EarlyConfig ec;
  ASSERT_TRUE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err, &reg)) << err;
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"ugreen"}));
  // Without the registry the word looks like a positional ini (uwsgi app.ini): it is read.
  EXPECT_FALSE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err));
}

TEST(ScanEarly, PluginsFromIni) {
  char dir[] = "/tmp/uwsgi-opt-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/p.ini";
  std::ofstream(path) << "[uwsgi]\nplugins = ugreen\nplugin-dir = /x\n";
  Argv a({"--ini", path});
  uwsgi::EarlyConfig ec;
  std::string err;
  ASSERT_TRUE(uwsgi::scan_early(a.argc(), a.argv(), &ec, &err)) << err;
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"ugreen"}));
  EXPECT_EQ(ec.plugin_dirs, (std::vector<std::string>{"/x"}));
  unlink(path.c_str());
  rmdir(dir);
}

// ---- the registry itself ----

TEST(OptionRegistry, DuplicateNamesAreRefusedNamingBothOwners) {
  uwsgi::OptionRegistry reg;
  std::string err;
  OptionDef a;
  a.name = "thing";
  ASSERT_TRUE(reg.add(a, "core", &err));
  OptionDef b;
  b.name = "other";
  b.aliases = {"thing"};
  EXPECT_FALSE(reg.add(b, "myplugin", &err));
  EXPECT_NE(err.find("thing"), std::string::npos) << err;
  EXPECT_NE(err.find("core"), std::string::npos) << err;
  EXPECT_NE(err.find("myplugin"), std::string::npos) << err;
  EXPECT_EQ(reg.find("other"), nullptr);  // nothing half-registered
}

TEST(OptionRegistry, HostCollectsTheFirstRegistrationError) {
  HostImpl h;
  uwsgi::register_core_options(h);
  h.set_registering_group("clash");
  OptionDef d;
  d.name = "master";
  h.add_option(d);
  EXPECT_NE(h.registration_error().find("master"), std::string::npos) << h.registration_error();
  EXPECT_NE(h.registration_error().find("clash"), std::string::npos) << h.registration_error();
}

TEST(OptionRegistry, FindShort) {
  HostImpl h;
  uwsgi::register_core_options(h);
  ASSERT_NE(h.registry().find_short('s'), nullptr);
  EXPECT_EQ(h.registry().find_short('s')->def.name, "socket");
  EXPECT_EQ(h.registry().find_short('Z'), nullptr);
}

TEST(ConfigStore, GetIntFallsBackOnGarbage) {
  ConfigStore s;
  s.add("n", "12");
  EXPECT_EQ(s.get_int("n", 7), 12);
  s.add("n", "x");
  EXPECT_EQ(s.get_int("n", 7), 7);
  EXPECT_EQ(s.get_int("missing", 7), 7);
}

TEST(ConfigStore, GetBool) {
  ConfigStore s;
  EXPECT_FALSE(s.get_bool("f"));
  s.add("f", "");
  EXPECT_TRUE(s.get_bool("f"));
  s.add("f", "off");
  EXPECT_FALSE(s.get_bool("f"));
}

}  // namespace
