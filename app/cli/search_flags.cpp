// SPDX-License-Identifier: GPL-3.0-or-later
#include "search_flags.h"
#include "achilles/error.h"

namespace achilles::cli {

namespace {
std::string help_of(const SearchOptionField& f) {
    std::string h(f.help);
    if (f.type == OptionType::choice || f.type == OptionType::list) {
        std::string c;
        for (const auto& x : f.choices) c += (c.empty() ? "" : ", ") + x;
        h += f.type == OptionType::list ? " (comma list of " + c + ")" : " (" + c + ")";
    }
    return h;
}
}  // namespace

void SearchFlags::add(CLI::App* sub) {
    sub_ = sub;
    for (const SearchOptionField& f : search_option_fields()) {
        const std::string key(f.key), flag(f.flag);
        if (f.type == OptionType::boolean) {
            sub->add_flag(flag, flag_[key], help_of(f));
            continue;
        }
        CLI::Option* opt = sub->add_option(flag, text_[key], help_of(f));
        const std::string def = f.format(f.default_value());
        if (!def.empty()) opt->default_str(def);
        static const char* const kTypeNames[] = {"NUMBER", "INT", "UINT64", "", "CHOICE", "TEXT", "LIST"};
        opt->type_name(kTypeNames[int(f.type)]);
        const SearchOptionField* field = &f;  // the table is a static: stable
        opt->check(CLI::Validator([field](std::string& v) { return field->syntax_problem(v); }, ""));
    }
}

SearchOptions SearchFlags::options() const {
    SearchOptions o;
    for (const SearchOptionField& f : search_option_fields()) {
        const std::string flag(f.flag);
        if (!sub_ || sub_->count(flag) == 0) continue;
        const OptionValue v = f.type == OptionType::boolean ? OptionValue(flag_.find(f.key)->second)
                                                             : f.parse(text_.find(f.key)->second);
        if (std::string p = f.problem(v); !p.empty()) throw Error("command line", flag, p);
        f.set(o, v);
    }
    return o;
}

}  // namespace achilles::cli
