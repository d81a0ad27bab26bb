using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Text.Tokenizers;

/// <summary>A tokenizer.json <c>decoder</c>: the tokenizers crate's <c>decode_chain</c>, tokens in, text pieces out.</summary>
internal abstract class HfDecoder
{
    public const string Supported = "Sequence, ByteLevel, Metaspace, WordPiece, BPEDecoder, Replace, ByteFallback, Fuse, Strip";

    public abstract List<string> DecodeChain(List<string> tokens);

    public static HfDecoder? Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string? type = r.Type(e, path);
        switch (type)
        {
            case "Sequence":
                return new Sequence(r.Parts(e, "decoders", path, Read));
            case "ByteLevel": return new ByteLevel();
            case "Metaspace": return new Metaspace(MetaspaceSettings.Read(e, r, path));
            case "WordPiece": return new WordPiece(r.String(e, "prefix", path, "##"), r.Bool(e, "cleanup", path, true));
            case "BPEDecoder": return new BpeSuffix(r.String(e, "suffix", path, "</w>"));
            case "Replace": return new Replace(r.Pattern(e, "pattern", path), r.String(e, "content", path));
            case "ByteFallback": return new ByteFallback();
            case "Fuse": return new Fuse();
            case "Strip":
            {
                string content = r.String(e, "content", path, " ");
                if (content.Length != 1) throw r.Error($"{path}.content", $"expected one character, found \"{content}\".");
                return new Strip(content[0], r.Int(e, "start", path, 0), r.Int(e, "stop", path, 0));
            }
            default:
                throw r.Unsupported(path, "decoder", type, Supported);
        }
    }

    private sealed class Sequence(List<HfDecoder> parts) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            foreach (HfDecoder d in parts) tokens = d.DecodeChain(tokens);
            return tokens;
        }
    }

    /// <summary>Byte-level characters back to bytes, all tokens into one UTF-8 string (invalid sequences as U+FFFD).</summary>
    private sealed class ByteLevel : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var bytes = new List<byte>();
            foreach (string t in tokens)
            {
                int mark = bytes.Count;
                bool mapped = true;
                foreach (char c in t)
                {
                    if (!Splitting.CharToByte.TryGetValue(c, out byte b))
                    {
                        mapped = false;
                        break;
                    }
                    bytes.Add(b);
                }
                if (!mapped)
                {
                    bytes.RemoveRange(mark, bytes.Count - mark);
                    bytes.AddRange(Encoding.UTF8.GetBytes(t));
                }
            }
            return [Encoding.UTF8.GetString(bytes.ToArray())];
        }
    }

    private sealed class Metaspace(MetaspaceSettings settings) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                string t = tokens[i].Replace(settings.Replacement, " ");
                if (i == 0 && settings.Scheme != MetaspaceSettings.PrependScheme.Never && t.StartsWith(' ')) t = t[1..];
                result.Add(t);
            }
            return result;
        }
    }

    private sealed class WordPiece(string prefix, bool cleanup) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                string t = tokens[i];
                if (i != 0) t = t.StartsWith(prefix, StringComparison.Ordinal) ? t[prefix.Length..] : " " + t;
                if (cleanup) t = Cleanup(t);
                result.Add(t);
            }
            return result;
        }

        /// <summary>The tokenizers crate's <c>cleanup</c>: no space before punctuation and contractions.</summary>
        private static string Cleanup(string s) => s.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",")
            .Replace(" ' ", "'").Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s")
            .Replace(" 've", "'ve").Replace(" 're", "'re");
    }

    private sealed class BpeSuffix(string suffix) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
                result.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " "));
            return result;
        }
    }

    private sealed class Replace(HfRegex pattern, string content) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(t => pattern.Replace(t, content));
    }

    /// <summary>Runs of <c>&lt;0xNN&gt;</c> tokens to their UTF-8 text, or one U+FFFD per byte when they are not valid UTF-8.</summary>
    private sealed class ByteFallback : HfDecoder
    {
        private static readonly UTF8Encoding s_strict = new(false, throwOnInvalidBytes: true);

        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var pending = new List<byte>();
            void Flush()
            {
                if (pending.Count == 0) return;
                try
                {
                    result.Add(s_strict.GetString(pending.ToArray()));
                }
                catch (DecoderFallbackException)
                {
                    for (int i = 0; i < pending.Count; i++) result.Add("\uFFFD");
                }
                pending.Clear();
            }
            foreach (string t in tokens)
            {
                if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
                    && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
                {
                    pending.Add(b);
                    continue;
                }
                Flush();
                result.Add(t);
            }
            Flush();
            return result;
        }
    }

    private sealed class Fuse : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
    }

    private sealed class Strip(char content, int start, int stop) : HfDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            foreach (string t in tokens)
            {
                int s = 0, e = t.Length;
                for (int i = 0; i < start && s < e && t[s] == content; i++) s++;
                for (int i = 0; i < stop && e > s && t[e - 1] == content; i++) e--;
                result.Add(t[s..e]);
            }
            return result;
        }
    }
}

/// <summary>A tokenizer.json <c>post_processor</c>: the special tokens around a single sequence.</summary>
internal sealed class HfPostProcessor
{
    private HfPostProcessor(int[] before, int[] after)
    {
        Before = before;
        After = after;
    }

    public int[] Before { get; }

    public int[] After { get; }

    public const string Supported = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

    public static HfPostProcessor? Read(JsonElement e, TokenizerJsonReader r, string path)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string? type = r.Type(e, path);
        switch (type)
        {
            case "ByteLevel":
                return null; // offsets only
            case "Sequence":
            {
                HfPostProcessor? found = null;
                int i = 0;
                foreach (JsonElement p in r.Array(e, "processors", path).EnumerateArray())
                {
                    if (Read(p, r, $"{path}.processors[{i}]") is { } one)
                    {
                        if (found is not null) throw r.Error($"{path}.processors[{i}]", "more than one processor adds special tokens.");
                        found = one;
                    }
                    i++;
                }
                return found;
            }
            case "BertProcessing":
            case "RobertaProcessing":
                return new HfPostProcessor([PairId(e, "cls", r, path)], [PairId(e, "sep", r, path)]);
            case "TemplateProcessing":
            {
                JsonElement single = r.Array(e, "single", path);
                if (!e.TryGetProperty("special_tokens", out JsonElement specials) || specials.ValueKind != JsonValueKind.Object)
                    throw r.Error($"{path}.special_tokens", "expected an object.");
                var before = new List<int>();
                var after = new List<int>();
                bool seenSequence = false;
                int i = 0;
                foreach (JsonElement item in single.EnumerateArray())
                {
                    string where = $"{path}.single[{i++}]";
                    if (item.TryGetProperty("Sequence", out _))
                    {
                        if (seenSequence) throw r.Error(where, "the single template names the sequence twice.");
                        seenSequence = true;
                    }
                    else if (item.TryGetProperty("SpecialToken", out JsonElement st))
                    {
                        string name = r.String(st, "id", $"{where}.SpecialToken");
                        if (!specials.TryGetProperty(name, out JsonElement spec))
                            throw r.Error($"{path}.special_tokens", $"\"{name}\" is used by the template but not defined.");
                        foreach (JsonElement id in r.Array(spec, "ids", $"{path}.special_tokens.{name}").EnumerateArray())
                            (seenSequence ? after : before).Add(id.TryGetInt32(out int v) && v >= 0
                                ? v
                                : throw r.Error($"{path}.special_tokens.{name}.ids", "expected non-negative integers."));
                    }
                    else
                    {
                        throw r.Error(where, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}.");
                    }
                }
                if (!seenSequence) throw r.Error($"{path}.single", "the single template has no sequence.");
                return new HfPostProcessor(before.ToArray(), after.ToArray());
            }
            default:
                throw r.Unsupported(path, "post-processor", type, Supported);
        }
    }

    private static int PairId(JsonElement e, string name, TokenizerJsonReader r, string path)
    {
        if (e.TryGetProperty(name, out JsonElement pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2
            && pair[1].TryGetInt32(out int id) && id >= 0)
            return id;
        throw r.Error($"{path}.{name}", "expected [\"token\", id].");
    }
}
