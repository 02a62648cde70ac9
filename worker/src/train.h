#pragma once

namespace CLI {
class App;
}

namespace entrenar::worker {

// Registers `train FILE [--set ...] [--output DIR] [--resume CHECKPOINT] [--dry-run]
// [--evaluate] [--events FILE --report TARGET --job-id N] [--base-dir DIR]`; its callback stores
// its exit code (console/exit_codes.h) in *exit_code.
void AddTrainCommand(CLI::App& app, int* exit_code);

}  // namespace entrenar::worker
