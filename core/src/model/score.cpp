// SPDX-License-Identifier: GPL-3.0-or-later
// The one perplexity of a token sequence under a mask, cancellable inside the forward.
#include "achilles/error.h"
#include "model/transformer.h"
#include <c10/core/InferenceMode.h>
#include <cmath>

namespace achilles {

at::Tensor ids_tensor(const Transformer& model, const std::vector<int>& ids) {
    std::vector<int64_t> v(ids.begin(), ids.end());
    return at::tensor(v, at::TensorOptions().dtype(at::kLong)).view({1, static_cast<int64_t>(v.size())})
        .to(model.device());
}

SequenceNll score_sequence(const Transformer& model, const at::Tensor& ids, const MaskSpec& mask, Progress& progress,
                           const Hooks* before) {
    progress.check();
    c10::InferenceMode guard;
    // mean/clamp ablations without statistics are calibrated on the ids being scored.
    Hooks hooks = make_mask_hooks(mask_needs_stats(mask) ? resolve_mask_stats(model, ids, mask) : mask);
    if (before) hooks = compose(*before, std::move(hooks));
    // Cancellation inside the forward: a cheap check at each site.
    auto inner = hooks.site;
    hooks.site = [&progress, inner](int l, Module m, at::Tensor& out) {
        progress.check();
        if (inner) inner(l, m, out);
    };
    at::Tensor logits = model.forward(ids, &hooks);
    at::Tensor nll = next_token_nll(logits, ids).to(at::kCPU, at::kDouble).contiguous();
    progress.check();
    SequenceNll r;
    const double* p = nll.data_ptr<double>();
    r.nll.assign(p, p + nll.numel());
    double s = 0;
    for (double v : r.nll) s += v;
    r.mean_nll = r.nll.empty() ? 0.0 : s / static_cast<double>(r.nll.size());
    r.ppl = std::exp(r.mean_nll);
    return r;
}

}  // namespace achilles
