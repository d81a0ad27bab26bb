#!/usr/bin/python3
"""Trains the digits-to-words translator: "4821" -> "four thousand eight hundred twenty-one".

The model is the Seq2SeqTransformer of PyTorch's nn.Transformer translation tutorial (post-norm,
ReLU, sinusoidal positions), small enough to train on this 2-core CPU in about fourteen minutes. Numbers
0..999,999 are drawn with a uniform number of digits; 1000 numbers of 3 to 6 digits, fixed by a seed, are
held out and never trained on. Writes, beside this script:

  translator.safetensors   the state_dict under the tutorial's names (F32)
  vocab.json               source and target vocabularies
  heldout.json             the 1000 held-out numbers with PyTorch's greedy translations
  training_log.json        the loss curve and held-out accuracy

Rerun (Debian's python3-torch; libopenblas0-pthread makes it about five times faster):
    /usr/bin/python3 models/translator/train.py
"""
import json
import os
import random
import struct
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seq2seq import (BOS, EOS, MAX_NUMBER, PAD, SOURCE_VOCAB, TARGET_VOCAB, Seq2SeqTransformer, encode_source,
                     encode_target, greedy_decode, number_to_words, square_subsequent_mask, words_to_text)

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(encoder_layers=3, decoder_layers=3, emb_size=64, nhead=4, ffn=128, dropout=0.1)
STEPS, BATCH, LR, SEED = 2000, 64, 1e-3, 2024
TIME_BUDGET_S = 14 * 60


def heldout_numbers():
    # Held out from 3-6 digit numbers only: there are just 100 numbers of 1-2 digits, and a uniform draw
    # over lengths would hold out all ten single digits, leaving the model never to have seen one.
    rng = random.Random(SEED + 1)
    picked = set()
    while len(picked) < 1000:
        digits = rng.randint(3, 6)
        picked.add(rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1))
    return sorted(picked)


def sample_batch(rng, excluded, size):
    nums = []
    while len(nums) < size:
        digits = rng.randint(1, 6)
        n = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)
        if n not in excluded:
            nums.append(n)
    return nums


def pad(seqs):
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [PAD] * (width - len(s)) for s in seqs], dtype=torch.long).T  # (len, batch)


def save_safetensors(path, state):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "model": "Seq2SeqTransformer (PyTorch nn.Transformer tutorial)",
                              "task": "digits to English words", "written_by": "models/translator/train.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = random.Random(SEED)
    held = heldout_numbers()
    excluded = set(held)

    model = Seq2SeqTransformer(CONFIG["encoder_layers"], CONFIG["decoder_layers"], CONFIG["emb_size"], CONFIG["nhead"],
                               len(SOURCE_VOCAB), len(TARGET_VOCAB), CONFIG["ffn"], CONFIG["dropout"])
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.98), eps=1e-9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=STEPS, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)

    log, start = [], time.time()
    model.train()
    for step in range(1, STEPS + 1):
        nums = sample_batch(rng, excluded, BATCH)
        src, tgt = pad([encode_source(n) for n in nums]), pad([encode_target(n) for n in nums])
        tgt_in, tgt_out = tgt[:-1], tgt[1:]
        S, T = src.shape[0], tgt_in.shape[0]
        logits = model(src, tgt_in, torch.zeros((S, S), dtype=torch.bool), square_subsequent_mask(T),
                       (src == PAD).T, (tgt_in == PAD).T, (src == PAD).T)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0:
            log.append({"step": step, "loss": round(loss.item(), 5), "seconds": round(time.time() - start, 1)})
            print(f"step {step} loss {loss.item():.4f} ({time.time() - start:.0f}s)", flush=True)
        if time.time() - start > TIME_BUDGET_S:
            print("time budget reached", flush=True)
            break

    model.eval()
    results = []
    for i in range(0, len(held), 250):
        chunk = held[i:i + 250]
        src = pad([encode_source(n) for n in chunk])
        results += greedy_decode(model, src, max_len=16, src_padding_mask=(src == PAD).T)
    correct = sum(words_to_text([TARGET_VOCAB[t] for t in out]) == words_to_text(number_to_words(n))
                  for n, out in zip(held, results))
    print(f"held-out exact matches: {correct} / {len(held)}")

    save_safetensors(os.path.join(HERE, "translator.safetensors"), model.state_dict())
    with open(os.path.join(HERE, "vocab.json"), "w") as f:
        json.dump({"source": SOURCE_VOCAB, "target": TARGET_VOCAB, "unk": 0, "pad": PAD, "bos": BOS, "eos": EOS}, f, indent=1)
    with open(os.path.join(HERE, "heldout.json"), "w") as f:
        json.dump({"note": "1000 numbers never seen in training; 'greedy' is PyTorch's greedy decoding of each alone "
                           "(batched with padding masks), BOS and EOS excluded",
                   "numbers": held, "greedy": results}, f, separators=(",", ":"))
    with open(os.path.join(HERE, "training_log.json"), "w") as f:
        json.dump({"config": CONFIG, "steps": STEPS, "batch": BATCH, "lr": LR, "seed": SEED,
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "heldout_exact_matches": correct, "loss_curve": log}, f, indent=1)


if __name__ == "__main__":
    main()
