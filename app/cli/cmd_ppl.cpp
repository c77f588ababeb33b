// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/error.h"
#include "achilles/search.h"
#include "cli_util.h"
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

namespace achilles::cli {

namespace {
struct PplOpts {
    ModelOpts m;
    TextInput input;
    std::string dataset, mask, weight_edit, calibrate_ids, calibrate_text, calibrate_dataset;
    int max_tokens = 512;
    int max_samples = 0;
    int calibrate_max_samples = 16;
};
}  // namespace

void register_ppl(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("ppl", "perplexity of a text, ids or a dataset, optionally with a mask");
    auto o = std::make_shared<PplOpts>();
    add_model_opts(sub, o->m);
    o->input.flags = {.text_help = "text: [BOS] + tokens", .ids_help = "comma-separated token ids, used exactly (no BOS added)"};
    auto* d = sub->add_option("--dataset", o->dataset, "WikiText .txt/.raw or JSONL with a \"text\" field");
    add_text_input(sub, o->input, {d});
    sub->add_option("--max-tokens", o->max_tokens, "truncate each sample to this many tokens")->capture_default_str();
    sub->add_option("--max-samples", o->max_samples, "dataset: at most this many samples (0: all)");
    sub->add_option("--mask", o->mask,
                    "mask spec: L3.down_proj:7,L0.o_proj:12 or a JSON file/array; a mode per entry: "
                    "=zero (default), =mean, =scale:S, =clamp:P (e.g. L1.down_proj:5@0=mean)");
    sub->add_option("--weight-edit", o->weight_edit,
                    "scale single weights for this run only, e.g. L1.down_proj[2070,431]*0 (W[row,col], [out,in])");
    auto* ci = sub->add_option("--calibrate-ids", o->calibrate_ids,
                               "mean/clamp statistics from these ids (default: the ids being scored); "
                               "several samples separated by ';' are pooled (1,5,9;14,22)");
    auto* ct = sub->add_option("--calibrate-text", o->calibrate_text,
                               "mean/clamp statistics from [BOS] + this UTF-8 file's tokens")->excludes(ci);
    sub->add_option("--calibrate-dataset", o->calibrate_dataset,
                    "mean/clamp statistics pooled over a dataset sample (WikiText .txt/.raw or JSONL \"text\"; "
                    "each sample [BOS] + text, truncated at --max-tokens)")
        ->excludes(ci)->excludes(ct);
    sub->add_option("--calibrate-max-samples", o->calibrate_max_samples,
                    "--calibrate-dataset: its first N samples (0: all)")->capture_default_str();
    on_run(sub, run, [&g, o, sub] {
        require_one_of(sub, {"--text", "--text-file", "--ids", "--dataset"});
        if (o->max_tokens < 2) throw Error("command line", "--max-tokens", "must be at least 2");
        if (o->max_samples < 0) throw Error("command line", "--max-samples", "must not be negative");
        MaskSpec mask;
        if (!o->mask.empty()) mask = parse_mask_spec(o->mask);
        const Input in = read_text_input(o->input, false);
        std::vector<std::string> texts;
        if (!o->dataset.empty()) texts = load_dataset_texts(o->dataset, o->max_samples);
        std::vector<int> ids = in.ids;
        CliProgress progress(g.quiet);
        auto engine = load_engine(o->m, progress);
        validate_mask(mask, engine->info().shape);
        const std::vector<WeightEdit> edits = o->weight_edit.empty() ? std::vector<WeightEdit>{} : parse_weight_edits(o->weight_edit);
        validate_weight_edits(edits, engine->info().shape);
        nlohmann::json calibration;  // where the mean/clamp statistics came from, when not the scored ids
        if (!o->calibrate_ids.empty() || !o->calibrate_text.empty() || !o->calibrate_dataset.empty()) {
            const char* flag = !o->calibrate_ids.empty()    ? "--calibrate-ids"
                               : !o->calibrate_text.empty() ? "--calibrate-text"
                                                            : "--calibrate-dataset";
            if (!mask_needs_stats(mask))
                throw Error("command line", flag, "the mask has no mean or clamp entry to calibrate");
            std::vector<std::vector<int>> cal;
            if (!o->calibrate_ids.empty()) {
                size_t start = 0;
                while (true) {
                    const size_t semi = o->calibrate_ids.find(';', start);
                    const std::string part = o->calibrate_ids.substr(start, semi == std::string::npos ? semi : semi - start);
                    cal.push_back(parse_int_list(part, "--calibrate-ids"));
                    if (semi == std::string::npos) break;
                    start = semi + 1;
                }
                calibration["source"] = "--calibrate-ids";
            } else if (!o->calibrate_text.empty()) {
                cal.push_back(engine->encode_for_ppl(read_text_file(o->calibrate_text), o->max_tokens));
                calibration["source"] = o->calibrate_text;
            } else {
                if (o->calibrate_max_samples < 0)
                    throw Error("command line", "--calibrate-max-samples", "must not be negative");
                for (const std::string& t : load_dataset_texts(o->calibrate_dataset, o->calibrate_max_samples))
                    cal.push_back(engine->encode_for_ppl(t, o->max_tokens));
                if (cal.empty()) throw Error(o->calibrate_dataset, "text", "the dataset has no samples");
                calibration["source"] = o->calibrate_dataset;
            }
            int64_t tokens = 0;
            for (const auto& c : cal) tokens += int64_t(c.size());
            calibration["samples"] = cal.size();
            calibration["tokens"] = tokens;
            mask = engine->calibrate(cal, mask, progress);
        }
        if (!edits.empty() && !o->dataset.empty())
            throw Error("command line", "--weight-edit", "applies to one text or ids, not to a dataset");
        int max_tokens = o->max_tokens;
        const int64_t ctx = model_context(*engine);
        if (ctx > 0 && max_tokens > ctx) {
            if (sub->count("--max-tokens"))
                std::cerr << "note: --max-tokens " << max_tokens << " capped to the model's context of " << ctx
                          << " positions\n";
            max_tokens = static_cast<int>(ctx);
        }
        nlohmann::json j;
        if (!o->dataset.empty()) {
            DatasetPpl r = dataset_perplexity(*engine, texts, mask, max_tokens, progress);
            progress.finish();
            j["ppl"] = r.ppl;
            j["samples"] = r.samples;
            j["tokens"] = r.tokens;
            j["dataset"] = o->dataset;
        } else {
            if (!in.has_ids) {
                if (in.text.find_first_not_of(" \t\r\n") == std::string::npos)
                    throw Error(in.source, "text", "the text is empty");
                ids = engine->encode_for_ppl(in.text, max_tokens);
            } else {
                const int V = engine->info().vocab;
                for (int id : ids)
                    if (id < 0 || id >= V)
                        throw Error("command line", "--ids",
                                    "id " + std::to_string(id) + " is outside the vocabulary (size " +
                                        std::to_string(V) + ")");
            }
            if (ctx > 0 && static_cast<int64_t>(ids.size()) > ctx)
                throw Error("command line", "--ids",
                            std::to_string(ids.size()) + " ids exceed the model's context of " +
                                std::to_string(ctx) + " positions (max_position_embeddings)");
            if (ids.size() < 2)
                throw Error("command line", in.has_ids ? "--ids" : "text",
                            "perplexity needs at least 2 tokens (got " + std::to_string(ids.size()) + ")");
            PplResult r = engine->perplexity(ids, mask, edits, progress);
            progress.finish();
            j["ppl"] = r.ppl;
            j["nll"] = r.nll;
            j["tokens"] = r.tokens;
        }
        if (!calibration.is_null()) j["calibration"] = calibration;
        if (g.json) {
            std::cout << j.dump(2) << "\n";
        } else {
            std::cout << "ppl " << j["ppl"].get<double>() << " (log10 " << std::log10(j["ppl"].get<double>())
                      << "), tokens " << j["tokens"].get<int>();
            if (j.contains("samples")) std::cout << ", samples " << j["samples"].get<int>();
            if (!mask.empty()) std::cout << ", masked " << mask.size() << " neurons";
            if (!calibration.is_null())
                std::cout << ", statistics from " << calibration["samples"].get<size_t>() << " sample(s), "
                          << calibration["tokens"].get<int64_t>() << " tokens";
            std::cout << "\n";
        }
        return 0;
    });
}

}  // namespace achilles::cli
