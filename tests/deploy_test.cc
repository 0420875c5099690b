// The deploy/ files (deploy/README.md): every systemd unit passes
// `systemd-analyze verify`; every Kubernetes manifest parses, and the
// references between them (Service selectors and ports, probes, volumes,
// ConfigMap and Secret keys, mount paths of the configured files) hold;
// the Containerfile's stages are Debian 12 and its runtime user is not root;
// and every command these files run is run here, with the flags they use,
// against the binaries just built: custodiand with --check-config, the
// review job's custodianctl against a real in-process server.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/authenticator.h"
#include "server/custodian_server.h"
#include "tests/server_testing.h"
#include "tests/subprocess_testing.h"

namespace custodian::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::ReadFile;
using testing::RunProcess;
using testing::TempDir;
using testing::TestOptions;

constexpr char kCustodiand[] = CUSTODIAND_PATH;
constexpr char kCustodianctl[] = CUSTODIANCTL_PATH;
// Where the deploy files install the binaries.
constexpr char kInstalledCustodiand[] = "/usr/local/bin/custodiand";
constexpr char kInstalledCustodianctl[] = "/usr/local/bin/custodianctl";

std::string Source(const std::string& path) {
  return absl::StrCat(testing::kSourceDir, "/", path);
}

std::string WriteFile(const TempDir& dir, const std::string& name,
                      const std::string& text) {
  std::string path = absl::StrCat(dir.path(), "/", name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Replaces every argument equal to `from` with `to`; fails the test when
// there is none.
void ReplaceArg(std::vector<std::string>* args, const std::string& from,
                const std::string& to) {
  bool found = false;
  for (std::string& arg : *args) {
    if (arg == from) {
      arg = to;
      found = true;
    }
  }
  EXPECT_TRUE(found) << from << " is not in " << absl::StrJoin(*args, " ");
}

// ---- systemd -----------------------------------------------------------

struct UnitEntry {
  std::string section;
  std::string key;
  std::string value;
};

// The entries of a unit file, in order (comments and blank lines skipped).
// Our units use no line continuations or quoting, and this says so.
std::vector<UnitEntry> ParseUnit(const std::string& path) {
  std::vector<UnitEntry> entries;
  std::string section;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    EXPECT_FALSE(absl::EndsWith(line, "\\")) << path << ":" << number;
    if (line[0] == '[') {
      EXPECT_TRUE(absl::EndsWith(line, "]")) << path << ":" << number;
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    size_t equals = line.find('=');
    EXPECT_NE(equals, absl::string_view::npos) << path << ":" << number;
    if (equals == absl::string_view::npos) continue;
    EXPECT_FALSE(section.empty()) << path << ":" << number;
    entries.push_back({section, std::string(line.substr(0, equals)),
                       std::string(line.substr(equals + 1))});
  }
  return entries;
}

std::vector<std::string> Values(const std::vector<UnitEntry>& entries,
                                const std::string& section,
                                const std::string& key) {
  std::vector<std::string> values;
  for (const UnitEntry& e : entries) {
    if (e.section == section && e.key == key) values.push_back(e.value);
  }
  return values;
}

std::vector<std::string> SplitCommand(const std::string& command) {
  EXPECT_EQ(command.find_first_of("\"'"), std::string::npos)
      << "quoting is not handled here: " << command;
  return absl::StrSplit(command, ' ', absl::SkipEmpty());
}

const char* const kUnits[] = {"custodiand.service", "custodian-review.service",
                              "custodian-review.timer"};

TEST(DeploySystemdTest, EveryUnitPassesSystemdAnalyzeVerify) {
  // systemd-analyze checks that every Exec*= binary exists: point the
  // installed paths at the binaries just built.
  TempDir dir;
  std::vector<std::string> argv = {"systemd-analyze", "verify"};
  for (const char* unit : kUnits) {
    std::string text = ReadFile(Source(absl::StrCat("deploy/systemd/", unit)));
    absl::StrReplaceAll({{kInstalledCustodiand, kCustodiand},
                         {kInstalledCustodianctl, kCustodianctl}},
                        &text);
    argv.push_back(WriteFile(dir, unit, text));
  }
  testing::ProcessResult verify = RunProcess(argv);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  // Warnings (an unknown key, a bad value) do not change the exit code.
  EXPECT_THAT(verify.output, IsEmpty());
}

TEST(DeploySystemdTest,
     ServiceIsHardenedWithAStateDirectoryAndTheTimerIsDaily) {
  std::vector<UnitEntry> service =
      ParseUnit(Source("deploy/systemd/custodiand.service"));
  for (const auto& [key, want] :
       std::vector<std::pair<std::string, std::string>>{
           {"User", "custodian"},
           {"Group", "custodian"},
           {"StateDirectory", "custodian"},
           {"ProtectSystem", "strict"},
           {"NoNewPrivileges", "yes"},
           {"ProtectHome", "yes"},
           {"PrivateTmp", "yes"},
           {"RestartPreventExitStatus", "2"}}) {
    EXPECT_THAT(Values(service, "Service", key), ::testing::ElementsAre(want))
        << key;
  }
  std::vector<UnitEntry> timer =
      ParseUnit(Source("deploy/systemd/custodian-review.timer"));
  EXPECT_THAT(Values(timer, "Timer", "Unit"),
              ::testing::ElementsAre("custodian-review.service"));
  std::vector<std::string> calendar = Values(timer, "Timer", "OnCalendar");
  ASSERT_EQ(calendar.size(), 1u);
  testing::ProcessResult next =
      RunProcess({"systemd-analyze", "calendar", calendar[0]});
  EXPECT_EQ(next.exit_code, 0) << next.output;
  EXPECT_THAT(next.output, HasSubstr("02:00:00"));
}

TEST(DeploySystemdTest, SysusersCreatesTheServiceUser) {
  TempDir root;
  std::filesystem::create_directories(root.path() + "/etc");
  testing::ProcessResult run = RunProcess(
      {"systemd-sysusers", "--dry-run", absl::StrCat("--root=", root.path()),
       Source("deploy/systemd/custodian.sysusers.conf")});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("Creating user 'custodian'"));
}

// custodiand's command lines in the unit run with the sample config.
TEST(DeploySystemdTest, CustodiandCommandsAcceptTheirFlagsAndTheSampleConfig) {
  std::vector<UnitEntry> service =
      ParseUnit(Source("deploy/systemd/custodiand.service"));
  std::vector<std::string> commands =
      Values(service, "Service", "ExecStartPre");
  std::vector<std::string> start = Values(service, "Service", "ExecStart");
  ASSERT_EQ(commands.size(), 1u);
  ASSERT_EQ(start.size(), 1u);
  commands.push_back(start[0]);
  for (const std::string& command : commands) {
    std::vector<std::string> args = SplitCommand(command);
    ASSERT_EQ(args[0], kInstalledCustodiand);
    args[0] = kCustodiand;
    ReplaceArg(&args, "/etc/custodian/custodiand.yaml",
               Source("deploy/config/custodiand.yaml"));
    if (std::find(args.begin(), args.end(), "--check-config") == args.end()) {
      args.push_back("--check-config");
    }
    testing::ProcessResult run = RunProcess(args);
    EXPECT_EQ(run.exit_code, 0) << command << "\n" << run.output;
    EXPECT_THAT(run.output, HasSubstr("options are valid"));
    EXPECT_THAT(run.output, HasSubstr("health_listen_address 0.0.0.0:8081"));
  }
}

TEST(DeploySystemdTest, CheckConfigRefusesABadConfigWithExitCode2) {
  TempDir dir;
  std::string bad = WriteFile(dir, "bad.yaml", "listen_address: nowhere\n");
  testing::ProcessResult run =
      RunProcess({kCustodiand, "--config", bad, "--check-config"});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("listen_address \"nowhere\""));
}

// A real server the review job's custodianctl talks to, and a custodianctl
// config file naming it (plaintext, local development mode).
class ReviewJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<CustodianServer>> server =
        CustodianServer::Create(TestOptions(dir_, &clock_));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    config_ = WriteFile(dir_, "custodianctl.yaml",
                        absl::StrCat("current_context: test\n"
                                     "contexts:\n"
                                     "  - name: test\n"
                                     "    server: ",
                                     server_->address(), "\n"));
  }

  // Runs `command` (the job's argv) with custodianctl's config replaced.
  void ExpectTheJobSucceeds(std::vector<std::string> args,
                            const std::string& installed_config) {
    ASSERT_FALSE(args.empty());
    ASSERT_EQ(args[0], kInstalledCustodianctl);
    args[0] = kCustodianctl;
    ReplaceArg(&args, installed_config, config_);
    testing::ProcessResult run = RunProcess(args);
    EXPECT_EQ(run.exit_code, 0) << absl::StrJoin(args, " ") << "\n"
                                << run.output;
    EXPECT_THAT(run.output, Not(IsEmpty()));
  }

  TempDir dir_;
  ManualClock clock_{testing::T0()};
  std::unique_ptr<CustodianServer> server_;
  std::string config_;
};

TEST_F(ReviewJobTest, TheTimersReviewCommandRunsAReviewToTheEnd) {
  std::vector<UnitEntry> service =
      ParseUnit(Source("deploy/systemd/custodian-review.service"));
  std::vector<std::string> start = Values(service, "Service", "ExecStart");
  ASSERT_EQ(start.size(), 1u);
  ExpectTheJobSucceeds(SplitCommand(start[0]),
                       "/etc/custodian/custodianctl.yaml");
}

// ---- Kubernetes ----------------------------------------------------------

// Every document of every manifest in deploy/k8s, by kind and name.
class DeployKubernetesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& entry :
         std::filesystem::directory_iterator(Source("deploy/k8s"))) {
      if (entry.path().extension() != ".yaml") continue;
      std::string file = entry.path().filename().string();
      files_.insert(file);
      std::vector<YAML::Node> documents;
      try {
        documents = YAML::LoadAllFromFile(entry.path().string());
      } catch (const YAML::Exception& e) {
        ADD_FAILURE() << file << ": " << e.what();
        continue;
      }
      for (const YAML::Node& doc : documents) {
        ASSERT_TRUE(doc["apiVersion"] && doc["kind"]) << file;
        std::string kind = doc["kind"].as<std::string>();
        if (kind == "Kustomization") {
          kustomization_ = doc;
          continue;
        }
        ASSERT_TRUE(doc["metadata"]["name"]) << file << " " << kind;
        std::string name = doc["metadata"]["name"].as<std::string>();
        EXPECT_FALSE(name.empty()) << file;
        EXPECT_TRUE(objects_.emplace(kind + "/" + name, doc).second)
            << kind << "/" << name << " is defined twice";
        file_of_[kind + "/" + name] = file;
      }
    }
  }

  YAML::Node Get(const std::string& kind_and_name) {
    auto it = objects_.find(kind_and_name);
    EXPECT_NE(it, objects_.end()) << kind_and_name << " is not defined";
    return it == objects_.end() ? YAML::Node() : it->second;
  }

  // The pod spec's volumes and mounts refer to each other and to defined
  // ConfigMaps and Secrets (with the keys they pick); returns mount path by
  // volume name.
  std::map<std::string, std::string> CheckVolumes(
      const YAML::Node& pod, const YAML::Node& container,
      const YAML::Node& claim_templates) {
    std::set<std::string> volumes;
    for (const YAML::Node& v : pod["volumes"]) {
      std::string name = v["name"].as<std::string>();
      volumes.insert(name);
      if (v["configMap"]) {
        Get("ConfigMap/" + v["configMap"]["name"].as<std::string>());
      }
      if (v["secret"]) {
        YAML::Node secret =
            Get("Secret/" + v["secret"]["secretName"].as<std::string>());
        for (const YAML::Node& item : v["secret"]["items"]) {
          std::string key = item["key"].as<std::string>();
          EXPECT_TRUE(secret["stringData"][key]) << "secret key " << key;
        }
      }
    }
    for (const YAML::Node& t : claim_templates) {
      volumes.insert(t["metadata"]["name"].as<std::string>());
    }
    std::map<std::string, std::string> mounts;
    for (const YAML::Node& m : container["volumeMounts"]) {
      std::string name = m["name"].as<std::string>();
      EXPECT_TRUE(volumes.count(name)) << "mount of undefined volume " << name;
      mounts[name] = m["mountPath"].as<std::string>();
    }
    return mounts;
  }

  // Every file path `config` (YAML) names under /etc or /var lies in a mount.
  void CheckPathsAreMounted(const std::string& config,
                            const std::map<std::string, std::string>& mounts) {
    YAML::Node node = YAML::Load(config);
    for (const auto& option : node) {
      std::string key = option.first.as<std::string>();
      std::string value = option.second.as<std::string>();
      if (!absl::StartsWith(value, "/")) continue;
      bool mounted = false;
      for (const auto& [volume, path] : mounts) {
        mounted = mounted || absl::StartsWith(value, path + "/");
      }
      EXPECT_TRUE(mounted) << key << ": " << value
                           << " is in no mounted volume";
    }
  }

  std::set<std::string> files_;
  YAML::Node kustomization_;
  std::map<std::string, YAML::Node> objects_;
  std::map<std::string, std::string> file_of_;
};

TEST_F(DeployKubernetesTest,
       KustomizationListsEveryManifestButTheSecretSample) {
  ASSERT_TRUE(kustomization_);
  std::set<std::string> listed;
  for (const YAML::Node& r : kustomization_["resources"]) {
    listed.insert(r.as<std::string>());
  }
  std::set<std::string> want = files_;
  want.erase("kustomization.yaml");
  want.erase("secret.example.yaml");
  EXPECT_EQ(listed, want);
  EXPECT_EQ(kustomization_["namespace"].as<std::string>(), "custodian");
  Get("Namespace/custodian");
}

TEST_F(DeployKubernetesTest,
       StatefulSetIsOneNonRootReplicaWithAVolumeAndProbes) {
  YAML::Node set = Get("StatefulSet/custodian");
  ASSERT_TRUE(set);
  EXPECT_EQ(set["spec"]["replicas"].as<int>(), 1);
  YAML::Node pod = set["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_NE(pod["securityContext"]["runAsUser"].as<int>(), 0);
  // The selector picks the template's pods, and both Services select them.
  YAML::Node labels = set["spec"]["template"]["metadata"]["labels"];
  for (const auto& l : set["spec"]["selector"]["matchLabels"]) {
    EXPECT_EQ(labels[l.first.as<std::string>()].as<std::string>(),
              l.second.as<std::string>());
  }
  YAML::Node headless =
      Get("Service/" + set["spec"]["serviceName"].as<std::string>());
  EXPECT_EQ(headless["spec"]["clusterIP"].as<std::string>(), "None");
  ASSERT_EQ(pod["containers"].size(), 1u);
  YAML::Node container = pod["containers"][0];
  std::map<std::string, int> ports;
  for (const YAML::Node& p : container["ports"]) {
    ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  }
  for (const char* service :
       {"Service/custodian", "Service/custodian-headless"}) {
    YAML::Node s = Get(service);
    for (const auto& l : s["spec"]["selector"]) {
      EXPECT_EQ(labels[l.first.as<std::string>()].as<std::string>(),
                l.second.as<std::string>())
          << service;
    }
    for (const YAML::Node& p : s["spec"]["ports"]) {
      EXPECT_TRUE(ports.count(p["targetPort"].as<std::string>())) << service;
    }
  }
  // The probes use the plaintext health port the config opens.
  YAML::Node config = Get("ConfigMap/custodian-config");
  YAML::Node server_config =
      YAML::Load(config["data"]["custodiand.yaml"].as<std::string>());
  std::string health = server_config["health_listen_address"].as<std::string>();
  int health_port = std::stoi(health.substr(health.rfind(':') + 1));
  EXPECT_EQ(ports["health"], health_port);
  for (const char* probe :
       {"startupProbe", "readinessProbe", "livenessProbe"}) {
    ASSERT_TRUE(container[probe]["grpc"]) << probe;
    EXPECT_EQ(container[probe]["grpc"]["port"].as<int>(), health_port) << probe;
  }
  std::map<std::string, std::string> mounts =
      CheckVolumes(pod, container, set["spec"]["volumeClaimTemplates"]);
  EXPECT_EQ(mounts["data"], "/var/lib/custodian");
  CheckPathsAreMounted(config["data"]["custodiand.yaml"].as<std::string>(),
                       mounts);
}

TEST_F(DeployKubernetesTest, CustodiandArgsAcceptTheConfigMapsConfig) {
  YAML::Node set = Get("StatefulSet/custodian");
  ASSERT_TRUE(set);
  YAML::Node container = set["spec"]["template"]["spec"]["containers"][0];
  std::vector<std::string> args = {kCustodiand};
  for (const YAML::Node& a : container["args"]) {
    args.push_back(a.as<std::string>());
  }
  TempDir dir;
  YAML::Node config = Get("ConfigMap/custodian-config");
  ReplaceArg(&args, "/etc/custodian/config/custodiand.yaml",
             WriteFile(dir, "custodiand.yaml",
                       config["data"]["custodiand.yaml"].as<std::string>()));
  args.push_back("--check-config");
  testing::ProcessResult run = RunProcess(args);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("options are valid"));
}

TEST_F(DeployKubernetesTest, ConfigMapCarriesTheSampleRosterAndRuleset) {
  YAML::Node data = Get("ConfigMap/custodian-config")["data"];
  EXPECT_EQ(data["ruleset.yaml"].as<std::string>(),
            ReadFile(Source("examples/ruleset.yaml")));
  EXPECT_EQ(data["roster.yaml"].as<std::string>(),
            ReadFile(Source("examples/roster.yaml")));
}

TEST_F(DeployKubernetesTest, SampleTokenFilesLoad) {
  TempDir dir;
  ManualClock clock(testing::T0());
  for (const std::string& path :
       {Source("deploy/config/tokens.example.yaml"),
        WriteFile(
            dir, "tokens.yaml",
            Get("Secret/custodian-credentials")["stringData"]["tokens.yaml"]
                .as<std::string>())}) {
    AuthOptions options;
    options.token_file = path;
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Create(options, &clock);
    EXPECT_TRUE(auth.ok()) << path << ": " << auth.status();
  }
  // The review job's token is the one the token file lists for it.
  YAML::Node secret = Get("Secret/custodian-credentials")["stringData"];
  EXPECT_THAT(
      secret["tokens.yaml"].as<std::string>(),
      HasSubstr(TokenSha256Hex(secret["review-token"].as<std::string>())));
}

TEST_F(DeployKubernetesTest, CronJobMountsWhatItsConfigNames) {
  YAML::Node job = Get("CronJob/custodian-review");
  ASSERT_TRUE(job);
  EXPECT_EQ(job["spec"]["concurrencyPolicy"].as<std::string>(), "Forbid");
  YAML::Node pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
  std::map<std::string, std::string> mounts =
      CheckVolumes(pod, pod["containers"][0], YAML::Node());
  YAML::Node ctl =
      YAML::Load(Get("ConfigMap/custodian-config")["data"]["custodianctl.yaml"]
                     .as<std::string>());
  for (const YAML::Node& context : ctl["contexts"]) {
    for (const char* key : {"ca", "token_file"}) {
      std::string path = context[key].as<std::string>();
      bool mounted = false;
      for (const auto& [volume, dir] : mounts) {
        mounted = mounted || absl::StartsWith(path, dir + "/");
      }
      EXPECT_TRUE(mounted) << key << ": " << path;
    }
  }
}

class DeployCronJobTest : public ReviewJobTest {};

TEST_F(DeployCronJobTest, TheCronJobsReviewCommandRunsAReviewToTheEnd) {
  YAML::Node job = YAML::LoadFile(Source("deploy/k8s/cronjob-review.yaml"));
  std::vector<std::string> args;
  for (const YAML::Node& a : job["spec"]["jobTemplate"]["spec"]["template"]
                                ["spec"]["containers"][0]["command"]) {
    args.push_back(a.as<std::string>());
  }
  ExpectTheJobSucceeds(args, "/etc/custodian/config/custodianctl.yaml");
}

// ---- the container -------------------------------------------------------

TEST(DeployContainerTest, StagesAreDebian12AndTheRuntimeUserIsNotRoot) {
  std::string text = ReadFile(Source("deploy/container/Containerfile"));
  std::vector<std::string> stages;
  std::string user;
  std::vector<std::string> cmd;
  std::string entrypoint;
  // Instructions, with continuation lines joined.
  std::string joined = absl::StrReplaceAll(text, {{"\\\n", " "}});
  for (absl::string_view line : absl::StrSplit(joined, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    const std::string& op = words[0];
    if (op == "FROM") {
      stages.push_back(words[1]);
      user.clear();
    } else if (op == "USER") {
      user = words[1];
    } else if (op == "COPY" && !absl::StartsWith(words[1], "--from")) {
      // Sources from the build context exist in the repository.
      for (size_t i = 1; i + 1 < words.size(); ++i) {
        EXPECT_TRUE(std::filesystem::exists(Source(words[i]))) << words[i];
      }
    } else if (op == "ENTRYPOINT" || op == "CMD") {
      // Exec form: a JSON list, which YAML reads too.
      YAML::Node list = YAML::Load(std::string(line.substr(op.size())));
      EXPECT_TRUE(list.IsSequence()) << op << " is not in exec form";
      std::vector<std::string> words_of_list;
      for (const YAML::Node& a : list) {
        words_of_list.push_back(a.as<std::string>());
      }
      if (op == "CMD") {
        cmd = words_of_list;
      } else if (!words_of_list.empty()) {
        entrypoint = words_of_list[0];
      }
    }
  }
  ASSERT_EQ(stages.size(), 2u);
  for (const std::string& stage : stages) EXPECT_EQ(stage, "debian:12");
  EXPECT_FALSE(user.empty());
  EXPECT_NE(user.substr(0, user.find(':')), "0");
  EXPECT_NE(user.substr(0, user.find(':')), "root");
  EXPECT_EQ(entrypoint, kInstalledCustodiand);
  // The default command's flags are custodiand's.
  std::vector<std::string> args = {kCustodiand};
  args.insert(args.end(), cmd.begin(), cmd.end());
  args.push_back("--check-config");
  testing::ProcessResult run = RunProcess(args);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST(DeployContainerTest, RuntimePackagesAreTheInstalledOwnersOfTheLibraries) {
  testing::ProcessResult list =
      RunProcess({"bash", Source("deploy/container/runtime-packages.sh"),
                  kCustodiand, kCustodianctl});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  std::vector<std::string> packages =
      absl::StrSplit(list.output, '\n', absl::SkipEmpty());
  EXPECT_THAT(packages, ::testing::Contains("libc6"));
  EXPECT_THAT(packages, ::testing::Contains(::testing::StartsWith("libgrpc")));
  for (const std::string& package : packages) {
    testing::ProcessResult installed =
        RunProcess({"dpkg-query", "-W", "-f=${Status}", package});
    EXPECT_EQ(installed.output, "install ok installed") << package;
  }
}

}  // namespace
}  // namespace custodian::server
