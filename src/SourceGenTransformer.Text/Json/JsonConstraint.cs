using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace SourceGenTransformer.Text.Json;

/// <summary>
/// The text every token adds when it follows other text (decoded after an anchor token, so that a SentencePiece "▁x"
/// counts its space), sorted so that tokens sharing a prefix are walked once. Special tokens, and tokens whose text is
/// not whole characters (a byte-level piece of a multi-byte character), are left out: a constrained document is spelt
/// with the others. Built once per tokenizer.
/// </summary>
internal sealed class TokenVocabulary
{
    private static readonly ConditionalWeakTable<Tokenizer, TokenVocabulary> s_cache = [];

    private TokenVocabulary(Tokenizer tokenizer, int vocabSize)
    {
        var hf = tokenizer as HuggingFaceTokenizer;
        int anchor = hf is not null ? hf.Encode("a", addSpecialTokens: false)[^1] : tokenizer.EncodeToIds("a")[^1];
        string anchorText = tokenizer.Decode([anchor]) ?? "";
        var texts = new List<(string Text, int Id)>(vocabSize);
        var singles = new HashSet<char>();
        for (int id = 0; id < vocabSize; id++)
        {
            if (hf is not null && (hf.IsSpecial(id) || hf.IdToToken(id) is null)) continue;
            string? both;
            try
            {
                both = tokenizer.Decode([anchor, id]);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
            {
                continue;
            }
            if (both is null || !both.StartsWith(anchorText, StringComparison.Ordinal)) continue;
            string text = both[anchorText.Length..];
            if (text.Length == 0 || text.Contains('\uFFFD')) continue;
            texts.Add((text, id));
            if (text.Length == 1) singles.Add(text[0]);
        }
        texts.Sort((a, b) => string.CompareOrdinal(a.Text, b.Text));
        SortedTexts = texts.Select(t => t.Text).ToArray();
        SortedIds = texts.Select(t => t.Id).ToArray();
        MaxLength = SortedTexts.Length == 0 ? 0 : SortedTexts.Max(t => t.Length);
        Size = vocabSize;
        for (char c = ' '; c <= '~'; c++)
            if (!singles.Contains(c))
                throw new NotSupportedException($"The tokenizer has no token for '{c}' alone, which constrained JSON decoding needs to be able to close any document.");
    }

    public string[] SortedTexts { get; }

    public int[] SortedIds { get; }

    public int MaxLength { get; }

    /// <summary>The model's vocabulary size the masks cover.</summary>
    public int Size { get; }

    public static TokenVocabulary For(Tokenizer tokenizer, int vocabSize)
    {
        lock (s_cache)
        {
            if (s_cache.TryGetValue(tokenizer, out TokenVocabulary? v)) return v;
            v = new TokenVocabulary(tokenizer, vocabSize);
            s_cache.Add(tokenizer, v);
            return v;
        }
    }
}

/// <summary>
/// A JSON schema compiled for one tokenizer: the grammar's automaton and the vocabulary it masks. Cached per tokenizer
/// and schema text, so a schema used on every call is compiled once.
/// </summary>
internal sealed class JsonConstraintCompiled
{
    private static readonly ConditionalWeakTable<Tokenizer, ConcurrentDictionary<string, JsonConstraintCompiled>> s_cache = [];

    private JsonConstraintCompiled(JsonMachine machine, TokenVocabulary vocabulary)
    {
        Machine = machine;
        Vocabulary = vocabulary;
    }

    public JsonMachine Machine { get; }

    public TokenVocabulary Vocabulary { get; }

    /// <summary>The compiled form of <paramref name="schema"/> (null: any JSON value) for <paramref name="tokenizer"/>.</summary>
    /// <exception cref="NotSupportedException">The schema uses a keyword constrained decoding does not enforce.</exception>
    public static JsonConstraintCompiled For(Tokenizer tokenizer, int vocabSize, JsonElement? schema) =>
        For(tokenizer, vocabSize, "schema:" + (schema?.GetRawText() ?? ""), () => JsonSchemaCompiler.Compile(schema));

    /// <summary>The compiled form of a grammar, cached under <paramref name="key"/> for <paramref name="tokenizer"/>.</summary>
    public static JsonConstraintCompiled For(Tokenizer tokenizer, int vocabSize, string key, Func<GrammarNode> grammar)
    {
        var byKey = s_cache.GetValue(tokenizer, _ => new ConcurrentDictionary<string, JsonConstraintCompiled>(StringComparer.Ordinal));
        if (byKey.TryGetValue(key, out JsonConstraintCompiled? compiled)) return compiled;
        var machine = new JsonMachine(grammar());
        return byKey.GetOrAdd(key, new JsonConstraintCompiled(machine, TokenVocabulary.For(tokenizer, vocabSize)));
    }

    /// <summary>A fresh constraint at the start of a document.</summary>
    public JsonConstraint Start(int eosToken) => new(this, eosToken);
}

/// <summary>
/// One constrained generation: at each step <see cref="Mask"/> leaves only the tokens that continue a document the
/// schema allows and can still finish within the tokens left, and EOS only where the document may end.
/// </summary>
internal sealed class JsonConstraint
{
    /// <summary>What a masked-out logit becomes: far below any real logit, yet finite (the sampler rejects infinities).</summary>
    public const float Masked = -1e30f;

    private readonly JsonConstraintCompiled _compiled;
    private readonly int _eos;
    private int _state;

    internal JsonConstraint(JsonConstraintCompiled compiled, int eosToken)
    {
        _compiled = compiled;
        _eos = eosToken;
        _state = compiled.Machine.Initial;
    }

    /// <summary>The fewest tokens any allowed document takes (each character can be one token).</summary>
    public int MinimumTokens => _compiled.Machine.Distance(_compiled.Machine.Initial);

    /// <summary>Whether the text so far is a whole document.</summary>
    public bool IsComplete => _compiled.Machine.IsAccepting(_state);

    /// <summary>
    /// Writes into <paramref name="destination"/> the logits with every disallowed token at <see cref="Masked"/>;
    /// <paramref name="remaining"/> is how many tokens may still be generated, this one included.
    /// </summary>
    /// <exception cref="InvalidOperationException">No token can continue the document (it cannot happen while the budget check holds).</exception>
    public void Mask(ReadOnlySpan<float> logits, Span<float> destination, int remaining)
    {
        TokenTable table = _compiled.Machine.Table(_state, _compiled.Vocabulary);
        int allowed = 0;
        int[] ids = table.Ids, distances = table.Distance;
        if (table.Disallowed is { } disallowed && table.MaxDistance <= remaining - 1)
        {
            // Most tokens continue (inside a string) and the budget binds none: copy, then mask the few others.
            logits.CopyTo(destination);
            foreach (int id in disallowed) destination[id] = Masked;
            for (int id = logits.Length; id < destination.Length; id++) destination[id] = Masked;
            allowed = ids.Length;
        }
        else
        {
            destination.Fill(Masked);
            bool free = table.MaxDistance <= remaining - 1;
            for (int i = 0; i < ids.Length; i++)
            {
                if (!free && distances[i] > remaining - 1) continue;
                int id = ids[i];
                destination[id] = logits[id];
                allowed++;
            }
        }
        if (_eos >= 0 && _compiled.Machine.IsAccepting(_state))
        {
            destination[_eos] = logits[_eos];
            allowed++;
        }
        if (allowed == 0)
            throw new InvalidOperationException(
                $"No token continues the JSON document within the {remaining} tokens left (it needs {_compiled.Machine.Distance(_state)} more characters).");
    }

    /// <summary>Moves past <paramref name="token"/>, which <see cref="Mask"/> allowed.</summary>
    public void Advance(int token)
    {
        if (token == _eos) return;
        TokenTable table = _compiled.Machine.Table(_state, _compiled.Vocabulary);
        int i = Array.BinarySearch(table.Ids, token);
        if (i < 0) throw new InvalidOperationException($"Token {token} does not continue the JSON document; the mask did not allow it.");
        _state = table.Next[i];
    }
}
