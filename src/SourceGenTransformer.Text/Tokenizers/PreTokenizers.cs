using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>A tokenizer.json <c>pre_tokenizer</c>: splits each piece of text into the words the model tokenizes alone.</summary>
internal abstract class HfPreTokenizer
{
    /// <summary>GPT-2's split pattern, which ByteLevel's <c>use_regex</c> applies.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<HfRegex> s_gpt2 = new(() => HfRegex.Create(Gpt2Pattern));

    public const string Supported = "Sequence, ByteLevel, Split, Metaspace, BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, Punctuation";

    /// <summary>Splits every text piece of <paramref name="pieces"/>; added tokens pass through.</summary>
    public List<Piece> Apply(List<Piece> pieces)
    {
        var output = new List<Piece>(pieces.Count * 4);
        foreach (Piece p in pieces)
        {
            if (p.TokenId >= 0) output.Add(p);
            else SplitPiece(p, output);
        }
        return output;
    }

    protected abstract void SplitPiece(Piece piece, List<Piece> output);

    public static HfPreTokenizer? Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string? type = r.Type(e, path);
        switch (type)
        {
            case "Sequence":
                return new Sequence(r.Parts(e, "pretokenizers", path, Read));
            case "ByteLevel":
                return new ByteLevel(r.Bool(e, "add_prefix_space", path, true), r.Bool(e, "use_regex", path, true));
            case "Split":
                return new SplitPattern(r.Pattern(e, "pattern", path),
                    Splitting.ParseBehavior(r.OptionalString(e, "behavior", path), r, $"{path}.behavior"), r.Bool(e, "invert", path, false));
            case "Metaspace":
                return new Metaspace(MetaspaceSettings.Read(e, r, path), r.Bool(e, "split", path, true));
            case "BertPreTokenizer":
                return new Predicate(Splitting.IsWhitespace, SplitBehavior.Removed, BertPreTokenizer.IsPunctuation);
            case "WhitespaceSplit":
                return new Predicate(Splitting.IsWhitespace, SplitBehavior.Removed, null);
            case "Whitespace":
                return new Whitespace();
            case "Punctuation":
                return new Predicate(BertPreTokenizer.IsPunctuation,
                    Splitting.ParseBehavior(r.OptionalString(e, "behavior", path) ?? "Isolated", r, $"{path}.behavior"), null);
            case "Digits":
                return new Predicate(Splitting.IsNumeric,
                    r.Bool(e, "individual_digits", path, false) ? SplitBehavior.Isolated : SplitBehavior.Contiguous, null);
            default:
                throw r.Unsupported(path, "pre-tokenizer", type, Supported);
        }
    }

    private sealed class Sequence(List<HfPreTokenizer> parts) : HfPreTokenizer
    {
        protected override void SplitPiece(Piece piece, List<Piece> output)
        {
            var pieces = new List<Piece> { piece };
            foreach (HfPreTokenizer p in parts) pieces = p.Apply(pieces);
            output.AddRange(pieces);
        }
    }

    private sealed class ByteLevel(bool addPrefixSpace, bool useRegex) : HfPreTokenizer
    {
        protected override void SplitPiece(Piece piece, List<Piece> output)
        {
            if (addPrefixSpace && !piece.Text.StartsWith(' '))
                piece = new Piece { Text = " " + piece.Text, Start = piece.Start, End = piece.End, AtOrigin = piece.AtOrigin };
            int first = output.Count;
            if (useRegex) Splitting.Split(piece, s_gpt2.Value.Matches(piece.Text), SplitBehavior.Isolated, false, output);
            else output.Add(piece);
            for (int i = first; i < output.Count; i++)
            {
                output[i].Text = Splitting.ToByteLevel(output[i].Text);
                output[i].ByteLevel = true;
            }
        }
    }

    private sealed class SplitPattern(HfRegex pattern, SplitBehavior behavior, bool invert) : HfPreTokenizer
    {
        protected override void SplitPiece(Piece piece, List<Piece> output) =>
            Splitting.Split(piece, pattern.Matches(piece.Text), behavior, invert, output);
    }

    private sealed class Metaspace(MetaspaceSettings settings, bool split) : HfPreTokenizer
    {
        protected override void SplitPiece(Piece piece, List<Piece> output)
        {
            string text = piece.Text.Replace(" ", settings.Replacement);
            bool prepend = settings.Scheme switch
            {
                MetaspaceSettings.PrependScheme.Always => true,
                MetaspaceSettings.PrependScheme.First => piece.AtOrigin,
                _ => false,
            };
            if (prepend && !text.StartsWith(settings.Replacement, StringComparison.Ordinal)) text = settings.Replacement + text;
            var replaced = new Piece { Text = text, Start = piece.Start, End = piece.End, AtOrigin = piece.AtOrigin };
            if (!split)
            {
                output.Add(replaced);
                return;
            }
            Splitting.Split(replaced, HfRegex.Literal(settings.Replacement).Matches(text), SplitBehavior.MergedWithNext, false, output);
        }
    }

    /// <summary>Splits at characters of one class (and then, optionally, isolates characters of a second).</summary>
    private sealed class Predicate(Func<int, bool> first, SplitBehavior behavior, Func<int, bool>? isolate) : HfPreTokenizer
    {
        protected override void SplitPiece(Piece piece, List<Piece> output)
        {
            if (isolate is null)
            {
                Splitting.Split(piece, Splitting.CharMatches(piece.Text, first), behavior, false, output);
                return;
            }
            var words = new List<Piece>();
            Splitting.Split(piece, Splitting.CharMatches(piece.Text, first), behavior, false, words);
            foreach (Piece w in words) Splitting.Split(w, Splitting.CharMatches(w.Text, isolate), SplitBehavior.Isolated, false, output);
        }
    }

    /// <summary>The <c>Whitespace</c> pre-tokenizer: runs of word characters and runs of other non-space characters.</summary>
    private sealed class Whitespace : HfPreTokenizer
    {
        private static readonly HfRegex s_words = HfRegex.Create(@"\w+|[^\w\s]+");

        protected override void SplitPiece(Piece piece, List<Piece> output) =>
            Splitting.Split(piece, s_words.Matches(piece.Text), SplitBehavior.Removed, invert: true, output);
    }
}

/// <summary>Metaspace's replacement character and prepend scheme, shared by its pre-tokenizer and decoder.</summary>
internal sealed record MetaspaceSettings(string Replacement, MetaspaceSettings.PrependScheme Scheme)
{
    public enum PrependScheme { Always, First, Never }

    public static MetaspaceSettings Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        string replacement = r.String(e, "replacement", path, "\u2581");
        if (replacement.Length is not (1 or 2) || replacement.Length == 2 && !char.IsSurrogatePair(replacement, 0))
            throw r.Error($"{path}.replacement", $"expected one character, found \"{replacement}\".");
        PrependScheme scheme;
        if (r.OptionalString(e, "prepend_scheme", path) is { } name)
        {
            scheme = name switch
            {
                "always" => PrependScheme.Always,
                "first" => PrependScheme.First,
                "never" => PrependScheme.Never,
                _ => throw r.Unsupported($"{path}.prepend_scheme", "prepend scheme", name, "always, first, never"),
            };
        }
        else
        {
            scheme = r.Bool(e, "add_prefix_space", path, true) ? PrependScheme.Always : PrependScheme.Never;
        }
        return new MetaspaceSettings(replacement, scheme);
    }
}
