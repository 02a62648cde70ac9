#include "entrenar/supervisor/plan.h"

#include <algorithm>
#include <map>

#include "entrenar/base/strings.h"

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

// The free devices the job would take: its pinned ones when all are free, else the first free
// ones; fewer than it needs when it cannot start.
std::vector<std::size_t> Choose(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                                const std::vector<std::size_t>& free) {
  if (job.pinned.empty()) {
    const std::size_t n = std::min(free.size(), static_cast<std::size_t>(job.devices));
    return std::vector<std::size_t>(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<std::size_t> out;
  for (const std::string& name : job.pinned) {
    for (std::size_t i : free) {
      if (devices[i].name == name) out.push_back(i);
    }
  }
  return out;
}

// The pinned devices of `job` that are not free.
std::string Busy(const QueuedJob& job, const std::vector<DeviceUse>& devices,
                 const std::vector<std::size_t>& free) {
  std::vector<std::string> busy;
  for (const std::string& name : job.pinned) {
    const bool is_free = std::any_of(free.begin(), free.end(),
                                     [&](std::size_t i) { return devices[i].name == name; });
    if (!is_free) busy.push_back(name);
  }
  return Join(busy, ",");
}

// "job 12 (alice, priority 5) holds 2 until it ends", for every job holding devices of a pool.
std::string Holding(const Pool& pool, const std::map<std::int64_t, Holder>& holders) {
  std::vector<std::string> parts;
  for (const auto& [id, n] : pool.held) {
    const auto h = holders.find(id);
    std::string who;
    if (h != holders.end()) {
      who = " (" + (h->second.user.empty() ? "" : h->second.user + ", ") + "priority " +
            std::to_string(h->second.priority) + ")";
    }
    parts.push_back("job " + std::to_string(id) + who + " holds " + std::to_string(n));
  }
  if (parts.empty()) return "";
  return "; " + Join(parts, ", ") + (parts.size() == 1 ? " until it ends" : " until they end");
}

}  // namespace

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
        holders.emplace(job.id, Holder{job.user, job.priority});
        out.push_back(std::move(d));
        continue;
      }
      d.position = ++pool.waiting;
      if (!job.pinned.empty() && d.position == 1) {
        d.why = "needs " + Join(job.pinned, ",") + "; " + Busy(job, devices, pool.free) + " busy";
      } else if (pool.total < job.devices) {
        d.why = "needs " + Unit(job.kind, job.devices) + " but this server has " +
                std::to_string(pool.total);
      } else if (d.position == 1) {
        d.why = "needs " + Unit(job.kind, job.devices) + "; " + std::to_string(free) + " of " +
                std::to_string(pool.total) + " free" + Holding(pool, holders);
      } else {
        d.why = "behind " + std::to_string(d.position - 1) + " job(s); the first, job " +
                std::to_string(pool.first_id) + ", " + pool.first_why;
      }
      if (d.position == 1) pool.first_why = d.why, pool.first_id = job.id;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace entrenar::supervisor
