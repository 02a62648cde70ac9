#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::config {

// TCP access: TLS and bearer tokens are both required when an address is set.
struct Tcp {
  std::string address;  // "0.0.0.0:7443"; empty: unix socket only
  std::string cert;     // PEM certificate chain
  std::string key;      // PEM private key
  std::string tokens;   // token file: `USER SHA256-HEX` per line (see docs/operations.md)
};

// Which queued jobs may stop running ones to start (docs/operations.md, "Preemption"): a job of
// `priority` or more that cannot start asks running jobs of lower priority to checkpoint and
// stop; they go back to the queue and resume. Off unless `priority` is set.
struct Preemption {
  std::optional<std::int64_t> priority;
  // A user with this many running jobs preempts no more (0: no limit).
  std::int64_t max_running_per_user = 0;
};

// Everything entrenard can be told, from its YAML file or its flags (flags win).
struct Daemon {
  std::string socket;
  std::string state_dir;
  std::string devices = "auto";  // "auto", "cpu", or a list of GPU indices "0,2"
  std::int64_t cpu_slots = 2;
  std::string nvml_library = "libnvidia-ml.so.1";
  std::vector<std::string> admins;  // user names or uids
  std::int64_t grace_seconds = 60;
  std::int64_t retention_days = 0;  // ended jobs older than this are deleted; 0 keeps them all
  std::string worker;               // the entrenar-train binary
  std::string log_level = "info";
  // Jobs may have `custom` callbacks, which run the job's own shell commands (as its user).
  bool allow_custom_callbacks = false;
  Tcp tcp;
  // Limits per user (admins are exempt from the first): the highest priority a user may submit
  // with, open connections to the unix socket, and `logs --follow` streams at once.
  std::int64_t max_priority = 100;
  std::int64_t max_connections_per_user = 64;
  std::int64_t max_followers_per_user = 16;
  Preemption preemption;
};

// The built-in defaults for a daemon run by `uid` (root: the system daemon).
Daemon Defaults(std::uint32_t uid);

// The config file read when no --config is given: /etc/entrenar/entrenard.yaml for root,
// $XDG_CONFIG_HOME/entrenar/entrenard.yaml (or ~/.config/...) otherwise.
std::string DefaultPath(std::uint32_t uid);

// Reads a YAML config file over `config`. Unknown keys, wrong types and bad values are errors
// naming the file:line:col and the key, with a hint for a misspelt key.
Status LoadFile(const std::string& path, Daemon* config);

// Checks values that flags can also set: devices, cpu_slots, grace, retention, TCP settings.
Status Check(const Daemon& config);

// "auto" / "cpu" / "0,2" -> mode and GPU indices.
Status ParseDevices(const std::string& text, std::string* mode, std::vector<int>* gpus);

// A uid from a user name or a number.
Result<std::uint32_t> ResolveUser(const std::string& name_or_uid);

}  // namespace entrenar::config
