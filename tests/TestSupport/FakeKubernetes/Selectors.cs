using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// A parsed <c>labelSelector</c>: <c>k=v</c>, <c>k==v</c>, <c>k!=v</c>, <c>k in (a,b)</c>, <c>k notin (a,b)</c>, <c>k</c>,
/// <c>!k</c>, <c>k&gt;n</c>, <c>k&lt;n</c>, ANDed by commas. Inequality and <c>notin</c> match objects without the label, as in apimachinery.
/// </summary>
internal sealed class LabelSelector
{
    private readonly IReadOnlyList<Requirement> _requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements)
    {
        _requirements = requirements;
    }

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEverything => _requirements.Count == 0;

    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var requirements = new List<Requirement>();
        foreach (var part in SplitTopLevel(text))
        {
            requirements.Add(ParseRequirement(part.Trim(), text));
        }

        return new LabelSelector(requirements);
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj["metadata"]?["labels"] as JsonObject;
        foreach (var requirement in _requirements)
        {
            string? value = null;
            var present = labels is not null && labels.TryGetPropertyValue(requirement.Key, out var node) && (value = StringOf(node)) is not null;
            if (!requirement.Matches(present, value))
            {
                return false;
            }
        }

        return true;
    }

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : node?.ToJsonString();

    /// <summary>Commas separate requirements except inside the parentheses of a set.</summary>
    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return text[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return text[start..];
    }

    private static Requirement ParseRequirement(string part, string whole)
    {
        if (part.Length == 0)
        {
            throw Unparsable(whole, "found '', expected: identifier");
        }

        if (part[0] == '!')
        {
            return new Requirement(CheckKey(part[1..].Trim(), whole), Operator.DoesNotExist, []);
        }

        var set = TryParseSet(part, " notin ", Operator.NotIn, whole) ?? TryParseSet(part, " in ", Operator.In, whole);
        if (set is not null)
        {
            return set;
        }

        foreach (var (token, op) in new[]
                 {
                     ("!=", Operator.NotEquals), ("==", Operator.Equals), ("=", Operator.Equals),
                     (">", Operator.GreaterThan), ("<", Operator.LessThan),
                 })
        {
            var at = part.IndexOf(token, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var key = CheckKey(part[..at].Trim(), whole);
            var value = part[(at + token.Length)..].Trim();
            if (op is Operator.GreaterThan or Operator.LessThan)
            {
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
                {
                    throw Unparsable(whole, $"for 'Gt', 'Lt' operators, the value must be an integer");
                }
            }
            else
            {
                CheckValue(value, whole);
            }

            return new Requirement(key, op, [value]);
        }

        return new Requirement(CheckKey(part, whole), Operator.Exists, []);
    }

    private static Requirement? TryParseSet(string part, string keyword, Operator op, string whole)
    {
        var at = part.IndexOf(keyword, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var key = CheckKey(part[..at].Trim(), whole);
        var rest = part[(at + keyword.Length)..].Trim();
        if (rest.Length < 2 || rest[0] != '(' || rest[^1] != ')')
        {
            throw Unparsable(whole, $"found '{rest}', expected: '('");
        }

        var values = rest[1..^1].Split(',').Select(v => v.Trim()).ToArray();
        foreach (var value in values)
        {
            CheckValue(value, whole);
        }

        return new Requirement(key, op, values);
    }

    private static string CheckKey(string key, string whole)
    {
        var problem = ObjectValidation.QualifiedNameProblem(key);
        return problem is null ? key : throw Unparsable(whole, $"key: Invalid value: \"{key}\": {problem}");
    }

    private static void CheckValue(string value, string whole)
    {
        var problem = ObjectValidation.LabelValueProblem(value);
        if (problem is not null)
        {
            throw Unparsable(whole, $"values[0]: Invalid value: \"{value}\": {problem}");
        }
    }

    private static ApiError Unparsable(string whole, string why) =>
        ApiError.BadRequest($"unable to parse requirement: {why} (in label selector \"{whole}\")");

    private enum Operator
    {
        Equals,
        NotEquals,
        In,
        NotIn,
        Exists,
        DoesNotExist,
        GreaterThan,
        LessThan,
    }

    private sealed record Requirement(string Key, Operator Op, IReadOnlyList<string> Values)
    {
        public bool Matches(bool present, string? value) => Op switch
        {
            Operator.Equals or Operator.In => present && Values.Contains(value),
            Operator.NotEquals or Operator.NotIn => !present || !Values.Contains(value),
            Operator.Exists => present,
            Operator.DoesNotExist => !present,
            Operator.GreaterThan => present && CompareNumber(value) is > 0,
            Operator.LessThan => present && CompareNumber(value) is < 0,
            _ => false,
        };

        private int? CompareNumber(string? value) =>
            long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var actual)
                ? actual.CompareTo(long.Parse(Values[0], CultureInfo.InvariantCulture))
                : null;
    }
}

/// <summary>
/// A parsed <c>fieldSelector</c>: <c>f=v</c>, <c>f==v</c>, <c>f!=v</c> ANDed by commas, over the fields the resource type
/// allows (always <c>metadata.name</c> and <c>metadata.namespace</c>); any other field is a 400, as on a real cluster.
/// </summary>
internal sealed class FieldSelector
{
    private readonly IReadOnlyList<(string Field, bool Equal, string Value)> _terms;

    private FieldSelector(IReadOnlyList<(string Field, bool Equal, string Value)> terms)
    {
        _terms = terms;
    }

    public static FieldSelector Everything { get; } = new([]);

    public bool IsEverything => _terms.Count == 0;

    public static FieldSelector Parse(string? text, ApiResource resource)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var terms = new List<(string, bool, string)>();
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            var (at, length, equal) = part.IndexOf("!=", StringComparison.Ordinal) is var ne and >= 0 ? (ne, 2, false)
                : part.IndexOf("==", StringComparison.Ordinal) is var ee and >= 0 ? (ee, 2, true)
                : part.IndexOf('=', StringComparison.Ordinal) is var e and >= 0 ? (e, 1, true)
                : (-1, 0, true);
            if (at <= 0)
            {
                throw ApiError.BadRequest($"invalid selector: '{text}'; can't understand '{part}'");
            }

            var field = part[..at].Trim();
            if (field is not ("metadata.name" or "metadata.namespace") && !resource.SelectableFields.Contains(field))
            {
                throw ApiError.BadRequest($"field label not supported: {field}");
            }

            terms.Add((field, equal, part[(at + length)..].Trim()));
        }

        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj)
    {
        foreach (var (field, equal, value) in _terms)
        {
            if ((Lookup(obj, field) == value) != equal)
            {
                return false;
            }
        }

        return true;
    }

    private static string Lookup(JsonObject obj, string path)
    {
        JsonNode? node = obj;
        foreach (var segment in path.Split('.'))
        {
            node = (node as JsonObject)?[segment];
        }

        return node switch
        {
            null => "",
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>() ? "true" : "false",
            _ => node.ToJsonString(),
        };
    }
}
