#!/usr/bin/python3
"""Trains the StoryTeller model: a small Llama-family model on the children's stories that corpus.py writes.

Data: 42,000 stories from corpus.py's grammar (seed 2023, about 20 MB), written at training time; nothing is
downloaded. Held out: 1,000 stories of another seed (777), for the held-out loss and perplexity.
Tokenizer: SentencePiece BPE trained here by python3-sentencepiece with normalization_rule_name=identity and byte
fallback (Microsoft.ML.Tokenizers' LlamaTokenizer accepts only that) and whitespace kept as it is
(remove_extra_whitespaces=False, as in Llama's tokenizer), Llama's special ids (unk 0, bos 1, eos 2).
Model: the Llama reference of tests/fixtures/make_fixtures.py (Hugging Face LlamaForCausalLM semantics) with its
weights as trainable parameters; training runs a batched twin of that forward, checked against it before
training, and the greedy answers use the reference itself. Each training sequence starts at a story's BOS, so the
model always sees the introduction it must stay consistent with.

Training runs for a wall-clock budget (STORYTELLER_BUDGET_S, default 5100 s, the committed run) and saves checkpoint.pt (weights,
optimiser, step, elapsed time, loss curve) every 100 steps; rerun the same command after a stop and it resumes
from there, reusing the tokenizer it trained. PyTorch runs on one thread: on this 2-core machine one thread
trained at 7,400 tokens/s and two at 2,900 (a 1M-parameter probe of this forward, same batch). Writes, beside
this script:

  tokenizer.model          the SentencePiece model
  storyteller.safetensors  weights in BF16 under LlamaForCausalLM names
  greedy.json              20 prompts and PyTorch's greedy continuation of each (on the BF16 weights)
  training_log.json        data size, parameter count, loss curve, held-out loss and perplexity, time

Rerun (Debian's python3-torch and python3-sentencepiece; libopenblas0-pthread makes Debian's PyTorch, built
against the generic BLAS interface, about five times faster than the reference BLAS it otherwise finds):
    apt-get install python3-torch python3-sentencepiece libopenblas0-pthread
    nohup /usr/bin/python3 models/storyteller/train.py > train.log 2>&1 &
"""
import json
import math
import os
import random
import subprocess
import sys
import time

import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from make_fixtures import llama_forward, llama_weights, round_to, save_safetensors  # noqa: E402

CONFIG = dict(name="storyteller", family="llama", layers=4, heads=6, kv_heads=2, dim=192, ffn=512,
              vocab=1024, max_seq=256, theta=10000.0, eps=1e-5, tied=False, dtype="BF16", seed=7)
CONTEXT, BATCH, LR = 256, 16, 3e-3
TIME_BUDGET_S = float(os.environ.get("STORYTELLER_BUDGET_S", 5100))
CHECKPOINT = os.path.join(HERE, "checkpoint.pt")
PROMPTS = ["Once upon a time", "One day,", "There was once", "Once upon a time, there was a little girl named Lily.",
           "Tom loved to", "Once there was a dog named Max", "The wind", "Mia was sad.", "One sunny day, a cat named",
           "Ben and Sue", "But the ball", "\"Thank you,", "From that day on,", "Once upon a time, a brave bear",
           "A bunny called", "The end.", "Emma had a kite", "Just then,", "Oh no,", "Leo wanted to"]
GREEDY_TOKENS = 48


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



def stories(seed, count):
    """The corpus program's stories, one per line."""
    path = os.path.join(HERE, f"corpus.tmp.{seed}.txt")
    subprocess.run([sys.executable, os.path.join(HERE, "corpus.py"), "write", path, "--stories", str(count),
                    "--seed", str(seed)], check=True)
    with open(path, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f if line.strip()]
    return path, texts


def tokenize(sp, texts):
    """One stream of BOS story EOS ..., and where each story starts."""
    stream, starts = [], []
    for t in texts:
        starts.append(len(stream))
        stream += [1] + sp.encode(t) + [2]
    return torch.tensor(stream, dtype=torch.long), starts


def held_out_loss(params, data, starts):
    """Mean next-token cross-entropy over whole held-out stories (each from its BOS to its EOS)."""
    total, count = 0.0, 0
    with torch.no_grad():
        bounds = starts + [len(data)]
        for i in range(0, len(starts), 32):
            seqs = [data[bounds[j]:bounds[j + 1]] for j in range(i, min(i + 32, len(starts)))]
            T = max(len(s) for s in seqs)
            batch = torch.zeros(len(seqs), T, dtype=torch.long)
            target = torch.full((len(seqs), T - 1), -100, dtype=torch.long)
            for b, s in enumerate(seqs):
                batch[b, :len(s)] = s
                target[b, :len(s) - 1] = s[1:]
            logits = batched_llama_forward(CONFIG, params, batch[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, CONFIG["vocab"]), target.reshape(-1), ignore_index=-100,
                                     reduction="sum").item()
            count += int((target != -100).sum())
    return total / count


def main():
    torch.manual_seed(CONFIG["seed"])
    torch.set_num_threads(1)  # one thread: 2.5x the tokens per second of two on this machine (see the docstring)
    train_path, texts = stories(2023, 42000)
    held_path, held = stories(777, 1000)
    tokenizer = os.path.join(HERE, "tokenizer.model")
    resume = os.path.exists(CHECKPOINT)
    if not resume:  # SentencePiece training is not reproducible run to run, so a resumed run keeps its tokenizer
        spm.SentencePieceTrainer.train(input=train_path, model_prefix=os.path.join(HERE, "tokenizer"),
                                       vocab_size=CONFIG["vocab"], model_type="bpe", normalization_rule_name="identity",
                                       byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2,
                                       pad_id=-1, add_dummy_prefix=True, remove_extra_whitespaces=False,
                                       split_digits=True, num_threads=2, minloglevel=2)
        os.remove(os.path.join(HERE, "tokenizer.vocab"))
    corpus_bytes = os.path.getsize(train_path)
    os.remove(train_path)
    os.remove(held_path)
    sp = spm.SentencePieceProcessor(model_file=tokenizer)
    data, starts = tokenize(sp, texts)
    held_data, held_starts = tokenize(sp, held)
    starts = [s for s in starts if s + CONTEXT + 1 <= len(data)]
    print(f"{len(texts)} stories, {corpus_bytes} bytes, {len(data)} tokens; held out {len(held)} stories", flush=True)

    g = torch.Generator().manual_seed(CONFIG["seed"])
    init = llama_weights(CONFIG, g)
    params = {}
    for k, t in init.items():  # small init, as for training from scratch
        params[k] = torch.nn.Parameter((t * 0.02) if t.dim() == 2 else torch.ones_like(t))
    with torch.no_grad():  # the batched twin must compute what the reference computes
        probe = data[:2 * 16].view(2, 16)
        twin = batched_llama_forward(CONFIG, params, probe)
        for b in range(2):
            assert torch.allclose(twin[b], llama_forward(CONFIG, params, probe[b].tolist()), atol=1e-5), "batched forward differs"
    optimizer = torch.optim.AdamW(params.values(), lr=LR, weight_decay=0.01)
    rng = random.Random(CONFIG["seed"])
    log, step, elapsed = [], 0, 0.0
    if resume:
        state = torch.load(CHECKPOINT)
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(state["params"][k])
        optimizer.load_state_dict(state["optimizer"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        log, step, elapsed = state["log"], state["step"], state["elapsed"]
        print(f"resumed at step {step} ({elapsed:.0f}s)", flush=True)

    def save_checkpoint():
        tmp = CHECKPOINT + ".tmp"
        torch.save({"params": {k: p.detach() for k, p in params.items()}, "optimizer": optimizer.state_dict(),
                    "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "log": log, "step": step,
                    "elapsed": elapsed}, tmp)
        os.replace(tmp, CHECKPOINT)

    start = time.time() - elapsed
    while elapsed < TIME_BUDGET_S:
        step += 1
        progress = elapsed / TIME_BUDGET_S
        lr = LR * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = torch.stack([data[s:s + CONTEXT + 1] for s in (rng.choice(starts) for _ in range(BATCH))])
        logits = batched_llama_forward(CONFIG, params, batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, CONFIG["vocab"]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        optimizer.step()
        elapsed = time.time() - start
        if step % 20 == 0:
            log.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(elapsed)})
            print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} ({elapsed:.0f}s)", flush=True)
        if step % 100 == 0:
            save_checkpoint()
    save_checkpoint()

    weights = {k: round_to(p.detach(), CONFIG["dtype"]) for k, p in params.items()}
    save_safetensors(os.path.join(HERE, "storyteller.safetensors"), weights, CONFIG["dtype"])
    held_loss = held_out_loss(weights, held_data, held_starts)
    print(f"held-out loss {held_loss:.4f}, perplexity {math.exp(held_loss):.3f}", flush=True)
    results = []
    with torch.no_grad():
        for prompt in PROMPTS:
            tokens = [1] + sp.encode(prompt)
            out = []
            for _ in range(GREEDY_TOKENS):
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
        json.dump({"config": CONFIG, "context": CONTEXT, "batch": BATCH, "lr": LR, "stories": len(texts),
                   "corpus_bytes": corpus_bytes, "tokens": len(data), "steps": step, "training_seconds": round(elapsed),
                   "threads": 1, "parameters": sum(p.numel() for p in params.values()),
                   "held_out_stories": len(held), "held_out_loss": round(held_loss, 4),
                   "held_out_perplexity": round(math.exp(held_loss), 4), "loss_curve": log}, f, indent=1)


if __name__ == "__main__":
    main()
