// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/stability.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/search.h"
#include "util/json_util.h"
#include "achilles/utf8.h"
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

namespace achilles {

namespace fs = std::filesystem;

std::vector<StabilityProbe> load_probes(const std::string& path) {
    std::error_code ec;
    std::vector<StabilityProbe> out;
    if (fs::is_directory(path, ec)) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(path, ec))
            if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            StabilityProbe p;
            p.name = f.filename().string();
            p.text = read_file(f.string(), size_t(64) << 20);
            require_utf8(p.text, f.string(), "text");
            if (p.text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error(f.string(), "text", "is empty");
            out.push_back(std::move(p));
        }
        if (out.empty()) throw Error(path, "probes", "the folder holds no .txt files");
    } else {
        const std::string all = read_file(path, size_t(256) << 20);
        std::istringstream in(all);
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            ++lineno;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            const std::string where = path + ":" + std::to_string(lineno);
            const json j = parse_json(line, where);
            if (!j.is_object()) throw Error(where, "", "each line must be a JSON object with \"text\" or \"ids\"");
            StabilityProbe p;
            p.name = j.contains("name") ? get_field<std::string>(j, "name", where) : "line " + std::to_string(lineno);
            if (j.contains("ids")) {
                const json& a = j.at("ids");
                if (!a.is_array() || a.size() < 2) throw Error(where, "ids", "must be an array of at least 2 token ids");
                for (size_t i = 0; i < a.size(); ++i)
                    p.ids.push_back(int(json_int(a[i], 0, (int64_t(1) << 31) - 1, where, "ids[" + std::to_string(i) + "]")));
            } else if (j.contains("text")) {
                p.text = get_field<std::string>(j, "text", where);
                require_utf8(p.text, where, "text");
                if (p.text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error(where, "text", "is empty");
            } else {
                throw Error(where, "text", "missing (give \"text\" or \"ids\")");
            }
            out.push_back(std::move(p));
        }
        if (out.empty()) throw Error(path, "probes", "the file holds no probes");
    }
    if (out.size() > 10000) throw Error(path, "probes", "more than 10000 probes");
    return out;
}

std::vector<StabilityRunSpec> stability_runs(const std::vector<StabilityProbe>& probes,
                                             const std::vector<std::string>& vary) {
    // Each --vary KEY=V1,V2: values checked by the options table now, not after an hour of searching.
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const std::string& v : vary) {
        const size_t eq = v.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 >= v.size())
            throw Error("command line", "--vary", "'" + brief_key(v, 40) + "' must look like KEY=V1,V2 (e.g. seed=1,2,3)");
        const std::string key = v.substr(0, eq);
        const SearchOptionField* f = nullptr;
        for (const SearchOptionField& x : search_option_fields())
            if (x.key == key) f = &x;
        if (!f) throw Error("command line", "--vary", "unknown option '" + brief_key(key, 40) + "'");
        std::vector<std::string> values;
        std::string rest = v.substr(eq + 1), item;
        std::istringstream vs(rest);
        while (std::getline(vs, item, ',')) {
            if (item.empty()) continue;
            SearchOptions probe;
            f->set(probe, f->parse(item, "--vary " + key));
            if (const std::string why = f->problem(f->get(probe)); !why.empty())
                throw Error("command line", "--vary", key + "=" + brief_key(item, 40) + ": " + why);
            values.push_back(item);
        }
        if (values.empty()) throw Error("command line", "--vary", "'" + key + "' has no values");
        for (const auto& a : axes)
            if (a.first == key) throw Error("command line", "--vary", "'" + key + "' is given twice");
        axes.emplace_back(key, std::move(values));
    }
    std::vector<StabilityRunSpec> out;
    for (size_t p = 0; p < probes.size(); ++p) {
        std::vector<std::vector<std::pair<std::string, std::string>>> combos{{}};
        for (const auto& [key, values] : axes) {
            std::vector<std::vector<std::pair<std::string, std::string>>> next;
            for (const auto& c : combos)
                for (const auto& v : values) {
                    auto d = c;
                    d.emplace_back(key, v);
                    next.push_back(std::move(d));
                }
            combos = std::move(next);
        }
        for (auto& c : combos) {
            StabilityRunSpec s;
            s.probe = p;
            s.label = probes[p].name;
            for (const auto& [k, v] : c) s.label += " " + k + "=" + v;
            s.changed = std::move(c);
            out.push_back(std::move(s));
        }
    }
    if (out.size() > 100000) throw Error("command line", "--vary", "more than 100000 runs");
    return out;
}

void summarize_sets(StabilityResult& r, int consensus_k) {
    const size_t R = r.runs.size();
    std::map<Neuron, int> count;
    std::vector<std::set<Neuron>> sets(R);
    for (size_t i = 0; i < R; ++i) {
        sets[i] = std::set<Neuron>(r.runs[i].set.begin(), r.runs[i].set.end());
        for (const Neuron& n : sets[i]) ++count[n];
    }
    r.counts.clear();
    for (const auto& [n, c] : count) r.counts.push_back({n, c});
    std::stable_sort(r.counts.begin(), r.counts.end(), [](const ChannelCount& a, const ChannelCount& b) {
        return a.count > b.count;
    });
    r.union_set.clear();
    r.intersection.clear();
    for (const auto& [n, c] : count) {
        r.union_set.push_back(n);
        if (size_t(c) == R) r.intersection.push_back(n);
    }
    r.jaccard.assign(R, std::vector<double>(R, 1.0));
    for (size_t i = 0; i < R; ++i)
        for (size_t j = i + 1; j < R; ++j) {
            size_t inter = 0;
            for (const Neuron& n : sets[i]) inter += sets[j].count(n);
            const size_t uni = sets[i].size() + sets[j].size() - inter;
            r.jaccard[i][j] = r.jaccard[j][i] = uni == 0 ? 1.0 : double(inter) / double(uni);
        }
    r.consensus_k = consensus_k > 0 ? consensus_k : int((R + 1) / 2);
    r.consensus.clear();
    for (const auto& [n, c] : count)
        if (c >= r.consensus_k) r.consensus.push_back(n);
}

StabilityResult run_stability(const Engine& engine, const std::vector<StabilityProbe>& probes,
                              const std::vector<StabilityRunSpec>& runs, const SearchOptions& base,
                              int consensus_k, const std::string& heldout_dataset, int heldout_max_samples,
                              Progress& progress) {
    validate(base);
    if (runs.empty()) throw Error("stability", "runs", "nothing to run");
    StabilityResult r;
    r.model_path = engine.info().fingerprint.path;
    r.options = base;
    std::vector<std::string> heldout;
    if (!heldout_dataset.empty()) heldout = load_dataset_texts(heldout_dataset, heldout_max_samples);  // fail early
    for (size_t i = 0; i < runs.size(); ++i) {
        progress.check();
        const StabilityRunSpec& spec = runs[i];
        const StabilityProbe& p = probes.at(spec.probe);
        SearchOptions o = base;
        for (const auto& [k, v] : spec.changed) {
            const SearchOptionField& f = search_option_field(k);
            f.set(o, f.parse(v, "--vary " + k));
        }
        validate(o);
        const std::vector<int> ids = p.ids.empty() ? engine.encode_for_ppl(p.text, o.max_tokens) : p.ids;
        progress.report("stability", double(i) / double(runs.size()),
                        "run " + std::to_string(i + 1) + "/" + std::to_string(runs.size()) + ": " + spec.label);
        const SearchResult s = run_search(engine, p.text, ids, o, progress);
        StabilityRun run;
        run.label = spec.label;
        run.probe = p.name;
        run.changed = spec.changed;
        run.tokens = int(ids.size());
        run.ppl_orig = s.ppl_orig;
        run.set = s.faithful.neurons;
        run.delta = s.faithful.delta;
        run.reached = s.faithful.reached;
        r.runs.push_back(std::move(run));
    }
    summarize_sets(r, consensus_k);
    if (!heldout.empty()) {
        const DatasetPpl a = dataset_perplexity(engine, heldout, {}, base.max_tokens, progress);
        const DatasetPpl b = dataset_perplexity(engine, heldout, mask_of(r.consensus), base.max_tokens, progress);
        r.heldout_dataset = heldout_dataset;
        r.heldout_samples = a.samples;
        r.heldout_ppl_orig = a.ppl;
        r.heldout_ppl_masked = b.ppl;
        r.heldout_delta = std::log10(b.ppl) - std::log10(a.ppl);
    }
    progress.report("done", 1.0, "stability finished");
    return r;
}

std::string stability_to_json(const StabilityResult& r) {
    using oj = nlohmann::ordered_json;
    auto num = [](double v) -> oj {
        if (std::isnan(v)) return "nan";
        if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
        return v;
    };
    auto neurons = [](const std::vector<Neuron>& ns) {
        oj a = oj::array();
        for (const Neuron& n : ns) a.push_back(oj{{"layer", n.layer}, {"module", std::string(module_name(n.module))}, {"channel", n.channel}});
        return a;
    };
    oj j;
    j["schema"] = kStabilitySchema;
    j["model"] = r.model_path;
    j["options"] = oj::parse(search_options_to_json(r.options));
    oj runs = oj::array();
    for (const StabilityRun& x : r.runs) {
        oj ch = oj::object();
        for (const auto& [k, v] : x.changed) ch[k] = v;
        runs.push_back(oj{{"label", x.label}, {"probe", x.probe}, {"changed", ch}, {"tokens", x.tokens},
                          {"ppl_orig", num(x.ppl_orig)}, {"set", neurons(x.set)}, {"size", x.set.size()},
                          {"delta", num(x.delta)}, {"reached", x.reached}});
    }
    j["runs"] = std::move(runs);
    oj counts = oj::array();
    for (const ChannelCount& c : r.counts)
        counts.push_back(oj{{"layer", c.neuron.layer}, {"module", std::string(module_name(c.neuron.module))},
                            {"channel", c.neuron.channel}, {"count", c.count}});
    j["counts"] = std::move(counts);
    j["intersection"] = neurons(r.intersection);
    j["union_size"] = r.union_set.size();
    j["jaccard"] = r.jaccard;
    j["consensus"] = oj{{"k", r.consensus_k}, {"neurons", neurons(r.consensus)}, {"size", r.consensus.size()}};
    if (!r.heldout_dataset.empty())
        j["heldout"] = oj{{"dataset", r.heldout_dataset}, {"samples", r.heldout_samples},
                          {"ppl_orig", num(r.heldout_ppl_orig)}, {"ppl_masked", num(r.heldout_ppl_masked)},
                          {"delta", num(r.heldout_delta)}};
    return j.dump(1) + "\n";
}

}  // namespace achilles
