using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using SourceGenTransformer.Text.Tokenizers;

namespace SourceGenTransformer.Text;

/// <summary>An added token of a tokenizer.json (<c>added_tokens</c>): matched in the text before the model sees it.</summary>
/// <param name="Id">The token's id.</param>
/// <param name="Content">Its text.</param>
/// <param name="Special">Whether it is special (skipped when decoding with <c>skipSpecialTokens</c>).</param>
/// <param name="SingleWord">Whether it matches only as a whole word.</param>
/// <param name="LeftStrip">Whether it takes the whitespace before it.</param>
/// <param name="RightStrip">Whether it takes the whitespace after it.</param>
/// <param name="Normalized">Whether it is matched in the normalized text (otherwise in the text as given).</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LeftStrip, bool RightStrip, bool Normalized);

/// <summary>
/// A Hugging Face <c>tokenizer.json</c>, tokenizing as the tokenizers library does: added tokens are split out first
/// (leftmost-longest, with their <c>single_word</c>, <c>lstrip</c>, <c>rstrip</c> and <c>normalized</c> rules), the rest
/// is normalized, pre-tokenized and given word by word to the model, and the post-processor adds the special tokens;
/// decoding runs the file's decoder chain. It is a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>, so
/// <see cref="TextGenerator"/>, <see cref="StreamingDetokenizer"/> and <see cref="TransformerChatClient"/> take it.
/// </summary>
/// <remarks>
/// Supported: models BPE (byte-level as GPT-2, Qwen2, Llama 3 and SmolLM2 ship it; SentencePiece-style with
/// <c>byte_fallback</c> and Metaspace as Llama 2, Mistral and Gemma ship it; <c>ignore_merges</c>, <c>fuse_unk</c>,
/// subword prefix and suffix), WordPiece (BERT) and WordLevel; the normalizers, pre-tokenizers, post-processors and
/// decoders named in the errors. Anything else in the file is an <see cref="InvalidDataException"/> naming it and its
/// JSON path. The tokenizers' own model classes in Microsoft.ML.Tokenizers are not used for the models because none has
/// byte fallback with Metaspace, <c>ignore_merges</c>, or the added-token rules, and a tokenizer that is nearly right
/// gives a model inputs it never saw. Offsets in <see cref="EncodedToken"/> index the normalized text.
/// </remarks>
public sealed class HuggingFaceTokenizer : Tokenizer
{
    private readonly HfNormalizer? _normalizer;
    private readonly HfPreTokenizer? _preTokenizer;
    private readonly HfModel _model;
    private readonly HfPostProcessor? _postProcessor;
    private readonly HfDecoder? _decoder;
    private readonly Dictionary<int, AddedToken> _addedById = [];
    private readonly AddedTokenMatcher _raw;
    private readonly AddedTokenMatcher _normalized;
    private Dictionary<string, int>? _vocabulary;

    private HuggingFaceTokenizer(JsonElement root, string source)
    {
        var r = new TokenizerJsonReader(source);
        if (root.ValueKind != JsonValueKind.Object) throw r.Error("$", "expected a JSON object.");
        JsonElement Part(string name) => root.TryGetProperty(name, out JsonElement v) ? v : default;
        if (Part("truncation").ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            throw r.Error("truncation", "truncation settings are not supported; set it to null (a generator truncates by turns, not by tokens).");
        if (Part("padding").ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            throw r.Error("padding", "padding settings are not supported; set it to null.");
        _normalizer = Part("normalizer") is { ValueKind: not JsonValueKind.Undefined } n ? HfNormalizer.Read(n, r, "normalizer") : null;
        _preTokenizer = Part("pre_tokenizer") is { ValueKind: not JsonValueKind.Undefined } p ? HfPreTokenizer.Read(p, r, "pre_tokenizer") : null;
        _model = Part("model") is { ValueKind: JsonValueKind.Object } m ? HfModel.Read(m, r, "model") : throw r.Error("model", "expected an object.");
        _postProcessor = Part("post_processor") is { ValueKind: not JsonValueKind.Undefined } q ? HfPostProcessor.Read(q, r, "post_processor") : null;
        _decoder = Part("decoder") is { ValueKind: not JsonValueKind.Undefined } d ? HfDecoder.Read(d, r, "decoder") : null;

        var raw = new List<AddedToken>();
        var normalized = new List<AddedToken>();
        if (Part("added_tokens") is { ValueKind: JsonValueKind.Array } added)
        {
            int i = 0;
            foreach (JsonElement t in added.EnumerateArray())
            {
                string path = $"added_tokens[{i++}]";
                if (t.ValueKind != JsonValueKind.Object) throw r.Error(path, "expected an object.");
                int id = r.Int(t, "id", path);
                if (id < 0) throw r.Error($"{path}.id", $"expected a non-negative id, found {id}.");
                string content = r.String(t, "content", path);
                if (content.Length == 0) throw r.Error($"{path}.content", "an added token cannot be empty.");
                bool special = r.Bool(t, "special", path, false);
                var token = new AddedToken(id, content, special, r.Bool(t, "single_word", path, false), r.Bool(t, "lstrip", path, false),
                    r.Bool(t, "rstrip", path, false), r.Bool(t, "normalized", path, !special));
                if (_model.Vocab.TryGetValue(content, out int modelId) && modelId != id)
                    throw r.Error($"{path}.id", $"\"{content}\" is {id} here but {modelId} in the model's vocabulary.");
                _addedById[id] = token;
                (token.Normalized ? normalized : raw).Add(token);
            }
        }
        _raw = new AddedTokenMatcher(raw.Select(t => (t.Content, t)));
        _normalized = new AddedTokenMatcher(normalized.Select(t => (_normalizer?.Normalize(t.Content) ?? t.Content, t)));
        AddedTokens = _addedById.Values.OrderBy(t => t.Id).ToArray();
        SpecialTokens = AddedTokens.Where(t => t.Special).ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
    }

    /// <summary>
    /// Loads a <c>tokenizer.json</c>, or the one in the folder <paramref name="path"/> names.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not JSON, or uses a part this tokenizer does not support (named, with its JSON path).</exception>
    public static HuggingFaceTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"Tokenizer file not found: {file}", file);
        return Parse(File.ReadAllText(file), file);
    }

    /// <summary>Parses the text of a <c>tokenizer.json</c>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The text is not JSON, or uses a part this tokenizer does not support.</exception>
    public static HuggingFaceTokenizer Parse(string json, string source = "tokenizer.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
            return new HuggingFaceTokenizer(doc.RootElement, source);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>The added tokens, by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The special added tokens: content → id.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>The model's vocabulary with the added tokens: token → id.</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _vocabulary ??= BuildVocabulary();

    /// <summary>One more than the largest id, model and added tokens together.</summary>
    public int VocabularySize => Math.Max(_model.Tokens.Length, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);

    /// <summary>Whether <see cref="Tokenizer.EncodeToIds(string, bool, bool)"/> and the other inherited encoders add the
    /// post-processor's special tokens (BOS for Llama, [CLS] and [SEP] for BERT), as Hugging Face does by default.</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>The id of a token (model or added), or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Vocabulary.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>The token of an id (added tokens first, as Hugging Face looks them up), or null.</summary>
    public string? IdToToken(int id) =>
        _addedById.TryGetValue(id, out AddedToken? t) ? t.Content : (uint)id < (uint)_model.Tokens.Length ? _model.Tokens[id] : null;

    /// <summary>Whether <paramref name="id"/> is a special added token.</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out AddedToken? t) && t.Special;

    /// <summary>The ids of <paramref name="text"/>, with or without the post-processor's special tokens.</summary>
    public int[] Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<(int Id, int Start, int End)> tokens = EncodeCore(text, addSpecialTokens, offsets: false, out _);
        var ids = new int[tokens.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = tokens[i].Id;
        return ids;
    }

    /// <summary>The text of <paramref name="ids"/> through the file's decoder; special tokens are left out when <paramref name="skipSpecialTokens"/>.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out AddedToken? added))
            {
                if (!(skipSpecialTokens && added.Special)) tokens.Add(added.Content);
            }
            else if ((uint)id < (uint)_model.Tokens.Length && _model.Tokens[id] is { } token)
            {
                tokens.Add(token);
            }
        }
        if (_decoder is null) return string.Join(" ", tokens);
        return string.Concat(_decoder.DecodeChain(tokens));
    }

    /// <summary>Decodes as the tokenizers library does by default: special tokens left out.</summary>
    public override string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: true);

    /// <inheritdoc />
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] all = ids as int[] ?? ids.ToArray();
        string text = Decode(all);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            (idsConsumed, charsWritten) = (all.Length, text.Length);
            return OperationStatus.Done;
        }
        // The longest prefix of the ids whose text fits.
        int n = all.Length - 1;
        while (n > 0 && Decode(all.Take(n)).Length > destination.Length) n--;
        string part = Decode(all.Take(n));
        part.CopyTo(destination);
        (idsConsumed, charsWritten) = (n, part.Length);
        return OperationStatus.DestinationTooSmall;
    }

    /// <inheritdoc />
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string input = text ?? textSpan.ToString();
        List<(int Id, int Start, int End)> tokens = EncodeCore(input, AddSpecialTokens, offsets: true, out string normalized);
        int count = settings.MaxTokenCount > 0 ? Math.Min(settings.MaxTokenCount, tokens.Count) : tokens.Count;
        var result = new List<EncodedToken>(count);
        for (int i = 0; i < count; i++)
        {
            (int id, int s, int e) = tokens[i];
            result.Add(new EncodedToken(id, IdToToken(id) ?? "", new Range(s, e)));
        }
        return new EncodeResults<EncodedToken>
        {
            Tokens = result,
            NormalizedText = normalized == input ? null : normalized,
            CharsConsumed = count == tokens.Count ? normalized.Length : count == 0 ? 0 : tokens[count - 1].End,
        };
    }

    /// <summary>The tokens of <paramref name="text"/>; their offsets are computed only when <paramref name="offsets"/> asks (else 0).</summary>
    private List<(int Id, int Start, int End)> EncodeCore(string text, bool addSpecialTokens, bool offsets, out string normalizedText)
    {
        text = WellFormed(text);
        // 1. Added tokens matched in the text as given; 2. the rest normalized, and added tokens matched in it.
        var pieces = new List<Piece>();
        var normalized = new StringBuilder(text.Length);
        foreach ((int s, int e, AddedToken? token) in _raw.Split(text))
        {
            if (token is not null)
            {
                pieces.Add(new Piece { Text = token.Content, Start = normalized.Length, End = normalized.Length + (e - s), TokenId = token.Id });
                normalized.Append(text, s, e - s);
                continue;
            }
            string segment = text.Substring(s, e - s);
            if (_normalizer is not null) segment = _normalizer.Normalize(segment);
            foreach ((int ns, int ne, AddedToken? inner) in _normalized.Split(segment))
            {
                var piece = new Piece
                {
                    Text = inner?.Content ?? segment.Substring(ns, ne - ns),
                    Start = normalized.Length + ns,
                    End = normalized.Length + ne,
                    AtOrigin = s == 0 && ns == 0,
                    TokenId = inner?.Id ?? -1,
                };
                if (piece.TokenId >= 0 || piece.Text.Length > 0) pieces.Add(piece);
            }
            normalized.Append(segment);
        }
        normalizedText = normalized.ToString();
        if (_preTokenizer is not null) pieces = _preTokenizer.Apply(pieces);

        var result = new List<(int, int, int)>(text.Length / 3 + 4);
        if (addSpecialTokens && _postProcessor is not null)
            foreach (int id in _postProcessor.Before) result.Add((id, 0, 0));
        var word = new List<WordToken>();
        foreach (Piece p in pieces)
        {
            if (p.TokenId >= 0)
            {
                result.Add((p.TokenId, p.Start, p.End));
                continue;
            }
            if (p.Text.Length == 0) continue;
            word.Clear();
            _model.Tokenize(p.Text, word);
            if (!offsets)
            {
                foreach (WordToken t in word) result.Add((t.Id, 0, 0));
                continue;
            }
            int[]? charOf = p.ByteLevel ? ByteToChar(p) : null;
            int shift = p.Text.Length - (p.End - p.Start);
            foreach (WordToken t in word)
            {
                int s = charOf is null ? t.Start - shift : charOf[t.Start], e = charOf is null ? t.End - shift : charOf[t.End];
                result.Add((t.Id, p.Start + Math.Clamp(s, 0, p.End - p.Start), p.Start + Math.Clamp(e, 0, p.End - p.Start)));
            }
        }
        if (addSpecialTokens && _postProcessor is not null)
            foreach (int id in _postProcessor.After) result.Add((id, normalizedText.Length, normalizedText.Length));
        return result;
    }

    /// <summary>For a byte-level piece: the char offset in its source of each byte position (and of the end).</summary>
    private static int[] ByteToChar(Piece p)
    {
        var bytes = new byte[p.Text.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = Splitting.CharToByte[p.Text[i]];
        var map = new int[bytes.Length + 1];
        int chars = 0;
        for (int i = 0; i < bytes.Length;)
        {
            int width = bytes[i] < 0x80 ? 1 : bytes[i] >= 0xF0 ? 4 : bytes[i] >= 0xE0 ? 3 : bytes[i] >= 0xC0 ? 2 : 1;
            for (int k = 0; k < width && i + k < bytes.Length; k++) map[i + k] = chars;
            i += width;
            chars += width == 4 ? 2 : 1;
        }
        map[bytes.Length] = chars;
        int shift = chars - (p.End - p.Start); // a prefix space ByteLevel added
        for (int i = 0; i < map.Length; i++) map[i] -= shift;
        return map;
    }

    private static string WellFormed(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsSurrogatePair(text, i))
            {
                i++;
                continue;
            }
            var chars = text.ToCharArray();
            for (int j = i; j < chars.Length; j++)
            {
                if (!char.IsSurrogate(chars[j])) continue;
                if (j + 1 < chars.Length && char.IsSurrogatePair(chars[j], chars[j + 1])) j++;
                else chars[j] = '\uFFFD';
            }
            return new string(chars);
        }
        return text;
    }

    private Dictionary<string, int> BuildVocabulary()
    {
        var v = new Dictionary<string, int>(_model.Vocab, StringComparer.Ordinal);
        foreach (AddedToken t in AddedTokens) v[t.Content] = t.Id;
        return v;
    }
}

/// <summary>
/// Finds added tokens in text as the tokenizers crate's AddedVocabulary does: leftmost-longest matches, a
/// <c>single_word</c> token only between non-word characters, <c>lstrip</c>/<c>rstrip</c> taking adjacent whitespace.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, List<(string Pattern, AddedToken Token)>> _byFirst = [];

    public AddedTokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> tokens)
    {
        foreach (var (pattern, token) in tokens)
        {
            if (pattern.Length == 0) continue;
            if (!_byFirst.TryGetValue(pattern[0], out var list)) _byFirst[pattern[0]] = list = [];
            list.Add((pattern, token));
        }
        foreach (var list in _byFirst.Values) list.Sort((a, b) => b.Pattern.Length.CompareTo(a.Pattern.Length));
    }

    /// <summary>The text cut into (start, end, token) parts: the tokens found, and null for the text between them.</summary>
    public List<(int Start, int End, AddedToken? Token)> Split(string text)
    {
        var parts = new List<(int, int, AddedToken?)>();
        int offset = 0;
        if (_byFirst.Count > 0)
        {
            for (int i = 0; i < text.Length;)
            {
                if (!_byFirst.TryGetValue(text[i], out var candidates) || Longest(text, i, candidates) is not var (pattern, token))
                {
                    i++;
                    continue;
                }
                int start = i, stop = i + pattern.Length;
                i = stop; // the search goes on after the match itself, as aho-corasick's iterator does
                if (token.SingleWord && (start > 0 && IsWordChar(text, start - 1, before: true) || stop < text.Length && IsWordChar(text, stop, before: false)))
                    continue;
                if (token.LeftStrip)
                {
                    int s = start;
                    while (s > 0 && char.IsWhiteSpace(text[s - 1])) s--;
                    start = Math.Max(s, offset);
                }
                if (token.RightStrip)
                    while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
                if (offset < start) parts.Add((offset, start, null));
                parts.Add((start, stop, token));
                offset = stop;
                i = Math.Max(i, stop);
            }
        }
        if (offset < text.Length) parts.Add((offset, text.Length, null));
        return parts;
    }

    private static (string, AddedToken)? Longest(string text, int at, List<(string Pattern, AddedToken Token)> candidates)
    {
        foreach (var c in candidates) // longest first
            if (text.AsSpan(at).StartsWith(c.Pattern, StringComparison.Ordinal)) return (c.Pattern, c.Token);
        return null;
    }

    private static bool IsWordChar(string text, int index, bool before)
    {
        int c = before && index > 0 && char.IsSurrogatePair(text, index - 1) ? char.ConvertToUtf32(text, index - 1)
            : char.IsSurrogatePair(text, index) ? char.ConvertToUtf32(text, index) : text[index];
        return c == '_' || Splitting.IsAlphanumeric(c);
    }
}
