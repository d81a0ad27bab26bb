using System;
using System.Collections.Generic;
using System.Linq;

namespace SourceGenTransformer.Text.Jinja;

internal abstract class Expr
{
    public abstract object? Evaluate(Scope scope);
}

internal sealed record Arguments(List<Expr> Positional, List<(string Name, Expr Value)> Named)
{
    public static readonly Arguments None = new([], []);

    public (List<object?> Args, Dictionary<string, object?> Named) Evaluate(Scope scope)
    {
        var args = Positional.Select(p => p.Evaluate(scope)).ToList();
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach ((string name, Expr value) in Named) named[name] = value.Evaluate(scope);
        return (args, named);
    }
}

internal sealed class ConstantExpr(object? value) : Expr
{
    public override object? Evaluate(Scope scope) => value;
}

internal sealed class NameExpr(string name) : Expr
{
    public override object? Evaluate(Scope scope) => scope.Get(name);
}

internal sealed class ListExpr(List<Expr> items, bool tuple = false) : Expr
{
    public override object? Evaluate(Scope scope) => tuple ? new Tuple(items.Select(i => i.Evaluate(scope))) : items.Select(i => i.Evaluate(scope)).ToList();
}

internal sealed class DictExpr(List<(Expr Key, Expr Value)> pairs) : Expr
{
    public override object? Evaluate(Scope scope)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach ((Expr k, Expr v) in pairs)
        {
            if (k.Evaluate(scope) is not string key) throw new ChatTemplateException("dict keys must be strings in a chat template");
            d[key] = v.Evaluate(scope);
        }
        return d;
    }
}

internal sealed class AttributeExpr(Expr target, string name) : Expr
{
    public override object? Evaluate(Scope scope) => Values.GetAttribute(target.Evaluate(scope), name);
}

internal sealed class IndexExpr(Expr target, Expr index) : Expr
{
    public override object? Evaluate(Scope scope) => Values.GetItem(target.Evaluate(scope), index.Evaluate(scope));
}

internal sealed class SliceExpr(Expr target, Expr? start, Expr? stop, Expr? step) : Expr
{
    public override object? Evaluate(Scope scope) =>
        Values.Slice(target.Evaluate(scope), start?.Evaluate(scope), stop?.Evaluate(scope), step?.Evaluate(scope));
}

internal sealed class CallExpr(Expr target, Arguments arguments) : Expr
{
    public override object? Evaluate(Scope scope)
    {
        object? f = target.Evaluate(scope);
        if (f is not Callable callable)
            throw new ChatTemplateException(f is Undefined u ? $"'{u.Name}' is undefined, so it cannot be called" : $"{Values.TypeName(f)} is not callable");
        (List<object?> args, Dictionary<string, object?> named) = arguments.Evaluate(scope);
        return callable.Invoke(args, named);
    }
}

internal sealed class FilterExpr(Expr target, string name, Arguments arguments) : Expr
{
    public override object? Evaluate(Scope scope)
    {
        (List<object?> args, Dictionary<string, object?> named) = arguments.Evaluate(scope);
        return Filters.Apply(name, target.Evaluate(scope), args, named);
    }
}

internal sealed class TestExpr(Expr target, string name, Arguments arguments) : Expr
{
    public override object? Evaluate(Scope scope)
    {
        (List<object?> args, _) = arguments.Evaluate(scope);
        return Filters.Test(name, target.Evaluate(scope), args);
    }
}

internal sealed class NotExpr(Expr operand) : Expr
{
    public override object? Evaluate(Scope scope) => !Values.Truthy(operand.Evaluate(scope));
}

internal sealed class NegateExpr(Expr operand) : Expr
{
    public override object? Evaluate(Scope scope) => operand.Evaluate(scope) switch
    {
        long l => (object)(-l),
        double d => -d,
        bool b => b ? -1L : 0L,
        var v => throw new ChatTemplateException($"cannot negate {Values.TypeName(v)}"),
    };
}

internal sealed class ConditionalExpr(Expr condition, Expr then, Expr? otherwise) : Expr
{
    public override object? Evaluate(Scope scope) =>
        Values.Truthy(condition.Evaluate(scope)) ? then.Evaluate(scope) : otherwise is null ? new Undefined("the else of a conditional expression") : otherwise.Evaluate(scope);
}

internal sealed class BinaryExpr(string op, Expr left, Expr right) : Expr
{
    public override object? Evaluate(Scope scope)
    {
        object? a = left.Evaluate(scope);
        switch (op)
        {
            case "and": return Values.Truthy(a) ? right.Evaluate(scope) : a;
            case "or": return Values.Truthy(a) ? a : right.Evaluate(scope);
        }
        object? b = right.Evaluate(scope);
        return op switch
        {
            "==" => Values.Equal(a, b),
            "!=" => !Values.Equal(a, b),
            "<" => Values.Compare(a, b) < 0,
            "<=" => Values.Compare(a, b) <= 0,
            ">" => Values.Compare(a, b) > 0,
            ">=" => Values.Compare(a, b) >= 0,
            "in" => Values.Contains(b, a),
            "~" => Values.Str(a) + Values.Str(b),
            _ => Values.Arithmetic(op, a, b),
        };
    }
}
