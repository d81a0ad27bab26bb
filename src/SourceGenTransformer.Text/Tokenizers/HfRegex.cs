using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>
/// A tokenizer.json pattern matched as the Rust tokenizers match it: over code points. .NET's regular expressions see
/// UTF-16 code units, where a character outside the BMP is two surrogates of category Cs, so <c>\p{L}</c> would miss a
/// letter such as U+20000 and <c>[^\s\p{L}\p{N}]</c> would take it. Before matching, each such character is replaced
/// by one BMP character of the same Unicode category (none of them ASCII or whitespace, which is all these patterns
/// name literally), and the matches are mapped back.
/// </summary>
internal sealed class HfRegex
{
    private readonly Regex? _regex;
    private readonly string? _literal;

    private HfRegex(Regex? regex, string? literal)
    {
        _regex = regex;
        _literal = literal;
    }

    public static HfRegex Create(string pattern) =>
        new(new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(10)), null);

    public static HfRegex Literal(string text) => new(null, text);

    /// <summary>The non-overlapping matches in <paramref name="text"/>, as (start, end) char offsets.</summary>
    public List<(int Start, int End)> Matches(string text)
    {
        var result = new List<(int, int)>();
        if (_literal is not null)
        {
            if (_literal.Length == 0) return result;
            for (int i = text.IndexOf(_literal, StringComparison.Ordinal); i >= 0; i = text.IndexOf(_literal, i + _literal.Length, StringComparison.Ordinal))
                result.Add((i, i + _literal.Length));
            return result;
        }
        if (!HasSurrogates(text))
        {
            for (Match m = _regex!.Match(text); m.Success; m = m.NextMatch()) result.Add((m.Index, m.Index + m.Length));
            return result;
        }
        // Substitute each astral character, keeping where each substituted char starts in the original.
        var sb = new StringBuilder(text.Length);
        var origin = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            origin.Add(i);
            if (char.IsSurrogatePair(text, i))
            {
                sb.Append(Representative(CharUnicodeInfo.GetUnicodeCategory(text, i)));
                i++;
            }
            else
            {
                sb.Append(text[i]);
            }
        }
        origin.Add(text.Length);
        string flat = sb.ToString();
        for (Match m = _regex!.Match(flat); m.Success; m = m.NextMatch()) result.Add((origin[m.Index], origin[m.Index + m.Length]));
        return result;
    }

    /// <summary><paramref name="text"/> with every match replaced by <paramref name="content"/>.</summary>
    public string Replace(string text, string content)
    {
        List<(int Start, int End)> matches = Matches(text);
        if (matches.Count == 0) return text;
        var sb = new StringBuilder(text.Length);
        int previous = 0;
        foreach ((int s, int e) in matches)
        {
            sb.Append(text, previous, s - previous).Append(content);
            previous = e;
        }
        return sb.Append(text, previous, text.Length - previous).ToString();
    }

    private static bool HasSurrogates(string text)
    {
        foreach (char c in text)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    private static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00E0',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u00AA',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00A8',
        UnicodeCategory.OtherSymbol => '\u00A6',
        _ => '\u0378', // unassigned
    };
}
