// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli eval: multiple-choice accuracy with and without a critical set zeroed.
#include "achilles/benchmark.h"
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/results.h"
#include "cli_util.h"
#include <filesystem>
#include <iostream>
#include <memory>

namespace achilles::cli {

namespace {
struct EvalOpts {
    ModelOpts m;
    std::string bench, result, mask, method = "both", out, csv;
    int limit = 0;
    int max_new = 50;
    uint64_t seed = 42;
    bool no_random = false;
    bool chat_template = false;
};

void check_out_path(const std::string& path, const std::string& flag) {
    if (path.empty()) return;
    std::error_code ec;
    auto parent = std::filesystem::absolute(path).parent_path();
    if (!std::filesystem::is_directory(parent, ec))
        throw Error(path, flag, "the folder " + parent.string() + " does not exist");
    if (std::filesystem::is_directory(path, ec)) throw Error(path, flag, "is a directory; give a file name");
}
}  // namespace

void register_eval(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand(
        "eval", "multiple-choice benchmark accuracy: unmasked, critical set, minimal set and a random set of the same size");
    auto o = std::make_shared<EvalOpts>();
    add_model_opts(sub, o->m);
    sub->add_option("--bench", o->bench,
                    "benchmark file: JSONL {question, choices, answer} (or ARC's choices{text,label} + answerKey), "
                    "or MMLU-style CSV (question, A, B, C, D, answer letter)")
        ->required();
    auto* res = sub->add_option("--result", o->result, "search result JSON: its faithful set (and minimal set, if any)");
    sub->add_option("--mask", o->mask, "the critical set as a mask spec (L3.down_proj:7,... or a JSON file)")->excludes(res);
    sub->add_option("--limit", o->limit, "only the first N questions (0: all)");
    sub->add_option("--seed", o->seed, "seed of the random set")->capture_default_str();
    sub->add_option("--method", o->method, "ll (log-likelihood), gen (generation + answer extraction) or both")
        ->capture_default_str();
    sub->add_option("--max-new", o->max_new, "gen: new tokens at most")->capture_default_str();
    sub->add_flag("--no-random", o->no_random, "leave out the random set of the same size");
    sub->add_flag("--chat-template", o->chat_template,
                  "wrap each prompt as one user message with the model's chat template (tokenizer_config.json), "
                  "add_generation_prompt=true; an error when the model has none or the template uses unsupported features");
    sub->add_option("--out", o->out, "write the report JSON (atomically)");
    sub->add_option("--csv", o->csv, "write accuracies as CSV (condition, method, subject, ...)");
    on_run(sub, run, [&g, o] {
        if (o->limit < 0) throw Error("command line", "--limit", "must not be negative");
        if (o->max_new < 1 || o->max_new > kMaxBenchMaxNew)
            throw Error("command line", "--max-new", "must be 1 to " + std::to_string(kMaxBenchMaxNew));
        const auto method = bench_method_from_name(o->method);
        if (!method) throw Error("command line", "--method", "must be ll, gen or both, got '" + o->method + "'");
        check_out_path(o->out, "--out");
        check_out_path(o->csv, "--csv");
        // Inputs are read and checked before the model loads.
        const BenchSet set = load_benchmark(o->bench, o->limit);
        std::shared_ptr<const ChatTemplate> chat;
        auto load_chat = [&](const std::string& folder) {
            chat = std::make_shared<const ChatTemplate>(load_chat_template(folder));
            if (!chat->note().empty()) std::cerr << "note: " << chat->file() << ": " << chat->note() << "\n";
            check_chat_prompts(*chat, set);  // before the model loads, when the folder is known
        };
        std::error_code ec;
        if (o->chat_template && std::filesystem::is_directory(o->m.model, ec)) load_chat(o->m.model);
        std::optional<SearchResult> result;
        MaskSpec critical;
        if (!o->result.empty()) {
            result = result_from_json(read_file(o->result), o->result);
            for (const auto& w : result->warnings) std::cerr << "note: " << w << "\n";
            for (const auto& n : result->faithful.neurons) critical.push_back(MaskEntry{n, {}});
            if (critical.empty()) throw Error(o->result, "faithful.neurons", "the result's faithful set is empty");
        } else if (!o->mask.empty()) {
            critical = parse_mask_spec(o->mask);
            if (critical.empty()) throw Error("command line", "--mask", "the mask is empty");
        }
        CliProgress progress(g.quiet);
        auto engine = load_engine(o->m, progress);
        if (o->chat_template && !chat) load_chat(engine->info().fingerprint.path);  // e.g. --model default
        const ModelShape& shape = engine->info().shape;
        if (result) validate_result(*result, o->result, &shape);
        validate_mask(critical, shape);
        std::vector<BenchCondition> conds;
        conds.push_back({"unmasked", {}});
        if (!critical.empty()) {
            conds.push_back({"critical", critical});
            if (result && result->minimal && !result->minimal->neurons.empty()) {
                MaskSpec mm;
                for (const auto& n : result->minimal->neurons) mm.push_back(MaskEntry{n, {}});
                conds.push_back({"minimal", mm});
            }
            if (!o->no_random) {
                MaskSpec rm;
                const int k = static_cast<int>(mask_neurons(critical).size());
                for (const auto& n : random_channels(shape, k, o->seed)) rm.push_back(MaskEntry{n, {}});
                conds.push_back({"random", rm});
            }
        }
        BenchOptions bo;
        bo.method = *method;
        bo.max_new = o->max_new;
        bo.seed = o->seed;
        bo.chat_template = chat;
        const BenchReport rep = run_benchmark(*engine, set, conds, bo, progress);
        progress.finish();
        const std::string doc = bench_report_to_json(rep);
        if (!o->out.empty() && !o->csv.empty()) {
            const std::string csv = bench_report_to_csv(rep);
            const FileContents files[] = {{o->out, doc}, {o->csv, csv}};
            write_files_atomic(files);
        } else if (!o->out.empty()) {
            write_file_atomic(o->out, doc);
        } else if (!o->csv.empty()) {
            write_file_atomic(o->csv, bench_report_to_csv(rep));
        }
        if (g.json) std::cout << doc;
        else std::cout << bench_report_table(rep);
        return 0;
    });
}

}  // namespace achilles::cli
