"""Exports the benchmark's random-weight models to ONNX, for ONNX Runtime as a peer in samples/Benchmarks.

    artifacts/bench/Benchmarks --weights artifacts/weights --write-weights   # the safetensors files
    /usr/bin/python3 samples/OnnxPeer/export_onnx.py artifacts/weights        # writes *.onnx beside them

Needs Debian's python3-torch, python3-numpy and python3-onnx (the system interpreter, /usr/bin/python3). Each graph reads the same
weights as the generated engine and computes what the measured call computes:

- stories15M.onnx, stories110M.onnx: a Llama prompt (tokens int64 [128] -> logits of the last position [vocab]),
  as LlamaForCausalLM computes it (RMSNorm, rotate-half RoPE, causal attention, SwiGLU, untied lm_head).
- stories15M-step.onnx, stories42M-step.onnx, stories110M-step.onnx: one decode step with an explicit KV cache, the
  layout Hugging Face's ONNX decoders use: (token int64 [1], position int64 [1], past_keys and past_values
  float32 [layers, past, kv_dim]) -> (logits [vocab], present_keys and present_values [layers, past + 1, kv_dim]).
- transformer-base.onnx: the Seq2Seq encoder (src tokens int64 [128] -> memory [128, 512]) plus, as the engine's
  Encode does, every decoder layer's cross-attention keys and values ([6, 128, 512] each).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TOKENS = 128
LLAMAS = {
    "stories15M": dict(layers=6, dim=288, ffn=768, heads=6, vocab=32000, theta=10000.0, eps=1e-5),
    "stories110M": dict(layers=12, dim=768, ffn=2048, heads=12, vocab=32000, theta=10000.0, eps=1e-5),
}
STEPS = dict(LLAMAS, stories42M=dict(layers=8, dim=512, ffn=1376, heads=8, vocab=32000, theta=10000.0, eps=1e-5))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (path, name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data, dtype=np.float32, count=(b - a) // 4, offset=8 + n + a).copy()).view(info["shape"])
    return out


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaPrompt(nn.Module):
    def __init__(self, c, w):
        super().__init__()
        self.c = c
        self.w = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v, requires_grad=False) for k, v in w.items()})
        hd = c["dim"] // c["heads"]
        inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        emb = torch.cat([torch.outer(torch.arange(TOKENS).float(), inv_freq)] * 2, dim=-1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())
        self.register_buffer("mask", torch.full((TOKENS, TOKENS), float("-inf")).triu(1))

    def p(self, name):
        return self.w[name.replace(".", "_")]

    def forward(self, tokens):
        c, T, H = self.c, TOKENS, self.c["heads"]
        hd = c["dim"] // H
        x = self.p("model.embed_tokens.weight")[tokens]
        for l in range(c["layers"]):
            p = f"model.layers.{l}."
            h = rms_norm(x, self.p(p + "input_layernorm.weight"), c["eps"])
            q = (h @ self.p(p + "self_attn.q_proj.weight").T).view(T, H, hd).transpose(0, 1)
            k = (h @ self.p(p + "self_attn.k_proj.weight").T).view(T, H, hd).transpose(0, 1)
            v = (h @ self.p(p + "self_attn.v_proj.weight").T).view(T, H, hd).transpose(0, 1)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            att = torch.softmax((q @ k.transpose(1, 2)) * hd ** -0.5 + self.mask, dim=-1)
            x = x + (att @ v).transpose(0, 1).reshape(T, c["dim"]) @ self.p(p + "self_attn.o_proj.weight").T
            h = rms_norm(x, self.p(p + "post_attention_layernorm.weight"), c["eps"])
            x = x + (F.silu(h @ self.p(p + "mlp.gate_proj.weight").T) * (h @ self.p(p + "mlp.up_proj.weight").T)) @ self.p(p + "mlp.down_proj.weight").T
        last = rms_norm(x[-1], self.p("model.norm.weight"), c["eps"])
        return last @ self.p("lm_head.weight").T


class LlamaStep(nn.Module):
    """One decode step of the same model: the token at `position` attends to the cached keys and values of every
    earlier position plus its own, which it appends (present = past + this position)."""

    def __init__(self, c, w):
        super().__init__()
        self.c = c
        self.w = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v, requires_grad=False) for k, v in w.items()})
        hd = c["dim"] // c["heads"]
        self.register_buffer("inv_freq", 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd)))

    def p(self, name):
        return self.w[name.replace(".", "_")]

    def forward(self, token, position, past_keys, past_values):
        c, H = self.c, self.c["heads"]
        hd = c["dim"] // H
        angles = position.float().unsqueeze(-1) * self.inv_freq          # (1, hd / 2)
        emb = torch.cat([angles, angles], dim=-1)                          # (1, hd)
        cos, sin = emb.cos(), emb.sin()
        x = self.p("model.embed_tokens.weight")[token]                     # (1, dim)
        keys, values = [], []
        for l in range(c["layers"]):
            p = f"model.layers.{l}."
            h = rms_norm(x, self.p(p + "input_layernorm.weight"), c["eps"])
            q = (h @ self.p(p + "self_attn.q_proj.weight").T).view(H, hd)
            k = (h @ self.p(p + "self_attn.k_proj.weight").T).view(H, hd)
            v = h @ self.p(p + "self_attn.v_proj.weight").T
            q = q * cos + rotate_half(q) * sin
            k = (k * cos + rotate_half(k) * sin).reshape(1, c["dim"])
            k_all = torch.cat([past_keys[l], k], dim=0)                    # (past + 1, dim)
            v_all = torch.cat([past_values[l], v], dim=0)
            keys.append(k_all)
            values.append(v_all)
            kh = k_all.view(-1, H, hd).transpose(0, 1)                     # (H, past + 1, hd)
            vh = v_all.view(-1, H, hd).transpose(0, 1)
            att = torch.softmax((kh @ q.unsqueeze(-1)).squeeze(-1) * hd ** -0.5, dim=-1)  # (H, past + 1)
            o = (att.unsqueeze(1) @ vh).reshape(1, c["dim"])
            x = x + o @ self.p(p + "self_attn.o_proj.weight").T
            h = rms_norm(x, self.p(p + "post_attention_layernorm.weight"), c["eps"])
            x = x + (F.silu(h @ self.p(p + "mlp.gate_proj.weight").T) * (h @ self.p(p + "mlp.up_proj.weight").T)) @ self.p(p + "mlp.down_proj.weight").T
        last = rms_norm(x[0], self.p("model.norm.weight"), c["eps"])
        return last @ self.p("lm_head.weight").T, torch.stack(keys), torch.stack(values)


class Seq2SeqEncode(nn.Module):
    """src_tok_emb * sqrt(d) + sinusoidal positions, nn.TransformerEncoder (post-norm, ReLU) and its final norm,
    then each decoder layer's cross-attention keys and values of the memory."""

    def __init__(self, w, layers=6, decoder_layers=6, dim=512, heads=8, ffn=2048):
        super().__init__()
        self.dim, self.decoder_layers = dim, decoder_layers
        self.embedding = nn.Embedding.from_pretrained(w["src_tok_emb.embedding.weight"])
        layer = nn.TransformerEncoderLayer(dim, heads, ffn, dropout=0.0, batch_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        state = {k[len("transformer.encoder."):]: v for k, v in w.items() if k.startswith("transformer.encoder.")}
        self.encoder.load_state_dict(state)
        self.cross_w = nn.Parameter(torch.stack([w[f"transformer.decoder.layers.{l}.multihead_attn.in_proj_weight"] for l in range(decoder_layers)]), requires_grad=False)
        self.cross_b = nn.Parameter(torch.stack([w[f"transformer.decoder.layers.{l}.multihead_attn.in_proj_bias"] for l in range(decoder_layers)]), requires_grad=False)
        den = torch.exp(-torch.arange(0, dim, 2).float() * math.log(10000) / dim)
        pos = torch.arange(0, TOKENS).reshape(TOKENS, 1)
        table = torch.zeros(TOKENS, dim)
        table[:, 0::2] = torch.sin(pos * den)
        table[:, 1::2] = torch.cos(pos * den)
        self.register_buffer("pos", table)

    def forward(self, src):
        x = self.embedding(src) * math.sqrt(self.dim) + self.pos
        memory = self.encoder(x.unsqueeze(1)).squeeze(1)
        d = self.dim
        keys = torch.stack([memory @ self.cross_w[l, d:2 * d].T + self.cross_b[l, d:2 * d] for l in range(self.decoder_layers)])
        values = torch.stack([memory @ self.cross_w[l, 2 * d:].T + self.cross_b[l, 2 * d:] for l in range(self.decoder_layers)])
        return memory, keys, values


def topological(path):
    """torch 1.13 sometimes writes a node before the node that produces its input (ONNX Runtime then refuses the
    graph: "... is not a graph input, initializer, or output of a previous node"); reorder the nodes."""
    import onnx
    model = onnx.load(path)
    graph = model.graph
    ready = {i.name for i in graph.initializer} | {i.name for i in graph.input} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            sys.exit(f"{path}: the graph has a cycle or an input nobody produces")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    onnx.save(model, path)


def export(module, example, path, inputs, outputs):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, (example,), path, input_names=inputs, output_names=outputs, opset_version=14, do_constant_folding=False)
    topological(path)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB)")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_onnx.py WEIGHTS-DIR   (the directory Benchmarks --weights DIR --write-weights filled)")
    folder = sys.argv[1]
    tokens = torch.tensor([3 + (i * 7919) % (32000 - 3) for i in range(TOKENS)], dtype=torch.int64)
    for name, c in LLAMAS.items():
        path = os.path.join(folder, name + ".safetensors")
        if not os.path.exists(path):
            print(f"skipped {name}: no {path}")
            continue
        export(LlamaPrompt(c, read_safetensors(path)), tokens, os.path.join(folder, name + ".onnx"), ["tokens"], ["logits"])
    for name, c in STEPS.items():
        path = os.path.join(folder, name + ".safetensors")
        if not os.path.exists(path):
            print(f"skipped {name}-step: no {path}")
            continue
        step = LlamaStep(c, read_safetensors(path)).eval()
        out = os.path.join(folder, name + "-step.onnx")
        past = torch.zeros(c["layers"], 3, c["dim"])
        example = (torch.tensor([1]), torch.tensor([3]), past, past)
        with torch.no_grad():
            torch.onnx.export(step, example, out, input_names=["token", "position", "past_keys", "past_values"],
                              output_names=["logits", "present_keys", "present_values"], opset_version=14, do_constant_folding=False,
                              dynamic_axes={"past_keys": {1: "past"}, "past_values": {1: "past"}, "present_keys": {1: "present"}, "present_values": {1: "present"}})
        topological(out)
        print(f"wrote {out} ({os.path.getsize(out) / 1e6:.0f} MB)")
    path = os.path.join(folder, "transformer-base.safetensors")
    if os.path.exists(path):
        src = torch.tensor([4 + (i * 7919) % 30000 for i in range(TOKENS)], dtype=torch.int64)
        export(Seq2SeqEncode(read_safetensors(path)), src, os.path.join(folder, "transformer-base.onnx"), ["tokens"], ["memory", "cross_keys", "cross_values"])


if __name__ == "__main__":
    main()
