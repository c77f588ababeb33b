// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/error.h"
#include "achilles/results.h"
#include "achilles/search.h"
#include "achilles/stability.h"
#include "achilles/fileio.h"
#include "cli_util.h"
#include "search_flags.h"
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace achilles::cli {

namespace {
struct SearchCliOpts {
    ModelOpts m;
    TextInput input;
    std::string out, figures, dump_noise;
    std::string probes, heldout;
    std::vector<std::string> vary;
    int consensus = 0, heldout_max = 0;
    SearchFlags flags;
};

// The CSV tables for --figures, as (file name, contents).
std::vector<std::pair<std::string, std::string>> figure_tables(const SearchResult& r) {
    std::vector<std::pair<std::string, std::string>> out;
    std::ostringstream c;
    c << "n,unique_channels,ppl,delta\n" << std::setprecision(17);
    for (const auto& p : r.curve) c << p.n << "," << p.unique_channels << "," << p.ppl << "," << p.delta << "\n";
    out.emplace_back("curve.csv", c.str());
    std::ostringstream k;
    k << "rank,layer,module,position,channel,importance\n" << std::setprecision(17);
    for (size_t i = 0; i < r.ranking.size() && i < 10000; ++i) {
        const auto& e = r.ranking[i];
        k << i + 1 << "," << e.neuron.layer << "," << module_name(e.neuron.module) << "," << e.position << ","
          << e.neuron.channel << "," << e.importance << "\n";
    }
    out.emplace_back("ranking.csv", k.str());
    if (!r.sweep.empty()) {
        std::ostringstream s;
        s << "method,unique_channels,log10_ppl,log10_ppl_std\n" << std::setprecision(17);
        for (const auto& ser : r.sweep)
            for (const auto& p : ser.points) s << ser.name << "," << p.channels << "," << p.log10_ppl << "," << p.log10_ppl_std << "\n";
        out.emplace_back("sweep.csv", s.str());
    }
    return out;
}

// --out and --figures are one write: every file is complete on disk before any is renamed into
// place, and a failure (full disk, ulimit -f, read-only folder) leaves the previous files as they were.
void write_outputs(const std::string& out, const std::string& figures, const std::string& doc, const SearchResult& r) {
    std::vector<std::pair<std::string, std::string>> tables;
    std::vector<FileContents> files;
    if (!out.empty()) files.push_back({out, doc});
    if (!figures.empty()) {
        tables = figure_tables(r);
        for (const auto& [name, text] : tables) files.push_back({(std::filesystem::path(figures) / name).string(), text});
    }
    if (!files.empty()) write_files_atomic(files);
}

void print_set(const CriticalSet& c, size_t limit = 12) {
    std::cout << "  " << c.name << ": " << c.neurons.size() << " neurons (n=" << c.n << "), ppl " << c.ppl
              << ", delta " << c.delta << (c.reached ? "" : " (epsilon NOT reached)") << ", " << c.evaluations
              << " evaluations\n    ";
    for (size_t i = 0; i < c.neurons.size() && i < limit; ++i) std::cout << (i ? "," : "") << to_string(c.neurons[i]);
    if (c.neurons.size() > limit) std::cout << ",... (" << c.neurons.size() - limit << " more)";
    std::cout << "\n";
}
}  // namespace

int run_probes(const SearchCliOpts& o, const SearchOptions& opts, Globals& g) {
    if (o.input.given())
        throw Error("command line", "--probes", "give either --probes or one probe (--text, --text-file, --ids)");
    if (!o.dump_noise.empty() || !o.figures.empty())
        throw Error("command line", "--probes", "--dump-noise and --figures are for a single search");
    const auto probes = load_probes(o.probes);
    const auto runs = stability_runs(probes, o.vary);
    if (!o.heldout.empty()) (void)load_dataset_texts(o.heldout, 1);
    CliProgress progress(g.quiet);
    auto engine = load_engine(o.m, progress);
    const StabilityResult r = run_stability(*engine, probes, runs, opts, o.consensus, o.heldout, o.heldout_max, progress);
    progress.finish();
    const std::string doc = stability_to_json(r);
    if (!o.out.empty()) write_file_atomic(o.out, doc);
    if (g.json) {
        std::cout << doc;
        return 0;
    }
    std::cout << r.runs.size() << " runs on " << probes.size() << " probes\n";
    for (const StabilityRun& x : r.runs)
        std::cout << "  " << x.label << ": " << x.set.size() << " channels, delta " << x.delta
                  << (x.reached ? "" : " (epsilon NOT reached)") << "\n";
    std::cout << "intersection " << r.intersection.size() << ", union " << r.union_set.size() << ", consensus (>= "
              << r.consensus_k << " runs) " << r.consensus.size() << "\n  most recurrent:";
    for (size_t i = 0; i < r.counts.size() && i < 10; ++i)
        std::cout << " " << to_string(r.counts[i].neuron) << " x" << r.counts[i].count;
    std::cout << "\n";
    if (!r.heldout_dataset.empty())
        std::cout << "consensus on " << r.heldout_dataset << " (" << r.heldout_samples << " samples): ppl "
                  << r.heldout_ppl_orig << " -> " << r.heldout_ppl_masked << ", delta " << r.heldout_delta << "\n";
    if (!o.out.empty()) std::cout << "wrote " << o.out << "\n";
    return 0;
}

void register_search(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("search", "the paper's two-stage critical-neuron search");
    auto o = std::make_shared<SearchCliOpts>();
    add_model_opts(sub, o->m);
    o->input.flags = {.text_help = "probe text ([BOS] + tokens)", .file_help = "UTF-8 probe text file",
                      .ids_help = "probe ids, used exactly (should start with BOS)"};
    add_text_input(sub, o->input);
    o->flags.add(sub);  // every search option, from the table in achilles/options.h
    sub->add_option("--out", o->out, "write the result JSON here (atomically)");
    sub->add_option("--figures", o->figures, "write plot-ready CSV tables (curve, ranking, sweep) into this folder");
    sub->add_option("--probes", o->probes,
                    "stability study: one search per probe (JSONL with \"text\" or \"ids\", or a folder of .txt "
                    "files); --out then writes an achilles.stability/1 document");
    sub->add_option("--vary", o->vary, "with --probes: also vary an option, KEY=V1,V2,... (e.g. seed=1,2,3); "
                                       "repeatable, every combination runs");
    sub->add_option("--consensus", o->consensus, "with --probes: the consensus set holds the channels found in at "
                                                 "least K runs (default: a majority)")
        ->check(CLI::Range(0, 1000000));
    sub->add_option("--heldout", o->heldout, "with --probes: measure the consensus set's delta on this dataset");
    sub->add_option("--heldout-max-samples", o->heldout_max, "with --heldout: at most this many samples (0: all)")
        ->check(CLI::Range(0, 1000000000));
    sub->add_option("--dump-noise", o->dump_noise,
                    "write the stage-1 noise this run uses to FILE.npy, [K, T, D] (float64 for the counter "
                    "generator, float32 for --noise-rng torch); --noise FILE.npy replays it");
    on_run(sub, run, [&g, o, sub] {
        const SearchOptions opts = o->flags.options();
        if (!opts.eval_dataset.empty()) (void)load_dataset_texts(opts.eval_dataset, 1);
        if (!o->probes.empty()) return run_probes(*o, opts, g);
        if (!o->vary.empty() || o->consensus > 0 || !o->heldout.empty())
            throw Error("command line", "--vary", "--vary, --consensus and --heldout need --probes");
        require_one_of(sub, {"--text", "--text-file", "--ids"});
        const Input in = read_text_input(o->input);
        const std::string& text = in.text;
        std::vector<int> ids = in.ids;
        if (!o->out.empty()) {
            std::error_code ec;
            auto parent = std::filesystem::absolute(o->out).parent_path();
            if (!std::filesystem::is_directory(parent, ec))
                throw Error(o->out, "--out", "the folder " + parent.string() + " does not exist");
            if (std::filesystem::is_directory(o->out, ec))
                throw Error(o->out, "--out", "is a directory; give a file name");
        }
        if (!o->figures.empty()) {  // before the search, not after an hour of it
            std::error_code ec;
            std::filesystem::create_directories(o->figures, ec);
            if (ec || !std::filesystem::is_directory(o->figures, ec))
                throw Error(o->figures, "--figures", "cannot create the folder: " + ec.message());
        }
        CliProgress progress(g.quiet);
        auto engine = load_engine(o->m, progress);
        if (ids.empty()) ids = engine->encode_for_ppl(text, opts.max_tokens);
        if (!o->dump_noise.empty()) dump_noise(*engine, ids, opts, o->dump_noise, progress);
        SearchResult r = run_search(*engine, text, ids, opts, progress);
        progress.finish();
        const std::string doc = result_to_json(r);
        write_outputs(o->out, o->figures, doc, r);
        if (g.json) {
            std::cout << doc << "\n";
            return 0;
        }
        std::cout << "model " << r.model.path << " (" << r.model_type << "), " << r.ids.size()
                  << " tokens, N = " << r.total_entries << " entries\n"
                  << "ppl_orig " << r.ppl_orig << "\n";
        print_set(opts.strategy == SearchStrategy::bisect && r.bisected ? *r.bisected : r.faithful);
        if (r.minimal) print_set(*r.minimal);
        std::cout << "  rate " << r.rate() << "; perplexity forwards " << r.forwards_linear
                  << " (the paper's literal loop: " << r.forwards_literal << ")\n";
        for (const auto& e : r.evaluations)
            std::cout << "  dataset " << e.dataset << " [" << e.set << "]: " << e.ppl_orig << " -> "
                      << e.ppl_masked << " (" << e.samples << " samples)\n";
        for (const auto& ser : r.sweep) {
            std::cout << "  sweep " << ser.name << " (log10 PPL at u unique channels):";
            for (size_t i = 0; i < ser.points.size(); i += std::max<size_t>(1, ser.points.size() / 10))
                std::cout << " u" << ser.points[i].channels << "=" << std::setprecision(3) << ser.points[i].log10_ppl;
            std::cout << std::setprecision(6) << "\n";
        }
        std::cout << "  timings:";
        for (const auto& [k, v] : r.timings) std::cout << " " << k << "=" << v << "s";
        std::cout << "\n";
        if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
        return 0;
    });
}

}  // namespace achilles::cli
