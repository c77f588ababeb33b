// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Multiple-choice benchmarks with and without a critical set zeroed (achilles-cli eval).
// Plain value types only: the GUI uses this header without torch.
//
// Input (load_benchmark):
//   JSONL  {"question": str, "choices": [str, ...], "answer": 0-based int}  (optional "subject",
//          "id" (string or integer), "labels" [str, ...] of the same length as choices), or the
//          ARC layout {"question": str, "choices": {"text": [...], "label": [...]}, "answerKey": str}
//          where answerKey is one of the labels (a letter or a digit). Unknown members are ignored.
//   CSV    MMLU style (RFC 4180 quoting): question, choice A, choice B, ..., answer letter; no header
//          (Hendrycks' files), or a header row whose first column is "question" naming columns
//          question, A.. / choice0.., answer and optionally subject. The answer is a letter A..,
//          or a 0-based index (the Hugging Face export). Without a subject column the subject is the
//          file name's stem with a trailing _test/_val/_dev removed.
//   Every bad input is an Error naming the file and line ("bench.jsonl:7") and the field.
//
// Scoring (run_benchmark):
//   ll   lm-evaluation-harness's log-likelihood protocol: context "Question: {q}\nAnswer:", each
//        continuation " " + choice; whole = encode(context + continuation), continuation tokens =
//        whole[len(encode(context)):] (the harness's _encode_pair); the sequence is [BOS] + whole
//        (BOS when the model has one, as in the perplexity protocol); log P(continuation) is the sum of
//        the continuation tokens' log-probabilities. acc = argmax of it; acc_norm = argmax of it divided
//        by the continuation's length in UTF-8 bytes (the harness divides by len() of the Python
//        string: the same for ASCII). Ties go to the first choice (numpy argmax). A sequence longer
//        than the context keeps its last `context` tokens (the harness truncates on the left).
//   gen  the paper's protocol: gen_prompt() lists the choices as (A) (B) ... and asks to end with
//        "The answer is (X)"; greedy decoding of up to max_new tokens (stops at EOS); the answer is
//        the first match of the regex `The answer is \(?([A-Z])\)?`; fallback: the first standalone
//        capital letter A..(A+n-1) of the output (not next to another letter or digit); else no answer
//        (counted wrong). A regex letter past the choices counts as answered and wrong.
//   chat (BenchOptions::chat_template set; achilles-cli eval --chat-template): the ll context and the gen
//        prompt are each rendered as one user message with add_generation_prompt = true (achilles/
//        chat_template.h); the ll continuation stays " " + choice after the rendered context. The
//        rendered text is encoded without special tokens added, so special-token text in it (BOS,
//        <|im_start|>, ...) becomes those tokens. BOS rule: nothing is prepended, as transformers'
//        apply_chat_template does, so BOS appears exactly where the template writes it (Llama-3,
//        Mistral, Gemma emit bos_token; Qwen's and Phi-3's do not, and get none).
// Accuracy comes with a 95% Wilson score interval (z = 1.959963984540054).
#include "achilles/engine.h"
#include "achilles/neuron.h"
#include "achilles/progress.h"
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace achilles {

class ChatTemplate;  // achilles/chat_template.h

inline constexpr const char* kBenchSchema = "achilles.bench/1";
inline constexpr size_t kMaxBenchFileBytes = size_t(1) << 30;   // 1 GiB
inline constexpr size_t kMaxBenchFieldBytes = size_t(1) << 20;  // one question or choice: 1 MiB
inline constexpr int kMaxBenchChoices = 26;                     // lettered A..Z
inline constexpr int kMaxBenchMaxNew = 4096;

struct BenchItem {
    std::string id;                   // from the file, or "<line>"
    std::string subject;              // empty when none
    std::string question;
    std::vector<std::string> choices; // 2..26
    std::vector<std::string> labels;  // as given (ARC digits), else A, B, ...
    int answer = 0;                   // 0-based
    int line = 0;                     // 1-based line of the record in the source
    bool operator==(const BenchItem&) const = default;
};

struct BenchSet {
    std::string source;               // the path as given
    std::string format;               // "jsonl" or "csv"
    std::vector<BenchItem> items;
    std::vector<std::string> subjects() const;  // sorted, unique, non-empty
};

// Reads a benchmark file (.csv: CSV, anything else: JSONL), at most `limit` items (0: all; lines past
// the limit are not read). Throws Error naming the file, line and field.
BenchSet load_benchmark(const std::string& path, int limit = 0);
// The same from text in memory; `source` names it in messages, `file_stem` gives the CSV subject.
BenchSet parse_benchmark_jsonl(std::string_view text, const std::string& source, int limit = 0);
BenchSet parse_benchmark_csv(std::string_view text, const std::string& source, int limit = 0,
                             const std::string& subject = {});

// Prompts (documented above).
std::string ll_context(const BenchItem& item);
std::string ll_continuation(const BenchItem& item, int choice);
std::string gen_prompt(const BenchItem& item);
class ChatTemplate;
// Renders every item's ll context and gen prompt through the template, so that a template that
// fails on them (raise_exception, a missing key) fails before any scoring. run_benchmark calls it
// first; the CLI also calls it before loading the model. Throws the template's Error.
void check_chat_prompts(const ChatTemplate& chat, const BenchSet& set);

enum class AnswerHow { regex, fallback, none };
std::string_view answer_how_name(AnswerHow h);
struct Extracted {
    int choice = -1;                  // 0-based; may be >= n for a regex letter past the choices; -1: none
    AnswerHow how = AnswerHow::none;
};
Extracted extract_answer(std::string_view output, int n_choices);

struct Interval {
    double lo = 0, hi = 1;
};
inline constexpr double kZ95 = 1.959963984540054;
// Wilson score interval for `correct` successes in n trials; n = 0 gives [0, 1].
Interval wilson_interval(int64_t correct, int64_t n, double z = kZ95);

// A set of channels zeroed at every position while answering.
struct BenchCondition {
    std::string name;                 // unmasked, critical, minimal, random
    MaskSpec mask;
    bool operator==(const BenchCondition&) const = default;
};
// `count` distinct channels drawn uniformly from every channel of the 9 hooked sites of every layer
// (a partial Fisher-Yates over that population with splitmix64 draws keyed by seed), sorted.
std::vector<Neuron> random_channels(const ModelShape& shape, int count, uint64_t seed);
// The unique neurons of a mask, in first-seen order.
std::vector<Neuron> mask_neurons(const MaskSpec& mask);

enum class BenchMethod { ll, gen, both };
std::optional<BenchMethod> bench_method_from_name(std::string_view s);
std::string_view bench_method_name(BenchMethod m);

struct BenchOptions {
    BenchMethod method = BenchMethod::both;
    int max_new = 50;                 // gen: new tokens, 1..kMaxBenchMaxNew
    uint64_t seed = 42;               // recorded; the random condition is drawn with it by the caller
    int64_t context = 0;              // 0: the model's max_position_embeddings
    std::shared_ptr<const ChatTemplate> chat_template;  // null: plain prompts
};

struct Accuracy {
    int64_t correct = 0, n = 0;
    double acc = 0;
    Interval ci;
    bool operator==(const Accuracy&) const = default;
};
struct MethodAccuracy {
    Accuracy ll_acc, ll_acc_norm, gen_acc;
    int64_t gen_regex = 0, gen_fallback = 0, gen_no_answer = 0;
    bool operator==(const MethodAccuracy&) const = default;
};

// One item under one condition.
struct ItemScore {
    std::vector<double> logprob;      // ll: per choice, summed over the continuation tokens
    std::vector<int> tokens;          // ll: continuation tokens per choice
    std::vector<int> bytes;           // ll: continuation bytes per choice
    int ll_pred = -1, ll_norm_pred = -1;
    std::string gen_text;             // gen: the decoded output
    int gen_pred = -1;
    AnswerHow gen_how = AnswerHow::none;
    bool truncated = false;           // a sequence was cut to the context
    bool operator==(const ItemScore&) const = default;
};

struct ConditionResult {
    std::string name;
    std::vector<Neuron> neurons;      // unique channels zeroed
    MethodAccuracy overall;
    std::map<std::string, MethodAccuracy> subjects;  // only when items carry subjects
    std::vector<ItemScore> items;     // in item order
    bool operator==(const ConditionResult&) const = default;
};

struct BenchReport {
    std::string schema = kBenchSchema;
    ModelFingerprint model;
    std::string model_type;
    std::string source, format;
    int rows = 0;
    BenchMethod method = BenchMethod::both;
    int max_new = 50;
    uint64_t seed = 42;
    int64_t context = 0;
    bool bos = false;
    std::string chat_template;        // the template's source (tokenizer_config.json); empty: none
    std::vector<std::string> item_ids, item_subjects;
    std::vector<int> item_answers;
    std::vector<ConditionResult> conditions;
};

// Scores every item under every condition. Progress stage "eval"; Cancelled when cancelled.
// Throws Error when the model has no tokenizer or an option is out of range.
BenchReport run_benchmark(const Engine& engine, const BenchSet& set, const std::vector<BenchCondition>& conditions,
                          const BenchOptions& options, Progress& progress);

// Deterministic outputs (no timings): the JSON document (schema achilles.bench/1), a CSV with one row
// per condition x method x subject ("all" first), and the printed table.
std::string bench_report_to_json(const BenchReport& r, int indent = 2);
std::string bench_report_to_csv(const BenchReport& r);
std::string bench_report_table(const BenchReport& r);

}  // namespace achilles
