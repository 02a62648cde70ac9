// Reading a Parquet file into entrenar's tables: the typed columns (ReadParquetFile) and the data
// layer's text table (ParquetToTable), best of RUNS, with the peak resident memory.
//   bench_parquet_read FILE [RUNS] [COLUMN...]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "entrenar/formats/parquet.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

double PeakMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace entrenar::formats;
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_parquet_read FILE [RUNS] [COLUMN...]\n");
    return 2;
  }
  const std::string file = argv[1];
  const int runs = argc > 2 ? std::stoi(argv[2]) : 3;
  ParquetReadOptions options;
  for (int i = 3; i < argc; ++i) options.columns.emplace_back(argv[i]);
  const double mb = static_cast<double>(std::filesystem::file_size(file)) / 1e6;
  double typed = 1e30, text = 1e30;
  std::size_t rows = 0, columns = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    entrenar::Result<ParquetTable> table = ReadParquetFile(file, options);
    if (!table.ok()) {
      std::fprintf(stderr, "%s\n", table.status().message().c_str());
      return 1;
    }
    typed = std::min(typed, Seconds(t0));
    const auto t1 = std::chrono::steady_clock::now();
    const Table t = ParquetToTable(*table, file);
    text = std::min(text, Seconds(t1));
    rows = t.rows.size();
    columns = t.columns.size();
  }
  std::printf("entrenar: %.1f MB file, %zu rows x %zu columns\n", mb, rows, columns);
  std::printf(
      "entrenar: typed columns %.3f s (%.0f MB/s of file); + text table %.3f s "
      "(%.0f MB/s all told); peak RSS %.0f MiB\n",
      typed, mb / typed, text, mb / (typed + text), PeakMiB());
  return 0;
}
