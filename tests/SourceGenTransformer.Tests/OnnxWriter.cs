using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Writes small ONNX files laid out as torch.onnx exports a BERT: the embedding, LayerNorm and bias initializers keep
/// their module names, each linear layer is a MatMul whose weight is an anonymous initializer stored [in, out], followed
/// by an Add of its bias. Only what a weight loader reads is written (no node computes anything ONNX Runtime could run).
/// Protobuf wire format by hand, as onnx.proto defines the fields.
/// </summary>
internal static class OnnxWriter
{
    private sealed class Message
    {
        public readonly List<byte> Bytes = [];

        public Message Varint(ulong v)
        {
            while (v >= 0x80)
            {
                Bytes.Add((byte)(v | 0x80));
                v >>= 7;
            }
            Bytes.Add((byte)v);
            return this;
        }

        public Message Int(int field, long value) => Varint((ulong)(field << 3)).Varint((ulong)value);

        public Message Raw(int field, ReadOnlySpan<byte> data)
        {
            Varint((ulong)(field << 3 | 2)).Varint((ulong)data.Length);
            Bytes.AddRange(data.ToArray());
            return this;
        }

        public Message Text(int field, string text) => Raw(field, Encoding.UTF8.GetBytes(text));

        public Message Sub(int field, Message m) => Raw(field, m.Bytes.ToArray());
    }

    /// <summary>One initializer: its stored name, dims and float32 values.</summary>
    public sealed record Initializer(string Name, long[] Dims, float[] Values);

    /// <summary>
    /// An ONNX file of a BERT whose weights are <paramref name="tensors"/> (Hugging Face names, nn.Linear layout): every
    /// 2-D ".weight" with a ".bias" beside it, other than the embeddings, becomes an anonymous MatMul weight.
    /// </summary>
    public static void WriteBert(string path, IReadOnlyList<SweepWeights.Tensor> tensors)
    {
        var names = tensors.Select(t => t.Name).ToHashSet();
        var initializers = new List<Initializer>();
        var nodes = new List<(string Op, string[] Inputs, string[] Outputs)>();
        int anonymous = 700;
        foreach (SweepWeights.Tensor t in tensors)
        {
            string stem = t.Name.EndsWith(".weight", StringComparison.Ordinal) ? t.Name[..^".weight".Length] : "";
            bool linear = t.Shape.Length == 2 && !t.Name.Contains("embeddings.") && names.Contains(stem + ".bias");
            if (!linear)
            {
                initializers.Add(new Initializer(t.Name, t.Shape, t.Values));
                continue;
            }
            // [out, in] -> [in, out], named as torch.onnx names folded constants.
            long rows = t.Shape[0], cols = t.Shape[1];
            var stored = new float[t.Values.Length];
            for (long r = 0; r < rows; r++)
                for (long c = 0; c < cols; c++)
                    stored[c * rows + r] = t.Values[r * cols + c];
            string weight = $"onnx::MatMul_{anonymous++}";
            initializers.Add(new Initializer(weight, [cols, rows], stored));
            string product = $"/{stem.Replace('.', '/')}/MatMul_output_0";
            nodes.Add(("MatMul", [$"/{stem.Replace('.', '/')}/input", weight], [product]));
            nodes.Add(("Add", [stem + ".bias", product], [$"/{stem.Replace('.', '/')}/Add_output_0"]));
        }
        // An int64 shape constant, as exports hold many.
        Write(path, initializers, nodes, [("925", [1], [3L])]);
    }

    /// <summary>Writes a ModelProto: ir_version 7, producer, one graph with the nodes and initializers, opset 13.</summary>
    public static void Write(string path, IReadOnlyList<Initializer> initializers, IReadOnlyList<(string Op, string[] Inputs, string[] Outputs)> nodes,
        IReadOnlyList<(string Name, long[] Dims, long[] Values)>? int64s = null)
    {
        var graph = new Message();
        int n = 0;
        foreach ((string op, string[] inputs, string[] outputs) in nodes)
        {
            var node = new Message();
            foreach (string i in inputs) node.Text(1, i);
            foreach (string o in outputs) node.Text(2, o);
            node.Text(3, $"/{op}_{n++}");
            node.Text(4, op);
            graph.Sub(1, node);
        }
        graph.Text(2, "main_graph");
        foreach (Initializer init in initializers)
        {
            var t = new Message();
            foreach (long d in init.Dims) t.Int(1, d);
            t.Int(2, 1); // FLOAT
            t.Text(8, init.Name);
            t.Raw(9, MemoryMarshal.AsBytes(init.Values.AsSpan()));
            graph.Sub(5, t);
        }
        foreach ((string name, long[] dims, long[] values) in int64s ?? [])
        {
            var t = new Message();
            foreach (long d in dims) t.Int(1, d);
            t.Int(2, 7); // INT64
            t.Text(8, name);
            t.Raw(9, MemoryMarshal.AsBytes(values.AsSpan()));
            graph.Sub(5, t);
        }
        var input = new Message().Text(1, "input_ids");
        graph.Sub(11, input);
        graph.Sub(12, new Message().Text(1, "last_hidden_state"));
        var model = new Message().Int(1, 7).Text(2, "pytorch").Text(3, "1.10").Sub(7, graph).Sub(8, new Message().Text(1, "").Int(2, 13));
        File.WriteAllBytes(path, model.Bytes.ToArray());
    }
}
