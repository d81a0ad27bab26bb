using System;
using System.Text;

namespace SourceGenTransformer.Generator.Helpers;

/// <summary>
/// A tiny indented writer. <see cref="Block"/> opens a brace block that closes when disposed:
/// <c>using (w.Block("class C")) { ... }</c>. Lines longer than <see cref="Width"/> are wrapped: comments at a space,
/// code after a comma or before an operator outside string literals, the rest indented one level further.
/// </summary>
internal sealed class SourceWriter
{
    /// <summary>The longest line written.</summary>
    public const int Width = 160;

    private readonly StringBuilder _sb = new();
    private int _indent;

    public SourceWriter Line(string text = "")
    {
        if (text.Length == 0)
        {
            _sb.Append('\n');
            return this;
        }
        string indent = new(' ', _indent * 4);
        string line = indent + text;
        while (line.Length > Width)
        {
            int cut = FindBreak(line, indent.Length, out string continuation);
            if (cut < 0) break;
            _sb.Append(line, 0, cut).Append('\n');
            line = indent + continuation + line.Substring(cut).TrimStart();
        }
        _sb.Append(line).Append('\n');
        return this;
    }

    /// <summary>
    /// Where to break a long line (the index the next line starts at), and what the next line starts with after the
    /// indentation: "/// " or "// " for comments, four spaces for code. -1 when there is no safe place.
    /// </summary>
    private static int FindBreak(string line, int start, out string continuation)
    {
        string body = line.Substring(start);
        if (body.StartsWith("///", StringComparison.Ordinal) || body.StartsWith("//", StringComparison.Ordinal))
        {
            continuation = body.StartsWith("///", StringComparison.Ordinal) ? "/// " : "// ";
            // A space outside an XML tag, as far right as fits.
            int depth = 0, best = -1;
            for (int i = start + continuation.Length; i < line.Length && i < Width; i++)
            {
                char c = line[i];
                if (c == '<') depth++;
                else if (c == '>') depth = Math.Max(0, depth - 1);
                else if (c == ' ' && depth == 0) best = i + 1;
            }
            return best;
        }
        continuation = "    ";
        // After ", " or before " || ", " && " outside string and character literals and before any trailing comment.
        bool inString = false, inChar = false;
        int found = -1;
        for (int i = start; i < line.Length - 1 && i < Width - 1; i++)
        {
            char c = line[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
                continue;
            }
            if (inChar)
            {
                if (c == '\\') i++;
                else if (c == '\'') inChar = false;
                continue;
            }
            if (c == '"') inString = true;
            else if (c == '\'') inChar = true;
            else if (c == '/' && line[i + 1] == '/') break;
            else if (c == ',' && line[i + 1] == ' ') found = i + 2;
            else if (c == ' ' && i + 3 < line.Length && (line[i + 1] == '|' && line[i + 2] == '|' || line[i + 1] == '&' && line[i + 2] == '&') && line[i + 3] == ' ')
                found = i + 1;
        }
        return found > start + 20 ? found : -1;
    }

    /// <summary>Writes each line of a multi-line text at the current indentation.</summary>
    public SourceWriter Lines(string text)
    {
        foreach (string line in text.Replace("\r\n", "\n").Split('\n'))
            Line(line);
        return this;
    }

    /// <summary>Starts at <paramref name="levels"/> levels of indentation (a part written apart, to be appended with <see cref="Raw"/>).</summary>
    public SourceWriter Indent(int levels)
    {
        _indent += levels;
        return this;
    }

    /// <summary>Appends text written elsewhere, already indented.</summary>
    public SourceWriter Raw(string text)
    {
        _sb.Append(text);
        return this;
    }

    public IDisposable Block(string header)
    {
        if (header.Length > 0) Line(header);
        Line("{");
        _indent++;
        return new Closer(this);
    }

    public override string ToString() => _sb.ToString();

    private sealed class Closer(SourceWriter writer) : IDisposable
    {
        public void Dispose()
        {
            writer._indent--;
            writer.Line("}");
        }
    }
}
