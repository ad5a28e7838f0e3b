// Ini files: sections, repeated keys, placeholders, magic variables, nesting, long lines, and
// error messages that name the file and line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/core_options.h"
#include "host.h"
#include "config/options.h"

namespace {

namespace fs = std::filesystem;
using uwsgi::RawOption;

class IniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uwsgi-ini-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string write(const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  bool read(const std::string& spec) {
    out.clear();
    err.clear();
    return uwsgi::read_ini(spec, &out, &err);
  }

  std::vector<std::string> values(const std::string& key) const {
    std::vector<std::string> v;
    for (auto& o : out)
      if (o.name == key) v.push_back(o.value);
    return v;
  }

  // Full parse (argv + registry) of `--ini spec`, as main does.
  bool parse_ini(const std::string& spec) {
    uwsgi::register_core_options(host);
    std::vector<std::string> s = {"uwsgi", "--ini", spec};
    std::vector<char*> p;
    for (auto& x : s) p.push_back(x.data());
    p.push_back(nullptr);
    err.clear();
    return uwsgi::parse_config((int)s.size(), p.data(), host.registry(), &host.store(), &err);
  }

  std::string dir;
  std::vector<RawOption> out;
  std::string err;
  uwsgi::HostImpl host;
};

TEST_F(IniTest, KeysValuesAndTrimming) {
  std::string p = write("a.ini", "[uwsgi]\n  http-socket =  127.0.0.1:8080  \nmaster=true\n\tprocesses\t=\t4\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "http-socket");
  EXPECT_EQ(out[0].value, "127.0.0.1:8080");
  EXPECT_TRUE(out[0].has_value);
  EXPECT_EQ(out[1].value, "true");
  EXPECT_EQ(out[2].name, "processes");
  EXPECT_EQ(out[2].value, "4");
}

TEST_F(IniTest, RepeatedKeysAllKeptInOrder) {
  std::string p = write("a.ini", "[uwsgi]\nhttp-socket = :1\nmaster = 1\nhttp-socket = :2\nhttp-socket = :3\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("http-socket"), (std::vector<std::string>{":1", ":2", ":3"}));
}

TEST_F(IniTest, CommentsBlankLinesAndCrlf) {
  std::string p = write("a.ini", "# comment\r\n; another\r\n\r\n[uwsgi]\r\n# inside\r\nmodule = app\r\n  ; indented comment\r\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "module");
  EXPECT_EQ(out[0].value, "app");  // no stray \r
}

TEST_F(IniTest, FirstEqualsSplits) {
  std::string p = write("a.ini", "[uwsgi]\nenv = A=b=c\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, "A=b=c");
}

TEST_F(IniTest, KeyWithoutValueIsABareFlag) {
  std::string p = write("a.ini", "[uwsgi]\nmaster\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "master");
  EXPECT_FALSE(out[0].has_value);
}

TEST_F(IniTest, DefaultSectionIsUwsgiAndOthersAreSkipped) {
  std::string p = write("a.ini", "[other]\nprocesses = 9\n[uwsgi]\nprocesses = 2\n[third]\nprocesses = 7\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("processes"), (std::vector<std::string>{"2"}));
}

TEST_F(IniTest, ExplicitSection) {
  std::string p = write("a.ini", "[uwsgi]\nprocesses = 2\n[staging]\nprocesses = 8\nmaster = true\n");
  ASSERT_TRUE(read(p + ":staging")) << err;
  EXPECT_EQ(values("processes"), (std::vector<std::string>{"8"}));
  EXPECT_EQ(values("master"), (std::vector<std::string>{"true"}));
}

TEST_F(IniTest, SectionSplitAcrossTheFile) {
  std::string p = write("a.ini", "[uwsgi]\nhttp-socket = :1\n[x]\nhttp-socket = :9\n[uwsgi]\nhttp-socket = :2\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("http-socket"), (std::vector<std::string>{":1", ":2"}));
}

TEST_F(IniTest, MissingSectionIsAnErrorNamingIt) {
  std::string p = write("a.ini", "[uwsgi]\nprocesses = 2\n");
  EXPECT_FALSE(read(p + ":production"));
  EXPECT_NE(err.find("production"), std::string::npos) << err;
  EXPECT_NE(err.find(p), std::string::npos) << err;
}

TEST_F(IniTest, NoUwsgiSectionIsAnError) {
  std::string p = write("a.ini", "[app]\nprocesses = 2\n");
  EXPECT_FALSE(read(p));
  EXPECT_NE(err.find("[uwsgi]"), std::string::npos) << err;
}

TEST_F(IniTest, MissingFileIsNamed) {
  EXPECT_FALSE(read(dir + "/nope.ini"));
  EXPECT_NE(err.find("nope.ini"), std::string::npos) << err;
}

TEST_F(IniTest, MalformedSectionHeaderNamesFileAndLine) {
  std::string p = write("a.ini", "[uwsgi]\nmaster = 1\n[broken\n");
  EXPECT_FALSE(read(p));
  EXPECT_NE(err.find(p + ":3"), std::string::npos) << err;
}

TEST_F(IniTest, LineWithoutNameNamesFileAndLine) {
  std::string p = write("a.ini", "[uwsgi]\n= value\n");
  EXPECT_FALSE(read(p));
  EXPECT_NE(err.find(p + ":2"), std::string::npos) << err;
}

TEST_F(IniTest, OriginIsFileAndLine) {
  std::string p = write("a.ini", "[uwsgi]\n\n# c\nmaster = 1\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].origin, p + ":4");
}

TEST_F(IniTest, Placeholders) {
  std::string p = write("a.ini",
                        "[uwsgi]\nbase = /srv/app\nport = 8080\n"
                        "chdir = %(base)/code\nhttp-socket = 127.0.0.1:%(port)\nlogto = %(base)/%(port).log\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("chdir"), (std::vector<std::string>{"/srv/app/code"}));
  EXPECT_EQ(values("http-socket"), (std::vector<std::string>{"127.0.0.1:8080"}));
  EXPECT_EQ(values("logto"), (std::vector<std::string>{"/srv/app/8080.log"}));
}

TEST_F(IniTest, PlaceholderUsesTheLastValueSeenSoFar) {
  std::string p = write("a.ini", "[uwsgi]\nv = one\na = %(v)\nv = two\nb = %(v)\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("a"), (std::vector<std::string>{"one"}));
  EXPECT_EQ(values("b"), (std::vector<std::string>{"two"}));
}

TEST_F(IniTest, PlaceholderKeepsATrailingS) {
  // uWSGI is not Python's configparser: %(v)s is the value followed by an "s".
  std::string p = write("a.ini", "[uwsgi]\nv = one\na = %(v)s\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("a"), (std::vector<std::string>{"ones"}));
}

TEST_F(IniTest, PlaceholderToUnknownNameIsKeptWithAWarning) {
  // As uWSGI: the text stays; we also say so, naming file and line.
  std::string p = write("a.ini", "[uwsgi]\nchdir = %(nowhere)\n");
  ASSERT_TRUE(parse_ini(p)) << err;
  EXPECT_EQ(host.config().get("chdir"), "%(nowhere)");
  ASSERT_EQ(host.store().warnings().size(), 1u);
  EXPECT_NE(host.store().warnings()[0].find("nowhere"), std::string::npos);
  EXPECT_NE(host.store().warnings()[0].find(p + ":2"), std::string::npos);
}

TEST_F(IniTest, UnterminatedPlaceholderIsAnError) {
  std::string p = write("a.ini", "[uwsgi]\nchdir = %(oops\n");
  EXPECT_FALSE(read(p));
  EXPECT_NE(err.find(p + ":2"), std::string::npos) << err;
}

TEST_F(IniTest, MagicVariables) {
  std::string p = write("site.ini", "[uwsgi]\nd = %d\np = %p\ns = %s\nn = %n\ne = %e\npct = 100%%\nmix = %dlogs/%n.log\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("d")[0], dir + "/");
  EXPECT_EQ(values("p")[0], p);
  EXPECT_EQ(values("s")[0], "site.ini");
  EXPECT_EQ(values("n")[0], "site");
  EXPECT_EQ(values("e")[0], "ini");
  EXPECT_EQ(values("pct")[0], "100%");
  EXPECT_EQ(values("mix")[0], dir + "/logs/site.log");
}

TEST_F(IniTest, MagicDirOfARelativePathIsAbsolute) {
  write("rel.ini", "[uwsgi]\nd = %d\n");
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(dir.c_str()), 0);
  bool ok = read("rel.ini");
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(values("d")[0].front(), '/');
  EXPECT_EQ(fs::canonical(values("d")[0]), fs::canonical(dir));
}

TEST_F(IniTest, UnknownPercentSequenceIsKept) {
  std::string p = write("a.ini", "[uwsgi]\nlog-format = %q %\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("log-format")[0], "%q %");
}

TEST_F(IniTest, EnvironmentVariables) {
  setenv("UWSGI_INI_TEST_VAR", "from-env", 1);
  std::string p = write("a.ini", "[uwsgi]\nchdir = /x/$(UWSGI_INI_TEST_VAR)/y\nunset = [$(UWSGI_INI_TEST_UNSET)]\n");
  bool ok = read(p);
  unsetenv("UWSGI_INI_TEST_VAR");
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(values("chdir")[0], "/x/from-env/y");
  EXPECT_EQ(values("unset")[0], "[$(UWSGI_INI_TEST_UNSET)]");  // uWSGI keeps it as written
}

TEST_F(IniTest, LongLinesAreNotTruncated) {
  // Debian's libinih cuts lines at 200 bytes; ours must keep every byte.
  std::string longval(5000, 'x');
  longval += "END";
  std::string p = write("a.ini", "[uwsgi]\nenv = K=" + longval + "\nmaster = 1\n");
  ASSERT_TRUE(read(p)) << err;
  ASSERT_EQ(values("env").size(), 1u);
  EXPECT_EQ(values("env")[0], "K=" + longval);
  EXPECT_EQ(values("master"), (std::vector<std::string>{"1"}));
}

TEST_F(IniTest, LongLastLineWithoutNewline) {
  std::string longval(300, 'y');
  std::string p = write("a.ini", "[uwsgi]\nchdir = /" + longval);
  ASSERT_TRUE(read(p)) << err;
  EXPECT_EQ(values("chdir")[0], "/" + longval);
}

TEST_F(IniTest, FullParseAppliesIniOptions) {
  std::string p = write("a.ini", "[uwsgi]\nhttp-socket = :1\nhttp-socket = :2\nmaster = true\nprocesses = 3\n");
  ASSERT_TRUE(parse_ini(p)) << err;
  const uwsgi::Config& c = host.config();
  EXPECT_EQ(c.all("http-socket"), (std::vector<std::string>{":1", ":2"}));
  EXPECT_TRUE(c.get_bool("master"));
  EXPECT_EQ(c.get_int("processes", 0), 3);
}

TEST_F(IniTest, FullParseFalseFlag) {
  std::string p = write("a.ini", "[uwsgi]\nmaster = false\nvacuum = true\n");
  ASSERT_TRUE(parse_ini(p)) << err;
  EXPECT_FALSE(host.config().get_bool("master"));
  EXPECT_TRUE(host.config().get_bool("vacuum"));
}

TEST_F(IniTest, UnknownKeyInIniIsAWarningNamingFileAndLine) {
  // uWSGI keeps a key no option owns as a custom placeholder; nothing uses it: one warning line.
  std::string p = write("a.ini", "[uwsgi]\nmaster = true\n\nfrobnicate = 3\n");
  ASSERT_TRUE(parse_ini(p)) << err;
  ASSERT_EQ(host.store().warnings().size(), 1u);
  EXPECT_NE(host.store().warnings()[0].find("frobnicate"), std::string::npos);
  EXPECT_NE(host.store().warnings()[0].find(p + ":4"), std::string::npos);
}

TEST_F(IniTest, UnknownKeyInIniIsAnErrorUnderStrict) {
  std::string p = write("a.ini", "[uwsgi]\nstrict = true\nmaster = true\n\nfrobnicate = 3\n");
  EXPECT_FALSE(parse_ini(p));
  EXPECT_NE(err.find("frobnicate"), std::string::npos) << err;
  EXPECT_NE(err.find(p + ":5"), std::string::npos) << err;
}

TEST_F(IniTest, CustomKeysUsedAsPlaceholdersAreNotOptions) {
  // uWSGI's usual style: `base = /srv/app` then `chdir = %(base)`.
  std::string p = write("a.ini", "[uwsgi]\nbase = /srv/app\nport = 9\nchdir = %(base)/x\n"
                                 "http-socket = 127.0.0.1:%(port)\n");
  ASSERT_TRUE(read(p)) << err;
  EXPECT_TRUE(out[0].placeholder);
  EXPECT_TRUE(out[1].placeholder);
  EXPECT_FALSE(out[2].placeholder);
  ASSERT_TRUE(parse_ini(p)) << err;
  EXPECT_EQ(host.config().get("chdir"), "/srv/app/x");
  EXPECT_EQ(host.config().get("http-socket"), "127.0.0.1:9");
  EXPECT_FALSE(host.config().has("base"));
  EXPECT_TRUE(host.store().warnings().empty());
}

TEST_F(IniTest, UnusedCustomKeyIsWarnedAbout) {
  std::string p = write("a.ini", "[uwsgi]\nbase = /srv\ntypo-option = 1\nchdir = %(base)\n");
  ASSERT_TRUE(parse_ini(p)) << err;
  ASSERT_EQ(host.store().warnings().size(), 1u);
  EXPECT_NE(host.store().warnings()[0].find("typo-option"), std::string::npos);
  EXPECT_NE(host.store().warnings()[0].find(p + ":3"), std::string::npos);
}

TEST_F(IniTest, BadNumberInIniNamesFileAndLine) {
  std::string p = write("a.ini", "[uwsgi]\nprocesses = many\n");
  EXPECT_FALSE(parse_ini(p));
  EXPECT_NE(err.find("--processes"), std::string::npos) << err;
  EXPECT_NE(err.find(p + ":2"), std::string::npos) << err;
}

TEST_F(IniTest, NestedIni) {
  std::string inner = write("inner.ini", "[uwsgi]\nprocesses = 4\nhttp-socket = :2\n");
  std::string outer = write("outer.ini", "[uwsgi]\nhttp-socket = :1\nini = " + inner + "\nmaster = true\n");
  ASSERT_TRUE(parse_ini(outer)) << err;
  const uwsgi::Config& c = host.config();
  EXPECT_EQ(c.all("http-socket"), (std::vector<std::string>{":1", ":2"}));
  EXPECT_EQ(c.get_int("processes", 0), 4);
  EXPECT_TRUE(c.get_bool("master"));
}

TEST_F(IniTest, NestedIniRelativeToTheOuterFileWithMagicDir) {
  write("inner.ini", "[prod]\nprocesses = 6\n");
  std::string outer = write("outer.ini", "[uwsgi]\nini = %dinner.ini:prod\n");
  ASSERT_TRUE(parse_ini(outer)) << err;
  EXPECT_EQ(host.config().get_int("processes", 0), 6);
}

TEST_F(IniTest, SelfIncludingIniIsRefused) {
  std::string p = dir + "/loop.ini";
  write("loop.ini", "[uwsgi]\nini = " + p + "\n");
  EXPECT_FALSE(parse_ini(p));
  EXPECT_NE(err.find("loop.ini"), std::string::npos) << err;
}

TEST_F(IniTest, CommandLineAfterIniWins) {
  std::string p = write("a.ini", "[uwsgi]\nprocesses = 3\n");
  uwsgi::register_core_options(host);
  std::vector<std::string> s = {"uwsgi", "--ini", p, "--processes", "7"};
  std::vector<char*> a;
  for (auto& x : s) a.push_back(x.data());
  ASSERT_TRUE(uwsgi::parse_config((int)s.size(), a.data(), host.registry(), &host.store(), &err)) << err;
  EXPECT_EQ(host.config().get_int("processes", 0), 7);
}

TEST_F(IniTest, PositionalIniPath) {
  std::string p = write("pos.ini", "[uwsgi]\nprocesses = 5\n[other]\nprocesses = 9\n");
  uwsgi::register_core_options(host);
  std::vector<std::string> s = {"uwsgi", p + ":other"};
  std::vector<char*> a;
  for (auto& x : s) a.push_back(x.data());
  ASSERT_TRUE(uwsgi::parse_config((int)s.size(), a.data(), host.registry(), &host.store(), &err)) << err;
  EXPECT_EQ(host.config().get_int("processes", 0), 9);
}

}  // namespace

// log-format values use %(name) for log variables: names no earlier key defines stay as written.
TEST_F(IniTest, LogFormatKeepsLogVariables) {
  ASSERT_TRUE(read(write("a.ini", "[uwsgi]\ntag = web\nlog-format = %(tag) %(addr) [%(ltime)]\n"
                                  "logformat = %(status)\n")))
      << err;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].value, "web %(addr) [%(ltime)]");
  EXPECT_EQ(out[2].value, "%(status)");
}
