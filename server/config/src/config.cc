#include "entrenar/config/config.h"

#include <cstdlib>
#include <functional>
#include <map>

#include <yaml-cpp/yaml.h>

#include "entrenar/base/strings.h"
#include "entrenar/base/users.h"

namespace entrenar::config {
namespace {

std::string Where(const std::string& path, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

Status Bad(const std::string& path, const YAML::Node& node, const std::string& key,
           const std::string& expected) {
  return InvalidArgument(Where(path, node) + ": " + key + ": expected " + expected);
}

// Reads one scalar as T, or says what was expected.
template <typename T>
Status Read(const std::string& path, const YAML::Node& node, const std::string& key,
            const std::string& expected, T* out) {
  if (!node.IsScalar()) return Bad(path, node, key, expected);
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception&) {
    return Bad(path, node, key, expected + ", got `" + node.Scalar() + "`");
  }
  return OkStatus();
}

using Setter = std::function<Status(const YAML::Node&)>;

// Applies each key of a mapping through `setters`; unknown keys are errors with a hint.
Status Apply(const std::string& path, const YAML::Node& map, const std::string& prefix,
             const std::map<std::string, Setter>& setters) {
  if (!map.IsMap()) return Bad(path, map, prefix.empty() ? "the file" : prefix, "a mapping");
  std::vector<std::string> known;
  for (const auto& [name, set] : setters) known.push_back(name);
  for (const auto& item : map) {
    const std::string key = item.first.Scalar();
    auto it = setters.find(key);
    if (it == setters.end()) {
      std::string hint = DidYouMean(Suggest(key, known));
      return InvalidArgument(Where(path, item.first) + ": unknown key `" + prefix + key + "`" +
                             (hint.empty() ? "; known keys: " + JoinQuoted(known) : "; " + hint));
    }
    ENTRENAR_RETURN_IF_ERROR(it->second(item.second));
  }
  return OkStatus();
}

}  // namespace

Daemon Defaults(std::uint32_t uid) {
  Daemon d;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const char* home = std::getenv("HOME");
  if (uid == 0) {
    d.socket = "/run/entrenar/entrenard.sock";
    d.state_dir = "/var/lib/entrenar";
  } else {
    d.socket = runtime ? std::string(runtime) + "/entrenar/entrenard.sock"
                       : "/tmp/entrenar-" + std::to_string(uid) + "/entrenard.sock";
    d.state_dir = std::string(home ? home : ".") + "/.local/state/entrenar";
  }
  return d;
}

std::string DefaultPath(std::uint32_t uid) {
  if (uid == 0) return "/etc/entrenar/entrenard.yaml";
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = xdg && *xdg ? xdg : std::string(home ? home : ".") + "/.config";
  return base + "/entrenar/entrenard.yaml";
}

Status ParseDevices(const std::string& text, std::string* mode, std::vector<int>* gpus) {
  gpus->clear();
  if (text == "auto" || text == "cpu") {
    *mode = text;
    return OkStatus();
  }
  *mode = "list";
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string part(Trim(std::string_view(text).substr(start, comma - start)));
    char* end = nullptr;
    const long index = std::strtol(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || index < 0 || index > 1023) {
      return InvalidArgument("devices: expected `auto`, `cpu` or GPU indices like `0,1`, got `" +
                             text + "`");
    }
    gpus->push_back(static_cast<int>(index));
    start = comma + 1;
  }
  return OkStatus();
}

Result<std::uint32_t> ResolveUser(const std::string& name_or_uid) {
  if (const std::optional<User> u = FindUser(name_or_uid)) return u->uid;
  return NotFound("no user `" + name_or_uid + "`");
}

Status LoadFile(const std::string& path, Daemon* c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return NotFound("cannot read " + path);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
  if (root.IsNull()) return OkStatus();  // an empty file: the defaults
  const auto text = [&](const std::string& key, std::string* out) -> Setter {
    return [&path, key, out](const YAML::Node& n) { return Read(path, n, key, "a string", out); };
  };
  const auto integer = [&](const std::string& key, std::int64_t* out) -> Setter {
    return [&path, key, out](const YAML::Node& n) { return Read(path, n, key, "an integer", out); };
  };
  std::map<std::string, Setter> tcp = {
      {"address", text("tcp.address", &c->tcp.address)},
      {"cert", text("tcp.cert", &c->tcp.cert)},
      {"key", text("tcp.key", &c->tcp.key)},
      {"tokens", text("tcp.tokens", &c->tcp.tokens)},
  };
  std::map<std::string, Setter> preemption = {
      {"priority",
       [&path, c](const YAML::Node& n) {
         std::int64_t p = 0;
         ENTRENAR_RETURN_IF_ERROR(Read(path, n, "preemption.priority", "an integer", &p));
         c->preemption.priority = p;
         return OkStatus();
       }},
      {"max_running_per_user",
       integer("preemption.max_running_per_user", &c->preemption.max_running_per_user)},
  };
  std::map<std::string, Setter> top = {
      {"socket", text("socket", &c->socket)},
      {"state_dir", text("state_dir", &c->state_dir)},
      {"cpu_slots", integer("cpu_slots", &c->cpu_slots)},
      {"nvml_library", text("nvml_library", &c->nvml_library)},
      {"grace_period", integer("grace_period", &c->grace_seconds)},
      {"retention_days", integer("retention_days", &c->retention_days)},
      {"max_priority", integer("max_priority", &c->max_priority)},
      {"max_connections_per_user",
       integer("max_connections_per_user", &c->max_connections_per_user)},
      {"max_followers_per_user", integer("max_followers_per_user", &c->max_followers_per_user)},
      {"worker", text("worker", &c->worker)},
      {"log_level", text("log_level", &c->log_level)},
      {"allow_custom_callbacks",
       [&path, c](const YAML::Node& n) {
         return Read(path, n, "allow_custom_callbacks", "true or false",
                     &c->allow_custom_callbacks);
       }},
      {"devices",
       [&](const YAML::Node& n) -> Status {
         if (n.IsScalar()) {
           std::string mode;
           std::vector<int> gpus;
           if (!ParseDevices(n.Scalar(), &mode, &gpus).ok()) {
             return Bad(path, n, "devices", "`auto`, `cpu` or a list of GPU indices");
           }
           c->devices = n.Scalar();
           return OkStatus();
         }
         if (!n.IsSequence())
           return Bad(path, n, "devices", "`auto`, `cpu` or a list of GPU indices");
         std::vector<std::string> parts;
         for (const YAML::Node& item : n) {
           std::int64_t index = 0;
           ENTRENAR_RETURN_IF_ERROR(Read(path, item, "devices", "a GPU index", &index));
           parts.push_back(std::to_string(index));
         }
         if (parts.empty()) return Bad(path, n, "devices", "at least one GPU index");
         c->devices = Join(parts, ",");
         return OkStatus();
       }},
      {"admins",
       [&](const YAML::Node& n) -> Status {
         if (!n.IsSequence()) return Bad(path, n, "admins", "a list of user names or uids");
         c->admins.clear();
         for (const YAML::Node& item : n) {
           std::string user;
           ENTRENAR_RETURN_IF_ERROR(Read(path, item, "admins", "a user name or uid", &user));
           c->admins.push_back(user);
         }
         return OkStatus();
       }},
      {"tcp", [&](const YAML::Node& n) { return Apply(path, n, "tcp.", tcp); }},
      {"preemption",
       [&](const YAML::Node& n) { return Apply(path, n, "preemption.", preemption); }},
  };
  ENTRENAR_RETURN_IF_ERROR(Apply(path, root, "", top));
  const Status checked = Check(*c);
  if (!checked.ok()) return InvalidArgument(path + ": " + checked.message());
  return OkStatus();
}

Status Check(const Daemon& c) {
  std::string mode;
  std::vector<int> gpus;
  ENTRENAR_RETURN_IF_ERROR(ParseDevices(c.devices, &mode, &gpus));
  if (c.cpu_slots < 0 || c.cpu_slots > 4096) {
    return InvalidArgument("cpu_slots: expected 0 to 4096, got " + std::to_string(c.cpu_slots));
  }
  if (c.grace_seconds < 0) return InvalidArgument("grace_period: expected seconds >= 0");
  if (c.retention_days < 0) return InvalidArgument("retention_days: expected days >= 0 (0: keep)");
  if (c.max_connections_per_user < 1 || c.max_connections_per_user > 100000) {
    return InvalidArgument("max_connections_per_user: expected 1 to 100000");
  }
  if (c.max_followers_per_user < 1 || c.max_followers_per_user > 100000) {
    return InvalidArgument("max_followers_per_user: expected 1 to 100000");
  }
  if (c.preemption.max_running_per_user < 0) {
    return InvalidArgument("preemption.max_running_per_user: expected 0 (no limit) or more");
  }
  for (const std::string& a : c.admins) {
    if (!ResolveUser(a).ok()) return InvalidArgument("admins: no user `" + a + "`");
  }
  const Tcp& t = c.tcp;
  if (!t.address.empty() && (t.cert.empty() || t.key.empty() || t.tokens.empty())) {
    return InvalidArgument(
        "tcp.address is set, so tcp.cert, tcp.key and tcp.tokens are required: entrenard serves "
        "TCP only with TLS and bearer tokens");
  }
  return OkStatus();
}

}  // namespace entrenar::config
