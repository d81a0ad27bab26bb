using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using Arguments = SourceGenTransformer.Generator.TransformerGenerator.Parser.Arguments;

namespace SourceGenTransformer.Generator.Config;

/// <summary>
/// Joins a declaration to the config.json it names: the file's settings become the declaration's properties, each
/// located at its value in the JSON, so that every later diagnostic about a dimension points into the file.
/// </summary>
internal static class ConfigDeclaration
{
    private const string ConfigProperty = "ConfigFile";

    /// <summary>
    /// The declaration's properties: the attribute's own, or, with <c>ConfigFile</c>, the file's joined with the few the
    /// attribute may set beside it. Null when a problem stops the declaration (reported in <paramref name="diagnostics"/>).
    /// </summary>
    public static Arguments? Arguments(Declaration declaration, EquatableArray<ProjectFile> files, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        Argument? config = declaration.Arguments.FirstOrDefault(a => a.Name == ConfigProperty);
        if (config is null)
        {
            if (declaration.Family != 0)
                return new Arguments(declaration.Family, declaration.FamilyLocation, declaration.Arguments, declaration.Location);
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FamilyMissing, declaration.Location, declaration.ClassName));
            return null;
        }
        if (config.Value is not string path || Segments(path).Length == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, config.Location, ConfigProperty,
                config.Value is null ? "null" : "\"" + config.Value + "\"", "it must name a config.json among the project's AdditionalFiles"));
            return null;
        }

        // The attribute may not restate what the file decides.
        if (declaration.Family != 0)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PropertyDecidedByConfig, declaration.FamilyLocation, "The family", path));
        foreach (Argument arg in declaration.Arguments)
            if (Array.IndexOf(HfConfig.DeclarationProperties, arg.Name) < 0)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PropertyDecidedByConfig, arg.Location, arg.Name, path));

        ProjectFile? file = Find(path, files, config.Location, diagnostics);
        if (file is null) return null;
        cancellationToken.ThrowIfCancellationRequested();

        var text = SourceText.From(file.Text);
        List<ConfigSetting>? settings = Read(file, text, HfConfig.Read, diagnostics);
        if (settings is null) return null;

        // generation_config.json beside it, when the project passes it too, decides the generation tokens.
        ProjectFile? generation = Sibling(file, "generation_config.json", files);
        SourceText? generationText = generation is null ? null : SourceText.From(generation.Text);
        List<ConfigSetting>? generationSettings = generation is null ? [] : Read(generation, generationText!, HfConfig.ReadGeneration, diagnostics);
        if (generationSettings is null) return null;

        var arguments = new List<Argument>();
        int family = 0;
        LocationInfo? familyAt = null;
        foreach (ConfigSetting setting in settings)
        {
            LocationInfo at = At(file, text, setting.Span);
            if (setting.Property == "Family")
            {
                family = (int)setting.Value;
                familyAt = at;
            }
            else if (setting.Property == "MaxSequenceLength")
                arguments.Add(Length((int)setting.Value, at, declaration, diagnostics));
            else if (!generationSettings.Any(g => g.Property == setting.Property))
                arguments.Add(new Argument(setting.Property, setting.Value, at));
        }
        foreach (ConfigSetting setting in generationSettings)
            arguments.Add(new Argument(setting.Property, setting.Value, At(generation!, generationText!, setting.Span)));
        foreach (Argument arg in declaration.Arguments)
            if (arg.Name != ConfigProperty && arg.Name != "MaxSequenceLength" && Array.IndexOf(HfConfig.DeclarationProperties, arg.Name) >= 0)
                arguments.Add(arg);
        return new Arguments(family, familyAt, arguments, declaration.Location);
    }

    /// <summary>The KV cache length: the attribute's cap on the file's length, or the smaller of it and the default.</summary>
    private static Argument Length(int fileLength, LocationInfo at, Declaration declaration, List<DiagnosticInfo> diagnostics)
    {
        Argument? cap = declaration.Arguments.FirstOrDefault(a => a.Name == "MaxSequenceLength");
        if (cap is null)
            return new Argument("MaxSequenceLength", Math.Min(fileLength, HfConfig.DefaultMaxSequenceLength), at);
        if (cap.Value is int value && value > fileLength)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, cap.Location, "MaxSequenceLength",
                value.ToString(CultureInfo.InvariantCulture),
                $"the model was trained for at most {fileLength.ToString(CultureInfo.InvariantCulture)} positions (max_position_embeddings in {at.FilePath}); MaxSequenceLength may only cap it"));
        return cap;
    }

    private static List<ConfigSetting>? Read(ProjectFile file, SourceText text, Func<JsonValue, (List<ConfigSetting>, List<ConfigProblem>)> reader, List<DiagnosticInfo> diagnostics)
    {
        JsonValue root;
        try
        {
            root = JsonReader.Parse(file.Text);
        }
        catch (JsonException e)
        {
            int start = Math.Min(e.Position, file.Text.Length);
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigFileMalformed,
                At(file, text, new TextSpan(start, start < file.Text.Length ? 1 : 0)), file.Path, e.Message));
            return null;
        }
        (List<ConfigSetting> settings, List<ConfigProblem> problems) = reader(root);
        foreach (ConfigProblem problem in problems)
        {
            DiagnosticDescriptor descriptor = problem.Kind switch
            {
                ProblemKind.UnknownType => DiagnosticDescriptors.ConfigModelTypeNotSupported,
                ProblemKind.Unsupported => DiagnosticDescriptors.ConfigOptionNotSupported,
                ProblemKind.Ignored => DiagnosticDescriptors.ConfigSettingIgnored,
                _ => DiagnosticDescriptors.ConfigValueInvalid,
            };
            diagnostics.Add(DiagnosticInfo.Create(descriptor, At(file, text, problem.Span), file.Path, problem.Message));
        }
        return problems.TrueForAll(p => p.Kind == ProblemKind.Ignored) ? settings : null;
    }

    private static LocationInfo At(ProjectFile file, SourceText text, TextSpan span) =>
        new(file.Path, span, text.Lines.GetLinePositionSpan(span));

    /// <summary>The one AdditionalFiles item whose path ends with <paramref name="path"/>'s segments.</summary>
    private static ProjectFile? Find(string path, EquatableArray<ProjectFile> files, LocationInfo? at, List<DiagnosticInfo> diagnostics)
    {
        string[] tail = Segments(path);
        // The same file listed twice (the package's props and a hand-written item) is one file.
        var matches = files.Select(f => (File: f, Segments: Segments(f.Path))).Where(f => EndsWith(f.Segments, tail))
            .GroupBy(f => string.Join("/", f.Segments), StringComparer.OrdinalIgnoreCase).Select(g => g.First().File).ToList();
        if (matches.Count == 1) return matches[0];
        if (matches.Count == 0)
        {
            string near = files.FirstOrDefault(f => EndsWith(Segments(f.Path), [tail[tail.Length - 1]])) is { } other
                ? $" (one is named like it: '{other.Path}')" : "";
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigFileNotFound, at, path, near));
        }
        else
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConfigFileAmbiguous, at, path,
                matches.Count.ToString(CultureInfo.InvariantCulture), string.Join(", ", matches.Select(m => "'" + m.Path + "'"))));
        return null;
    }

    /// <summary>The AdditionalFiles item named <paramref name="name"/> in the same folder as <paramref name="file"/>, if any.</summary>
    private static ProjectFile? Sibling(ProjectFile file, string name, EquatableArray<ProjectFile> files)
    {
        string[] folder = Segments(file.Path);
        string[] wanted = [.. folder.Take(folder.Length - 1), name];
        return files.FirstOrDefault(f => Segments(f.Path).SequenceEqual(wanted, StringComparer.OrdinalIgnoreCase));
    }

    private static string[] Segments(string path) =>
        path.Replace('\\', '/').Split(['/'], StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToArray();

    private static bool EndsWith(string[] path, string[] tail)
    {
        if (tail.Length == 0 || tail.Length > path.Length) return false;
        for (int i = 1; i <= tail.Length; i++)
            if (!string.Equals(path[path.Length - i], tail[tail.Length - i], StringComparison.OrdinalIgnoreCase))
                return false;
        return true;
    }
}
