// The fuzz targets without libFuzzer: runs LLVMFuzzerTestOneInput once on every file named on the
// command line (directories: every file in them, sorted), so the suite replays each target's
// seed corpus and the regression inputs of past findings in every build, sanitized or not.
// Fails when no input was found (a moved corpus must not pass silently) or when one input takes
// longer than ENTRENAR_FUZZ_SLOW_S seconds (default 10).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> Inputs(int argc, char** argv) {
  std::vector<std::filesystem::path> out;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    if (!std::filesystem::exists(p)) continue;  // a target without past findings has no folder
    if (!std::filesystem::is_directory(p)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::filesystem::path> in_dir;
    for (const auto& e : std::filesystem::directory_iterator(p)) {
      if (e.is_regular_file()) in_dir.push_back(e.path());
    }
    std::sort(in_dir.begin(), in_dir.end());
    out.insert(out.end(), in_dir.begin(), in_dir.end());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const char* slow_env = std::getenv("ENTRENAR_FUZZ_SLOW_S");
  const double slow_s = slow_env ? std::atof(slow_env) : 10.0;
  const std::vector<std::filesystem::path> inputs = Inputs(argc, argv);
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs found in the paths given\n");
    return 2;
  }
  double slowest = 0;
  std::string slowest_name;
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > slowest) slowest = s, slowest_name = path.string();
  }
  std::printf("%zu inputs ran clean; the slowest, %s, took %.3f s\n", inputs.size(),
              slowest_name.c_str(), slowest);
  if (slowest > slow_s) {
    std::fprintf(stderr, "%s took %.3f s, over the %.1f s allowed\n", slowest_name.c_str(), slowest,
                 slow_s);
    return 1;
  }
  return 0;
}
