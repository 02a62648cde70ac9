#pragma once

#include <functional>
#include <string_view>

namespace entrenar {

// Fault injection for the aimed-kill tests (tests/integration/kill_points_test.cc). A kill point
// names a moment where a crash must lose nothing: when the environment variable ENTRENAR_KILL_AT
// names it ("worker.checkpoint.written", or "worker.checkpoint.written@3" for its third pass),
// the process kills itself there with SIGKILL, as the OOM killer or a power cut would. `before`,
// when given, runs first (to leave half a line behind, say). Unset, a point costs one branch.
// The names in use: docs/development.md ("Aimed kills").
void KillPoint(std::string_view name, const std::function<void()>& before = {});

}  // namespace entrenar
