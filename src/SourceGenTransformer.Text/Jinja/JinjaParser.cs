using System;
using System.Collections.Generic;
using System.Globalization;

namespace SourceGenTransformer.Text.Jinja;

/// <summary>
/// Parses Jinja tokens into statements and expressions with Jinja2's precedence: conditional, or, and, not,
/// comparisons (in, not in, ==, !=, &lt;, &lt;=, &gt;, &gt;=), + and -, ~, *, /, //, %, **, unary - and +, then
/// postfix (.attr, [index or slice], (call)), filters (|f) and tests (is [not] t).
/// </summary>
internal sealed class JinjaParser
{
    private readonly List<Token> _tokens;
    private int _at;

    private JinjaParser(List<Token> tokens) => _tokens = tokens;

    public static List<Node> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        List<Node> body = parser.ParseBody(out string? end);
        if (end is not null) throw parser.Error($"'{end}' without its opening statement");
        return body;
    }

    private Token Current => _tokens[_at];

    private ChatTemplateException Error(string message) => new($"template error at character {Current.Position}: {message}");

    private Token Next() => _tokens[_at++];

    private bool IsOp(string op) => Current.Kind == TokenKind.Operator && Current.Value == op;

    private bool IsName(string name) => Current.Kind == TokenKind.Name && Current.Value == name;

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw Error($"expected '{op}', found '{Describe(Current)}'");
        _at++;
    }

    private void ExpectName(string name)
    {
        if (!IsName(name)) throw Error($"expected '{name}', found '{Describe(Current)}'");
        _at++;
    }

    private void Expect(TokenKind kind)
    {
        if (Current.Kind != kind) throw Error($"expected the end of the tag, found '{Describe(Current)}'");
        _at++;
    }

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.BlockEnd => "%}",
        TokenKind.ExprEnd => "}}",
        TokenKind.End => "the end of the template",
        _ => t.Value,
    };

    /// <summary>Consumes the tag ParseBody stopped at: {% keyword %}.</summary>
    private void CloseTag()
    {
        _at++;
        Identifier();
        Expect(TokenKind.BlockEnd);
    }

    private string Identifier()
    {
        if (Current.Kind != TokenKind.Name) throw Error($"expected a name, found '{Describe(Current)}'");
        return Next().Value;
    }

    // ---------------------------------------------------------------- statements

    /// <summary>Statements up to an end or middle keyword (endif, elif, else, endfor, endset), which is returned unconsumed.</summary>
    private List<Node> ParseBody(out string? end)
    {
        var body = new List<Node>();
        while (true)
        {
            Token t = Current;
            switch (t.Kind)
            {
                case TokenKind.End:
                    end = null;
                    return body;
                case TokenKind.Text:
                    _at++;
                    body.Add(new TextNode(t.Value));
                    break;
                case TokenKind.ExprStart:
                    _at++;
                    body.Add(new OutputNode(ParseExpression()));
                    Expect(TokenKind.ExprEnd);
                    break;
                case TokenKind.BlockStart:
                    Token keyword = _tokens[_at + 1];
                    if (keyword.Kind == TokenKind.Name && keyword.Value is "endif" or "elif" or "else" or "endfor" or "endset" or "endmacro" or "endgeneration")
                    {
                        end = keyword.Value;
                        return body;
                    }
                    _at++;
                    body.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected '{Describe(t)}'");
            }
        }
    }

    private Node ParseStatement()
    {
        string keyword = Identifier();
        switch (keyword)
        {
            case "if": return ParseIf();
            case "for": return ParseFor();
            case "set": return ParseSet();
            case "break": Expect(TokenKind.BlockEnd); return new BreakNode();
            case "continue": Expect(TokenKind.BlockEnd); return new ContinueNode();
            case "generation":
                // Hugging Face's {% generation %} marks the assistant's tokens for training masks; it renders its body.
                Expect(TokenKind.BlockEnd);
                List<Node> inner = ParseBody(out string? end);
                if (end != "endgeneration") throw Error("{% generation %} without {% endgeneration %}");
                CloseTag();
                return new BlockNode(inner);
            default:
                throw Error($"the statement '{keyword}' is not supported by this template engine (it runs if, for, set, break and continue)");
        }
    }

    private Node ParseIf()
    {
        var branches = new List<(Expr, List<Node>)>();
        Expr condition = ParseExpression();
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            List<Node> body = ParseBody(out string? end);
            if (end is null) throw Error("{% if %} without {% endif %}");
            branches.Add((condition, body));
            _at++; // BlockStart
            string keyword = Identifier();
            if (keyword == "elif")
            {
                condition = ParseExpression();
                Expect(TokenKind.BlockEnd);
                continue;
            }
            if (keyword == "else")
            {
                Expect(TokenKind.BlockEnd);
                List<Node> otherwise = ParseBody(out string? close);
                if (close != "endif") throw Error("{% else %} of an if must end with {% endif %}");
                CloseTag();
                return new IfNode(branches, otherwise);
            }
            if (keyword == "endif")
            {
                Expect(TokenKind.BlockEnd);
                return new IfNode(branches, null);
            }
            throw Error($"{{% {keyword} %}} inside an if");
        }
    }

    private Node ParseFor()
    {
        var targets = new List<string> { Identifier() };
        while (IsOp(","))
        {
            _at++;
            targets.Add(Identifier());
        }
        ExpectName("in");
        Expr iterable = ParseOr(allowConditional: false);
        Expr? filter = null;
        if (IsName("if"))
        {
            _at++;
            filter = ParseExpression();
        }
        if (IsName("recursive")) throw Error("recursive loops are not supported");
        Expect(TokenKind.BlockEnd);
        List<Node> body = ParseBody(out string? end);
        List<Node>? otherwise = null;
        if (end == "else")
        {
            CloseTag();
            otherwise = ParseBody(out end);
        }
        if (end != "endfor") throw Error("{% for %} without {% endfor %}");
        CloseTag();
        return new ForNode(targets, iterable, filter, body, otherwise);
    }

    private Node ParseSet()
    {
        string name = Identifier();
        string? attribute = null;
        if (IsOp("."))
        {
            _at++;
            attribute = Identifier();
        }
        var names = new List<string> { name };
        while (attribute is null && IsOp(","))
        {
            _at++;
            names.Add(Identifier());
        }
        if (Current.Kind == TokenKind.BlockEnd && attribute is null && names.Count == 1)
        {
            // {% set name %}...{% endset %}: the rendered block.
            _at++;
            List<Node> body = ParseBody(out string? end);
            if (end != "endset") throw Error("{% set %} block without {% endset %}");
            CloseTag();
            return new SetBlockNode(name, body);
        }
        ExpectOp("=");
        Expr value = ParseExpression();
        if (IsOp(","))
        {
            // An implicit tuple: {% set a, b = 1, 2 %}.
            var items = new List<Expr> { value };
            while (IsOp(","))
            {
                _at++;
                items.Add(ParseExpression());
            }
            value = new ListExpr(items, tuple: true);
        }
        Expect(TokenKind.BlockEnd);
        return new SetNode(names, attribute, value);
    }

    // ---------------------------------------------------------------- expressions

    private Expr ParseExpression() => ParseOr(allowConditional: true);

    private Expr ParseOr(bool allowConditional)
    {
        Expr left = ParseAnd();
        while (IsName("or"))
        {
            _at++;
            left = new BinaryExpr("or", left, ParseAnd());
        }
        if (allowConditional && IsName("if"))
        {
            _at++;
            Expr condition = ParseOr(allowConditional: false);
            Expr? otherwise = null;
            if (IsName("else"))
            {
                _at++;
                otherwise = ParseOr(allowConditional: true);
            }
            return new ConditionalExpr(condition, left, otherwise);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (IsName("and"))
        {
            _at++;
            left = new BinaryExpr("and", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            _at++;
            return new NotExpr(ParseNot());
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        Expr left = ParseMath1();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && Current.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                string op = Next().Value;
                left = new BinaryExpr(op, left, ParseMath1());
            }
            else if (IsName("in"))
            {
                _at++;
                left = new BinaryExpr("in", left, ParseMath1());
            }
            else if (IsName("not") && _tokens[_at + 1].Kind == TokenKind.Name && _tokens[_at + 1].Value == "in")
            {
                _at += 2;
                left = new NotExpr(new BinaryExpr("in", left, ParseMath1()));
            }
            else return left;
        }
    }

    private Expr ParseMath1()
    {
        Expr left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            string op = Next().Value;
            left = new BinaryExpr(op, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        Expr left = ParseMath2();
        while (IsOp("~"))
        {
            _at++;
            left = new BinaryExpr("~", left, ParseMath2());
        }
        return left;
    }

    private Expr ParseMath2()
    {
        Expr left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            string op = Next().Value;
            left = new BinaryExpr(op, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        Expr left = ParseUnary();
        while (IsOp("**"))
        {
            _at++;
            left = new BinaryExpr("**", left, ParseUnary());
        }
        return left;
    }

    private Expr ParseUnary()
    {
        return ParseUnary(withFilters: true);
    }

    // As Jinja2: the operand of - and + takes no filters, but the negation does (-3|abs is abs(-3)).
    private Expr ParseUnary(bool withFilters)
    {
        Expr node;
        if (IsOp("-"))
        {
            _at++;
            node = new NegateExpr(ParseUnary(withFilters: false));
        }
        else if (IsOp("+"))
        {
            _at++;
            node = ParseUnary(withFilters: false);
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        return withFilters ? ParseFilters(node) : node;
    }

    private Expr ParsePrimary()
    {
        Token t = Next();
        switch (t.Kind)
        {
            case TokenKind.String:
                string s = t.Value;
                while (Current.Kind == TokenKind.String) s += Next().Value; // adjacent literals join, as in Python
                return new ConstantExpr(s);
            case TokenKind.Integer:
                return new ConstantExpr(long.Parse(t.Value, CultureInfo.InvariantCulture));
            case TokenKind.Float:
                return new ConstantExpr(double.Parse(t.Value, CultureInfo.InvariantCulture));
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstantExpr(true),
                    "false" or "False" => new ConstantExpr(false),
                    "none" or "None" => new ConstantExpr(null),
                    _ => new NameExpr(t.Value),
                };
            case TokenKind.Operator when t.Value == "(":
                Expr first = ParseExpression();
                if (IsOp(","))
                {
                    var items = new List<Expr> { first };
                    while (IsOp(","))
                    {
                        _at++;
                        if (IsOp(")")) break;
                        items.Add(ParseExpression());
                    }
                    ExpectOp(")");
                    return new ListExpr(items, tuple: true);
                }
                ExpectOp(")");
                return first;
            case TokenKind.Operator when t.Value == "[":
                var list = new List<Expr>();
                while (!IsOp("]"))
                {
                    list.Add(ParseExpression());
                    if (!IsOp(",")) break;
                    _at++;
                }
                ExpectOp("]");
                return new ListExpr(list);
            case TokenKind.Operator when t.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    Expr key = ParseExpression();
                    ExpectOp(":");
                    pairs.Add((key, ParseExpression()));
                    if (!IsOp(",")) break;
                    _at++;
                }
                ExpectOp("}");
                return new DictExpr(pairs);
            default:
                _at--;
                throw Error($"unexpected '{Describe(t)}' in an expression");
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (IsOp("."))
            {
                _at++;
                Token name = Next();
                if (name.Kind is not (TokenKind.Name or TokenKind.Integer)) throw Error("expected an attribute name after '.'");
                node = new AttributeExpr(node, name.Value);
            }
            else if (IsOp("["))
            {
                _at++;
                Expr? start = null, stop = null, step = null;
                bool slice = false;
                if (!IsOp(":")) start = ParseExpression();
                if (IsOp(":"))
                {
                    slice = true;
                    _at++;
                    if (!IsOp("]") && !IsOp(":")) stop = ParseExpression();
                    if (IsOp(":"))
                    {
                        _at++;
                        if (!IsOp("]")) step = ParseExpression();
                    }
                }
                ExpectOp("]");
                node = slice ? new SliceExpr(node, start, stop, step) : new IndexExpr(node, start!);
            }
            else if (IsOp("("))
            {
                node = new CallExpr(node, ParseArguments());
            }
            else return node;
        }
    }

    private Arguments ParseArguments()
    {
        ExpectOp("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (Current.Kind == TokenKind.Name && _tokens[_at + 1].Kind == TokenKind.Operator && _tokens[_at + 1].Value == "=")
            {
                string name = Next().Value;
                _at++;
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error("a positional argument after a named one");
                positional.Add(ParseExpression());
            }
            if (!IsOp(",")) break;
            _at++;
        }
        ExpectOp(")");
        return new Arguments(positional, named);
    }

    private Expr ParseFilters(Expr node)
    {
        while (true)
        {
            if (IsOp("|"))
            {
                _at++;
                string name = Identifier();
                Arguments args = IsOp("(") ? ParseArguments() : Arguments.None;
                node = new FilterExpr(node, name, args);
            }
            else if (IsName("is"))
            {
                _at++;
                bool negated = false;
                if (IsName("not"))
                {
                    _at++;
                    negated = true;
                }
                string name = Identifier();
                Arguments args;
                if (IsOp("(")) args = ParseArguments();
                else if (Current.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float || (Current.Kind == TokenKind.Name && Current.Value is not ("and" or "or" or "else" or "if" or "not" or "in" or "is")))
                    args = new Arguments([ParsePostfix(ParsePrimary())], []); // `is divisibleby 3`, `is sameas none`
                else args = Arguments.None;
                Expr test = new TestExpr(node, name, args);
                node = negated ? new NotExpr(test) : test;
            }
            else return node;
        }
    }
}
