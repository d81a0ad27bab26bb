using Microsoft.CodeAnalysis;

namespace SourceGenTransformer.Generator;

/// <summary>Every diagnostic the generator reports. IDs are stable: never renumber, only add.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "SourceGenTransformer";

    /// <summary>Where each diagnostic's page lives: the repository's docs (the RepositoryUrl of Directory.Build.props).</summary>
    public const string HelpBase = "https://github.com/SourceGenTransformer/SourceGenTransformer/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Rule(string id, string title, string message, DiagnosticSeverity severity = DiagnosticSeverity.Error) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true,
            helpLinkUri: HelpBase + id + ".md");

    public static readonly DiagnosticDescriptor NotPartial = Rule("STG0001",
        "Model class must be partial",
        "'{0}' must be declared partial (and so must every type that contains it) so the generator can add the engine to it");

    public static readonly DiagnosticDescriptor DimensionNotPositive = Rule("STG0002",
        "Required dimension missing or not positive",
        "{0} is {1}; the {2} family needs it set to a positive number");

    public static readonly DiagnosticDescriptor ModelDimNotDivisibleByHeads = Rule("STG0003",
        "ModelDim not divisible by Heads",
        "ModelDim {0} is not divisible by Heads {1}; each head must get ModelDim / Heads dimensions");

    public static readonly DiagnosticDescriptor HeadsNotDivisibleByKvHeads = Rule("STG0004",
        "Heads not divisible by KvHeads",
        "Heads {0} is not divisible by KvHeads {1}; grouped-query attention shares each key/value head among Heads / KvHeads query heads");

    public static readonly DiagnosticDescriptor RotaryOddHeadDim = Rule("STG0005",
        "Rotary positions need an even head dimension",
        "Rotary positions rotate pairs of dimensions, but the head dimension ModelDim / Heads = {0} / {1} = {2} is odd");

    public static readonly DiagnosticDescriptor OptionNotSupported = Rule("STG0006",
        "Option not expressible by the family's weights",
        "{0} = {1} is not supported by the {2} family: {3}");

    public static readonly DiagnosticDescriptor SizeOverflow = Rule("STG0007",
        "Model too large for 32-bit indexing",
        "{0} has {1} elements, more than the {2} an engine buffer can index");

    public static readonly DiagnosticDescriptor FamilyNotSupported = Rule("STG0008",
        "Model family not supported",
        "{0} is not a model family this generator knows; the families are Llama, Gpt2, Seq2Seq and Bert");

    public static readonly DiagnosticDescriptor PropertyIgnored = Rule("STG0009",
        "Property does not apply to the family",
        "{0} does not apply to the {1} family and is ignored", DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor InvalidValue = Rule("STG0010",
        "Invalid attribute value",
        "{0} = {1} is invalid: {2}");

    public static readonly DiagnosticDescriptor UnsupportedDeclaration = Rule("STG0011",
        "Unsupported model declaration",
        "'{0}' cannot hold a generated model: {1}");

    public static readonly DiagnosticDescriptor LanguageVersionTooLow = Rule("STG0012",
        "C# language version too low",
        "The generated engine needs C# {0} or later, but this project compiles with C# {1}; raise <LangVersion>");

    public static readonly DiagnosticDescriptor ConfigFileNotFound = Rule("STG0013",
        "ConfigFile is not an AdditionalFiles item",
        "ConfigFile '{0}' is not among the project's AdditionalFiles{1}; add <AdditionalFiles Include=\"{0}\" /> to the project file, or keep it under the project where the SourceGenTransformer package picks up every config.json");

    public static readonly DiagnosticDescriptor ConfigFileMalformed = Rule("STG0014",
        "config.json is not valid JSON",
        "'{0}' is not valid JSON: {1}");

    public static readonly DiagnosticDescriptor ConfigValueInvalid = Rule("STG0015",
        "config.json key missing or invalid",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor ConfigModelTypeNotSupported = Rule("STG0016",
        "config.json declares an architecture the generator does not run",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor ConfigOptionNotSupported = Rule("STG0017",
        "config.json option not supported",
        "'{0}': {1}");

    public static readonly DiagnosticDescriptor PropertyDecidedByConfig = Rule("STG0018",
        "Property decided by the config.json",
        "{0} cannot be set beside ConfigFile: '{1}' decides it; beside ConfigFile only MaxSequenceLength (a cap on max_position_embeddings), WeightPrecision, Pooling and NormalizeEmbeddings may be set");

    public static readonly DiagnosticDescriptor FamilyMissing = Rule("STG0019",
        "Model family not declared",
        "'{0}' declares no model: give [Transformer] a family, [Transformer(ModelFamily.Llama, ...)], or a Hugging Face config.json, [Transformer(ConfigFile = \"config.json\")]");

    public static readonly DiagnosticDescriptor ConfigFileAmbiguous = Rule("STG0020",
        "ConfigFile matches several AdditionalFiles",
        "ConfigFile '{0}' matches {1} AdditionalFiles ({2}); name more of its path so that it ends only one of them");

    public static readonly DiagnosticDescriptor ConfigSettingIgnored = Rule("STG0021",
        "generation_config.json setting not applied",
        "'{0}': {1}", DiagnosticSeverity.Warning);
}
