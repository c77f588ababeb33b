// SPDX-License-Identifier: GPL-3.0-or-later
// Mechanism commands: massive, sinks, lens, trace (achilles/mechanism.h).
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/mechanism.h"
#include "achilles/results.h"
#include "cli_util.h"
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

namespace achilles::cli {

namespace {

struct MechOpts {
    ModelOpts m;
    TextInput input;
    std::string mask, out;
    int max_tokens = 512;
};

void add_common(CLI::App* sub, MechOpts& o, bool with_mask = true) {
    add_model_opts(sub, o.m);
    o.input.flags = {.text_help = "probe text: [BOS] + tokens", .ids_help = "comma-separated token ids, used exactly (no BOS added)"};
    add_text_input(sub, o.input);
    sub->add_option("--max-tokens", o.max_tokens, "truncate the probe to this many tokens")->capture_default_str();
    if (with_mask) sub->add_option("--mask", o.mask, "a mask (inline, JSON or a result file): a masked run beside the clean one");
    sub->add_option("--out", o.out, "write the JSON document here, atomically");
}

// The probe's ids: --ids exactly, or [BOS] + the text's tokens (needs a tokenizer).
std::vector<int> probe_ids(const MechOpts& o, const Engine& engine) {
    const Input in = read_text_input(o.input, false);
    if (o.max_tokens < 2) throw Error("command line", "--max-tokens", "must be at least 2");
    if (in.has_ids) return in.ids;
    if (in.text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error(in.source, "text", "the text is empty");
    return engine.encode_for_ppl(in.text, o.max_tokens);
}

// Writes the document (--out) and/or prints it (--json); returns whether it was printed.
bool emit(const MechOpts& o, const Globals& g, const std::string& doc) {
    if (!o.out.empty()) write_file_atomic(o.out, doc + "\n");
    if (g.json) std::cout << doc << "\n";
    return g.json;
}

// A critical set: a result document (its faithful set) or any mask spec.
std::vector<Neuron> read_critical(const std::string& spec) {
    std::vector<Neuron> out;
    if (spec.empty()) return out;
    for (const auto& e : parse_mask_spec(spec)) out.push_back(e.neuron);
    return out;
}

std::optional<std::pair<int, int>> parse_head(const std::string& s) {
    if (s.empty()) return std::nullopt;
    const size_t dot = s.find('.');
    if (dot == std::string::npos) throw Error("command line", "--pattern", "expected LAYER.HEAD (e.g. 2.1), got '" + s + "'");
    const auto l = parse_int_list(s.substr(0, dot), "--pattern"), h = parse_int_list(s.substr(dot + 1), "--pattern");
    if (l.size() != 1 || h.size() != 1) throw Error("command line", "--pattern", "expected LAYER.HEAD (e.g. 2.1), got '" + s + "'");
    return std::make_pair(l[0], h[0]);
}

MaskSpec read_mask(const std::string& spec, const Engine& engine) {
    MaskSpec m = spec.empty() ? MaskSpec{} : parse_mask_spec(spec);
    validate_mask(m, engine.info().shape);
    return m;
}

}  // namespace

void register_mechanism(CLI::App& app, Globals& g, Runner& run) {
    // ---- massive
    {
        auto* sub = app.add_subcommand("massive", "massive activations per layer and token: residual stream, down_proj output and input");
        auto o = std::make_shared<MechOpts>();
        auto opt = std::make_shared<MassiveOptions>();
        auto critical = std::make_shared<std::string>();
        add_common(sub, *o);
        sub->add_option("--top-k", opt->top_k, "largest entries listed per layer")->capture_default_str();
        sub->add_option("--abs-threshold", opt->abs_threshold, "massive: |a| above this ...")->capture_default_str();
        sub->add_option("--ratio", opt->ratio, "... and above this many times the layer's median |a|")->capture_default_str();
        sub->add_option("--critical", *critical, "a result JSON or mask spec: mark which massive channels are in it");
        on_run(sub, run, [&g, o, opt, critical, sub] {
            require_one_of(sub, {"--text", "--text-file", "--ids"});
            const std::vector<Neuron> crit = read_critical(*critical);
            CliProgress progress(g.quiet);
            auto engine = load_engine(o->m, progress);
            const MaskSpec mask = read_mask(o->mask, *engine);
            const std::vector<int> ids = probe_ids(*o, *engine);
            MassiveReport r = massive_activations(*engine, ids, mask, *opt, crit, progress);
            progress.finish();
            if (emit(*o, g, massive_to_json(r))) return 0;
            std::cout << r.summary << "\n";
            for (const auto& n : r.notes) std::cout << "  " << n << "\n";
            std::cout << "top |a| per layer (residual stream after the block):\n";
            for (const auto& L : r.sites[0]) {
                std::cout << "  L" << L.layer << "  median " << std::setprecision(4) << L.median_abs << " ";
                for (const auto& e : L.top) std::cout << " " << std::abs(e.value) << " (t" << e.token << " ch" << e.channel << ")";
                std::cout << "\n";
            }
            if (r.masked) {
                std::cout << r.masked->summary << "\n";
                std::cout << "top |a| per layer under the mask (residual stream after the block):\n";
                for (const auto& L : r.masked->sites[0]) {
                    std::cout << "  L" << L.layer << "  median " << std::setprecision(4) << L.median_abs << " ";
                    for (const auto& e : L.top) std::cout << " " << std::abs(e.value) << " (t" << e.token << " ch" << e.channel << ")";
                    std::cout << "\n";
                }
            }
            if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
            return 0;
        });
    }
    // ---- sinks
    {
        auto* sub = app.add_subcommand("sinks", "attention mass on the first token per layer and head, clean and masked");
        auto o = std::make_shared<MechOpts>();
        auto pattern = std::make_shared<std::string>();
        add_common(sub, *o);
        sub->add_option("--pattern", *pattern, "LAYER.HEAD: also record that head's full attention pattern");
        on_run(sub, run, [&g, o, pattern, sub] {
            require_one_of(sub, {"--text", "--text-file", "--ids"});
            const auto head = parse_head(*pattern);
            CliProgress progress(g.quiet);
            auto engine = load_engine(o->m, progress);
            const MaskSpec mask = read_mask(o->mask, *engine);
            const std::vector<int> ids = probe_ids(*o, *engine);
            SinkReport r = attention_sinks(*engine, ids, mask, head, progress);
            progress.finish();
            if (emit(*o, g, sinks_to_json(r))) return 0;
            std::cout << "attention mass on token 0 (mean over queries 1.." << ids.size() - 1 << ")"
                      << (mask.empty() ? "" : ", clean -> masked") << "\n";
            for (int l = 0; l < r.layers; ++l) {
                std::cout << "  L" << l << ":";
                for (int h = 0; h < r.heads; ++h) {
                    std::cout << " " << std::fixed << std::setprecision(3) << r.clean_mass[size_t(l)][size_t(h)];
                    if (!mask.empty()) std::cout << "->" << r.masked_mass[size_t(l)][size_t(h)];
                }
                std::cout << "\n";
            }
            if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
            return 0;
        });
    }
    // ---- lens
    {
        auto* sub = app.add_subcommand("lens", "logit lens: the final norm and LM head on each layer's residual stream");
        auto o = std::make_shared<MechOpts>();
        auto position = std::make_shared<int>(-1);
        auto top = std::make_shared<int>(5);
        add_common(sub, *o);
        sub->add_option("--position", *position, "the position whose next token is predicted (default: the last with one)");
        sub->add_option("--top", *top, "tokens listed per layer")->capture_default_str();
        on_run(sub, run, [&g, o, position, top, sub] {
            require_one_of(sub, {"--text", "--text-file", "--ids"});
            CliProgress progress(g.quiet);
            auto engine = load_engine(o->m, progress);
            const MaskSpec mask = read_mask(o->mask, *engine);
            const std::vector<int> ids = probe_ids(*o, *engine);
            LensReport r = logit_lens(*engine, ids, mask, *position, *top, progress);
            progress.finish();
            if (emit(*o, g, lens_to_json(r))) return 0;
            std::cout << "position " << r.position << ", true next token " << r.true_next << "\n";
            auto show = [&](const LensRun& run, const char* label) {
                std::cout << label << ":\n";
                for (const auto& L : run.layers) {
                    std::cout << "  L" << L.layer << "  rank " << L.true_rank << " p " << std::setprecision(3) << L.true_prob << "  top:";
                    for (const auto& t : L.top) std::cout << " " << (t.text.empty() ? std::to_string(t.id) : "'" + t.text + "'");
                    std::cout << "\n";
                }
            };
            show(r.clean, "clean");
            if (r.masked) show(*r.masked, "masked");
            if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
            return 0;
        });
    }
    // ---- trace
    {
        auto* sub = app.add_subcommand("trace", "super weights: the single weights that produce a down_proj or act_fn channel");
        auto o = std::make_shared<MechOpts>();
        auto neuron = std::make_shared<std::string>();
        auto token = std::make_shared<int>(-1);
        auto top = std::make_shared<int>(10);
        auto scale = std::make_shared<double>(0.0);
        add_common(sub, *o, false);
        sub->add_option("--neuron", *neuron, "the channel, e.g. L1.down_proj:2070")->required();
        sub->add_option("--token", *token, "the token traced (default: where the channel's |value| is largest)");
        sub->add_option("--top", *top, "weights listed")->capture_default_str();
        sub->add_option("--scale", *scale, "factor for the top weight in the weight-level ablation (0 zeroes it)")->capture_default_str();
        on_run(sub, run, [&g, o, neuron, token, top, scale, sub] {
            require_one_of(sub, {"--text", "--text-file", "--ids"});
            const MaskSpec one = parse_mask_spec(*neuron);
            if (one.size() != 1 || !one[0].positions.empty() || one[0].mode != Ablation::zero)
                throw Error("command line", "--neuron", "expected one channel like L1.down_proj:2070, got '" + *neuron + "'");
            if (sub->count("--token") && *token < 0) throw Error("command line", "--token", "must not be negative");
            CliProgress progress(g.quiet);
            auto engine = load_engine(o->m, progress);
            const std::vector<int> ids = probe_ids(*o, *engine);
            TraceReport r = trace_super_weights(*engine, ids, one[0].neuron, *token, *top, *scale, progress);
            progress.finish();
            if (emit(*o, g, trace_to_json(r))) return 0;
            std::cout << to_string(r.neuron) << " at token " << r.token << " = " << r.value << "; largest terms of "
                      << module_name(r.matrix) << " row " << r.neuron.channel << ":\n";
            for (const auto& w : r.weights)
                std::cout << "  W[" << w.row << "," << w.col << "] = " << w.weight << " x " << w.input << " = " << w.contribution << "\n";
            std::cout << "ppl clean " << r.ppl_clean << "; top weight x" << r.scale << ": " << r.ppl_weight << " (value "
                      << r.value_weight << ", max |residual| " << r.residual_clean << " -> " << r.residual_weight
                      << "); channel zeroed: " << r.ppl_channel << " (max |residual| -> " << r.residual_channel << ")\n";
            if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
            return 0;
        });
    }
    // ---- curve
    {
        auto* sub = app.add_subcommand("curve", "re-run a result's stage-2 curve under another ablation mode (mean, scale, clamp)");
        auto m = std::make_shared<ModelOpts>();
        auto result = std::make_shared<std::string>();
        auto mode = std::make_shared<std::string>("zero");
        auto positions = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        add_model_opts(sub, *m);
        sub->add_option("--result", *result, "a search result JSON or session")->required();
        sub->add_option("--mode", *mode, "zero, mean, scale:S or clamp:P")->capture_default_str();
        sub->add_option("--positions", *positions, "ablate only at these positions (e.g. 0: the first token)");
        sub->add_option("--out", *out, "write the achilles.curve/1 JSON here, atomically");
        on_run(sub, run, [&g, m, result, mode, positions, out] {
            // The mode through the mask syntax, so that one parser checks it.
            for (char& c : *positions)
                if (c == ',') c = ';';
            const std::string spec = "L0.down_proj:0" + (positions->empty() ? std::string() : "@" + *positions) + "=" + *mode;
            MaskSpec how;
            try {
                how = parse_mask_spec(spec);
            } catch (const Error& e) {
                throw Error("command line", e.field() == "position" ? "--positions" : "--mode", e.what());
            }
            const SearchResult r = read_result_file(*result);
            CliProgress progress(g.quiet);
            auto engine = load_engine(*m, progress);
            CurveRerun c = rerun_curve(*engine, r, how.at(0), progress);
            progress.finish();
            const std::string doc = curve_to_json(c);
            if (!out->empty()) write_file_atomic(*out, doc + "\n");
            if (g.json) {
                std::cout << doc << "\n";
                return 0;
            }
            std::cout << "ablation " << *mode << (positions->empty() ? "" : " at positions " + *positions) << ", ppl_orig "
                      << c.ppl_orig << "\n";
            for (const auto& p : c.points)
                std::cout << "  n " << p.n << "  channels " << p.unique_channels << "  ppl " << p.ppl << "  delta " << p.delta << "\n";
            std::cout << (c.reached_n ? "epsilon reached at n = " + std::to_string(c.reached_n) : std::string("epsilon not reached")) << "\n";
            if (!out->empty()) std::cout << "wrote " << *out << "\n";
            return 0;
        });
    }
}

}  // namespace achilles::cli

