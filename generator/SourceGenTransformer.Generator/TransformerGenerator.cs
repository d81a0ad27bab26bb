using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SourceGenTransformer.Generator.Emit;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;

namespace SourceGenTransformer.Generator;

/// <summary>
/// Emits a specialised Transformer inference engine into every <c>partial class</c> that carries
/// <c>[Transformer(...)]</c>.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class TransformerGenerator : IIncrementalGenerator
{
    internal const string AttributeName = "SourceGenTransformer.TransformerAttribute";

    /// <summary>The oldest C# the emitted code compiles with (file-scoped namespaces).</summary>
    internal const LanguageVersion MinimumLanguageVersion = LanguageVersion.CSharp10;

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // 1. Find each class carrying [Transformer] and read the declaration into plain values. The predicate is
        //    syntax-only; the transform is the last place that sees symbols, so everything downstream is plain,
        //    value-equal data that caches.
        IncrementalValuesProvider<Declaration> declarations = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        // The AdditionalFiles a ConfigFile can name, as (path, text): only JSON files, read once per edit of each.
        IncrementalValueProvider<EquatableArray<ProjectFile>> files = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(".json", System.StringComparison.OrdinalIgnoreCase))
            .Select(static (text, ct) => new ProjectFile(text.Path, text.GetText(ct)?.ToString() ?? ""))
            .Collect()
            .Select(static (all, _) => new EquatableArray<ProjectFile>(all))
            .WithTrackingName(TrackingNames.ConfigFiles);

        // A declaration with its config.json becomes a spec (or diagnostics). A declaration without one ignores the
        // files, but still compares equal when they change, so its outputs stay cached.
        IncrementalValuesProvider<Result<ModelSpec>> parsed = declarations
            .Combine(files)
            .Select(static (pair, ct) => Parser.Build(pair.Left, pair.Right, ct))
            .WithTrackingName(TrackingNames.Build);

        // 2. Compilation-wide facts, reduced to a small value so that edits elsewhere compare equal:
        //    only the language version, which decides whether the emitted code can compile.
        IncrementalValueProvider<LanguageVersion> language = context.CompilationProvider
            .Select(static (compilation, _) => compilation is CSharpCompilation cs ? cs.LanguageVersion : LanguageVersion.Default)
            .WithTrackingName(TrackingNames.Language);
        IncrementalValuesProvider<(Result<ModelSpec> Result, LanguageVersion Language)> checkedResults = parsed.Combine(language);

        // 3. Diagnostics travel on their own branch, so a model's errors are reported even
        //    though nothing is emitted for it.
        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> diagnostics = checkedResults
            .Select(static (pair, _) => pair.Result.Value is not null && pair.Language < MinimumLanguageVersion
                ? new EquatableArray<DiagnosticInfo>(new[] { LanguageDiagnostic(pair.Result.Location, pair.Language) })
                : pair.Result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, infos) =>
        {
            foreach (DiagnosticInfo info in infos)
                spc.ReportDiagnostic(info.ToDiagnostic());
        });

        // 4. Valid specs only: a model with an error emits nothing else.
        IncrementalValuesProvider<ModelSpec> specs = checkedResults
            .Where(static pair => pair.Result.Value is not null && pair.Language >= MinimumLanguageVersion)
            .Select(static (pair, _) => pair.Result.Value!)
            .WithTrackingName(TrackingNames.Spec);

        // 5. Two files per model: the public class in the user's namespace, and the engine (weights, forward pass,
        //    kernels) in a namespace of its own.
        context.RegisterSourceOutput(specs, static (spc, spec) =>
        {
            (string transformer, string kernels) = ModelEmitter.Emit(spec, spc.CancellationToken);
            spc.AddSource(spec.HintName("Transformer"), transformer);
            spc.AddSource(spec.HintName("Kernels"), kernels);
        });
    }

    private static DiagnosticInfo LanguageDiagnostic(LocationInfo? location, LanguageVersion actual) =>
        DiagnosticInfo.Create(DiagnosticDescriptors.LanguageVersionTooLow, location,
            MinimumLanguageVersion.ToDisplayString(), actual.ToDisplayString());
}
