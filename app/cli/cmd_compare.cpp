// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli compare A B: the overlap of two runs' critical sets (results or GUI sessions).
#include "achilles/compare.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "cli_util.h"
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace achilles::cli {

namespace {

struct CompareOpts {
    std::string a, b, set = "faithful", out;
};

std::string jac(const SetOverlap& o) {
    if (!o.jaccard) return "—";
    std::ostringstream s;
    s << std::fixed << std::setprecision(3) << *o.jaccard;
    return s.str();
}

}  // namespace

void register_compare(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("compare", "compare the critical sets of two search results or sessions");
    auto o = std::make_shared<CompareOpts>();
    sub->add_option("a", o->a, "the first result JSON or session")->required();
    sub->add_option("b", o->b, "the second result JSON or session")->required();
    sub->add_option("--set", o->set, "which set: faithful (the run's strategy) or minimal")
        ->check(CLI::IsMember({"faithful", "minimal"}));
    sub->add_option("--out", o->out, "write the comparison (achilles.comparison/1 JSON) here, atomically");
    on_run(sub, run, [&g, o] {
        const SearchResult a = read_result_file(o->a), b = read_result_file(o->b);
        const RunComparison c = compare_results(a, o->a, b, o->b, o->set);
        const std::string doc = comparison_to_json(c);
        if (!o->out.empty()) write_file_atomic(o->out, doc);
        if (g.json) {
            std::cout << doc;
            return 0;
        }
        std::cout << "A " << o->a << " (" << a.model_type << ", " << c.all.a << " channels)\n"
                  << "B " << o->b << " (" << b.model_type << ", " << c.all.b << " channels)\n"
                  << (c.same_model ? "same model" : "different models (fingerprints differ)") << "; "
                  << c.option_differences.size() << " options differ\n";
        for (const auto& d : c.option_differences) std::cout << "  " << d << "\n";
        std::cout << "shared " << c.all.shared << ", only A " << c.only_a.size() << ", only B " << c.only_b.size()
                  << ", Jaccard " << jac(c.all) << "\n";
        std::cout << "  by module:";
        for (const auto& m : c.by_module)
            if (m.a || m.b) std::cout << " " << m.label << " " << m.shared << "/" << (m.a + m.b - m.shared) << " (" << jac(m) << ")";
        std::cout << "\n  shared channels:";
        for (size_t i = 0; i < c.shared.size() && i < 20; ++i) std::cout << " " << to_string(c.shared[i]);
        if (c.shared.size() > 20) std::cout << " ... (" << c.shared.size() - 20 << " more)";
        std::cout << "\n";
        if (!o->out.empty()) std::cout << "wrote " << o->out << "\n";
        return 0;
    });
}

}  // namespace achilles::cli
