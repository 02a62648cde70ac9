// Data-parallel training end to end (training.distributed, `train --devices cpu:N`): the real
// binary launches one process per rank, the ranks meet over c10d's TCPStore and all-reduce with
// ProcessGroupGloo. Checked against one process training the global batch.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::EntrenarBinary;
using entrenar::testing::LossByStep;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;

const std::string kSource = ENTRENAR_SOURCE_DIR;

// `rows` digits as train.csv (and val.csv), and an MLP on them (with batch norm: its running
// statistics are buffers), batches of 32, shuffled.
std::string Digits(const std::string& dir, int rows, bool batchnorm = false) {
  std::ifstream in(kSource + "/examples/data/digits.csv");
  std::ofstream out(dir + "/train.csv");
  std::string line;
  for (int i = 0; i <= rows && std::getline(in, line); ++i) out << line << "\n";
  out.close();
  if (!fs::exists(dir + "/val.csv")) fs::copy_file(dir + "/train.csv", dir + "/val.csv");
  const std::string file = dir + "/m.yaml";
  std::ofstream(file) << "entrenar: \"1.0\"\nname: ddp\nversion: \"1\"\nseed: 3\n"
                         "data:\n  train: train.csv\n  val: val.csv\n  target: label\n"
                         "  loader: {batch_size: 32, shuffle: true}\n"
                         "model:\n  architecture:\n    type: sequential\n    layers:\n"
                         "      - linear: {in_features: 64, out_features: 48}\n"
                      << (batchnorm ? "      - batchnorm: {num_features: 48}\n" : "")
                      << "      - activation: relu\n"
                         "      - linear: {in_features: 48, out_features: 10}\n"
                         "optimizer: {name: adam, lr: 0.003}\n"
                         "training:\n  max_steps: 200\n  checkpoint: {save_every: 200}\n"
                         "output:\n  dir: run\n";
  return file;
}

nlohmann::json Weights(const std::string& path) {
  ProcessResult py = RunProcess(
      {"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read", path});
  REQUIRE(py.exit_code == 0);
  nlohmann::json w = nlohmann::json::parse(py.out);
  w.erase("__metadata__");
  return w;
}

// The largest difference between two weight files' values, relative to the largest value.
double WeightDifference(const nlohmann::json& a, const nlohmann::json& b) {
  double diff = 0, scale = 0;
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a.items()) {
    const auto& x = t["values"];
    const auto& y = b.at(name)["values"];
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      diff = std::max(diff, std::abs(x[i].get<double>() - y[i].get<double>()));
      scale = std::max(scale, std::abs(x[i].get<double>()));
    }
  }
  return diff / scale;
}

// The largest relative difference between two runs' per-step losses (the same steps).
double LossDifference(const std::map<std::int64_t, double>& a,
                      const std::map<std::int64_t, double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (const auto& [step, loss] : a) {
    REQUIRE(b.count(step) == 1);
    worst = std::max(worst, std::abs(loss - b.at(step)) / std::abs(loss));
  }
  return worst;
}

TEST_CASE(
    "train --devices cpu:2: 2 ranks x 16 train as 1 process x 32, with and without "
    "accumulation",
    "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 512);
  ProcessResult one = Train({m, "--output", dir.path + "/one"});
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  ProcessResult two = Train({m, "--devices", "cpu:2", "--set", "data.loader.batch_size=16",
                             "--output", dir.path + "/two"});
  INFO(two.err);
  REQUIRE(two.exit_code == 0);
  const auto reference = LossByStep(dir.path + "/one/metrics.jsonl");
  REQUIRE(reference.size() == 200);
  const auto ddp = LossByStep(dir.path + "/two/metrics.jsonl");
  CHECK(LossDifference(reference, ddp) < 1e-5);
  CHECK(WeightDifference(Weights(dir.path + "/one/model.safetensors"),
                         Weights(dir.path + "/two/model.safetensors")) < 1e-5);
  // The run says what it did, and its losses are not one process's batch of 16.
  CHECK(two.err.find("on 2 ranks (256 samples and batches of 16 each, a global batch of 32)") !=
        std::string::npos);
  ProcessResult sixteen = Train({m, "--set", "data.loader.batch_size=16", "--set",
                                 "training.max_steps=20", "--output", dir.path + "/sixteen"});
  REQUIRE(sixteen.exit_code == 0);
  CHECK(LossByStep(dir.path + "/sixteen/metrics.jsonl").at(20) != reference.at(20));

  // Accumulation: 2 ranks x 2 micro-batches of 8 are the same global batch of 32.
  ProcessResult accumulated =
      Train({m, "--devices", "cpu:2", "--set", "data.loader.batch_size=8", "--set",
             "training.gradient.accumulation_steps=2", "--output", dir.path + "/accumulated"});
  INFO(accumulated.err);
  REQUIRE(accumulated.exit_code == 0);
  CHECK(LossDifference(reference, LossByStep(dir.path + "/accumulated/metrics.jsonl")) < 1e-5);
  CHECK(WeightDifference(Weights(dir.path + "/one/model.safetensors"),
                         Weights(dir.path + "/accumulated/model.safetensors")) < 1e-5);

  // The same world size twice: the same losses, bit for bit.
  ProcessResult again = Train({m, "--devices", "cpu:2", "--set", "data.loader.batch_size=16",
                               "--output", dir.path + "/again"});
  REQUIRE(again.exit_code == 0);
  CHECK(LossByStep(dir.path + "/again/metrics.jsonl") == ddp);
  // Rank 0 alone wrote the run; every step's row is there once, with its all-reduce time.
  const std::string row = Slurp(dir.path + "/two/metrics.jsonl");
  CHECK(row.find("allreduce_seconds") != std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/two/summary.json"));
  CHECK(summary["steps"] == 200);
}

TEST_CASE(
    "train --devices cpu:2: a stopped run checkpoints on every rank's step and resumes "
    "exactly",
    "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 512, /*batchnorm=*/true);
  const std::vector<std::string> ddp = {m, "--devices", "cpu:2", "--set",
                                        "data.loader.batch_size=16"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = ddp;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  REQUIRE(Train(with({"--set", "training.max_steps=60", "--set",
                      "training.checkpoint.save_every=20", "--output", dir.path + "/full"}))
              .exit_code == 0);
  const auto reference = LossByStep(dir.path + "/full/metrics.jsonl");
  REQUIRE(reference.size() == 60);
  const nlohmann::json state =
      nlohmann::json::parse(Slurp(dir.path + "/full/checkpoints/step-20/state.json"));
  CHECK(state["world_size"] == 2);
  // Step 20 is mid-epoch (16 steps per epoch): each rank continues its own shard.
  ProcessResult resumed =
      Train(with({"--set", "training.max_steps=60", "--resume",
                  dir.path + "/full/checkpoints/step-20", "--output", dir.path + "/resumed"}));
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  const auto again = LossByStep(dir.path + "/resumed/metrics.jsonl");
  REQUIRE(again.size() == 40);
  for (const auto& [step, loss] : again) CHECK(loss == reference.at(step));
  // Another world size cannot continue mid-epoch: it says so, naming the key.
  ProcessResult other =
      Train({m, "--set", "training.max_steps=60", "--resume",
             dir.path + "/full/checkpoints/step-20", "--output", dir.path + "/other"});
  CHECK(other.exit_code == 1);
  CHECK(other.err.find("was written by a run of 2 rank(s), and this run has 1: a step is a batch "
                       "of every rank") != std::string::npos);

  // SIGINT to the launcher: the ranks agree on the step, rank 0 checkpoints, all exit 0.
  entrenar::testing::BackgroundProcess p(
      [&] {
        std::vector<std::string> a = {EntrenarBinary(), "train"};
        for (const std::string& s :
             with({"--set", "training.max_steps=100000", "--output", dir.path + "/stopped"}))
          a.push_back(s);
        return a;
      }(),
      dir.path + "/out.txt", dir.path + "/err.txt");
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(entrenar::testing::TimeLimit(120));
  while (std::chrono::steady_clock::now() < deadline &&
         LossByStep(dir.path + "/stopped/metrics.jsonl").size() < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  p.Signal(SIGINT);
  INFO(Slurp(dir.path + "/err.txt"));
  REQUIRE(p.Wait(120) == 0);
  const nlohmann::json stopped = nlohmann::json::parse(Slurp(dir.path + "/stopped/summary.json"));
  CHECK(stopped["stopped"] == true);
  const std::int64_t steps = stopped["steps"].get<std::int64_t>();
  const std::string checkpoint = dir.path + "/stopped/checkpoints/step-" + std::to_string(steps);
  REQUIRE(fs::exists(checkpoint + "/state.json"));
  CHECK(LossByStep(dir.path + "/stopped/metrics.jsonl").size() == static_cast<std::size_t>(steps));
}

TEST_CASE("train --devices cpu:2: a rank that dies or hangs ends the whole run in bounded time",
          "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 512);
  for (const int how : {SIGKILL, SIGSTOP}) {
    INFO("signal " << how);
    const std::string run = dir.path + "/run-" + std::to_string(how);
    entrenar::testing::BackgroundProcess p(
        {"/usr/bin/env", "ENTRENAR_COLLECTIVE_TIMEOUT=3", EntrenarBinary(), "train", m, "--devices",
         "cpu:2", "--set", "training.max_steps=1000000", "--output", run},
        run + ".out", run + ".err");
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(entrenar::testing::TimeLimit(120));
    while (std::chrono::steady_clock::now() < deadline &&
           LossByStep(run + "/metrics.jsonl").size() < 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // env execs entrenar, which execs entrenar-train: the launcher is p itself.
    std::vector<int> ranks = entrenar::testing::ChildrenOf(p.pid());
    REQUIRE(ranks.size() == 2);
    kill(ranks[1], how);  // rank 1: forked second
    const auto killed = std::chrono::steady_clock::now();
    const std::optional<int> status = p.WaitStatus(60);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    INFO(Slurp(run + ".err"));
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 8);
    CHECK(took < entrenar::testing::TimeLimit(20));
    const std::string err = Slurp(run + ".err");
    // Rank 0 finds the loss in its next collective (a closed connection, or its timeout), and
    // the launcher may see either rank end first.
    const bool told = err.find("rank 1 was killed by signal 9; stopping the other 1 rank(s)") !=
                          std::string::npos ||
                      err.find("another rank died, hung or stopped (collective timeout 3 s)") !=
                          std::string::npos;
    CHECK(told);
    if (how == SIGSTOP) {
      CHECK(err.find("another rank died, hung or stopped (collective timeout 3 s)") !=
            std::string::npos);
    }
    for (int r : ranks) CHECK(kill(r, 0) != 0);  // no rank left behind
  }
}

// A port on 127.0.0.1 held open (listening) while the object lives.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(fd_, 1) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// `entrenar train` as one rank started by hand (as torchrun or srun would).
ProcessResult TrainAsRank(const std::vector<std::string>& env, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {EntrenarBinary(), "train"});
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, "", 120);
}

TEST_CASE("plan and train --dry-run show the ranks, the per-rank and the global batch",
          "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 512);
  ProcessResult plan = RunProcess(
      {EntrenarBinary(), "plan", m, "--set", "training.distributed.world_size=2"}, "", 60);
  INFO(plan.out + plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("batches     32 per rank (64 across 2 ranks)") != std::string::npos);
  CHECK(plan.out.find("ranks       2 data-parallel processes") != std::string::npos);
  CHECK(plan.out.find("budget      200 steps (8 per epoch)") != std::string::npos);
  ProcessResult dry = Train({m, "--devices", "cpu:2", "--dry-run", "--output", dir.path + "/d"});
  INFO(dry.out + dry.err);
  REQUIRE(dry.exit_code == 0);
  CHECK(dry.out.find("ranks:        2 (ddp), 256 training rows and batches of 32 each: a global "
                     "batch of 64") != std::string::npos);
  CHECK(dry.out.find("steps:        8 per epoch") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/d"));
}

TEST_CASE("data-parallel bad input: a clear error naming the key, flag or variable, in seconds",
          "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 128);
  ProcessResult r = Train({m, "--devices", "cpu:0", "--output", dir.path + "/a"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--devices cpu:0: expected a number of CPU ranks") != std::string::npos);
  r = Train({m, "--devices", "0,0", "--output", dir.path + "/a"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("GPU 0 is named twice") != std::string::npos);
  r = Train({m, "--devices", "0,1", "--set", "model.device=cpu", "--output", dir.path + "/a"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--devices 0,1 names GPUs, but model.device is cpu") != std::string::npos);
  if (std::getenv("CUDA_VISIBLE_DEVICES") == nullptr || !fs::exists("/dev/nvidia0")) {
    // GPUs named on a machine without one: each rank says so, none trains on the CPU.
    r = Train({m, "--devices", "0,1", "--output", dir.path + "/gpu"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("model.device: `cuda` asks for a CUDA GPU, but LibTorch finds none") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir.path + "/gpu/model.safetensors"));
  }
  r = Train({m, "--devices", "cpu:2", "--set", "training.distributed.world_size=3", "--output",
             dir.path + "/a"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("training.distributed.world_size: --devices cpu:2 gives 2 rank(s), but "
                   "training.distributed.world_size is 3") != std::string::npos);
  r = Train({m, "--set", "training.distributed={strategy: fsdp, world_size: 2}", "--output",
             dir.path + "/a"});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("not supported yet: training.distributed.strategy: fsdp") != std::string::npos);
  // One rank told of a world of 2 whose master is not there: it gives up after its timeout.
  int closed = 0;
  {
    HeldPort taken_and_given_back;
    closed = taken_and_given_back.port();
  }
  const auto started = std::chrono::steady_clock::now();
  r = TrainAsRank({"RANK=1", "WORLD_SIZE=2", "MASTER_PORT=" + std::to_string(closed),
                   "ENTRENAR_RENDEZVOUS_TIMEOUT=2"},
                  {m, "--devices", "cpu:2", "--output", dir.path + "/b"});
  INFO(r.err);
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("rank 1: error: rank 1 cannot reach the master at 127.0.0.1:" +
                   std::to_string(closed) + " within 2 s") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started <
        std::chrono::seconds(entrenar::testing::TimeLimit(30)));
  // Rank 0 on a port in use.
  HeldPort taken;
  r = TrainAsRank({"RANK=0", "WORLD_SIZE=2", "MASTER_PORT=" + std::to_string(taken.port()),
                   "ENTRENAR_RENDEZVOUS_TIMEOUT=2"},
                  {m, "--devices", "cpu:2", "--output", dir.path + "/c"});
  CHECK(r.exit_code == 8);
  CHECK(r.err.find("rank 0 cannot serve the rendezvous on port " + std::to_string(taken.port()) +
                   ": the port is in use") != std::string::npos);
  r = TrainAsRank({"RANK=2", "WORLD_SIZE=2"}, {m, "--output", dir.path + "/d"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("RANK=2 is not below WORLD_SIZE=2") != std::string::npos);
  r = TrainAsRank({"RANK=0", "WORLD_SIZE=2"}, {m, "--output", dir.path + "/d"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("WORLD_SIZE is 2 but training.distributed.world_size is 1") !=
        std::string::npos);
}

// Trains `m` (batch 16, `steps` steps, one thread per rank everywhere so that the two layouts
// compute alike) as two nodes of one CPU rank meeting at `master`, node R's command run through
// `on(R, argv)`, into DIR/node0 and DIR/node1; then as one node of two ranks into DIR/one. Node
// 0's losses must be the one node's.
void TwoNodesTrainAsOne(
    const std::string& dir, const std::string& m, const std::string& master, int steps,
    const std::function<std::vector<std::string>(int, std::vector<std::string>)>& on) {
  const std::vector<std::string> budget = {"--set", "data.loader.batch_size=16", "--set",
                                           "training.max_steps=" + std::to_string(steps)};
  auto node = [&](int rank) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "ENTRENAR_RANK_THREADS=1",
                                     EntrenarBinary(),
                                     "train",
                                     m,
                                     "--devices",
                                     "cpu:1",
                                     "--nnodes",
                                     "2",
                                     "--node-rank",
                                     std::to_string(rank),
                                     "--master",
                                     master,
                                     "--output",
                                     dir + "/node" + std::to_string(rank)};
    argv.insert(argv.end(), budget.begin(), budget.end());
    return on(rank, argv);
  };
  entrenar::testing::BackgroundProcess second(node(1), dir + "/n1.out", dir + "/n1.err");
  ProcessResult first = RunProcess(node(0), "", 240);
  INFO(first.err);
  INFO(Slurp(dir + "/n1.err"));
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.Wait(120) == 0);
  std::vector<std::string> one = {"/usr/bin/env",
                                  "ENTRENAR_RANK_THREADS=1",
                                  EntrenarBinary(),
                                  "train",
                                  m,
                                  "--devices",
                                  "cpu:2",
                                  "--output",
                                  dir + "/one"};
  one.insert(one.end(), budget.begin(), budget.end());
  REQUIRE(RunProcess(one, "", 240).exit_code == 0);
  const auto reference = LossByStep(dir + "/one/metrics.jsonl");
  REQUIRE(reference.size() == static_cast<std::size_t>(steps));
  CHECK(LossByStep(dir + "/node0/metrics.jsonl") == reference);
}

TEST_CASE("train --nnodes 2: two machines of one rank each train as one machine of two",
          "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 512);
  int port = 0;
  {
    HeldPort free_port;
    port = free_port.port();
  }
  TwoNodesTrainAsOne(dir.path, m, "127.0.0.1:" + std::to_string(port), 60,
                     [](int, std::vector<std::string> argv) { return argv; });
  CHECK_FALSE(fs::exists(dir.path + "/node1/metrics.jsonl"));  // node 0's rank 0 writes the run
  // The flags' mistakes, each named.
  ProcessResult r = Train({m, "--devices", "cpu:1", "--nnodes", "2", "--output", dir.path + "/x"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--nnodes 2 needs --master HOST:PORT") != std::string::npos);
  r = Train({m, "--devices", "cpu:1", "--nnodes", "2", "--master", "nowhere", "--output",
             dir.path + "/x"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--master nowhere: expected HOST:PORT") != std::string::npos);
  r = Train({m, "--devices", "cpu:1", "--nnodes", "2", "--node-rank", "2", "--master",
             "127.0.0.1:1", "--output", dir.path + "/x"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--node-rank 2 is not a node of --nnodes 2") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/x"));
  // An interface for the collectives that this machine does not have: said within seconds.
  r = RunProcess({"/usr/bin/env", "GLOO_SOCKET_IFNAME=entrenar-no0", EntrenarBinary(), "train", m,
                  "--devices", "cpu:2", "--output", dir.path + "/y"},
                 "", 60);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("rank 0: no network device for the collectives "
                   "(GLOO_SOCKET_IFNAME=entrenar-no0): ") != std::string::npos);
}

// Two network namespaces joined by a veth pair: two hosts, 10.231.N.1 and 10.231.N.2, that reach
// each other only over that link (each has its own loopback). Needs root and iproute2; `ok()`
// says whether they could be made, `why()` why not. Removed (with the link) on destruction.
class TwoHosts {
 public:
  TwoHosts() : tag_(std::to_string(getpid() % 100000)) {
    if (geteuid() != 0) {
      why_ = "not root";
      return;
    }
    const std::string net = "10.231." + std::to_string(getpid() % 250);
    address_[0] = net + ".1";
    address_[1] = net + ".2";
    for (int i = 0; i < 2; ++i) {
      if (!Ip({"netns", "add", Ns(i)})) return;
      made_[i] = true;
    }
    if (!Ip({"link", "add", Veth(0), "type", "veth", "peer", "name", Veth(1)})) return;
    for (int i = 0; i < 2; ++i) {
      if (!Ip({"link", "set", Veth(i), "netns", Ns(i)}) ||
          !Ip({"-n", Ns(i), "addr", "add", address_[i] + "/24", "dev", Veth(i)}) ||
          !Ip({"-n", Ns(i), "link", "set", Veth(i), "up"}) ||
          !Ip({"-n", Ns(i), "link", "set", "lo", "up"}))
        return;
    }
    ok_ = true;
  }
  ~TwoHosts() {
    for (int i = 0; i < 2; ++i) {
      if (made_[i]) RunProcess({"/usr/sbin/ip", "netns", "del", Ns(i)});
    }
  }
  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  const std::string& address(int i) const { return address_[i]; }
  // `argv` run on host `i`.
  std::vector<std::string> On(int i, std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", Ns(i)});
    return argv;
  }

 private:
  std::string Ns(int i) const { return "entrenar-h" + std::to_string(i) + "-" + tag_; }
  std::string Veth(int i) const { return "ev" + std::to_string(i) + "-" + tag_; }
  bool Ip(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/sbin/ip");
    const ProcessResult r = RunProcess(args);
    if (r.exit_code != 0 && why_.empty()) why_ = "`ip " + args[1] + "` failed: " + r.err;
    return r.exit_code == 0;
  }
  std::string tag_, why_;
  std::string address_[2];
  bool made_[2] = {false, false};
  bool ok_ = false;
};

TEST_CASE("train --nnodes 2 across two hosts (network namespaces) equals one host of two ranks",
          "[e2e][ddp]") {
  TwoHosts hosts;
  if (!hosts.ok()) {
    WARN("skipped: two hosts need network namespaces (root, iproute2): " << hosts.why());
    return;
  }
  TempDir dir;
  TwoNodesTrainAsOne(dir.path, Digits(dir.path, 512), hosts.address(0) + ":29533", 40,
                     [&](int rank, std::vector<std::string> argv) { return hosts.On(rank, argv); });
}

TEST_CASE("data-parallel ranks started by hand with different manifests refuse to train",
          "[e2e][ddp]") {
  TempDir dir;
  const std::string m = Digits(dir.path, 128);
  int port = 0;
  {
    HeldPort free_port;
    port = free_port.port();
  }
  const std::vector<std::string> env = {"WORLD_SIZE=2", "MASTER_PORT=" + std::to_string(port),
                                        "ENTRENAR_RENDEZVOUS_TIMEOUT=90",
                                        "ENTRENAR_COLLECTIVE_TIMEOUT=90"};
  // What rank 0 alone writes may differ (output.dir's `{{ timestamp }}` renders when each rank
  // loads the manifest): such ranks train.
  ProcessResult outputs;
  std::thread differ([&] {
    std::vector<std::string> e = env;
    e.push_back("RANK=1");
    outputs = TrainAsRank(e, {m, "--devices", "cpu:2", "--set", "output.dir=elsewhere", "--set",
                              "training.max_steps=5", "--output", dir.path + "/ok"});
  });
  std::vector<std::string> zero = env;
  zero.push_back("RANK=0");
  ProcessResult leader = TrainAsRank(zero, {m, "--devices", "cpu:2", "--set",
                                            "training.max_steps=5", "--output", dir.path + "/ok"});
  differ.join();
  INFO(leader.err + outputs.err);
  CHECK(leader.exit_code == 0);
  CHECK(outputs.exit_code == 0);
  CHECK(fs::exists(dir.path + "/ok/model.safetensors"));
  {
    HeldPort free_port;  // a fresh port: the first run's may linger in TIME_WAIT
    port = free_port.port();
  }
  const std::vector<std::string> env2 = {"WORLD_SIZE=2", "MASTER_PORT=" + std::to_string(port),
                                         "ENTRENAR_RENDEZVOUS_TIMEOUT=90",
                                         "ENTRENAR_COLLECTIVE_TIMEOUT=90"};
  ProcessResult rank1;
  std::thread other([&] {
    std::vector<std::string> e = env2;
    e.push_back("RANK=1");
    rank1 = TrainAsRank(
        e, {m, "--devices", "cpu:2", "--set", "optimizer.lr=0.5", "--output", dir.path + "/run"});
  });
  std::vector<std::string> e = env2;
  e.push_back("RANK=0");
  ProcessResult rank0 = TrainAsRank(e, {m, "--devices", "cpu:2", "--output", dir.path + "/run"});
  other.join();
  INFO(rank0.err);
  INFO(rank1.err);
  CHECK(rank0.exit_code == 1);
  CHECK(rank0.err.find("rank 1's manifest or data differ from rank 0's") != std::string::npos);
  CHECK(rank1.exit_code == 1);
  CHECK_FALSE(fs::exists(dir.path + "/run/model.safetensors"));
}

}  // namespace
