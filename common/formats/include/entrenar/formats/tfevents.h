#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats {

// CRC-32C (Castagnoli), and the masked form TFRecord stores: ((crc >> 15 | crc << 17) +
// 0xa282ead8).
std::uint32_t Crc32c(const void* data, std::size_t n);
std::uint32_t MaskedCrc32c(const void* data, std::size_t n);

// One TensorBoard event as entrenar writes it: a wall time, a step and scalar values by tag
// (an empty `scalars` with `file_version` set is the file's first record).
struct ScalarEvent {
  double wall_time = 0;
  std::int64_t step = 0;
  std::string file_version;  // "brain.Event:2" in the first record
  std::map<std::string, float> scalars;
};

// Serializes one Event protocol buffer (tensorflow/core/util/event.proto: wall_time = 1, step = 2,
// file_version = 3, summary = 5; Summary.value = 1; Value.tag = 1, simple_value = 2).
std::string EncodeEvent(const ScalarEvent& e);
// One TFRecord: length (u64 LE), masked CRC of the length, data, masked CRC of the data.
std::string EncodeRecord(const std::string& data);

// Parses a whole event file, checking every record's two CRCs. A truncated last record (a
// writer still running) ends the list; a CRC mismatch is kDataLoss.
Result<std::vector<ScalarEvent>> DecodeEventFile(const std::string& bytes);

// Appends events to DIR/events.out.tfevents.SECONDS.HOST, the name TensorBoard looks for.
// Records are flushed by Flush() and Close(); each record is whole or absent after a crash
// (readers stop at a truncated last record).
class EventFileWriter {
 public:
  // Creates DIR if needed and writes the file_version record.
  static Result<EventFileWriter> Open(const std::string& dir);

  void Add(const ScalarEvent& e);
  Status Flush();
  const std::string& path() const { return path_; }

 private:
  EventFileWriter() = default;
  std::string path_;
  std::ofstream out_;
};

}  // namespace entrenar::formats
