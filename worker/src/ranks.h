// The processes of a data-parallel run (training.distributed): which rank this process is, from
// the environment torchrun defines (and entrenar-train's own launcher sets), and the launcher
// that starts one process per rank on this machine and ends them together.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/engine/trainer.h"

namespace entrenar::worker {

// This process's rank when RANK and WORLD_SIZE are set (with LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT, as torchrun sets them; ENTRENAR_RANK_THREADS, ENTRENAR_RENDEZVOUS_TIMEOUT and
// ENTRENAR_COLLECTIVE_TIMEOUT in seconds), nullopt when neither is. kInvalidArgument naming the
// variable for a value that is not a number in range.
Result<std::optional<engine::RankOptions>> RankFromEnvironment();

// What `--devices` asks for: "cpu:N" (N CPU ranks) or GPU indices "0,1,3" (one rank each).
struct DeviceList {
  bool cpu = false;
  int count = 0;          // ranks
  std::vector<int> gpus;  // the GPU indices, for GPU ranks
};
// kInvalidArgument naming --devices for anything else (a repeated GPU, a count of 0).
Result<DeviceList> ParseDevices(const std::string& text);

// CUDA_VISIBLE_DEVICES for GPU indices `gpus` counted among the GPUs this process sees (its
// own CUDA_VISIBLE_DEVICES, when set, maps them).
std::string VisibleGpus(const std::vector<int>& gpus);

// Where this machine's ranks stand in the run: `--nnodes` machines of `local` ranks each, this
// one the `node_rank`th; rank 0 (on node 0) serves the rendezvous at master_addr:master_port
// (port 0: a free one, for a run on one machine).
struct Topology {
  int nnodes = 1, node_rank = 0, local = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  int world() const { return nnodes * local; }
};
// `--master HOST:PORT`: kInvalidArgument naming the flag for anything else.
Result<std::pair<std::string, int>> ParseMaster(const std::string& text);

// Starts this machine's `topology.local` ranks as copies of this program with `args`
// (argv[1..]): global ranks node_rank x local + 0..local-1, meeting at the master; `gpus`, when
// given, become the ranks' CUDA_VISIBLE_DEVICES. Ranks other than 0 write nothing to stdout.
// SIGINT/SIGTERM are passed on to every rank (they stop together after a checkpoint); when a
// rank fails the others are sent SIGTERM, and SIGKILL after `grace_seconds`; a rank never
// outlives the launcher. Returns the exit code: rank 0's own error, else the first failed rank's
// (a rank killed by a signal: kExitRankLost), else 0.
int LaunchRanks(const std::vector<std::string>& args, const Topology& topology,
                const std::vector<int>& gpus, int grace_seconds);

}  // namespace entrenar::worker
