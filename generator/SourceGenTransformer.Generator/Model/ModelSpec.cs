using SourceGenTransformer.Generator.Helpers;

namespace SourceGenTransformer.Generator.Model;

// These mirror the runtime library's enums value for value; the generator cannot reference
// the runtime assembly, and reads the attribute's arguments as integers.
internal enum Family { Llama = 1, Gpt2 = 2, Seq2Seq = 3, Bert = 4 }

internal enum Positional { Default = 0, Rotary = 1, Sinusoidal = 2, Learned = 3 }

internal enum Norm { Default = 0, RmsNorm = 1, LayerNorm = 2 }

internal enum Act
{
    Default = 0, Relu = 1, Gelu = 2, GeluTanh = 3, SwiGlu = 4,

    /// <summary>gelu_tanh(gate) * up (Gemma's GeGLU): declared by a config.json only, never by the attribute.</summary>
    GeGlu = 5,
}

internal enum Pooling { Default = 0, Mean = 1, Cls = 2, Max = 3 }

internal enum Precision { Default = 0, Float32 = 1, BFloat16 = 2, Int8 = 3, Q4_0 = 4, Q4K = 5 }

/// <summary>Everything the emitters need to write one model's engine.</summary>
/// <remarks>
/// This record is the incremental pipeline's cache key. It must stay immutable and value-equal:
/// only primitives, strings, enums, other spec records and <see cref="EquatableArray{T}"/>.
/// Never a symbol, syntax node, compilation, location or mutable collection: any of those would
/// make every edit look like a change and regenerate every model on every keystroke.
/// </remarks>
internal sealed record ModelSpec(
    string? Namespace,
    string ClassName,
    EquatableArray<string> ContainingTypes,
    string DeclarationText,
    ModelShape Shape)
{
    /// <summary>The declared class's name with its containing types, dotted: <c>Outer.Model</c>.</summary>
    public string NestedName
    {
        get
        {
            string name = "";
            foreach (string outer in ContainingTypes)
                name += outer.Substring(outer.LastIndexOf(' ') + 1) + ".";
            return name + ClassName;
        }
    }

    /// <summary>The hint name of a generated file (<paramref name="part"/>: Transformer or Kernels), unique per declared class.</summary>
    public string HintName(string part) => (Namespace is null ? "" : Namespace + ".") + NestedName + "." + part + ".g.cs";

    /// <summary>
    /// The namespace of the engine's internal types: SourceGenTransformer.Generated, then the declaration's namespace, so
    /// that models of the same name in different namespaces do not collide.
    /// </summary>
    public string EngineNamespace => "SourceGenTransformer.Generated" + (Namespace is null ? "" : "." + Namespace);

    /// <summary>The prefix of the engine's type names: the class's name, after its containing types' (<c>Outer_Model</c>).</summary>
    public string EnginePrefix => NestedName.Replace('.', '_');

    /// <summary>An engine type's name as the user's file must write it: <c>global::</c>-qualified.</summary>
    public string EngineType(string suffix) => "global::" + EngineNamespace + "." + EnginePrefix + suffix;
}

