#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// One example as token ids. `target[i]` is 1 when predicting ids[i] from ids[0..i-1] counts in
// the loss: the answer and its end-of-sequence token for instruction data, every token after
// the first for plain text.
struct TextExample {
  std::vector<std::int32_t> ids;
  std::vector<std::uint8_t> target;
  // Packed windows (padding: none): the example each token belongs to (0, 1, ... within the
  // window); a token attends only to its own example's earlier tokens. Empty otherwise.
  std::vector<std::int32_t> segment;
  // Instruction data: 1 for the prompt template's own tokens (its text before the first field
  // and after the last), which augmentation leaves as they are. Empty for plain text.
  std::vector<std::uint8_t> fixed;
  std::string prompt;  // instruction data: the formatted prompt; plain text: empty
  std::string answer;  // instruction data: the reference answer
  std::string where;   // file:line of the record
};

// A text step of data.augmentation (SPEC §2.2) on a training example's tokens.
struct TextStep {
  enum class Kind { kSwap, kDelete };
  Kind kind = Kind::kSwap;
  double probability = 0.1;
};

// The text data of a language-model run after loading, splitting and tokenizing.
struct TextData {
  std::string tokenizer;  // the tokenizer file, resolved
  std::int64_t vocab_size = 0;
  std::int32_t bos_id = -1, eos_id = -1;  // -1: the tokenizer has none
  bool instruction = false;     // records with instruction/input/output (Alpaca), else plain text
  std::string prompt_template;  // instruction data: the template, resolved ("alpaca" expanded)
  std::int64_t max_length = 512;
  std::string padding = "longest";  // "none" packs examples into max_length windows (segments)
  std::int64_t truncated = 0;       // examples cut at max_length
  std::vector<TextExample> train, val, test;
  std::vector<TextStep> augmentation;  // applied to training examples, afresh each epoch
  std::uint64_t seed = 0;              // the loader's: what the augmentation's draws come from
};

// The Alpaca prompt templates: `{name}` is replaced by the record's `name` field. With an
// empty `input` the template without the input section is used.
inline constexpr const char* kAlpacaTemplate =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
inline constexpr const char* kAlpacaTemplateNoInput =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n";

// `template_text` with every `{field}` replaced by `fields[field]`. Returns kInvalidArgument
// naming a field the record lacks (`{{` and `}}` are literal braces).
Result<std::string> FormatPrompt(const std::string& template_text,
                                 const std::vector<std::string>& columns,
                                 const std::vector<std::string>& values);

// Training example `e` as data.augmentation's text steps leave it, each step drawing from `rng`.
// Never moved: the beginning- and end-of-sequence tokens; in instruction data the answer and the
// prompt template's own text (only the record's fields change). random_swap: each other token,
// with the step's probability, trades places with another one of its example (of its segment in
// a packed window), chosen at random; random_delete: each one is dropped with the probability,
// one of them kept when all would go (EDA's random swap and deletion, on tokens). What is learnt
// stays true text: in plain text a moved token and the token after a dropped one are no longer
// targets (the model reads the noise as context, never learns to write it). The result has ids,
// target, segment and fixed only; a segment's first token is never a target.
TextExample AugmentText(const TextData& d, const TextExample& e, std::mt19937_64& rng);

// Training examples `rows` of epoch `epoch`, each augmented with draws from (d.seed, epoch, row)
// only: the same for any number of loader workers and when a run resumes mid-epoch.
std::vector<TextExample> AugmentedExamples(const TextData& d, const std::vector<std::int64_t>& rows,
                                           std::int64_t epoch);

// Loads data.source (split by ratio) or data.train/val/test (JSONL, JSON, CSV), relative to
// `base_dir`, and tokenizes it with the `tokenize` step's tokenizer. Records with `instruction`
// and `output` fields are instruction data (prompt from the template, loss on the answer);
// otherwise the `column` field (default `text`) is plain text. Errors name the key, or the file
// and line of a bad record.
Result<TextData> PrepareText(const manifest::Manifest& m, const std::string& base_dir,
                             std::uint64_t seed);

}  // namespace entrenar::engine
