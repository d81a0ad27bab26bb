using System;
using System.Collections.Generic;
using System.Text;

namespace SourceGenTransformer.Text.Jinja;

/// <summary>Thrown inside a loop body by break and continue (loopcontrols), caught by the loop.</summary>
internal sealed class LoopControl(bool isBreak) : Exception
{
    public bool IsBreak { get; } = isBreak;
}

internal abstract class Node
{
    public abstract void Render(Scope scope, StringBuilder output);

    public static void RenderAll(List<Node> nodes, Scope scope, StringBuilder output)
    {
        foreach (Node node in nodes) node.Render(scope, output);
    }
}

internal sealed class TextNode(string text) : Node
{
    public override void Render(Scope scope, StringBuilder output) => output.Append(text);
}

internal sealed class OutputNode(Expr expr) : Node
{
    public override void Render(Scope scope, StringBuilder output) => output.Append(Values.Str(expr.Evaluate(scope)));
}

internal sealed class BlockNode(List<Node> body) : Node
{
    public override void Render(Scope scope, StringBuilder output) => RenderAll(body, scope, output);
}

internal sealed class BreakNode : Node
{
    public override void Render(Scope scope, StringBuilder output) => throw new LoopControl(isBreak: true);
}

internal sealed class ContinueNode : Node
{
    public override void Render(Scope scope, StringBuilder output) => throw new LoopControl(isBreak: false);
}

internal sealed class IfNode(List<(Expr Condition, List<Node> Body)> branches, List<Node>? otherwise) : Node
{
    public override void Render(Scope scope, StringBuilder output)
    {
        foreach ((Expr condition, List<Node> body) in branches)
        {
            if (Values.Truthy(condition.Evaluate(scope)))
            {
                RenderAll(body, scope, output);
                return;
            }
        }
        if (otherwise is not null) RenderAll(otherwise, scope, output);
    }
}

internal sealed class ForNode(List<string> targets, Expr iterable, Expr? filter, List<Node> body, List<Node>? otherwise) : Node
{
    public override void Render(Scope scope, StringBuilder output)
    {
        var items = new List<object?>();
        foreach (object? item in Values.Iterate(iterable.Evaluate(scope), "a for loop"))
        {
            if (filter is not null)
            {
                var test = new Scope(scope);
                Bind(test, item);
                if (!Values.Truthy(filter.Evaluate(test))) continue;
            }
            items.Add(item);
        }
        if (items.Count == 0)
        {
            if (otherwise is not null) RenderAll(otherwise, scope, output);
            return;
        }
        // A for loop has its own scope: what its body sets stays inside it (namespaces carry values out).
        var inner = new Scope(scope);
        for (int i = 0; i < items.Count; i++)
        {
            Bind(inner, items[i]);
            inner.SetLocal("loop", new LoopInfo(items, i));
            try
            {
                RenderAll(body, inner, output);
            }
            catch (LoopControl control)
            {
                if (control.IsBreak) break;
            }
        }
    }

    private void Bind(Scope scope, object? item)
    {
        if (targets.Count == 1)
        {
            scope.SetLocal(targets[0], item);
            return;
        }
        List<object?> parts = Values.Iterate(item, "unpacking a loop item");
        if (parts.Count != targets.Count)
            throw new ChatTemplateException($"cannot unpack {parts.Count} values into {targets.Count} loop variables");
        for (int k = 0; k < targets.Count; k++) scope.SetLocal(targets[k], parts[k]);
    }
}

internal sealed class SetNode(List<string> names, string? attribute, Expr value) : Node
{
    public override void Render(Scope scope, StringBuilder output)
    {
        object? v = value.Evaluate(scope);
        if (attribute is not null)
        {
            if (scope.Get(names[0]) is not Namespace ns)
                throw new ChatTemplateException($"cannot set '{names[0]}.{attribute}': only a namespace() takes attribute assignments");
            ns.Values[attribute] = v;
            return;
        }
        if (names.Count == 1)
        {
            scope.SetLocal(names[0], v);
            return;
        }
        List<object?> parts = Values.Iterate(v, "unpacking a set");
        if (parts.Count != names.Count) throw new ChatTemplateException($"cannot unpack {parts.Count} values into {names.Count} names");
        for (int k = 0; k < names.Count; k++) scope.SetLocal(names[k], parts[k]);
    }
}

internal sealed class SetBlockNode(string name, List<Node> body) : Node
{
    public override void Render(Scope scope, StringBuilder output)
    {
        var captured = new StringBuilder();
        RenderAll(body, scope, captured);
        scope.SetLocal(name, captured.ToString());
    }
}

/// <summary>Variables: a chain of scopes, each loop body one link.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _values = new(StringComparer.Ordinal);

    public object? Get(string name)
    {
        for (Scope? s = this; s is not null; s = s.Parent)
            if (s._values.TryGetValue(name, out object? v)) return v;
        return new Undefined(name);
    }

    public Scope? Parent { get; } = parent;

    public void SetLocal(string name, object? value) => _values[name] = value;
}

/// <summary>The loop variable: index, index0, revindex, revindex0, first, last, length, previtem, nextitem, cycle.</summary>
internal sealed class LoopInfo(List<object?> items, int index)
{
    public object? Attribute(string name) => name switch
    {
        "index" => (long)(index + 1),
        "index0" => (long)index,
        "revindex" => (long)(items.Count - index),
        "revindex0" => (long)(items.Count - index - 1),
        "first" => index == 0,
        "last" => index == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => index > 0 ? items[index - 1] : new Undefined("loop.previtem"),
        "nextitem" => index + 1 < items.Count ? items[index + 1] : new Undefined("loop.nextitem"),
        "cycle" => new Callable("loop.cycle", (args, _) => args.Count == 0 ? null : args[index % args.Count]),
        _ => new Undefined("loop." + name),
    };
}

/// <summary>What namespace() returns: attributes a loop body may set and the code after it read.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);
}

/// <summary>A name or attribute with no value: renders as nothing, is false, iterates as empty; anything more is an error.</summary>
internal sealed class Undefined(string name)
{
    public string Name { get; } = name;
}

/// <summary>A function value (a global like raise_exception, or a bound string or dict method).</summary>
internal sealed class Callable(string name, Func<List<object?>, Dictionary<string, object?>, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(List<object?> args, Dictionary<string, object?> named) => invoke(args, named);
}
