#!/usr/bin/python3
"""Trains the StoryTeller model: a small Llama-family model on the fortunes of Debian's `fortunes` package.

Data: the English fortune files installed by Debian's `fortunes` package (fortune-mod, BSD licence; see
/usr/share/doc/fortunes/copyright), read from /usr/share/games/fortunes at training time; nothing is
downloaded. Tokenizer: SentencePiece BPE trained here by python3-sentencepiece with
normalization_rule_name=identity and byte fallback (Microsoft.ML.Tokenizers' LlamaTokenizer accepts only
that) and whitespace kept as it is (remove_extra_whitespaces=False, as in Llama's tokenizer), Llama's special ids
(unk 0, bos 1, eos 2). Model: the Llama reference of tests/fixtures/make_fixtures.py
(Hugging Face LlamaForCausalLM semantics) with its weights as trainable parameters; training runs a batched
twin of that forward, checked against it before training, and the greedy answers use the reference itself. Writes, beside this script:

  tokenizer.model          the SentencePiece model
  storyteller.safetensors  weights in BF16 under LlamaForCausalLM names
  greedy.json              20 prompts and PyTorch's greedy continuation of each (on the BF16 weights)
  training_log.json        data size, parameter count, loss curve

Rerun (Debian's python3-torch, python3-sentencepiece, fortunes; libopenblas0-pthread makes Debian's PyTorch,
built against the generic BLAS interface, about five times faster than the reference BLAS it otherwise finds):
    apt-get install python3-torch python3-sentencepiece fortunes libopenblas0-pthread
    /usr/bin/python3 models/storyteller/train.py
"""
import glob
import json
import math
import os
import random
import sys
import time

import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from make_fixtures import llama_forward, llama_weights, round_to, save_safetensors  # noqa: E402

CONFIG = dict(name="storyteller", family="llama", layers=4, heads=6, kv_heads=2, dim=192, ffn=512, vocab=1024,
              max_seq=256, theta=10000.0, eps=1e-5, tied=False, dtype="BF16", seed=7)
CONTEXT, BATCH, LR = 128, 16, 2e-3
TIME_BUDGET_S = 25 * 60
FORTUNE_DIR = "/usr/share/games/fortunes"
PROMPTS = ["Once upon a time", "The meaning of life", "A computer", "You will", "Never trust",
           "Love is", "The best way to", "If you want", "Money", "There is no",
           "Today", "A friend", "The world", "Why do", "When in doubt",
           "Happiness", "Work", "I think", "Some people", "Tomorrow"]


def batched_llama_forward(c, w, tokens):
    """llama_forward for a batch (B, T) of sequences at once: the same math, for training speed only.
    main() checks it against llama_forward before training; the greedy answers use llama_forward itself."""
    B, T = tokens.shape
    H, KV = c["heads"], c["kv_heads"]
    hd = c["dim"] // H
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.outer(torch.arange(T).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def norm(x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"]))

    def rot(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    x = w["model.embed_tokens.weight"][tokens]
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        h = norm(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        att = torch.softmax((q @ k.transpose(-1, -2)) * hd ** -0.5 + mask, dim=-1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, c["dim"]) @ w[p + "self_attn.o_proj.weight"].T
        h = norm(x, w[p + "post_attention_layernorm.weight"])
        x = x + (F.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = norm(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if c["tied"] else w["lm_head.weight"]
    return x @ head.T


def read_fortunes():
    texts = []
    for path in sorted(glob.glob(os.path.join(FORTUNE_DIR, "*"))):
        if "." in os.path.basename(path) or os.path.isdir(path):
            continue  # .dat index files and .u8 symlinks
        with open(path, encoding="utf-8", errors="replace") as f:
            for fortune in f.read().split("\n%\n"):
                fortune = fortune.strip()
                if fortune and all(ord(c) < 128 for c in fortune):
                    texts.append(fortune)
    return texts


def main():
    torch.manual_seed(CONFIG["seed"])
    torch.set_num_threads(2)
    texts = read_fortunes()
    corpus = os.path.join(HERE, "corpus.tmp.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(t.replace("\n", " ") for t in texts))
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(HERE, "tokenizer"), vocab_size=CONFIG["vocab"],
                                   model_type="bpe", normalization_rule_name="identity", byte_fallback=True,
                                   character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
                                   num_threads=2, minloglevel=2)
    os.remove(corpus)
    os.remove(os.path.join(HERE, "tokenizer.vocab"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "tokenizer.model"))
    stream = []
    for t in texts:
        stream += [1] + sp.encode(t) + [2]
    data = torch.tensor(stream, dtype=torch.long)
    print(f"{len(texts)} fortunes, {len(stream)} tokens", flush=True)

    g = torch.Generator().manual_seed(CONFIG["seed"])
    init = llama_weights(CONFIG, g)
    params = {}
    for k, t in init.items():  # small init, as for training from scratch
        scale = 0.02 if t.dim() == 2 else 1.0
        params[k] = torch.nn.Parameter((t * scale) if t.dim() == 2 else torch.ones_like(t))
    with torch.no_grad():  # the batched twin must compute what the reference computes
        probe = data[:2 * 16].view(2, 16)
        twin = batched_llama_forward(CONFIG, params, probe)
        for b in range(2):
            assert torch.allclose(twin[b], llama_forward(CONFIG, params, probe[b].tolist()), atol=1e-5), "batched forward differs"
    optimizer = torch.optim.AdamW(params.values(), lr=LR, weight_decay=0.01)
    rng = random.Random(CONFIG["seed"])
    log, start, step = [], time.time(), 0
    while time.time() - start < TIME_BUDGET_S:
        step += 1
        lr = LR * min(1.0, step / 50) * max(0.1, 1 - (time.time() - start) / TIME_BUDGET_S)
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = [rng.randrange(0, len(data) - CONTEXT - 1) for _ in range(BATCH)]
        batch = torch.stack([data[i:i + CONTEXT + 1] for i in starts])
        logits = batched_llama_forward(CONFIG, params, batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, CONFIG["vocab"]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        optimizer.step()
        if step % 20 == 0:
            log.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(time.time() - start)})
            print(f"step {step} loss {loss.item():.3f} ({time.time() - start:.0f}s)", flush=True)

    weights = {k: round_to(p.detach(), CONFIG["dtype"]) for k, p in params.items()}
    save_safetensors(os.path.join(HERE, "storyteller.safetensors"), weights, CONFIG["dtype"])
    results = []
    with torch.no_grad():
        for prompt in PROMPTS:
            tokens = [1] + sp.encode(prompt)
            out = []
            for _ in range(32):
                nxt = int(torch.argmax(llama_forward(CONFIG, weights, tokens)[-1]))
                if nxt == 2:
                    break
                tokens.append(nxt)
                out.append(nxt)
            results.append({"prompt": prompt, "prompt_ids": [1] + sp.encode(prompt), "greedy": out, "text": sp.decode(out)})
            print(f"{prompt!r} -> {sp.decode(out)!r}", flush=True)
    with open(os.path.join(HERE, "greedy.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(HERE, "training_log.json"), "w") as f:
        json.dump({"config": CONFIG, "context": CONTEXT, "batch": BATCH, "lr": LR, "fortunes": len(texts),
                   "tokens": len(stream), "steps": step, "parameters": sum(p.numel() for p in params.values()),
                   "loss_curve": log}, f, indent=1)


if __name__ == "__main__":
    main()
