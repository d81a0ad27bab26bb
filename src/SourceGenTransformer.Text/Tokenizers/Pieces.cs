using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>A piece of the text on its way through the pipeline: an added token, or text still to be split and tokenized.</summary>
internal sealed class Piece
{
    /// <summary>The piece's text as it is now (normalized, pre-tokenized, perhaps mapped to byte-level characters).</summary>
    public required string Text;

    /// <summary>Where the piece lies in the normalized text of the whole input (the offsets tokens report).</summary>
    public int Start;

    public int End;

    /// <summary>Whether the piece starts at offset 0 of the original input (Metaspace's <c>prepend_scheme: first</c>).</summary>
    public bool AtOrigin;

    /// <summary>The added token this piece is, or -1.</summary>
    public int TokenId = -1;

    /// <summary>Whether <see cref="Text"/> holds one byte-level character per UTF-8 byte of the source range.</summary>
    public bool ByteLevel;
}

/// <summary>How a split keeps what its pattern matched (the tokenizers crate's <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

internal static class Splitting
{
    public static SplitBehavior ParseBehavior(string? name, TokenizerJsonReader reader, string path) => name switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw reader.Unsupported(path, "split behavior", name, "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"),
    };

    /// <summary>The matches of a character predicate, one per code point.</summary>
    public static List<(int Start, int End)> CharMatches(string text, Func<int, bool> predicate)
    {
        var result = new List<(int, int)>();
        for (int i = 0; i < text.Length;)
        {
            int width = char.IsSurrogatePair(text, i) ? 2 : 1;
            if (predicate(char.ConvertToUtf32(text, i))) result.Add((i, i + width));
            i += width;
        }
        return result;
    }

    /// <summary>
    /// Splits <paramref name="piece"/> at <paramref name="matches"/> (non-overlapping, in order) as the tokenizers crate's
    /// <c>NormalizedString::split</c> does, appending the non-empty parts to <paramref name="output"/>.
    /// </summary>
    public static void Split(Piece piece, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert, List<Piece> output)
    {
        string text = piece.Text;
        var parts = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int previous = 0;
        foreach ((int s, int e) in matches)
        {
            if (previous != s) parts.Add((previous, s, invert));
            parts.Add((s, e, !invert));
            previous = e;
        }
        if (previous != text.Length) parts.Add((previous, text.Length, invert));

        var kept = new List<(int Start, int End, bool Remove)>(parts.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var p in parts) kept.Add((p.Start, p.End, false));
                break;
            case SplitBehavior.Removed:
                foreach (var p in parts) kept.Add((p.Start, p.End, p.IsMatch));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, p.End, false);
                    else kept.Add((p.Start, p.End, false));
                    previousMatch = p.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, p.End, false);
                    else kept.Add((p.Start, p.End, false));
                    previousMatch = p.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previousMatch = false;
                for (int i = parts.Count - 1; i >= 0; i--)
                {
                    var p = parts[i];
                    if (p.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (p.Start, kept[^1].End, false);
                    else kept.Add((p.Start, p.End, false));
                    previousMatch = p.IsMatch;
                }
                kept.Reverse();
                break;
            }
        }
        foreach (var (s, e, remove) in kept)
        {
            if (remove || s == e) continue;
            output.Add(Sub(piece, s, e));
        }
    }

    /// <summary>The part [s, e) of a piece's text, with its offsets in the normalized input.</summary>
    public static Piece Sub(Piece piece, int s, int e)
    {
        int length = piece.End - piece.Start;
        int shift = piece.Text.Length - length; // a prefix the pre-tokenizer added (a space or '▁')
        int Map(int i) => piece.Start + Math.Clamp(i - Math.Max(shift, 0), 0, length);
        return new Piece
        {
            Text = piece.Text.Substring(s, e - s),
            Start = Map(s),
            End = Map(e),
            AtOrigin = piece.AtOrigin && s == 0,
        };
    }

    /// <summary>Rust's <c>char::is_whitespace</c> (Unicode White_Space).</summary>
    public static bool IsWhitespace(int c) =>
        c is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>Rust's <c>char::is_numeric</c> (categories Nd, Nl, No).</summary>
    public static bool IsNumeric(int c) => CharUnicodeInfo.GetUnicodeCategory(c)
        is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    /// <summary>Rust's <c>char::is_alphanumeric</c>, approximately: letters and numbers.</summary>
    public static bool IsAlphanumeric(int c) => IsNumeric(c) || CharUnicodeInfo.GetUnicodeCategory(c)
        is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    /// <summary>GPT-2's byte-to-character table: printable bytes stand for themselves, the rest map to U+0100 onwards.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    public static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)(256 + next++);
        }
        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (byte)b;
        return map;
    }

    /// <summary>The byte-level characters of a string's UTF-8 bytes.</summary>
    public static string ToByteLevel(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }
}
