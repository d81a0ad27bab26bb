using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace SourceGenTransformer.Text;

/// <summary>
/// Hugging Face's BERT normalizer and pre-tokenizer (the tokenizers crate's <c>BertNormalizer</c> and
/// <c>BertPreTokenizer</c>, as bert-base-uncased, all-MiniLM-L6-v2 and arctic-embed configure them), written from
/// their definitions: control characters removed and whitespace made spaces, CJK ideographs spaced apart, accents
/// stripped (NFD, non-spacing marks removed) and lower case when the model is uncased; then words split at whitespace
/// and at every punctuation character (ASCII punctuation and Unicode's P categories), each punctuation character a
/// word of its own. Microsoft.ML.Tokenizers' own basic tokenization differs (it drops '+', '=', emoji and other
/// symbols, and joins words across some line breaks), so <see cref="TextEmbeddingGenerator"/> splits words here and
/// gives each to the WordPiece model alone.
/// </summary>
public static class BertPreTokenizer
{
    /// <summary>Hugging Face's <c>max_input_chars_per_word</c>: a longer word is one [UNK].</summary>
    public const int MaxCharsPerWord = 100;

    /// <summary>The words of <paramref name="text"/>, normalized as an uncased (or cased) BERT normalizes them.</summary>
    public static List<string> Words(string text, bool lowerCase, bool stripAccents)
    {
        ArgumentNullException.ThrowIfNull(text);
        string normalized = Normalize(text, lowerCase, stripAccents);
        var words = new List<string>();
        var word = new StringBuilder();
        void Flush()
        {
            if (word.Length > 0) words.Add(word.ToString());
            word.Clear();
        }
        for (int i = 0; i < normalized.Length; i += char.IsSurrogatePair(normalized, i) ? 2 : 1)
        {
            int c = char.ConvertToUtf32(normalized, i);
            if (c == ' ')
            {
                Flush();
            }
            else if (IsPunctuation(c))
            {
                Flush();
                words.Add(char.ConvertFromUtf32(c));
            }
            else
            {
                word.Append(char.ConvertFromUtf32(c));
            }
        }
        Flush();
        return words;
    }

    /// <summary>BertNormalizer: clean_text, handle_chinese_chars, strip_accents, lowercase, in that order.</summary>
    public static string Normalize(string text, bool lowerCase, bool stripAccents)
    {
        var sb = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
        {
            int c = char.IsSurrogate(text[i]) && !char.IsSurrogatePair(text, i) ? 0xFFFD : char.ConvertToUtf32(text, i);
            if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
            if (IsWhitespace(c))
            {
                sb.Append(' ');
                continue;
            }
            if (IsChinese(c))
            {
                sb.Append(' ').Append(char.ConvertFromUtf32(c)).Append(' ');
                continue;
            }
            sb.Append(char.ConvertFromUtf32(c));
        }
        string s = sb.ToString();
        if (stripAccents)
        {
            string decomposed = s.Normalize(NormalizationForm.FormD);
            var kept = new StringBuilder(decomposed.Length);
            foreach (char ch in decomposed)
                if (CharUnicodeInfo.GetUnicodeCategory(ch) != UnicodeCategory.NonSpacingMark) kept.Append(ch);
            s = kept.ToString();
        }
        return lowerCase ? s.ToLowerInvariant() : s;
    }

    private static UnicodeCategory Category(int c) => CharUnicodeInfo.GetUnicodeCategory(c);

    private static bool IsWhitespace(int c) => c is ' ' or '\t' or '\n' or '\r' || Category(c) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(int c)
    {
        if (c is '\t' or '\n' or '\r') return false;
        return Category(c) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>The tokenizers crate's punctuation test: ASCII punctuation or a Unicode P category.</summary>
    internal static bool IsPunctuation(int c)
    {
        if (c is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Category(c) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsChinese(int c) =>
        c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
