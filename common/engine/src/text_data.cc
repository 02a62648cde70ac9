// Text data for language models: records loaded and split, prompts formatted, tokenized.
#include "entrenar/engine/text_data.h"

#include <algorithm>
#include <map>
#include <optional>

#include "entrenar/base/random.h"
#include "entrenar/base/strings.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/formats/table.h"
#include "entrenar/plan/support.h"
#include "entrenar/text/tokenizer.h"

#include "table_source.h"

namespace entrenar::engine {
namespace {

using formats::Table;

// The text-data keys of a run, resolved.
struct TextPlan {
  const manifest::TokenizeStep* step = nullptr;
  std::string key;  // data.preprocessing[i].tokenize
};

// The record fields instruction data needs.
bool IsInstructionTable(const Table& t) {
  return t.ColumnIndex("instruction") && t.ColumnIndex("output");
}

// The columns a text run reads of a file with columns `have`: an instruction table's
// instruction, input and output and the fields its template names, else the text column (all
// when it is missing, so that the error lists them). Parquet files read no others.
formats::ColumnChooser TextColumns(std::string prompt_template, std::string column) {
  return [prompt_template, column](const std::vector<std::string>& have) {
    const auto has = [&](const std::string& c) {
      return std::find(have.begin(), have.end(), c) != have.end();
    };
    std::vector<std::string> out;
    if (!has("instruction") || !has("output")) {
      if (has(column)) out.push_back(column);
      return out;
    }
    for (const std::string& c : have) {
      const bool named = prompt_template.find("{" + c + "}") != std::string::npos;
      if (c == "instruction" || c == "input" || c == "output" || named) out.push_back(c);
    }
    return out;
  };
}

std::string Cell(const Table& t, std::size_t row, const std::string& column) {
  const auto idx = t.ColumnIndex(column);
  if (!idx || !t.rows[row][*idx]) return "";
  return *t.rows[row][*idx];
}

// A prompt template's own text before its first `{field}` and after its last (`{{` and `}}` read
// as braces); all of it before, when it has no field.
std::pair<std::string, std::string> TemplateEnds(const std::string& tmpl) {
  std::size_t first = std::string::npos, end = 0;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      ++i;
      continue;
    }
    if (c != '{') continue;
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string::npos) break;
    if (first == std::string::npos) first = i;
    end = close + 1;
    i = close;
  }
  const auto text = [](const std::string& part) {
    Result<std::string> r = FormatPrompt(part, {}, {});  // no field: only braces to undo
    return r.ok() ? *r : part;
  };
  if (first == std::string::npos) return {text(tmpl), ""};
  return {text(tmpl.substr(0, first)), text(tmpl.substr(end))};
}

class Tokenizing {
 public:
  Tokenizing(const text::Tokenizer& tok, const TextData& d, std::string key)
      : tok_(tok), d_(d), key_(std::move(key)) {}

  // One record of `t` as an example; nullopt when truncation left it nothing to learn.
  Result<std::optional<TextExample>> Example(const Table& t, std::size_t row,
                                             const std::string& column, std::int64_t* truncated) {
    TextExample e;
    e.where = t.file + ":" + std::to_string(t.row_lines[row]);
    if (d_.bos_id >= 0) Append(&e, {d_.bos_id}, 0);
    if (d_.instruction) {
      const std::string tmpl = Template(t, row);
      ENTRENAR_ASSIGN_OR_RETURN(e.prompt, Prompt(t, row, tmpl));
      e.answer = Cell(t, row, "output");
      const std::vector<std::int32_t> prompt = tok_.Encode(e.prompt);
      e.fixed.assign(e.ids.size(), 1);  // BOS
      const auto [head, tail] = TemplateTokens(tmpl, prompt);
      for (std::size_t i = 0; i < prompt.size(); ++i)
        e.fixed.push_back(i < head || i >= prompt.size() - tail ? 1 : 0);
      Append(&e, prompt, 0);
      Append(&e, tok_.Encode(e.answer), 1);
    } else {
      const std::string text = Cell(t, row, column);
      if (text.empty())
        return InvalidArgument(e.where + ": the text field `" + column + "` is empty");
      Append(&e, tok_.Encode(text), 1);
    }
    if (d_.eos_id >= 0) Append(&e, {d_.eos_id}, 1);
    if (d_.instruction) e.fixed.resize(e.ids.size(), 1);  // the answer and EOS
    if (!e.target.empty()) e.target[0] = 0;               // nothing predicts the first token
    if (d_.padding != "none" && static_cast<std::int64_t>(e.ids.size()) > d_.max_length) {
      if (!step_truncation_) {
        return InvalidArgument(e.where + ": the record is " + std::to_string(e.ids.size()) +
                               " tokens, longer than " + key_ + ".max_length (" +
                               std::to_string(d_.max_length) +
                               "); raise max_length or set truncation: true");
      }
      e.ids.resize(static_cast<std::size_t>(d_.max_length));
      e.target.resize(static_cast<std::size_t>(d_.max_length));
      if (!e.fixed.empty()) e.fixed.resize(static_cast<std::size_t>(d_.max_length));
      ++*truncated;
      if (std::find(e.target.begin(), e.target.end(), 1) == e.target.end())
        return std::optional<TextExample>();
    }
    return std::optional<TextExample>(std::move(e));
  }

  void set_truncation(bool on) { step_truncation_ = on; }

 private:
  static void Append(TextExample* e, const std::vector<std::int32_t>& ids, std::uint8_t target) {
    e->ids.insert(e->ids.end(), ids.begin(), ids.end());
    e->target.insert(e->target.end(), ids.size(), target);
  }

  std::string Template(const Table& t, std::size_t row) const {
    const bool no_input = d_.prompt_template == kAlpacaTemplate && Cell(t, row, "input").empty();
    return no_input ? kAlpacaTemplateNoInput : d_.prompt_template;
  }

  // How many of `prompt`'s first and last tokens are the template's own text: the tokens it
  // shares with the template's text before its first field, and after its last.
  std::pair<std::size_t, std::size_t> TemplateTokens(const std::string& tmpl,
                                                     const std::vector<std::int32_t>& prompt) {
    auto it = template_ends_.find(tmpl);
    if (it == template_ends_.end()) {
      const auto [head, tail] = TemplateEnds(tmpl);
      it = template_ends_.emplace(tmpl, std::pair{tok_.Encode(head), tok_.Encode(tail)}).first;
    }
    const std::vector<std::int32_t>& head = it->second.first;
    const std::vector<std::int32_t>& tail = it->second.second;
    std::size_t h = 0, t = 0;
    while (h < head.size() && h < prompt.size() && head[h] == prompt[h]) ++h;
    while (t < tail.size() && t < prompt.size() - h &&
           tail[tail.size() - 1 - t] == prompt[prompt.size() - 1 - t])
      ++t;
    return {h, t};
  }

  Result<std::string> Prompt(const Table& t, std::size_t row, const std::string& tmpl) const {
    std::vector<std::string> values;
    for (std::size_t c = 0; c < t.columns.size(); ++c) values.push_back(Cell(t, row, t.columns[c]));
    Result<std::string> p = FormatPrompt(tmpl, t.columns, values);
    if (!p.ok()) {
      return InvalidArgument(key_ + ".template: " + p.status().message() + " (record " + t.file +
                             ":" + std::to_string(t.row_lines[row]) + ")");
    }
    return p;
  }

  const text::Tokenizer& tok_;
  const TextData& d_;
  std::string key_;
  bool step_truncation_ = true;
  std::map<std::string, std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>>
      template_ends_;  // each template's text before its first field and after its last, tokens
};

// Packs examples end to end (each already ends with the end-of-sequence token) into windows of
// max_length tokens; the last, shorter window is kept when it has anything to learn.
std::vector<TextExample> Pack(const std::vector<TextExample>& in, std::int64_t max_length) {
  std::vector<TextExample> out;
  TextExample cur;
  for (const TextExample& e : in) {
    for (std::size_t i = 0; i < e.ids.size(); ++i) {
      if (cur.ids.empty()) cur.where = e.where;
      // Each example is a segment of its own: attention stays inside it.
      const std::int32_t segment = cur.segment.empty() ? 0 : cur.segment.back() + (i == 0 ? 1 : 0);
      cur.ids.push_back(e.ids[i]);
      cur.segment.push_back(segment);
      if (!e.fixed.empty()) cur.fixed.push_back(e.fixed[i]);
      // A window's first token is predicted by nothing, nor is an example's first token.
      cur.target.push_back(cur.ids.size() == 1 ? 0 : e.target[i]);
      if (static_cast<std::int64_t>(cur.ids.size()) == max_length) {
        out.push_back(std::move(cur));
        cur = TextExample{};
      }
    }
  }
  if (std::count(cur.target.begin(), cur.target.end(), 1) > 0) out.push_back(std::move(cur));
  return out;
}

// The positions the text steps may move or drop (AugmentText), grouped by segment: one group for
// an unpacked example.
std::vector<std::vector<std::size_t>> Movable(const TextData& d, const TextExample& e) {
  std::vector<std::vector<std::size_t>> groups(1);
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    const std::int32_t id = e.ids[i];
    if (id == d.bos_id || id == d.eos_id || (d.instruction && e.target[i])) continue;
    if (!e.fixed.empty() && e.fixed[i]) continue;
    const auto g = e.segment.empty() ? 0 : static_cast<std::size_t>(e.segment[i]);
    if (groups.size() <= g) groups.resize(g + 1);
    groups[g].push_back(i);
  }
  return groups;
}

void SwapTokens(const TextData& d, double probability, TextExample& e, std::mt19937_64& rng) {
  for (const std::vector<std::size_t>& group : Movable(d, e)) {
    if (group.size() < 2) continue;
    for (std::size_t k = 0; k < group.size(); ++k) {
      if (DrawUnit(rng) >= probability) continue;
      std::size_t j = DrawBelow(rng, group.size() - 1);
      if (j >= k) ++j;  // another one
      std::swap(e.ids[group[k]], e.ids[group[j]]);
      if (!d.instruction) e.target[group[k]] = e.target[group[j]] = 0;  // not true text
    }
  }
}

void DeleteTokens(const TextData& d, double probability, TextExample& e, std::mt19937_64& rng) {
  std::vector<std::uint8_t> drop(e.ids.size(), 0);
  for (const std::vector<std::size_t>& group : Movable(d, e)) {
    std::size_t dropped = 0;
    for (const std::size_t i : group) dropped += drop[i] = DrawUnit(rng) < probability;
    if (!group.empty() && dropped == group.size()) drop[group[DrawBelow(rng, group.size())]] = 0;
  }
  TextExample kept;
  bool gap = false;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (drop[i]) {
      gap = true;
      continue;
    }
    kept.ids.push_back(e.ids[i]);
    // Plain text: what follows a gap is not what followed the token before it.
    kept.target.push_back(gap && !d.instruction ? 0 : e.target[i]);
    if (!e.segment.empty()) kept.segment.push_back(e.segment[i]);
    if (!e.fixed.empty()) kept.fixed.push_back(e.fixed[i]);
    gap = false;
  }
  e = std::move(kept);
}

}  // namespace

TextExample AugmentText(const TextData& d, const TextExample& e, std::mt19937_64& rng) {
  TextExample out;
  out.ids = e.ids;
  out.target = e.target;
  out.segment = e.segment;
  out.fixed = e.fixed;
  for (const TextStep& step : d.augmentation) {
    if (step.kind == TextStep::Kind::kSwap) {
      SwapTokens(d, step.probability, out, rng);
    } else {
      DeleteTokens(d, step.probability, out, rng);
    }
  }
  // What follows a deleted segment start is predicted by nothing either.
  for (std::size_t i = 0; i < out.ids.size(); ++i) {
    if (i == 0 || (!out.segment.empty() && out.segment[i] != out.segment[i - 1])) out.target[i] = 0;
  }
  return out;
}

std::vector<TextExample> AugmentedExamples(const TextData& d, const std::vector<std::int64_t>& rows,
                                           std::int64_t epoch) {
  std::vector<TextExample> out;
  out.reserve(rows.size());
  for (const std::int64_t row : rows) {
    std::mt19937_64 rng(SampleSeed(d.seed, epoch, row));
    out.push_back(AugmentText(d, d.train[static_cast<std::size_t>(row)], rng));
  }
  return out;
}

Result<std::string> FormatPrompt(const std::string& template_text,
                                 const std::vector<std::string>& columns,
                                 const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < template_text.size(); ++i) {
    const char c = template_text[i];
    if ((c == '{' || c == '}') && i + 1 < template_text.size() && template_text[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    const std::size_t close = template_text.find('}', i);
    if (close == std::string::npos) return InvalidArgument("an unclosed `{` in the template");
    const std::string field = template_text.substr(i + 1, close - i - 1);
    const auto it = std::find(columns.begin(), columns.end(), field);
    if (it == columns.end()) {
      const std::string dym = DidYouMean(Suggest(field, columns));
      return InvalidArgument("`{" + field + "}` names no field of the records (" +
                             (dym.empty() ? "fields: " + JoinQuoted(columns) : dym) + ")");
    }
    out += values[static_cast<std::size_t>(it - columns.begin())];
    i = close;
  }
  return out;
}

Result<TextData> PrepareText(const manifest::Manifest& m, const std::string& base_dir,
                             std::uint64_t seed) {
  const manifest::DataConfig& d = m.data;
  std::string key;
  for (std::size_t i = 0; i < d.preprocessing.size(); ++i) {
    if (d.preprocessing[i].tokenize) key = "data.preprocessing[" + std::to_string(i) + "].tokenize";
  }
  const manifest::TokenizeStep* step = plan::FindTokenize(m);
  if (!step) return InvalidArgument("data.preprocessing: text needs a tokenize step");
  if (!d.source && !d.train) {
    return InvalidArgument("data: no data to train on; set data.source (or data.train)");
  }
  TextData out;
  out.tokenizer = ResolvePath(base_dir, step->tokenizer);
  Result<std::unique_ptr<text::Tokenizer>> tok = text::LoadTokenizer(out.tokenizer);
  if (!tok.ok()) {
    return Status(tok.status().code(), key + ".tokenizer: " + tok.status().message());
  }
  out.vocab_size = static_cast<std::int64_t>((*tok)->VocabSize());
  out.bos_id = (*tok)->BosId();
  out.eos_id = (*tok)->EosId();
  out.max_length = step->max_length;
  out.padding = step->padding;
  out.prompt_template = step->prompt_template == "alpaca" ? kAlpacaTemplate : step->prompt_template;
  out.seed = d.loader.seed ? static_cast<std::uint64_t>(*d.loader.seed) : seed;
  for (const manifest::AugmentStep& a : d.augmentation) {
    if (a.random_swap)
      out.augmentation.push_back({TextStep::Kind::kSwap, a.random_swap->probability});
    if (a.random_delete) {
      out.augmentation.push_back({TextStep::Kind::kDelete, a.random_delete->probability});
    }
  }

  const std::string first_key = d.source ? "data.source" : "data.train";
  const std::string column = step->column.value_or("text");
  const formats::ColumnChooser choose = TextColumns(out.prompt_template, column);
  ENTRENAR_ASSIGN_OR_RETURN(
      Table first, LoadTable(d, base_dir, first_key, d.source ? *d.source : *d.train, choose));
  out.instruction = IsInstructionTable(first);
  if (!out.instruction) ENTRENAR_RETURN_IF_ERROR(CheckColumn(first, column, key + ".column"));
  Tokenizing tokenizing(**tok, out, key);
  tokenizing.set_truncation(step->truncation);
  auto tokenize = [&](const Table& t, const std::vector<std::size_t>& rows,
                      std::vector<TextExample>* dst) -> Status {
    if (out.instruction != IsInstructionTable(t)) {
      return InvalidArgument(t.file + ": its records are not of the kind of " + first.file +
                             "'s (instruction/output fields or a text field)");
    }
    for (std::size_t r : rows) {
      ENTRENAR_ASSIGN_OR_RETURN(std::optional<TextExample> e,
                                tokenizing.Example(t, r, column, &out.truncated));
      if (e) dst->push_back(std::move(*e));
    }
    if (out.padding == "none") *dst = Pack(*dst, out.max_length);
    return OkStatus();
  };
  auto all_rows = [](const Table& t) {
    std::vector<std::size_t> v(t.rows.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  };
  if (d.source) {
    const manifest::SplitConfig split = manifest::EffectiveSplit(d);
    const std::uint64_t split_seed = split.seed ? static_cast<std::uint64_t>(*split.seed) : seed;
    const auto parts =
        SplitIndices(std::vector<std::string>(first.rows.size()), split, split_seed, false);
    ENTRENAR_RETURN_IF_ERROR(tokenize(first, parts[0], &out.train));
    ENTRENAR_RETURN_IF_ERROR(tokenize(first, parts[1], &out.val));
    ENTRENAR_RETURN_IF_ERROR(tokenize(first, parts[2], &out.test));
  } else {
    ENTRENAR_RETURN_IF_ERROR(tokenize(first, all_rows(first), &out.train));
    for (const auto& [k, path, dst] :
         {std::tuple{"data.val", d.val, &out.val}, std::tuple{"data.test", d.test, &out.test}}) {
      if (!path) continue;
      ENTRENAR_ASSIGN_OR_RETURN(Table t, LoadTable(d, base_dir, k, *path, choose));
      ENTRENAR_RETURN_IF_ERROR(tokenize(t, all_rows(t), dst));
    }
  }
  if (out.train.empty()) return InvalidArgument("data.split: the training split is empty");
  return out;
}

}  // namespace entrenar::engine
