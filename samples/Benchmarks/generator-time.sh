#!/usr/bin/env bash
# Build time and generated source size of one config.json declaration, as the compiler reports them.
#
#   bash samples/Benchmarks/generator-time.sh [model folder under samples/Benchmarks/models] [rounds] [--out docs/benchmarks.md]
#
# 1. A throwaway project holding only that declaration, built with -p:ReportAnalyzer=true (the compiler then reports
#    each generator's wall time) and EmitCompilerGeneratedFiles, recompiled each round: the generator's time per build,
#    with the compiler server and without, and the size of what it emitted.
# 2. The same declaration through CSharpGeneratorDriver in one process, a fresh compilation and driver per round: the
#    generator's own work once its code is compiled (the IDE's case, and the build server's when it keeps it loaded).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
model="${1:-llama-3.2-1b}"
rounds="${2:-5}"
out="${4:-}"; [ "${3:-}" = "--out" ] || out=""
work="$(mktemp -d /tmp/stg-gentime-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/models/$model"
cp "$here/models/$model/"*.json "$work/models/$model/"
cat > "$work/GenTime.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <Import Project="$repo/src/SourceGenTransformer/build/SourceGenTransformer.props" />
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <OutputType>Library</OutputType>
    <EmitCompilerGeneratedFiles>true</EmitCompilerGeneratedFiles>
    <CompilerGeneratedFilesOutputPath>obj/generated</CompilerGeneratedFilesOutputPath>
  </PropertyGroup>
  <ItemGroup>
    <ProjectReference Include="$repo/src/SourceGenTransformer/SourceGenTransformer.csproj" />
    <ProjectReference Include="$repo/generator/SourceGenTransformer.Generator/SourceGenTransformer.Generator.csproj"
                      OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
  </ItemGroup>
</Project>
XML
cat > "$work/Model.cs" <<CS
using SourceGenTransformer;
[Transformer(ConfigFile = "models/$model/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Model;
CS
dotnet build "$work/GenTime.csproj" -c Release > /dev/null
# The generator's wall time in one build of the throwaway project, from the compiler's ReportAnalyzer table.
build_time() {
  UseSharedCompilation="$1" dotnet build "$work/GenTime.csproj" -c Release --no-dependencies -p:UseSharedCompilation="$1" \
    -p:ReportAnalyzer=true -v:d 2>&1 \
    | grep -E "^\s+[0-9.]+\s+[0-9<]+\s+SourceGenTransformer.Generator.TransformerGenerator" | head -1 | awk '{ print $1 }'
}
# With the compiler server (dotnet build's default; this machine's environment sets UseSharedCompilation=false, so it is
# turned on here explicitly): the first build loads and JIT-compiles the generator, the next ones reuse it. Without
# it, every csc process loads and JIT-compiles the generator again.
builds=""; cold=""
for server in true false; do
  for i in $(seq 1 "$rounds"); do
    echo "// round $server $i" >> "$work/Model.cs"
    t=$(build_time "$server")
    echo "round $i: TransformerGenerator $t s (ReportAnalyzer, build server: $server)"
    if [ "$server" = true ]; then builds="$builds $t"; else cold="$cold $t"; fi
  done
  dotnet build-server shutdown > /dev/null 2>&1 || true
done
generated="$(find "$work/obj/generated" -name '*.g.cs' | wc -l) files, $(cat $(find "$work/obj/generated" -name '*.g.cs') | wc -c) bytes, $(cat $(find "$work/obj/generated" -name '*.g.cs') | wc -l) lines"
echo "generated: $generated"

mkdir -p "$work/inproc"
cat > "$work/inproc/InProc.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.CodeAnalysis.CSharp" Version="4.14.0" />
    <ProjectReference Include="$repo/generator/SourceGenTransformer.Generator/SourceGenTransformer.Generator.csproj" />
    <ProjectReference Include="$repo/src/SourceGenTransformer/SourceGenTransformer.csproj" />
  </ItemGroup>
</Project>
XML
cat > "$work/inproc/Program.cs" <<CS
using System.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
    .Append(typeof(SourceGenTransformer.TransformerAttribute).Assembly.Location).Distinct()
    .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
string source = File.ReadAllText("$work/Model.cs");
var files = Directory.GetFiles("$work/models/$model").Select(f => (AdditionalText)new Json(f, File.ReadAllText(f))).ToArray();
var times = new List<double>();
for (int i = 0; i <= $rounds * 4; i++)
{
    var compilation = CSharpCompilation.Create("A", [CSharpSyntaxTree.ParseText(source)], refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
    GeneratorDriver driver = CSharpGeneratorDriver.Create([new SourceGenTransformer.Generator.TransformerGenerator().AsSourceGenerator()], additionalTexts: files);
    var clock = Stopwatch.StartNew();
    GeneratorRunResult run = driver.RunGenerators(compilation).GetRunResult().Results[0];
    double ms = clock.Elapsed.TotalMilliseconds;
    if (run.Diagnostics.Length > 0 || run.GeneratedSources.Length != 2) throw new Exception(string.Join("; ", run.Diagnostics));
    if (i == 0) Console.WriteLine(\$"in process, first run (JIT included): {ms:F1} ms");
    else times.Add(ms);
}
times.Sort();
Console.WriteLine(\$"in process, warm: median {times[times.Count / 2]:F1} ms, min {times[0]:F1} ms, max {times[^1]:F1} ms over {times.Count} runs");
sealed class Json(string path, string text) : AdditionalText
{
    public override string Path => path;
    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
}
CS
inproc="$(dotnet run --project "$work/inproc/InProc.csproj" -c Release 2>&1 | tail -2)"
echo "$inproc"
if [ -n "$out" ]; then
  section="<!-- generator-$model: written by samples/Benchmarks/generator-time.sh -->
## The generator on the $model declaration

\`bash samples/Benchmarks/generator-time.sh $model $rounds --out docs/benchmarks.md\`: the \`$model\` declaration by its config.json
(bfloat16, MaxSequenceLength 1024) emits $generated.

- Per build with the compiler server (\`-p:ReportAnalyzer=true\`, the compiler's own report; the first builds load and
  JIT-compile the generator): $(echo $builds | sed 's/ / s, /g') s.
- Per build without it (\`UseSharedCompilation=false\`, as this machine's environment sets; every csc process pays the
  load and JIT again): $(echo $cold | sed 's/ / s, /g') s.
- In one process through CSharpGeneratorDriver, a fresh compilation and driver each run (what the IDE and a warm build
  server pay): $(echo "$inproc" | sed -n 2p | sed 's/^in process, warm: //'); the first run, JIT included: $(echo "$inproc" | sed -n 1p | sed 's/^in process, first run (JIT included): //').
<!-- /generator-$model -->"
  MODEL="$model" SECTION="$section" perl -0pi -e 'my $s = $ENV{SECTION}; s/<!-- generator-\Q$ENV{MODEL}\E:.*?<!-- \/generator-\Q$ENV{MODEL}\E -->/$s/s or $_ .= "\n$s\n"' "$out"
fi
