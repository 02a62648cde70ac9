#include "entrenar/supervisor/plan.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "entrenar/base/strings.h"
#include "entrenar/devices/devices.h"

namespace entrenar::supervisor {
namespace {

std::string Unit(const std::string& kind, std::int64_t n) {
  const std::string unit = kind == "gpu" ? "GPU" : "CPU slot";
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// Per kind of device: the free ones, how many there are, the jobs holding the others (how many
// each, in job order), and the first job that waits.
struct Pool {
  std::vector<std::size_t> free;
  std::int64_t total = 0;
  std::map<std::int64_t, std::int64_t> held;
  std::int64_t waiting = 0;
  std::string first_why;
  std::int64_t first_id = 0;
};

// Whether device `d` has the free memory `job` needs (where NVML tells).
bool Fits(const QueuedJob& job, const DeviceUse& d) {
  return job.memory <= 0 || !d.free_memory || *d.free_memory >= job.memory;
}

// The free devices that have the memory `job` needs.
std::vector<std::size_t> Fitting(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                                 const std::vector<std::size_t>& free) {
  std::vector<std::size_t> out;
  for (std::size_t i : free) {
    if (Fits(job, devices[i])) out.push_back(i);
  }
  return out;
}

// The free devices the job would take: its pinned ones when all are free (and have the memory
// it needs), else the first free ones that have it; fewer than it needs when it cannot start.
std::vector<std::size_t> Choose(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                                const std::vector<std::size_t>& free) {
  const std::vector<std::size_t> fit = Fitting(job, devices, free);
  if (job.pinned.empty()) {
    const std::size_t n = std::min(fit.size(), static_cast<std::size_t>(job.devices));
    return std::vector<std::size_t>(fit.begin(), fit.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<std::size_t> out;
  for (const std::string& name : job.pinned) {
    for (std::size_t i : fit) {
      if (devices[i].name == name) out.push_back(i);
    }
  }
  return out;
}

// " with 8.0 GiB free" when the job needs memory.
std::string WithMemory(const QueuedJob& job) {
  return job.memory > 0 ? " with " + devices::GiB(job.memory) + " free" : "";
}

// ", with at most 4.3 GiB free (NVML)" when free devices lack the memory the job needs.
std::string MostFree(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                     const std::vector<std::size_t>& free) {
  std::optional<std::int64_t> most;
  for (std::size_t i : free) {
    if (Fits(job, devices[i])) continue;
    most = std::max(most.value_or(0), *devices[i].free_memory);
  }
  return most ? ", with at most " + devices::GiB(*most) + " free (NVML)" : "";
}

// The pinned devices of `job` that are not free.
std::string Busy(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                 const std::vector<std::size_t>& free) {
  std::vector<std::string> busy;
  for (const std::string& name : job.pinned) {
    const auto it = std::find_if(free.begin(), free.end(),
                                 [&](std::size_t i) { return devices[i].name == name; });
    if (it == free.end()) {
      busy.push_back(name + " busy");
    } else if (!Fits(job, devices[*it])) {
      busy.push_back(name + " has " + devices::GiB(*devices[*it].free_memory) + " free (NVML)");
    }
  }
  return Join(busy, ", ");
}

// "job 12 (alice, priority 5)".
std::string Who(std::int64_t id, const std::map<std::int64_t, Holder>& holders) {
  const auto h = holders.find(id);
  std::string who = "job " + std::to_string(id);
  if (h != holders.end()) {
    who += " (" + (h->second.user.empty() ? "" : h->second.user + ", ") + "priority " +
           std::to_string(h->second.priority) + ")";
  }
  return who;
}

bool Stopping(std::int64_t id, const std::map<std::int64_t, Holder>& holders) {
  const auto h = holders.find(id);
  return h != holders.end() && h->second.stopping;
}

// "job 12 (alice, priority 5) holds 2 until it ends", for every job holding devices of a pool.
std::string Holding(const Pool& pool, const std::map<std::int64_t, Holder>& holders) {
  std::vector<std::string> parts;
  bool stopping = false;
  for (const auto& [id, n] : pool.held) {
    const bool s = Stopping(id, holders);
    stopping = stopping || s;
    parts.push_back(Who(id, holders) + " holds " + std::to_string(n) + (s ? " (stopping)" : ""));
  }
  if (parts.empty()) return "";
  const std::string until =
      parts.size() == 1 ? (stopping ? " until it stops" : " until it ends") : " until they end";
  return "; " + Join(parts, ", ") + until;
}

// The running jobs to ask to stop so that `job`, first in its pool, can start: see PlanQueue.
// Empty when none need asking, or when asking all that may be asked would not make room.
std::vector<std::int64_t> Victims(const QueuedJob& job, const Pool& pool,
                                  const std::vector<DeviceUse>& devices,
                                  const std::map<std::int64_t, Holder>& holders) {
  // The holders in the way: of the busy pinned devices, or of any device of the pool.
  std::map<std::int64_t, std::int64_t> in_way;
  if (job.pinned.empty()) {
    in_way = pool.held;
  } else {
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const DeviceUse& d = devices[i];
      if (std::find(job.pinned.begin(), job.pinned.end(), d.name) == job.pinned.end()) continue;
      const bool free = std::find(pool.free.begin(), pool.free.end(), i) != pool.free.end();
      if (d.job_id == 0 && !free) return {};  // taken in this plan by a job ahead of it
      if (d.job_id != 0) ++in_way[d.job_id];
    }
  }
  std::int64_t short_by =
      job.pinned.empty()
          ? job.devices - static_cast<std::int64_t>(Fitting(job, devices, pool.free).size())
          : 0;
  std::vector<std::int64_t> candidates;
  for (const auto& [id, n] : in_way) {
    const auto h = holders.find(id);
    const bool stopping = h != holders.end() && h->second.stopping;
    const bool lower = h != holders.end() && h->second.priority < job.priority;
    if (job.pinned.empty()) {
      if (stopping) short_by -= n;
      if (!stopping && lower) candidates.push_back(id);
    } else if (!stopping) {
      if (!lower) return {};  // a pinned device is held by a job it may not stop
      candidates.push_back(id), short_by += n;
    }
  }
  std::sort(candidates.begin(), candidates.end(), [&](std::int64_t x, std::int64_t y) {
    const Holder& hx = holders.at(x);
    const Holder& hy = holders.at(y);
    return hx.priority != hy.priority ? hx.priority < hy.priority : hx.started > hy.started;
  });
  std::vector<std::int64_t> out;
  for (std::int64_t id : candidates) {
    if (short_by <= 0) break;
    out.push_back(id);
    short_by -= in_way.at(id);
  }
  return short_by <= 0 ? out : std::vector<std::int64_t>();
}

// When `job`, first in its pool, can expect to start: once enough of the devices it needs are
// free, by the holders' estimates (a stopping holder's devices count as free now).
std::optional<double> StartsIn(const QueuedJob& job, const Pool& pool,
                               const std::vector<DeviceUse>& devices,
                               const std::map<std::int64_t, Holder>& holders) {
  const auto remaining = [&](std::int64_t id) -> std::optional<double> {
    const auto h = holders.find(id);
    if (h == holders.end()) return std::nullopt;
    return h->second.stopping ? std::optional<double>(0.0) : h->second.remaining;
  };
  std::vector<std::pair<std::optional<double>, std::int64_t>> ends;  // (remaining, devices)
  std::int64_t short_by =
      job.devices - static_cast<std::int64_t>(Fitting(job, devices, pool.free).size());
  if (job.pinned.empty()) {
    for (const auto& [id, n] : pool.held) ends.emplace_back(remaining(id), n);
  } else {
    short_by = 0;
    for (const DeviceUse& d : devices) {
      if (std::find(job.pinned.begin(), job.pinned.end(), d.name) == job.pinned.end()) continue;
      if (d.job_id == 0 && !Fits(job, d)) return std::nullopt;  // free, but without the memory
      if (d.job_id == 0) continue;
      ends.emplace_back(remaining(d.job_id), 1);
      ++short_by;
    }
  }
  // Unknown ends last: needing one of them means no estimate.
  std::sort(ends.begin(), ends.end(), [](const auto& x, const auto& y) {
    return x.first.has_value() != y.first.has_value() ? x.first.has_value()
                                                      : x.first.value_or(0) < y.first.value_or(0);
  });
  std::optional<double> at = 0.0;
  for (const auto& [when, n] : ends) {
    if (short_by <= 0) break;
    at = when;
    short_by -= n;
    if (!at) return std::nullopt;
  }
  return short_by <= 0 ? at : std::nullopt;
}

// "; preempting job 12 (alice, priority 1): it checkpoints and goes back to the queue".
std::string Preempting(const std::vector<std::int64_t>& victims,
                       const std::map<std::int64_t, Holder>& holders) {
  std::vector<std::string> names;
  for (std::int64_t id : victims) names.push_back(Who(id, holders));
  return "; preempting " + Join(names, ", ") +
         (names.size() == 1 ? ": it checkpoints and goes back to the queue"
                            : ": they checkpoint and go back to the queue");
}

}  // namespace

std::optional<double> Remaining(const Progress& p, double now) {
  if (p.time_budget_seconds > 0) {
    return std::max(0.0, p.time_budget_seconds - p.elapsed_seconds - (now - p.last_at));
  }
  const double span = p.last_at - p.first_at;
  const std::int64_t steps = p.last_step - p.first_step;
  if (p.total_steps <= 0 || steps <= 0 || span <= 0) return std::nullopt;
  const double rate = static_cast<double>(steps) / span;
  const double left = static_cast<double>(std::max<std::int64_t>(0, p.total_steps - p.last_step));
  return std::max(0.0, left / rate - (now - p.last_at));
}

std::string About(double seconds) {
  // Bounded before rounding: a worker's figures are untrusted, and a year is "about 8760 h".
  const auto s = static_cast<std::int64_t>(std::llround(std::clamp(seconds, 0.0, 1e9)));
  if (s < 60) return "about " + std::to_string(s) + " s";
  const std::int64_t minutes = (s + 30) / 60;
  if (minutes < 60) return "about " + std::to_string(minutes) + " min";
  return "about " + std::to_string(minutes / 60) + " h " + std::to_string(minutes % 60) + " min";
}

bool MayPreempt(std::int64_t priority, std::int64_t running,
                std::optional<std::int64_t> min_priority, std::int64_t max_running) {
  return min_priority && priority >= *min_priority && (max_running == 0 || running < max_running);
}

std::vector<Decision> PlanQueue(const std::vector<QueuedJob>& queued,
                                const std::vector<DeviceUse>& devices,
                                std::map<std::uint32_t, std::int64_t> running,
                                std::map<std::int64_t, Holder> holders) {
  std::map<std::string, Pool> pools;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    Pool& p = pools[devices[i].kind];
    ++p.total;
    if (devices[i].job_id == 0) {
      p.free.push_back(i);
    } else {
      ++p.held[devices[i].job_id];
    }
  }
  std::vector<Decision> out;
  std::size_t begin = 0;
  while (begin < queued.size()) {
    // One priority at a time, so fair share only reorders equals.
    std::size_t end = begin;
    while (end < queued.size() && queued[end].priority == queued[begin].priority) ++end;
    std::vector<QueuedJob> group(queued.begin() + static_cast<std::ptrdiff_t>(begin),
                                 queued.begin() + static_cast<std::ptrdiff_t>(end));
    begin = end;
    while (!group.empty()) {
      const auto next =
          std::min_element(group.begin(), group.end(), [&](const auto& x, const auto& y) {
            const std::int64_t rx = running[x.uid], ry = running[y.uid];
            return rx != ry ? rx < ry : x.id < y.id;
          });
      const QueuedJob job = *next;
      group.erase(next);
      Pool& pool = pools[job.kind];
      Decision d;
      d.job_id = job.id;
      d.kind = job.kind;
      const auto free = static_cast<std::int64_t>(pool.free.size());
      const std::vector<std::size_t> chosen = Choose(job, devices, pool.free);
      if (pool.waiting == 0 && static_cast<std::int64_t>(chosen.size()) == job.devices) {
        for (std::size_t c : chosen)
          pool.free.erase(std::find(pool.free.begin(), pool.free.end(), c));
        d.devices = chosen;
        ++running[job.uid];
        pool.held[job.id] += static_cast<std::int64_t>(chosen.size());
        holders.emplace(job.id, Holder{job.user, job.priority, false, 0, std::nullopt});
        out.push_back(std::move(d));
        continue;
      }
      d.position = ++pool.waiting;
      if (!job.pinned.empty() && d.position == 1) {
        d.why = "needs " + Join(job.pinned, ",") + WithMemory(job) + "; " +
                Busy(job, devices, pool.free);
      } else if (pool.total < job.devices) {
        d.why = "needs " + Unit(job.kind, job.devices) + " but this server has " +
                std::to_string(pool.total);
      } else if (d.position == 1) {
        d.why = "needs " + Unit(job.kind, job.devices) + WithMemory(job) + "; " +
                std::to_string(free) + " of " + std::to_string(pool.total) + " free" +
                MostFree(job, devices, pool.free) + Holding(pool, holders);
      } else {
        d.why = "behind " + std::to_string(d.position - 1) + " job(s); the first, job " +
                std::to_string(pool.first_id) + ", " + pool.first_why;
      }
      if (d.position == 1 && job.may_preempt && pool.total >= job.devices) {
        d.preempt = Victims(job, pool, devices, holders);
        if (!d.preempt.empty()) d.why += Preempting(d.preempt, holders);
      }
      if (d.position == 1 && d.preempt.empty() && pool.total >= job.devices) {
        d.starts_in = StartsIn(job, pool, devices, holders);
        if (d.starts_in) {
          d.why +=
              "; expected to start " +
              (*d.starts_in < 1 ? std::string("any moment now") : "in " + About(*d.starts_in)) +
              " (an estimate from the running jobs' progress)";
        }
      }
      if (d.position == 1) pool.first_why = d.why, pool.first_id = job.id;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace entrenar::supervisor
