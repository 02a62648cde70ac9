#include "entrenar/supervisor/plan.h"

#include <catch2/catch.hpp>

namespace entrenar::supervisor {
namespace {

QueuedJob Job(std::int64_t id, std::int64_t priority = 0, std::int64_t devices = 1,
              const std::string& kind = "cpu", std::uint32_t uid = 1000) {
  return {id, uid, priority, devices, kind, {}, {}};
}

Holder H(const std::string& user, std::int64_t priority, bool stopping = false,
         std::int64_t started = 0, std::optional<double> remaining = std::nullopt) {
  return {user, priority, stopping, started, remaining};
}

std::vector<DeviceUse> Free(int gpus, int cpus) {
  std::vector<DeviceUse> out;
  for (int i = 0; i < gpus; ++i) out.push_back({"gpu", "cuda:" + std::to_string(i), 0});
  for (int i = 0; i < cpus; ++i) out.push_back({"cpu", "cpu:" + std::to_string(i), 0});
  return out;
}

TEST_CASE("The plan starts what fits, in queue order, on devices of the job's kind",
          "[unit][plan]") {
  // Two GPUs (devices 0, 1) and one CPU slot (device 2).
  const auto plan = PlanQueue({Job(1, 0, 1, "gpu"), Job(2, 0, 1, "cpu"), Job(3, 0, 1, "gpu"),
                               Job(4, 0, 1, "cpu"), Job(5, 0, 1, "gpu")},
                              Free(2, 1), {});
  REQUIRE(plan.size() == 5);
  CHECK(plan[0].devices == std::vector<std::size_t>{0});
  CHECK(plan[1].devices == std::vector<std::size_t>{2});
  CHECK(plan[2].devices == std::vector<std::size_t>{1});
  CHECK(plan[3].devices.empty());
  CHECK(plan[3].position == 1);
  CHECK(plan[3].why == "needs 1 CPU slot; 0 of 1 free; job 2 (priority 0) holds 1 until it ends");
  CHECK(plan[4].devices.empty());
  CHECK(plan[4].position == 1);  // first in the GPU queue
  CHECK(plan[4].why ==
        "needs 1 GPU; 0 of 2 free; job 1 (priority 0) holds 1, job 3 (priority 0) holds 1 until "
        "they end");
}

TEST_CASE("A job that does not fit holds back the smaller jobs behind it (no backfill)",
          "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(0, 3);
  devices[0].job_id = 99;  // one of three slots busy
  const auto plan = PlanQueue({Job(1, 5, 3), Job(2, 0, 1), Job(3, 0, 1)}, devices, {});
  REQUIRE(plan.size() == 3);
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].why == "needs 3 CPU slots; 2 of 3 free; job 99 holds 1 until it ends");
  CHECK(plan[1].devices.empty());
  CHECK(plan[1].position == 2);
  CHECK(plan[1].why ==
        "behind 1 job(s); the first, job 1, needs 3 CPU slots; 2 of 3 free; job 99 holds 1 until "
        "it ends");
  CHECK(plan[2].position == 3);
}

TEST_CASE("Fair share reorders equal priorities only, by the owners' running jobs",
          "[unit][plan]") {
  // uid 1 has two jobs running; uid 2 none. One slot free.
  std::vector<DeviceUse> devices = Free(0, 3);
  devices[0].job_id = 50;
  devices[1].job_id = 51;
  const auto plan =
      PlanQueue({Job(10, 9, 1, "cpu", 1), Job(11, 0, 1, "cpu", 1), Job(12, 0, 1, "cpu", 2)},
                devices, {{1, 2}});
  REQUIRE(plan.size() == 3);
  CHECK(plan[0].job_id == 10);  // a higher priority wins over fair share
  CHECK(plan[0].devices.size() == 1);
  CHECK(plan[1].job_id == 12);  // then the owner with fewer running jobs, though younger
  CHECK(plan[2].job_id == 11);
  CHECK(plan[1].devices.empty());
}

TEST_CASE("A job pinned to named devices starts on exactly those, or waits for them",
          "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(3, 0);
  QueuedJob pinned = Job(1, 0, 2, "gpu");
  pinned.pinned = {"cuda:0", "cuda:2"};
  auto plan = PlanQueue({pinned}, devices, {});
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].devices == std::vector<std::size_t>{0, 2});
  devices[2].job_id = 9;  // cuda:2 busy
  plan = PlanQueue({pinned, Job(2, 0, 1, "gpu")}, devices, {});
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].why == "needs cuda:0,cuda:2; cuda:2 busy");
  CHECK(plan[1].devices.empty());  // no backfill behind it
}

TEST_CASE("A job larger than the server waits with the reason", "[unit][plan]") {
  const auto plan = PlanQueue({Job(1, 0, 4, "gpu")}, Free(2, 2), {});
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].why == "needs 4 GPUs but this server has 2");
}

TEST_CASE("The first waiting job names the jobs holding the devices it needs", "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(4, 0);
  devices[0].job_id = devices[1].job_id = 12;
  devices[2].job_id = 13;
  QueuedJob urgent = Job(19, 9, 1, "gpu");  // takes the free GPU first
  urgent.user = "dave";
  const auto plan = PlanQueue({urgent, Job(20, 0, 3, "gpu")}, devices, {},
                              {{12, H("alice", 5)}, {13, H("bob", 0)}});
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].devices == std::vector<std::size_t>{3});
  CHECK(plan[1].why ==
        "needs 3 GPUs; 0 of 4 free; job 12 (alice, priority 5) holds 2, job 13 (bob, priority 0) "
        "holds 1, job 19 (dave, priority 9) holds 1 until they end");
  // One holder, and one the plan has no name for.
  std::vector<DeviceUse> two = Free(2, 0);
  two[0].job_id = two[1].job_id = 7;
  CHECK(PlanQueue({Job(8, 0, 1, "gpu")}, two, {}, {{7, H("alice", 5)}})[0].why ==
        "needs 1 GPU; 0 of 2 free; job 7 (alice, priority 5) holds 2 until it ends");
  CHECK(PlanQueue({Job(8, 0, 1, "gpu")}, two, {})[0].why ==
        "needs 1 GPU; 0 of 2 free; job 7 holds 2 until it ends");
}

QueuedJob Preempting(std::int64_t id, std::int64_t priority, std::int64_t devices,
                     const std::string& kind = "gpu") {
  QueuedJob job = Job(id, priority, devices, kind);
  job.may_preempt = true;
  return job;
}

TEST_CASE("Preemption stops the fewest lower-priority jobs, lowest priority and newest first",
          "[unit][plan]") {
  // Four GPUs: job 12 (priority 1, started first) holds 2, job 13 (priority 1, started later)
  // holds 1, job 14 (priority 3) holds 1.
  std::vector<DeviceUse> devices = Free(4, 0);
  devices[0].job_id = devices[1].job_id = 12;
  devices[2].job_id = 13;
  devices[3].job_id = 14;
  const std::map<std::int64_t, Holder> holders = {
      {12, H("alice", 1, false, 1)}, {13, H("bob", 1, false, 2)}, {14, H("carol", 3, false, 3)}};
  // One GPU: the newest of the lowest priority.
  auto plan = PlanQueue({Preempting(20, 5, 1)}, devices, {}, holders);
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].preempt == std::vector<std::int64_t>{13});
  CHECK(plan[0].why ==
        "needs 1 GPU; 0 of 4 free; job 12 (alice, priority 1) holds 2, job 13 (bob, priority 1) "
        "holds 1, job 14 (carol, priority 3) holds 1 until they end; preempting job 13 (bob, "
        "priority 1): it checkpoints and goes back to the queue");
  // Three GPUs: both priority-1 jobs; four: all three.
  CHECK(PlanQueue({Preempting(20, 5, 3)}, devices, {}, holders)[0].preempt ==
        std::vector<std::int64_t>{13, 12});
  CHECK(PlanQueue({Preempting(20, 5, 4)}, devices, {}, holders)[0].preempt ==
        std::vector<std::int64_t>{13, 12, 14});
  // Only strictly lower priorities: at priority 3, job 14 stays, and four GPUs cannot be had,
  // so nothing is stopped in vain.
  CHECK(PlanQueue({Preempting(20, 3, 3)}, devices, {}, holders)[0].preempt ==
        std::vector<std::int64_t>{13, 12});
  CHECK(PlanQueue({Preempting(20, 3, 4)}, devices, {}, holders)[0].preempt.empty());
  // A job the config does not let preempt, or larger than the server, waits.
  CHECK(PlanQueue({Job(20, 5, 1, "gpu")}, devices, {}, holders)[0].preempt.empty());
  CHECK(PlanQueue({Preempting(20, 5, 5)}, devices, {}, holders)[0].preempt.empty());
  // A job that fits starts and stops nothing.
  CHECK(PlanQueue({Preempting(20, 5, 1)}, Free(1, 0), {})[0].preempt.empty());
}

TEST_CASE("Who may preempt: the config's priority and per-user limit", "[unit][plan]") {
  CHECK_FALSE(MayPreempt(100, 0, std::nullopt, 0));  // off
  CHECK(MayPreempt(50, 0, 50, 0));
  CHECK_FALSE(MayPreempt(49, 0, 50, 0));
  CHECK(MayPreempt(50, 1, 50, 2));
  CHECK_FALSE(MayPreempt(50, 2, 50, 2));  // the owner runs 2 jobs already
  CHECK(MayPreempt(50, 99, 50, 0));       // 0: no limit
}

TEST_CASE("Devices of stopping jobs count as coming free: nobody is preempted twice",
          "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(2, 0);
  devices[0].job_id = 12;
  devices[1].job_id = 13;
  std::map<std::int64_t, Holder> holders = {{12, H("alice", 1, true, 1)},
                                            {13, H("bob", 1, false, 2)}};
  // Job 12 is stopping already: one more GPU is asked of job 13 only for a 2-GPU job.
  auto plan = PlanQueue({Preempting(20, 5, 1)}, devices, {}, holders);
  CHECK(plan[0].preempt.empty());
  CHECK(plan[0].why ==
        "needs 1 GPU; 0 of 2 free; job 12 (alice, priority 1) holds 1 (stopping), job 13 (bob, "
        "priority 1) holds 1 until they end; expected to start any moment now (an estimate from "
        "the running jobs' progress)");
  CHECK(PlanQueue({Preempting(20, 5, 2)}, devices, {}, holders)[0].preempt ==
        std::vector<std::int64_t>{13});
  // Only the first waiting job preempts: the one behind it waits its turn.
  const auto two = PlanQueue({Job(19, 9, 2, "gpu"), Preempting(20, 5, 1)}, devices, {}, holders);
  CHECK(two[0].preempt.empty());
  CHECK(two[1].preempt.empty());
  CHECK(two[1].position == 2);
}

TEST_CASE("A running job's remaining time comes from its rate so far, or its time budget",
          "[unit][plan]") {
  Progress p;
  CHECK_FALSE(Remaining(p, 0).has_value());  // nothing seen yet
  p.first_step = 10, p.first_at = 100;
  p.last_step = 10, p.last_at = 100;
  p.total_steps = 1000;
  CHECK_FALSE(Remaining(p, 100).has_value());  // one step: no rate
  p.last_step = 110, p.last_at = 120;          // 100 steps in 20 s: 5 steps/s, 890 left
  CHECK(*Remaining(p, 120) == Approx(178.0));
  CHECK(*Remaining(p, 130) == Approx(168.0));  // time passes between events
  CHECK(*Remaining(p, 1000) == 0.0);           // overdue: any moment now
  Progress budget;                             // a time budget: what is left of it
  budget.last_at = 50, budget.elapsed_seconds = 600, budget.time_budget_seconds = 1800;
  CHECK(*Remaining(budget, 60) == Approx(1190.0));
  CHECK(About(12.4) == "about 12 s");
  CHECK(About(150) == "about 3 min");
  CHECK(About(3 * 3600 + 600) == "about 3 h 10 min");
}

TEST_CASE("The first waiting job is expected to start when enough holders have ended",
          "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(4, 0);
  devices[0].job_id = devices[1].job_id = 12;
  devices[2].job_id = 13;
  std::map<std::int64_t, Holder> holders = {{12, H("alice", 0, false, 1, 600.0)},
                                            {13, H("bob", 0, false, 2, 60.0)}};
  // One GPU is free; a second comes with job 13 in a minute, two more with job 12 in ten.
  auto plan = PlanQueue({Job(20, 0, 2, "gpu"), Job(21, 0, 1, "gpu")}, devices, {}, holders);
  CHECK(plan[0].devices.empty());
  REQUIRE(plan[0].starts_in.has_value());
  CHECK(*plan[0].starts_in == 60.0);
  CHECK(plan[0].why ==
        "needs 2 GPUs; 1 of 4 free; job 12 (alice, priority 0) holds 2, job 13 (bob, priority 0) "
        "holds 1 until they end; expected to start in about 1 min (an estimate from the running "
        "jobs' progress)");
  CHECK_FALSE(plan[1].starts_in.has_value());  // behind it: no estimate
  CHECK(*PlanQueue({Job(20, 0, 4, "gpu")}, devices, {}, holders)[0].starts_in == 600.0);
  // A holder with no estimate yet, when it is needed: none.
  holders[12].remaining.reset();
  CHECK(PlanQueue({Job(20, 0, 2, "gpu")}, devices, {}, holders)[0].starts_in == 60.0);
  CHECK_FALSE(PlanQueue({Job(20, 0, 3, "gpu")}, devices, {}, holders)[0].starts_in.has_value());
  // A stopping holder's devices are as good as free.
  holders[12].stopping = true;
  CHECK(*PlanQueue({Job(20, 0, 3, "gpu")}, devices, {}, holders)[0].starts_in == 0.0);
  // Pinned: when the last of its devices' holders ends.
  QueuedJob pinned = Job(20, 0, 2, "gpu");
  pinned.pinned = {"cuda:2", "cuda:3"};
  CHECK(*PlanQueue({pinned}, devices, {}, holders)[0].starts_in == 60.0);
}

TEST_CASE("A job that needs GPU memory takes GPUs with that much free, or waits saying so",
          "[unit][plan]") {
  constexpr std::int64_t kGiB = 1LL << 30;
  std::vector<DeviceUse> devices = Free(3, 0);
  devices[0].job_id = 12;  // busy: NVML is not asked about it
  devices[1].free_memory = 4 * kGiB + kGiB / 2;
  devices[2].free_memory = 10 * kGiB;
  QueuedJob big = Job(20, 0, 1, "gpu");
  big.memory = 8 * kGiB;
  // cuda:1 is first among the free ones but has 4.5 GiB: cuda:2 it is.
  CHECK(PlanQueue({big}, devices, {})[0].devices == std::vector<std::size_t>{2});
  // Two such GPUs are not there: it waits, and says which memory there is.
  big.devices = 2;
  auto plan = PlanQueue({big}, devices, {}, {{12, H("alice", 0)}});
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].why ==
        "needs 2 GPUs with 8.0 GiB free; 2 of 3 free, with at most 4.5 GiB free (NVML); job 12 "
        "(alice, priority 0) holds 1 until it ends");
  // Where NVML does not tell, a GPU counts as having it.
  devices[1].free_memory.reset();
  CHECK(PlanQueue({big}, devices, {})[0].devices == std::vector<std::size_t>{1, 2});
  // Pinned to a GPU without the memory: it waits for that GPU to have it.
  devices[1].free_memory = 2 * kGiB;
  big.devices = 1;
  big.pinned = {"cuda:1"};
  plan = PlanQueue({big}, devices, {});
  CHECK(plan[0].devices.empty());
  CHECK(plan[0].why == "needs cuda:1 with 8.0 GiB free; cuda:1 has 2.0 GiB free (NVML)");
  // A job that asks for no memory takes any free GPU.
  CHECK(PlanQueue({Job(21, 0, 1, "gpu")}, devices, {})[0].devices == std::vector<std::size_t>{1});
}

TEST_CASE("A pinned job preempts the holders of its devices, or no one", "[unit][plan]") {
  std::vector<DeviceUse> devices = Free(3, 0);
  devices[0].job_id = 12;
  devices[1].job_id = 13;
  const std::map<std::int64_t, Holder> holders = {{12, H("alice", 1, false, 1)},
                                                  {13, H("bob", 7, false, 2)}};
  QueuedJob pinned = Preempting(20, 5, 2);
  pinned.pinned = {"cuda:0", "cuda:2"};
  CHECK(PlanQueue({pinned}, devices, {}, holders)[0].preempt == std::vector<std::int64_t>{12});
  pinned.pinned = {"cuda:0", "cuda:1"};  // job 13 outranks it
  CHECK(PlanQueue({pinned}, devices, {}, holders)[0].preempt.empty());
}

}  // namespace
}  // namespace entrenar::supervisor
