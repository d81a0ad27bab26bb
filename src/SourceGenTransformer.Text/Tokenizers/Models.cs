using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>One token of a word: its id and the chars [Start, End) of the word's text it covers.</summary>
internal readonly record struct WordToken(int Id, int Start, int End);

/// <summary>A tokenizer.json <c>model</c>: turns one pre-tokenized word into token ids.</summary>
internal abstract class HfModel
{
    public const string Supported = "BPE, WordPiece, WordLevel";

    protected HfModel(Dictionary<string, int> vocab)
    {
        Vocab = vocab;
        int size = 0;
        foreach (int id in vocab.Values) size = Math.Max(size, id + 1);
        Tokens = new string?[size];
        foreach (var (token, id) in vocab) Tokens[id] = token;
    }

    public Dictionary<string, int> Vocab { get; }

    /// <summary>Each id's token, or null where the vocabulary has a gap.</summary>
    public string?[] Tokens { get; }

    public abstract void Tokenize(string word, List<WordToken> output);

    public static HfModel Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        string? type = r.Type(e, path);
        if (type is not ("BPE" or "WordPiece" or "WordLevel")) throw r.Unsupported(path, "model", type, Supported);
        if (!e.TryGetProperty("vocab", out JsonElement v) || v.ValueKind != JsonValueKind.Object)
            throw r.Error($"{path}.vocab", "expected an object of token → id.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw r.Error($"{path}.vocab[\"{p.Name}\"]", $"expected a non-negative integer id, found {p.Value.GetRawText()}.");
            vocab[p.Name] = id;
        }
        string? unk = r.OptionalString(e, "unk_token", path);
        if (unk is not null && !vocab.ContainsKey(unk) && type != "BPE")
            throw r.Error($"{path}.unk_token", $"\"{unk}\" is not in the vocabulary.");
        switch (type)
        {
            case "WordPiece":
                return new WordPiece(vocab, unk ?? throw r.Error($"{path}.unk_token", "WordPiece needs an unk_token."),
                    r.String(e, "continuing_subword_prefix", path, "##"), r.Int(e, "max_input_chars_per_word", path, 100));
            case "WordLevel":
                return new WordLevel(vocab, unk ?? throw r.Error($"{path}.unk_token", "WordLevel needs an unk_token."));
            default:
                if (r.Has(e, "dropout") && e.GetProperty("dropout").ValueKind == JsonValueKind.Number && e.GetProperty("dropout").GetDouble() > 0)
                    throw r.Error($"{path}.dropout", "BPE dropout is a training setting; a tokenizer.json for inference has none.");
                return Bpe.Read(e, r, path, vocab, unk);
        }
    }

    /// <summary>
    /// Byte-pair encoding as the tokenizers crate's <c>BPE</c> model does it: the word's characters (with the
    /// continuing-subword prefix and end-of-word suffix), unknown ones as their UTF-8 byte tokens <c>&lt;0xNN&gt;</c>
    /// under <c>byte_fallback</c> or as <c>unk_token</c> (fused when <c>fuse_unk</c>); then the lowest-ranked merge of
    /// adjacent symbols, leftmost first, until none applies. <c>ignore_merges</c> takes a word that is a token whole.
    /// </summary>
    private sealed class Bpe : HfModel
    {
        private readonly Dictionary<(int, int), (int Rank, int Id)> _merges;
        private readonly string? _unk;
        private readonly string? _prefix;
        private readonly string? _suffix;
        private readonly bool _fuseUnk;
        private readonly bool _byteFallback;
        private readonly bool _ignoreMerges;
        private readonly int[] _byteTokens = new int[256];
        private readonly ConcurrentDictionary<string, WordToken[]> _cache = new(StringComparer.Ordinal);

        private Bpe(Dictionary<string, int> vocab, Dictionary<(int, int), (int, int)> merges, string? unk, string? prefix, string? suffix,
            bool fuseUnk, bool byteFallback, bool ignoreMerges) : base(vocab)
        {
            _merges = merges;
            _unk = unk;
            _prefix = prefix;
            _suffix = suffix;
            _fuseUnk = fuseUnk;
            _byteFallback = byteFallback;
            _ignoreMerges = ignoreMerges;
            for (int b = 0; b < 256; b++) _byteTokens[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }

        public static Bpe Read(JsonElement e, TokenizerJsonReader r, string path, Dictionary<string, int> vocab, string? unk)
        {
            string? prefix = r.OptionalString(e, "continuing_subword_prefix", path);
            string? suffix = r.OptionalString(e, "end_of_word_suffix", path);
            var merges = new Dictionary<(int, int), (int, int)>();
            int rank = 0;
            foreach (JsonElement m in r.Array(e, "merges", path).EnumerateArray())
            {
                string where = $"{path}.merges[{rank}]";
                string a, b;
                if (m.ValueKind == JsonValueKind.String)
                {
                    string[] parts = m.GetString()!.Split(' ');
                    if (parts.Length != 2) throw r.Error(where, $"expected \"left right\", found \"{m.GetString()}\".");
                    (a, b) = (parts[0], parts[1]);
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String
                    && m[1].ValueKind == JsonValueKind.String)
                {
                    (a, b) = (m[0].GetString()!, m[1].GetString()!);
                }
                else
                {
                    throw r.Error(where, "expected \"left right\" or [\"left\", \"right\"].");
                }
                if (!vocab.TryGetValue(a, out int ia)) throw r.Error(where, $"\"{a}\" is not in the vocabulary.");
                if (!vocab.TryGetValue(b, out int ib)) throw r.Error(where, $"\"{b}\" is not in the vocabulary.");
                string merged = prefix is not null && b.StartsWith(prefix, StringComparison.Ordinal) ? a + b[prefix.Length..] : a + b;
                if (!vocab.TryGetValue(merged, out int id)) throw r.Error(where, $"the merge of \"{a}\" and \"{b}\", \"{merged}\", is not in the vocabulary.");
                merges.TryAdd((ia, ib), (rank, id));
                rank++;
            }
            return new Bpe(vocab, merges, unk, prefix, suffix, r.Bool(e, "fuse_unk", path, false), r.Bool(e, "byte_fallback", path, false),
                r.Bool(e, "ignore_merges", path, false));
        }

        public override void Tokenize(string word, List<WordToken> output)
        {
            if (_ignoreMerges && Vocab.TryGetValue(word, out int whole))
            {
                output.Add(new WordToken(whole, 0, word.Length));
                return;
            }
            if (_cache.TryGetValue(word, out WordToken[]? cached))
            {
                output.AddRange(cached);
                return;
            }
            WordToken[] tokens = Merge(word);
            if (word.Length <= 256 && _cache.Count < 200_000) _cache.TryAdd(word, tokens);
            output.AddRange(tokens);
        }

        private WordToken[] Merge(string word)
        {
            var ids = new List<int>(word.Length);
            var starts = new List<int>(word.Length);
            var ends = new List<int>(word.Length);
            void Add(int id, int s, int e)
            {
                ids.Add(id);
                starts.Add(s);
                ends.Add(e);
            }
            (int Id, int Start, int End)? unk = null;
            for (int i = 0; i < word.Length;)
            {
                int width = char.IsSurrogatePair(word, i) ? 2 : 1;
                bool isFirst = i == 0, isLast = i + width == word.Length;
                string s = word.Substring(i, width);
                if (!isFirst && _prefix is not null) s = _prefix + s;
                if (isLast && _suffix is not null) s += _suffix;
                if (Vocab.TryGetValue(s, out int id))
                {
                    if (unk is { } u) Add(u.Id, u.Start, u.End);
                    unk = null;
                    Add(id, i, i + width);
                }
                else if (_byteFallback && ByteTokens(s) is { } bytes)
                {
                    foreach (int b in bytes) Add(b, i, i + width);
                }
                else if (_unk is not null)
                {
                    if (!Vocab.TryGetValue(_unk, out int unkId))
                        throw new InvalidOperationException($"The BPE model's unk_token \"{_unk}\" is not in its vocabulary.");
                    if (unk is { } u)
                    {
                        if (_fuseUnk)
                        {
                            unk = (u.Id, u.Start, i + width);
                            i += width;
                            continue;
                        }
                        Add(u.Id, u.Start, u.End);
                    }
                    unk = (unkId, i, i + width);
                }
                i += width;
            }
            if (unk is { } last) Add(last.Id, last.Start, last.End);
            return MergeAll(ids, starts, ends);
        }

        private int[]? ByteTokens(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            var ids = new int[bytes.Length];
            for (int i = 0; i < bytes.Length; i++)
                if ((ids[i] = _byteTokens[bytes[i]]) < 0) return null;
            return ids;
        }

        private WordToken[] MergeAll(List<int> ids, List<int> starts, List<int> ends)
        {
            int n = ids.Count;
            var id = ids.ToArray();
            var start = starts.ToArray();
            var end = ends.ToArray();
            var next = new int[n];
            var prev = new int[n];
            var alive = new bool[n];
            for (int i = 0; i < n; i++)
            {
                next[i] = i + 1 < n ? i + 1 : -1;
                prev[i] = i - 1;
                alive[i] = true;
            }
            var queue = new PriorityQueue<(int Left, int A, int B, int NewId), (int Rank, int Pos)>();
            void Push(int left)
            {
                if (left < 0 || next[left] < 0) return;
                int right = next[left];
                if (_merges.TryGetValue((id[left], id[right]), out var m)) queue.Enqueue((left, id[left], id[right], m.Id), (m.Rank, left));
            }
            for (int i = 0; i + 1 < n; i++) Push(i);
            while (queue.TryDequeue(out var top, out _))
            {
                int left = top.Left;
                if (!alive[left] || id[left] != top.A) continue;
                int right = next[left];
                if (right < 0 || id[right] != top.B) continue;
                id[left] = top.NewId;
                end[left] = end[right];
                alive[right] = false;
                next[left] = next[right];
                if (next[right] >= 0) prev[next[right]] = left;
                Push(prev[left]);
                Push(left);
            }
            var result = new List<WordToken>(n);
            for (int i = 0; i >= 0 && n > 0; i = next[i]) result.Add(new WordToken(id[i], start[i], end[i]));
            return result.ToArray();
        }
    }

    /// <summary>WordPiece: the longest vocabulary prefix first, continuations with their prefix; a word that fails is one unk.</summary>
    private sealed class WordPiece(Dictionary<string, int> vocab, string unk, string prefix, int maxChars) : HfModel(vocab)
    {
        public override void Tokenize(string word, List<WordToken> output)
        {
            int unkId = Vocab[unk];
            int chars = 0;
            for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1) chars++;
            if (chars > maxChars)
            {
                output.Add(new WordToken(unkId, 0, word.Length));
                return;
            }
            int first = output.Count;
            for (int start = 0; start < word.Length;)
            {
                int end = word.Length;
                int found = -1;
                while (start < end)
                {
                    string sub = start > 0 ? prefix + word[start..end] : word[start..end];
                    if (Vocab.TryGetValue(sub, out int id))
                    {
                        found = id;
                        break;
                    }
                    end -= end >= 2 && char.IsSurrogatePair(word[end - 2], word[end - 1]) ? 2 : 1;
                }
                if (found < 0)
                {
                    output.RemoveRange(first, output.Count - first);
                    output.Add(new WordToken(unkId, 0, word.Length));
                    return;
                }
                output.Add(new WordToken(found, start, end));
                start = end;
            }
        }
    }

    private sealed class WordLevel(Dictionary<string, int> vocab, string unk) : HfModel(vocab)
    {
        public override void Tokenize(string word, List<WordToken> output) =>
            output.Add(new WordToken(Vocab.TryGetValue(word, out int id) ? id : Vocab[unk], 0, word.Length));
    }
}
