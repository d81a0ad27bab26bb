using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace SourceGenTransformer.Generator.Tests;

/// <summary>Every C# snippet of the README compiles, with the generator, as a newcomer would paste it into a new console project.</summary>
public class ReadmeTests
{
    private static string ReadmePath([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", "README.md");

    /// <summary>The ```csharp blocks of the README, with the line each starts at.</summary>
    public static TheoryData<int, string> Snippets()
    {
        var data = new TheoryData<int, string>();
        string text = File.ReadAllText(ReadmePath()).Replace("\r\n", "\n");
        foreach (Match m in Regex.Matches(text, "^```csharp\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline))
            data.Add(text.Take(m.Index).Count(c => c == '\n') + 1, m.Groups[1].Value);
        return data;
    }

    [Fact]
    public void The_readme_has_snippets()
    {
        Assert.True(Snippets().Count() >= 6);
    }

    // What `dotnet new console` puts in scope (ImplicitUsings), and the assemblies a project with the package and the
    // text front end references.
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static readonly MetadataReference[] References =
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(TransformerAttribute).Assembly.Location)
            .Append(typeof(SourceGenTransformer.Text.TextGenerator).Assembly.Location)
            .Append(typeof(Microsoft.ML.Tokenizers.Tokenizer).Assembly.Location)
            .Append(typeof(Microsoft.Extensions.AI.IChatClient).Assembly.Location)
            .Distinct()
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray();

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_compiles(int line, string snippet)
    {
        SyntaxTree tree = CSharpSyntaxTree.ParseText(snippet, GeneratorHarness.ParseOptions, path: $"README.md@{line}.cs");
        bool program = tree.GetRoot().DescendantNodes().OfType<GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create("Snippet",
            [tree, CSharpSyntaxTree.ParseText(ImplicitUsings, GeneratorHarness.ParseOptions, path: "GlobalUsings.g.cs")],
            References,
            new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));
        // The README's config.json declarations name the real configs the benchmark app ships (samples/Benchmarks/models).
        string models = Path.Combine(Path.GetDirectoryName(ReadmePath())!, "samples", "Benchmarks", "models");
        AdditionalText[] files = Directory.GetFiles(models, "*.json", SearchOption.AllDirectories)
            .Select(f => (AdditionalText)new GeneratorHarness.File(Path.GetRelativePath(Path.GetDirectoryName(models)!, f), File.ReadAllText(f))).ToArray();
        var run = GeneratorHarness.RunGenerator(compilation, GeneratorHarness.Driver(GeneratorHarness.ParseOptions, files));
        // Qwen2.5's generation_config.json asks for a repetition penalty, which the warning STG0021 says is not applied.
        Assert.Empty(run.GeneratorDiagnostics.Where(d => d.Id != "STG0021"));
        var problems = run.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToArray();
        Assert.True(problems.Length == 0, $"the README's snippet at line {line} does not compile:\n" + string.Join("\n", problems.Select(d => d.ToString())));
    }
}
