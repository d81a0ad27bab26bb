using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SourceGenTransformer.Generator;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>Runs the generator over source text through <see cref="CSharpGeneratorDriver"/>, as the compiler does.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>Doc comments parsed and diagnosed, as a project with GenerateDocumentationFile compiles.</summary>
    public static readonly CSharpParseOptions DocumentationParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly MetadataReference[] References =
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(TransformerAttribute).Assembly.Location)
            .Distinct()
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray();

    public static CSharpCompilation Compilation(params string[] sources) => Compilation(ParseOptions, sources);

    public static CSharpCompilation Compilation(CSharpParseOptions parseOptions, params string[] sources) =>
        CSharpCompilation.Create("UserAssembly",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, parseOptions, path: $"Model{i}.cs")),
            References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));

    public static GeneratorDriver Driver(CSharpParseOptions? parseOptions = null, params AdditionalText[] additionalFiles) =>
        CSharpGeneratorDriver.Create(
            [new TransformerGenerator().AsSourceGenerator()],
            additionalTexts: additionalFiles,
            parseOptions: parseOptions ?? ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>An AdditionalFiles item, as MSBuild passes one to the compiler: a path and its text.</summary>
    public sealed class File(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override Microsoft.CodeAnalysis.Text.SourceText GetText(System.Threading.CancellationToken cancellationToken = default) =>
            Microsoft.CodeAnalysis.Text.SourceText.From(text);
    }

    /// <summary>Runs the generator over <paramref name="sources"/> with <paramref name="files"/> as AdditionalFiles.</summary>
    public static Run RunGenerator(AdditionalText[] files, params string[] sources) =>
        RunGenerator(Compilation(sources), Driver(null, files));

    public sealed record Run(GeneratorDriver Driver, GeneratorRunResult Result, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics)
    {
        public string[] GeneratedTexts => Result.GeneratedSources.Select(s => s.SourceText.ToString()).ToArray();
    }

    public static Run RunGenerator(Compilation compilation, GeneratorDriver? driver = null)
    {
        var parseOptions = (CSharpParseOptions?)compilation.SyntaxTrees.FirstOrDefault()?.Options;
        driver = (driver ?? Driver(parseOptions)).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return new Run(driver, driver.GetRunResult().Results.Single(), output, diagnostics);
    }

    public static Run RunGenerator(params string[] sources) => RunGenerator(Compilation(sources));
}
