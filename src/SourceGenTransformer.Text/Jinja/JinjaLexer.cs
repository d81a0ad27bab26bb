using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace SourceGenTransformer.Text.Jinja;

internal enum TokenKind { Text, ExprStart, ExprEnd, BlockStart, BlockEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Value, int Position);

/// <summary>
/// Splits a Jinja template into text and tag tokens with Hugging Face's settings: <c>trim_blocks</c> (the newline after a
/// block or comment tag is dropped), <c>lstrip_blocks</c> (spaces and tabs before a block or comment tag on its line
/// are dropped, unless the tag opens with <c>+</c>), and <c>-</c> on a tag's side strips all whitespace on that side.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] Operators = ["==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/", "%", "~", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", "="];

    public static List<Token> Tokenize(string source)
    {
        var tokens = new List<Token>();
        int i = 0;
        bool stripNext = false, trimNewline = false;
        while (i < source.Length)
        {
            int open = FindTag(source, i);
            string text = source.Substring(i, (open < 0 ? source.Length : open) - i);
            // Whether this text starts a line: lstrip_blocks then strips a first line of blanks before a tag too.
            bool lineStarting = i == 0 || source[i - 1] == '\n';
            if (trimNewline)
            {
                if (text.StartsWith("\r\n", StringComparison.Ordinal)) { text = text.Substring(2); lineStarting = true; }
                else if (text.StartsWith('\n')) { text = text.Substring(1); lineStarting = true; }
            }
            if (stripNext) text = text.TrimStart();
            trimNewline = stripNext = false;
            if (open < 0)
            {
                if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, i));
                break;
            }

            char kind = source[open + 1];
            int inner = open + 2;
            char modifier = inner < source.Length ? source[inner] : '\0';
            if (modifier is '-' or '+') inner++;
            if (modifier == '-') text = text.TrimEnd();
            else if (modifier != '+' && kind is '%' or '#')
            {
                // lstrip_blocks: only spaces and tabs between the line's start and the tag.
                int lineStart = text.LastIndexOf('\n') + 1;
                bool blank = true;
                for (int k = lineStart; k < text.Length; k++)
                    if (text[k] is not (' ' or '\t')) { blank = false; break; }
                if (blank && (lineStart > 0 || lineStarting)) text = text.Substring(0, lineStart);
            }
            if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, i));

            if (kind == '#')
            {
                int close = source.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0) throw new ChatTemplateException($"the comment opened at character {open} is never closed with #}}");
                stripNext = source[close - 1] == '-' && close - 1 >= inner;
                trimNewline = true;
                i = close + 2;
                continue;
            }

            string closer = kind == '{' ? "}}" : "%}";
            tokens.Add(new Token(kind == '{' ? TokenKind.ExprStart : TokenKind.BlockStart, "", open));
            i = LexInside(source, inner, closer, tokens, out bool minus);
            tokens.Add(new Token(kind == '{' ? TokenKind.ExprEnd : TokenKind.BlockEnd, "", i - 2));
            stripNext = minus;
            trimNewline = kind == '%';
        }
        tokens.Add(new Token(TokenKind.End, "", source.Length));
        return tokens;
    }

    private static int FindTag(string s, int from)
    {
        for (int i = from; i + 1 < s.Length; i++)
            if (s[i] == '{' && s[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    /// <summary>Lexes a tag's inside up to <paramref name="closer"/>; returns the index after it.</summary>
    private static int LexInside(string s, int i, string closer, List<Token> tokens, out bool minus)
    {
        // Brackets open inside the tag: "}}" closes the tag only outside them ({'a': {'b': 1}} is a dict).
        int depth = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) throw new ChatTemplateException($"a tag is never closed with {closer}");
            if (depth > 0 && s[i] is '}' or ']' or ')')
            {
                depth--;
                tokens.Add(new Token(TokenKind.Operator, s[i].ToString(), i));
                i++;
                continue;
            }
            if (s[i] == '-' && string.CompareOrdinal(s, i + 1, closer, 0, 2) == 0)
            {
                minus = true;
                return i + 3;
            }
            if (string.CompareOrdinal(s, i, closer, 0, 2) == 0)
            {
                minus = false;
                return i + 2;
            }
            char c = s[i];
            if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Name, s.Substring(start, i - start), start));
            }
            else if (char.IsDigit(c))
            {
                int start = i;
                while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '_')) i++;
                bool isFloat = false;
                if (i + 1 < s.Length && s[i] == '.' && char.IsDigit(s[i + 1]))
                {
                    isFloat = true;
                    i++;
                    while (i < s.Length && char.IsDigit(s[i])) i++;
                }
                if (i < s.Length && s[i] is 'e' or 'E')
                {
                    isFloat = true;
                    i++;
                    if (i < s.Length && s[i] is '+' or '-') i++;
                    while (i < s.Length && char.IsDigit(s[i])) i++;
                }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, s.Substring(start, i - start).Replace("_", ""), start));
            }
            else if (c is '\'' or '"')
            {
                int start = i++;
                var sb = new StringBuilder();
                while (true)
                {
                    if (i >= s.Length) throw new ChatTemplateException($"the string opened at character {start} is never closed");
                    char d = s[i++];
                    if (d == c) break;
                    if (d != '\\') { sb.Append(d); continue; }
                    char e = i < s.Length ? s[i++] : '\\';
                    switch (e)
                    {
                        case 'n': sb.Append('\n'); break;
                        case 't': sb.Append('\t'); break;
                        case 'r': sb.Append('\r'); break;
                        case '\\': sb.Append('\\'); break;
                        case '\'': sb.Append('\''); break;
                        case '"': sb.Append('"'); break;
                        case 'u' when i + 4 <= s.Length:
                            sb.Append((char)int.Parse(s.AsSpan(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            i += 4;
                            break;
                        default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes as written
                    }
                }
                tokens.Add(new Token(TokenKind.String, sb.ToString(), start));
            }
            else
            {
                string? op = null;
                foreach (string candidate in Operators)
                    if (string.CompareOrdinal(s, i, candidate, 0, candidate.Length) == 0) { op = candidate; break; }
                if (op is null) throw new ChatTemplateException($"unexpected character '{c}' at character {i}");
                if (op is "{" or "[" or "(") depth++;
                tokens.Add(new Token(TokenKind.Operator, op, i));
                i += op.Length;
            }
        }
    }
}
