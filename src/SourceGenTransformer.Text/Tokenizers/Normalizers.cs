using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>A tokenizer.json <c>normalizer</c>: text in, normalized text out.</summary>
internal abstract class HfNormalizer
{
    public abstract string Normalize(string text);

    public const string Supported = "Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, BertNormalizer";

    public static HfNormalizer? Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string? type = r.Type(e, path);
        switch (type)
        {
            case "Sequence":
                return new Sequence(r.Parts(e, "normalizers", path, Read));
            case "NFC": return new Unicode(NormalizationForm.FormC);
            case "NFD": return new Unicode(NormalizationForm.FormD);
            case "NFKC": return new Unicode(NormalizationForm.FormKC);
            case "NFKD": return new Unicode(NormalizationForm.FormKD);
            case "Lowercase": return new Lowercase();
            case "StripAccents": return new StripAccents();
            case "Strip": return new Strip(r.Bool(e, "left", path, true), r.Bool(e, "right", path, true));
            case "Prepend": return new Prepend(r.String(e, "prepend", path));
            case "Replace": return new Replace(r.Pattern(e, "pattern", path), r.String(e, "content", path));
            case "BertNormalizer":
            {
                if (!r.Bool(e, "clean_text", path, true) || !r.Bool(e, "handle_chinese_chars", path, true))
                    throw r.Error(path, "BertNormalizer with clean_text or handle_chinese_chars false is not supported.");
                bool lower = r.Bool(e, "lowercase", path, true);
                bool strip = e.TryGetProperty("strip_accents", out JsonElement s) && s.ValueKind != JsonValueKind.Null
                    ? r.Bool(e, "strip_accents", path, lower)
                    : lower; // null: follow lowercase, as BertNormalizer does
                return new Bert(lower, strip);
            }
            default:
                throw r.Unsupported(path, "normalizer", type, Supported);
        }
    }

    private sealed class Sequence(List<HfNormalizer> parts) : HfNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (HfNormalizer n in parts) text = n.Normalize(text);
            return text;
        }
    }

    private sealed class Unicode(NormalizationForm form) : HfNormalizer
    {
        public override string Normalize(string text) => text.Normalize(form);
    }

    private sealed class Lowercase : HfNormalizer
    {
        public override string Normalize(string text) => text.ToLowerInvariant();
    }

    private sealed class StripAccents : HfNormalizer
    {
        public override string Normalize(string text)
        {
            var sb = new StringBuilder(text.Length);
            foreach (char c in text)
                if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark) sb.Append(c);
            return sb.ToString();
        }
    }

    private sealed class Strip(bool left, bool right) : HfNormalizer
    {
        public override string Normalize(string text)
        {
            int s = 0, e = text.Length;
            if (left) while (s < e && Splitting.IsWhitespace(text[s])) s++;
            if (right) while (e > s && Splitting.IsWhitespace(text[e - 1])) e--;
            return text.Substring(s, e - s);
        }
    }

    private sealed class Prepend(string prefix) : HfNormalizer
    {
        public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
    }

    private sealed class Replace(HfRegex pattern, string content) : HfNormalizer
    {
        public override string Normalize(string text) => pattern.Replace(text, content);
    }

    private sealed class Bert(bool lowerCase, bool stripAccents) : HfNormalizer
    {
        public override string Normalize(string text) => BertPreTokenizer.Normalize(text, lowerCase, stripAccents);
    }
}
