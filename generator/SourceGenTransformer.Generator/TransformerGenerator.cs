using System.Threading;
using Microsoft.CodeAnalysis;
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

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // 1. Find each class carrying [Transformer] and turn the declaration into a spec (or
        //    diagnostics). The predicate is syntax-only; the transform is the last place that
        //    sees symbols, so everything downstream is plain, value-equal data that caches.
        IncrementalValuesProvider<Result<ModelSpec>> parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        // 2. Diagnostics travel on their own branch, so a model's errors are reported even
        //    though nothing is emitted for it.
        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> diagnostics = parsed
            .Select(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, infos) =>
        {
            foreach (DiagnosticInfo info in infos)
                spc.ReportDiagnostic(info.ToDiagnostic());
        });

        // 3. Valid specs only: a model with an error emits nothing else.
        IncrementalValuesProvider<ModelSpec> specs = parsed
            .Where(static result => result.Value is not null)
            .Select(static (result, _) => result.Value!)
            .WithTrackingName(TrackingNames.Spec);

        // 4. One file per model: constants, weights, loader, kernels, session and decoding loop.
        context.RegisterSourceOutput(specs, static (spc, spec) =>
            spc.AddSource(spec.HintName, ModelEmitter.Emit(spec, spc.CancellationToken)));
    }
}
