using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using static SourceGenTransformer.Tests.Gpt2TokenizerJson;

namespace SourceGenTransformer.Tests;

/// <summary>
/// The tokenizer.json files of the tokenizer tests. The byte-level ones are built from GPT-2's real BPE ranks
/// (<see cref="Gpt2TokenizerJson"/>), with each family's pre-tokenizer and added tokens. The SentencePiece-style ones are committed
/// (tests/fixtures/make_tokenizer_json_fixtures.py). Written once per test run into a temporary folder.
/// </summary>
public sealed class TokenizerJsonFiles : IDisposable
{
    public const string QwenPattern = Gpt2TokenizerJson.QwenPattern;

    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"stg-tokenizers-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public TokenizerJsonFiles()
    {
        Directory.CreateDirectory(_folder);
        (Dictionary<string, int> vocab, List<(string, string)> merges) = Gpt2TokenizerJson.Ranks();
        Files["gpt2"] = Write("gpt2.json", Gpt2TokenizerJson.Json(vocab, merges,
            added: [Added(50256, "<|endoftext|>")],
            preTokenizer: """{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}""",
            postProcessor: """{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":true}""",
            normalizer: "null", ignoreMerges: false));
        Files["qwen"] = Write("qwen.json", Gpt2TokenizerJson.Json(vocab, merges,
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
        Files["llama3"] = Write("llama3.json", Gpt2TokenizerJson.Json(vocab, merges,
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
}
