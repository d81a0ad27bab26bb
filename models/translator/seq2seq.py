"""The model of PyTorch's "Language Translation with nn.Transformer" tutorial, and the number task.

Shared by train.py (which trains the digits-to-words translator) and by the parity fixtures in
tests/fixtures/make_seq2seq_fixtures.py. The module names are the tutorial's, so its state_dict
has exactly the tensor names SourceGenTransformer's Seq2Seq family loads.
"""
import math

import torch
from torch import nn
from torch.nn import Transformer

UNK, PAD, BOS, EOS = 0, 1, 2, 3  # the tutorial's special ids


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size, dropout, maxlen=5000):
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding):
        return self.dropout(token_embedding + self.pos_embedding[: token_embedding.size(0), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead, src_vocab_size, tgt_vocab_size,
                 dim_feedforward=512, dropout=0.1, activation="relu", norm_first=False, maxlen=5000):
        super().__init__()
        self.transformer = Transformer(d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                       num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                       dropout=dropout, activation=activation, norm_first=norm_first)
        self.generator = nn.Linear(emb_size, tgt_vocab_size)
        self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout, maxlen=maxlen)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask, src_padding_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask, src_padding_mask)

    def decode(self, tgt, memory, tgt_mask, memory_key_padding_mask=None):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask,
                                        memory_key_padding_mask=memory_key_padding_mask)


def square_subsequent_mask(sz):
    return torch.triu(torch.full((sz, sz), float("-inf")), diagonal=1)


@torch.no_grad()
def greedy_decode(model, src, max_len, src_padding_mask=None):
    """The tutorial's greedy_decode, batched: src (S, B) -> list of B token lists (BOS..EOS excluded)."""
    S, B = src.shape
    memory = model.encode(src, torch.zeros((S, S), dtype=torch.bool), src_padding_mask)
    ys = torch.full((1, B), BOS, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    for _ in range(max_len):
        out = model.decode(ys, memory, square_subsequent_mask(ys.size(0)), src_padding_mask)
        prob = model.generator(out[-1])
        next_word = torch.argmax(prob, dim=1)
        next_word = torch.where(done, torch.full_like(next_word, PAD), next_word)
        ys = torch.cat([ys, next_word.unsqueeze(0)], dim=0)
        done |= next_word == EOS
        if bool(done.all()):
            break
    result = []
    for b in range(B):
        seq = []
        for t in ys[1:, b].tolist():
            if t in (EOS, PAD):
                break
            seq.append(t)
        result.append(seq)
    return result


# ----------------------------------------------------------------------------- the number task

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SPECIALS = ["<unk>", "<pad>", "<bos>", "<eos>"]
SOURCE_VOCAB = SPECIALS + list("0123456789")
TARGET_VOCAB = SPECIALS + ONES + TENS[2:] + ["hundred", "thousand", "-"]
MAX_NUMBER = 999_999


def under_thousand(n):
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return words
    if n >= 20:
        words.append(TENS[n // 10])
        if n % 10:
            words += ["-", ONES[n % 10]]
    elif n > 0 or not words:
        words.append(ONES[n])
    return words


def number_to_words(n):
    """4821 -> ['four', 'thousand', 'eight', 'hundred', 'twenty', '-', 'one'] (hyphen as its own token)."""
    if n < 1000:
        return under_thousand(n)
    words = under_thousand(n // 1000) + ["thousand"]
    if n % 1000:
        words += under_thousand(n % 1000)
    return words


def words_to_text(words):
    return " ".join(words).replace(" - ", "-")


def encode_source(n):
    return [BOS] + [SOURCE_VOCAB.index(c) for c in str(n)] + [EOS]


def encode_target(n):
    return [BOS] + [TARGET_VOCAB.index(w) for w in number_to_words(n)] + [EOS]
