# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent float64 reference of the decoder families supported by Achilles Workbench.

A direct transcription of the Hugging Face transformers modeling code semantics
(modeling_llama / mistral / qwen2 / qwen3 / gemma / gemma2 / phi3), written separately from the
C++ engine and computed entirely in float64 with torch 1.13. Run with /usr/bin/python3.

Model(config_dict, weights: dict name -> float64 tensor)
  .forward(ids [B,T] LongTensor, record=None, mask=None) -> float64 logits [B,T,V]
record: dict that receives (layer, module) -> output tensor [B,T,C]
mask: list of (layer, module, channel, positions-or-None) zeroed at the sites; an optional fifth
      element, a dict {"mode": "zero"|"mean"|"scale"|"clamp", "factor": s, "mean": v, "lo": a,
      "hi": b} with the statistics already resolved, ablates by that mode instead (apply()).
extra: optional dict that receives, per layer l, (l, "residual") the residual stream after block l,
       (l, "attn") the attention probabilities [B, heads, T, S], (l, "down_proj_input")
       act_fn(gate) * up and (l, "mlp_input") the MLP's input (mechanism analyses, issue 9).
Model.final(h): final norm + head (+ soft-capping) on any residual h (the logit lens).
"""
import math
import torch

SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
         "post_attention_layernorm")


def _rms(x, w, eps, gemma):
    var = (x * x).mean(dim=-1, keepdim=True)
    n = x / torch.sqrt(var + eps)
    return n * (1.0 + w) if gemma else n * w


def apply(v, mode):
    """One ablation of the values v of a masked channel (a tensor), statistics resolved in mode."""
    m = (mode or {}).get("mode", "zero")
    if m == "zero":
        return torch.zeros_like(v)
    if m == "scale":
        return v * mode["factor"]
    if m == "mean":
        return torch.full_like(v, mode["mean"])
    if m == "clamp":
        return v.clamp(mode["lo"], mode["hi"])
    raise ValueError(m)


class Model:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        self.w = weights
        mt = cfg["model_type"]
        self.mt = mt
        self.H = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or self.H // self.nh
        self.I = cfg["intermediate_size"]
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.gemma = mt in ("gemma", "gemma2")
        prf = cfg.get("partial_rotary_factor", 1.0) if mt == "phi3" else 1.0
        self.rot = int(self.hd * prf)
        self.tied = cfg.get("tie_word_embeddings", mt in ("gemma", "gemma2"))
        if mt == "gemma2":
            self.scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5
        else:
            self.scaling = self.hd ** -0.5
        self.attn_cap = cfg.get("attn_logit_softcapping") if mt == "gemma2" else None
        self.final_cap = cfg.get("final_logit_softcapping") if mt == "gemma2" else None
        act = cfg.get("hidden_activation") if self.gemma else cfg.get("hidden_act", "silu")
        if mt == "gemma" and act is None:
            act = "gelu_pytorch_tanh"
        if mt == "gemma2" and act is None:
            act = cfg.get("hidden_act", "gelu_pytorch_tanh")
        self.act_name = act

    # ---- pieces
    def act(self, x):
        if self.act_name == "silu":
            return x * torch.sigmoid(x)
        if self.act_name in ("gelu_pytorch_tanh", "gelu_new"):
            return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
        if self.act_name == "gelu":
            return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        raise ValueError(self.act_name)

    def inv_freq(self, seq_len):
        d = self.rot
        i = torch.arange(0, d, 2, dtype=torch.float64)
        base = self.theta ** (i / d)
        inv = 1.0 / base
        rs = self.cfg.get("rope_scaling")
        att = 1.0
        if rs:
            kind = rs.get("rope_type", rs.get("type"))
            if kind == "llama3":
                factor = rs["factor"]
                lo, hi = rs["low_freq_factor"], rs["high_freq_factor"]
                old = rs["original_max_position_embeddings"]
                out = []
                for f in inv.tolist():
                    wl = 2 * math.pi / f
                    if wl < old / hi:
                        out.append(f)
                    elif wl > old / lo:
                        out.append(f / factor)
                    else:
                        s = (old / wl - lo) / (hi - lo)
                        out.append((1 - s) * f / factor + s * f)
                inv = torch.tensor(out, dtype=torch.float64)
            elif kind == "linear":
                inv = inv / rs["factor"]
            elif kind in ("longrope", "su"):
                orig = self.cfg.get("original_max_position_embeddings")
                if orig:
                    factor = self.cfg["max_position_embeddings"] / orig
                else:
                    orig = rs.get("original_max_position_embeddings", self.cfg["max_position_embeddings"])
                    factor = rs.get("factor", 1.0)
                ext = rs["long_factor"] if seq_len > orig else rs["short_factor"]
                inv = 1.0 / (torch.tensor(ext, dtype=torch.float64) * base)
                att = rs.get("attention_factor")
                if att is None:
                    att = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))
            else:
                raise ValueError(kind)
        return inv, att

    def rope(self, x, pos, inv, att):
        # x [B, h, T, D]
        ang = pos[:, None].double() * inv[None, :]
        emb = torch.cat([ang, ang], dim=-1)
        cos, sin = emb.cos() * att, emb.sin() * att
        d = self.rot
        xr, xp = x[..., :d], x[..., d:]
        x1, x2 = xr[..., : d // 2], xr[..., d // 2:]
        rotated = torch.cat([-x2, x1], dim=-1)
        return torch.cat([xr * cos + rotated * sin, xp], dim=-1)

    def window(self, layer):
        c = self.cfg
        if self.mt == "gemma2":
            return c.get("sliding_window") if layer % 2 == 0 else None
        if self.mt in ("mistral", "phi3"):  # phi3: transformers' Phi3Model masks with the window too
            return c.get("sliding_window")
        if self.mt in ("qwen2", "qwen3"):
            if c.get("use_sliding_window", False) and layer >= c.get("max_window_layers", 0):
                return c.get("sliding_window")
        return None

    def g(self, name):
        return self.w[name]

    def gb(self, name):
        return self.w.get(name)

    # ---- forward
    def forward(self, ids, record=None, mask=None, past=None, extra=None):
        """past: optional dict used as a KV cache {'k': [..], 'v': [..], 'len': n}."""
        B, T = ids.shape
        start = past["len"] if past is not None else 0
        S = start + T
        emb = self.g("model.embed_tokens.weight")[ids]
        if self.gemma:
            emb = emb * (self.H ** 0.5)
        h = emb
        pos = torch.arange(start, S)
        inv, att = self.inv_freq(S)
        qi = torch.arange(start, S)[:, None]
        kj = torch.arange(0, S)[None, :]

        def site(layer, name, t):
            if mask:
                for entry in mask:
                    (ml, mm, ch, positions), mode = entry[:4], (entry[4] if len(entry) > 4 else None)
                    if ml == layer and mm == name:
                        t = t.clone()
                        if positions is None:
                            t[..., ch] = apply(t[..., ch], mode) if mode else 0.0
                        else:
                            for p in positions:
                                if start <= p < S:
                                    t[:, p - start, ch] = apply(t[:, p - start, ch], mode) if mode else 0.0
            if record is not None:
                record[(layer, name)] = t.clone()
            return t

        for l in range(self.L):
            p = "model.layers.%d." % l
            x = _rms(h, self.g(p + "input_layernorm.weight"), self.eps, self.gemma)
            if self.mt == "phi3":
                qkv = x @ self.g(p + "self_attn.qkv_proj.weight").T
                nq, nk = self.nh * self.hd, self.nkv * self.hd
                q, k, v = qkv[..., :nq], qkv[..., nq:nq + nk], qkv[..., nq + nk:]
            else:
                def lin(name):
                    y = x @ self.g(p + "self_attn.%s.weight" % name).T
                    b = self.gb(p + "self_attn.%s.bias" % name)
                    return y + b if b is not None else y
                q, k, v = lin("q_proj"), lin("k_proj"), lin("v_proj")
            q = site(l, "q_proj", q)
            k = site(l, "k_proj", k)
            v = site(l, "v_proj", v)
            q = q.view(B, T, self.nh, self.hd)
            k = k.view(B, T, self.nkv, self.hd)
            v = v.view(B, T, self.nkv, self.hd).transpose(1, 2)
            if self.mt == "qwen3":
                q = _rms(q, self.g(p + "self_attn.q_norm.weight"), self.eps, False)
                k = _rms(k, self.g(p + "self_attn.k_norm.weight"), self.eps, False)
            q = self.rope(q.transpose(1, 2), pos, inv, att)
            k = self.rope(k.transpose(1, 2), pos, inv, att)
            if past is not None:
                if start > 0:
                    k = torch.cat([past["k"][l], k], dim=2)
                    v = torch.cat([past["v"][l], v], dim=2)
                past["k"][l] = k
                past["v"][l] = v
            rep = self.nh // self.nkv
            k2 = k.repeat_interleave(rep, dim=1)
            v2 = v.repeat_interleave(rep, dim=1)
            sc = (q @ k2.transpose(-1, -2)) * self.scaling
            if self.attn_cap:
                sc = torch.tanh(sc / self.attn_cap) * self.attn_cap
            allowed = kj <= qi
            win = self.window(l)
            if win:
                allowed = allowed & ((qi - kj) < win)
            sc = sc.masked_fill(~allowed, float("-inf"))
            pr = torch.softmax(sc, dim=-1)
            if extra is not None:
                extra[(l, "attn")] = pr.clone()
            a = (pr @ v2).transpose(1, 2).reshape(B, T, self.nh * self.hd)
            o = a @ self.g(p + "self_attn.o_proj.weight").T
            ob = self.gb(p + "self_attn.o_proj.bias")
            if ob is not None:
                o = o + ob
            o = site(l, "o_proj", o)
            if self.mt == "gemma2":
                o = _rms(o, self.g(p + "post_attention_layernorm.weight"), self.eps, True)
                o = site(l, "post_attention_layernorm", o)
                h = h + o
                x = _rms(h, self.g(p + "pre_feedforward_layernorm.weight"), self.eps, True)
            else:
                h = h + o
                x = _rms(h, self.g(p + "post_attention_layernorm.weight"), self.eps, self.gemma)
                x = site(l, "post_attention_layernorm", x)
            if self.mt == "phi3":
                gu = x @ self.g(p + "mlp.gate_up_proj.weight").T
                gate, up = gu[..., :self.I], gu[..., self.I:]
            else:
                def mlin(name):
                    y = x @ self.g(p + "mlp.%s.weight" % name).T
                    b = self.gb(p + "mlp.%s.bias" % name)
                    return y + b if b is not None else y
                gate, up = mlin("gate_proj"), mlin("up_proj")
            gate = site(l, "gate_proj", gate)
            up = site(l, "up_proj", up)
            a = site(l, "act_fn", self.act(gate)) * up  # mlp.act_fn output, as the paper hooks it
            if extra is not None:
                extra[(l, "mlp_input")] = x.clone()
                extra[(l, "down_proj_input")] = a.clone()
            d = a @ self.g(p + "mlp.down_proj.weight").T
            db = self.gb(p + "mlp.down_proj.bias")
            if db is not None:
                d = d + db
            d = site(l, "down_proj", d)
            if self.mt == "gemma2":
                d = _rms(d, self.g(p + "post_feedforward_layernorm.weight"), self.eps, True)
            h = h + d
            if extra is not None:
                extra[(l, "residual")] = h.clone()
        if past is not None:
            past["len"] = S
        return self.final(h)

    def final(self, h):
        """Final norm, head and soft-capping of a residual stream h [B, T, H] -> logits."""
        h = _rms(h, self.g("model.norm.weight"), self.eps, self.gemma)
        head = self.g("model.embed_tokens.weight") if self.tied else self.g("lm_head.weight")
        logits = h @ head.T
        if self.final_cap:
            logits = torch.tanh(logits / self.final_cap) * self.final_cap
        return logits

    def new_cache(self):
        return {"k": [None] * self.L, "v": [None] * self.L, "len": 0}


def nll_of(logits, ids):
    """Per-token NLL of one sequence: positions 1..T-1."""
    lp = torch.log_softmax(logits[0, :-1], dim=-1)
    return -lp.gather(-1, ids[0, 1:, None])[:, 0]


def greedy(model, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        lg = model.forward(torch.tensor([ids]))
        ids.append(int(torch.argmax(lg[0, -1])))
    return ids[len(prompt):]
